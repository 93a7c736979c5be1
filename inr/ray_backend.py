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
                command again restores it (Tuner.restore); runs already done (run_state) are
                never submitted, and a trial skips runs that finished meanwhile
Early stopping (--early-stop asha): ASHA on the reported psnr (mode max) against the step; each
run is then its own trial. A stopped run keeps what train_ensemble writes when it is interrupted
(metrics.json status "interrupted", final metrics of its last evaluation, steps_done) plus an
"early_stop" record, and later sweeps with --early-stop asha treat it as finished.

Ray is optional (pip install -e '.[ray]'): this module imports it only inside functions.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from inr.io import read_json, write_json_atomic
from inr.sweep import (SweepOutcome, clear_outputs, default_max_models, ensembles, run_state,
                       split_done, tag_experiments)

INSTALL_HINT = "the ray backend needs Ray: pip install -e '.[ray]'"
STATE_FILE = "train_state.pt"  # train_ensemble's mid-run state inside a Ray checkpoint
SWEEP_FILE = "inr_sweep.json"  # in the experiment folder: the runs it was made for
FAULT_ENV = "INR_RAY_FAULT_MARKER"  # tests: the first trial to create this file fails once
EARLY_STOP_METRIC, EARLY_STOP_MODE = "psnr", "max"
STOP_GRACE_SECONDS = 600  # how long a stopped trial may take to write its outputs


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

    config: {"runs": [{"name", "config"}], "threads": int, "fault_marker": str | None}.
    Runs already done (e.g. finished by an earlier attempt) are skipped. The training state is
    kept in a local file (state_path) that is restored from the trial's latest Ray checkpoint.
    """
    from ray import tune

    from inr.config import RunConfig
    from inr.experiments import PlannedRun
    from inr.train import train_ensemble

    _stopped.clear()
    _outputs_written.clear()
    try:
        import torch
        torch.set_num_threads(max(1, int(config["threads"])))
        runs = [PlannedRun("", r["name"], RunConfig.from_dict(r["config"]))
                for r in config["runs"]]
        todo = [r for r in runs if run_state(r) != "done"]
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
        reporter = _Reporter([r.name for r in todo], state_path, config.get("fault_marker"),
                             todo[0].config.train.steps, resumed_from)
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

    def __init__(self, names, state_path: Path, fault_marker, steps: int, resumed_from: int):
        self.names, self.state_path, self.steps = names, state_path, steps
        self.fault_marker, self.resumed_from = fault_marker, resumed_from
        self.checkpoints = 0

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
                self.checkpoints += 1
            else:
                tune.report(metrics)
        except SystemExit:
            _stopped.set()
            if step < self.steps:
                raise KeyboardInterrupt from None
            return  # stopped at the final evaluation: the run is complete
        self._maybe_fail(step)

    def _maybe_fail(self, step: int) -> None:
        """The injected fault of the tests: fail once, after a checkpoint (or at the end)."""
        if not self.fault_marker or not (self.checkpoints or step >= self.steps):
            return
        try:
            os.close(os.open(self.fault_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        raise RuntimeError(f"injected fault in trial {self.names[0]} at step {step}")


def _saved_step(state_path: Path) -> int:
    import torch
    return int(torch.load(state_path, map_location="cpu", weights_only=False)["step"])


def _trial_metrics(names, records) -> dict:
    """The metrics a trial reports: its run's record; for a batch, the best run's record (so
    psnr is the batch's best) plus every run's record under runs/<name>/."""
    import math

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

def experiment_name(runs, batches, early_stop: str) -> str:
    """A name fixed by the planned sweep: the same command finds (and restores) its experiment."""
    key = json.dumps([[r.name, r.config.identity()] for r in runs] +
                     [[[r.name for r in b] for b in batches], early_stop], sort_keys=True,
                     default=str)
    return "sweep-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def trial_name(names) -> str:
    """A trial's name: its run's name, or the first run's name and how many more it trains."""
    return names[0] + (f" (+{len(names) - 1} more)" if len(names) > 1 else "")


def _trial_name(trial) -> str:
    return trial_name([r["name"] for r in trial.config["runs"]])


def _trial_dirname(trial) -> str:
    safe = _trial_name(trial).replace("/", "__").replace(" ", "_")
    return f"{safe[:120]}_{trial.trial_id}"


def early_stopped(run) -> bool:
    """A run that ASHA stopped earlier, with the planned config (treated as finished by ASHA)."""
    try:
        saved = read_json(Path(run.config.output.run_dir) / "metrics.json")
    except (OSError, ValueError):
        return False
    identity = {k: v for k, v in saved.get("config", {}).items() if k != "output"}
    return bool(saved.get("early_stop")) and identity == json.loads(
        json.dumps(run.config.identity()))


def _mark_early_stopped(run, scheduler: str) -> None:
    path = Path(run.config.output.run_dir) / "metrics.json"
    saved = read_json(path)
    saved["early_stop"] = {"by": scheduler, "metric": EARLY_STOP_METRIC,
                           "mode": EARLY_STOP_MODE, "at_step": saved["final"].get("steps_done"),
                           "of_steps": run.config.train.steps}
    write_json_atomic(path, saved)


def run_sweep_ray(runs, args, report=print) -> SweepOutcome:
    """Train the planned runs as Ray Tune trials; see the module doc. Returns a SweepOutcome.

    args: the parsed sweep.py options (engine, max_models, overwrite, quiet, out, address,
    cpus_per_trial, gpus_per_trial, max_retries, early_stop, ray_storage).
    """
    from inr.train import RunResult

    early = getattr(args, "early_stop", "none") or "none"
    cpus = getattr(args, "cpus_per_trial", 1)
    gpus = getattr(args, "gpus_per_trial", 0.0)
    retries = getattr(args, "max_retries", 2)
    if cpus <= 0:
        raise ValueError(f"--cpus-per-trial must be > 0, got {cpus}")
    if gpus < 0:
        raise ValueError(f"--gpus-per-trial must be >= 0, got {gpus}")
    if retries < 0:
        raise ValueError(f"--max-retries must be >= 0, got {retries}")
    if early not in ("none", "asha"):
        raise ValueError(f"unknown --early-stop {early!r}; choose from none, asha")
    ray = _import_ray()
    from ray import tune

    start, outcome = time.time(), SweepOutcome()
    engine = "sequential" if early == "asha" else args.engine
    if early == "asha" and args.engine != "sequential":
        report("note: with --early-stop asha every run is its own trial (sequential engine)")
    todo = split_done(runs, outcome, args.overwrite, report,
                      also_done=early_stopped if early == "asha" else lambda run: False)
    if not todo:
        outcome.seconds = time.time() - start
        return outcome
    max_models = args.max_models or default_max_models(runs)
    batches = ensembles(todo, engine, max_models)
    storage = Path(getattr(args, "ray_storage", None) or Path(args.out) / "ray_results").resolve()
    name = experiment_name(runs, ensembles(runs, engine, max_models), early)
    path = storage / name
    stored = read_json(path / SWEEP_FILE) if (path / SWEEP_FILE).is_file() else None
    if stored and not {r.name for r in todo} <= set(stored["runs"]):
        name = experiment_name(todo, batches, early)  # runs the stored experiment lacks
        path = storage / name
    elif stored and stored.get("finished"):
        shutil.rmtree(path)  # nothing to resume in it: start a fresh experiment
    if args.overwrite:
        for run in todo:
            clear_outputs(run)
        shutil.rmtree(path, ignore_errors=True)

    # a checkpoint at every evaluation is the point here, not a bottleneck worth a warning
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    started_ray = not ray.is_initialized()
    if started_ray:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address=getattr(args, "address", None), include_dashboard=False,
                 log_to_driver=not args.quiet, configure_logging=False)
    try:
        trainable = tune.with_resources(_ray_trial(), {"cpu": cpus, "gpu": gpus})
        if tune.Tuner.can_restore(str(path)):
            report(f"ray: resuming experiment {path}")
            tuner = tune.Tuner.restore(str(path), trainable, resume_unfinished=True,
                                       resume_errored=True)
        else:
            tuner = _new_tuner(tune, trainable, batches, storage, name, args, early, cpus,
                               retries)
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
        metrics = Path(run.config.output.run_dir) / "metrics.json"
        if run_state(run) == "done":
            tag_experiments(run)
            saved = read_json(metrics)
            outcome.done.append(RunResult(run.config, saved["final"], saved.get("best", {}),
                                          run_dir=Path(run.config.output.run_dir)))
        elif early != "none" and run.name in finished and metrics.is_file():
            _mark_early_stopped(run, early)  # its trial ended without error, the run unfinished
            tag_experiments(run)
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


def _new_tuner(tune, trainable, batches, storage: Path, name: str, args, early: str,
               cpus: float, retries: int):
    fault = os.environ.get(FAULT_ENV)
    trials = [[{"name": r.name, "config": r.config.to_dict()} for r in b] for b in batches]
    scheduler = None
    if early == "asha":
        from ray.tune.schedulers import ASHAScheduler
        steps = max(r.config.train.steps for b in batches for r in b)
        every = min(r.config.train.eval_every for b in batches for r in b)
        scheduler = ASHAScheduler(time_attr="step", max_t=steps, grace_period=min(every, steps),
                                  reduction_factor=3)
    return tune.Tuner(
        trainable,
        param_space={"runs": tune.grid_search(trials), "threads": max(1, int(cpus)),
                     "fault_marker": fault},
        tune_config=tune.TuneConfig(
            scheduler=scheduler, metric=EARLY_STOP_METRIC if scheduler else None,
            mode=EARLY_STOP_MODE if scheduler else None, reuse_actors=False,
            trial_name_creator=_trial_name, trial_dirname_creator=_trial_dirname),
        run_config=tune.RunConfig(
            name=name, storage_path=str(storage), verbose=0 if args.quiet else 1,
            failure_config=tune.FailureConfig(max_failures=retries),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
