"""inr.stats.inference against scipy.stats, statsmodels and numpy, with the reference numbers
written here (computed once with scipy 1.17 / statsmodels 0.15 on these inputs, and cross-checked
by a formula in numpy where one is short), and a simulation of selection that shows why the
confirmation stage uses fresh seeds."""
import math

import numpy as np
import pytest
from scipy import stats

from inr.stats import (compare, detectable_effect, dominance, holm, noninferiority,
                       noninferiority_power, pooled_sd)
from inr.stats.inference import one_sided
from inr.stats.summary import p_text, uncertain

# PSNRs (dB) of two weight vectors at seeds 0, 1, 2 (the quick profile, measured)
SMALL_TERMS, PIXEL_ONLY = [40.79, 40.94, 36.77], [36.81, 37.01, 34.43]


def by_seed(values, first=0):
    return {first + i: v for i, v in enumerate(values)}


def test_the_paired_test_is_scipys_ttest_rel_with_its_interval():
    got = compare(by_seed(SMALL_TERMS), by_seed(PIXEL_ONLY), "psnr")
    assert got.paired and got.transform == "none" and got.n == 3 and got.seeds == (0, 1, 2)
    assert got.p == pytest.approx(0.023954259997445906, rel=1e-9)
    assert got.ci_low == pytest.approx(1.0995728734153865, rel=1e-9)
    assert got.ci_high == pytest.approx(5.733760459917947, rel=1e-9)
    assert got.effect == pytest.approx(41 / 12, rel=1e-12)  # mean of (3.98, 3.93, 2.34)
    # the same by the formula: t = mean(d) / (sd(d) / sqrt(n)), two-sided, n - 1 dof
    d = np.subtract(SMALL_TERMS, PIXEL_ONLY)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(3))
    assert got.p == pytest.approx(2 * stats.t.sf(t, 2), rel=1e-12)
    assert got.correlation == pytest.approx(np.corrcoef(SMALL_TERMS, PIXEL_ONLY)[0, 1])
    assert got.a_ahead
    # the unpaired (Welch) test of the same values does not separate them: pairing bought it
    assert stats.ttest_ind(SMALL_TERMS, PIXEL_ONLY, equal_var=False).pvalue == \
        pytest.approx(0.1138276597735588, rel=1e-9)


def test_an_mse_is_tested_on_its_log_and_its_effect_is_a_ratio():
    a, b = [2.56e-4, 1.9e-4, 3.1e-4], [7.1e-3, 4.0e-3, 1.02e-2]
    got = compare(by_seed(a), by_seed(b), "pixel_mse")
    assert got.transform == "log" and got.paired
    assert got.p == pytest.approx(0.0015618005121153542, rel=1e-9)
    assert got.ci_low == pytest.approx(-3.8474595977964094, rel=1e-9)
    assert got.ci_high == pytest.approx(-2.7280529943932965, rel=1e-9)
    ratio = math.exp(got.effect)  # the geometric mean of the seed-wise ratios a / b
    assert ratio == pytest.approx(np.prod(np.divide(a, b)) ** (1 / 3), rel=1e-12)
    assert got.mean_a == pytest.approx(np.prod(a) ** (1 / 3), rel=1e-12)  # geometric mean
    assert got.a_ahead  # lower MSE


def test_only_shared_seeds_are_paired_and_unmatched_ones_fall_back_to_welch():
    a = {1: 40.0, 2: 41.0, 3: 39.5, 7: 10.0}
    b = {1: 38.0, 2: 39.5, 3: 38.0}
    got = compare(a, b, "psnr")
    assert got.paired and got.seeds == (1, 2, 3)
    assert got.p == pytest.approx(stats.ttest_rel([40.0, 41.0, 39.5], [38.0, 39.5, 38.0]).pvalue)
    welch = compare({1: 40.0, 2: 41.0, 3: 39.5}, {4: 38.0, 5: 39.5, 6: 38.0}, "psnr")
    assert not welch.paired and math.isnan(welch.correlation)
    assert welch.p == pytest.approx(
        stats.ttest_ind([40.0, 41.0, 39.5], [38.0, 39.5, 38.0], equal_var=False).pvalue)
    lone = compare({1: 40.0}, {1: 38.0, 2: 39.0}, "psnr")
    assert not lone.tested and math.isnan(lone.p)
    same = compare({1: 1.0, 2: 2.0}, {1: 1.0, 2: 2.0}, "psnr")
    assert same.p == 1.0
    shifted = compare({1: 2.0, 2: 3.0}, {1: 1.0, 2: 2.0}, "psnr")
    assert shifted.p == 0.0 and shifted.effect == 1.0


def test_holm_is_statsmodels_holm_and_a_nan_is_no_member_of_the_family():
    # by hand: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04,
    # made monotone: 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    with_nan = holm([0.01, math.nan, 0.04, 0.03, 0.005])
    assert math.isnan(with_nan[1])
    assert [with_nan[i] for i in (0, 2, 3, 4)] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.9, 0.8]) == [1.0, 1.0]  # 0.8 x 2 = 1.6 is capped at 1, and 0.9 raised to it


@pytest.mark.parametrize("n, expected", [(3, 3.264043552819638), (5, 1.6819970833232674),
                                         (10, 0.9960019107624178)])
def test_the_detectable_effect_has_80_percent_power_by_the_noncentral_t(n, expected):
    d = detectable_effect(n, 0.05)
    assert d == pytest.approx(expected, rel=1e-6)
    # its power, from the noncentral t distribution with noncentrality d sqrt(n)
    crit = stats.t.ppf(0.975, n - 1)
    power = stats.nct.sf(crit, n - 1, d * math.sqrt(n)) + stats.nct.cdf(-crit, n - 1,
                                                                        d * math.sqrt(n))
    assert power == pytest.approx(0.8, abs=1e-6)
    assert detectable_effect(n, 0.05 / 6) > d  # a stricter level needs a larger effect
    assert math.isnan(detectable_effect(1))


def test_the_detectable_effect_holds_at_holms_strictest_level_where_statsmodels_solver_fails():
    """At n = 3 and alpha = 0.05 / 18, TTestPower.solve_power returns 5.5 sd, whose power is
    0.22; the root found here has power 0.8 and grows as the level tightens."""
    strict = detectable_effect(3, 0.05 / 18)
    crit = stats.t.ppf(1 - 0.05 / 36, 2)
    assert stats.nct.sf(crit, 2, strict * math.sqrt(3)) == pytest.approx(0.8, abs=1e-6)
    assert stats.nct.sf(crit, 2, 5.5 * math.sqrt(3)) < 0.25
    assert detectable_effect(3, 0.05 / 6) < strict


def test_pooled_sd_weights_each_paired_comparison_by_its_degrees_of_freedom():
    one = compare(by_seed([1.0, 2.0, 4.0]), by_seed([0.0, 0.0, 0.0]), "psnr")
    two = compare(by_seed([1.0, 1.5]), by_seed([0.0, 0.0]), "psnr")
    expected = math.sqrt((2 * np.var([1, 2, 4], ddof=1) + 1 * np.var([1, 1.5], ddof=1)) / 3)
    assert pooled_sd([one, two]) == pytest.approx(expected, rel=1e-12)


def test_noninferiority_p_and_power_against_a_hand_computation():
    """H0: a loses at least the margin (mean(a - b) <= -margin dB); the t statistic and its
    upper tail written out in numpy; an error metric flips the sign (log scale); the power where
    a equals b is the noncentral t's upper tail at noncentrality margin / sd * sqrt(n)."""
    x, y = [36.9, 37.2, 35.0, 36.1, 36.6], [36.7, 37.0, 35.3, 35.9, 36.5]
    d = np.subtract(x, y)
    t = (d.mean() + 1.0) / (d.std(ddof=1) / math.sqrt(5))
    assert noninferiority(by_seed(x), by_seed(y), "psnr", 1.0) == \
        pytest.approx(stats.t.sf(t, 4), rel=1e-12)
    # an error: a non-inferior when ln(a) - ln(b) < +margin
    ea, eb = [0.011, 0.013, 0.010, 0.012], [0.010, 0.012, 0.011, 0.010]
    dl = np.log(ea) - np.log(eb)
    t = (0.5 - dl.mean()) / (dl.std(ddof=1) / 2)
    assert noninferiority(by_seed(ea), by_seed(eb), "grad_mse", 0.5) == \
        pytest.approx(stats.t.sf(t, 3), rel=1e-12)
    # a loses 3 dB on every seed: far from non-inferior at a 1 dB margin
    assert noninferiority(by_seed([30.0, 31.0, 29.5]), by_seed([33.0, 34.1, 32.4]), "psnr",
                          1.0) > 0.99
    crit = stats.t.ppf(0.95, 4)
    assert noninferiority_power(0.5, 5) == pytest.approx(
        stats.nct.sf(crit, 4, 0.5 * math.sqrt(5)), rel=1e-12)
    # a margin of one sd at 4 seeds: about a third; many sds: nearly sure
    assert 0.2 < noninferiority_power(1.0, 4) < 0.6 < noninferiority_power(4.0, 4)
    assert math.isnan(noninferiority_power(1.0, 1))


def test_dominance_is_the_larger_one_sided_p():
    x, y = [36.9, 37.2, 35.0, 36.1, 36.6], [36.7, 37.0, 35.3, 35.9, 36.5]
    assert one_sided(by_seed(x), by_seed(y), "psnr") == \
        pytest.approx(0.22782976997898138, rel=1e-9)
    grad_a, grad_b = [0.010, 0.012, 0.011, 0.009, 0.010], [0.03, 0.035, 0.028, 0.031, 0.03]
    p_grad = one_sided(by_seed(grad_a), by_seed(grad_b), "grad_mse")
    assert p_grad == pytest.approx(stats.ttest_rel(np.log(grad_a), np.log(grad_b),
                                                   alternative="less").pvalue, rel=1e-12)
    both = dominance({"psnr": by_seed(x), "grad_mse": by_seed(grad_a)},
                     {"psnr": by_seed(y), "grad_mse": by_seed(grad_b)})
    assert both == pytest.approx(max(0.22782976997898138, p_grad))


def test_numbers_are_rounded_by_their_uncertainty():
    assert uncertain(0.0001248, 7.419e-05) == "(1.25 ± 0.74)e-04"
    assert uncertain(40.79, 2.403) == "40.8 ± 2.4"
    assert uncertain(36.08, 0.5) == "36.08 ± 0.50"
    assert uncertain(8.35e5, 9.244e4) == "(8.35 ± 0.92)e+05"
    assert p_text(1.0) == "p > 0.99" and p_text(0.0053) == "p = 0.0053"
    assert p_text(3e-7) == "p < 0.0001" and p_text(math.nan) == "p not computed"
