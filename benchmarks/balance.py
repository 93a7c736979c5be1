"""What adaptive loss balancing costs, side by side in one run, at the quick profile.

    python benchmarks/balance.py                     # 8-model ensembles, 300 steps, 3 rounds
    python benchmarks/balance.py --steps 60 --rounds 1   # a short check

Every scheme trains the same ensemble (the same M weight vectors and seeds, on the fused
derivative path) into its own temporary folder: fixed weights (`none`), learning-rate annealing
(`lra`) with its per-term parameter gradients every 10 steps (the default, as the authors'
code) and every step, ReLoBRaLo and SoftAdapt (loss values only, no extra backward pass).
The schemes are interleaved round by round, and each line gives the median wall time over the
rounds and its ratio to fixed weights: the price of balancing, and of lra's extra backward
pass per MSE term every k steps.
"""
import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from inr.config import profile_config
from inr.training.loop import train_ensemble

# (label, loss.balance, loss.balance_every)
SCHEMES = (("none", "none", 10), ("lra, every 10 steps", "lra", 10),
           ("lra, every step", "lra", 1), ("relobralo", "relobralo", 10),
           ("softadapt", "softadapt", 10))
START = {"pixel": 1.0, "grad": 0.01, "laplacian": 0.001, "dt": 0.0}  # the original's best


def ensemble(base, scheme: str, every: int, models: int, out: Path) -> list:
    """The ensemble's configs: the original's best vector as every member's start, seeds
    0..models-1, writing into `out`."""
    return [base.replace(loss={**START, "balance": scheme, "balance_every": every},
                         train={"seed": seed},
                         output={"run_dir": str(out / f"m{seed}"), "video": None,
                                 "progress": False})
            for seed in range(models)]


def time_scheme(base, scheme: str, every: int, models: int) -> float:
    """Wall seconds of one ensemble's training (data, model, steps, evaluations, outputs)."""
    out = Path(tempfile.mkdtemp(prefix=f"bench-balance-{scheme}-"))
    try:
        configs = ensemble(base, scheme, every, models, out)
        start = time.perf_counter()
        train_ensemble(configs, progress=False)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=8, help="models per ensemble (default 8)")
    p.add_argument("--steps", type=int, help="override the quick profile's steps (300)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    args = p.parse_args(argv)
    base = profile_config("quick")
    if args.steps:
        base = base.replace(train={"steps": args.steps})
    print(f"quick profile: {base.data.size}^2, {base.data.frames} frames, width "
          f"{base.model.width} x {base.model.depth}, {base.train.steps} steps; ensembles of "
          f"{args.models}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"median of {args.rounds} interleaved rounds")
    time_scheme(base.replace(train={"steps": 10}), "none", 10, args.models)  # warm-up: kernel
    seconds = {label: [] for label, _, _ in SCHEMES}
    for _ in range(args.rounds):
        for label, scheme, every in SCHEMES:
            seconds[label].append(time_scheme(base, scheme, every, args.models))
    fixed = statistics.median(seconds["none"])
    print(f"{'scheme':<22} {'seconds':>8} {'vs fixed':>9}   all rounds")
    for label, _, _ in SCHEMES:
        median = statistics.median(seconds[label])
        print(f"{label:<22} {median:8.1f} {median / fixed:8.2f}x   "
              + " ".join(f"{s:.1f}" for s in seconds[label]))


if __name__ == "__main__":
    main()
