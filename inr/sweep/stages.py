"""A sweep's stages: the screening trains the planned runs; for a loss-weights experiment, a
confirmation stage then reruns the configurations the screening chose with more seeds. Both
stages resume. The choice is a policy over the screening's run records (inr.stats ranks them),
so a resumed sweep chooses the same runs.
"""
from __future__ import annotations

from collections.abc import Callable

from inr.artefacts.rundir import row_of
from inr.stats import configurations, rank
from inr.sweep.engine import SweepOutcome
from inr.sweep.planning import PlannedRun, replicate
from inr.vocabulary import HEADLINE_METRICS, REFERENCE_WEIGHTS, Question


def confirmation_choice(rows: list[dict], top: int) -> list[str]:
    """The configurations a confirmation stage reruns: the `top` of each headline metric (by
    their mean over the seeds done) and the reference vectors (as their records say), in that
    order, each once."""
    chosen = [c.key for metric in HEADLINE_METRICS for c, _ in rank(rows, metric).entries[:top]]
    chosen += [c.key for c in configurations(rows) if c.first.get("reference")]
    return list(dict.fromkeys(chosen))


def confirmation_runs(runs: list[PlannedRun], top: int, seeds: int) -> list[PlannedRun]:
    """The runs that confirm a screened loss-weights sweep: replicates (inr.sweep.planning.
    replicate) of the `top` configurations by each headline metric and of the reference
    vectors, up to `seeds` seeds each counting those planned already."""
    screened = [r for r in runs if Question.WEIGHTS in r.questions]
    if top < 1 or not screened:
        return []
    rows = [row_of(saved) for saved in (r.folder().read() for r in screened) if saved]
    planned, extra = {r.name for r in runs}, []
    firsts = {r.name: r for r in screened if r.name == r.config.output.configuration}
    for key in confirmation_choice(rows, top):
        first = firsts[key]
        for seed in range(first.config.train.seed, first.config.train.seed + seeds):
            run = replicate(first, seed)
            if run.name not in planned:
                planned.add(run.name)
                extra.append(run)
    return extra


def run_confirmed(runs: list[PlannedRun], execute: Callable[[list[PlannedRun]], SweepOutcome],
                  confirm: int = 5, confirm_seeds: int = 3,
                  report: Callable[[str], None] = print) -> SweepOutcome:
    """Train the planned runs with `execute` (a local or Ray engine), then their confirmation
    stage (see `confirmation_runs`); one outcome for both."""
    outcome = execute(runs)
    if outcome.interrupted:
        return outcome
    extra = confirmation_runs(runs, confirm, confirm_seeds)
    if extra:
        report(f"confirmation: {len(extra)} runs, so that the top {confirm} loss-weight vectors "
               f"by {' and by '.join(HEADLINE_METRICS)} and the {len(REFERENCE_WEIGHTS)} "
               f"reference vectors have {confirm_seeds} seeds each")
        more = execute(extra)
        outcome.done += more.done
        outcome.skipped += more.skipped
        outcome.interrupted = more.interrupted
        outcome.seconds += more.seconds
    return outcome
