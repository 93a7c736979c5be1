"""Whether another report's verdicts hold here (inr.report.scale_check), on hand-made
comparisons.csv rows: the direction comes from the effect's sign and the metric's direction, an
activation matches across its tuned scales (by its label), and each verdict word follows from
the two tests."""
import math

import pytest
from scipy import stats

from comparison_rows import make_row
from inr.report.scale_check import power_here, scale_check_lines, size_check
from inr.report.wording import agreement as verdict


def row(a, b, effect, separated, metric="grad_mse", question="activation", setting="grad",
        family="activation", test="paired t", p_holm=0.01, half=0.5, n=4, family_size=6):
    """A row whose labels are the activations of the names ('finer-w010/x' -> 'finer')."""
    return make_row(question=question, family=family, metric=metric, a=a, b=b, effect=effect,
                    separated=separated, effect_ci_low=effect - half,
                    effect_ci_high=effect + half, n=n, family_size=family_size, p_holm=p_holm,
                    test=test, setting=setting, a_label=a.split("/")[0].split("-")[0],
                    b_label=b.split("/")[0].split("-")[0],
                    transform="log" if metric.endswith("mse") else "none")


def test_each_verdict_follows_from_the_two_tests_direction_and_separation():
    sine_ahead = row("sine/x_grad", "elu/x_grad", -1.0, True)  # log MSE lower: a ahead
    assert verdict(sine_ahead, sine_ahead) == "holds"
    assert verdict(row("sine/x_grad", "elu/x_grad", +1.0, True), sine_ahead) == "reverses"
    assert verdict(row("sine/x_grad", "elu/x_grad", -0.2, False), sine_ahead) == \
        "same direction, not separated here"
    assert verdict(row("sine/x_grad", "elu/x_grad", +0.2, False), sine_ahead) == \
        "other direction here, not separated"
    psnr = row("sine/x_pixel", "elu/x_pixel", +3.0, True, metric="psnr")  # dB higher: a ahead
    assert verdict(row("elu/x_pixel", "sine/x_pixel", -3.0, True, metric="psnr"), psnr) == "holds"


def test_an_activation_matches_at_another_scale_and_only_confirmatory_tests_count():
    here = [row("finer-w010/x_grad", "sine/x_grad", -1.0, True),
            row("gauss-s3/x_grad", "sine/x_grad", -1.0, True, family="activation/exploratory")]
    there = [row("sine/x_grad", "finer-w030/x_grad", -1.0, True),
             row("sine/x_grad", "gauss-s10/x_grad", -1.0, True)]
    lines = scale_check_lines(here, there, "quick")
    assert lines[0].startswith("1 tests also made there (quick): reverses 1. Power here")
    assert lines[1].startswith("activation, grad, grad_mse, finer vs sine: here finer ahead")
    assert "-> reverses; size: there's estimate outside the interval here" in lines[1]
    assert scale_check_lines(here[1:], there, "quick") == \
        ["No test of this report was also made in quick."]


def test_the_size_check_and_the_power_here_against_a_hand_computation():
    """The quick effect (-1.0, interval +-0.5 at n = 4) against a medium effect (-3.0, +-1.2 at
    n = 3): each standard error is the half-interval over t(n - 1); the z-test of their
    difference and the power of here's paired test (its sd = se * sqrt(n), level 0.05 over its
    family of 6) for there's effect by the noncentral t, written out here."""
    here = row("sine/x_grad", "elu/x_grad", -3.0, True, half=1.2, n=3)
    there = row("sine/x_grad", "elu/x_grad", -1.0, True, half=0.5, n=4)
    se_here, se_there = 1.2 / stats.t.ppf(0.975, 2), 0.5 / stats.t.ppf(0.975, 3)
    inside, p = size_check(here, there)
    assert not inside  # -1.0 lies outside [-4.2, -1.8]
    assert p == pytest.approx(2 * stats.norm.sf(2.0 / math.hypot(se_here, se_there)), rel=1e-12)
    crit = stats.t.ppf(1 - 0.05 / 6 / 2, 2)
    shift = 1.0 / (se_here * math.sqrt(3)) * math.sqrt(3)
    expected = stats.nct.sf(crit, 2, shift) + stats.nct.cdf(-crit, 2, shift)
    assert power_here(here, there) == pytest.approx(expected, rel=1e-9)
    assert power_here(here, there) < 0.2  # a 3-seed test could not have seen the quick effect
    assert size_check(there, here)[0] is False and size_check(here, here)[0] is True
