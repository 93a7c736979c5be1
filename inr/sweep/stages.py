"""A sweep's stages. The screening trains the planned grid; the confirmation then trains the
configurations the screening chose, on S fresh seeds that took no part in choosing them, and the
configurations named in advance (reference vectors, the original's claims) on the same seeds, so
that every test that speaks for a chosen configuration is free of the winner's curse. Both
stages resume. The choice is a policy over the screening's run records, so a resumed sweep
chooses the same runs; each run's record says its stage and role (inr.vocabulary.Stage, Role).

What the screening chooses, per question:
    weights              the `top` vectors by each headline metric (inr.vocabulary)
    activation, pixel_loss, learning_rate
                         in each arm (an activation at a weight setting, a pixel loss, a
                         schedule) the member with the best mean selection score
                         (inr.stats.selection): its tuned scale, weight or lr
and every configuration named in advance (inr.stats.selection.named_in_advance). A question whose experiment tunes nothing
makes no choice and has no confirmation stage: its screening seeds are matched and all count.
"""
from __future__ import annotations

import math
from collections.abc import Callable

from inr.artefacts.rundir import row_of
from inr.stats import configurations, rank
from inr.stats.selection import best_per_arm, mean_selection_score, named_in_advance
from inr.sweep.engine import SweepOutcome
from inr.sweep.planning import PlannedRun, replicate
from inr.vocabulary import HEADLINE_METRICS, Question, Stage

# the defaults of a sweep's confirmation (README, "Power"): the top 2 vectors by each headline
# metric, and every chosen or reference configuration on 5 fresh seeds
CONFIRM_TOP, CONFIRM_SEEDS = 2, 5


def best_of_arms(rows: list[dict], question: str) -> list[str]:
    """The configuration with the lowest mean selection score in each arm of `question`
    (inr.stats.selection.best_per_arm), in first-seen order of the arms; an arm without a
    finite score chooses nothing."""
    best = best_per_arm(configurations(rows), question).values()
    return [c.key for c in best if math.isfinite(mean_selection_score(c))]


def confirmation_choice(rows: list[dict], question: str, top: int) -> list[str]:
    """The configurations of one question's screening rows that its confirmation trains: the
    chosen ones (module doc) and those named in advance, in that order, each once; [] for a
    question that chooses nothing."""
    if question == Question.WEIGHTS:
        chosen = [c.key for metric in HEADLINE_METRICS for c, _ in rank(rows, metric).entries[:top]]
    elif any(r["arm"] for r in rows):  # the experiment tuned something (planning.tuned_axis)
        chosen = best_of_arms(rows, question)
    else:
        return []
    chosen += [c.key for c in configurations(rows) if named_in_advance(c.first, question)]
    return list(dict.fromkeys(chosen))


def confirmation_runs(runs: list[PlannedRun], top: int, seeds: int) -> list[PlannedRun]:
    """The confirmation stage of the screened `runs`: for each question and each image,
    replicates (inr.sweep.planning.replicate) of its chosen and reference configurations on
    `seeds` fresh seeds, those after the largest screening seed of the sweep."""
    if seeds < 1 or not runs:
        return []
    fresh = max(r.config.train.seed for r in runs) + 1
    records = {r.name: r.folder().read() for r in runs}
    rows = {name: row_of(saved) for name, saved in records.items() if saved}
    firsts = {r.name: r for r in runs if r.name == r.config.output.configuration}
    planned, extra, chosen = {r.name for r in runs}, [], []
    images = list(dict.fromkeys(r.config.data.image for r in runs))
    for question in dict.fromkeys(q for r in runs for q in r.questions if q):
        for image in images:  # each image chooses for itself
            asked = [rows[r.name] for r in runs if question in r.questions
                     and r.config.data.image == image and r.name in rows]
            chosen += confirmation_choice(asked, question, top)
    for key in dict.fromkeys(chosen):
        for seed in range(fresh, fresh + seeds):
            run = replicate(firsts[key], seed, Stage.CONFIRMATION)
            if run.name not in planned:
                planned.add(run.name)
                extra.append(run)
    return extra


def run_confirmed(runs: list[PlannedRun], execute: Callable[[list[PlannedRun]], SweepOutcome],
                  confirm: int = CONFIRM_TOP, confirm_seeds: int = CONFIRM_SEEDS,
                  report: Callable[[str], None] = print) -> SweepOutcome:
    """Train the planned runs with `execute` (a local or Ray engine), then their confirmation
    stage (see `confirmation_runs`; confirm_seeds 0: none); one outcome for both."""
    outcome = execute(runs)
    if outcome.interrupted:
        return outcome
    extra = confirmation_runs(runs, confirm, confirm_seeds)
    if extra:
        chosen = len({r.config.output.configuration for r in extra})
        report(f"confirmation: {len(extra)} runs, {chosen} configurations chosen by the "
               f"screening or named in advance, on {confirm_seeds} fresh seeds each")
        more = execute(extra)
        outcome.done += more.done
        outcome.skipped += more.skipped
        outcome.interrupted = more.interrupted
        outcome.seconds += more.seconds
    return outcome
