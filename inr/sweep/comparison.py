"""The weights question after a loss-weight search (experiments/weights-search.toml; README,
"Searching the weights"): the best vector each search strategy found, each adaptive balancing
scheme started from the experiment's weight settings, and those settings themselves, all
trained on fresh seeds on the images that chose nothing, for the report's paired tests
(inr.report.contrasts.weights_tests).

An experiment with a `[search]` table (`search_settings`):
    strategies = [...]   of inr.sweep.search.STRATEGIES (default: all three)
    trials = N           runs per search, or a table per strategy (random = 100, tpe = 48)
    seeds = K            searches per strategy (sampler seeds 0..K-1), paired by seed
    batch = B            trials asked and trained together
and a grid of `balance` schemes ("none" for fixed weights) times `weights` settings, whose
unbalanced members are the reference vectors (inr.vocabulary.REFERENCE_WEIGHTS).

The best vector a strategy found (`strategy_bests`): over all its searches on the development
images, the trial whose screening point (ln pixel MSE, ln gradient MSE) dominates the largest
hypervolume on its own below the reference point (inr.stats.hypervolume): the one point of the
front that gives the most of what a front is judged by. A vector searched on several
development images scores the mean over them and must be on each; a vector two searches of a
strategy both found scores their mean. The best of the strategies' vectors is the best fixed
vector (its run's arm BEST_FIXED): the report tests every balanced arm against it.

Where to test (`comparison_runs`): on the held-out images where the sweep has any (each run
with image_role held-out), else on the development images; always on the fresh seeds after the
sweep's seed (the confirmation stage), which took no part in any choice. A strategy's vector
that equals a reference vector up to scale is that reference; two strategies' equal vectors are
one arm named after both ('best-tpe+gp').
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from inr.artefacts.rundir import RunDir, row_of
from inr.artefacts.tree import OutputTree
from inr.config import RunConfig, image_label
from inr.stats.hypervolume import hypervolume, reference_point
from inr.sweep.experiments import Experiment
from inr.sweep.planning import PlannedRun, plan, replicate
from inr.sweep.search import STRATEGIES, SearchOptions, asked_record, open_study, weights_of
from inr.sweep.weights import reference_name
from inr.vocabulary import BEST_FIXED, FIELDS, MSE_TERMS, Role, Stage

SEARCH_KEYS = ("strategies", "trials", "seeds", "batch")
DEFAULT_TRIALS, DEFAULT_BATCH = 60, 8


def search_settings(table: dict, source: str, strategies: Sequence[str] | None = None,
                    trials: int | None = None, seeds: int | None = None,
                    batch: int | None = None, objectives: Sequence[str] | None = None,
                    storage: str | None = None) -> list[SearchOptions]:
    """The searches an experiment's `[search]` table asks for (module doc), each argument given
    (the command line's) in place of the table's; `source` names the table in errors. One
    SearchOptions per strategy and search seed; one-line ValueErrors."""
    unknown = sorted(set(table) - set(SEARCH_KEYS))
    if unknown:
        raise ValueError(f"{source}: unknown search key(s) {', '.join(unknown)}; expected "
                         f"{', '.join(SEARCH_KEYS)}")
    strategies = list(strategies or table.get("strategies", STRATEGIES))
    if not strategies:
        raise ValueError(f"{source}: the search needs at least one strategy")
    wanted = trials if trials is not None else table.get("trials", DEFAULT_TRIALS)
    if isinstance(wanted, dict):
        missing = [s for s in strategies if s not in wanted]
        if missing:
            raise ValueError(f"{source}: search trials name no count for {', '.join(missing)}")
        per = dict(wanted)
    else:
        per = {s: wanted for s in strategies}
    for strategy, count in per.items():
        if not isinstance(count, int) or isinstance(count, bool):
            raise ValueError(f"{source}: search trials must be whole numbers, got {count!r} "
                             f"for {strategy}")
    count = seeds if seeds is not None else table.get("seeds", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"{source}: search seeds needs a whole number >= 1, got {count!r}")
    batch = batch or table.get("batch", DEFAULT_BATCH)
    extra = {"objectives": tuple(objectives)} if objectives else {}
    return [SearchOptions(s, per[s], seed=k, batch=batch, storage=storage, **extra)
            for s in dict.fromkeys(strategies) for k in range(count)]


def single_hypervolumes(base: RunConfig, tree: OutputTree, options: SearchOptions
                        ) -> dict[tuple[float, ...], float]:
    """{a completed trial's weights: the hypervolume its screening point dominates alone}, for
    one search (the first of a vector asked twice)."""
    from optuna.trial import TrialState
    study = open_study(base, options, tree)
    out = {}
    for trial in study.trials:
        if trial.state != TrialState.COMPLETE or "run" not in asked_record(trial):
            continue
        saved = RunDir(tree.run_dir(asked_record(trial)["run"])).read()
        if saved is None:
            continue
        row = row_of(saved)
        ref = reference_point({f: float(row[f"variance_{f}"]) for f in FIELDS},
                              options.objectives)
        out.setdefault(weights_of(trial.params, options.choices),
                       hypervolume([trial.values], ref))
    return out


def strategy_bests(bases: Iterable[RunConfig], tree: OutputTree,
                   searches: Sequence[SearchOptions]) -> dict[str, tuple[tuple[float, ...], float]]:
    """{strategy: (the best vector it found, its score)} (module doc), strategies in order."""
    bases = list(bases)
    scores: dict[str, dict[tuple, dict[str, list[float]]]] = {}
    for base in bases:
        image = image_label(base.data.image)
        for options in searches:
            own = scores.setdefault(options.strategy, {})
            for weights, value in single_hypervolumes(base, tree, options).items():
                own.setdefault(weights, {}).setdefault(image, []).append(value)
    images = {image_label(b.data.image) for b in bases}
    out = {}
    for strategy, vectors in scores.items():
        scored = {w: float(np.mean([np.mean(v) for v in by_image.values()]))
                  for w, by_image in vectors.items() if set(by_image) == images}
        if scored:
            best = max(scored, key=scored.get)  # the first of equals, in trial order
            out[strategy] = (best, scored[best])
    return out


def chosen_settings(bests: dict[str, tuple[tuple[float, ...], float]]) -> list[dict]:
    """The strategies' best vectors as grid weight settings, each vector once, named
    'best-<strategies>'; the best of them carries arm BEST_FIXED; a vector equal to a reference
    up to scale is left out (the reference is trained anyway)."""
    by_vector: dict[tuple, list[str]] = {}
    for strategy, (weights, _) in bests.items():
        if reference_name(weights) is None:
            by_vector.setdefault(weights, []).append(strategy)
    if not by_vector:
        return []
    top = max(by_vector, key=lambda w: max(bests[s][1] for s in by_vector[w]))
    return [{"name": "best-" + "+".join(strategies), **dict(zip(MSE_TERMS, weights)),
             **({"arm": BEST_FIXED} if weights == top else {})}
            for weights, strategies in by_vector.items()]


def comparison_runs(exp: Experiment, bases: Iterable[RunConfig], tree: OutputTree,
                    bests: dict[str, tuple[tuple[float, ...], float]], seeds: int,
                    seed: int) -> list[PlannedRun]:
    """The comparison's runs (module doc) on each of `bases` (one per image to test on, its
    output.image_role set), on seeds seed + 1 .. seed + seeds at the confirmation stage: the
    experiment's balance x weights grid, and the strategies' best vectors without balancing."""
    if seeds < 1:
        return []
    settings = chosen_settings(bests)
    unbalanced = {k: v for k, v in exp.grid.items() if k not in ("weights", "balance")}
    fixed = dataclasses.replace(exp, grid={**unbalanced, "weights": [
        {k: v for k, v in s.items() if k != "arm"} for s in settings]}, search=None)
    balanced = dataclasses.replace(exp, search=None)
    arm = {s["name"]: s.get("arm") for s in settings}
    runs = []
    for base in bases:
        firsts = plan([balanced] + ([fixed] if settings else []), base, tree.root, seed=seed,
                      videos=False)
        for first in firsts:
            name = first.config.output.weights_name
            if name in arm:  # a strategy's best vector: chosen by the search, not named
                first = dataclasses.replace(first, config=first.config.replace(
                    output={"role": Role.SEARCHED, "arm": arm[name]}))
            runs += [replicate(first, s, Stage.CONFIRMATION)
                     for s in range(seed + 1, seed + 1 + seeds)]
    return runs


def describe(bests: dict[str, tuple[tuple[float, ...], float]]) -> str:
    """One line: each strategy's best vector and its score."""
    return "; ".join(f"{s}: ({', '.join(f'{w:g}' for w in weights)}) alone dominates "
                     f"{score:.3g}" for s, (weights, score) in bests.items()) or "none"

