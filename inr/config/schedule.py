"""Learning-rate schedules, defined in OPTIMISER STEPS (not epochs).

`lr_at(schedule, step)` is the lr used for the update at step 0, 1, 2, ... It equals what
torch.optim.lr_scheduler gives when the scheduler is stepped once per optimiser step:

    constant     lr
    exponential  lr * gamma^step                         (ExponentialLR)
                 or gamma = (final_lr / lr)^(1 / (total_steps - 1)), so the last step uses final_lr
    multistep    lr * gamma^(number of milestones <= step)  (MultiStepLR, milestones in steps)
    cyclic       triangle between base_lr and max_lr, up in step_size_up steps, down in
                 step_size_down steps (CyclicLR, cycle_momentum=False); amplitude scaled by
                 1 (triangular), 1/2^(cycle-1) (triangular2) or gamma^step (exp_range)

Milestones and step sizes are in optimiser steps: the original project meant "epochs" but
stepped per iteration, so an exponential gamma of 0.9 reached ~3e-9 within 100 steps.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

KINDS = ("constant", "exponential", "multistep", "cyclic")
CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
DEFAULT_STEP_SIZE_UP = 2000  # steps; torch's CyclicLR default


def _steps(name: str, value) -> int:
    """An integral step count, else a one-line ValueError."""
    if isinstance(value, bool) or not float(value).is_integer():
        raise ValueError(f"{name} must be a whole number of steps, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule; all step quantities are optimiser steps.

    kind: "constant" | "exponential" | "multistep" | "cyclic".
    lr: lr at step 0 (cyclic: equals base_lr; give either).
    gamma: decay per step (exponential), per milestone (multistep), or per step of the
        amplitude (cyclic exp_range).
    final_lr: exponential alternative to gamma; needs total_steps in lr_at.
    milestones: steps at which multistep multiplies by gamma, strictly increasing, >= 0.
    base_lr, max_lr, step_size_up, step_size_down (None = step_size_up), mode: cyclic.
    """

    kind: str
    lr: float | None = None
    gamma: float | None = None
    final_lr: float | None = None
    milestones: tuple[int, ...] = field(default_factory=tuple)
    base_lr: float | None = None
    max_lr: float | None = None
    step_size_up: int = DEFAULT_STEP_SIZE_UP
    step_size_down: int | None = None
    mode: str = "triangular"

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        if self.kind not in KINDS:
            raise ValueError(f"unknown scheduler {self.kind!r}; choose from {', '.join(KINDS)}")
        if self.kind == "cyclic":
            if self.lr is None:
                set_("lr", self.base_lr)
            elif self.base_lr is None:
                set_("base_lr", self.lr)
            elif self.lr != self.base_lr:
                raise ValueError(f"cyclic schedule starts at base_lr={self.base_lr}, but lr={self.lr}; give one of them")
        if self.lr is None:
            raise ValueError(f"{self.kind} schedule needs lr" + (" (or base_lr)" if self.kind == "cyclic" else ""))
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.gamma is not None and not self.gamma > 0:
            raise ValueError(f"gamma must be > 0, got {self.gamma}")
        if self.final_lr is not None and not self.final_lr > 0:
            raise ValueError(f"final_lr must be > 0, got {self.final_lr}")
        milestones = tuple(_steps("milestones", m) for m in self.milestones)
        if any(m < 0 for m in milestones):
            raise ValueError(f"milestones must be >= 0, got {list(milestones)}")
        if any(b <= a for a, b in zip(milestones, milestones[1:])):
            raise ValueError(f"milestones must be strictly increasing, got {list(milestones)}")
        set_("milestones", milestones)
        set_("step_size_up", _steps("step_size_up", self.step_size_up))
        if self.step_size_down is not None:
            set_("step_size_down", _steps("step_size_down", self.step_size_down))
        getattr(self, f"_check_{self.kind}", lambda: None)()

    def _check_exponential(self):
        if (self.gamma is None) == (self.final_lr is None):
            raise ValueError("exponential schedule needs exactly one of gamma and final_lr")

    def _check_multistep(self):
        if self.gamma is None:
            raise ValueError("multistep schedule needs gamma")

    def _check_cyclic(self):
        if self.max_lr is None:
            raise ValueError("cyclic schedule needs max_lr")
        if self.base_lr > self.max_lr:
            raise ValueError(f"base_lr ({self.base_lr}) must be <= max_lr ({self.max_lr})")
        if self.step_size_up < 1 or (self.step_size_down is not None and self.step_size_down < 1):
            raise ValueError(f"cyclic step sizes must be >= 1, got up={self.step_size_up}, down={self.step_size_down}")
        if self.mode not in CYCLIC_MODES:
            raise ValueError(f"unknown cyclic mode {self.mode!r}; choose from {', '.join(CYCLIC_MODES)}")
        if self.mode == "exp_range" and self.gamma is None:
            raise ValueError("cyclic exp_range schedule needs gamma")

    @property
    def display_lr(self) -> float:
        """The lr that names and labels the schedule: a cyclic schedule's peak, else its lr."""
        return self.max_lr if self.kind == "cyclic" else self.lr

    @classmethod
    def from_dict(cls, config: dict) -> Schedule:
        """Build from a config mapping; unknown keys -> ValueError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise ValueError(f"unknown schedule field(s) {', '.join(unknown)}; expected {', '.join(sorted(names))}")
        return cls(**config)

    def to_dict(self) -> dict:
        """Plain dict (milestones as a list) that round-trips through from_dict."""
        config = dataclasses.asdict(self)
        config["milestones"] = list(self.milestones)
        return config


def exponential_gamma(schedule: Schedule, total_steps: int | None = None) -> float:
    """Per-step decay of an exponential schedule (from gamma, or final_lr over total_steps)."""
    if schedule.gamma is not None:
        return schedule.gamma
    if total_steps is None:
        raise ValueError("exponential schedule with final_lr needs total_steps")
    total_steps = _steps("total_steps", total_steps)
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if total_steps == 1:
        return 1.0
    return (schedule.final_lr / schedule.lr) ** (1 / (total_steps - 1))


def _cyclic_lr(s: Schedule, step: int) -> float:
    up = s.step_size_up
    down = up if s.step_size_down is None else s.step_size_down
    cycle, position = divmod(step, up + down)  # cycle counts from 0
    height = position / up if position <= up else (up + down - position) / down
    if s.mode == "triangular":
        scale = 1.0
    elif s.mode == "triangular2":
        scale = 1 / 2.0**cycle
    else:  # exp_range
        scale = s.gamma**step
    return s.base_lr + (s.max_lr - s.base_lr) * height * scale


def lr_at(schedule: Schedule, step: int, total_steps: int | None = None) -> float:
    """Learning rate for the optimiser update at `step` (0-based)."""
    step = _steps("step", step)
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    s = schedule
    if s.kind == "constant":
        return s.lr
    if s.kind == "exponential":
        return s.lr * exponential_gamma(s, total_steps) ** step
    if s.kind == "multistep":
        return s.lr * s.gamma ** bisect.bisect_right(s.milestones, step)
    if s.kind == "cyclic":
        return _cyclic_lr(s, step)
    raise ValueError(f"unknown scheduler {s.kind!r}; choose from {', '.join(KINDS)}")  # unreachable via __post_init__


def lrs_at(schedules: Iterable[Schedule], step: int, total_steps: int | None = None, *,
           dtype: torch.dtype = torch.float64,
           device: str | torch.device | None = None) -> torch.Tensor:
    """Learning rates (M,) at `step` for an ensemble of M models, one schedule each."""
    schedules = list(schedules)
    if not schedules:
        raise ValueError("lrs_at needs at least one schedule")
    return torch.tensor([lr_at(s, step, total_steps) for s in schedules], dtype=dtype, device=device)

