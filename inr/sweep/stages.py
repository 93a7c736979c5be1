"""A sweep's stages. The screening trains the planned grid; the confirmation then trains the
configurations the screening chose, on S fresh seeds that took no part in choosing them, and the
configurations named in advance (reference vectors, the original's claims) on the same seeds, so
that every test that speaks for a chosen configuration is free of the winner's curse. Both
stages resume. The choice is a policy over the screening's run records, so a resumed sweep
chooses the same runs; each run's record says its stage and role (inr.vocabulary.Stage, Role).

What the screening chooses, per question:
    weights              the `top` vectors by each headline metric (inr.vocabulary), where
                         random vectors were drawn (vectors an experiment file names: none)
    activation, pixel_loss, learning_rate
                         in each arm (an activation at a weight setting, a pixel loss, a
                         schedule) the member with the best mean selection score
                         (inr.stats.selection): its tuned scale, weight or lr
and every configuration named in advance (inr.stats.selection.named_in_advance). A sweep over
several images chooses once, on all of them together, and confirms the same configurations on
every image (`confirmation_choice`); held-out images take no part in the choice and are trained
only in the confirmation stage, which then trains on them alone (`confirmation_runs`). A
question whose experiment tunes nothing makes no choice and has no confirmation stage: its
screening seeds are matched and all count.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from inr.artefacts.rundir import by_image, row_of
from inr.config import image_label
from inr.stats import configurations
from inr.stats.inference import on_tested_scale, transform_of
from inr.stats.selection import arm_of, mean_selection_score, named_in_advance
from inr.stats.summary import Configuration
from inr.sweep.engine import SweepOutcome
from inr.sweep.planning import PlannedRun, replicate, selection_row
from inr.vocabulary import (HEADLINE_METRICS, ImageRole, Question, Role, Stage,
                            higher_is_better)

# the defaults of a sweep's confirmation (README, "Power"): the top 2 vectors by each headline
# metric, and every chosen or reference configuration on 5 fresh seeds
CONFIRM_TOP, CONFIRM_SEEDS = 2, 5


def _pooled_score(config: Configuration, metric: str) -> float:
    """A configuration's screening mean of `metric` on the tested scale (the log of an error,
    PSNR as it is), the score that pools over images: a mean of logs is unmoved by how large an
    image's errors are, so no image outweighs the others."""
    summary, transform = config.summary(metric), transform_of(metric)
    if summary.n == 0 or not math.isfinite(summary.mean) or (transform == "log"
                                                              and summary.mean <= 0):
        return math.nan
    return float(on_tested_scale([summary.mean], transform)[0])


def confirmation_choice(rows: list[dict], question: str, top: int) -> list[str]:
    """The configurations of one question's screening rows that its confirmation trains: the
    chosen ones (module doc) and those named in advance, in that order, each once; [] for a
    question that chooses nothing.

    Rows of several images (their `image` column) choose together: a configuration is the same
    configuration on every image (its `across_images` column), its score is the mean over
    the images of its score on each (the log of the headline metric for the weights question,
    the mean selection score for an arm), and the configurations chosen are trained on every
    image. So every image confirms the same vectors, scales, weights and lrs, and the report can
    say on how many images one configuration holds. With one image this is that image's own
    ranking."""
    on_image: dict[str, dict[str, Configuration]] = {
        image: {c.first.get("across_images") or c.key: c for c in configurations(own)}
        for image, own in by_image(rows).items()}
    common = [k for k in next(iter(on_image.values()), {})
              if all(k in configs for configs in on_image.values())]

    def pooled(score) -> dict[str, float]:
        return {k: float(np.mean([score(configs[k]) for configs in on_image.values()]))
                for k in common}

    if question == Question.WEIGHTS and any(r.get("role") not in (Role.REFERENCE, Role.TUNED)
                                            for r in rows):  # random draws (or older records)
        chosen = []
        for metric in HEADLINE_METRICS:
            scores = {k: s for k, s in pooled(lambda c: _pooled_score(c, metric)).items()
                      if math.isfinite(s)}
            chosen += sorted(scores, key=scores.get, reverse=higher_is_better(metric))[:top]
    elif any(r["arm"] for r in rows):  # the experiment tuned something (planning.tuned_axis)
        scores = pooled(mean_selection_score)
        arms: dict[str, list[str]] = {}
        for k in common:
            first = next(iter(on_image.values()))[k].first
            arms.setdefault(arm_of(first, question) or k, []).append(k)
        chosen = [min(members, key=scores.get) for members in arms.values()]
        chosen = [k for k in chosen if math.isfinite(scores[k])]
    else:  # every configuration was named in advance, or nothing was tuned: no choice
        return []
    keys = [configs[k].key for k in chosen for configs in on_image.values()]
    keys += [c.key for configs in on_image.values() for c in configs.values()
             if named_in_advance(c.first, question)]
    return list(dict.fromkeys(keys))


def confirmation_runs(runs: list[PlannedRun], top: int, seeds: int,
                      held_out: list[PlannedRun] = ()) -> list[PlannedRun]:
    """The confirmation stage of the screened `runs`: for each question, replicates
    (inr.sweep.planning.replicate) of its chosen and reference configurations, chosen on all
    images together (`confirmation_choice`), on `seeds` fresh seeds, those after the largest
    screening seed of the sweep.

    held_out: the same experiments planned on held-out images, which took no part in the
    choice. Then the confirmation trains on them alone: each chosen or reference configuration
    on the fresh seeds, and a held-out run none of whose questions chose anything as planned
    (nothing was chosen, so all its seeds count). The development images keep their screening
    only: they chose, and the tests that speak for the choice are on images that did not."""
    if not runs:
        return []
    fresh = max(r.config.train.seed for r in runs) + 1
    records = {r.name: r.folder().read() for r in runs}
    rows = {name: row_of(saved) for name, saved in records.items() if saved}
    firsts = {r.name: r for r in runs if r.name == r.config.output.configuration}
    planned, extra, chosen, choosing = {r.name for r in runs}, [], [], set()
    for question in dict.fromkeys(q for r in runs for q in r.questions if q):
        asked = [rows[r.name] for r in runs if question in r.questions and r.name in rows]
        picked = confirmation_choice(asked, question, top)
        chosen += picked
        if picked:
            choosing.add(question)

    def add(run: PlannedRun) -> None:
        if run.name not in planned:
            planned.add(run.name)
            extra.append(run)

    held_firsts: dict[str, list[PlannedRun]] = {}
    for run in held_out:
        if run.name == run.config.output.configuration:
            held_firsts.setdefault(run.config.output.across_images, []).append(run)
    for key in dict.fromkeys(chosen) if seeds > 0 and not held_out else []:
        for seed in range(fresh, fresh + seeds):
            add(replicate(firsts[key], seed, Stage.CONFIRMATION))
    chosen_anywhere = dict.fromkeys(firsts[k].config.output.across_images for k in chosen)
    for key in chosen_anywhere if seeds > 0 else []:
        for first in held_firsts.get(key, []):
            for seed in range(fresh, fresh + seeds):
                add(replicate(first, seed, Stage.CONFIRMATION))
    for run in held_out:
        if not choosing & set(run.questions):
            add(run)
    return extra


def confirmation_outlook(runs: list[PlannedRun], top: int, seeds: int,
                         held_out: list[PlannedRun] = ()) -> dict:
    """What a dry run knows of the confirmation before any screening: {"named": the
    configurations named in advance in questions that choose (each is confirmed), "arms": the
    tuned arms (one member each will be chosen), "drawn": the most vectors the weights question
    can choose (top by each headline metric), "runs": the confirmation runs known now,
    "more": the most it can add}. Per image that confirms (the held-out ones where given),
    each on `seeds` fresh seeds; a question that chooses nothing adds nothing."""
    firsts = [r for r in runs if r.name == r.config.output.configuration]
    row = lambda run: selection_row(run.config)  # noqa: E731
    named, arms, drawn = set(), {}, 0
    for question in dict.fromkeys(q for r in runs for q in r.questions if q):
        own = [r for r in firsts if question in r.questions]
        roles = {r.config.output.role for r in own}
        if not roles & {Role.DRAWN, Role.TUNED}:
            continue
        named |= {r.config.output.across_images for r in own
                  if named_in_advance(row(r), question)}
        for r in own:
            if arm_of(row(r), question):
                arms.setdefault((question, arm_of(row(r), question)), set()).add(
                    r.config.output.across_images)
        if Role.DRAWN in roles:
            drawn = top * len(HEADLINE_METRICS)
    arms = {frozenset(members) for members in arms.values()}  # two questions, one arm
    images = len({image_label(r.config.data.image) for r in (held_out or runs)})
    per = images * max(seeds, 0)
    return {"named": len(named), "arms": len(arms), "drawn": drawn,
            "runs": len(named) * per, "more": (len(arms) + drawn) * per}


def run_confirmed(runs: list[PlannedRun], execute: Callable[[list[PlannedRun]], SweepOutcome],
                  confirm: int = CONFIRM_TOP, confirm_seeds: int = CONFIRM_SEEDS,
                  report: Callable[[str], None] = print,
                  held_out: list[PlannedRun] = ()) -> SweepOutcome:
    """Train the planned runs with `execute` (a local or Ray engine), then their confirmation
    stage, on the development images and on the held-out ones (see `confirmation_runs`;
    confirm_seeds 0: none); one outcome for both."""
    outcome = execute(runs)
    if outcome.interrupted:
        return outcome
    extra = confirmation_runs(runs, confirm, confirm_seeds, held_out)
    if extra:
        chosen = len({r.config.output.configuration for r in extra})
        held = sum(r.config.output.image_role == ImageRole.HELD_OUT for r in extra)
        report(f"confirmation: {len(extra)} runs ({held} on held-out images), {chosen} "
               f"configurations chosen by the screening or named in advance, on "
               f"{confirm_seeds} fresh seeds each, or planned where nothing was chosen")
        more = execute(extra)
        outcome.done += more.done
        outcome.skipped += more.skipped
        outcome.interrupted = more.interrupted
        outcome.seconds += more.seconds
    return outcome
