"""The derivative step: one training step of a SIREN 3 -> width x 3 -> 1 (M = 1) on one whole
frame, forward jet against nested autograd, with float32 and with TF32 matmuls; and the error
each matmul precision causes against float64.

A step is the suite's own pieces: derivatives (value, gradient, Laplacian, dt), the four
weighted MSEs (inr.training.losses), backward and the BatchedAdam update (inr.training.optim), as inr.training.loop's loop
runs them minus the batch draw. Times are medians of interleaved, synchronised repeats after
warm-up, in ms; peak memory is CUDA's max_memory_allocated above the steady state (model, Adam
state and batch resident), reset before each method's step, in MiB.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from devicecheck.common import (ALL_TERMS, GOAL_FIELDS, MIB, NOT_APPLICABLE, PRECISIONS,
                                TF32_GOAL, is_oom, matmul_precision, on, one_line, peak_above,
                                reset_memory, shown, sync, tf32_applies)
from inr.config import RunConfig, profile_config
from inr.model.derivatives import DERIVATIVE_METHODS, derivatives
from inr.roundoff import relative_error
from inr.training.losses import squared_errors, weighted_loss
from inr.training.optim import BatchedAdam
from inr.training.loop import build_data, build_model
from inr.vocabulary import FIELDS, LOSS_TERMS

STEP_LR = 1e-5


@dataclass
class StepRow:
    """One method at one width and matmul precision: ms per training step (median, min, max
    over `repeats`) and CUDA peak memory above the steady state in MiB (None on a CPU).
    status: ok | oom | error | skipped | n/a (TF32 off CUDA)."""
    width: int
    method: str
    precision: str
    status: str = "ok"
    ms: float | None = None
    ms_min: float | None = None
    ms_max: float | None = None
    repeats: int = 0
    peak_mib: float | None = None
    message: str = ""


def step_config(session, width: int) -> RunConfig:
    """The paper profile's data at the step's frame size, a SIREN of `width`, all four terms."""
    return on(profile_config("paper"), session.device,
              data={"size": session.sizes.step_side, "heldout": False},
              model={"width": width}, loss=ALL_TERMS)


def all_terms(dtype, device) -> dict[str, torch.Tensor]:
    """The loss weights ALL_TERMS as the loss functions take them: term -> (1,)."""
    loss = RunConfig().replace(loss=ALL_TERMS).loss
    return {k: torch.tensor([getattr(loss, k)], dtype=dtype, device=device) for k in LOSS_TERMS}


def one_step(model, optim, batch, weights, method, alive, lrs) -> None:
    """A full training step of the suite's pieces, with `method`'s derivatives."""
    out = derivatives(model, batch["coords"], FIELDS, method=method)
    optim.descend(weighted_loss(squared_errors(out, batch, weights), weights), alive, lrs)


def time_methods(session, width: int, precision: str, model, batch, weights) -> list[StepRow]:
    """Both methods' StepRows: warm-up, one step each for peak memory, then interleaved repeats
    (method A, B, A, B, ...) until step_repeats or the budget runs out (at least one)."""
    device, sizes = session.device, session.sizes
    optim = BatchedAdam(model.parameters())
    alive = torch.ones(1, dtype=torch.bool, device=device)
    lrs = torch.full((1,), STEP_LR, dtype=batch["coords"].dtype, device=device)
    step = lambda method: one_step(model, optim, batch, weights, method, alive, lrs)  # noqa
    rows = {m: StepRow(width, m, precision) for m in DERIVATIVE_METHODS}
    times = {m: [] for m in DERIVATIVE_METHODS}
    with matmul_precision(precision):
        for method in DERIVATIVE_METHODS:
            for _ in range(sizes.step_warmup):
                step(method)
        for method in DERIVATIVE_METHODS:
            base = reset_memory(device)
            step(method)
            peak = peak_above(device, base)
            rows[method].peak_mib = None if peak is None else round(peak / MIB, 1)
        for repeat in range(sizes.step_repeats):
            if repeat and session.over_budget():
                break
            for method in DERIVATIVE_METHODS:
                sync(device)
                start = time.perf_counter()
                step(method)
                sync(device)
                times[method].append(1e3 * (time.perf_counter() - start))
    for method, row in rows.items():
        ms = sorted(times[method])
        row.ms, row.ms_min, row.ms_max, row.repeats = ms[len(ms) // 2], ms[0], ms[-1], len(ms)
    return list(rows.values())


def precision_errors(session, width: int, model32, batch, data) -> list[dict]:
    """The error float32 and TF32 matmuls cause against float64 with the same weights and
    points: per field the relative L2 error, the RMS error, the network's RMS output and the RMS
    error over the target's std (over the whole sequence); and the relative error of the
    parameter gradients of the step's loss."""
    model64 = build_model([step_config(session, width).replace(train={"dtype": "float64"})])
    model64.load_state_dict(model32.state_dict())
    batch64 = {k: v.double() for k, v in batch.items()}
    ref_out, ref_grads = _fields_and_grads(model64, batch64,
                                           all_terms(torch.float64, session.device))
    stds = {k: v ** 0.5 for k, v in data.sequence.target_variances().items()}
    rows = []
    for precision in PRECISIONS:
        with matmul_precision(precision):
            out, grads = _fields_and_grads(model32, batch,
                                           all_terms(torch.float32, session.device))
        for name in FIELDS:  # the gradient's error and std are those of the 2-vector
            square = lambda x: x.pow(2).sum(-1) if name == "grad" else x.pow(2)  # noqa: E731
            rms = float(square(out[name].double() - ref_out[name]).mean().sqrt())
            rows.append({"width": width, "precision": precision, "field": name,
                         "rel_error": relative_error(out[name], ref_out[name]), "rms_error": rms,
                         "output_rms": float(square(ref_out[name]).mean().sqrt()),
                         "target_std": stds[name], "fraction_of_std": rms / stds[name]})
        rows.append({"width": width, "precision": precision, "field": "parameter_gradients",
                     "rel_error": max(relative_error(a, b) for a, b in zip(grads, ref_grads))})
    return rows


def _fields_and_grads(model, batch, weights):
    out = derivatives(model, batch["coords"], FIELDS)
    loss = weighted_loss(squared_errors(out, batch, weights), weights).sum()
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return {k: v.detach() for k, v in out.items()}, grads


def tf32_acceptable(rows: list[dict]) -> bool | None:
    """Whether TF32's error stays below TF32_GOAL of the target's std for GOAL_FIELDS at every
    width measured (None when none was)."""
    kept = [r for r in rows if r.get("precision") == "tf32" and r.get("field") in GOAL_FIELDS]
    return all(r["fraction_of_std"] < TF32_GOAL for r in kept) if kept else None


def _rows_of(session, width: int, precision: str, batch, weights) -> list[StepRow]:
    """The timed rows, or rows that record why there are none (TF32 off CUDA, budget, OOM,
    error)."""
    if not tf32_applies(session.device, precision):
        return [StepRow(width, m, precision, NOT_APPLICABLE, message="TF32 is not timed off CUDA")
                for m in DERIVATIVE_METHODS]
    if session.over_budget():
        return [StepRow(width, m, precision, "skipped", message=session.skip_reason())
                for m in DERIVATIVE_METHODS]
    try:
        model = build_model([step_config(session, width)])
        return time_methods(session, width, precision, model, batch, weights)
    except Exception as err:  # noqa: BLE001 - an OOM or error is a result
        status, message = ("oom" if is_oom(err) else "error"), one_line(err)
    reset_memory(session.device)
    return [StepRow(width, m, precision, status, message=message) for m in DERIVATIVE_METHODS]


def run(session) -> None:
    """Every width with both precisions, then its precision errors, each recorded as it ends."""
    section = session.section("derivative_step")
    sizes = session.sizes
    section.update(status="running", rows=[], precision_errors=[], tf32_acceptable=None, setup={
        "points": sizes.step_side ** 2, "depth": 3, "models": 1, "loss_weights": ALL_TERMS,
        "lr": STEP_LR, "repeats": sizes.step_repeats, "warmup": sizes.step_warmup,
        "tf32_applies": session.device.type == "cuda", "tf32_goal_fraction_of_std": TF32_GOAL,
        "goal_fields": GOAL_FIELDS})
    data, _ = build_data(step_config(session, sizes.step_widths[0]))
    batch = data.sample([torch.Generator().manual_seed(0)], None)  # one whole frame
    weights = all_terms(data.dtype, session.device)
    for width in sizes.step_widths:
        for precision in PRECISIONS:
            for row in _rows_of(session, width, precision, batch, weights):
                section["rows"].append(asdict(row))
                print(f"  width {width:>4} {row.method:<9} {precision}  "
                      f"{shown(row.ms, '.2f', ' ms'):>10}  peak "
                      f"{shown(row.peak_mib, '.0f', ' MiB')}  {row.status} {row.message}",
                      flush=True)
            session.save()
        if session.over_budget():
            continue
        try:
            model = build_model([step_config(session, width)])
            section["precision_errors"] += precision_errors(session, width, model, batch, data)
        except Exception as err:  # noqa: BLE001 - recorded, the run goes on
            section["precision_errors"].append({"width": width, "error": one_line(err)})
        section["tf32_acceptable"] = tf32_acceptable(section["precision_errors"])
        reset_memory(session.device)
        session.save()
    section["status"] = "done"
