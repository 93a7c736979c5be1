"""inr.stats.summary against numpy and a brute-force front, on fixed inputs (the tests:
tests/test_inference.py)."""
import itertools
import math

import numpy as np
import pytest

from inr.stats import pareto_front, summarize


def test_summary_is_numpys_mean_and_sample_sd_of_the_finite_values():
    values = [36.81, 37.01, 34.43, math.nan]
    s = summarize(values)
    assert s.mean == pytest.approx(np.mean(values[:3]), rel=1e-15)
    assert s.sd == pytest.approx(np.std(values[:3], ddof=1), rel=1e-15) and s.n == 3
    assert summarize([40.79]).n == 1 and math.isnan(summarize([40.79]).sd)
    assert summarize([]).n == 0


def _dominates(q, p, higher):
    better = [(qi > pi) if h else (qi < pi) for qi, pi, h in zip(q, p, higher)]
    as_good = [(qi >= pi) if h else (qi <= pi) for qi, pi, h in zip(q, p, higher)]
    return all(as_good) and any(better)


@pytest.mark.parametrize("higher", list(itertools.product([True, False], repeat=2)))
def test_pareto_front_equals_a_brute_force_front(higher):
    rng = np.random.default_rng(7)
    points = [tuple(p) for p in rng.integers(0, 12, size=(60, 2)).astype(float)]
    points.append((math.nan, 3.0))
    expected = [i for i, p in enumerate(points) if all(map(math.isfinite, p))
                and not any(_dominates(q, p, higher) for j, q in enumerate(points)
                            if j != i and all(map(math.isfinite, q)))]
    assert pareto_front(points, higher) == expected
    # psnr up (higher better) and gradient MSE down: a hand-made case
    front = pareto_front([(0.1, 30.0), (0.05, 28.0), (0.2, 29.0), (0.05, 31.0)], (False, True))
    assert front == [3]
