"""The hypervolume of a front of minimised objectives, as pure functions: how good a front a
loss-weight search finds (README, "Searching the weights").

A search minimises the natural logs of the judged fields' MSEs, ln(pixel_mse) and
ln(grad_mse) (and ln(laplacian_mse) with a third objective). The hypervolume of a set of points
is the measure of the region they dominate below a reference point: larger is a better front,
and it grows only when a point moves the front. The reference point is fixed before any run:
each objective's ln of its target's variance (`reference_point`), which is the MSE of the best
constant prediction, the target's mean; a configuration worse than that on any objective adds
nothing. The computation is moocore's (`moocore.hypervolume`, exact; O(n log n) in 2-D and
3-D).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import moocore
import numpy as np

from inr.vocabulary import FIELD_OF_TERM

# the objectives a search can minimise: the loss term, and the metric whose ln it minimises
OBJECTIVE_METRICS = {"pixel": "pixel_mse", "grad": "grad_mse", "laplacian": "laplacian_mse"}
DEFAULT_OBJECTIVES = ("pixel", "grad")


def objective_values(metrics: dict, objectives: Sequence[str]) -> tuple[float, ...] | None:
    """ln of each objective's MSE in `metrics` (a run's final metrics or a summary row); None
    where one is missing, non-positive or not finite (a diverged run)."""
    values = []
    for name in objectives:
        mse = metrics.get(OBJECTIVE_METRICS[name])
        try:
            mse = float(mse)
        except (TypeError, ValueError):
            return None
        if not (math.isfinite(mse) and mse > 0):
            return None
        values.append(math.log(mse))
    return tuple(values)


def reference_point(variances: dict[str, float], objectives: Sequence[str]) -> tuple[float, ...]:
    """The reference point, fixed in advance: ln of each objective's target variance (variances:
    field -> variance, DiffusionSequence.target_variances; the gradient's sums its two
    components, as its MSE does), the error of predicting the target's mean."""
    return tuple(math.log(variances[FIELD_OF_TERM[name]]) for name in objectives)


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The hypervolume that `points` (n, d), all objectives minimised, dominate below
    `reference` (d,); points not strictly below it on every objective add nothing; 0 for none."""
    ref = np.asarray(reference, dtype=float)
    kept = [p for p in points if np.all(np.asarray(p, dtype=float) < ref)]
    if not kept:
        return 0.0
    return float(moocore.hypervolume(np.asarray(kept, dtype=float), ref=ref))


def history(points: Sequence[Sequence[float] | None], reference: Sequence[float]) -> list[float]:
    """The hypervolume after each point in turn, of all the points so far (None: a point that
    adds nothing, e.g. a diverged run): the front as a search saw it grow."""
    seen, out = [], []
    for point in points:
        if point is not None:
            seen.append(point)
        out.append(hypervolume(seen, reference) if seen else 0.0)
    return out


def nondominated(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points no other point dominates (all objectives minimised; equal points
    both kept)."""
    arr = np.asarray(points, dtype=float)
    keep = []
    for i, p in enumerate(arr):
        dominated = np.any(np.all(arr <= p, axis=1) & np.any(arr < p, axis=1))
        if not dominated:
            keep.append(i)
    return keep
