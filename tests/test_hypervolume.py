"""The hypervolume of a front (inr.stats.hypervolume) against hand computations."""
import math

import numpy as np
import pytest

from inr.stats.hypervolume import (history, hypervolume, nondominated, objective_values,
                                   reference_point)


def _staircase_area(points, ref):
    """The 2-D hypervolume by hand: the union of the rectangles [x, rx] x [y, ry], summed as
    vertical strips between consecutive x of the non-dominated points sorted by x."""
    front = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    area, best_y = 0.0, ref[1]
    for i, (x, y) in enumerate(front):
        best_y = min(best_y, y)
        right = front[i + 1][0] if i + 1 < len(front) else ref[0]
        area += (right - x) * (ref[1] - best_y)
    return area


def test_a_two_dimensional_front_against_a_hand_computation():
    # three steps under (4, 4): strips 1 x 1, 1 x 2 and 1 x 3 -> 6; the dominated (3, 3) adds 0
    assert hypervolume([(1, 3), (2, 2), (3, 1)], (4, 4)) == pytest.approx(6.0, abs=1e-12)
    assert hypervolume([(1, 3), (2, 2), (3, 1), (3, 3)], (4, 4)) == pytest.approx(6.0, abs=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(20):
        points = [tuple(p) for p in rng.normal(size=(int(rng.integers(1, 12)), 2))]
        ref = (1.5, 1.0)
        # float64 sums of at most 12 products of numbers of order 1: 1e-12 is far above round-off
        assert hypervolume(points, ref) == pytest.approx(_staircase_area(points, ref), abs=1e-12)


def test_points_not_below_the_reference_add_nothing():
    assert hypervolume([], (0, 0)) == 0.0
    assert hypervolume([(1, -5)], (0, 0)) == 0.0  # above on the first objective
    assert hypervolume([(0, -1)], (0, 0)) == 0.0  # on the boundary: no volume
    assert hypervolume([(-1, -2), (5, -9)], (0, 0)) == pytest.approx(2.0)


def test_a_three_dimensional_box():
    # one point: the box to the reference; two nested boxes: the larger
    assert hypervolume([(0, 0, 0)], (1, 2, 3)) == pytest.approx(6.0)
    assert hypervolume([(0, 0, 0), (0.5, 0.5, 0.5)], (1, 2, 3)) == pytest.approx(6.0)
    # two boxes overlapping in [0.5, 1] x [0, 1] x [0, 1]: 1 + 1 - 0.5 by inclusion-exclusion
    assert hypervolume([(0, 0, 0), (0.5, -1, 0)], (1, 1, 1)) == pytest.approx(1 + 1 - 0.5)


def test_the_history_grows_only_when_the_front_moves():
    hv = history([(2, 2), None, (3, 3), (1, 3)], (4, 4))
    assert hv == pytest.approx([4.0, 4.0, 4.0, 4.0 + 1.0])


def test_nondominated_points():
    assert nondominated([(1, 3), (2, 2), (3, 3), (2, 2), (0, 5)]) == [0, 1, 3, 4]


def test_objectives_are_logs_of_the_mses_and_the_reference_the_log_variances():
    values = objective_values({"pixel_mse": 0.01, "grad_mse": "2.5"}, ("pixel", "grad"))
    assert values == pytest.approx((math.log(0.01), math.log(2.5)))
    assert objective_values({"pixel_mse": float("nan"), "grad_mse": 1.0}, ("pixel", "grad")) is None
    assert objective_values({"pixel_mse": 0.0, "grad_mse": 1.0}, ("pixel", "grad")) is None
    variances = {"value": 0.05, "grad": 0.36, "laplacian": 108.0, "dt": 0.04}
    assert reference_point(variances, ("pixel", "grad", "laplacian")) == pytest.approx(
        (math.log(0.05), math.log(0.36), math.log(108.0)))
