"""REPORT.md's words and tables (inr.report.markdown, inr.report.answers, inr.report.wording) on
hand-made comparisons.csv rows: each effect, interval, verdict and image vote is checked against
numbers written out here."""
import math

from comparison_rows import make_row
from inr.report.answers import HEADER, question_answers
from inr.report.markdown import as_list, comparison_table, folded
from inr.report.wording import effect_text, verdict


def test_a_log_effect_reads_as_a_ratio_and_a_psnr_effect_in_db():
    grad = make_row(effect=math.log(0.25), effect_ci_low=math.log(0.1),
                    effect_ci_high=math.log(0.5))
    assert effect_text(grad) == "×0.25 [0.1, 0.5]"
    near_one = make_row(effect=math.log(1.03), effect_ci_low=math.log(0.98),
                        effect_ci_high=math.log(1.09))
    assert effect_text(near_one) == "×1.030 [0.980, 1.090]"
    psnr = make_row(metric="psnr", transform="none", effect=2.345, effect_ci_low=0.5,
                    effect_ci_high=4.25)
    assert effect_text(psnr) == "+2.3 dB [+0.5, +4.2]"


def test_each_kind_of_test_gets_its_own_verdict():
    separated = make_row(p=0.001, p_holm=0.004, separated=True, effect=-1.0)
    assert verdict(separated) == "separated (Holm p = 0.004)"
    open_ = make_row(p=0.2, p_holm=0.6, effect=-0.1, detectable_effect=math.log(4.0))
    assert verdict(open_) == ("not separated (Holm p = 0.6; could have seen a ratio beyond ×4 "
                              "(or ×0.25))")
    ni = make_row(test="non-inferiority (paired one-sided t)", metric="psnr", transform="none",
                  p=0.01, p_holm=0.02, separated=True, margin=1.0, power=0.8)
    assert verdict(ni) == ("loses less than 1 dB (non-inferiority, one-sided): shown "
                           "(Holm p = 0.02; power 80% were they equal)")
    assert verdict(make_row(p=0.01, family="activation/exploratory")).startswith("exploratory")
    assert verdict(make_row(n=1)) == "not tested: 1 seed(s) in common"


def test_the_comparison_table_names_each_side_and_adds_the_prediction_interval():
    row = make_row(question="activation", a="sine/x", b="elu/x", a_label="sine", b_label="elu",
                   image="all", test="random effects, HKSJ", n=4, effect=math.log(0.2),
                   effect_ci_low=math.log(0.1), effect_ci_high=math.log(0.4), p=0.003,
                   p_holm=0.009, separated=True, pi_low=math.log(0.05),
                   pi_high=math.log(0.8), correlation=math.nan)
    header, rule, body = comparison_table([row], {("activation", "sine/x"): "sine (w0 30)"})
    cells = [c.strip() for c in body.strip("|").split("|")]
    assert cells[:2] == ["sine (w0 30)", "elu"]  # a named, b by its label
    assert cells[6] == "×0.2 [0.1, 0.4]"
    assert cells[7:9] == ["p = 0.003", "p = 0.009"]
    assert cells[9] == "separated; a new image: [×0.05, ×0.8]"


def _pooled(a, b, effect, p_holm, separated, setting="grad", metric="grad_mse"):
    return make_row(question="activation", family="activation/all", a=a, b=b, setting=setting,
                    metric=metric, image="all", test="random effects, HKSJ", n=3,
                    effect=effect, effect_ci_low=effect - 0.5, effect_ci_high=effect + 0.5,
                    p=p_holm / 3, p_holm=p_holm, separated=separated)


def _image(a, b, effect, separated, image, setting="grad", metric="grad_mse"):
    return make_row(question="activation", family=f"activation/{image}", a=a, b=b,
                    setting=setting, metric=metric, image=image, effect=effect,
                    p=0.001 if separated else 0.3, p_holm=0.003 if separated else 0.6,
                    separated=separated)


def test_an_answer_names_the_leader_its_closest_rival_and_the_image_votes():
    """Sine ahead of ELU (separated) and of FINER (not separated, the larger Holm p: the closest
    rival); on the images sine is ahead of FINER on 2 of 3, separated on 1; a gradient setting
    in which the sine-ELU test separates, so the original's claim (a) agrees."""
    rows = [_pooled("sine", "elu", -2.0, 0.001, True), _pooled("finer", "sine", +0.4, 0.3, False),
            _pooled("finer", "elu", -1.0, 0.01, True)]
    rows += [_image("finer", "sine", +0.5, True, "astronaut"),
             _image("finer", "sine", +0.2, False, "brick"),
             _image("finer", "sine", -0.1, False, "cell"),
             _image("sine", "elu", -2.0, True, "astronaut"),
             _image("sine", "elu", -2.0, True, "other-setting", setting="pixel", metric="psnr")]
    names = {("activation", "sine"): "sine (w0 30)"}
    [answer] = question_answers(rows, "activation", names, "held-out images")
    assert answer.question == "trained on grad: grad_mse"
    assert answer.answer == "sine (w0 30) ahead; separated from elu; not separated from finer"
    assert answer.effect == "vs finer: ×0.67 [0.41, 1.1]"  # exp(-0.4), exp(-0.9), exp(0.1)
    assert answer.images == "2 of 3 held-out images (separated on 1)"
    assert answer.original == "(a) SIREN beats ELU: agrees"
    assert len(answer.cells()) == len(HEADER)


def test_without_pooling_an_answer_reads_the_one_image_and_says_so():
    rows = [_image("sine", "elu", -2.0, True, "camera")]
    [answer] = question_answers(rows, "activation", {})
    assert answer.images == "camera only" and answer.answer == "sine ahead; separated from elu"


def test_sentences_become_a_nested_list_and_details_fold():
    assert as_list(["On camera:", "  sine ahead", "    because"]) == \
        ["- On camera:", "  - sine ahead", "    - because", ""]
    assert folded("The tests on camera", ["| a |"]) == \
        ["<details>", "<summary>The tests on camera</summary>", "", "| a |", "</details>", ""]


def test_the_weights_answers_read_dominance_and_non_inferiority_image_by_image():
    """A vector shown better than the original's best on both fields on 1 of 2 images (so the
    original's claim (c) differs), and not shown to lose less than 1 dB against pixel-only."""
    vector, original = "(0.01, 0.1, 0, 0)", "(1, 0.01, 0.001, 0)"
    dominance = [make_row(question="weights", family=f"weights/{image}", a="v", b="o",
                          a_label=vector, b_label=original, metric="psnr+grad_mse",
                          transform="none", test="intersection-union (paired one-sided t)",
                          image=image, effect=1.0, p=p, p_holm=p, separated=p < 0.05)
                 for image, p in (("brick", 0.01), ("cell", 0.2))]
    ni = [make_row(question="weights", family=f"weights/{image}", a="v", b="pixel",
                   a_label=vector, b_label="(1, 0, 0, 0)", metric="psnr", transform="none",
                   test="non-inferiority (paired one-sided t)", image=image, margin=1.0,
                   effect=-0.5, p=0.3, p_holm=0.6, power=0.4) for image in ("brick", "cell")]
    both, costs = question_answers(dominance + ni, "weights", {("weights", "v"): "v"},
                                   "held-out images")
    assert both.question == f"better than {original} on both psnr and grad_mse"
    assert (both.answer, both.images, both.original) == \
        ("shown for v", "1 of 2 held-out images", "(c) best weights: differs")
    assert costs.question == "v loses less than 1 dB of psnr against (1, 0, 0, 0)"
    assert (costs.answer, costs.images) == ("not shown", "0 of 2 held-out images")
