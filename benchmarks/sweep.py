"""Wall time per run of the sweep engines, side by side in one run, at the quick profile.

    python benchmarks/sweep.py                  # 8 random-weight runs, full quick profile
    python benchmarks/sweep.py --runs 4 --steps 60     # a short check

Every engine trains the same planned runs (same seeds, same weights) into its own temporary
output folder, with videos and TensorBoard logs as a real sweep writes them. It prints the wall
time per run, the ratio to the sequential engine, the best PSNR reached, and the projected time
of `python sweep.py --random-weights 100` for each engine.
"""
import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from inr.config import profile_config
from inr.sweep.experiments import load_experiment
from inr.sweep.planning import plan
from inr.sweep.engine import run_sweep

MAIN_JOB_RUNS = 100  # python sweep.py --random-weights 100


def time_engine(runs_of, engine: str, max_models: int) -> tuple[float, float]:
    """(seconds per run, best final PSNR) of one engine on freshly planned runs."""
    out = Path(tempfile.mkdtemp(prefix=f"bench-{engine}-"))
    try:
        runs = runs_of(out)
        start = time.perf_counter()
        outcome = run_sweep(runs, engine=engine, max_models=max_models, progress=False,
                            report=lambda *_: None)
        seconds = time.perf_counter() - start
        best = max((r.metrics["psnr"] for r in outcome.done), default=float("nan"))
        return seconds / len(runs), best
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=8, help="random-weight runs per engine (default 8)")
    p.add_argument("--steps", type=int, help="override the quick profile's steps")
    p.add_argument("--max-models", type=int, nargs="+", default=[2, 4, 8],
                   help="ensemble sizes to try with the batched engine (default: 2 4 8)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    base = profile_config("quick")
    if args.steps:
        base = base.replace(train={"steps": args.steps})
    exp = load_experiment("random-weights")
    runs_of = lambda out: plan([exp], base, out, random_weights=args.runs)  # noqa: E731
    t = base.train
    print(f"quick profile: {base.data.size}^2, {base.data.frames} frames, width "
          f"{base.model.width} x {base.model.depth}, {t.steps} steps of {t.points} points; "
          f"{args.runs} random-weight runs per engine; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    rows = [("sequential", 1, *time_engine(runs_of, "sequential", 1))]
    for m in args.max_models:
        rows.append((f"batched M={m}", m, *time_engine(runs_of, "batched", m)))
    ref = rows[0][2]
    print(f"{'engine':<14} {'s/run':>7} {'vs sequential':>14} {'best psnr':>10} "
          f"{'100 runs':>9}")
    for name, _, per_run, best in rows:
        print(f"{name:<14} {per_run:7.2f} {ref / per_run:13.2f}x {best:10.2f} "
              f"{per_run * MAIN_JOB_RUNS / 60:7.1f} min")


if __name__ == "__main__":
    main()
