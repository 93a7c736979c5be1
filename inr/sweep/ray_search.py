"""The loss-weight search on a Ray cluster with Ray Tune: `sweep.py --search ... --backend ray`.

The same search as inr.sweep.search (its space, samplers, objectives, run names and labels), run
by Tune's OptunaSearch with the objectives as Tune metrics, all minimised: `options.trials` Tune
trials (`num_samples`), at most `options.batch` of them at once (ConcurrencyLimiter). Where the
local search trains a batch of trials as one ensemble and then tells them together, here every
Tune trial trains the one run of its weight vector with train_ensemble, and the trials of a
batch run in parallel on the cluster; a trial is told as soon as its run finishes, and the next
is asked then, with the trials still running as pending ones (TPE's constant liar, GP's q-batch).
A run already done (RunDir.state) is not trained again: its trial reads the record. Two trials
that propose the same vector at once train it once: a lock per run in the experiment's folder
makes the second wait and read the first's record.

Trials and labels: the searcher, `WeightSearch`, is an OptunaSearch constructed with the space
of `distributions`, the objectives as metrics, mode min and `make_sampler`'s sampler; it also
gives each Tune trial its Optuna trial's number, and stores the same "asked" user attribute as
the local search (batch, ask seconds, run name). A run records trial = that number (the study's
own count, as locally, zero vectors included), search_batch = trial // options.batch and
ask_seconds = the seconds the sampler took to propose it. After the Tuner finishes, every
finished run of the study is tagged with the "search" experiment, so that the report's
summary rows, hypervolume.csv and `front_runs` see the runs as they see the local search's.

Told values: ln of the run's final pixel and grad MSEs (inr.stats.hypervolume.objective_values,
the local search's). A vector of all zero weights becomes no Tune trial: it is told to Optuna
as failed (TrialState.FAIL) when it is asked, and another is asked in its place, so that every
Tune trial has a run and, as locally, all-zero vectors do not count against `options.trials`.
A diverged run reports nan for every objective, and the searcher tells its trial as failed
(OptunaSearch itself would leave a trial told nan unfinished); the search goes on. A trial
that raises (after Tune's --max-retries) is not told: it stays asked in the study, this call
ends with a one-line error, and the same command trains it again.

Storage: the study is the local search's, in the same Optuna RDB storage (`storage_url`: SQLite
at results/search.db unless options.storage) under the same name (`study_name`), passed to
OptunaSearch as an optuna.storages.RDBStorage; local and Ray runs of one search continue each
other. Only the driver opens the study; trials write run folders only.

Resume: Tune's experiment folder is <ray storage>/search-<study name>. A killed search, run
again with the same command, is restored (Tuner.restore: Tune saved the searcher with its
sampler and the trials it had asked); unfinished Tune trials start their runs again from step 0
(trials keep no mid-run checkpoint), and runs that finished are read, not trained. A search
whose experiment finished starts a fresh experiment for what the study still lacks: trials
asked but never told (a trial that raised, a local search killed mid-batch, trials asked after
Tune last saved the searcher) are finished first, then new ones asked up to `options.trials`
runs, as the local search resumes; with nothing missing, no Tune trial starts and nothing
trains. The sampler's random state is kept across a restore; a fresh experiment on a study that
holds trials seeds its sampler with `sampler_seed`, as the local search does when it resumes.

Ray is optional (pip install -e '.[ray]'): this module imports it only inside functions.
"""
from __future__ import annotations

import fcntl
import hashlib
import math
import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import torch

from inr.artefacts.tree import OutputTree, search_run_name
from inr.config import RunConfig
from inr.io import read_json, write_json_atomic
from inr.stats.hypervolume import objective_values
from inr.sweep.planning import PlannedRun
from inr.sweep.ray_backend import RayOptions, _import_ray
from inr.sweep.search import (SearchOptions, SearchOutcome, asked_record, counted_trial,
                              distributions, make_sampler, open_study, planned_trial, sampler_seed,
                              storage_url, study_name, weights_of)
from inr.training.loop import train_ensemble
from inr.vocabulary import MSE_TERMS

SEARCH_FILE = "inr_search.json"  # in the experiment folder: its study, and whether it finished
LOCKS = "run_locks"  # in the experiment folder: one lock file per run being trained
MAX_ZERO_ASKS = 1000  # all-zero vectors in a row before the searcher gives up


# ----------------------------------------------------------------------------- the trial

def search_trial(config: dict) -> None:
    """One Tune trial: the run of its weight vector, trained unless done, then its objectives.

    config: the Tuner's constants {"base": the base run config, "out": the output tree's root,
    "options": the SearchOptions, "locks": a folder, "threads"} and the searcher's suggestion
    {"weights": {term: index}, "trial", "search_batch", "ask_seconds"}. Reports each objective's
    value under its name (nan for a diverged run) and "trained" (1 when this trial trained it).
    """
    from ray import tune

    torch.set_num_threads(max(1, int(config["threads"])))
    options = _options_of(config["options"])
    run = planned_trial(RunConfig.from_dict(config["base"]), OutputTree(config["out"]), options,
                        weights_of(config["weights"], options.choices), config["trial"],
                        config["search_batch"], config["ask_seconds"])
    folder, trained = run.folder(), 0
    with _run_lock(Path(config["locks"]), run.name):
        state = folder.state(run.config)
        if state == "conflict":
            raise ValueError(f"{folder.path} holds a finished run with another config; use "
                             f"another --out")
        if state != "done":
            folder.remove_stale_temporaries()
            train_ensemble([run.config], progress=False)
            trained = 1
    values = objective_values((folder.read() or {}).get("final", {}), options.objectives)
    values = values or (math.nan,) * len(options.objectives)
    tune.report({**dict(zip(options.objectives, values)), "trained": trained})


def _options_of(raw: dict) -> SearchOptions:
    """SearchOptions back from the dict the Tune config holds (its tuples became lists)."""
    return SearchOptions(**{**raw, "objectives": tuple(raw["objectives"]),
                            "choices": tuple(raw["choices"])})


@contextmanager
def _run_lock(folder: Path, name: str):
    """Hold an exclusive flock for the run named `name` (released when the process dies)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (hashlib.sha1(name.encode()).hexdigest()[:16] + ".lock")
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------- the searcher

def __getattr__(name):
    """`WeightSearch`, made on first use so that importing this module does not import Ray."""
    if name != "WeightSearch":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _searcher_class()


def _searcher_class():
    """The searcher class `WeightSearch`: OptunaSearch on the search's space, metrics and
    sampler, which (module doc) asks again in place of all-zero vectors, finishes trials the
    study holds asked but not told before it asks new ones, labels each suggestion with its
    trial number, batch and ask seconds, and tells a diverged run as failed. A module attribute,
    so that Tune's saved experiment unpickles it by reference."""
    if "WeightSearch" in globals():
        return globals()["WeightSearch"]
    _import_ray()  # without Ray: the one-line install hint
    import optuna
    from optuna.trial import TrialState
    from ray.tune.search.optuna import OptunaSearch

    class WeightSearch(OptunaSearch):
        def __init__(self, base: RunConfig, options: SearchOptions, storage_url: str,
                     asked: int = 0):
            """asked: the trials the study holds already (the sampler's seed: sampler_seed)."""
            super().__init__(space=distributions(options.choices),
                             metric=list(options.objectives),
                             mode=["min"] * len(options.objectives),
                             sampler=make_sampler(options.strategy,
                                                  sampler_seed(options.seed, asked)),
                             study_name=study_name(base, options),
                             storage=optuna.storages.RDBStorage(storage_url))
            self.base, self.options = base, options
            self._errored: set[str] = set()  # Tune trials that raised: their trials stay asked
            self._unfinished: list[int] | None = None  # trial ids asked before, not yet told

        def restore(self, checkpoint_path: str):
            super().restore(checkpoint_path)
            self._unfinished = None  # the study may have moved on since that save

        def suggest(self, trial_id: str) -> dict:
            if trial_id not in self._ot_trials:
                self._ot_trials[trial_id] = self._next_trial()
            trial = self._ot_trials[trial_id]
            asked = trial.user_attrs["asked"]
            return {"weights": dict(trial.params), "trial": trial.number,
                    "search_batch": asked["batch"], "ask_seconds": asked["ask_seconds"]}

        def _next_trial(self):
            """A trial asked before and never told, else a new one; all-zero vectors are told
            failed, and the next one taken."""
            if self._unfinished is None:
                live = {t._trial_id for key, t in self._ot_trials.items()
                        if key not in self._completed_trials and key not in self._errored}
                self._unfinished = [t._trial_id for t in self._ot_study.get_trials(
                    deepcopy=False, states=(TrialState.RUNNING,)) if t._trial_id not in live]
            for _ in range(MAX_ZERO_ASKS):
                tick = time.time()
                trial = (optuna.Trial(self._ot_study, self._unfinished.pop(0))
                         if self._unfinished else self._ot_study.ask(self._space))
                seconds = time.time() - tick
                weights = weights_of(trial.params, self.options.choices)
                if "asked" not in trial.user_attrs:  # as the local search records it
                    asked = {"batch": trial.number // self.options.batch,
                             "ask_seconds": seconds}
                    if any(weights):
                        cfg = self.base.replace(loss=dict(zip(MSE_TERMS, weights)))
                        asked["run"] = search_run_name(cfg, self.options.strategy,
                                                       self.options.seed)
                    trial.set_user_attr("asked", asked)
                if not any(weights):
                    self._ot_study.tell(trial, state=TrialState.FAIL)
                    continue
                return trial
            raise RuntimeError(f"the {self.options.strategy} sampler proposed {MAX_ZERO_ASKS} "
                               f"all-zero weight vectors in a row")

        def on_trial_complete(self, trial_id: str, result: dict | None = None,
                              error: bool = False):
            if error:
                self._errored.add(trial_id)  # left asked: the next call trains it again
                return
            if trial_id in self._completed_trials or trial_id not in self._ot_trials:
                return
            values = [(result or {}).get(name) for name in self.metric]
            if any(v is None for v in values):
                return  # stopped before it reported (an interrupted experiment): left asked
            finite = all(math.isfinite(v) for v in values)
            self._ot_study.tell(self._ot_trials[trial_id], values if finite else None,
                                state=TrialState.COMPLETE if finite else TrialState.FAIL,
                                skip_if_finished=True)
            self._completed_trials.add(trial_id)

    WeightSearch.__module__, WeightSearch.__qualname__ = __name__, "WeightSearch"
    globals()["WeightSearch"] = WeightSearch
    return WeightSearch


# ----------------------------------------------------------------------------- the driver

def experiment_path(base: RunConfig, tree: OutputTree, options: SearchOptions,
                    ray: RayOptions) -> Path:
    """Tune's folder for this search: search-<study name> in Ray's storage."""
    storage = Path(ray.storage or tree.ray_results).resolve()
    return storage / f"search-{study_name(base, options)}"


def _study_runs(base: RunConfig, tree: OutputTree, options: SearchOptions, study,
                told: bool = True) -> list[PlannedRun]:
    """The runs of the study's trials that have one (told: only of those told), each once."""
    runs = {}
    for t in study.get_trials(deepcopy=False):
        if counted_trial(t) or (not told and "run" in asked_record(t)):
            asked = asked_record(t)
            run = planned_trial(base, tree, options, weights_of(t.params, options.choices),
                                t.number, asked.get("batch", 0), asked.get("ask_seconds", 0.0))
            runs.setdefault(run.name, run)
    return list(runs.values())


def _records(runs: list[PlannedRun]) -> dict[str, dict | None]:
    return {run.name: run.folder().read() for run in runs}


def run_search_ray(base: RunConfig, tree: OutputTree, options: SearchOptions, ray: RayOptions,
                   report: Callable[[str], None] = print) -> SearchOutcome:
    """Run (or continue) one search on base's image with Ray Tune until `options.trials` trials
    with a run are told (module doc). The search's runs that are done are tagged afterwards,
    as the local search's are. Of `ray`, engine, max_models and overwrite do not apply (one run
    per trial; a search reuses done runs, as locally), and early_stop must be "none"."""
    if ray.early_stop != "none":
        raise ValueError("--early-stop does not apply to --search")
    ray_lib = _import_ray()
    from ray import tune

    start = time.time()
    url = storage_url(options, tree)
    study = open_study(base, options, tree)  # one-line error for a bad storage
    outcome = SearchOutcome(study.study_name)
    trials = study.get_trials(deepcopy=False)
    counted = sum(map(counted_trial, trials))
    before = _records(_study_runs(base, tree, options, study, told=False))
    path = experiment_path(base, tree, options, ray)
    saved = read_json(path / SEARCH_FILE) if (path / SEARCH_FILE).is_file() else {}
    restore = tune.Tuner.can_restore(str(path)) and not saved.get("finished")
    unfinished = sum(t.state.name == "RUNNING" for t in trials)
    samples = max(options.trials - counted, unfinished)
    if restore or samples > 0:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        started_ray = not ray_lib.is_initialized()
        if started_ray:
            ray_lib.init(address=ray.address, include_dashboard=False,
                         log_to_driver=not ray.quiet, configure_logging=False)
        try:
            trainable = tune.with_resources(search_trial, {"cpu": ray.cpus_per_trial,
                                                           "gpu": ray.gpus_per_trial})
            if restore:
                report(f"ray: resuming search experiment {path}")
                tuner = tune.Tuner.restore(str(path), trainable, resume_unfinished=True)
            else:
                shutil.rmtree(path, ignore_errors=True)
                tuner = _new_tuner(tune, trainable, base, tree, options, ray, url, path,
                                   samples, asked=len(trials))
                write_json_atomic(path / SEARCH_FILE, {"study": study.study_name})
                report(f"ray: search {study.study_name}: {samples} trials, {options.batch} at "
                       f"once, experiment {path}")
            tuner.fit()
        finally:
            if started_ray:
                ray_lib.shutdown()
        # trial states as Tune saved them: an interrupted experiment leaves trials RUNNING or
        # PENDING (the ResultGrid would count them as terminated)
        states = [t.status for t in tune.ExperimentAnalysis(str(path)).trials]
        outcome.interrupted = any(s not in ("TERMINATED", "ERROR") for s in states)
        if not outcome.interrupted:
            write_json_atomic(path / SEARCH_FILE, {"study": study.study_name, "finished": True})

    study = open_study(base, options, tree)
    # trials still asked after an experiment that was not interrupted: their Tune trials raised
    failed = 0 if outcome.interrupted else sum(
        t.state.name == "RUNNING" for t in study.get_trials(deepcopy=False))
    runs = _study_runs(base, tree, options, study)
    outcome.told = sum(map(counted_trial, study.get_trials(deepcopy=False))) - counted
    for run in runs:
        folder = run.folder()
        if folder.state(run.config) != "done":
            continue
        record = folder.read()
        if run.name not in before or before[run.name] != record:
            outcome.trained += 1  # its record was written during this call
        run.tag()
    outcome.reused = max(0, outcome.told - outcome.trained)
    outcome.seconds = time.time() - start
    if failed:
        raise RuntimeError(f"{failed} search trials stay asked, not told (their Tune trials "
                           f"failed after {ray.max_retries} retries); see {path}; run the same "
                           f"command to train them again")
    return outcome


def _trial_dirname(trial) -> str:
    return f"trial{trial.config['trial']}_{trial.trial_id}"


def _new_tuner(tune, trainable, base: RunConfig, tree: OutputTree, options: SearchOptions,
               ray: RayOptions, url: str, path: Path, samples: int, asked: int):
    from ray.tune.search import ConcurrencyLimiter

    searcher = _searcher_class()(base, options, url, asked)
    return tune.Tuner(
        trainable,
        param_space={"base": base.to_dict(), "out": str(tree.root), "options": asdict(options),
                     "locks": str(path / LOCKS), "threads": max(1, int(ray.cpus_per_trial))},
        tune_config=tune.TuneConfig(
            search_alg=ConcurrencyLimiter(searcher, max_concurrent=options.batch),
            num_samples=samples, reuse_actors=True,
            trial_dirname_creator=_trial_dirname),
        run_config=tune.RunConfig(
            name=path.name, storage_path=str(path.parent), verbose=0 if ray.quiet else 1,
            failure_config=tune.FailureConfig(max_failures=ray.max_retries)))
