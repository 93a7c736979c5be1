"""Running a planned sweep on a Ray cluster with Ray Tune: `sweep.py ... --backend ray`.

Each training batch of the sweep (one run with --engine sequential, up to --max-models runs with
--engine batched) becomes one Tune trial named after its run, and trains with the same code as the
local engines (`train_ensemble`), so runs/, videos/ and metrics.json land in the same layout with
the same numbers for the same seeds; cli.py then rebuilds results/ with the shared report code.
The --out folder (and Ray's storage, default <out>/ray_results) must be on storage every node sees.

Fault tolerance:
    retries     a trial that raises is retried up to --max-retries times (FailureConfig)
    checkpoints at every evaluation the trial reports its metrics and its training state
                (train_ensemble's state_path, inside a Ray Checkpoint); a retried or restored
                trial continues from its latest checkpoint instead of step 0
    resume      the experiment's folder is named after the planned sweep, so running the same
                command again restores it (Tuner.restore); runs already done (RunDir.state) are
                never submitted, and a trial skips runs that finished meanwhile
Early stopping (--early-stop asha): ASHA on the reported psnr (mode max) against the step; each
run is then its own trial. A stopped run keeps what train_ensemble writes when it is interrupted
(metrics.json status "interrupted", final metrics of its last evaluation, steps_done) plus an
"early_stop" record, and later sweeps with --early-stop asha treat it as finished.

Ray is optional (pip install -e '.[ray]'): this module imports it only inside functions, so the
suite imports this module without Ray.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from inr.artefacts.tree import OutputTree
from inr.config import RunConfig
from inr.sweep.planning import PlannedRun
from inr.io import read_json, write_json_atomic
from inr.sweep.engine import (SweepOutcome, check_engine, clear_runs, default_max_models,
                              ensembles, split_done)
from inr.training.loop import train_ensemble

INSTALL_HINT = "the ray backend needs Ray: pip install -e '.[ray]'"
STATE_FILE = "train_state.pt"  # train_ensemble's mid-run state inside a Ray checkpoint
SWEEP_FILE = "inr_sweep.json"  # in the experiment folder: the runs it was made for
EARLY_STOP_METRIC, EARLY_STOP_MODE = "psnr", "max"
STOP_GRACE_SECONDS = 600  # how long a stopped trial may take to write its outputs
EARLY_STOPPERS = ("none", "asha")


@dataclass(frozen=True)
class RayOptions:
    """How a sweep runs on Ray (the options of sweep.py's ray backend).

    out: the sweep's output folder (shared by every node); engine, max_models, overwrite, quiet:
    as for the local backend; address: the cluster ('auto', ray://HOST:PORT, None for a private
    instance); cpus_per_trial, gpus_per_trial: resources reserved per trial (fractions share);
    max_retries: retries of a failed trial; early_stop: 'none' or 'asha'; storage: Ray Tune's
    experiment folder (default <out>/ray_results).
    """
    out: str
    engine: str = "batched"
    max_models: int | None = None
    overwrite: bool = False
    quiet: bool = False
    address: str | None = None
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0.0
    max_retries: int = 2
    early_stop: str = "none"
    storage: str | None = None

    def __post_init__(self):
        checks = [(self.cpus_per_trial > 0, f"--cpus-per-trial must be > 0, got {self.cpus_per_trial}"),
                  (self.gpus_per_trial >= 0, f"--gpus-per-trial must be >= 0, got {self.gpus_per_trial}"),
                  (self.max_retries >= 0, f"--max-retries must be >= 0, got {self.max_retries}"),
                  (self.early_stop in EARLY_STOPPERS, f"unknown --early-stop {self.early_stop!r}; "
                   f"choose from {', '.join(EARLY_STOPPERS)}")]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        check_engine(self.engine, self.max_models)


def _import_ray():
    """Import ray, or fail with a one-line RuntimeError saying how to install it."""
    try:
        import ray
        from ray import tune  # noqa: F401  (the [tune] extra)
    except ImportError:
        raise RuntimeError(INSTALL_HINT) from None
    return ray


# ----------------------------------------------------------------------------- the trial

_stopped = threading.Event()  # set by the trial thread when Tune stopped it mid-run
_outputs_written = threading.Event()  # set when the trial thread returned (outputs on disk)


def train_trial(config: dict) -> None:
    """One Tune trial: train its runs with train_ensemble, reporting metrics and checkpoints.

    config: {"runs": [{"name", "config"}], "threads": int, "out": the output tree's root}.
    Runs already done (e.g. finished by an earlier attempt) are skipped. The training state is
    kept in a local file (state_path) that is restored from the trial's latest Ray checkpoint.
    """
    from ray import tune

    _stopped.clear()
    _outputs_written.clear()
    try:
        torch.set_num_threads(max(1, int(config["threads"])))
        tree = OutputTree(config["out"])
        runs = [PlannedRun("", r["name"], RunConfig.from_dict(r["config"]), tree)
                for r in config["runs"]]
        todo = [r for r in runs if r.folder().state(r.config) != "done"]
        if not todo:
            return
        work = Path(tempfile.mkdtemp(prefix="inr-trial-"))
        state_path = work / STATE_FILE
        resumed_from = 0
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as folder:
                if (Path(folder) / STATE_FILE).is_file():
                    shutil.copy(Path(folder) / STATE_FILE, state_path)
                    resumed_from = json.loads((Path(folder) / "step.json").read_text())["step"]
        reporter = _Reporter([r.name for r in todo], state_path, todo[0].config.train.steps,
                             resumed_from)
        try:
            train_ensemble([r.config for r in todo], progress=False, on_eval=reporter,
                           state_path=state_path)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        _outputs_written.set()


class _Reporter:
    """on_eval for train_ensemble: report metrics (and the saved state) to Tune at every eval.

    train_ensemble saves its state right after on_eval, so the checkpoint attached at an
    evaluation holds the state of the one before (a resumed trial redoes at most one interval).
    When Tune stops the trial (early stopping, or the sweep's end), tune.report raises SystemExit;
    it becomes a KeyboardInterrupt, which train_ensemble records as "interrupted" with outputs.
    """

    def __init__(self, names: list[str], state_path: Path, steps: int, resumed_from: int):
        self.names, self.state_path, self.steps = names, state_path, steps
        self.resumed_from = resumed_from

    def __call__(self, step: int, records: list[dict]) -> None:
        from ray import tune

        if _stopped.is_set():
            return  # the final evaluation of a stopped trial: nothing more to report
        metrics = _trial_metrics(self.names, records)
        metrics["resumed_from_step"] = self.resumed_from
        try:
            if self.state_path.is_file():
                with tempfile.TemporaryDirectory(prefix="inr-ckpt-") as folder:
                    shutil.copy(self.state_path, Path(folder) / STATE_FILE)
                    saved = _saved_step(self.state_path)
                    (Path(folder) / "step.json").write_text(json.dumps({"step": saved}))
                    tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
            else:
                tune.report(metrics)
        except SystemExit:
            _stopped.set()
            if step < self.steps:
                raise KeyboardInterrupt from None
            return  # stopped at the final evaluation: the run is complete


def _saved_step(state_path: Path) -> int:
    return int(torch.load(state_path, map_location="cpu", weights_only=False)["step"])


def _trial_metrics(names, records) -> dict:
    """The metrics a trial reports: its run's record; for a batch, the best run's record (so
    psnr is the batch's best) plus every run's record under runs/<name>/."""
    if len(records) == 1:
        return dict(records[0])
    psnr = [r["psnr"] if math.isfinite(r["psnr"]) else -math.inf for r in records]
    best = max(range(len(records)), key=psnr.__getitem__)
    return {**records[best], "best_run": names[best],
            "runs": {name: dict(r) for name, r in zip(names, records)}}


def _wait_for_outputs() -> None:
    """Block until the trial thread has returned (a module function: Ray pickles it by name)."""
    _outputs_written.wait(STOP_GRACE_SECONDS)


def __getattr__(name):
    """`RayTrial`, made on first use so that importing this module does not import Ray."""
    if name != "RayTrial":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _ray_trial()


def _ray_trial():
    """The Tune trainable `RayTrial`: train_trial as a function trainable whose stop waits until
    the trial has written its outputs (Tune would otherwise end the process while a stopped run
    writes its metrics.json). Kept as a module attribute, so Ray pickles it by reference.
    """
    if "RayTrial" in globals():
        return globals()["RayTrial"]
    from ray.tune.trainable.function_trainable import wrap_function

    class RayTrial(wrap_function(train_trial)):
        def cleanup(self):
            try:
                super().cleanup()
            finally:
                _wait_for_outputs()

    RayTrial.__module__, RayTrial.__qualname__ = __name__, "RayTrial"
    globals()["RayTrial"] = RayTrial
    return RayTrial


# ----------------------------------------------------------------------------- the driver

def experiment_name(runs: list[PlannedRun], batches: list[list[PlannedRun]],
                    early_stop: str) -> str:
    """A name fixed by the planned sweep: the same command finds (and restores) its experiment."""
    key = json.dumps([[r.name, r.config.identity()] for r in runs] +
                     [[[r.name for r in b] for b in batches], early_stop], sort_keys=True,
                     default=str)
    return "sweep-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def trial_name(names: list[str]) -> str:
    """A trial's name: its run's name, or the first run's name and how many more it trains."""
    return names[0] + (f" (+{len(names) - 1} more)" if len(names) > 1 else "")


def _trial_name(trial) -> str:
    return trial_name([r["name"] for r in trial.config["runs"]])


def _trial_dirname(trial) -> str:
    safe = _trial_name(trial).replace("/", "__").replace(" ", "_")
    return f"{safe[:120]}_{trial.trial_id}"


def run_sweep_ray(runs: list[PlannedRun], options: RayOptions,
                  report: Callable[[str], None] = print) -> SweepOutcome:
    """Train the planned runs as Ray Tune trials; see the module doc. Returns a SweepOutcome."""
    early, retries = options.early_stop, options.max_retries
    cpus, gpus = options.cpus_per_trial, options.gpus_per_trial
    ray = _import_ray()
    from ray import tune

    start, outcome = time.time(), SweepOutcome()
    engine = "sequential" if early == "asha" else options.engine
    if early == "asha" and options.engine != "sequential":
        report("note: with --early-stop asha every run is its own trial (sequential engine)")
    also_done = (lambda run: run.folder().early_stopped(run.config)) if early == "asha" \
        else (lambda run: False)
    todo = split_done(runs, outcome, options.overwrite, report, also_done=also_done)
    if not todo:
        outcome.seconds = time.time() - start
        return outcome
    max_models = options.max_models or default_max_models(runs)
    batches = ensembles(todo, engine, max_models)
    storage = Path(options.storage or OutputTree(options.out).ray_results).resolve()
    name = experiment_name(runs, ensembles(runs, engine, max_models), early)
    path = storage / name
    stored = read_json(path / SWEEP_FILE) if (path / SWEEP_FILE).is_file() else None
    if stored and not {r.name for r in todo} <= set(stored["runs"]):
        name = experiment_name(todo, batches, early)  # runs the stored experiment lacks
        path = storage / name
    elif stored and stored.get("finished"):
        shutil.rmtree(path)  # nothing to resume in it: start a fresh experiment
    if options.overwrite:
        clear_runs(todo)
        shutil.rmtree(path, ignore_errors=True)

    # a checkpoint at every evaluation is the point here, not a bottleneck worth a warning
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    started_ray = not ray.is_initialized()
    if started_ray:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address=options.address, include_dashboard=False,
                 log_to_driver=not options.quiet, configure_logging=False)
    try:
        trainable = tune.with_resources(_ray_trial(), {"cpu": cpus, "gpu": gpus})
        if tune.Tuner.can_restore(str(path)):
            report(f"ray: resuming experiment {path}")
            tuner = tune.Tuner.restore(str(path), trainable, resume_unfinished=True,
                                       resume_errored=True)
        else:
            tuner = _new_tuner(tune, trainable, batches, storage, name, options)
            write_json_atomic(path / SWEEP_FILE, {"runs": [r.name for r in todo]})
            report(f"ray: {len(batches)} trials for {len(todo)} runs, experiment {path}")
        tuner.fit()
    finally:
        if started_ray:
            ray.shutdown()

    # trial states as saved before Tune's cleanup: an interrupted sweep leaves trials RUNNING
    # or PENDING (the ResultGrid would count them as terminated)
    interrupted, failed, finished, stopped = False, [], set(), []
    for trial in tune.ExperimentAnalysis(str(path)).trials:
        names = [r["name"] for r in trial.config["runs"]]
        if trial.status == "ERROR":
            failed.append(trial_name(names))
        elif trial.status == "TERMINATED":
            finished.update(names)
        else:
            interrupted = True
    for run in todo:
        folder = run.folder()
        if folder.state(run.config) == "done":
            run.tag()
            outcome.done.append(folder.result(run.config))
        elif early != "none" and run.name in finished and folder.read() is not None:
            # its trial ended without error, the run unfinished
            folder.mark_early_stopped(early, EARLY_STOP_METRIC, EARLY_STOP_MODE,
                                      run.config.train.steps)
            run.tag()
            stopped.append(run.name)
    outcome.interrupted = interrupted
    if not interrupted and not failed:
        write_json_atomic(path / SWEEP_FILE, {**read_json(path / SWEEP_FILE), "finished": True})
    outcome.seconds = time.time() - start
    if stopped:
        report(f"{len(stopped)} runs stopped early by {early} (metrics.json: status "
               f"interrupted, early_stop): {', '.join(stopped[:5])}"
               + (" ..." if len(stopped) > 5 else ""))
    if failed:
        raise RuntimeError(f"{len(failed)} trials failed after {retries} retries (first: "
                           f"{failed[0]}); see {path}; run the same command to retry them")
    return outcome


def _new_tuner(tune, trainable, batches, storage: Path, name: str, options: RayOptions):
    trials = [[{"name": r.name, "config": r.config.to_dict()} for r in b] for b in batches]
    scheduler = None
    if options.early_stop == "asha":
        from ray.tune.schedulers import ASHAScheduler
        steps = max(r.config.train.steps for b in batches for r in b)
        every = min(r.config.train.eval_every for b in batches for r in b)
        scheduler = ASHAScheduler(time_attr="step", max_t=steps, grace_period=min(every, steps),
                                  reduction_factor=3)
    return tune.Tuner(
        trainable,
        param_space={"runs": tune.grid_search(trials),
                     "threads": max(1, int(options.cpus_per_trial)),
                     "out": str(options.out)},
        tune_config=tune.TuneConfig(
            scheduler=scheduler, metric=EARLY_STOP_METRIC if scheduler else None,
            mode=EARLY_STOP_MODE if scheduler else None, reuse_actors=False,
            trial_name_creator=_trial_name, trial_dirname_creator=_trial_dirname),
        run_config=tune.RunConfig(
            name=name, storage_path=str(storage), verbose=0 if options.quiet else 1,
            failure_config=tune.FailureConfig(max_failures=options.max_retries),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
