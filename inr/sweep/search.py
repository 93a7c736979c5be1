"""Searching the loss weights: Optuna's multi-objective samplers propose weight vectors, the
engine trains them in batched ensembles, and the study keeps every trial (README, "Searching
the weights").

The space is the box `--random-weights` draws from: each of the four MSE weights (pixel,
gradient, Laplacian, dt) one of `choices` (by default 1, 0.1, 0.01, 0.001, 0), proposed as its
index in the descending list, an ordered integer, so that a model-based sampler sees that 0.1
lies between 1 and 0.01. The objectives, all minimised, are the natural logs of the judged
fields' MSEs as the run records them (inr.stats.hypervolume.OBJECTIVE_METRICS): ln(pixel_mse)
and ln(grad_mse), with ln(laplacian_mse) as a third where asked.

Strategies (`make_sampler`), each through Optuna's public API:
    tpe     TPESampler, multivariate, with constant_liar: a trial asked but not yet told counts
            as a bad one, so a batch asked together spreads out instead of repeating itself
    gp      GPSampler: a Gaussian process with log expected hypervolume improvement; trials
            asked but not yet told enter its acquisition as pending points (Optuna 5's
            q-batch qLogEHVI, chosen greedily one after another), which spreads a batch
    random  RandomSampler: the same space drawn uniformly, the baseline
Both model-based samplers draw their first 10 trials at random (their n_startup_trials).

Batches: `batch` trials are asked at once and trained together as one ensemble (the engine's
speed), then told. A vector whose weights are all zero is told as failed without a run. A
vector the same search proposed before trains nothing: its run folder is done, and the trial is
told the same values. A diverged run is told as failed; the search goes on.

Resume: the study lives in an Optuna RDB storage, by default SQLite at results/search.db. A
killed search, rerun with the same command, first finishes the trials it had asked but not
told (their runs are reused where they finished), then asks only what is missing: every trial
runs once. The samplers' random state is not stored: a resumed sampler is seeded from the
search seed and the number of trials already asked (`sampler_seed`), so it draws new trials
rather than replaying its first ones, but not those an uninterrupted search would have asked.
`storage` takes any URL Optuna accepts, so that several machines can share one study.

Every trial's run records its strategy, search seed, trial number, batch and the sampler's
seconds to propose it (OutputConfig.search, search_seed, trial, search_batch, ask_seconds), so
the report computes each search's hypervolume history from run records alone.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from inr.artefacts.tree import ANY_IMAGE, SEARCH_DB, OutputTree, search_run_name
from inr.config import RunConfig, image_label
from inr.stats.hypervolume import (DEFAULT_OBJECTIVES, OBJECTIVE_METRICS, nondominated,
                                   objective_values)
from inr.sweep.engine import SweepOutcome
from inr.sweep.planning import PlannedRun, replicate
from inr.vocabulary import MSE_TERMS, Role, Stage

STRATEGIES = ("tpe", "gp", "random")
DEFAULT_CHOICES = (1.0, 0.1, 0.01, 0.001, 0.0)  # experiments/random-weights.toml's choices
STARTUP_TRIALS = 10  # random trials before a model-based sampler models (Optuna's default)
EXPERIMENT = "search"  # the experiment a searched run records


@dataclass(frozen=True)
class SearchOptions:
    """One search: its strategy (STRATEGIES), trials (runs it trains, all-zero vectors not
    counted), seed (the sampler's; the runs train on the sweep's seed), batch (trials asked and
    trained together), objectives (keys of OBJECTIVE_METRICS), choices (each weight's values)
    and storage (an Optuna RDB URL; None: SQLite at results/search.db)."""
    strategy: str
    trials: int
    seed: int = 0
    batch: int = 8
    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES
    choices: tuple[float, ...] = DEFAULT_CHOICES
    storage: str | None = None

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown search strategy {self.strategy!r}; choose from "
                             f"{', '.join(STRATEGIES)}")
        if self.trials < 1:
            raise ValueError(f"--trials needs at least 1, got {self.trials}")
        if self.batch < 1:
            raise ValueError(f"the search batch needs at least 1 trial, got {self.batch}")
        unknown = [o for o in self.objectives if o not in OBJECTIVE_METRICS]
        if unknown or len(set(self.objectives)) < 2 or len(set(self.objectives)) != len(
                self.objectives):
            raise ValueError(f"search objectives must be two or three distinct of "
                             f"{', '.join(OBJECTIVE_METRICS)}, got {', '.join(self.objectives)}")
        choices = sorted({float(c) for c in self.choices}, reverse=True)
        if len(choices) < 2 or choices[-1] < 0 or choices[0] <= 0:
            raise ValueError(f"search choices must hold at least two non-negative weights, one "
                             f"positive, got {self.choices}")
        object.__setattr__(self, "choices", tuple(choices))


def storage_url(options: SearchOptions, tree: OutputTree) -> str:
    """The study's storage: options.storage, else SQLite at results/search.db."""
    if options.storage:
        return options.storage
    tree.results.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(tree.results / SEARCH_DB).resolve()}"


def study_name(base: RunConfig, options: SearchOptions) -> str:
    """The study's name: image, strategy, search seed, objectives and a fingerprint of what the
    runs share (all of the run config but its loss weights and labels), so that another profile,
    lr or activation starts another study."""
    shared = base.identity()
    shared["loss"] = {k: v for k, v in shared["loss"].items() if k not in MSE_TERMS}
    shared["choices"] = list(options.choices)
    digest = hashlib.sha1(json.dumps(shared, sort_keys=True).encode()).hexdigest()[:10]
    return (f"{image_label(base.data.image)}-{options.strategy}-seed{options.seed}-"
            f"{'-'.join(options.objectives)}-{digest}")


def make_sampler(strategy: str, seed: int):
    """The Optuna sampler of a strategy (module doc), seeded."""
    import optuna
    if strategy == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                          n_startup_trials=STARTUP_TRIALS)
    if strategy == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=STARTUP_TRIALS)
    return optuna.samplers.RandomSampler(seed=seed)


def sampler_seed(seed: int, asked: int) -> int:
    """The sampler's seed for a study that already holds `asked` trials: the search seed for a
    new study, else one drawn from (seed, asked). A seeded sampler started again with its first
    seed replays its first draws: a resumed random search would propose its first trials again
    (and reuse their runs) instead of new ones."""
    if asked == 0:
        return seed
    return int(np.random.SeedSequence([seed, asked]).generate_state(1)[0])


def open_study(base: RunConfig, options: SearchOptions, tree: OutputTree):
    """The search's Optuna study, created or loaded from its storage, its sampler seeded by
    `sampler_seed`."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(storage=storage_url(options, tree),
                                    study_name=study_name(base, options),
                                    sampler=make_sampler(options.strategy, options.seed),
                                    directions=["minimize"] * len(options.objectives),
                                    load_if_exists=True)
    except Exception as err:  # a bad URL or an unreachable database: one line
        raise ValueError(f"search storage {storage_url(options, tree)}: "
                         f"{str(err).splitlines()[0]}") from None
    asked = len(study.get_trials(deepcopy=False))
    if asked:
        study.sampler = make_sampler(options.strategy, sampler_seed(options.seed, asked))
    return study


def distributions(choices: Sequence[float]) -> dict:
    """The search space as Optuna distributions: each MSE weight's index in `choices`."""
    from optuna.distributions import IntDistribution
    return {term: IntDistribution(0, len(choices) - 1) for term in MSE_TERMS}


def weights_of(params: dict, choices: Sequence[float]) -> tuple[float, ...]:
    """A trial's (pixel, grad, Laplacian, dt) weights from its parameters (indices)."""
    return tuple(float(choices[int(params[term])]) for term in MSE_TERMS)


def planned_trial(base: RunConfig, tree: OutputTree, options: SearchOptions,
                  weights: Sequence[float], trial: int, batch: int,
                  ask_seconds: float) -> PlannedRun:
    """The run of one trial: the base config with the trial's weights, named and labelled as the
    search's (module doc), at the screening stage on the sweep's seed."""
    cfg = base.replace(loss=dict(zip(MSE_TERMS, weights)))
    name = search_run_name(cfg, options.strategy, options.seed)
    cfg = cfg.replace(output={
        "run_dir": str(tree.run_dir(name)), "video": None, "experiment": EXPERIMENT,
        "question": None, "name": name, "configuration": name,
        "across_images": search_run_name(cfg, options.strategy, options.seed, ANY_IMAGE),
        "weights_name": None, "arm": None, "stage": Stage.SCREENING, "role": Role.SEARCHED,
        "progress": False, "search": options.strategy, "search_seed": options.seed,
        "trial": trial, "search_batch": batch, "ask_seconds": round(ask_seconds, 4)})
    cfg.validate()
    return PlannedRun(EXPERIMENT, name, cfg, tree, [EXPERIMENT], [""])


@dataclass
class SearchOutcome:
    """What one search did now: its study name, trials told now, runs trained now and
    reused, whether it was interrupted, its seconds."""
    study: str
    told: int = 0
    trained: int = 0
    reused: int = 0
    interrupted: bool = False
    seconds: float = 0.0


def asked_record(trial) -> dict:
    """What `_ask` recorded of a trial: its batch, ask_seconds and run (absent for a vector of
    zeros), in one user attribute (one write to the storage)."""
    return trial.user_attrs.get("asked", {})


def counted_trial(trial) -> bool:
    """Whether a finished trial counts against the budget: it had a run (all-zero vectors
    have none)."""
    from optuna.trial import TrialState
    return trial.state in (TrialState.COMPLETE, TrialState.FAIL) and "run" in asked_record(trial)


@dataclass(frozen=True)
class _Asked:
    """A trial asked and not yet told: its number, weights, batch and ask seconds."""
    number: int
    weights: tuple[float, ...]
    batch: int
    ask_seconds: float


def _ask(study, space: dict, options: SearchOptions, base: RunConfig, batch: int) -> _Asked:
    """Ask one trial; its user attributes say its batch, the seconds the sampler took and, for a
    vector with a positive weight, the name of its run."""
    tick = time.time()
    trial = study.ask(space)
    seconds = time.time() - tick
    weights = weights_of(trial.params, options.choices)
    asked = {"batch": batch, "ask_seconds": seconds}
    if any(weights):
        cfg = base.replace(loss=dict(zip(MSE_TERMS, weights)))
        asked["run"] = search_run_name(cfg, options.strategy, options.seed)
    trial.set_user_attr("asked", asked)
    return _Asked(trial.number, weights, batch, seconds)


def run_search(base: RunConfig, tree: OutputTree, options: SearchOptions,
               execute: Callable[[list[PlannedRun]], SweepOutcome],
               report: Callable[[str], None] = print) -> SearchOutcome:
    """Run (or continue) one search on base's image until `options.trials` trials with a run are
    told (module doc); `execute` trains planned runs (a local or Ray engine) and skips done ones.
    """
    from optuna.trial import TrialState
    start = time.time()
    study = open_study(base, options, tree)
    outcome = SearchOutcome(study.study_name)
    space = distributions(options.choices)
    batch = max((asked_record(t).get("batch", -1) for t in study.trials), default=-1) + 1
    pending = [_Asked(t.number, weights_of(t.params, options.choices),
                      asked_record(t).get("batch", 0), asked_record(t).get("ask_seconds", 0.0))
               for t in study.trials if t.state == TrialState.RUNNING]
    if pending:
        report(f"search {study.study_name}: finishing {len(pending)} trials asked before")
    while True:
        if not pending:
            todo = options.trials - sum(map(counted_trial, study.trials))
            if todo <= 0:
                break
            pending = [_ask(study, space, options, base, batch)
                       for _ in range(min(options.batch, todo))]
            batch += 1
        if not _train_and_tell(study, pending, base, tree, options, execute, outcome):
            outcome.interrupted = True
            break
        pending = []
    outcome.seconds = time.time() - start
    return outcome


def _train_and_tell(study, asked: list[_Asked], base: RunConfig, tree: OutputTree,
                    options: SearchOptions, execute, outcome: SearchOutcome) -> bool:
    """Train the runs of asked trials as one batch and tell each its values; False when the
    training was interrupted (the trials stay asked, for a resume)."""
    from optuna.trial import TrialState
    runs, trials_of = {}, {}  # run name -> planned run, and the trials it answers
    for trial in asked:
        if not any(trial.weights):
            study.tell(trial.number, state=TrialState.FAIL)
            continue
        run = planned_trial(base, tree, options, trial.weights, trial.number, trial.batch,
                            trial.ask_seconds)
        runs.setdefault(run.name, run)  # a vector asked twice in one batch trains once
        trials_of.setdefault(run.name, []).append(trial.number)
    if not runs:
        return True
    done = execute(list(runs.values()))
    if done.interrupted:
        return False
    outcome.trained += len(done.done)
    outcome.reused += len(done.skipped)
    for name, run in runs.items():
        saved = run.folder().read() or {}
        values = objective_values(saved.get("final", {}), options.objectives)
        for number in trials_of[name]:
            if values is None:
                study.tell(number, state=TrialState.FAIL)
            else:
                study.tell(number, list(values))
            outcome.told += 1
    return True


def front_runs(base: RunConfig, tree: OutputTree, options: SearchOptions,
               seeds: int) -> list[PlannedRun]:
    """The search's final front re-measured on fresh seeds: each non-dominated trial's run
    (inr.stats.hypervolume.nondominated over the values the search saw) replicated on the
    `seeds` seeds after the sweep's seed, at the confirmation stage. A front picked on one seed
    is biased upward, as a picked vector is; these runs measure it without that bias."""
    from optuna.trial import TrialState
    study = open_study(base, options, tree)
    done = [t for t in study.trials if t.state == TrialState.COMPLETE and "run" in asked_record(t)]
    if not done or seeds < 1:
        return []
    runs = {}
    for i in nondominated([t.values for t in done]):
        trial = done[i]
        first = planned_trial(base, tree, options, weights_of(trial.params, options.choices),
                              trial.number, asked_record(trial).get("batch", 0), 0.0)
        for seed in range(base.train.seed + 1, base.train.seed + 1 + seeds):
            fresh = replicate(first, seed, Stage.CONFIRMATION)
            runs.setdefault(fresh.name, fresh)
    return list(runs.values())
