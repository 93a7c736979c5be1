"""The fused kernel (inr.fused_jet) against the eager forward jet and torch.func, and its fallback."""
import os
import warnings

import pytest
import torch

from inr import fused_jet
from inr.derivatives import derivatives, forward_jet, jet_streams
from inr.models import make_model
from inr.vocabulary import FIELDS
from test_derivatives import ACTS, RTOL, case, coords, func_reference, relerr, subsets

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # torch.func


def close(a, b, rtol):
    """Relative error within rtol; a gradient that is zero in the reference must be zero."""
    return (a - b).norm() <= rtol * b.norm() if b.norm() > 0 else a.norm() == 0


def reference(model, x, probes):
    """torch.func fields in float64 and, per field k, the parameter gradient of <probes[k], field k>."""
    model64 = make_model(**model.config, models=model.models).double()
    model64.load_state_dict(model.state_dict())
    value, jac, hess = func_reference(model64, x.double().expand(model.models, *x.shape[-2:]))
    fields = {"value": value, "grad": jac[..., :2], "laplacian": hess[..., 0, 0] + hess[..., 1, 1], "dt": jac[..., 2]}
    if x.dim() == 2 and model.models == 1:
        fields = {k: v[0] for k, v in fields.items()}
    params = list(model64.parameters())
    grads = {}
    for k, v in fields.items():
        g = torch.autograd.grad((v * probes[k].double()).sum(), params, allow_unused=True, retain_graph=True)
        grads[k] = [torch.zeros_like(p) if d is None else d for p, d in zip(params, g)]
    return fields, grads


def probed_gradients(model, x, which, method, probes):
    out = derivatives(model, x, which, method=method)
    loss = sum((out[k] * probes[k]).sum() for k in which)
    grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
    return out, [torch.zeros_like(p) if g is None else g for p, g in zip(model.parameters(), grads)]


def test_the_kernel_builds_here():
    """CI and this machine have a C++ compiler: the fused path must not silently be the fallback."""
    if os.environ.get(fused_jet.DISABLE_VARIABLE) == "1":
        pytest.skip(f"{fused_jet.DISABLE_VARIABLE}=1")
    assert fused_jet.kernel() is not None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("models, shared", [(1, True), (3, True), (3, False)])
@pytest.mark.parametrize("act", ACTS)
def test_fused_equals_eager_and_torch_func_for_every_subset(act, models, shared, dtype):
    model, x = case(act, models, shared, dtype)
    g = torch.Generator().manual_seed(7)
    probes = {k: torch.randn(v.shape, generator=g, dtype=dtype) for k, v in derivatives(model, x).items()}
    fields, field_grads = reference(model, x, probes)
    rtol = RTOL[dtype]
    for which in subsets():
        fused, fused_grads = probed_gradients(model, x, which, "fused", probes)
        eager, eager_grads = probed_gradients(model, x, which, "forward", probes)
        assert tuple(fused) == which
        for k in which:
            assert fused[k].shape == fields[k].shape and fused[k].dtype == dtype
            assert relerr(fused[k].double(), fields[k]) < rtol, (which, k)
            assert relerr(fused[k], eager[k]) < rtol, (which, k)
        ref_grads = [sum(field_grads[k][i] for k in which) for i in range(len(fused_grads))]
        for p, (d, d_ref, d_eager) in enumerate(zip(fused_grads, ref_grads, eager_grads)):
            assert close(d.double(), d_ref, rtol), (which, p)
            assert close(d, d_eager, rtol), (which, p)


def test_blocks_and_threads_do_not_change_the_result(monkeypatch):
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
            torch.testing.assert_close(jet[name], ref[name], rtol=1e-12, atol=1e-12)
        for d, d_ref in zip(grads, ref_grads):
            torch.testing.assert_close(d, d_ref, rtol=1e-12, atol=1e-12)


def _fused_and_eager(model, x):
    probes = {k: torch.ones_like(v) for k, v in derivatives(model, x, method="forward").items()}
    return [probed_gradients(model, x, FIELDS, method, probes) for method in ("fused", "forward")]


def _assert_identical(a, b):
    (out_a, grads_a), (out_b, grads_b) = a, b
    for k in FIELDS:
        assert torch.equal(out_a[k], out_b[k]), k
    for d_a, d_b in zip(grads_a, grads_b):
        assert torch.equal(d_a, d_b)


def test_disabled_fusion_runs_the_eager_jet_silently(monkeypatch):
    model, x = case("sine", 2, True, torch.float32)
    monkeypatch.setenv(fused_jet.DISABLE_VARIABLE, "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fused_jet.kernel() is None
        _assert_identical(*_fused_and_eager(model, x))


@pytest.mark.parametrize("compiler", ["false", "/nonexistent/c++"])
def test_a_failed_build_falls_back_with_one_warning(monkeypatch, tmp_path, compiler):
    model, x = case("gauss", 2, False, torch.float64)
    monkeypatch.setattr(fused_jet, "_kernel", None)
    monkeypatch.setattr(fused_jet, "_failed", False)
    monkeypatch.setenv("CXX", compiler)
    monkeypatch.setenv(fused_jet.CACHE_VARIABLE, str(tmp_path))
    with pytest.warns(RuntimeWarning, match="eager forward jet") as record:
        results = _fused_and_eager(model, x)
        derivatives(model, x)
    assert len([w for w in record if issubclass(w.category, RuntimeWarning)]) == 1
    _assert_identical(*results)
    assert not list(tmp_path.glob("*.so"))


def test_the_build_is_cached(tmp_path):
    path = fused_jet.build(cache=tmp_path)
    built = path.stat().st_mtime_ns
    assert fused_jet.build(cache=tmp_path) == path and path.stat().st_mtime_ns == built
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_width_and_outputs_other_than_the_quick_profile():
    model = make_model("elu", width=40, depth=1, models=2, out_features=3, seed=2).double()
    x = coords(2, 21)
    fused = derivatives(model, x)
    eager = derivatives(model, x, method="forward")
    for k in FIELDS:
        assert fused[k].shape == eager[k].shape
        assert relerr(fused[k], eager[k]) < 1e-12
