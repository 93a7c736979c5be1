import itertools

import pytest
import torch
from torch.func import hessian, jacrev, vmap

from inr import roundoff
from inr.model.derivatives import DERIVATIVE_METHODS, derivatives, jet_streams
from inr.vocabulary import FIELDS
from inr.model.networks import make_model

ACTS = ("sine", "elu", "gauss", "finer", "wire", "sinc", "hsiren")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # torch.func internals
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
JET_METHODS = [m for m in DERIVATIVE_METHODS if m != "autograd"]


def coords(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, 3, generator=g, dtype=dtype) * 2 - 1


def relerr(a, b):
    return ((a - b).norm() / b.norm()).item()


def func_reference(model, x):
    """Value, Jacobian and Hessian w.r.t. (x, y, t) by torch.func, per model and point.

    x (M, N, 3) -> value (M, N), jac (M, N, 3), hess (M, N, 3, 3)."""
    def f(p):                                  # p (M, 3): one point per model -> (M,)
        return model(p.unsqueeze(1))[:, 0, 0]

    def total(p):                              # models are independent: block m of d/dp is model m's
        return f(p).sum()

    pts = x.transpose(0, 1).clone()            # (N, M, 3)
    value = vmap(f)(pts).T
    jac = vmap(jacrev(total))(pts).transpose(0, 1)
    hess = torch.diagonal(vmap(hessian(total))(pts), dim1=1, dim2=3).permute(3, 0, 1, 2)
    return value, jac, hess


def func_fields(model, x):
    """torch.func's value, grad, laplacian and dt of `model` at x (N, 3) or (M, N, 3), (M, N[, 2])."""
    value, jac, hess = func_reference(model, x.expand(model.models, *x.shape[-2:]))
    return {"value": value, "grad": jac[..., :2], "dt": jac[..., 2],
            "laplacian": hess[..., 0, 0] + hess[..., 1, 1]}


def as_dtype(model, dtype):
    """A copy of `model` in `dtype`: the same parameters, converted."""
    copy = make_model(**model.config, models=model.models).to(dtype)
    copy.load_state_dict(model.state_dict())
    return copy


def float32_roundoff(model, x) -> dict[str, float]:
    """Per field, torch.func's own round-off in float32 (inr.roundoff's `own`): its float32
    fields against the same computation in float64, on the float32-rounded parameters and
    points."""
    model32, x32 = as_dtype(model, torch.float32), x.float()
    low, high = func_fields(model32, x32), func_fields(as_dtype(model32, torch.float64), x32.double())
    return {k: roundoff.relative_error(low[k], high[k]) for k in FIELDS}


def own_roundoff(model, x, dtype) -> dict[str, float]:
    """Per field, the reference's own round-off in `dtype` (float64: carried from float32)."""
    return {k: roundoff.carried(v, dtype) for k, v in float32_roundoff(model, x).items()}


def case(act, models, shared, dtype, n=40, width=24):
    model = make_model(act, width=width, depth=2, models=models, seed=3).to(dtype)
    x = coords(n, dtype=dtype) if shared else coords(models, n, dtype=dtype)
    return model, x


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("models, shared", [(1, True), (3, True), (3, False)])
@pytest.mark.parametrize("act", ACTS)
def test_matches_torch_func(act, models, shared, dtype):
    """Every method within inr.roundoff's bound of torch.func in float64 on the same inputs."""
    model, x = case(act, models, shared, dtype)
    ref = func_fields(as_dtype(model, torch.float64), x.double())
    own = own_roundoff(model, x, dtype)
    if models == 1 and shared:                  # a single model fed (N, 3) drops the model dim
        ref = {k: v[0] for k, v in ref.items()}
    for method in DERIVATIVE_METHODS:
        out = derivatives(model, x, method=method)
        assert list(out) == list(FIELDS)
        for key in FIELDS:
            assert out[key].shape == ref[key].shape, (method, key)
            assert out[key].dtype == dtype
            assert roundoff.within(out[key], ref[key], own[key], dtype), \
                (method, key, roundoff.ratio(out[key], ref[key], own[key], dtype))


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("models", [1, 3])
def test_laplacian_loss_trains_the_network(act, models):
    """Guards the original bug: a Laplacian computed without create_graph sends no gradient."""
    model, x = case(act, models, True, torch.float64)
    grads = {}
    for method in DERIVATIVE_METHODS:
        lap = derivatives(model, x, which="laplacian", method=method)["laplacian"]
        params = list(model.parameters())
        grads[method] = torch.autograd.grad((lap ** 2).mean(), params, allow_unused=True)
    last_bias = model.layers[-1].bias
    for method in JET_METHODS:
        for p, g_fwd, g_ref in zip(model.parameters(), grads[method], grads["autograd"]):
            if p is last_bias:                      # a constant offset has no Laplacian
                assert g_ref is None and (g_fwd is None or torch.count_nonzero(g_fwd) == 0)
                continue
            assert g_fwd.abs().max() > 0
            assert relerr(g_fwd, g_ref) < 1e-10


@pytest.mark.parametrize("act", ACTS)
def test_full_loss_parameter_gradients_match(act):
    model, x = case(act, 3, False, torch.float64)
    targets = {k: torch.randn_like(v) for k, v in derivatives(model, x).items()}
    grads = {}
    for method in DERIVATIVE_METHODS:
        out = derivatives(model, x, method=method)
        loss = sum(((out[k] - targets[k]) ** 2).mean() for k in FIELDS)
        grads[method] = torch.autograd.grad(loss, list(model.parameters()))
    for method in JET_METHODS:
        for g_fwd, g_ref in zip(grads[method], grads["autograd"]):
            assert relerr(g_fwd, g_ref) < 1e-10


def subsets():
    return [c for r in range(1, 5) for c in itertools.combinations(FIELDS, r)]


@pytest.mark.parametrize("method", DERIVATIVE_METHODS)
def test_which_subsets(method):
    model, x = case("sine", 2, True, torch.float64)
    full = derivatives(model, x, method=method)
    for which in subsets():
        out = derivatives(model, x, which=which, method=method)
        assert tuple(out) == which
        for key in which:
            torch.testing.assert_close(out[key], full[key], rtol=1e-12, atol=1e-12)
    assert list(derivatives(model, x, which="dt", method=method)) == ["dt"]


def test_streams_only_what_is_needed():
    assert jet_streams(("value",)) == ("value",)
    assert jet_streams(("grad",)) == ("value", "dx", "dy")
    assert jet_streams(("dt",)) == ("value", "dt")
    assert jet_streams(("laplacian",)) == ("value", "dx", "dy", "lap")
    assert jet_streams() == ("value", "dx", "dy", "dt", "lap")


@pytest.mark.parametrize("method", DERIVATIVE_METHODS)
def test_ensemble_equals_separate_models(method):
    seeds = [4, 9]
    ens = make_model("finer", width=24, depth=2, models=2, seed=seeds).double()
    x = coords(2, 30)
    out = derivatives(ens, x, method=method)
    for m, s in enumerate(seeds):
        single = make_model("finer", width=24, depth=2, seed=s).double()
        for key, v in derivatives(single, x[m], method=method).items():
            torch.testing.assert_close(out[key][m], v, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", DERIVATIVE_METHODS)
def test_several_outputs(method):
    model = make_model("gauss", width=16, depth=1, out_features=2, seed=1).double()
    x = coords(25)
    out = derivatives(model, x, method=method)
    assert out["value"].shape == (25, 2) and out["grad"].shape == (25, 2, 2)
    assert out["laplacian"].shape == (25, 2) and out["dt"].shape == (25, 2)
    value, jac, hess = func_reference(_channel(model, 1), x[None])
    assert relerr(out["grad"][:, 1], jac[0, :, :2]) < 1e-10
    assert relerr(out["laplacian"][:, 1], hess[0, :, 0, 0] + hess[0, :, 1, 1]) < 1e-10


def _channel(model, c):
    class Channel(torch.nn.Module):
        def forward(self, x):
            return model(x)[..., c:c + 1]
    return Channel()


def test_no_grad_gives_plain_tensors():
    model, x = case("gauss", 2, True, torch.float64)
    ref = derivatives(model, x)
    for method in DERIVATIVE_METHODS:
        with torch.no_grad():
            out = derivatives(model, x, method=method)
        for key in FIELDS:
            assert out[key].grad_fn is None and not out[key].requires_grad
            assert relerr(out[key], ref[key]) < 1e-10


@pytest.mark.parametrize("device", DEVICES)
def test_device_and_float32(device):
    """The default method in float32 on the device, within inr.roundoff's bound of nested
    autograd in float64 on the CPU; the bound's `own` is nested autograd's float32 error there."""
    model = make_model("sine", width=32, depth=2, models=2).to(device)
    x = coords(2, 64, dtype=torch.float32).to(device)
    fwd = derivatives(model, x)
    ref = derivatives(as_dtype(model.cpu(), torch.float64), x.cpu().double(), method="autograd")
    ref32 = derivatives(model.cpu(), x.cpu(), method="autograd")
    for key in FIELDS:
        assert fwd[key].device.type == device
        own = roundoff.relative_error(ref32[key], ref[key])
        assert roundoff.within(fwd[key], ref[key], own, torch.float32), key


@pytest.mark.parametrize("kw, match", [
    (dict(which=("value", "hessian")), "unknown derivative"), (dict(which=()), "unknown derivative"),
    (dict(which="gradient"), "unknown derivative"), (dict(method="jvp"), "unknown method"),
])
def test_bad_arguments(kw, match):
    model = make_model("sine", width=8, depth=1)
    with pytest.raises(ValueError, match=match):
        derivatives(model, coords(5), **kw)


@pytest.mark.parametrize("method", DERIVATIVE_METHODS)
@pytest.mark.parametrize("shape, match", [((5, 2), "shape"), ((3, 5, 3), "models"), ((5,), "shape")])
def test_bad_coords(method, shape, match):
    model = make_model("sine", width=8, depth=1, models=2).double()
    with pytest.raises(ValueError, match=match):
        derivatives(model, torch.zeros(shape, dtype=torch.float64), method=method)
