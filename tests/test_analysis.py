"""The answers in sentences (inr.report.analysis) on hand-made rows (tests/test_contrasts.py's
activation sweep: sine far ahead of ELU, four fresh seeds): each sentence's numbers are the
paired t-test written out here with scipy, and its words follow from them."""
import math

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

from test_contrasts import activation_rows
from inr.report.analysis import compare_with_original, cross_image_lines
from inr.report.analysis import test_sentence as sentence_of
from inr.report.contrasts import all_tests
from inr.report.wording import ratio_text


def _fresh(rows, activation, setting, metric):
    own = {int(r["seed"]): r[metric] for r in rows if r["activation"] == activation
           and r["weights"] == setting and r["stage"] == "confirmation"}
    return [own[s] for s in sorted(own)]


def test_a_sentence_gives_the_paired_effect_its_interval_and_holms_p():
    rows = activation_rows()
    tests = all_tests(rows)
    grad = next(t for t in tests if t.setting == "grad")
    logs = [np.log(_fresh(rows, act, "grad", "grad_mse")) for act in ("sine", "elu")]
    result = stats.ttest_rel(*logs)
    ci = result.confidence_interval(0.95)
    mean = float(np.mean(logs[0] - logs[1]))
    holm = multipletests([t.p for t in tests], method="holm")[1]
    expected = (f"sine (w0 30) ahead of elu on grad_mse: ×{ratio_text(math.exp(mean))} "
                f"[{ratio_text(math.exp(ci.low))}, {ratio_text(math.exp(ci.high))}] "
                f"(4 paired seeds); separated (Holm p = {holm[tests.index(grad)]:.2g})")
    assert sentence_of(grad, "activation") == expected


def test_verdict_a_counts_the_settings_where_sine_is_separated_ahead():
    """Settings pixel, grad and laplacian; the raw all-terms setting repeats laplacian (99% of
    its effective weight) and is tested once: 3 comparisons, sine separated ahead on each."""
    rows = activation_rows()
    lines = compare_with_original(rows)
    assert lines[0] == ("(a) Original: SIREN beats ELU. Here: sine separated ahead on 3, elu on "
                        "0, of 3 (setting, field) comparisons -> agrees.")
    assert sum(line.endswith("-> agrees") for line in lines) == 3
    assert any(line.startswith("(b) Original:") and "not tested: no learning-rate runs" in line
               for line in lines)


def test_across_images_the_votes_and_the_pooled_line_count_each_image_once():
    """The same sweep on two images: sine ahead on both and separated on both, for each of the
    three comparisons; the pooled line gives the random-effects estimate over the two."""
    rows = activation_rows() + [{**r, "image": "moon"} for r in activation_rows()]
    tests = all_tests(rows)
    lines = cross_image_lines(tests, ["camera", "moon"], held_out=False)
    votes = [line for line in lines if line.startswith("activation, trained on")]
    assert len(votes) == 3
    assert all("sine ahead of elu" in line and "on 2 of 2 images (separated on 2)" in line
               for line in votes)
    assert all("pooled (elu against sine)" in line and "over 2 images" in line for line in votes)
    assert "Not held out" in lines[-1]
