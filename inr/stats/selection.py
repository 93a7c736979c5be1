"""How a configuration is chosen from screening runs: by the fields its loss trains.

A setting that trains several fields (a pixel term and derivative terms) is judged on each of
them, never on a field its loss does not weigh. To choose one configuration of a tuned group
(an activation's scale, a pixel-loss arm's weight, a schedule's learning rate) the screening
scores each run by `selection_score`: the mean over its trained fields of ln(MSE / target
variance), the log of each field's relative error, so that no field counts more for being
larger. Lower is better.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

from inr.stats.summary import Configuration
from inr.vocabulary import (FIELD_OF_TERM, MSE_TERMS, ORIGINAL_LR_CLAIMS, PERCEPTUAL_TERMS,
                            Question, Stage, Status, mse_metric)


BARELY = 0.01  # a term with less than this share of the effective MSE weight is not judged


def effective_shares(row: dict) -> dict[str, float]:
    """Each MSE term's share of the row's total effective weight β·σ² (the weight on the error
    relative to its target's scale); {} where the row has none recorded."""
    weights = {t: row.get(f"effective_{t}") for t in MSE_TERMS}
    if any(w is None or not math.isfinite(w) for w in weights.values()):
        return {}
    total = sum(weights.values())
    return {t: w / total for t, w in weights.items()} if total > 0 else {}


def balanced(row: dict) -> bool:
    """Whether a row's run balanced its MSE terms' weights while training (loss.balance)."""
    return (row.get("balance") or "none") != "none"


def trained_terms(row: dict) -> list[str]:
    """The MSE terms (inr.vocabulary.MSE_TERMS) whose field the row's loss trains and is judged
    on: a positive weight carrying at least BARELY of the effective weight (all positive
    weights where none is recorded), and 'pixel' wherever a perceptual term trains the value.
    A balanced run (loss.balance, inr.training.balance) trains every MSE term, whatever its
    starting weights."""
    if balanced(row):
        return list(MSE_TERMS)
    perceptual = any((row.get(f"beta_{t}") or 0) > 0 for t in PERCEPTUAL_TERMS)
    shares = effective_shares(row)
    return [t for t in MSE_TERMS
            if ((row.get(f"beta_{t}") or 0) > 0 and shares.get(t, 1.0) >= BARELY)
            or (t == "pixel" and perceptual)]


def dominant_term(row: dict, share: float = 0.9) -> tuple[str, float] | None:
    """(term, its share) where one MSE term carries at least `share` of the effective weight
    of a loss that trains more than one field; else None."""
    shares = effective_shares(row)
    positive = [t for t in MSE_TERMS if (row.get(f"beta_{t}") or 0) > 0]
    if len(positive) < 2 or not shares:
        return None
    term = max(shares, key=shares.get)
    return (term, shares[term]) if shares[term] >= share else None


def selection_score(row: dict) -> float:
    """Mean over the row's trained fields of ln(field MSE / field target variance); nan where a
    value is missing or not positive."""
    logs = []
    for term in trained_terms(row):
        mse, variance = row.get(mse_metric(term)), row.get(f"variance_{FIELD_OF_TERM[term]}")
        if mse is None or variance is None or not (mse > 0 and variance > 0) or \
                not math.isfinite(mse):
            return math.nan
        logs.append(math.log(mse / variance))
    return sum(logs) / len(logs) if logs else math.nan


def named_in_advance(row: dict, question: str) -> bool:
    """Whether a row's configuration was named before any run in `question` (so no screening
    chose it): a reference vector in the weights question, a claimed (schedule, lr) of the
    original in the learning-rate question."""
    if question == Question.WEIGHTS:
        return bool(row.get("reference"))
    if question == Question.LEARNING_RATE:
        return any(row.get("scheduler") == kind and lr is not None and row.get("lr") is not None
                   and math.isclose(row["lr"], lr, rel_tol=1e-6)
                   for _, kind, lr in ORIGINAL_LR_CLAIMS)
    return False


def arm_of(row: dict, question: str) -> str:
    """The arm a row's configuration belongs to in `question`, the group within which the
    screening chooses one member: the schedule (learning_rate), the activation at its weight
    setting (activation), the pixel loss (pixel_loss: the record's arm, else its setting);
    '' where the question has no arms (weights). Read from the row's settings, not only from
    its `arm` label, so that a run another experiment planned first joins its arm too."""
    if question == Question.LEARNING_RATE:
        return row.get("scheduler") or ""
    if question in (Question.ACTIVATION, Question.POISSON):
        return f"{row.get('weights') or ''}/{row.get('activation') or ''}"
    if question == Question.PIXEL_LOSS:
        return row.get("arm") or row.get("weights") or ""
    return ""


def mean_selection_score(config: Configuration) -> float:
    """A configuration's mean selection score over its completed screening runs (a
    confirmation run never takes part in a choice); inf where none has a finite score."""
    scores = [selection_score(r) for r in config.rows if r["status"] == Status.COMPLETED
              and r.get("stage") != Stage.CONFIRMATION]
    scores = [s for s in scores if math.isfinite(s)]
    return sum(scores) / len(scores) if scores else math.inf


def best_per_arm(configs: Iterable[Configuration], question: str) -> dict[str, Configuration]:
    """{arm (`arm_of`; a configuration without one is its own): the member with the lowest
    mean selection score}, arms in first-seen order: what the screening chooses in each arm,
    for the sweep's confirmation stage and for the report alike."""
    arms: dict[str, list[Configuration]] = {}
    for c in configs:
        arms.setdefault(arm_of(c.first, question) or c.key, []).append(c)
    return {arm: min(members, key=mean_selection_score) for arm, members in arms.items()}


TUNED_COLUMNS = ("scale", "lr", "beta_pixel", "beta_grad", "beta_laplacian", "beta_dt",
                 "beta_ssim", "beta_ms_ssim")  # what an arm's members may differ in


def tuned_column(configs: Iterable[Configuration]) -> str | None:
    """The row column (TUNED_COLUMNS) in which an arm's members differ: the grid the screening
    chose from; None where they differ in none or in several."""
    configs = list(configs)

    def value(config, column):  # nan (an activation without a scale) counts as no value
        v = config.first.get(column)
        return None if isinstance(v, float) and math.isnan(v) else v

    varying = [col for col in TUNED_COLUMNS
               if len({value(c, col) for c in configs}) > 1]
    return varying[0] if len(varying) == 1 else None


def edge_of_grid(grid: Iterable[float], chosen: float) -> str | None:
    """'lowest' or 'highest' where the chosen value is at that end of a grid of at least two
    values (the optimum may lie beyond it), None where it is interior."""
    values = sorted(set(grid))
    if len(values) < 2:
        return None
    if chosen == values[0]:
        return "lowest"
    if chosen == values[-1]:
        return "highest"
    return None
