"""LR schedules: closed-form formulas and torch.optim.lr_scheduler, stepped once per optimiser step."""

import math

import pytest
import torch
from torch.optim import lr_scheduler

from inr.config.schedule import Schedule, lr_at, lrs_at

STEPS = 600
REL = 1e-9  # torch's chained products vs our closed form differ only by float round-off


def torch_lrs(make_scheduler, lr, steps=STEPS):
    """lr used for each of `steps` SGD updates, with the scheduler stepped once per update."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr)
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def ours(schedule, steps=STEPS, total_steps=None):
    return [lr_at(schedule, k, total_steps) for k in range(steps)]


def assert_close(a, b, rel=REL):
    assert len(a) == len(b)
    for k, (x, y) in enumerate(zip(a, b)):
        assert x == pytest.approx(y, rel=rel, abs=0), f"step {k}: {x} != {y}"


def test_constant():
    assert ours(Schedule("constant", 1e-4)) == [1e-4] * STEPS


def test_exponential_gamma():
    s = Schedule("exponential", 1e-3, gamma=0.99)
    closed = [1e-3 * 0.99**k for k in range(STEPS)]
    assert_close(ours(s), closed)
    assert_close(ours(s), torch_lrs(lambda o: lr_scheduler.ExponentialLR(o, gamma=0.99), 1e-3))


def test_exponential_final_lr():
    total = 300
    s = Schedule("exponential", 1e-4, final_lr=1e-6)
    gamma = (1e-6 / 1e-4) ** (1 / (total - 1))
    got = ours(s, total, total_steps=total)
    assert got[0] == 1e-4 and got[-1] == pytest.approx(1e-6, rel=REL)
    assert_close(got, [1e-4 * gamma**k for k in range(total)])
    assert_close(got, torch_lrs(lambda o: lr_scheduler.ExponentialLR(o, gamma=gamma), 1e-4, total))
    assert lr_at(s, 0, total_steps=1) == 1e-4
    with pytest.raises(ValueError, match="final_lr needs total_steps"):
        lr_at(s, 3)


@pytest.mark.parametrize("milestones", [(25, 50, 75), (100, 250, 251, 500), (1,)])
def test_multistep_in_steps(milestones):
    s = Schedule("multistep", 1e-4, gamma=0.1, milestones=milestones)
    closed = [1e-4 * 0.1 ** sum(m <= k for m in milestones) for k in range(STEPS)]
    assert_close(ours(s), closed)
    torch_curve = torch_lrs(lambda o: lr_scheduler.MultiStepLR(o, milestones=list(milestones), gamma=0.1), 1e-4)
    assert_close(ours(s), torch_curve)
    # milestones are steps: the decay happens exactly at step m, not m * (steps per epoch)
    assert lr_at(s, milestones[0] - 1) == 1e-4 and lr_at(s, milestones[0]) == pytest.approx(1e-5)


def triangle(k, up, down):
    """Triangular wave at step k, rising over `up` steps and falling over `down`: (height in [0, 1], cycle index)."""
    period = up + down
    pos = k % period
    height = pos / up if pos <= up else 1 - (pos - up) / down
    return height, k // period


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
@pytest.mark.parametrize("up, down", [(250, None), (40, 90), (1, 1), (7, 3)])
def test_cyclic(mode, up, down):
    base, top, gamma = 1e-7, 1e-4, 0.995
    s = Schedule("cyclic", base_lr=base, max_lr=top, step_size_up=up, step_size_down=down, mode=mode, gamma=gamma)
    assert s.lr == base
    closed = []
    for k in range(STEPS):
        height, cycle = triangle(k, up, up if down is None else down)
        scale = {"triangular": 1.0, "triangular2": 0.5**cycle, "exp_range": gamma**k}[mode]
        closed.append(base + (top - base) * height * scale)
    assert_close(ours(s), closed)
    make = lambda o: lr_scheduler.CyclicLR(  # noqa: E731
        o, base_lr=base, max_lr=top, step_size_up=up, step_size_down=down, mode=mode, gamma=gamma, cycle_momentum=False
    )
    assert_close(ours(s), torch_lrs(make, base))


def test_cyclic_lr_and_base_lr_agree():
    assert Schedule("cyclic", 1e-7, max_lr=1e-4).base_lr == 1e-7
    with pytest.raises(ValueError, match="cyclic schedule starts at base_lr"):
        Schedule("cyclic", 1e-5, base_lr=1e-7, max_lr=1e-4)


def test_lrs_at_ensemble():
    schedules = [
        Schedule("constant", 1e-4),
        Schedule("exponential", 1e-3, final_lr=1e-5),
        Schedule("multistep", 1e-4, gamma=0.5, milestones=[10, 20]),
        Schedule("cyclic", base_lr=1e-6, max_lr=1e-3, step_size_up=5),
    ]
    for step in (0, 3, 15, 99):
        got = lrs_at(schedules, step, total_steps=100)
        assert got.shape == (4,) and got.dtype == torch.float64
        assert got.tolist() == [lr_at(s, step, 100) for s in schedules]
    assert lrs_at(schedules[:1], 0, dtype=torch.float32).dtype == torch.float32


def test_dict_round_trip():
    for s in [
        Schedule("multistep", 1e-4, gamma=0.1, milestones=[25, 50, 75]),
        Schedule("cyclic", base_lr=1e-7, max_lr=1e-4, step_size_up=250, mode="triangular2"),
        Schedule("exponential", 1e-4, final_lr=1e-6),
    ]:
        config = s.to_dict()
        assert isinstance(config["milestones"], list)
        assert Schedule.from_dict(config) == s
    assert Schedule.from_dict({"kind": "multistep", "lr": 1e-4, "gamma": 0.1, "milestones": [5]}).milestones == (5,)
    with pytest.raises(ValueError, match="unknown schedule field"):
        Schedule.from_dict({"kind": "constant", "lr": 1e-4, "epochs": 3})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kind="foo", lr=1e-4), "unknown scheduler 'foo'; choose from constant, exponential, multistep, cyclic"),
        (dict(kind="constant", lr=0.0), "lr must be > 0"),
        (dict(kind="constant", lr=-1e-4), "lr must be > 0"),
        (dict(kind="constant", lr=math.nan), "lr must be > 0"),
        (dict(kind="constant"), "constant schedule needs lr"),
        (dict(kind="exponential", lr=1e-4, gamma=0.0), "gamma must be > 0"),
        (dict(kind="exponential", lr=1e-4), "exactly one of gamma and final_lr"),
        (dict(kind="exponential", lr=1e-4, gamma=0.9, final_lr=1e-6), "exactly one of gamma and final_lr"),
        (dict(kind="exponential", lr=1e-4, final_lr=0.0), "final_lr must be > 0"),
        (dict(kind="multistep", lr=1e-4, gamma=-0.1, milestones=[1]), "gamma must be > 0"),
        (dict(kind="multistep", lr=1e-4, milestones=[1]), "multistep schedule needs gamma"),
        (dict(kind="multistep", lr=1e-4, gamma=0.1, milestones=[50, 25]), "milestones must be strictly increasing"),
        (dict(kind="multistep", lr=1e-4, gamma=0.1, milestones=[5, 5]), "milestones must be strictly increasing"),
        (dict(kind="multistep", lr=1e-4, gamma=0.1, milestones=[-1, 5]), "milestones must be >= 0"),
        (dict(kind="multistep", lr=1e-4, gamma=0.1, milestones=[2.5]), "whole number of steps"),
        (dict(kind="cyclic", base_lr=1e-3, max_lr=1e-4), r"base_lr \(0.001\) must be <= max_lr"),
        (dict(kind="cyclic", base_lr=1e-7), "cyclic schedule needs max_lr"),
        (dict(kind="cyclic", max_lr=1e-4), r"cyclic schedule needs lr \(or base_lr\)"),
        (dict(kind="cyclic", base_lr=1e-7, max_lr=1e-4, step_size_up=0), "cyclic step sizes must be >= 1"),
        (dict(kind="cyclic", base_lr=1e-7, max_lr=1e-4, step_size_down=0), "cyclic step sizes must be >= 1"),
        (dict(kind="cyclic", base_lr=1e-7, max_lr=1e-4, mode="sine"), "unknown cyclic mode 'sine'"),
        (dict(kind="cyclic", base_lr=1e-7, max_lr=1e-4, mode="exp_range"), "exp_range schedule needs gamma"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Schedule(**kwargs)


def test_bad_steps():
    s = Schedule("constant", 1e-4)
    with pytest.raises(ValueError, match="step must be >= 0"):
        lr_at(s, -1)
    with pytest.raises(ValueError, match="total_steps must be >= 1"):
        lr_at(Schedule("exponential", 1e-4, final_lr=1e-6), 0, total_steps=0)
    with pytest.raises(ValueError, match="at least one schedule"):
        lrs_at([], 0)
