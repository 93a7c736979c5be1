"""Inference between configurations that share seeds, as pure functions over {seed: value}.

Two configurations trained with the same seed share their initialisation and their batches, so
they are compared seed by seed:

    compare      a two-sided paired t-test (scipy.stats.ttest_rel) on the seeds both have, with
                 the mean difference and its 95% interval; Welch's test (ttest_ind,
                 equal_var=False) where fewer than MIN_SEEDS seeds are shared, said in `paired`
    holm         Holm's step-down adjustment of a family of p-values (statsmodels multipletests)
    detectable_effect   the smallest true mean difference a paired test of n seeds finds with
                 POWER at level alpha (the noncentral t, scipy.stats.nct), in units of
                 the differences' sd
    noninferiority  a paired one-sided test that a loses less than a margin fixed in advance,
                 and its power where a and b are truly equal
    dominance    an intersection-union test: a is better than b on every metric given, p the
                 largest of the one-sided paired p-values

Every test runs on the tested scale of its metric (`transform`): the natural log of an MSE, so
that an effect is a log ratio of MSEs (exp(effect) is the ratio), and PSNR, SSIM and the like as
they are (an effect in dB).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from inr.vocabulary import higher_is_better

ALPHA = 0.05
POWER = 0.8
MIN_SEEDS = 2  # a side (or shared pairs) below which no test is computed
LEVEL = 0.95  # of the effect's interval (unadjusted for multiplicity)


def transform_of(metric: str) -> str:
    """'log' for an MSE-type metric (errors that span decades, spread growing with the mean),
    'none' otherwise (PSNR is already a log scale; SSIM is bounded)."""
    return "log" if metric.removeprefix("heldout_").endswith(("_mse", "pde_residual")) \
        else "none"


def on_tested_scale(values: Sequence[float], transform: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.log(values) if transform == "log" else values


@dataclass(frozen=True)
class Comparison:
    """The test of configuration a against b on one metric.

    seeds        the seeds used (shared ones when paired, every finite one otherwise)
    mean_a/b     means on the metric's own scale over those seeds (log metrics: geometric means)
    effect       mean(a - b) on the tested scale, with its LEVEL interval (ci_low, ci_high)
    p            two-sided p (nan: not computed); sd_diff: sd of the paired differences
    correlation  between a's and b's values over the shared seeds (nan when not computable)
    """
    metric: str
    transform: str
    paired: bool
    seeds: tuple
    n: int
    mean_a: float
    mean_b: float
    effect: float
    ci_low: float
    ci_high: float
    p: float
    sd_diff: float
    correlation: float

    @property
    def tested(self) -> bool:
        return math.isfinite(self.p)

    @property
    def a_ahead(self) -> bool:
        """Whether a's mean is the better one (in the metric's direction)."""
        return (self.effect > 0) == higher_is_better(self.metric)


def _finite(values: Mapping[int, float], transform: str) -> dict[int, float]:
    ok = {s: float(v) for s, v in values.items()
          if v is not None and math.isfinite(v) and (transform != "log" or v > 0)}
    return dict(sorted(ok.items()))


def _back(mean: float, transform: str) -> float:
    return math.exp(mean) if transform == "log" else mean


def compare(a: Mapping[int, float], b: Mapping[int, float], metric: str) -> Comparison:
    """Test a against b on `metric`, a and b: {seed: value}. Paired on the shared seeds when
    there are at least MIN_SEEDS of them, else Welch's test when each side has MIN_SEEDS, else
    no test (p nan). Differences that are all equal give p = 0 (or 1 when all are zero)."""
    transform = transform_of(metric)
    shared, x, y = paired_values(a, b, metric)
    a, b = _finite(a, transform), _finite(b, transform)
    nan = math.nan
    if len(shared) >= MIN_SEEDS:
        d = x - y
        effect, sd = float(np.mean(d)), float(np.std(d, ddof=1))
        corr = float(np.corrcoef(x, y)[0, 1]) if np.std(x) > 0 and np.std(y) > 0 else nan
        if sd == 0:
            p, low, high = (1.0 if effect == 0 else 0.0), effect, effect
        else:
            res = stats.ttest_rel(x, y)
            ci = res.confidence_interval(LEVEL)
            p, low, high = float(res.pvalue), float(ci.low), float(ci.high)
        return Comparison(metric, transform, True, tuple(shared), len(shared),
                          _back(float(np.mean(x)), transform), _back(float(np.mean(y)), transform),
                          effect, low, high, p, sd, corr)
    x = on_tested_scale(list(a.values()), transform)
    y = on_tested_scale(list(b.values()), transform)
    seeds = tuple(sorted(set(a) | set(b)))
    mean_a = _back(float(np.mean(x)), transform) if x.size else nan
    mean_b = _back(float(np.mean(y)), transform) if y.size else nan
    if x.size < MIN_SEEDS or y.size < MIN_SEEDS:
        effect = float(np.mean(x) - np.mean(y)) if x.size and y.size else nan
        return Comparison(metric, transform, False, seeds, min(x.size, y.size), mean_a, mean_b,
                          effect, nan, nan, nan, nan, nan)
    effect = float(np.mean(x) - np.mean(y))
    if np.var(x) == 0 and np.var(y) == 0:
        p, low, high = (1.0 if effect == 0 else 0.0), effect, effect
    else:
        res = stats.ttest_ind(x, y, equal_var=False)
        ci = res.confidence_interval(LEVEL)
        p, low, high = float(res.pvalue), float(ci.low), float(ci.high)
    return Comparison(metric, transform, False, seeds, min(x.size, y.size), mean_a, mean_b,
                      effect, low, high, p, nan, nan)


def holm(pvalues: Sequence[float], alpha: float = ALPHA) -> list[float]:
    """Holm-adjusted p-values of a family, in input order; nan entries stay nan and do not
    count in the family."""
    from statsmodels.stats.multitest import multipletests

    index = [i for i, p in enumerate(pvalues) if math.isfinite(p)]
    out = [math.nan] * len(pvalues)
    if index:
        adjusted = multipletests([pvalues[i] for i in index], alpha=alpha, method="holm")[1]
        for i, p in zip(index, adjusted):
            out[i] = float(p)
    return out


def paired_power(effect: float, n: int, alpha: float = ALPHA) -> float:
    """The power of a two-sided paired t-test of n seeds at level alpha against a true
    standardised effect: P(|T| > t_crit) for T noncentral t (scipy.stats.nct) with n - 1
    degrees of freedom and noncentrality effect * sqrt(n)."""
    dof, crit = n - 1, stats.t.ppf(1 - alpha / 2, n - 1)
    shift = effect * math.sqrt(n)
    wrong_side = float(stats.nct.cdf(-crit, dof, shift))
    # far in that tail (below about 1e-15) scipy's nct.cdf can return nan: it counts as 0
    return float(stats.nct.sf(crit, dof, shift)) + (wrong_side if math.isfinite(wrong_side)
                                                     else 0.0)


@functools.lru_cache(maxsize=1024)  # a pure function of three numbers, asked once per test
def detectable_effect(n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The standardised effect (mean difference / sd of the differences) that a two-sided
    paired t-test of n seeds at level alpha detects with the given power (`paired_power`,
    solved by scipy's brentq); nan below 2 seeds. statsmodels' TTestPower.solve_power gives
    the same at alpha = 0.05 but can stop at a wrong root at small n and alpha (5.5 for n = 3
    at alpha = 0.05 / 18, where the power is 0.22)."""
    from scipy.optimize import brentq

    if n < MIN_SEEDS:
        return math.nan
    high = 1.0
    while paired_power(high, n, alpha) < power:
        high *= 2
    return float(brentq(lambda e: paired_power(e, n, alpha) - power, 0.0, high, xtol=1e-12))


def pooled_sd(comparisons: Sequence[Comparison]) -> float:
    """The pooled sd of the paired differences of several paired comparisons (each weighted by
    its n - 1 degrees of freedom); nan when none is paired."""
    paired = [c for c in comparisons if c.paired and math.isfinite(c.sd_diff) and c.n > 1]
    dof = sum(c.n - 1 for c in paired)
    if not dof:
        return math.nan
    return math.sqrt(sum((c.n - 1) * c.sd_diff ** 2 for c in paired) / dof)


def paired_values(a: Mapping[int, float], b: Mapping[int, float], metric: str
                  ) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(the seeds both have, a's values and b's on them, on the metric's tested scale)."""
    transform = transform_of(metric)
    a, b = _finite(a, transform), _finite(b, transform)
    shared = [s for s in a if s in b]
    return (shared, on_tested_scale([a[s] for s in shared], transform),
            on_tested_scale([b[s] for s in shared], transform))


def noninferiority(a: Mapping[int, float], b: Mapping[int, float], metric: str,
                   margin: float) -> float:
    """p of the paired one-sided test that a is not worse than b by `margin` or more on the
    tested scale: H0 mean(a - b) <= -margin (for a metric where higher is better; >= +margin for
    an error), against the alternative that a loses less than the margin. nan with fewer than
    MIN_SEEDS shared seeds."""
    shared, x, y = paired_values(a, b, metric)
    if len(shared) < MIN_SEEDS:
        return math.nan
    sign = 1.0 if higher_is_better(metric) else -1.0
    d = sign * (x - y) + margin  # > 0 where a is within the margin (or better)
    if np.std(d) == 0:
        return 0.0 if float(np.mean(d)) > 0 else 1.0
    return float(stats.ttest_1samp(d, 0.0, alternative="greater").pvalue)


def noninferiority_power(margin_in_sd: float, n: int, alpha: float = ALPHA) -> float:
    """The power of the one-sided paired non-inferiority test of n seeds at level alpha when a
    and b are truly equal: P(T > t_crit(1 - alpha)) for T noncentral t on n - 1 degrees of
    freedom with noncentrality margin_in_sd * sqrt(n) (margin_in_sd: the margin over the sd of
    the paired differences); nan below MIN_SEEDS seeds."""
    if n < MIN_SEEDS or not math.isfinite(margin_in_sd):
        return math.nan
    crit = stats.t.ppf(1 - alpha, n - 1)
    return float(stats.nct.sf(crit, n - 1, margin_in_sd * math.sqrt(n)))


def one_sided(a: Mapping[int, float], b: Mapping[int, float], metric: str) -> float:
    """p of the paired one-sided test that a is better than b on `metric` (nan: untestable)."""
    shared, x, y = paired_values(a, b, metric)
    if len(shared) < MIN_SEEDS:
        return math.nan
    d = x - y
    better = "greater" if higher_is_better(metric) else "less"
    if np.std(d) == 0:
        mean = float(np.mean(d))
        return 0.0 if (mean > 0 if better == "greater" else mean < 0) else 1.0
    return float(stats.ttest_rel(x, y, alternative=better).pvalue)


def dominance(a: Mapping[str, Mapping[int, float]], b: Mapping[str, Mapping[int, float]]
              ) -> float:
    """p of the intersection-union test that a is better than b on every metric
    (a, b: metric -> {seed: value}): the largest one-sided paired p (nan if any is nan)."""
    ps = [one_sided(a[m], b[m], m) for m in a]
    return max(ps) if ps and all(math.isfinite(p) for p in ps) else math.nan


def mean_interval(values: Sequence[float], log: bool) -> tuple[float, float, float]:
    """(mean, low, high) of the finite values: the mean and its LEVEL t-interval, on the log
    scale when `log` (a geometric mean; positive values only); low = high = mean for one
    value, nan for none."""
    v = np.asarray([x for x in values if np.isfinite(x) and (not log or x > 0)], dtype=float)
    if v.size == 0:
        return (math.nan,) * 3
    w = np.log(v) if log else v
    mean = float(np.mean(w))
    half = float(stats.t.ppf(0.5 + LEVEL / 2, w.size - 1) * np.std(w, ddof=1) / np.sqrt(w.size)) \
        if w.size > 1 else 0.0
    back = np.exp if log else (lambda x: x)
    return float(back(mean)), float(back(mean - half)), float(back(mean + half))
