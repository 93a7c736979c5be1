"""The loss-weight search on Ray Tune (inr.sweep.ray_search): its searcher on its own (zero
vectors, diverged runs, trials left asked), its trial on its own (a done run is read, not
trained), and whole searches of tiny runs on a local 2-CPU Ray instance: the values Optuna is
told, the run records and report rows, a rerun, and a restored interrupted search; and
without Ray, the one-line install hint.

All but the last are skipped when ray is not installed (pip install -e '.[ray]'); one Ray
instance (module fixture) serves the searches, since starting Ray takes seconds.
"""
import json
import math
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from inr.artefacts.rundir import RunDir, RunResult, record
from inr.artefacts.tree import OutputTree, search_run_name
from inr.config import RunConfig, profile_config
from inr.report.rows import collect
from inr.report.search import hypervolume_rows
from inr.sweep.ray_backend import RayOptions
from inr.sweep.search import SearchOptions, open_study, planned_trial, weights_of
from inr.vocabulary import MSE_TERMS

VARIANCES = {"value": 0.05, "grad": 0.36, "laplacian": 108.0, "dt": 0.044}


def _base() -> RunConfig:
    return profile_config("quick").replace(data={"size": 32, "frames": 4}, model={"width": 16},
                                           train={"steps": 12})


def _ray_search():
    pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    from inr.sweep import ray_search
    return ray_search


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _records(out: Path) -> dict[str, dict]:
    """Every run record under runs/, by run name."""
    return {p.parent.relative_to(out / "runs").as_posix(): json.loads(p.read_text())
            for p in (out / "runs").rglob("metrics.json")}


def _mtimes(out: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("metrics.json")}


# ----------------------------------------------------------------------------- without Ray

def test_the_module_imports_without_ray_and_a_search_needs_it_in_one_line(tmp_path,
                                                                          monkeypatch):
    code = "import sys, inr.sweep.ray_search; print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    from inr.sweep.ray_search import run_search_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(RuntimeError) as err:
        run_search_ray(_base(), OutputTree(tmp_path), SearchOptions("tpe", 2),
                       RayOptions(out=str(tmp_path)))
    assert str(err.value) == "the ray backend needs Ray: pip install -e '.[ray]'"
    assert not list(tmp_path.iterdir())  # no study, no experiment


# ----------------------------------------------------------------------------- without a cluster

def test_the_searcher_skips_zero_vectors_fails_diverged_runs_and_finishes_what_it_left(tmp_path):
    """WeightSearch (no Ray instance needed): over a {1, 0} box, the random sampler (seed 0)
    proposes all-zero vectors at its 1st and 10th asks; those are told failed and never
    suggested. A nan result is told failed, finite values complete; a trial that raised or
    reported nothing stays asked, and the next searcher on the study suggests exactly those
    first, then asks new trials."""
    from optuna.trial import TrialState

    ray_search = _ray_search()
    base, tree = _base(), OutputTree(tmp_path)
    url = f"sqlite:///{tmp_path / 'search.db'}"
    options = SearchOptions("random", 12, seed=0, batch=4, choices=(1.0, 0.0), storage=url)
    searcher = ray_search.WeightSearch(base, options, url)
    suggested = {f"t{i}": searcher.suggest(f"t{i}") for i in range(12)}
    study = open_study(base, options, tree)
    trials = {t.number: t for t in study.get_trials()}
    assert len(trials) == 14
    zeros = [n for n, t in trials.items() if not any(weights_of(t.params, options.choices))]
    assert zeros == [0, 9]
    for n in zeros:
        assert trials[n].state == TrialState.FAIL and "run" not in trials[n].user_attrs["asked"]
    assert sorted(s["trial"] for s in suggested.values()) == [n for n in range(14)
                                                               if n not in zeros]
    for s in suggested.values():
        trial = trials[s["trial"]]
        weights = weights_of(s["weights"], options.choices)
        assert any(weights) and s["weights"] == trial.params
        assert s["search_batch"] == s["trial"] // 4
        assert trial.state == TrialState.RUNNING
        assert trial.user_attrs["asked"]["run"] == search_run_name(
            base.replace(loss=dict(zip(MSE_TERMS, weights))), "random", 0)

    searcher.on_trial_complete("t0", {"pixel": math.nan, "grad": math.nan, "trained": 1})
    searcher.on_trial_complete("t1", {"pixel": -1.5, "grad": -0.25, "trained": 1})
    searcher.on_trial_complete("t2", error=True)
    searcher.on_trial_complete("t3")  # stopped by Tune before it reported
    states = {t.number: t for t in study.get_trials()}
    assert states[suggested["t0"]["trial"]].state == TrialState.FAIL
    assert states[suggested["t1"]["trial"]].values == [-1.5, -0.25]
    left = sorted(n for n, t in states.items() if t.state == TrialState.RUNNING)
    assert left == sorted(s["trial"] for k, s in suggested.items() if k not in ("t0", "t1"))

    again = ray_search.WeightSearch(base, options, url)  # the next call's searcher
    resumed = [again.suggest(f"r{i}")["trial"] for i in range(len(left) + 1)]
    assert resumed[:-1] == left and resumed[-1] >= 14  # new (its sampler's draws restart)
    assert any(weights_of(study.trials[resumed[-1]].params, options.choices))


@pytest.mark.parametrize("status", ["completed", "diverged"])
def test_a_trial_reads_a_done_run_and_reports_ln_of_its_mses(tmp_path, monkeypatch, status):
    """search_trial on a run whose folder is done trains nothing and reports ln of its pixel
    and grad MSEs, or nan for both where the run diverged."""
    from ray import tune

    ray_search = _ray_search()
    base, tree = _base(), OutputTree(tmp_path)
    options = SearchOptions("tpe", 4, batch=2)
    weights = (1.0, 0.1, 0.0, 0.001)
    run = planned_trial(base, tree, options, weights, 3, 1, 0.0)
    mse = {"pixel_mse": 0.0123, "grad_mse": 0.456} if status == "completed" else \
        {"pixel_mse": math.nan, "grad_mse": math.nan}
    final = {**mse, "laplacian_mse": 1.0, "dt_mse": 1.0, "psnr": 20.0, "ssim": 0.5,
             "status": status, "seconds": 1.0}
    RunDir.of(run.config).write(record(RunResult(run.config, final, final), VARIANCES))
    assert run.folder().state(run.config) == "done"
    reported = []
    monkeypatch.setattr(tune, "report", reported.append)
    monkeypatch.setattr(ray_search, "train_ensemble", lambda *a, **k: pytest.fail("trained"))
    ray_search.search_trial({
        "base": base.to_dict(), "out": str(tmp_path), "options": asdict(options),
        "locks": str(tmp_path / "locks"), "threads": 1, "trial": 3, "search_batch": 1,
        "ask_seconds": 0.0, "weights": {t: options.choices.index(w)
                                        for t, w in zip(MSE_TERMS, weights)}})
    assert len(reported) == 1 and reported[0]["trained"] == 0
    if status == "completed":
        assert reported[0]["pixel"] == pytest.approx(np.log(0.0123), rel=1e-12)
        assert reported[0]["grad"] == pytest.approx(np.log(0.456), rel=1e-12)
    else:
        assert math.isnan(reported[0]["pixel"]) and math.isnan(reported[0]["grad"])


# ----------------------------------------------------------------------------- on Ray

def _search(out: Path, seed: int, report=lambda _: None):
    from inr.sweep.ray_search import run_search_ray

    options = SearchOptions("tpe", 6, seed=seed, batch=3)
    ray = RayOptions(out=str(out), quiet=True, cpus_per_trial=1)
    return run_search_ray(_base(), OutputTree(out), options, ray, report=report), options


def _told(out: Path, options: SearchOptions) -> list:
    """The study's told trials that had a run (not the all-zero vectors)."""
    return [t for t in open_study(_base(), options, OutputTree(out)).get_trials()
            if t.state.name in ("COMPLETE", "FAIL") and "run" in t.user_attrs["asked"]]


def test_a_tpe_search_on_ray_tells_ln_of_each_runs_mses_and_labels_its_runs(ray_instance,
                                                                            tmp_path):
    """6 tpe trials, 3 at once: each trial's run trains once; Optuna is told ln of the
    final pixel and grad MSEs in the run's metrics.json; at most 3 trials are asked and not
    yet told at any time, and the first 3 are asked together; the records are tagged with the
    search and carry its labels, so the report's rows and hypervolume.csv see them. A rerun
    trains nothing and touches no record."""
    out = tmp_path / "out"
    outcome, options = _search(out, seed=0)
    told = _told(out, options)
    records = _records(out)
    runs = {t.user_attrs["asked"]["run"] for t in told}
    assert len(told) == 6 and outcome.told == 6 and not outcome.interrupted
    assert set(records) == runs and outcome.trained == len(runs)
    assert outcome.reused == 6 - len(runs)
    for t in told:
        assert t.state.name == "COMPLETE"
        final = records[t.user_attrs["asked"]["run"]]["final"]
        assert t.values == pytest.approx(np.log([final["pixel_mse"], final["grad_mse"]]),
                                         rel=1e-12, abs=0)
        assert records[t.user_attrs["asked"]["run"]]["config"]["loss"]["pixel"] == \
            options.choices[t.params["pixel"]]
    # parallel batches: intervals from asked to told overlap 3 at a time, never more
    events = sorted([(t.datetime_start, 1) for t in told] + [(t.datetime_complete, -1)
                                                             for t in told])
    live = np.cumsum([e for _, e in events])
    assert live.max() == 3 and list(live[:3]) == [1, 2, 3]

    rows = collect(OutputTree(out))
    numbers = {t.number for t in told}
    assert len(rows) == len(runs)
    for row in rows:
        assert (row["search"], int(row["search_seed"])) == ("tpe", 0)
        assert "search" in row["experiments"].split(";")
        assert row["stage"] == "screening" and row["role"] == "searched"
        assert int(row["trial"]) in numbers
        assert int(row["search_batch"]) == int(row["trial"]) // 3
    table = hypervolume_rows(rows)
    assert [r["stage"] for r in table] == ["screening"] * len({r["search_batch"] for r in rows})
    assert table[-1]["runs"] == len(rows)

    before = _mtimes(out)
    again, _ = _search(out, seed=0)
    assert (again.told, again.trained, again.reused) == (0, 0, 0)
    assert _mtimes(out) == before and len(_told(out, options)) == 6


def test_an_interrupted_search_is_restored_and_trains_only_what_is_missing(ray_instance,
                                                                           tmp_path):
    """A search interrupted (SIGINT, as Ctrl-C) once its second trial is told; the same call
    again restores Tune's experiment with its searcher, finishes the trials in flight, asks
    the rest, and trains no run that had finished: 6 trials told in all."""
    from inr.sweep import ray_search

    out = tmp_path / "out"
    searcher = ray_search.WeightSearch
    complete = searcher.on_trial_complete
    seen = []

    def interrupt_after_two(self, trial_id, result=None, error=False):
        complete(self, trial_id, result, error)
        if result is not None:
            seen.append(trial_id)
            if len(seen) == 2:
                signal.raise_signal(signal.SIGINT)  # Tune's handler: stop and save

    searcher.on_trial_complete = interrupt_after_two
    try:
        first, options = _search(out, seed=1)
    finally:
        searcher.on_trial_complete = complete
    assert first.interrupted and first.told == 2
    finished = {path: mtime for path, mtime in _mtimes(out).items()
                if json.loads(path.read_text())["status"] in ("completed", "diverged")}
    assert 2 <= len(finished) < 6
    printed = []
    second, _ = _search(out, seed=1, report=printed.append)
    assert any(line.startswith("ray: resuming search experiment") for line in printed)
    assert not second.interrupted and first.told + second.told == 6
    told = _told(out, options)
    assert len(told) == 6 and all(t.state.name == "COMPLETE" for t in told)
    assert not [t for t in open_study(_base(), options, OutputTree(out)).get_trials()
                if t.state.name == "RUNNING"]
    for path, mtime in finished.items():  # runs finished before were not trained again
        assert path.stat().st_mtime_ns == mtime
    runs = {t.user_attrs["asked"]["run"] for t in told}
    assert set(_records(out)) == runs
    assert second.trained == len(runs) - len(finished)
