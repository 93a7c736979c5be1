"""The fused kernel (inr.model.fused_jet) against the eager forward jet and torch.func, its determinism,
and its fallback. Building it anywhere: test_kernel_build.py."""
import os
import warnings

import pytest
import torch

from inr import roundoff
from inr.model import derivatives as derivatives_module, fused_jet
from inr.model.derivatives import derivatives, forward_jet, jet_streams, resolve_method
from inr.model.networks import HSinhSine, make_model
from inr.vocabulary import FIELDS
from test_derivatives import ACTS, as_dtype, case, coords, func_fields, subsets

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # torch.func


def reference(model, x, probes):
    """torch.func's fields of `model` at x in the model's dtype and, per field k, the parameter
    gradient of <probes[k], field k>."""
    fields = func_fields(model, x)
    if x.dim() == 2 and model.models == 1:
        fields = {k: v[0] for k, v in fields.items()}
    params = list(model.parameters())
    grads = {}
    for k, v in fields.items():
        g = torch.autograd.grad((v * probes[k].to(v.dtype)).sum(), params, allow_unused=True,
                                retain_graph=True)
        grads[k] = [torch.zeros_like(p) if d is None else d for p, d in zip(params, g)]
    return fields, grads


def subset_gradients(field_grads, which):
    """The parameter gradients of the sum over the fields `which` of their probed sums."""
    return [sum(field_grads[k][i] for k in which) for i in range(len(field_grads[which[0]]))]


def own_roundoff(model, x, probes, dtype):
    """inr.roundoff's `own` for every field and every subset's parameter gradients: torch.func's
    error in float32 against float64 on the float32-rounded inputs, carried to `dtype`."""
    model32, x32 = as_dtype(model, torch.float32), x.float()
    probes32 = {k: v.float() for k, v in probes.items()}
    low = reference(model32, x32, probes32)
    high = reference(as_dtype(model32, torch.float64), x32.double(), probes32)
    own = lambda a, b: roundoff.carried(roundoff.relative_error(a, b), dtype)  # noqa: E731
    fields = {k: own(low[0][k], high[0][k]) for k in FIELDS}
    grads = {which: [own(a, b) for a, b in zip(subset_gradients(low[1], which),
                                               subset_gradients(high[1], which))]
             for which in subsets()}
    return fields, grads


def probed_gradients(model, x, which, method, probes):
    out = derivatives(model, x, which, method=method)
    loss = sum((out[k] * probes[k]).sum() for k in which)
    grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
    return out, [torch.zeros_like(p) if g is None else g for p, g in zip(model.parameters(), grads)]


@pytest.fixture
def fresh():
    """A kernel state that tries anew, under this test's settings, and is forgotten after it."""
    fused_jet.reset()
    yield
    fused_jet.reset()


def test_the_kernel_builds_here():
    """CI and this machine have a C++ compiler: the fused path must not silently be the fallback."""
    if os.environ.get(fused_jet.DISABLE_VARIABLE) == "1":
        pytest.skip(f"{fused_jet.DISABLE_VARIABLE}=1")
    assert fused_jet.kernel() is not None
    assert fused_jet.prepare() == ""


@pytest.mark.skipif(os.environ.get(fused_jet.DISABLE_VARIABLE) == "1", reason=f"{fused_jet.DISABLE_VARIABLE}=1")
@pytest.mark.parametrize("act", ACTS)
def test_the_kernel_serves_every_activation(monkeypatch, act):
    """Every activation of ACTS runs through the kernel, forward and backward: the fused method never
    calls the eager jet (so the comparisons below test the kernel for each), and says so."""
    def eager(*args):
        raise AssertionError("the eager jet ran")

    monkeypatch.setattr(derivatives_module, "_eager_hidden_jet", eager)
    calls = []
    hidden_jet = fused_jet.hidden_jet
    monkeypatch.setattr(fused_jet, "hidden_jet", lambda *args: calls.append(1) or hidden_jet(*args))
    for dtype in (torch.float32, torch.float64):
        assert fused_jet.unsupported(torch.device("cpu"), dtype, act) == ""
        assert resolve_method("fused", torch.device("cpu"), dtype, act) == ("fused", "")
        model, x = case(act, 2, False, dtype)
        out = derivatives(model, x, method="fused")
        grads = torch.autograd.grad(sum(v.sum() for v in out.values()), list(model.parameters()))
        assert all(torch.isfinite(v).all() for v in [*out.values(), *grads])
    assert len(calls) == 2
    with pytest.raises(AssertionError, match="the eager jet ran"):
        derivatives(model, x, method="forward")


def test_a_first_activation_the_kernel_cannot_pair_runs_the_eager_jet():
    """The kernel takes one w0 a call: an H-SIREN whose first activation has another w0 is not its case."""
    model, x = case("hsiren", 2, False, torch.float64)
    model.act.first_layer = HSinhSine(model.act.w0 / 2)
    w, b = model.layers[0].scaled()
    assert not fused_jet.supports(torch.baddbmm(b, x, w), model.act)
    fused, eager = derivatives(model, x), derivatives(model, x, method="forward")
    assert all(torch.equal(fused[k], eager[k]) for k in FIELDS)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("models, shared", [(1, True), (3, True), (3, False)])
@pytest.mark.parametrize("act", ACTS)
def test_fused_equals_eager_and_torch_func_for_every_subset(act, models, shared, dtype):
    """Fused and eager, fields and parameter gradients, each within inr.roundoff's bound of
    torch.func in float64 on the same inputs (a gradient that is zero there must be zero)."""
    model, x = case(act, models, shared, dtype)
    g = torch.Generator().manual_seed(7)
    probes = {k: torch.randn(v.shape, generator=g, dtype=dtype) for k, v in derivatives(model, x).items()}
    fields, field_grads = reference(as_dtype(model, torch.float64), x.double(), probes)
    own_fields, own_grads = own_roundoff(model, x, probes, dtype)
    for which in subsets():
        ref_grads = subset_gradients(field_grads, which)
        for method in ("fused", "forward"):
            out, grads = probed_gradients(model, x, which, method, probes)
            assert tuple(out) == which
            for k in which:
                assert out[k].shape == fields[k].shape and out[k].dtype == dtype
                assert roundoff.within(out[k], fields[k], own_fields[k], dtype), (method, which, k)
            for p, (d, d_ref, own) in enumerate(zip(grads, ref_grads, own_grads[which])):
                assert roundoff.within(d, d_ref, own, dtype), (method, which, p)


def test_blocks_and_threads_do_not_change_the_result(monkeypatch):
    """Up to round-off: the block size changes the order of the backward's sums (elementwise, a
    gradient entry that cancels can move by more than 1e-12 of itself, so they compare normwise)."""
    model, x = case("finer", 2, False, torch.float64, n=37)
    names = jet_streams()
    outs = []
    threads = torch.get_num_threads()
    try:
        for block, nthreads in [(37, 1), (8, 1), (13, threads), (5, threads)]:
            torch.set_num_threads(nthreads)
            monkeypatch.setattr(fused_jet, "block_points", lambda *args: block)
            jet = forward_jet(model, x)
            loss = sum((v ** 2).mean() for v in jet.values())
            outs.append((jet, torch.autograd.grad(loss, list(model.parameters()))))
    finally:
        torch.set_num_threads(threads)
    (ref, ref_grads), *rest = outs
    for jet, grads in rest:
        for name in names:
            assert roundoff.within(jet[name], ref[name], 0.0, torch.float64), name
        for d, d_ref in zip(grads, ref_grads):  # the same sums in other groupings
            assert roundoff.within(d, d_ref, 0.0, torch.float64)


def parameter_gradients(model, x):
    """The parameter gradients of the sum of squares of every jet stream."""
    jet = forward_jet(model, x)
    loss = sum((v ** 2).sum() for v in jet.values())
    return torch.autograd.grad(loss, list(model.parameters()))


def reproducibility_case(monkeypatch, dtype):
    """Items long enough that threads share them out: 3 models of width 64 at 2000 points, in
    blocks of 32 points: 63 blocks a model, in groups of 3 or 4 (GROUPS in fused_jet.cpp is 16)."""
    monkeypatch.setattr(fused_jet, "block_points", lambda *args: 32)
    return make_model("sine", width=64, depth=3, models=3, seed=1).to(dtype), coords(2000, dtype=dtype)


def assert_equal_gradients(results):
    ref, *others = results
    for grads in others:
        for d, d_ref in zip(grads, ref):
            assert torch.equal(d, d_ref)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_backward_is_bitwise_reproducible(monkeypatch, dtype):
    """The blocks' gradients are summed in a fixed order, whichever thread computes them."""
    model, x = reproducibility_case(monkeypatch, dtype)
    assert_equal_gradients([parameter_gradients(model, x) for _ in range(5)])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_backward_does_not_depend_on_the_thread_count(monkeypatch, dtype):
    model, x = reproducibility_case(monkeypatch, dtype)
    threads = torch.get_num_threads()
    try:
        results = []
        for nthreads in (1, 2, 3):
            torch.set_num_threads(nthreads)
            results.append(parameter_gradients(model, x))
    finally:
        torch.set_num_threads(threads)
    assert_equal_gradients(results)


def fused_and_eager(model, x):
    probes = {k: torch.ones_like(v) for k, v in derivatives(model, x, method="forward").items()}
    return [probed_gradients(model, x, FIELDS, method, probes) for method in ("fused", "forward")]


def assert_identical(a, b):
    (out_a, grads_a), (out_b, grads_b) = a, b
    for k in FIELDS:
        assert torch.equal(out_a[k], out_b[k]), k
    for d_a, d_b in zip(grads_a, grads_b):
        assert torch.equal(d_a, d_b)


def test_disabled_fusion_runs_the_eager_jet_silently(monkeypatch, fresh):
    model, x = case("sine", 2, True, torch.float32)
    monkeypatch.setenv(fused_jet.DISABLE_VARIABLE, "1")
    monkeypatch.setenv("CXX", "false")  # a build would fail, and warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fused_jet.kernel() is None
        assert fused_jet.prepare() == "INR_NO_FUSION=1"
        assert_identical(*fused_and_eager(model, x))


@pytest.mark.parametrize("compiler, reason", [
    ("false", "build failed: exit status 1"),
    ("/nonexistent/c++", "build failed: [Errno 2] No such file or directory: '/nonexistent/c++'"),
    (None, "build failed: no C++ compiler found (set CXX)"),   # none on the PATH
])
def test_a_failed_build_falls_back_with_one_warning(monkeypatch, tmp_path, fresh, compiler, reason):
    model, x = case("gauss", 2, False, torch.float64)
    if compiler:
        monkeypatch.setenv("CXX", compiler)
    else:
        monkeypatch.delenv("CXX", raising=False)
        monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(fused_jet.CACHE_VARIABLE, str(tmp_path))
    with pytest.warns(RuntimeWarning, match="eager forward jet") as record:
        results = fused_and_eager(model, x)
        derivatives(model, x)
        assert fused_jet.prepare() == reason
    warned = [str(w.message) for w in record if issubclass(w.category, RuntimeWarning)]
    assert len(warned) == 1 and reason in warned[0]
    assert_identical(*results)
    assert not list(tmp_path.glob("*.so"))


def test_the_build_is_cached(tmp_path):
    path = fused_jet.build(cache=tmp_path)
    built = path.stat().st_mtime_ns
    assert fused_jet.build(cache=tmp_path) == path and path.stat().st_mtime_ns == built
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, f"{path.name}.lock"]


def test_width_and_outputs_other_than_the_quick_profile():
    model = make_model("elu", width=40, depth=1, models=2, out_features=3, seed=2).double()
    x = coords(2, 21)
    fused = derivatives(model, x)
    eager = derivatives(model, x, method="forward")
    for k in FIELDS:
        assert fused[k].shape == eager[k].shape
        assert roundoff.within(fused[k], eager[k], 0.0, torch.float64), k


def test_a_non_contiguous_incoming_gradient_gives_the_same_backward():
    """The kernel reads the incoming gradient through a pointer: a transposed view must be copied
    and held for the call, not read from freed memory (20,000 points: past glibc's mmap size)."""
    model = make_model("sine", width=32, depth=2, seed=0)
    x = coords(1, 20_000, dtype=torch.float32)
    w, b = model.layers[0].scaled()
    u = torch.baddbmm(b, x, w).detach().requires_grad_()
    layers = [layer.scaled() for layer in model.layers[1:]]
    z = fused_jet.hidden_jet(u, w[:, :2].contiguous().detach(), layers, model.act, True)
    g = torch.Generator().manual_seed(0)
    upstream = torch.randn(z.shape[2], z.shape[1], z.shape[0], 1, generator=g).permute(2, 1, 0, 3)
    assert not upstream.is_contiguous()
    (viewed,) = torch.autograd.grad(z, u, upstream, retain_graph=True)
    (copied,) = torch.autograd.grad(z, u, upstream.contiguous())
    assert torch.equal(viewed, copied)
