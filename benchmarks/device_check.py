"""Check and measure the suite on one device: is it right there, how fast is its derivative step,
and how fast does a sweep at the paper profile run.

    PYTHONPATH=. python benchmarks/device_check.py --out results/device-check        # a GPU
    PYTHONPATH=. python benchmarks/device_check.py --tiny --device cpu --out /tmp/dc # a minute

Writes <out>/device_check.json (every number) and <out>/device_check.md (the tables), both
rewritten after every result, so a run stopped by a timeout leaves valid files with what it
measured ("status": "running" or "interrupted"); the summary table is printed last. Nothing is
downloaded and nothing is installed; a measurement that would start after --budget seconds is
recorded as skipped. The sections live in benchmarks/devicecheck/, one module each.

correctness       on the device: the forward-Laplacian derivatives and the parameter gradients of a
                  full loss against nested autograd for every activation (M = 3; float64 to
                  1e-10, float32 to 1e-5 relative); SSIM in float32 against float64 on the CPU;
                  the losses, gradients and parameter update of one training step of an
                  ensemble (inr.training.loop's own step) against the same step on the CPU (float32,
                  1e-5 relative); a tiny sweep end to end through plan, run_sweep and
                  build_report (metrics.json, TensorBoard events, videos where ffmpeg is
                  present, the report). A check that raises fails with its one-line message.
derivative_step   one training step of a SIREN 3 -> width x 3 -> 1 on one whole frame (value,
                  gradient, Laplacian, dt, four weighted MSEs, backward, BatchedAdam), forward
                  jet against nested autograd: median milliseconds of interleaved repeats after
                  warm-up, synchronised; CUDA peak memory above the steady state, reset between
                  methods; with float32 matmuls and with TF32. Then the error that float32 and
                  TF32 matmuls cause in each field (and in the parameter gradients) against
                  float64, also as a fraction of each target's standard deviation; TF32 is
                  acceptable when that fraction stays below 1e-3 for the gradient and Laplacian.
sweep_throughput  the paper profile, all four loss terms: an ensemble of M = 1 (the sequential
                  engine), 2, 4, ... models, doubled until memory runs out (the OOM is recorded,
                  the cache emptied), trained by inr.training.loop's loop: seconds per step after
                  warm-up, per evaluation (with its TensorBoard panels), per final evaluation and
                  per video, peak memory; with float32 and with TF32 matmuls. From these, the
                  projected wall time of a sweep of --runs runs (its evaluations and videos
                  included) for each M, and the fastest M (goal: --goal-minutes).
"""
from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from devicecheck import correctness, derivative_step, sweep_throughput
from devicecheck.common import FULL, SECTIONS, STOP, TINY, one_line, reset_memory
from devicecheck.report import print_summary
from devicecheck.session import Session
from inr.training.allocator import tune_allocator
from inr.config import REPO_ROOT

RUNNERS = {"correctness": correctness.run, "derivative_step": derivative_step.run,
           "sweep_throughput": sweep_throughput.run}


def parser() -> argparse.ArgumentParser:
    """The options; --help prints them with this module's description of every section."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cuda, cuda:N or cpu (default: cuda when available)")
    p.add_argument("--out", default=str(REPO_ROOT / "results" / "device-check"),
                   help="folder for device_check.json, device_check.md and the tiny sweep "
                   "(default: results/device-check)")
    p.add_argument("--tiny", action="store_true",
                   help="shrink every size (widths, points, image, steps, ensembles) so the "
                   "whole check runs on a CPU in about a minute")
    p.add_argument("--budget", type=float, default=420,
                   help="seconds after which measurements not yet started are skipped "
                   "(default: 420, so a run ends within about 8 minutes)")
    p.add_argument("--max-models", type=int, default=None,
                   help=f"largest ensemble to try (default: {FULL.max_models}; --tiny "
                   f"{TINY.max_models}); the doubling also stops at the first out-of-memory")
    p.add_argument("--runs", type=int, default=100,
                   help="runs in the projected sweep (default: 100)")
    p.add_argument("--goal-minutes", type=float, default=15,
                   help="the projected sweep's goal (default: 15)")
    p.add_argument("--only", action="append", choices=SECTIONS, default=None,
                   help="run only this section (repeatable; default: all three)")
    return p


def check_args(p: argparse.ArgumentParser, args) -> None:
    """One-line errors for bad input."""
    try:
        device = torch.device(args.device)
    except RuntimeError:
        p.error(f"unknown device {args.device!r}; use cuda, cuda:N or cpu")
    if device.type not in ("cpu", "cuda"):
        p.error(f"unknown device {args.device!r}; use cuda, cuda:N or cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error(f"device {args.device!r} asked for, but CUDA is not available; use --device cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        p.error(f"device {args.device!r} does not exist ({torch.cuda.device_count()} GPUs)")
    for name, value in (("--budget", args.budget), ("--runs", args.runs),
                        ("--goal-minutes", args.goal_minutes),
                        ("--max-models", args.max_models or 1)):
        if not value > 0:
            p.error(f"{name} must be positive, got {value}")
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=args.out):
            pass
    except OSError as err:
        p.error(f"output folder {args.out} is not writable ({err.strerror})")


def _stop(signum, frame):
    """SIGTERM (a timeout): stop what runs now, skip the rest, write and print what was
    measured. The training loop treats the KeyboardInterrupt as Ctrl-C; the flag outlives it."""
    STOP["by"] = f"signal {signum}"
    raise KeyboardInterrupt(STOP["by"])


def main(argv=None) -> int:
    """Run the sections in order, each recorded as it goes; the summary last. Exit status 1
    when a correctness check failed, 2 for bad input."""
    p = parser()
    args = p.parse_args(argv)
    check_args(p, args)
    sizes = TINY if args.tiny else FULL
    if args.max_models:
        sizes = replace(sizes, max_models=args.max_models)
    args.only = args.only or list(SECTIONS)
    if torch.device(args.device).index is not None:
        torch.cuda.set_device(torch.device(args.device).index)
    tune_allocator()  # as training does
    session = Session(args, sizes)
    session.save()
    signal.signal(signal.SIGTERM, _stop)
    try:
        for name in SECTIONS:
            if name not in args.only:
                session.section(name)["status"] = "skipped (--only)"
                continue
            print(f"\n{name}", flush=True)
            try:
                RUNNERS[name](session)
            except Exception as err:  # noqa: BLE001 - one section failing leaves the others
                session.section(name).update(status="error", error=one_line(err))
                print(f"  error: {one_line(err)}", flush=True)
                reset_memory(session.device)
            session.save()
        session.data["status"] = "complete"
    except KeyboardInterrupt:
        STOP["by"] = STOP["by"] or "Ctrl-C"
    if STOP["by"]:
        session.data["status"] = f"interrupted ({STOP['by']})"
    session.save()
    print_summary(session.data, args.out)
    return 0 if session.data["summary"]["checks_failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
