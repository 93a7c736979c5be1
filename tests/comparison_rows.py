"""Hand-made comparisons.csv rows for the report's tests: `make_row(**fields)` is a
ComparisonRow with every field not given set to a neutral value."""
import math

from inr.report.comparisons import ComparisonRow

NEUTRAL = dict(question="activation", family="activation", metric="grad_mse", a="a", b="b", n=4,
               seeds="1 2 3 4", paired=True, transform="log", mean_a=math.nan,
               mean_b=math.nan, effect=math.nan, effect_ci_low=math.nan,
               effect_ci_high=math.nan, p=math.nan, p_holm=math.nan, separated=False,
               family_size=1, test="paired t", setting="", correlation=math.nan,
               detectable_effect=math.nan, margin=math.nan, note="", image="cameraman",
               power=math.nan, tau2=math.nan, i2=math.nan, pi_low=math.nan, pi_high=math.nan,
               chosen_on="-", tested_on="", a_label="", b_label="")


def make_row(**fields) -> ComparisonRow:
    """A ComparisonRow: `fields` over NEUTRAL; a_label and b_label default to a and b."""
    values = {**NEUTRAL, **fields}
    values["a_label"] = fields.get("a_label", values["a"])
    values["b_label"] = fields.get("b_label", values["b"])
    return ComparisonRow(**values)
