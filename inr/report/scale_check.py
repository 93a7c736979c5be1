"""Whether a report's verdicts hold in another report (a scale check: the same questions at another
profile), as pure functions over the rows of the two comparisons.csv files.

Two tests match when they ask the same question at the same setting on the same metric about
the same two things: the same activations (their tuned scales may differ between profiles), or
otherwise the same configurations by name (a weight vector's runs are named alike at every
profile). Only each report's confirmatory paired t-tests take part (exploratory families,
the verdicts on the original and pooled rows are left out).

A verdict that holds says little where the test here could not have failed, so each shared test
also says whether the two effects agree in size (`size_check`: the other report's estimate
inside this one's 95% interval, and a z-test of their difference) and the power this report's
test had to separate the other report's effect (`power_here`). "None reverses" counts as support
only with that power beside it.
"""
from __future__ import annotations

import math

from scipy import stats

from inr.report.contrasts import ORIGINAL, PAIRED_T, POOLED, is_exploratory
from inr.stats import ALPHA
from inr.stats.inference import LEVEL, paired_power
from inr.vocabulary import Question, higher_is_better

SAME_ACTIVATION_QUESTIONS = (Question.ACTIVATION, Question.POISSON)


def _what(name: str, question: str) -> str:
    """What a configuration name stands for when profiles are compared: the activation (the
    first part of an activation-layout name, before its '-w0'/'-s' scale), else the name."""
    if question in SAME_ACTIVATION_QUESTIONS:
        return name.split("/", 1)[0].split("-", 1)[0]
    return name


def _confirmatory(row: dict) -> bool:
    return (row.get("test") == PAIRED_T and not is_exploratory(row["family"])
            and not row["family"].startswith(ORIGINAL) and row.get("image") != POOLED)


def _key(row: dict) -> tuple:
    pair = sorted((_what(row["a"], row["question"]), _what(row["b"], row["question"])))
    return (row["question"], row.get("setting", ""), row["metric"], row.get("image", ""), *pair)


def _ahead(row: dict) -> str | None:
    """The `_what` of the side that is ahead (the effect is a - b on the tested scale), None for
    no effect."""
    effect = float(row["effect"]) if row["effect"] not in ("", None) else math.nan
    if not math.isfinite(effect) or effect == 0:
        return None
    a_ahead = (effect > 0) == higher_is_better(row["metric"])
    return _what(row["a"] if a_ahead else row["b"], row["question"])


def _separated(row: dict) -> bool:
    return str(row["separated"]).lower() == "true"


def verdict(here: dict, there: dict) -> str:
    """How the test `here` compares with the matching test `there`: holds (both separated, the
    same side ahead), reverses (both separated, the other side), or in words where one or both
    did not separate."""
    same = _ahead(here) == _ahead(there)
    if _separated(here) and _separated(there):
        return "holds" if same else "reverses"
    if _separated(there):
        return ("same direction, not separated here" if same
                else "other direction here, not separated")
    if _separated(here):
        return "separated here only" + ("" if same else " (the other way round there)")
    return "separated at neither"


def _float(row: dict, key: str) -> float:
    value = row.get(key, "")
    return float(value) if value not in ("", None) else math.nan


def _se(row: dict) -> float:
    """The standard error of a paired t row's effect, from its interval and n."""
    n = int(float(row["n"]))
    half = (_float(row, "effect_ci_high") - _float(row, "effect_ci_low")) / 2
    return half / stats.t.ppf(0.5 + LEVEL / 2, n - 1) if n > 1 else math.nan


def _oriented(there: dict, here: dict) -> dict:
    """there's row with its effect and interval as here's a - b (its sides may be swapped)."""
    if _what(there["a"], there["question"]) == _what(here["a"], here["question"]):
        return there
    return {**there, "a": there["b"], "b": there["a"],
            "effect": str(-_float(there, "effect")),
            "effect_ci_low": str(-_float(there, "effect_ci_high")),
            "effect_ci_high": str(-_float(there, "effect_ci_low"))}


def size_check(here: dict, there: dict) -> tuple[bool, float]:
    """(whether there's effect lies in here's 95% interval, the two-sided p of a z-test that the
    two effects are equal, each with its own standard error), on the tested scale."""
    effect_here, effect_there = _float(here, "effect"), _float(there, "effect")
    inside = _float(here, "effect_ci_low") <= effect_there <= _float(here, "effect_ci_high")
    spread = math.hypot(_se(here), _se(there))
    p = float(2 * stats.norm.sf(abs(effect_here - effect_there) / spread)) \
        if spread > 0 else math.nan
    return inside, p


def power_here(here: dict, there: dict) -> float:
    """The power this report's test had to separate the other report's effect: a paired t-test
    of here's n seeds at here's Holm-strictest level (alpha over its family's size), a true
    effect of there's size, in units of here's sd of the paired differences."""
    n = int(float(here["n"]))
    sd = _se(here) * math.sqrt(n)
    size = int(float(here.get("family_size") or 1)) or 1
    if not (sd > 0 and n > 1):
        return math.nan
    return paired_power(abs(_float(there, "effect")) / sd, n, ALPHA / size)


def scale_check_lines(here_rows: list[dict], there_rows: list[dict], there: str) -> list[str]:
    """One line per confirmatory test of this report that the other report (`there`, named in
    the lines) also made: its verdict, whether the effects agree in size, the power here for
    there's effect; then a count of each verdict with that power beside it."""
    theirs = {_key(r): r for r in there_rows if _confirmatory(r)}
    lines, counts, powers, inside_count, differ = [], {}, [], 0, 0
    for row in here_rows:
        other = theirs.get(_key(row)) if _confirmatory(row) else None
        if other is None:
            continue
        word = verdict(row, other)
        counts[word] = counts.get(word, 0) + 1
        inside, p_same = size_check(row, _oriented(other, row))
        power = power_here(row, other)
        powers.append(power)
        inside_count += inside
        differ += math.isfinite(p_same) and p_same < ALPHA
        setting = f"{row['setting']}, " if row.get("setting") else ""
        pair = " vs ".join(_label(row[side], row["question"]) for side in ("a", "b"))
        lines.append(f"{row['question']}, {setting}{row['metric']}, {pair}: here {_side(row)}; "
                     f"there {_side(other)} -> {word}; size: there's estimate "
                     f"{'inside' if inside else 'outside'} the interval here (z-test of the "
                     f"difference p = {p_same:.2g}); power here for there's effect "
                     f"{power:.0%}")
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


def _label(name: str, question: str) -> str:
    """A short name: the activation, or a betas-layout run's weight vector '(p, g, l, d)'."""
    what = _what(name, question)
    parts = what.split("/")
    if len(parts) == 4 and parts[1] == "experiments":
        return "(" + ", ".join(parts[2].split("_")) + ")"
    return what


def _side(row: dict) -> str:
    ahead = _ahead(row)
    p = row.get("p_holm", "")
    p_text = f"Holm p = {float(p):.2g}" if p not in ("", None) else "no p"
    return (f"{_label(ahead, row['question']) if ahead else 'neither'} ahead "
            f"({'separated' if _separated(row) else 'not separated'}, {p_text})")
