"""Whether another report's verdicts hold here (inr.report.scale_check), on hand-made
comparisons.csv rows: the direction comes from the effect's sign and the metric's direction, an
activation matches across its tuned scales, and each verdict word follows from the two tests."""
from inr.report.scale_check import scale_check_lines, verdict


def row(a, b, effect, separated, metric="grad_mse", question="activation", setting="grad",
        family="activation", test="paired t", p_holm=0.01):
    return {"question": question, "family": family, "metric": metric, "a": a, "b": b,
            "effect": str(effect), "separated": "true" if separated else "false",
            "p_holm": str(p_holm), "test": test, "setting": setting, "image": "cameraman"}


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
    assert lines[0] == "1 tests also made there (quick): reverses 1."
    assert lines[1].startswith("activation, grad, grad_mse, finer vs sine: here finer ahead")
    assert lines[1].endswith("-> reverses")
    assert scale_check_lines(here[1:], there, "quick") == \
        ["No test of this report was also made in quick."]
