"""Whether a report's verdicts hold in another report (a scale check: the same questions at another
profile), as pure functions over the rows of the two comparisons.csv files.

Two tests match when they ask the same question at the same setting on the same metric about
the same two things, by the labels comparisons.csv gives its sides (inr.report.contrasts.
cross_key: an activation whatever its tuned scale, which may differ between profiles; a
schedule; a pixel-loss arm; a weight vector). Only each report's confirmatory paired t-tests
take part (exploratory families, the verdicts on the original and pooled rows are left out).

A verdict that holds says little where the test here could not have failed, so each shared test
also says whether the two effects agree in size (`size_check`: the other report's estimate
inside this one's 95% interval, and a z-test of their difference) and the power this report's
test had to separate the other report's effect (`power_here`). "None reverses" counts as support
only with that power beside it.
"""
from __future__ import annotations

import math

from scipy import stats

import inr.report.wording as wording
from inr.report.comparisons import ComparisonRow
from inr.stats import ALPHA
from inr.stats.inference import paired_power


def _key(row: ComparisonRow) -> tuple:
    """What a test asks, the same at every profile: question, setting, metric, image and the
    two sides' labels (what each stands for: an activation, whatever its tuned scale; a
    schedule; a pixel-loss arm; a weight vector)."""
    return (row.question, row.setting, row.metric, row.image, *sorted((row.a_label, row.b_label)))


def _oriented_effect(there: ComparisonRow, here: ComparisonRow) -> float:
    """there's effect as here's a - b (its sides may be swapped)."""
    return there.effect if there.a_label == here.a_label else -there.effect


def size_check(here: ComparisonRow, there: ComparisonRow) -> tuple[bool, float]:
    """(whether there's effect lies in here's 95% interval, the two-sided p of a z-test that the
    two effects are equal, each with its own standard error), on the tested scale; there's
    sides are matched to here's."""
    effect_there = _oriented_effect(there, here)
    inside = here.effect_ci_low <= effect_there <= here.effect_ci_high
    spread = math.hypot(here.se, there.se)
    p = float(2 * stats.norm.sf(abs(here.effect - effect_there) / spread)) \
        if spread > 0 else math.nan
    return inside, p


def power_here(here: ComparisonRow, there: ComparisonRow) -> float:
    """The power this report's test had to separate the other report's effect: a paired t-test
    of here's n seeds at here's Holm-strictest level (alpha over its family's size), a true
    effect of there's size, in units of here's sd of the paired differences."""
    sd = here.se * math.sqrt(here.n)
    if not (sd > 0 and here.n > 1):
        return math.nan
    return paired_power(abs(there.effect) / sd, here.n, ALPHA / max(here.family_size, 1))


def scale_check_lines(here_rows: list[ComparisonRow], there_rows: list[ComparisonRow],
                      there: str) -> list[str]:
    """One line per confirmatory test of this report that the other report (`there`, named in
    the lines) also made: its verdict, whether the effects agree in size, the power here for
    there's effect; then a count of each verdict with that power beside it."""
    theirs = {_key(r): r for r in there_rows if r.confirmatory_t}
    lines, counts, powers, inside_count, differ = [], {}, [], 0, 0
    for row in here_rows:
        other = theirs.get(_key(row)) if row.confirmatory_t else None
        if other is None:
            continue
        word = wording.agreement(row, other)
        counts[word] = counts.get(word, 0) + 1
        inside, p_same = size_check(row, other)
        power = power_here(row, other)
        powers.append(power)
        inside_count += inside
        differ += math.isfinite(p_same) and p_same < ALPHA
        setting = f"{row.setting}, " if row.setting else ""
        lines.append(f"{row.question}, {setting}{row.metric}, {row.a_label} vs {row.b_label}: "
                     f"here {wording.side_text(row)}; there {wording.side_text(other)} -> "
                     f"{word}; size: there's estimate {'inside' if inside else 'outside'} the "
                     f"interval here (z-test of the difference p = {p_same:.2g}); power here "
                     f"for there's effect {power:.0%}")
    if not lines:
        return [f"No test of this report was also made in {there}."]
    summary = ", ".join(f"{word} {n}" for word, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    finite = sorted(p for p in powers if math.isfinite(p))
    median = finite[len(finite) // 2] if finite else math.nan
    strong = sum(p >= 0.8 for p in finite)
    return [f"{len(lines)} tests also made there ({there}): {summary}. Power here to separate "
            f"there's effect: median {median:.0%}, at least 80% in {strong} of {len(lines)}; a "
            "verdict that holds or does not reverse speaks only where that power is high. "
            f"Size: there's estimate inside the 95% interval here in {inside_count} of "
            f"{len(lines)}; the two effects differ (z-test, p < 0.05, unadjusted) in {differ}.",
            *lines]
