"""BatchedAdam equals torch.optim.Adam run separately on each model slice with its own lr."""

import pytest
import torch

from inr.training.optim import BatchedAdam
from inr.config.schedule import Schedule, lrs_at

M = 3
STEPS = 50
SHAPES = [(M, 5, 4), (M, 1, 5), (M, 1, 5), (M, 1, 1)]  # weights (M, out, in) and biases (M, 1, out)
TOL = {torch.float32: dict(rtol=1e-6, atol=1e-7), torch.float64: dict(rtol=1e-12, atol=1e-14)}


def make_params(dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in SHAPES]


def run_both(dtype, lr_schedule, betas=(0.9, 0.999), eps=1e-8, seed=0):
    """Run BatchedAdam on the ensemble and M torch Adams on slices with the same random grads."""
    batched = make_params(dtype, seed)
    slices = [[p.detach()[m].clone().requires_grad_() for p in batched] for m in range(M)]
    opt = BatchedAdam(batched, betas=betas, eps=eps)
    refs = [torch.optim.Adam(ps, lr=1.0, betas=betas, eps=eps) for ps in slices]
    gen = torch.Generator().manual_seed(seed + 1)
    for step in range(STEPS):
        lrs = lr_schedule(step)
        grads = [torch.randn(s, generator=gen, dtype=dtype) for s in SHAPES]
        for p, g in zip(batched, grads):
            p.grad = g.clone()
        opt.step(lrs)
        for m, (ref, ps) in enumerate(zip(refs, slices)):
            for p, g in zip(ps, grads):
                p.grad = g[m].clone()
            ref.param_groups[0]["lr"] = float(lrs[m])
            ref.step()
    return batched, slices


def assert_match(batched, slices, dtype):
    for k, p in enumerate(batched):
        for m in range(M):
            torch.testing.assert_close(p.detach()[m], slices[m][k].detach(), **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_torch_adam_per_model_lr(dtype):
    lrs = torch.tensor([1e-2, 1e-3, 1e-4], dtype=torch.float64)
    assert_match(*run_both(dtype, lambda step: lrs), dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_torch_adam_lr_changing_per_step(dtype):
    schedules = [
        Schedule("exponential", 1e-2, gamma=0.95),
        Schedule("multistep", 1e-3, gamma=0.1, milestones=[10, 30]),
        Schedule("cyclic", base_lr=1e-5, max_lr=1e-2, step_size_up=7),
    ]
    assert_match(*run_both(dtype, lambda step: lrs_at(schedules, step)), dtype)


def test_matches_torch_adam_custom_betas_eps():
    lrs = torch.tensor([3e-3, 1e-3, 0.0], dtype=torch.float64)  # lr 0 freezes a model
    batched, slices = run_both(torch.float64, lambda step: lrs, betas=(0.8, 0.99), eps=1e-6)
    assert_match(batched, slices, torch.float64)
    assert torch.equal(batched[0].detach()[2], make_params(torch.float64)[0].detach()[2])


def test_scalar_lr_and_skipped_grads():
    params = make_params(torch.float32)
    before = [p.detach().clone() for p in params]
    params[0].grad = torch.ones_like(params[0])
    opt = BatchedAdam(params)
    opt.step(1e-3)  # a float applies to every model
    # first Adam step moves each coordinate by lr * g / (|g| + eps') ~ lr
    torch.testing.assert_close(params[0].detach(), before[0] - 1e-3, rtol=0, atol=1e-7)
    for p, b in zip(params[1:], before[1:]):
        assert torch.equal(p.detach(), b)  # no grad -> untouched
    opt.zero_grad()
    assert params[0].grad is None


def test_state_dict_resume_equals_uninterrupted():
    dtype = torch.float64
    gen = torch.Generator().manual_seed(3)
    grads = [[torch.randn(s, generator=gen, dtype=dtype) for s in SHAPES] for _ in range(20)]
    lrs = torch.tensor([1e-2, 1e-3, 5e-3], dtype=dtype)

    def run(params, opt, steps):
        for gs in steps:
            for p, g in zip(params, gs):
                p.grad = g.clone()
            opt.step(lrs)

    full = make_params(dtype)
    opt = BatchedAdam(full)
    run(full, opt, grads)

    half = make_params(dtype)
    opt_a = BatchedAdam(half)
    run(half, opt_a, grads[:10])
    state = opt_a.state_dict()
    resumed = [p.detach().clone().requires_grad_() for p in half]
    opt_b = BatchedAdam(resumed)
    opt_b.load_state_dict(state)
    run(resumed, opt_b, grads[10:])
    assert opt_b.steps == 20
    for a, b in zip(full, resumed):
        assert torch.equal(a, b)


def test_load_state_dict_rejects_mismatched_shapes():
    opt = BatchedAdam(make_params(torch.float32))
    other = BatchedAdam([torch.zeros(M, 2, 2, requires_grad=True)])
    with pytest.raises(ValueError, match="does not match the parameters' shapes"):
        opt.load_state_dict(other.state_dict())


@pytest.mark.parametrize(
    "params, kwargs, match",
    [
        ([], {}, "empty parameter list"),
        ([torch.zeros(3, 2), torch.zeros(4, 2)], {}, r"share the leading model dim M, got \[3, 4\]"),
        ([torch.zeros(())], {}, "needs a leading model dim"),
        ([torch.zeros(3, 2)], dict(betas=(0.9, 1.0)), r"betas must be in \[0, 1\)"),
        ([torch.zeros(3, 2)], dict(eps=-1.0), "eps must be >= 0"),
    ],
)
def test_bad_construction(params, kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchedAdam(params, **kwargs)


def test_bad_lrs():
    p = torch.zeros(M, 2, requires_grad=True)
    p.grad = torch.ones_like(p)
    opt = BatchedAdam([p])
    with pytest.raises(ValueError, match=r"lrs must have shape \(3,\), got \(2,\)"):
        opt.step(torch.ones(2))
    with pytest.raises(ValueError, match="lrs must be >= 0"):
        opt.step(torch.tensor([1e-3, -1e-3, 1e-3]))
