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


def test_mean_interval_is_scipys_t_interval_on_the_log_scale_for_errors():
    """(mean, low, high): scipy's 95% t-interval of the values, or of their logs mapped back
    (a geometric mean) for an error; non-finite and, on the log scale, non-positive values
    dropped; one value is its own interval."""
    from scipy import stats as sps

    from inr.stats import mean_interval
    values = [0.5, 2.0, 1.0, 4.0, float("nan")]
    logs = np.log(values[:4])
    low, high = sps.t.interval(0.95, 3, loc=logs.mean(), scale=sps.sem(logs))
    assert mean_interval(values, log=True) == pytest.approx(
        (sps.gmean(values[:4]), np.exp(low), np.exp(high)), rel=1e-12)
    low, high = sps.t.interval(0.95, 3, loc=np.mean(values[:4]), scale=sps.sem(values[:4]))
    assert mean_interval(values, log=False) == pytest.approx(
        (np.mean(values[:4]), low, high), rel=1e-12)
    assert mean_interval([3.0, -1.0], log=True) == pytest.approx((3.0, 3.0, 3.0), rel=1e-15)
