"""Where a run of the main job spends its time: steps, evaluations, panels, video, logging, files.

    python benchmarks/run_split.py                 # 16 random-weight runs at the quick profile
    python benchmarks/run_split.py --runs 8 --steps 100
    python benchmarks/run_split.py --main-job      # the main job itself, timed and split

Trains random-weight runs at the quick profile exactly as `python sweep.py --random-weights N`
does (batched engine, default ensemble size, videos and TensorBoard logs; with --main-job, N =
100 and the default confirmation stage, i.e. `python sweep.py --random-weights 100` into a
temporary folder), with timers wrapped around the suite's functions. Each category's time excludes the categories called inside it
(a panel rendered for a video counts as panels, not video). Prints seconds per run and the share
of each category, and the main job's time projected from them.
"""
import argparse
import shutil
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import torch

import inr.artefacts.outputs
import inr.artefacts.rundir
import inr.training.loop
from inr.config import profile_config
from inr.sweep.experiments import load_experiment
from inr.sweep.planning import plan
from inr.artefacts.panels import PanelRenderer
from inr.sweep.engine import run_sweep
from inr.sweep.stages import CONFIRM_SEEDS, CONFIRM_TOP, run_confirmed

# 100 drawn + 2 reference vectors, and 5 fresh seeds for up to 6 confirmed (sweep.py's defaults)
MAIN_JOB_VECTORS = 100
MAIN_JOB_RUNS = MAIN_JOB_VECTORS + 2 + (2 * CONFIRM_TOP + 2) * CONFIRM_SEEDS


class Split:
    """Exclusive time per category: a category's clock pauses while a nested one runs."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.stack = []  # (category, start of its current exclusive stretch)

    @contextmanager
    def timing(self, category: str):
        now = time.perf_counter()
        if self.stack:
            outer, since = self.stack[-1]
            self.seconds[outer] += now - since
        self.stack.append((category, now))
        try:
            yield
        finally:
            end = time.perf_counter()
            _, since = self.stack.pop()
            self.seconds[category] += end - since
            if self.stack:
                self.stack[-1] = (self.stack[-1][0], end)

    def wrap(self, owner, name: str, category: str) -> None:
        """Time every call of owner.name as `category`."""
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            with self.timing(category):
                return inner(*args, **kwargs)

        setattr(owner, name, timed)


CATEGORIES = [  # (owner, attribute, category): where each part of a run is looked up
    (inr.training.loop.TrainingLoop, "step", "steps"),
    (inr.training.loop, "evaluate", "evaluations"),
    (PanelRenderer, "render", "panels"),
    (PanelRenderer, "__init__", "panels"),
    (inr.artefacts.outputs, "write_video", "video"),
    (inr.artefacts.outputs, "log_scalars", "logging"),
    (inr.artefacts.outputs, "log_panel", "logging"),
    (inr.artefacts.outputs, "log_hparams", "logging"),
    (inr.artefacts.outputs, "open_log", "logging"),
    (inr.artefacts.rundir.RunDir, "save_run", "files"),
    (inr.training.loop, "build_data", "data and model"),
    (inr.training.loop, "build_model", "data and model"),
]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=16, help="random-weight runs (default 16)")
    p.add_argument("--steps", type=int, help="override the quick profile's steps")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--main-job", action="store_true",
                   help="time `python sweep.py --random-weights 100` with its confirmation stage "
                   "(ignores --runs and --steps)")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error(f"--runs needs at least 1, got {args.runs}")
    if args.threads:
        torch.set_num_threads(args.threads)
    base = profile_config("quick")
    if args.steps and not args.main_job:
        base = base.replace(train={"steps": args.steps})
    split = Split()
    for owner, name, category in CATEGORIES:
        split.wrap(owner, name, category)
    out = Path(tempfile.mkdtemp(prefix="run-split-"))
    try:
        # the 2 reference vectors come with every plan: draw runs - 2 (at least 1)
        drawn = MAIN_JOB_VECTORS if args.main_job else max(1, args.runs - 2)
        runs = plan([load_experiment("random-weights")], base, out, random_weights=drawn)
        execute = lambda planned: run_sweep(planned, progress=False,  # noqa: E731
                                            report=lambda *_: None)
        start = time.perf_counter()
        with split.timing("other"):
            outcome = run_confirmed(runs, execute, CONFIRM_TOP,
                                    CONFIRM_SEEDS if args.main_job else 0, report=lambda *_: None)
        total = time.perf_counter() - start
        runs = outcome.done
    finally:
        shutil.rmtree(out, ignore_errors=True)
    t = base.train
    print(f"quick profile: {base.data.size}^2, {base.data.frames} frames, width "
          f"{base.model.width} x {base.model.depth}, {t.steps} steps of {t.points} points, "
          f"{len(runs)} runs; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'part':<16}{'s/run':>8}{'share':>8}")
    for category, seconds in sorted(split.seconds.items(), key=lambda kv: -kv[1]):
        print(f"{category:<16}{seconds / len(runs):>8.2f}{100 * seconds / total:>7.0f}%")
    per_run = total / len(runs)
    print(f"{'total':<16}{per_run:>8.2f}{100:>7.0f}%")
    if args.main_job:
        print(f"main job: {len(runs)} runs in {total / 60:.1f} min ({total:.0f} s) wall")
    else:
        print(f"main job ({MAIN_JOB_RUNS} runs at most), projected: "
              f"{per_run * MAIN_JOB_RUNS / 60:.1f} min")


if __name__ == "__main__":
    main()
