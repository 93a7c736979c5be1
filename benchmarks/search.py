"""Throughput of a loss-weight search against the random sweep, side by side in one run, at the
quick profile; and how diverse a batch each sampler asks.

    python benchmarks/search.py                      # 24 runs each, batches of 4 and 8
    python benchmarks/search.py --runs 8 --steps 60  # a short check

Throughput: the random sweep (`--random-weights N`: planned, then trained by the batched
engine in ensembles of 8) and each search strategy (`inr.sweep.search.run_search`, asking a
batch, training it as one ensemble, telling it) train the same number of runs into their own
temporary folders with the default SQLite storage. It prints runs per minute and the ratio to
the random sweep: the issue's goal is a batched search at 90% or more of it. The batch size
trades speed (larger ensembles) against feedback rounds (the sampler learns after each batch).

Diversity: on the planted problem of tests/test_search.py (no training), the mean distance
between the index vectors of the trials asked together in one batch, after the samplers'
10 start-up trials; a sampler that ignored pending trials would ask near-duplicates (distance
near 0), random search sets the scale.
"""
import argparse
import itertools
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from inr.artefacts.tree import OutputTree
from inr.config import profile_config
from inr.sweep.engine import SweepOutcome, run_sweep, split_done
from inr.sweep.experiments import load_experiment
from inr.sweep.planning import plan
from inr.sweep.search import STRATEGIES, SearchOptions, open_study, run_search


def random_sweep(base, runs: int, batch: int) -> float:
    """Seconds for the random sweep's `runs` drawn vectors (references left out)."""
    out = Path(tempfile.mkdtemp(prefix="bench-random-"))
    try:
        planned = [r for r in plan([load_experiment("random-weights")], base, out,
                                   random_weights=runs, videos=False)
                   if r.config.output.role == "drawn"][:runs]
        start = time.perf_counter()
        run_sweep(planned, max_models=batch, progress=False, report=lambda *_: None)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)


def search(base, strategy: str, runs: int, batch: int) -> tuple[float, int]:
    """(seconds, runs trained) of one search of `runs` trials."""
    out = Path(tempfile.mkdtemp(prefix=f"bench-{strategy}-"))
    try:
        execute = lambda planned: run_sweep(planned, max_models=batch, progress=False,  # noqa
                                            report=lambda *_: None)
        start = time.perf_counter()
        done = run_search(base, OutputTree(out), SearchOptions(strategy, runs, batch=batch),
                          execute, report=lambda *_: None)
        return time.perf_counter() - start, done.trained
    finally:
        shutil.rmtree(out, ignore_errors=True)


def batch_diversity(strategy: str, seeds: int, trials: int, batch: int) -> float:
    """Mean pairwise Euclidean distance between the index vectors asked in one batch, over the
    batches after the start-up trials, on the planted problem (tests/test_search.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_search import PlantedEngine
    distances = []
    for seed in range(seeds):
        out = Path(tempfile.mkdtemp(prefix="bench-div-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
        try:
            options = SearchOptions(strategy, trials, seed=seed, batch=batch,
                                    storage=f"sqlite:///{out}/s.db")
            run_search(profile_config("quick"), OutputTree(out), options, PlantedEngine(),
                       report=lambda *_: None)
            study = open_study(profile_config("quick"), options, OutputTree(out))
            by_batch = {}
            for t in study.trials:
                by_batch.setdefault(t.user_attrs["asked"]["batch"], []).append(
                    np.array(list(t.params.values()), dtype=float))
            for number, vectors in by_batch.items():
                if number * batch >= 10 and len(vectors) > 1:
                    distances += [float(np.linalg.norm(a - b))
                                  for a, b in itertools.combinations(vectors, 2)]
        finally:
            shutil.rmtree(out, ignore_errors=True)
    return float(np.mean(distances)) if distances else math.nan


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=24, help="runs per strategy (default 24)")
    p.add_argument("--steps", type=int, help="override the quick profile's steps")
    p.add_argument("--batches", type=int, nargs="+", default=[4, 8],
                   help="batch sizes (ensemble sizes) to try (default: 4 8)")
    p.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    p.add_argument("--diversity-seeds", type=int, default=3,
                   help="searches per sampler for the batch diversity (default 3; 0: skip)")
    args = p.parse_args(argv)
    base = profile_config("quick").replace(output={"progress": False})
    if args.steps:
        base = base.replace(train={"steps": args.steps})
    random_sweep(base, min(args.batches), min(args.batches))  # warm-up, untimed: the first
    # ensemble of a process pays for loading the kernel and the imports, which would be
    # charged to whichever line came first
    print(f"quick profile, {base.train.steps} steps; {args.runs} runs per line")
    print(f"{'what':<22}{'batch':>6}{'runs':>6}{'seconds':>9}{'runs/min':>10}{'vs random':>11}")
    for batch in args.batches:
        seconds = random_sweep(base, args.runs, batch)
        rate = 60 * args.runs / seconds
        print(f"{'random sweep':<22}{batch:>6}{args.runs:>6}{seconds:>9.1f}{rate:>10.1f}"
              f"{1.0:>11.2f}")
        for strategy in args.strategies:
            took, trained = search(base, strategy, args.runs, batch)
            own = 60 * trained / took
            print(f"{'search ' + strategy:<22}{batch:>6}{trained:>6}{took:>9.1f}{own:>10.1f}"
                  f"{own / rate:>11.2f}")
    if args.diversity_seeds:
        print("\nmean distance between the index vectors of one batch (batches of 8, after 10 "
              "start-up trials; planted problem, no training)")
        for strategy in args.strategies:
            print(f"  {strategy:<8}{batch_diversity(strategy, args.diversity_seeds, 42, 8):.2f}")


if __name__ == "__main__":
    main()
