"""Running a planned sweep's runs: resumable, batched or sequential, in this process or a pool.

A run is done when its folder says so (inr.artefacts.rundir: a record whose status is completed
or diverged and whose config equals the planned one); done runs are skipped, anything else
(missing, interrupted, half-written by a killed sweep) is trained again. All files are written
atomically, so a kill leaves either the old file or the new one. The caller holds the output
tree's lock (inr.artefacts.tree.OutputTree.lock) while a sweep writes it.

Engines:
    batched     runs that share data, architecture, steps and batch train together as one
                ensemble (at most --max-models at a time), each with its own lr, schedule,
                weights and seed
    sequential  one run at a time
Both give the same numbers for the same seeds (tests/test_sweep.py). The Ray backend
(inr.sweep.ray_backend) groups, skips and clears runs with the same functions.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from inr.data import frame_shape
from inr.sweep.planning import PlannedRun
from inr.training.loop import ensemble_key, train_ensemble
from inr.vocabulary import Status

ENGINES = ("batched", "sequential")
MAX_MODELS = {"cpu": 8, "cuda": 64}  # most models per ensemble by default: a CPU gains little
# from batching (benchmarks/sweep.py), a GPU gains most; smaller ensembles also lose less to a
# kill. On a GPU the default is also capped by its free memory (`default_max_models`).
# Peak bytes of one model's full-derivative step per (point x hidden unit) for the eager forward
# jet, the path a GPU runs, as benchmarks/derivatives.py measures it on the CPU (README, "Speed").
# An estimate for a GPU, whose own figure benchmarks/device_check.py measures.
STEP_BYTES_PER_POINT_UNIT = 103
GPU_MEMORY_SHARE = 0.8  # of the free memory that an ensemble may plan to use


@dataclass
class SweepOutcome:
    done: list = field(default_factory=list)  # RunResult of runs trained now
    skipped: list = field(default_factory=list)  # PlannedRun found finished
    interrupted: bool = False
    seconds: float = 0.0


# ----------------------------------------------------------------------------- engines

def check_engine(engine: str, max_models: int | None) -> None:
    """A one-line ValueError for an unknown engine or fewer than 1 model per ensemble."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    if max_models is not None and max_models < 1:
        raise ValueError(f"--max-models needs at least 1, got {max_models}")


def ensembles(runs: list[PlannedRun], engine: str, max_models: int) -> list[list[PlannedRun]]:
    """Group runs into the training batches an engine trains together, in plan order."""
    check_engine(engine, max_models)
    if engine == "sequential":
        return [[r] for r in runs]
    groups: OrderedDict[str, list] = OrderedDict()
    for run in runs:  # same fields too: an ensemble computes the union of its members' fields
        key = (ensemble_key(run.config), run.config.loss.fields())
        groups.setdefault(key, []).append(run)
    return [group[i:i + max_models] for group in groups.values()
            for i in range(0, len(group), max_models)]


def _train_batch(configs, progress, label, threads=None):
    """Train one batch (in this process or a worker process, which sets its thread count). A
    batch that runs out of device memory is split in two halves, trained one after the other;
    a single run that does not fit is a one-line error."""
    if threads:
        torch.set_num_threads(threads)
    try:
        return train_ensemble(configs, progress=progress, description=label[:60])
    except torch.OutOfMemoryError:
        if len(configs) == 1:
            raise RuntimeError(f"one run does not fit in the device's memory "
                               f"({configs[0].output.name}): use fewer points per step or a "
                               f"smaller width") from None
    # out of the handler, the failed attempt's frames and the tensors they held are freed
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    half = len(configs) // 2
    return (_train_batch(configs[:half], progress, label)
            + _train_batch(configs[half:], progress, label))


def _results(batches, workers: int, progress: bool):
    """Yield (batch, results) as batches finish: in order here, or from a process pool."""
    label = lambda b: f"{len(b)} run{'s' * (len(b) > 1)}: {b[0].name}"  # noqa: E731
    if workers == 1:
        for batch in batches:
            yield batch, _train_batch([r.config for r in batch], progress, label(batch))
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_train_batch, [r.config for r in b], False, label(b), threads): b
                   for b in batches}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()


def split_done(runs: list[PlannedRun], outcome: SweepOutcome, overwrite: bool = False,
               report: Callable[[str], None] = print,
               also_done: Callable[[PlannedRun], bool] = lambda run: False
               ) -> list[PlannedRun]:
    """The runs still to train; done ones (or `also_done`) go to outcome.skipped, tagged with
    their experiments. A finished run with another config is an error unless overwriting.
    Temporary files that a killed attempt of a run left are removed first (under the sweep's
    lock, so no other writer is using them)."""
    todo = []
    for run in runs:
        folder = run.folder()
        folder.remove_stale_temporaries()
        state = "todo" if overwrite else folder.state(run.config)
        if state == "conflict":
            raise ValueError(f"{folder.path} holds a finished run with another "
                             f"config; use --overwrite or another --out")
        if state == "done" or (not overwrite and also_done(run)):
            run.tag()
            outcome.skipped.append(run)
        else:
            todo.append(run)
    if outcome.skipped:
        report(f"reused {len(outcome.skipped)} of {len(runs)} runs (already done)")
    return todo


def clear_runs(runs: list[PlannedRun]) -> None:
    """Delete the outputs of runs about to be trained again (--overwrite)."""
    for run in runs:
        run.folder().clear()


def default_max_models(runs: list[PlannedRun]) -> int:
    """Ensemble size for the device the runs train on: MAX_MODELS, and on a GPU no more (in
    powers of 2) than its free memory holds by the step's estimated peak."""
    if not runs:
        return MAX_MODELS["cpu"]
    cfg = runs[0].config
    device = cfg.resolved_device()
    if device.type != "cuda":
        return MAX_MODELS.get(device.type, MAX_MODELS["cpu"])
    height, width = frame_shape(cfg.data.image, cfg.data.size)
    points = cfg.train.points if cfg.train.batch == "points" else height * width
    return models_fitting(torch.cuda.mem_get_info(device)[0], points, cfg.model.width)


def models_fitting(free_bytes: int, points: int, width: int) -> int:
    """The largest power of 2, at most MAX_MODELS["cuda"] and at least 1, of models whose
    full-derivative steps (points per step, hidden width) fit in GPU_MEMORY_SHARE of free_bytes
    by the estimate STEP_BYTES_PER_POINT_UNIT."""
    fit = int(GPU_MEMORY_SHARE * free_bytes // (STEP_BYTES_PER_POINT_UNIT * points * width))
    return max(1, min(MAX_MODELS["cuda"], 2 ** int(math.log2(fit)) if fit >= 1 else 1))


def run_sweep(runs: list[PlannedRun], engine: str = "batched",
              max_models: int | None = None, overwrite: bool = False,
              progress: bool = True, report: Callable[[str], None] = print,
              workers: int = 1) -> SweepOutcome:
    """Train every planned run that is not done yet; see the module doc.

    workers > 1 trains batches in that many processes, each with cores / workers threads.
    """
    outcome, start = SweepOutcome(), time.time()
    todo = split_done(runs, outcome, overwrite, report)
    batches = ensembles(todo, engine, max_models or default_max_models(todo))
    bar = tqdm(total=len(todo), desc="sweep", unit="run", disable=not progress,
               dynamic_ncols=True)
    if overwrite:
        clear_runs(todo)
    try:
        for batch, results in _results(batches, workers, progress):
            for run, result in zip(batch, results):
                if result.status != Status.INTERRUPTED:
                    run.tag()
                    outcome.done.append(result)
                    bar.write(f"{result.status:>9}  {run.name}: {result.summary_line()}")
            bar.update(sum(r.status != Status.INTERRUPTED for r in results))
            if any(r.status == Status.INTERRUPTED for r in results):
                outcome.interrupted = True
                break
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        bar.close()
    outcome.seconds = time.time() - start
    return outcome
