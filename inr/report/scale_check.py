"""Whether a report's verdicts hold in another report (a scale check: the same questions at another
profile), as pure functions over the rows of the two comparisons.csv files.

Two tests match when they ask the same question at the same setting on the same metric about
the same two things: the same activations (their tuned scales may differ between profiles), or
otherwise the same configurations by name (a weight vector's runs are named alike at every
profile). Only each report's confirmatory paired t-tests take part (exploratory families,
the verdicts on the original and pooled rows are left out).
"""
from __future__ import annotations

import math

from inr.report.contrasts import ORIGINAL, PAIRED_T, POOLED, is_exploratory
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


def scale_check_lines(here_rows: list[dict], there_rows: list[dict], there: str) -> list[str]:
    """One line per confirmatory test of this report that the other report (`there`, named in
    the lines) also made, with its verdict; then a count of each verdict."""
    theirs = {_key(r): r for r in there_rows if _confirmatory(r)}
    lines, counts = [], {}
    for row in here_rows:
        other = theirs.get(_key(row)) if _confirmatory(row) else None
        if other is None:
            continue
        word = verdict(row, other)
        counts[word] = counts.get(word, 0) + 1
        setting = f"{row['setting']}, " if row.get("setting") else ""
        pair = " vs ".join(_label(row[side], row["question"]) for side in ("a", "b"))
        lines.append(f"{row['question']}, {setting}{row['metric']}, {pair}: here {_side(row)}; "
                     f"there {_side(other)} -> {word}")
    if not lines:
        return [f"No test of this report was also made in {there}."]
    summary = ", ".join(f"{word} {n}" for word, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return [f"{len(lines)} tests also made there ({there}): {summary}.", *lines]


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
