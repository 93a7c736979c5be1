"""A comparisons.csv row (inr.report.comparisons.ComparisonRow) in words: the one place where
the report spells an effect, its interval, a p-value, a verdict and what a test could have seen.
REPORT.md's tables and sentences (inr.report.markdown, inr.report.analysis) and the scale check
(inr.report.scale_check) all take their words from here. Pure functions.

Effects are shown on a readable scale: a ratio of MSEs (a / b, '×0.31') for a metric tested as
a log, a difference otherwise ('+1.6 dB' for PSNR). Verdicts:
    separated        Holm-adjusted p < 0.05 within the test's family
    not separated    with the effect its test could have seen
    exploratory      chosen on the seeds it is tested on: no separation claimed
    not tested       no seeds in common
A claim of the original project "agrees" (its side separated ahead), "differs" (the other side
separated ahead) or is "not separated".
"""
from __future__ import annotations

import math

from inr.report.comparisons import ComparisonRow
from inr.stats import p_text
from inr.vocabulary import higher_is_better

AHEAD, BEHIND = "ahead", "behind"
SEPARATED, NOT_SEPARATED = "separated", "not separated"
EXPLORATORY = "exploratory (chosen on the same seeds; no separation claimed)"
AGREES, DIFFERS = "agrees", "differs"


def ratio_text(x: float) -> str:
    """A ratio in two significant digits, three decimals near 1 (×1.03, not ×1), powers of ten
    beyond 10^4 (3.2e+07)."""
    if 0.9 < x < 1.1:
        return f"{x:.3f}"
    return f"{x:.2g}" if x < 10 or x >= 1e4 else f"{x:.0f}"


def holm_p_text(row: ComparisonRow) -> str:
    """'Holm p = 0.0031' (the adjusted p), or the unadjusted 'p = …' where none was adjusted."""
    if not math.isfinite(row.p_holm):
        return p_text(row.p)
    return "Holm " + p_text(row.p_holm)


def _unit(row: ComparisonRow) -> str:
    return " dB" if "psnr" in row.metric else ""


def _difference(value: float, low: float, high: float, unit: str) -> str:
    fmt = "+.2g" if abs(value) < 1 else "+.1f"
    text = f"{value:{fmt}}{unit}"
    return text + (f" [{low:{fmt}}, {high:{fmt}}]" if math.isfinite(low) else "")


def effect_text(row: ComparisonRow) -> str:
    """The effect (a against b) and its 95% interval on the readable scale; '—' for none."""
    if not math.isfinite(row.effect):
        return "—"
    if row.transform == "log":
        text = f"×{ratio_text(math.exp(row.effect))}"
        if math.isfinite(row.effect_ci_low):
            text += (f" [{ratio_text(math.exp(row.effect_ci_low))}, "
                     f"{ratio_text(math.exp(row.effect_ci_high))}]")
        return text
    return _difference(row.effect, row.effect_ci_low, row.effect_ci_high, _unit(row))


def prediction_text(row: ComparisonRow) -> str:
    """A pooled row's 95% prediction interval for a new image on the readable scale; '' where
    there is none (not pooled, or fewer than 3 images)."""
    if not math.isfinite(row.pi_low):
        return ""
    if row.transform == "log":
        return f"[×{ratio_text(math.exp(row.pi_low))}, ×{ratio_text(math.exp(row.pi_high))}]"
    return f"[{row.pi_low:+.1f}, {row.pi_high:+.1f}]{_unit(row)}"


def detectable_text(row: ComparisonRow) -> str:
    """'could have seen …': the effect a test not separated had the power to detect; ''."""
    d = row.detectable_effect
    if not math.isfinite(d):
        return ""
    if row.transform == "log":
        return (f"could have seen a ratio beyond ×{ratio_text(math.exp(d))} "
                f"(or ×{ratio_text(math.exp(-d))})")
    return f"could have seen ±{d:.2g}{_unit(row)}"


def a_ahead(row: ComparisonRow) -> bool | None:
    """Whether a's mean is the better one on the row's metric (the first of a '+' joined one);
    None where the effect is missing or zero."""
    if not math.isfinite(row.effect) or row.effect == 0:
        return None
    return (row.effect > 0) == higher_is_better(row.metric.split("+")[0])


def direction(row: ComparisonRow) -> str:
    """AHEAD when a is the better side, else BEHIND."""
    return AHEAD if a_ahead(row) else BEHIND


def ahead_label(row: ComparisonRow) -> str | None:
    """The label (a_label or b_label) of the side ahead; None for no effect."""
    ahead = a_ahead(row)
    return None if ahead is None else (row.a_label if ahead else row.b_label)


def verdict(row: ComparisonRow, with_p: bool = True) -> str:
    """What the row's test concludes, by its kind: 'separated (Holm p = …)', 'not separated
    (Holm p = …; could have seen …)', 'loses less than 1 dB: shown (…; power …)', 'better on
    both: not shown (…)', EXPLORATORY, 'not tested: …'; with_p=False leaves the p out (a table
    that prints it in a column of its own)."""
    if not math.isfinite(row.p):
        return f"not tested: {row.n} seed(s) in common"
    if row.exploratory:
        return EXPLORATORY
    p = [holm_p_text(row)] if with_p else []
    if row.kind == "noninferiority":
        power = [f"power {row.power:.0%} were they equal"] if math.isfinite(row.power) else []
        return (f"loses less than {row.margin:g} dB (non-inferiority, one-sided): "
                f"{'shown' if row.separated else 'not shown'}"
                + _parenthesis(p + power))
    if row.kind == "dominance":
        return f"better on both: {'shown' if row.separated else 'not shown'}" + _parenthesis(p)
    if row.separated:
        return SEPARATED + _parenthesis(p)
    seen = detectable_text(row)
    return NOT_SEPARATED + _parenthesis(p + ([seen] if seen else []))


def _parenthesis(parts: list[str]) -> str:
    return f" ({'; '.join(parts)})" if parts else ""


def claim_word(row: ComparisonRow, claim_is_a: bool = True) -> str:
    """The verdict a two-sided test gives a claim that its a side (claim_is_a) is better:
    AGREES, DIFFERS, 'not separated (could have seen …)', 'exploratory only', 'not tested'."""
    if not math.isfinite(row.p):
        return "not tested: no shared seeds"
    if row.exploratory:
        return "exploratory only"
    if not row.separated:
        seen = detectable_text(row)
        return NOT_SEPARATED + (f" ({seen})" if seen else "")
    return AGREES if a_ahead(row) == claim_is_a else DIFFERS


def tally(agree: int, differ: int) -> str:
    """One verdict on a claim from several tests: AGREES where some agree and none differ,
    DIFFERS the other way round, 'mixed, setting by setting' where both, else not separated."""
    if agree and differ:
        return "mixed, setting by setting"
    return AGREES if agree else DIFFERS if differ else NOT_SEPARATED


def agreement(here: ComparisonRow, there: ComparisonRow) -> str:
    """Whether a verdict `there` holds `here` (the same test in another report): 'holds' (both
    separated, the same side ahead), 'reverses' (both separated, the other side), or in words
    where one or both did not separate."""
    same = ahead_label(here) == ahead_label(there)
    if here.separated and there.separated:
        return "holds" if same else "reverses"
    if there.separated:
        return ("same direction, not separated here" if same
                else "other direction here, not separated")
    if here.separated:
        return "separated here only" + ("" if same else " (the other way round there)")
    return "separated at neither"


def side_text(row: ComparisonRow) -> str:
    """'sine ahead (separated, Holm p = 7.6e-05)': which side is ahead, and how sure."""
    ahead = ahead_label(row)
    p = f"Holm p = {row.p_holm:.2g}" if math.isfinite(row.p_holm) else "no p"
    return (f"{ahead or 'neither'} ahead "
            f"({SEPARATED if row.separated else NOT_SEPARATED}, {p})")


def images_text(ahead: int, total: int, separated: int, kind: str = "images") -> str:
    """'3 of 4 held-out images (separated on 2)'."""
    return f"{ahead} of {total} {kind} (separated on {separated})"
