"""How far a floating-point result may lie from its reference: one rule for the tests and the
device check, so that no tolerance is a number read off one machine.

Machines sum in different orders (ATen's scalar, AVX2 and AVX-512 kernels, MKL's code paths, the
fused kernel built with or without -march=native, the thread count), so the round-off of a float32
result differs from machine to machine, while its size does not. The rule therefore measures
that size on the same inputs, on the machine at hand, and allows a fixed multiple of it:

    error  = ||candidate - reference|| / ||reference||      (normwise, in float64)
    bound  = FACTOR * max(own, eps(dtype))
    passes when error <= bound

- `reference` is the result in float64 on the same inputs: the float32 parameters and
  coordinates, converted exactly.
- `own` is the round-off of the reference method itself in `dtype` on those inputs: its
  error against the float64 reference (`own_error`). Where the candidate is float64 there is
  nothing finer to measure against, so the float32 measurement is carried over: a computation
  that loses k digits to round-off in float32 loses as many in float64 (`carried`).
- eps(dtype) is the machine epsilon (float32 1.2e-7, float64 2.2e-16), the floor below which
  no normwise error of a rounded result can be promised.
- FACTOR = 16: the candidate and the reference method are the same sums taken in different
  orders and blockings, whose round-off is of the same size (Higham, "Accuracy and Stability of
  Numerical Algorithms", 2nd ed., section 4.2: the error of a sum grows with its length and
  order, not with the machine); 16 covers a blocked sum against a straight one (√ of the length
  ratio, at most about 4 here) times a further 4 for the spread of one random-rounding sum.
"""
from __future__ import annotations

import torch

FACTOR = 16.0


def eps(dtype: torch.dtype) -> float:
    """The machine epsilon of a floating dtype (float32 2**-23, float64 2**-52)."""
    return float(torch.finfo(dtype).eps)


def relative_error(candidate: torch.Tensor, reference: torch.Tensor) -> float:
    """||candidate - reference|| / ||reference||, computed in float64 on the CPU; 0 when both are
    zero, inf when only the reference is."""
    a = candidate.detach().to("cpu", torch.float64)
    b = reference.detach().to("cpu", torch.float64)
    diff, size = float((a - b).norm()), float(b.norm())
    if size == 0:
        return 0.0 if diff == 0 else float("inf")
    return diff / size


def carried(own32: float, dtype: torch.dtype) -> float:
    """A round-off measured in float32 (`own32`, relative), carried to `dtype`: scaled by the
    ratio of their epsilons."""
    return own32 * eps(dtype) / eps(torch.float32)


def bound(own: float, dtype: torch.dtype) -> float:
    """The largest error allowed of a result in `dtype` whose reference method's own round-off
    on the same inputs is `own` (relative): FACTOR * max(own, eps(dtype))."""
    return FACTOR * max(own, eps(dtype))


def ratio(candidate: torch.Tensor, reference: torch.Tensor, own: float,
          dtype: torch.dtype) -> float:
    """The candidate's error against the reference in units of max(own, eps(dtype)); the rule
    passes when this is at most FACTOR."""
    return relative_error(candidate, reference) / max(own, eps(dtype))


def within(candidate: torch.Tensor, reference: torch.Tensor, own: float,
           dtype: torch.dtype) -> bool:
    """Whether the candidate lies within `bound(own, dtype)` of the reference."""
    return relative_error(candidate, reference) <= bound(own, dtype)
