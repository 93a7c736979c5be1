"""Loss-weight search (inr.sweep.search) on planted problems, without training: an executor
that writes each planned run's record with objectives computed from its weights stands in for
the engine, so the tests see the search's own behaviour: what it asks, tells, stores and
resumes."""
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from inr.artefacts.rundir import RunDir, RunResult, record
from inr.artefacts.tree import OutputTree
from inr.config import RunConfig
from inr.stats.hypervolume import hypervolume
from inr.sweep.engine import SweepOutcome, split_done
from inr.sweep.search import SearchOptions, open_study, run_search, study_name, weights_of
from inr.vocabulary import MSE_TERMS

VARIANCES = {"value": 0.05, "grad": 0.36, "laplacian": 108.0, "dt": 0.044}
CHOICES = (1.0, 0.1, 0.01, 0.001, 0.0)
REFERENCE = (40.0, 40.0)


def planted(weights):
    """A planted 2-objective problem on the weights' indices x in CHOICES (0..4): the first
    objective wants x_pixel = 0, the second x_pixel = 4; both want x_grad = 0, x_laplacian = 2
    and x_dt = 1. Its front: those three fixed, x_pixel anywhere, objectives (k^2, (k - 4)^2)
    for k = 0..4 (k = 4 is a zero pixel weight, still a valid vector)."""
    x = {t: CHOICES.index(w) for t, w in zip(MSE_TERMS, weights)}
    shared = 3 * x["grad"] ** 2 + 3 * (x["laplacian"] - 2) ** 2 + 3 * (x["dt"] - 1) ** 2
    return x["pixel"] ** 2 + shared, (x["pixel"] - 4) ** 2 + shared


TRUE_FRONT_HV = hypervolume([(k ** 2, (k - 4) ** 2) for k in range(5)], REFERENCE)


class PlantedEngine:
    """Stands in for run_sweep: skips done runs as the engine does, and 'trains' the others by
    writing a record whose MSEs are exp of the planted objectives (`objectives`: weights ->
    (ln pixel MSE, ln grad MSE), default `planted`); `stop_after` batches, it reports an
    interruption instead (a killed search)."""

    def __init__(self, stop_after=None, objectives=planted):
        self.trained, self.batches, self.stop_after = [], 0, stop_after
        self.objectives = objectives

    def __call__(self, runs):
        outcome = SweepOutcome()
        if self.stop_after is not None and self.batches >= self.stop_after:
            outcome.interrupted = True
            return outcome
        self.batches += 1
        for run in split_done(runs, outcome, report=lambda _: None):
            first, second = self.objectives(run.config.loss.betas)
            final = {"pixel_mse": math.exp(first), "grad_mse": math.exp(second),
                     "laplacian_mse": 1.0, "dt_mse": 1.0, "psnr": 20.0, "ssim": 0.5,
                     "status": "completed", "seconds": 1.0}
            result = RunResult(run.config, final, final)
            RunDir.of(run.config).write(record(result, VARIANCES))
            outcome.done.append(result)
            self.trained.append(run.name)
        return outcome


@pytest.fixture
def fast_storage(tmp_path):
    """A SQLite URL on a memory file system where there is one (/dev/shm): the sampler tests ask
    hundreds of trials, and each costs a few commits, slow on a disk that syncs; the resume test
    keeps the default file under results/."""
    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path
    yield lambda name: f"sqlite:///{folder / name}.db"
    if folder != tmp_path:
        shutil.rmtree(folder, ignore_errors=True)


def _front_hv(study):
    return hypervolume([t.values for t in study.trials if t.values is not None], REFERENCE)


def _search(tmp_path, strategy, seed, trials, engine=None, batch=8, storage=None):
    options = SearchOptions(strategy, trials, seed=seed, batch=batch, storage=storage)
    tree = OutputTree(tmp_path)
    engine = engine or PlantedEngine()
    outcome = run_search(RunConfig(), tree, options, engine, report=lambda _: None)
    return open_study(RunConfig(), options, tree), outcome, engine


def test_tpe_finds_a_better_front_than_random_at_the_same_budget_on_a_planted_problem(
        tmp_path, fast_storage):
    """Over 5 search seeds at 48 trials (6 batches of 8), TPE's final hypervolume exceeds
    random search's on every seed; neither exceeds the true front's."""
    for seed in range(5):
        tpe = _front_hv(_search(tmp_path / f"tpe{seed}", "tpe", seed, 48,
                                storage=fast_storage(f"tpe{seed}"))[0])
        rnd = _front_hv(_search(tmp_path / f"random{seed}", "random", seed, 48,
                                storage=fast_storage(f"random{seed}"))[0])
        assert rnd < tpe <= TRUE_FRONT_HV + 1e-9, (seed, tpe, rnd)


def test_the_gp_sampler_spreads_a_batch_asked_together(tmp_path, fast_storage):
    """After its 10 random start-up trials, the GP sampler asks batches of 4 while the earlier
    ones are pending (qLogEHVI): no batch repeats a vector, and the search ends with exactly its
    trials told."""
    study, outcome, engine = _search(tmp_path, "gp", 0, 18, batch=4, storage=fast_storage("gp"))
    counted = [t for t in study.trials if "run" in t.user_attrs["asked"]]
    assert len(counted) == 18
    for batch in {t.user_attrs["asked"]["batch"] for t in counted}:
        vectors = [tuple(t.params.values()) for t in counted
                   if t.user_attrs["asked"]["batch"] == batch]
        assert len(set(vectors)) == len(vectors), (batch, vectors)


def test_a_killed_search_continues_and_every_trial_runs_once(tmp_path):
    """A search killed after 2 of its batches, rerun with the same command, finishes the batch
    it had asked and asks only what is missing: 30 trials told, each once, no run trained twice,
    and no more runs than an uninterrupted search of the same budget trains."""
    killed = PlantedEngine(stop_after=2)
    study, first, _ = _search(tmp_path, "tpe", 3, 30, engine=killed)
    assert first.interrupted
    asked_before = {t.number for t in study.trials if t.state.name == "RUNNING"}
    assert len(asked_before) == 8  # the third batch: asked, not told
    resumed = PlantedEngine()
    study, second, _ = _search(tmp_path, "tpe", 3, 30, engine=resumed)
    assert not second.interrupted
    told = [t for t in study.trials if t.state.name in ("COMPLETE", "FAIL")]
    counted = [t for t in told if "run" in t.user_attrs["asked"]]
    assert len(counted) == 30 and len({t.number for t in told}) == len(told)
    assert not [t for t in study.trials if t.state.name == "RUNNING"]
    assert asked_before <= {t.number for t in told}
    trained = killed.trained + resumed.trained
    assert len(trained) == len(set(trained))  # no run twice
    assert len(trained) == len({t.user_attrs["asked"]["run"] for t in counted})
    # every told value is the planted one of the trial's own weights
    for t in counted:
        assert t.values == pytest.approx(planted(weights_of(t.params, CHOICES)))


def test_a_resumed_search_draws_new_trials_instead_of_replaying_its_first(tmp_path,
                                                                          fast_storage):
    """A random search of 8 trials continued to 16: had its sampler restarted from its first
    seed, trials 8-15 would propose trials 0-7's vectors again, in order (runs reused, no new
    point); the resumed sampler is seeded from (seed, trials asked) instead."""
    from inr.sweep.search import sampler_seed
    storage = fast_storage("resumed")
    first, _, _ = _search(tmp_path, "random", 0, 8, storage=storage)
    replayed = [weights_of(t.params, CHOICES) for t in first.trials]
    study, outcome, _ = _search(tmp_path, "random", 0, 16, storage=storage)
    asked = [weights_of(t.params, CHOICES) for t in study.trials]
    assert asked[:8] == replayed and len(asked) >= 16
    assert asked[8:16] != replayed  # a replay would be equal, element by element
    assert sampler_seed(5, 0) == 5 and sampler_seed(5, 8) != sampler_seed(5, 16) != 5


def test_searches_are_their_own_studies_and_bad_options_are_one_line_errors(tmp_path):
    base = RunConfig()
    names = {study_name(base, SearchOptions(s, 4, seed=k)) for s in ("tpe", "gp", "random")
             for k in (0, 1)}
    assert len(names) == 6
    assert study_name(base, SearchOptions("tpe", 4)) != study_name(
        base.replace(schedule={"lr": 1e-3}), SearchOptions("tpe", 4))
    # the loss weights are what a study searches: they do not change its name
    assert study_name(base, SearchOptions("tpe", 4)) == study_name(
        base.replace(loss={"grad": 1.0}), SearchOptions("tpe", 4))
    for kwargs, message in (({"strategy": "nsga"}, "unknown search strategy 'nsga'"),
                            ({"trials": 0}, "--trials needs at least 1"),
                            ({"objectives": ("pixel",)}, "two or three distinct"),
                            ({"objectives": ("pixel", "psnr")}, "two or three distinct")):
        options = {"strategy": "tpe", "trials": 4, **kwargs}
        with pytest.raises(ValueError, match=message):
            SearchOptions(**options)


def test_a_diverged_run_fails_its_trial_and_the_search_goes_on(tmp_path):
    class Diverging(PlantedEngine):
        def __call__(self, runs):
            outcome = super().__call__(runs)
            for result in outcome.done[:1]:  # the batch's first run diverged
                saved = RunDir.of(result.config).read()
                saved["final"] = {**saved["final"], "pixel_mse": float("nan"),
                                  "grad_mse": float("nan"), "status": "diverged"}
                RunDir.of(result.config).write(saved)
            return outcome
    study, outcome, _ = _search(tmp_path, "random", 0, 16, engine=Diverging())
    states = [t.state.name for t in study.trials if "run" in t.user_attrs["asked"]]
    assert len(states) == 16 and states.count("FAIL") >= 1 and states.count("COMPLETE") >= 12


def test_the_space_is_the_random_weights_box():
    assert weights_of({"pixel": 0, "grad": 1, "laplacian": 2, "dt": 4}, CHOICES) == (
        1.0, 0.1, 0.01, 0.0)
    assert SearchOptions("tpe", 1, choices=(0.0, 0.1, 1.0)).choices == (1.0, 0.1, 0.0)
    assert np.isclose(TRUE_FRONT_HV, hypervolume([(0, 16), (1, 9), (4, 4), (9, 1), (16, 0)],
                                                 REFERENCE))


TINY = ["--size", "32", "--frames", "4", "--width", "16", "--steps", "12", "--quiet",
        "--no-video"]


def test_a_search_sweep_end_to_end_records_its_trials_and_measures_its_fronts(tmp_path,
                                                                               monkeypatch):
    """`sweep.py --search tpe,random` on tiny runs: each search trains its trials, labelled in
    summary.csv; hypervolume.csv holds a screening row per batch and a fresh row per search,
    with the reference point at ln of the targets' variances; the report answers in its own
    section and draws hypervolume.png; a rerun trains nothing. Twelve-step runs do not beat
    predicting each target's mean, so their hypervolume is 0; the report is then rebuilt with
    a reference point far above every run, and each fresh front's hypervolume recomputed here
    by hand (the mean ln MSEs over the fresh seeds, then a staircase sum)."""
    import csv

    import inr.report.search
    from inr.cli import main
    from inr.report import build_report
    from inr.artefacts.tree import OutputTree
    out = tmp_path / "out"
    argv = ["--search", "tpe,random", "--trials", "4", "--search-seeds", "2", "--search-batch",
            "2", "--confirm-seeds", "2", "--out", str(out), *TINY]
    assert main(argv) == 0
    rows = list(csv.DictReader(open(out / "results" / "summary.csv")))
    screening = [r for r in rows if r["stage"] == "screening"]
    assert {(r["search"], r["search_seed"]) for r in rows} == {
        (s, k) for s in ("tpe", "random") for k in ("0", "1")}
    for s in ("tpe", "random"):
        for k in ("0", "1"):
            own = [r for r in screening if (r["search"], r["search_seed"]) == (s, k)]
            assert 1 <= len(own) <= 4  # a vector asked twice trains once
            assert all(r["role"] == "searched" and f"/search/{s}-seed{k}/" in r["name"] for r in own)
    table = list(csv.DictReader(open(out / "results" / "hypervolume.csv")))
    first = rows[0]
    for t in table:
        assert [float(v) for v in t["reference_point"].split()] == pytest.approx(
            [math.log(float(first["variance_value"])), math.log(float(first["variance_grad"]))],
            rel=1e-5)  # written to 6 significant digits
    far = (10.0, 10.0)
    monkeypatch.setattr(inr.report.search, "reference_point", lambda variances, names: far)
    build_report(OutputTree(out))
    table = list(csv.DictReader(open(out / "results" / "hypervolume.csv")))
    assert list(table[0]) == ["image", "strategy", "search_seed", "runs", "seconds",
                              "hypervolume", "stage", "reference_point"]
    fresh = [t for t in table if t["stage"] == "fresh"]
    assert len(fresh) == 4
    for t in fresh:
        confirmed = [r for r in rows if r["stage"] == "confirmation"
                     and (r["search"], r["search_seed"]) == (t["strategy"], t["search_seed"])]
        assert {r["seed"] for r in confirmed} == {"1", "2"}
        points = {}
        for r in confirmed:
            points.setdefault(r["configuration"], []).append(
                (math.log(float(r["pixel_mse"])), math.log(float(r["grad_mse"]))))
        means = [tuple(np.mean(v, axis=0)) for v in points.values()]
        ref = far
        front = sorted(means)
        area, low = 0.0, ref[1]
        for i, (x, y) in enumerate(front):
            low = min(low, y)
            area += ((front[i + 1][0] if i + 1 < len(front) else ref[0]) - x) * (ref[1] - low)
        assert area > 0 and float(t["hypervolume"]) == pytest.approx(area, rel=1e-9)
    report = (out / "results" / "REPORT.md").read_text()
    assert "## Searching the weights" in report and "**tpe** on cameraman" in report
    assert (out / "results" / "hypervolume.png").is_file()
    before = len(list((out / "runs").rglob("metrics.json")))
    assert main(argv) == 0
    assert len(list((out / "runs").rglob("metrics.json"))) == before


def test_strategies_are_compared_paired_by_search_seed_with_a_t_interval():
    """The paired comparison of fresh hypervolumes: mean, t interval on n - 1 degrees of
    freedom and two-sided p, against the formulas written out with scipy's t quantiles."""
    from scipy import stats

    from inr.report.search import _paired
    d = np.array([8.0, -2.5, 16.6])
    se = d.std(ddof=1) / math.sqrt(3)
    half = stats.t.ppf(0.975, 2) * se
    expected = (d.mean(), d.mean() - half, d.mean() + half,
                2 * stats.t.sf(abs(d.mean()) / se, 2))
    assert _paired(d) == pytest.approx(expected, rel=1e-12)
    assert all(math.isnan(v) for v in _paired([1.0])[1:])


def test_the_fresh_front_counts_only_configurations_on_the_final_front():
    """A search continued after its front was re-measured: a configuration the final front no
    longer holds (C, dominated by B) keeps its fresh runs, but they do not count, however good;
    the fresh hypervolume is that of A's and B's mean points, by hand: a staircase below the
    reference point (ln 0.05, ln 0.36)."""
    from inr.report.search import search_history
    variances = {f"variance_{f}": v for f, v in VARIANCES.items()}
    base = {"image": "camera", "search": "tpe", "search_seed": "0", "status": "completed",
            "seconds": "1", "ask_seconds": "0", **variances}

    def row(name, trial, stage, pixel, grad, seed=0):
        return {**base, "configuration": name, "trial": str(trial), "search_batch": "0",
                "stage": stage, "seed": str(seed), "pixel_mse": math.exp(pixel),
                "grad_mse": math.exp(grad)}
    screening = [row("A", 0, "screening", -9, -5), row("B", 1, "screening", -8, -6),
                 row("C", 2, "screening", -7.5, -5.5)]
    fresh = [row("A", 0, "confirmation", -8.8, -4.8, 1), row("A", 0, "confirmation", -9.2, -5.2, 2),
             row("B", 1, "confirmation", -7.9, -6.1, 1), row("B", 1, "confirmation", -8.1, -5.9, 2),
             row("C", 2, "confirmation", -20, -20, 1), row("C", 2, "confirmation", -20, -20, 2)]
    table = search_history(screening + fresh)
    ref = (math.log(0.05), math.log(0.36))
    a, b = (-9.0, -5.0), (-8.0, -6.0)  # the mean points over the two fresh seeds
    by_hand = (b[0] - a[0]) * (ref[1] - a[1]) + (ref[0] - b[0]) * (ref[1] - b[1])
    got = [t for t in table if t["stage"] == "fresh"]
    assert len(got) == 1 and got[0]["hypervolume"] == pytest.approx(by_hand, rel=1e-9)
