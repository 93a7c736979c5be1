"""Correctness on the device: each check compares the device's result with a reference and
records its error against a tolerance; a check that raises fails with its one-line message.

    derivatives/<act>/<dtype>   every jet method vs nested autograd in float64, every field and
                                the parameter gradients of a four-term loss, M = 3
    ssim/float32                float32 SSIM on the device vs float64 on the CPU
    train_step/...              one ensemble step of inr.training.loop's loop vs the same in float64 on
                                the CPU: losses and gradients; the parameters after it (the
                                update's error is given beside them)
    sweep/...                   a tiny sweep through plan, run_sweep, build_report: error =
                                runs without the output (metrics.json, TensorBoard, video, report)

The derivative, SSIM and training-step checks follow inr.roundoff's rule: each error against the
float64 reference must stay within FACTOR times the reference method's own float32 round-off on
the same inputs, measured here on the CPU; their error column is that ratio.
"""
from __future__ import annotations

import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from devicecheck.common import ALL_TERMS, STOP, Skipped, ffmpeg, matmul_precision, on, one_line
from inr import roundoff
from inr.config import RunConfig, profile_config
from inr.data import default_times, diffuse, load_image
from inr.model.derivatives import DERIVATIVE_METHODS, derivatives
from inr.training.evaluate import frame_ranges
from inr.sweep.experiments import load_experiment
from inr.sweep.planning import plan
from inr.training.losses import squared_errors, weighted_loss
from inr.training.metrics import ssim
from inr.model.networks import ACTIVATION_CHOICES, make_model
from inr.report import build_report
from inr.artefacts.rundir import RunDir
from inr.sweep.engine import run_sweep
from inr.artefacts.tblog import read_events
from inr.training.loop import TrainingLoop, build_data, build_model
from inr.vocabulary import FIELDS

CHECK_MODELS, CHECK_DEPTH = 3, 3
STEP_CHECK = {"data": {"size": 32, "frames": 4, "heldout": False}, "model": {"width": 32},
              "train": {"points": 1024, "steps": 10}}
STEP_CHECK_RUNS = [({"seed": 0}, {"lr": 1e-4}, ALL_TERMS),  # (train, schedule, loss) per run
                   ({"seed": 5}, {"lr": 3e-4}, {"pixel": 0.1, "grad": 1.0, "dt": 0.1}),
                   ({"seed": 9}, {"lr": 1e-3}, {"pixel": 1.0, "laplacian": 0.01})]
TINY_SWEEP = {"data": {"size": 32, "frames": 4}, "model": {"width": 16},
              "train": {"steps": 6, "eval_every": 3, "points": 256}}
TINY_SWEEP_RUNS = 2


@dataclass
class Check:
    """One check: status passed | failed | skipped, its measured error against its tolerance
    (relative unless the detail says otherwise), what was compared, how long it took."""
    name: str
    status: str
    error: float | None = None
    tolerance: float | None = None
    detail: str = ""
    seconds: float = 0.0


def run_check(name: str, measure) -> Check:
    """measure() -> (error, tolerance, detail); passed when error <= tolerance. Skipped raised
    inside skips it; any other exception fails it with its one-line message."""
    if STOP["by"]:
        return Check(name, "skipped", detail=f"stopped by {STOP['by']}")
    start = time.perf_counter()
    try:
        error, tolerance, detail = measure()
        status = "passed" if error is not None and error <= tolerance else "failed"
        check = Check(name, status, float(error), float(tolerance), detail)
    except Skipped as why:
        check = Check(name, "skipped", detail=str(why))
    except Exception as err:  # noqa: BLE001 - a failed check is a result, not a crash
        check = Check(name, "failed", detail=one_line(err))
    check.seconds = round(time.perf_counter() - start, 3)
    return check


# ----------------------------------------------------------------------------- derivatives, SSIM

def derivative_check(act: str, dtype: torch.dtype, device: torch.device, width: int,
                     points: int):
    """Every jet method on the device in `dtype` against nested autograd in float64 on the CPU on
    the same parameters and points: every field, and the parameter gradients of a four-term MSE
    loss; M = 3 models, each with its own `points` points. Judged by inr.roundoff's rule, whose
    `own` is nested autograd's float32 round-off on the CPU on the same inputs (carried to
    float64 for a float64 check). Error: the worst error over its own; tolerance: FACTOR."""
    model = make_model(act, width=width, depth=CHECK_DEPTH, models=CHECK_MODELS,
                       seed=3).to(device, dtype)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(CHECK_MODELS, points, 3, generator=g, dtype=torch.float64) * 2 - 1)
    x = x.to(device, dtype)
    shapes = {k: v.shape for k, v in derivatives(model, x, FIELDS, method="forward").items()}
    targets = {k: torch.randn(v, generator=g, dtype=torch.float64).to(device, dtype)
               for k, v in shapes.items()}
    jets = {m: fields_and_gradients(model, x, targets, m) for m in DERIVATIVE_METHODS if m != "autograd"}
    cpu = lambda t, to: t.detach().to("cpu", to)  # noqa: E731
    as_cpu = lambda to: (copy_to(model, torch.device("cpu"), to), cpu(x, to),  # noqa: E731
                         {k: cpu(v, to) for k, v in targets.items()})
    reference = fields_and_gradients(*as_cpu(torch.float64), "autograd")
    own32 = quantity_errors(fields_and_gradients(*as_cpu(torch.float32), "autograd"), reference)
    own = {k: roundoff.carried(v, dtype) for k, v in own32.items()}
    errors = {k: max(quantity_errors(jet, reference)[k] for jet in jets.values()) for k in own}
    ratios = {k: errors[k] / max(own[k], roundoff.eps(dtype)) for k in own}
    worst = max(ratios, key=ratios.get)
    detail = ", ".join(f"{k} {errors[k]:.1e}" for k in (*FIELDS, "parameter gradients"))
    return ratios[worst], roundoff.FACTOR, \
        f"error / own round-off (inr.roundoff); errors {detail}; worst {worst}: " \
        f"{errors[worst]:.1e} against own {own[worst]:.1e} (M = {CHECK_MODELS}, width {width}, " \
        f"{points} points)"


def copy_to(model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """A copy of `model` on `device` in `dtype`, with the same parameters converted."""
    copy = make_model(**model.config, models=model.models).to(device, dtype)
    copy.load_state_dict(model.state_dict())
    return copy


def fields_and_gradients(model, x, targets: dict, method: str) -> dict:
    """`method`'s fields of `model` at x and the parameter gradients of the sum over fields of
    the MSE against `targets`: {field: tensor, "parameter gradients": [tensor per parameter]}."""
    out = derivatives(model, x, FIELDS, method=method)
    loss = sum(((out[k] - targets[k]) ** 2).mean() for k in FIELDS)
    return {**out, "parameter gradients": torch.autograd.grad(loss, list(model.parameters()))}


def quantity_errors(got: dict, reference: dict) -> dict[str, float]:
    """Relative error of every field, and the worst parameter tensor's gradient error."""
    errors = {k: roundoff.relative_error(got[k], reference[k]) for k in FIELDS}
    errors["parameter gradients"] = max(roundoff.relative_error(a, b) for a, b in zip(
        got["parameter gradients"], reference["parameter gradients"]))
    return errors


def ssim_check(device: torch.device):
    """SSIM in float32 on the device against float64 on the CPU, of noisy diffused frames and of
    their Laplacian (with its own data range). Judged by inr.roundoff's rule, whose `own` is the
    float32 SSIM's error on the CPU on the same inputs."""
    seq = diffuse(load_image(RunConfig().data.image, size=64), default_times(4), 0.02)
    g = torch.Generator().manual_seed(0)
    errors, owns = {}, {}
    for name in ("value", "laplacian"):
        true = torch.as_tensor(getattr(seq, name))
        pred = true + 0.1 * true.std() * torch.randn(true.shape, generator=g, dtype=torch.float64)
        rng = frame_ranges(true)  # each frame's own range, as the evaluation uses
        pred32, true32 = pred.float(), true.float()
        ref = ssim(pred32.double(), true32.double(), rng)
        got = ssim(pred32.to(device), true32.to(device), rng)
        errors[name] = roundoff.relative_error(got, ref)
        owns[name] = roundoff.relative_error(ssim(pred32, true32, rng), ref)
    ratios = {k: errors[k] / max(owns[k], roundoff.eps(torch.float32)) for k in errors}
    cudnn = f", cuDNN TF32 {'on' if torch.backends.cudnn.allow_tf32 else 'off'}" \
        if device.type == "cuda" else ""
    detail = ", ".join(f"{k} {errors[k]:.1e} (own {owns[k]:.1e})" for k in errors)
    return max(ratios.values()), roundoff.FACTOR, \
        f"error / own round-off (inr.roundoff); {detail} (4 frames of 64 x 64{cudnn})"


# ----------------------------------------------------------------------------- one training step

def step_check_configs(device: torch.device, dtype: str) -> list[RunConfig]:
    """Three runs with their own seeds, learning rates and loss weights, as one ensemble."""
    base = on(RunConfig().replace(output={"progress": False, "panels": False}), device,
              train={**STEP_CHECK["train"], "dtype": dtype}, data=STEP_CHECK["data"],
              model=STEP_CHECK["model"])
    zero = {k: 0.0 for k in ALL_TERMS}
    return [base.replace(train=train, schedule=schedule, loss={**zero, **loss})
            for train, schedule, loss in STEP_CHECK_RUNS]


def first_step(configs: list[RunConfig]) -> dict:
    """One step of the ensemble through inr.training.loop's loop: the losses (M,) and parameter
    gradients of its first batch, the parameters after loop.step(0) and the update it made;
    float64, on the CPU."""
    data, _ = build_data(configs[0])
    model = build_model(configs)
    loop = TrainingLoop(configs, model, data, None)
    params = list(model.parameters())
    before = [p.detach().to("cpu", torch.float64, copy=True) for p in params]
    generators = [torch.Generator().set_state(g.get_state()) for g in loop.generators]
    batch = data.sample(generators, loop.points)  # the batch loop.step(0) will draw
    out = derivatives(model, batch["coords"], loop.fields)
    losses = weighted_loss(squared_errors(out, batch, loop.weights), loop.weights)
    grads = torch.autograd.grad(losses.sum(), params)
    loop.step(0)
    after = [p.detach().to("cpu", torch.float64, copy=True) for p in params]
    return {"losses": losses.detach().double().cpu(), "grads": [g.double().cpu() for g in grads],
            "parameters": after, "update": [a - b for a, b in zip(after, before)]}


STEP_QUANTITIES = ("losses", "grads", "parameters", "update")


def step_errors(got: dict, reference: dict) -> dict[str, list[float]]:
    """Relative errors of a step against a reference step, per quantity: the losses (one
    entry), then one entry per parameter tensor of the gradients, the parameters after the step
    and the update."""
    listed = lambda key: got[key] if key != "losses" else [got[key]]  # noqa: E731
    return {key: [roundoff.relative_error(a, b) for a, b in
                  zip(listed(key), reference[key] if key != "losses" else [reference[key]])]
            for key in STEP_QUANTITIES}


def training_step_checks(device: torch.device) -> list[tuple[str, object]]:
    """(name, measure) of the float32 ensemble step on the device against the same step in
    float64 on the CPU, judged by inr.roundoff's rule on `judged` of the quantities it lists,
    tensor by tensor; `own` is the CPU's float32 step's error against the same reference.
    Error: the worst error over its own; tolerance: FACTOR."""
    steps = {}

    def measure(keys, judged):
        if "device" not in steps:
            cpu = torch.device("cpu")
            steps["device"] = first_step(step_check_configs(device, "float32"))
            steps["cpu"] = first_step(step_check_configs(cpu, "float32"))
            steps["cpu64"] = first_step(step_check_configs(cpu, "float64"))
        errors = step_errors(steps["device"], steps["cpu64"])
        own = step_errors(steps["cpu"], steps["cpu64"])
        floor = roundoff.eps(torch.float32)
        worst = max(e / max(o, floor) for k in judged for e, o in zip(errors[k], own[k]))
        same = " (the device is the CPU: equal by construction)" if device.type == "cpu" else ""
        listed = lambda e: ", ".join(f"{k} {max(e[k]):.1e}" for k in keys)  # noqa: E731
        return worst, roundoff.FACTOR, \
            f"error / own round-off (inr.roundoff); errors {listed(errors)}; own float32 " \
            f"round-off on the CPU: {listed(own)} (M = {len(STEP_CHECK_RUNS)}, " \
            f"{STEP_CHECK['train']['points']} points){same}"

    both = ("losses", "grads")
    return [("train_step/losses_and_gradients", lambda: measure(both, both)),
            ("train_step/parameters", lambda: measure(("parameters", "update"),
                                                      ("parameters",)))]


# ----------------------------------------------------------------------------- a tiny sweep

def tiny_sweep(device: torch.device, folder: Path) -> dict:
    """Plan, run and report a tiny random-weights sweep on the device into `folder`."""
    shutil.rmtree(folder, ignore_errors=True)
    base = on(profile_config("quick"), device, **TINY_SWEEP)
    runs = plan([load_experiment("random-weights")], base, folder,
                random_weights=TINY_SWEEP_RUNS, videos=ffmpeg() is not None)
    run_sweep(runs, engine="batched", progress=False, report=lambda *_: None)
    return {"runs": runs, "built": build_report(folder)}


def sweep_checks(device: torch.device, folder: Path) -> list[tuple[str, object]]:
    """(name, measure) of the tiny sweep's outputs; error = how many runs lack the output.
    The sweep runs once, in the first check."""
    sweep = {}

    def runs():
        if not sweep:
            sweep.update(tiny_sweep(device, folder))
        return sweep["runs"]

    def metrics():
        records = [RunDir.of(r.config).read() or {} for r in runs()]
        bad = [r for r in records if r.get("status") != "completed"
               or not math.isfinite(r["final"].get("psnr") or math.nan)
               or r["config"]["train"]["device"] != str(device)]
        psnr = ", ".join(f"{r['final']['psnr']:.2f}" for r in records if r.get("final"))
        return len(bad), 0, f"{len(records)} runs trained on {device}, psnr {psnr} dB; " \
                            f"{len(bad)} without a completed metrics.json"

    def events():
        lacking = 0
        for run in runs():
            logged = read_events(RunDir.of(run.config).path)
            lacking += not {"train/loss", "eval/psnr"} <= set(logged["scalars"]) \
                or not logged["images"]
        return lacking, 0, f"train/loss, eval/psnr and panels in {len(runs())} runs' " \
                           f"TensorBoard logs; {lacking} runs lack one"

    def videos():
        if ffmpeg() is None:
            raise Skipped("no ffmpeg (imageio-ffmpeg ships one): the sweep ran without videos")
        sizes = [Path(r.config.output.video).stat().st_size
                 if Path(r.config.output.video).is_file() else 0 for r in runs()]
        empty = sum(s < 1000 for s in sizes)
        return empty, 0, f"MP4 sizes {sizes} bytes; {empty} missing or empty"

    def report():
        runs()
        rows, text = len(sweep["built"]["rows"]), Path(sweep["built"]["report"]).read_text()
        return abs(rows - len(runs())) + ("Which loss weights" not in text), 0, \
            f"{rows} rows in summary.csv, REPORT.md of {len(text)} characters"

    return [(f"sweep/{name}", fn) for name, fn in (
        ("metrics_json", metrics), ("tensorboard_events", events), ("video", videos),
        ("report", report))]


# ----------------------------------------------------------------------------- the section

def all_checks(session) -> list[tuple[str, object]]:
    """(name, measure) of every check, in run order."""
    device, sizes = session.device, session.sizes
    checks = [(f"derivatives/{act}/{str(dtype).removeprefix('torch.')}",
               lambda act=act, dtype=dtype: derivative_check(
                   act, dtype, device, sizes.check_width, sizes.check_points))
              for dtype in (torch.float64, torch.float32) for act in ACTIVATION_CHOICES]
    checks.append(("ssim/float32", lambda: ssim_check(device)))
    return checks + training_step_checks(device) + \
        sweep_checks(device, session.out / "tiny-sweep")


def run(session) -> None:
    """Every check with full-precision float32 matmuls, each recorded as it ends."""
    section = session.section("correctness")
    section.update(status="running", checks=[])
    with matmul_precision("fp32"):
        for name, measure in all_checks(session):
            check = run_check(name, measure)
            section["checks"].append(asdict(check))
            bound = f"{check.error:.1e} <= {check.tolerance:.3g}" if check.error is not None \
                else ""
            print(f"  {check.status:>7}  {name:<34} {bound:<17} {check.detail}", flush=True)
            session.save()
    section["status"] = "done"
