"""Sweep throughput at the paper profile: ensembles of M = 1 (what the sequential engine trains),
2, 4, ... runs, doubled until memory runs out or --max-models, each timed through inr.training.loop's
own loop as train_ensemble runs it, with float32 and with TF32 matmuls; and from those times the
projected wall time of a sweep of --runs runs with its evaluations and videos.

Every run trains all four loss terms (the ensemble computes every field), logs to TensorBoard and
renders its panels as a sweep's runs do. Times are seconds, synchronised; memory is CUDA's, GiB.
Left out of the projection: writing each run's folder (config, checkpoint, record), which is
small.
"""
from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from devicecheck.common import (ALL_TERMS, GIB, NOT_APPLICABLE, PRECISIONS, STOP, Skipped,
                                ffmpeg, is_oom, matmul_precision, on, one_line, reset_memory,
                                shown, sync, tensorboard, tf32_applies)
from inr.config import REPO_ROOT, RunConfig, profile_config
from inr.training.loop import TrainingLoop, build_data, build_model


@dataclass
class EnsembleRow:
    """One ensemble of `models` runs: seconds to build it (networks, optimiser, logs), per
    training step, per evaluation (with every run's panel), per final evaluation (with the
    held-out frames) and per video (one run's); memory after warm-up and at its peak, GiB
    (CUDA); seconds the whole measurement took. status: ok | oom | error | skipped | n/a (TF32
    off CUDA)."""
    models: int
    precision: str
    status: str = "ok"
    setup_s: float | None = None
    step_s: float | None = None
    eval_s: float | None = None
    final_eval_s: float | None = None
    video_s: float | None = None
    steady_gib: float | None = None
    peak_gib: float | None = None
    seconds: float | None = None
    message: str = ""


GROWTH = 2.5  # a doubled ensemble's measurement is predicted to take this much longer


def throughput_base(session) -> RunConfig:
    """The paper profile (shrunk by --tiny), every loss term on, on the device."""
    base = profile_config("paper").replace(**session.sizes.paper_changes)
    return on(base, session.device, loss=ALL_TERMS)


def ensemble_configs(base: RunConfig, models: int, folder: Path, video: bool,
                     logs: bool = True) -> list[RunConfig]:
    """`models` runs, seeds 0.., writing logs and videos below `folder` as a sweep's runs do."""
    return [base.replace(train={"seed": s}, output={
        "run_dir": str(folder / f"run{s}") if logs else None, "progress": False,
        "video": str(folder / f"run{s}.mp4") if video else None}).validate()
        for s in range(models)]


def measure_ensemble(session, base: RunConfig, data, heldout, models: int,
                     precision: str) -> EnsembleRow:
    """Time one ensemble through inr.training.loop's loop: build, warm-up steps, timed steps, one
    evaluation, the final one, one run's video."""
    device, sizes = session.device, session.sizes
    row = EnsembleRow(models, precision)
    video = ffmpeg() is not None
    folder = Path(tempfile.mkdtemp(prefix="device-check-"))
    try:
        with matmul_precision(precision):
            cuda = reset_memory(device) is not None
            row.setup_s, loop = _timed(device, lambda: _loop(
                ensemble_configs(base, models, folder, video, tensorboard()), data, heldout))
            for step in range(sizes.ensemble_warmup):
                loop.step(step)
            sync(device)
            row.steady_gib = torch.cuda.memory_allocated(device) / GIB if cuda else None
            first, count = sizes.ensemble_warmup, sizes.ensemble_steps
            total, _ = _timed(device, lambda: [loop.step(s) for s in range(first, first + count)])
            row.step_s = total / count
            row.eval_s, _ = _timed(device, lambda: loop.measure(first + count))
            row.final_eval_s, (records, pred) = _timed(
                device, lambda: loop.measure(first + count, final=True))
            if video:
                row.video_s, _ = _timed(device, lambda: loop.outputs.video(0, pred))
            row.peak_gib = torch.cuda.max_memory_allocated(device) / GIB if cuda else None
            for m in range(models):
                loop.outputs.close(m, records[m])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return row


def _loop(configs, data, heldout) -> TrainingLoop:
    """The training loop train_ensemble would run for these configs, on prepared data."""
    return TrainingLoop(configs, build_model(configs), data, heldout)


def _timed(device: torch.device, fn):
    """(seconds, fn()) with the device synchronised before and after."""
    sync(device)
    start = time.perf_counter()
    value = fn()
    sync(device)
    return time.perf_counter() - start, value


def count_host_syncs(session, base: RunConfig, data, heldout, steps: int = 3) -> dict:
    """CUDA: host synchronisations per training step of a one-run loop and the source lines
    that cause them, per step (torch.cuda.set_sync_debug_mode)."""
    if session.device.type != "cuda":
        raise Skipped("host synchronisations are counted on CUDA only")
    if STOP["by"]:
        raise Skipped(f"stopped by {STOP['by']}")
    loop = _loop([base.replace(output={"progress": False})], data, heldout)
    loop.step(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for step in range(1, 1 + steps):
                loop.step(step)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    where = Counter(f"{_relative(w.filename)}:{w.lineno}" for w in caught
                    if "synchroniz" in str(w.message))
    return {"per_step": sum(where.values()) / steps, "steps": steps,
            "where": {k: v / steps for k, v in where.most_common()}}


def _relative(path: str) -> str:
    try:
        return Path(path).resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path


# ----------------------------------------------------------------------------- projection

def batch_parts(row: dict, setup: dict) -> dict[str, float]:
    """Seconds one ensemble of row["models"] runs takes for the profile's steps, by part: data
    and build, steps, evaluations (every eval_every steps, then the final one), videos."""
    evaluations = (setup["steps"] - 1) // setup["eval_every"]  # before the final one
    return {"setup": setup["data_s"] + row["setup_s"],
            "steps": setup["steps"] * row["step_s"],
            "evaluations": evaluations * row["eval_s"] + row["final_eval_s"],
            "videos": row["models"] * (row["video_s"] or 0.0)}


def project(rows: list[dict], setup: dict) -> list[dict]:
    """Every measured ensemble size and precision: seconds per run by part and the projected
    sweep of setup["runs"] runs in ensembles of that size (a smaller last ensemble is costed as
    the smallest measured size that holds it)."""
    runs, out = setup["runs"], []
    ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: r["models"])
    for row in ok:
        m = row["models"]
        full, rest = divmod(runs, m)
        total = full * sum(batch_parts(row, setup).values())
        if rest:
            holder = next(r for r in ok if r["precision"] == row["precision"]
                          and r["models"] >= rest)
            total += sum(batch_parts(holder, setup).values())
        per_run = {k: v / m for k, v in batch_parts(row, setup).items()}
        out.append({"models": m, "precision": row["precision"],
                    "seconds_per_run": sum(per_run.values()), "per_run": per_run,
                    "sweep_minutes": total / 60, "runs": runs})
    return out


def recommend(projection: list[dict], setup: dict) -> dict:
    """The fastest projected sweep overall and per precision, against the goal."""
    if not projection:
        return {}
    fastest = lambda rows: min(rows, key=lambda p: p["sweep_minutes"], default=None)  # noqa
    best = fastest(projection)
    per = {p: fastest([r for r in projection if r["precision"] == p]) for p in PRECISIONS}
    goal = setup["goal_minutes"]
    meets = {p: per[p] is not None and per[p]["sweep_minutes"] <= goal for p in PRECISIONS}
    return {"models": best["models"], "precision": best["precision"],
            "sweep_minutes": best["sweep_minutes"], "goal_minutes": goal,
            "goal_met": best["sweep_minutes"] <= goal,
            "needs_tf32": meets["tf32"] and not meets["fp32"],
            "best_fp32": per["fp32"], "best_tf32": per["tf32"]}


# ----------------------------------------------------------------------------- the section

def _row(session, base, data, heldout, models: int, precision: str,
         predicted: float) -> EnsembleRow:
    """The measured row, or one that records why there is none: TF32 off CUDA, the budget
    (spent, or too little left for the `predicted` seconds), an OOM, an error."""
    if not tf32_applies(session.device, precision):
        return EnsembleRow(models, precision, NOT_APPLICABLE, message="TF32 is not timed off CUDA")
    if session.over_budget() or session.elapsed() + predicted > session.budget:
        reason = session.skip_reason() if session.over_budget() else \
            f"predicted to take {predicted:.0f} s, past the budget ({session.budget:g} s)"
        return EnsembleRow(models, precision, "skipped", message=reason)
    start = time.perf_counter()
    try:
        row = measure_ensemble(session, base, data, heldout, models, precision)
    except Exception as err:  # noqa: BLE001 - an OOM ends the doubling, as a result
        row = EnsembleRow(models, precision, "oom" if is_oom(err) else "error",
                          message=one_line(err))
        reset_memory(session.device)  # the failed attempt's tensors died with its traceback
    row.seconds = time.perf_counter() - start
    return row


def run(session) -> None:
    """M = 1, 2, 4, ... with both precisions until a row fails or is skipped, then the host
    syncs."""
    section = session.section("sweep_throughput")
    base = throughput_base(session)
    t = base.train
    section.update(status="running", rows=[], setup={
        "profile": "paper", "size": base.data.size, "frames": base.data.frames,
        "width": base.model.width, "depth": base.model.depth, "steps": t.steps,
        "batch": t.batch, "eval_every": t.eval_every, "loss_weights": ALL_TERMS,
        "timed_steps": session.sizes.ensemble_steps, "warmup": session.sizes.ensemble_warmup,
        "runs": session.args.runs, "goal_minutes": session.args.goal_minutes,
        "video": ffmpeg() is not None, "tensorboard": tensorboard()})
    section["setup"]["data_s"], (data, heldout) = _timed(session.device,
                                                         lambda: build_data(base))
    models, took = 1, {}
    while models <= session.sizes.max_models:
        rows = []
        for precision in PRECISIONS:
            row = _row(session, base, data, heldout, models, precision,
                       GROWTH * took.get(precision, 0.0))
            took[precision] = row.seconds or 0.0
            rows.append(row)
            section["rows"].append(asdict(row))
            section["projection"] = project(section["rows"], section["setup"])
            section["recommendation"] = recommend(section["projection"], section["setup"])
            print(f"  M = {models:>3} {precision}  step {shown(row.step_s, '.4f', ' s')}  eval "
                  f"{shown(row.eval_s, '.3f', ' s')}  final {shown(row.final_eval_s, '.3f', ' s')}"
                  f"  video {shown(row.video_s, '.3f', ' s')}  peak "
                  f"{shown(row.peak_gib, '.2f', ' GiB')}  {row.status} {row.message}", flush=True)
            session.save()
            if row.status not in ("ok", NOT_APPLICABLE):
                break
        if any(r.status not in ("ok", NOT_APPLICABLE) for r in rows):
            break
        models *= 2
    try:
        section["host_syncs"] = count_host_syncs(session, base, data, heldout)
    except Skipped as why:
        section["host_syncs"] = {"skipped": str(why)}
    except Exception as err:  # noqa: BLE001 - recorded, the run goes on
        section["host_syncs"] = {"error": one_line(err)}
    section["status"] = "done"
