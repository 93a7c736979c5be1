"""The weights question after a loss-weight search (inr.sweep.comparison): which vector each
strategy found best, the comparison's runs, and its tests of every balanced vector against the
best fixed one, end to end on tiny runs."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy import stats

from inr.artefacts.tree import OutputTree
from inr.config import RunConfig
from inr.sweep.comparison import (chosen_settings, comparison_runs, search_settings,
                                  strategy_bests)
from inr.sweep.experiments import load_experiment
from inr.sweep.search import SearchOptions, open_study, run_search, weights_of
from inr.vocabulary import BEST_FIXED, MSE_TERMS, ImageRole, Role, Stage
from test_search import CHOICES, VARIANCES, PlantedEngine, fast_storage  # noqa: F401


def planted_logs(weights):
    """ln(pixel MSE), ln(grad MSE) of a planted problem on the weights' indices, below the
    reference point (ln 0.05, ln 0.36) where the indices are near (2, 0, 2, 1)."""
    x = {t: CHOICES.index(w) for t, w in zip(MSE_TERMS, weights)}
    shared = x["grad"] ** 2 + (x["laplacian"] - 2) ** 2 + (x["dt"] - 1) ** 2
    return x["pixel"] ** 2 + shared - 20.0, (x["pixel"] - 4) ** 2 + shared - 20.0


def test_search_settings_read_the_table_and_the_command_line_overrides_it():
    table = {"strategies": ["tpe", "random"], "trials": {"tpe": 8, "random": 20}, "seeds": 2,
             "batch": 4}
    got = search_settings(table, "w.toml")
    assert [(o.strategy, o.trials, o.seed, o.batch) for o in got] == [
        ("tpe", 8, 0, 4), ("tpe", 8, 1, 4), ("random", 20, 0, 4), ("random", 20, 1, 4)]
    got = search_settings(table, "w.toml", strategies=["gp"], trials=5, seeds=1, batch=2)
    assert [(o.strategy, o.trials, o.seed, o.batch) for o in got] == [("gp", 5, 0, 2)]
    for bad, message in (({"trial": 3}, "unknown search key"),
                         ({"trials": {"tpe": 3}}, "no count for gp, random"),
                         ({"seeds": 0}, "search seeds needs a whole number >= 1"),
                         ({"trials": 2.5}, "whole numbers")):
        with pytest.raises(ValueError, match=message):
            search_settings(bad, "w.toml")


def test_each_strategy_chooses_the_trial_whose_point_alone_dominates_the_most(tmp_path,
                                                                             fast_storage):
    """The best vector of each strategy, over its two search seeds, against the single-point
    hypervolume (ref_1 - v_1)(ref_2 - v_2) computed here from each trial's weights."""
    tree, base = OutputTree(tmp_path), RunConfig()
    storage = fast_storage("bests")
    searches = [SearchOptions(s, 12, seed=k, batch=4, storage=storage) for s in ("tpe", "random")
                for k in (0, 1)]
    for options in searches:
        run_search(base, tree, options, PlantedEngine(objectives=planted_logs),
                   report=lambda _: None)
    ref = (math.log(VARIANCES["value"]), math.log(VARIANCES["grad"]))
    got = strategy_bests([base], tree, searches)
    for strategy in ("tpe", "random"):
        scores = {}
        for options in (o for o in searches if o.strategy == strategy):
            for t in open_study(base, options, tree).trials:
                weights = weights_of(t.params, CHOICES)
                if not any(weights):
                    continue
                v = planted_logs(weights)
                scores.setdefault(weights, max(0.0, ref[0] - v[0]) * max(0.0, ref[1] - v[1])
                                  if v[0] < ref[0] and v[1] < ref[1] else 0.0)
        best = max(scores.values())
        assert best > 0
        assert got[strategy][1] == pytest.approx(best, rel=1e-12)
        assert scores[got[strategy][0]] == pytest.approx(best, rel=1e-12)


def test_the_chosen_vectors_are_named_once_and_the_best_is_the_best_fixed():
    bests = {"tpe": ((0.1, 0.01, 0.0, 0.0), 5.0), "gp": ((0.1, 0.01, 0.0, 0.0), 4.0),
             "random": ((0.01, 0.01, 0.001, 0.0), 6.0)}
    settings = chosen_settings(bests)
    assert settings == [
        {"name": "best-tpe+gp", "pixel": 0.1, "grad": 0.01, "laplacian": 0.0, "dt": 0.0},
        {"name": "best-random", "pixel": 0.01, "grad": 0.01, "laplacian": 0.001, "dt": 0.0,
         "arm": BEST_FIXED}]
    # a strategy's vector equal to a reference up to scale is the reference, not a new arm
    bests["random"] = ((0.1, 0.0, 0.0, 0.0), 9.0)
    assert [s["name"] for s in chosen_settings(bests)] == ["best-tpe+gp"]
    assert chosen_settings(bests)[0]["arm"] == BEST_FIXED


def test_the_comparison_trains_every_arm_on_fresh_seeds_on_the_held_out_images(tmp_path):
    exp = load_experiment("weights-search")
    tree = OutputTree(tmp_path)
    bases = [RunConfig().replace(data={"image": image}, output={"image_role": ImageRole.HELD_OUT})
             for image in ("moon", "grass")]
    bests = {"tpe": ((0.1, 0.01, 0.0, 0.0), 5.0), "random": ((0.01, 0.01, 0.001, 0.0), 6.0)}
    runs = comparison_runs(exp, bases, tree, bests, seeds=2, seed=0)
    # (none, lra, relobralo, softadapt) x (pixel-only, original-best) + 2 chosen, x 2 x 2
    assert len(runs) == (4 * 2 + 2) * 2 * 2 == len({r.name for r in runs})
    for run in runs:
        out = run.config.output
        assert run.config.train.seed in (1, 2) and out.stage == Stage.CONFIRMATION
        assert out.image_role == ImageRole.HELD_OUT and out.question == "weights"
        assert run.config.output.video is None
        if run.config.loss.balanced:
            assert out.reference is None and run.name.endswith(
                f"_bal-{run.config.loss.balance}_seed{run.config.train.seed}")
        elif out.weights_name.startswith("best-"):
            assert out.role == Role.SEARCHED
            assert (out.arm == BEST_FIXED) == (out.weights_name == "best-random")
        else:
            assert out.role == Role.REFERENCE and out.reference == out.weights_name
    assert comparison_runs(exp, bases, tree, bests, seeds=0, seed=0) == []


TINY = ["--size", "32", "--frames", "4", "--width", "16", "--steps", "12", "--quiet",
        "--no-video"]


def test_a_weights_search_end_to_end_tests_each_balanced_vector_against_the_best_fixed(
        tmp_path):
    """An experiment with a [search] table on tiny runs: the searches on the cameraman, their
    fronts and the comparison on two held-out images on fresh seeds; each balanced vector's
    tests against the best fixed vector equal a paired t-test recomputed here with scipy from
    summary.csv; REPORT.md answers; a rerun trains nothing."""
    from inr.cli import main
    toml = tmp_path / "ws.toml"
    toml.write_text('name = "ws"\nquestion = "weights"\nlayout = "betas"\n'
                    '[search]\nstrategies = ["tpe", "random"]\ntrials = {tpe = 3, random = 4}\n'
                    'seeds = 1\nbatch = 4\n[grid]\nbalance = ["none", "relobralo"]\n'
                    '[[grid.weights]]\nname = "pixel-only"\npixel = 1.0\n')
    out = tmp_path / "out"
    argv = ["--experiment", str(toml), "--holdout-images", "moon,grass", "--confirm-seeds",
            "2", "--out", str(out), *TINY]
    assert main(argv) == 0
    rows = list(csv.DictReader(open(out / "results" / "summary.csv")))
    held = [r for r in rows if r["image"] in ("moon", "grass")]
    assert {r["seed"] for r in held} == {"1", "2"}
    assert {r["stage"] for r in held} == {"confirmation"}
    fixed = [r for r in held if r["arm"] == BEST_FIXED]
    balanced = [r for r in held if r["balance"] == "relobralo"]
    assert fixed and len(balanced) == 4
    table = list(csv.DictReader(open(out / "results" / "comparisons.csv")))
    for image in ("moon", "grass"):
        a = {r["seed"]: r for r in balanced if r["image"] == image}
        b = {r["seed"]: r for r in fixed if r["image"] == image}
        for metric, transform in (("psnr", float), ("grad_mse", lambda v: math.log(float(v)))):
            x = np.array([transform(a[s][metric]) for s in ("1", "2")])
            y = np.array([transform(b[s][metric]) for s in ("1", "2")])
            test = [t for t in table if t["family"] == f"weights/{image}"
                    and t["metric"] == metric and t["a"] == a["1"]["configuration"]
                    and t["b"] == b["1"]["configuration"]]
            assert len(test) == 1
            assert float(test[0]["effect"]) == pytest.approx((x - y).mean(), rel=1e-6,
                                                             abs=1e-9)
            assert float(test[0]["p"]) == pytest.approx(stats.ttest_rel(x, y).pvalue,
                                                         rel=1e-6)
    pair = {r["configuration"] for r in fixed + balanced}
    pooled = [t for t in table if t["family"] == "weights/all" and {t["a"], t["b"]} <= pair]
    assert len(pooled) == 2  # pixels and the gradient, pooled over the two held-out images
    report = (out / "results" / "REPORT.md").read_text()
    assert "## Balancing against the best fixed vector" in report
    assert "reach the best fixed vector's front?**" in report
    before = len(list((out / "runs").rglob("metrics.json")))
    assert main(argv) == 0
    assert len(list((out / "runs").rglob("metrics.json"))) == before


@pytest.mark.parametrize("argv, message", [
    (["--experiment", "weights-search", "--random-weights", "3"], "run it alone"),
    (["--search", "tpe", "--experiment", "activations"], "--search runs alone"),
    (["--search", "tpe", "--holdout-images", "moon"], "--holdout-images goes with"),
    (["--search", "tpe", "--early-stop", "asha"], "--early-stop does not apply"),
    (["--search", "tpe", "--trials", "0"], "--trials needs at least 1"),
    (["--search", ","], "--search needs at least one strategy"),
])
def test_bad_search_commands_are_one_line_errors_before_any_run(tmp_path, capsys, argv,
                                                                 message):
    from inr.cli import main
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()
