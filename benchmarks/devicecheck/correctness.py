"""Correctness on the device: each check compares the device's result with a reference and
records its error against a tolerance; a check that raises fails with its one-line message.

    derivatives/<act>/<dtype>   forward jet vs nested autograd, every field and the parameter
                                gradients of a four-term loss, M = 3 (relative)
    ssim/float32                float32 SSIM on the device vs float64 on the CPU (absolute)
    train_step/...              one ensemble step of inr.train's loop vs the same on the CPU:
                                losses and gradients; the parameters after it (relative; the
                                update's own error is given beside them)
    sweep/...                   a tiny sweep through plan, run_sweep, build_report: error =
                                runs without the output (metrics.json, TensorBoard, video, report)
"""
from __future__ import annotations

import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from devicecheck.common import (ALL_TERMS, STOP, Skipped, ffmpeg, matmul_precision, on,
                                one_line, relerr)
from inr.config import RunConfig, profile_config
from inr.data import default_times, diffuse, load_image
from inr.derivatives import METHODS, derivatives
from inr.evaluate import frame_ranges
from inr.experiments import load_experiment, plan
from inr.losses import squared_errors, weighted_loss
from inr.metrics import ssim
from inr.models import ACTIVATION_CHOICES, make_model
from inr.report import build_report
from inr.rundir import RunDir
from inr.sweep import run_sweep
from inr.tblog import read_events
from inr.train import _Loop, build_data, build_model
from inr.vocabulary import FIELDS

RTOL = {torch.float64: 1e-10, torch.float32: 1e-5}  # forward jet vs nested autograd, relative
STEP_RTOL = 1e-5  # device vs CPU, float32 training step: losses, gradients, update (relative)
SSIM_ATOL = 1e-5  # float32 SSIM vs float64 (inr.metrics matches skimage to ~1e-12 in float64)
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
    """Forward jet vs nested autograd on the device: every field, and the parameter gradients
    of a four-term MSE loss; M = 3 models, each with its own `points` points."""
    model = make_model(act, width=width, depth=CHECK_DEPTH, models=CHECK_MODELS,
                       seed=3).to(device, dtype)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(CHECK_MODELS, points, 3, generator=g, dtype=torch.float64) * 2 - 1)
    x = x.to(device, dtype)
    out = {m: derivatives(model, x, FIELDS, method=m) for m in METHODS}
    targets = {k: torch.randn(v.shape, generator=g, dtype=torch.float64).to(device, dtype)
               for k, v in out["forward"].items()}
    grads = {}
    for method in METHODS:
        loss = sum(((out[method][k] - targets[k]) ** 2).mean() for k in FIELDS)
        grads[method] = torch.autograd.grad(loss, list(model.parameters()))
    jets = [m for m in METHODS if m != "autograd"]  # fused takes the forward code off the CPU
    errors = {k: max(relerr(out[m][k], out["autograd"][k]) for m in jets) for k in FIELDS}
    errors["parameter gradients"] = max(relerr(a, b) for m in jets
                                        for a, b in zip(grads[m], grads["autograd"]))
    detail = ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
    return max(errors.values()), RTOL[dtype], \
        f"{detail} (M = {CHECK_MODELS}, width {width}, {points} points)"


def ssim_check(device: torch.device):
    """SSIM in float32 on the device against float64 on the CPU, of noisy diffused frames and of
    their Laplacian (with its own data range); absolute error."""
    seq = diffuse(load_image(RunConfig().data.image, size=64), default_times(4), 0.02)
    g = torch.Generator().manual_seed(0)
    worst = {}
    for name in ("value", "laplacian"):
        true = torch.as_tensor(getattr(seq, name))
        pred = true + 0.1 * true.std() * torch.randn(true.shape, generator=g, dtype=torch.float64)
        rng = frame_ranges(true)  # each frame's own range, as the evaluation uses
        ref = ssim(pred, true, rng)
        got = ssim(pred.to(device, torch.float32), true.to(device, torch.float32), rng)
        worst[name] = float((got.double().cpu() - ref).abs().max())
    cudnn = f", cuDNN TF32 {'on' if torch.backends.cudnn.allow_tf32 else 'off'}" \
        if device.type == "cuda" else ""
    detail = ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
    return max(worst.values()), SSIM_ATOL, f"{detail} (absolute; 4 frames of 64 x 64{cudnn})"


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
    """One step of the ensemble through inr.train's loop: the losses (M,) and parameter
    gradients of its first batch, the parameters after loop.step(0) and the update it made;
    float64, on the CPU."""
    data, _ = build_data(configs[0])
    model = build_model(configs)
    loop = _Loop(configs, model, data, None)
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


def step_errors(a: dict, b: dict) -> dict[str, float]:
    """Relative errors of a against b: the losses, then the worst parameter tensor's
    gradients, parameters after the step and update."""
    worst = lambda key: max(relerr(x, y) for x, y in zip(a[key], b[key]))  # noqa: E731
    return {"losses": relerr(a["losses"], b["losses"]), "gradients": worst("grads"),
            "parameters": worst("parameters"), "update": worst("update")}


def training_step_checks(device: torch.device) -> list[tuple[str, object]]:
    """(name, measure) of the float32 ensemble step on the device against the CPU, judged on
    `judged` of the errors it lists; the CPU's own float32-vs-float64 error of the same step is
    given as the round-off scale."""
    steps = {}

    def measure(keys, judged):
        if "device" not in steps:
            cpu = torch.device("cpu")
            steps["device"] = first_step(step_check_configs(device, "float32"))
            steps["cpu"] = first_step(step_check_configs(cpu, "float32"))
            steps["cpu64"] = first_step(step_check_configs(cpu, "float64"))
        errors = step_errors(steps["device"], steps["cpu"])
        roundoff = step_errors(steps["cpu"], steps["cpu64"])
        same = " (the device is the CPU: equal by construction)" if device.type == "cpu" else ""
        listed = lambda e: ", ".join(f"{k} {e[k]:.1e}" for k in keys)  # noqa: E731
        return max(errors[k] for k in judged), STEP_RTOL, \
            f"{listed(errors)}; float32 round-off on the CPU: {listed(roundoff)} (M = " \
            f"{len(STEP_CHECK_RUNS)}, {STEP_CHECK['train']['points']} points){same}"

    both = ("losses", "gradients")
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
            bound = f"{check.error:.1e} <= {check.tolerance:.0e}" if check.error is not None \
                else ""
            print(f"  {check.status:>7}  {name:<34} {bound:<17} {check.detail}", flush=True)
            session.save()
    section["status"] = "done"
