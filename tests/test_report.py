"""The report is rebuilt from the runs' records alone: it compares configurations seed by seed
with scipy's paired test on the seeds the tests may use, corrects with statsmodels' Holm, and its
verdicts test something."""
import csv
import math

import numpy as np
import pytest
from scipy import stats

from inr.artefacts.rundir import RunDir, RunResult, record
from inr.artefacts.tree import OutputTree
from inr.config import RunConfig
from inr.report import build_report
from inr.report.analysis import compare_with_original, conclusion_lines
from inr.report.markdown import as_list
from inr.report.rows import collect, read_summary
from inr.sweep.experiments import load_experiment
from inr.sweep.planning import plan
from inr.sweep.weights import reference_name

VARIANCES = {"value": 0.05, "grad": 0.36, "laplacian": 108.0, "dt": 0.044}


def fake_run(out, name, experiment, psnr, grad_mse, status="completed", weights_name=None,
             seed=0, output=None, **sections):
    """A finished run's folder, its record written by inr.artefacts.rundir as training writes it,
    labelled as the planner labels it (inr.sweep.planning); seed > 0 makes a replicate of `name`
    (folder name_seed<s>)."""
    folder = name if seed == 0 else f"{name}_seed{seed}"
    cfg = RunConfig().replace(train={"seed": seed}, **sections)
    cfg = cfg.replace(output={"name": folder, "configuration": name, "experiment": experiment,
                              "question": load_experiment(experiment).question,
                              "weights_name": weights_name,
                              "reference": reference_name(cfg.loss.betas),
                              "run_dir": str(out / "runs" / folder), **(output or {})})
    final = {"pixel_mse": 10 ** (-psnr / 10), "grad_mse": grad_mse, "laplacian_mse": 50.0,
             "dt_mse": 0.1, "psnr": psnr, "psnr_up_to_constant": psnr + 1,
             "psnr_up_to_frame_constants": psnr + 2, "ssim": psnr / 50, "grad_ssim": 0.5,
             "laplacian_ssim": 0.4, "dt_ssim": 0.3, "pde_residual": 0.2, "status": status}
    if status == "diverged":
        final = {k: (math.nan if isinstance(v, float) else v) for k, v in final.items()}
    result = RunResult(cfg, final, final, video=out / "videos" / f"{folder}.mp4")
    RunDir.of(cfg).write(record(result, VARIANCES))


def weights_runs(out, vectors):
    """vectors: {(pixel, grad, lap, dt): [(psnr, grad_mse) per seed]}."""
    for (p, g, l, d), seeds in vectors.items():
        for seed, (psnr, gm) in enumerate(seeds):
            fake_run(out, f"cameraman/experiments/{p:g}_{g:g}_{l:g}_{d:g}/sine_constant_0.0001",
                     "random-weights", psnr, gm, seed=seed,
                     loss={"pixel": p, "grad": g, "laplacian": l, "dt": d})


def activation_runs(out, activations):
    """activations: {name: (pixel PSNR per seed, grad_mse per seed)}, trained on the pixels and
    on the gradient alone."""
    for act, (pixel, grad) in activations.items():
        for seed in range(len(pixel)):
            fake_run(out, f"{act}/cameraman_experiments_pixel", "activations", pixel[seed],
                     1.0, weights_name="pixel", seed=seed, model={"activation": act})
            fake_run(out, f"{act}/cameraman_experiments_grad", "activations", 5.0,
                     grad[seed], weights_name="grad", seed=seed, model={"activation": act},
                     loss={"pixel": 0.0, "grad": 1.0})


def confirmed_weights(out, screening, confirmation):
    """screening: {vector: (psnr, grad_mse)} at seed 0; confirmation: {vector: [(psnr,
    grad_mse) per fresh seed 1, 2, ...]}, the runs a confirmation stage would add."""
    for vectors, stage, first in ((({v: [x] for v, x in screening.items()}), "screening", 0),
                                  (confirmation, "confirmation", 1)):
        for (p, g, l, d), seeds in vectors.items():
            for i, (psnr, gm) in enumerate(seeds):
                fake_run(out, f"cameraman/experiments/{p:g}_{g:g}_{l:g}_{d:g}/"
                         "sine_constant_0.0001", "random-weights", psnr, gm, seed=first + i,
                         loss={"pixel": p, "grad": g, "laplacian": l, "dt": d},
                         output={"stage": stage})


def test_comparisons_are_scipys_paired_tests_on_the_fresh_seeds_with_statsmodels_holm(tmp_path):
    chosen, pixel_only, original = (0.1, 0.01, 0, 0), (1, 0, 0, 0), (1, 0.01, 0.001, 0)
    screening = {chosen: (40.0, 0.02), pixel_only: (36.0, 0.1), original: (34.0, 0.05),
                 (0, 1, 0, 0): (6.0, 0.01)}
    fresh = {chosen: [(38.9, 0.021), (39.6, 0.018), (37.1, 0.026), (38.0, 0.02)],
             pixel_only: [(36.2, 0.11), (37.0, 0.09), (34.9, 0.12), (36.1, 0.1)],
             original: [(33.1, 0.05), (34.0, 0.045), (32.5, 0.06), (33.5, 0.052)]}
    confirmed_weights(tmp_path, screening, fresh)
    fake_run(tmp_path, "cameraman/experiments/0_0_1_0/sine_constant_0.0001", "random-weights",
             0.0, 0.0, status="diverged", loss={"pixel": 0.0, "laplacian": 1.0},
             output={"stage": "screening"})
    built = build_report(tmp_path)
    rows = read_summary(built["summary"])
    assert len(rows) == 4 + 12 + 1 and {"stage", "role", "arm", "image"} <= set(rows[0])
    table = list(csv.DictReader(open(tmp_path / "results" / "comparisons.csv")))
    assert list(table[0]) [:18] == ["question", "family", "metric", "a", "b", "n", "seeds",
                                   "paired", "transform", "mean_a", "mean_b", "effect",
                                   "effect_ci_low", "effect_ci_high", "p", "p_holm",
                                   "separated", "family_size"]
    family = [r for r in table if r["family"] == "weights"]
    key = {v: f"cameraman/experiments/{v[0]:g}_{v[1]:g}_{v[2]:g}_{v[3]:g}/sine_constant_0.0001"
           for v in (chosen, pixel_only, original)}
    row = next(r for r in family if r["a"] == key[chosen] and r["b"] == key[pixel_only]
               and r["metric"] == "psnr")
    a, b = [p for p, _ in fresh[chosen]], [p for p, _ in fresh[pixel_only]]
    expected = stats.ttest_rel(a, b)
    assert row["seeds"] == "1 2 3 4" and row["paired"] == "true" and row["n"] == "4"
    assert float(row["p"]) == pytest.approx(expected.pvalue, rel=1e-9)
    assert float(row["effect"]) == pytest.approx(np.mean(np.subtract(a, b)), rel=1e-9)
    interval = expected.confidence_interval(0.95)
    assert float(row["effect_ci_low"]) == pytest.approx(interval.low, rel=1e-9)
    grad = next(r for r in family if r["a"] == key[chosen] and r["b"] == key[pixel_only]
                and r["metric"] == "grad_mse")
    logs = [np.log([g for _, g in fresh[v]]) for v in (chosen, pixel_only)]
    assert grad["transform"] == "log"
    assert float(grad["p"]) == pytest.approx(stats.ttest_rel(*logs).pvalue, rel=1e-9)
    from statsmodels.stats.multitest import multipletests
    holm = multipletests([float(r["p"]) for r in family], method="holm")[1]
    assert [float(r["p_holm"]) for r in family] == pytest.approx(list(holm), rel=1e-12)
    assert all(r["family_size"] == str(len(family)) for r in family)
    assert [r["separated"] == "true" for r in family] == [p < 0.05 for p in holm]
    # the chosen vector is ahead of the original's best on both fields: dominance shown, in the
    # weights family itself (one family, one verdict per test)
    dominance = [r for r in family if r["test"].startswith("intersection")]
    assert len(dominance) == 1 and dominance[0]["a"] == key[chosen]
    # chosen on the screening seed, tested on the fresh ones; references were chosen by no one
    assert row["chosen_on"] == "cameraman @ 0" and row["tested_on"] == "cameraman @ 1 2 3 4"
    refs = next(r for r in family if r["a"] == key[original] and r["b"] == key[pixel_only])
    assert refs["chosen_on"] == "-"
    report = built["report"].read_text()
    for line in as_list(conclusion_lines(built["rows"])):
        assert line in report
    assert "Tests on seeds 1 2 3 4 (fresh: the screening chose on seed(s) 0)" in report
    assert "Scope: " in report and "image cameraman" in report and "Holm" in report
    assert "Screening anecdote (n = 1 each)" in report
    assert "Diverged: 1 runs." in report
    for name in ("random-weights.png", "pareto.png", "report.pdf"):
        assert (tmp_path / "results" / name).is_file()


def test_tables_repeat_no_column(tmp_path):
    weights_runs(tmp_path, {(1, 0, 0, 0): [(33.0, 0.9)], (1, 0.1, 0, 0): [(30.0, 0.5)],
                            (0, 1, 0, 0): [(6.0, 0.01)]})
    report = build_report(tmp_path)["report"].read_text()
    for line in report.splitlines():
        if line.startswith("| rank"):
            cells = [c.strip().split(":")[0].replace(" (mean)", "") for c in line.split("|")]
            cells = [c for c in cells if c]
            assert len(cells) == len(set(cells)), line


def test_an_empty_output_folder_gives_an_empty_report(tmp_path):
    built = build_report(tmp_path)
    assert built["rows"] == [] and "0 runs" in built["report"].read_text()


def test_the_original_conclusions_get_verdicts_that_test_something(tmp_path):
    # (a) on pixels sine is clearly ahead; on the gradient the two overlap. One configuration
    # per activation: nothing chosen, so all three matched seeds count
    activation_runs(tmp_path, {"sine": ((30.0, 31.0, 30.5), (0.20, 0.10, 0.30)),
                               "elu": ((22.0, 21.0, 22.5), (0.15, 0.25, 0.20))})
    # (b) constant 1e-4, chosen by the screening (seed 0), clearly beats the claimed constant
    # 1e-7 on the fresh seeds 1-3; no exponential run was made
    for lr, psnrs in ((1e-4, (31.2, 31.0, 31.5, 30.8)), (1e-7, (5.1, 5.0, 5.5, 4.9))):
        for seed, psnr in enumerate(psnrs):
            fake_run(tmp_path, f"cameraman/experiments/1_0.01_0.001_0/sine_constant_{lr:g}",
                     "learning-rates", psnr, 0.5, seed=seed, schedule={"lr": lr},
                     loss={"pixel": 1.0, "grad": 0.01, "laplacian": 0.001},
                     output={"arm": "constant",
                             "stage": "confirmation" if seed else "screening"})
    # (c) the original's vector was not run in a weights experiment
    weights_runs(tmp_path, {(1, 0, 0, 0): [(33.0, 0.9), (33.5, 0.8)]})
    lines = compare_with_original(collect(OutputTree(tmp_path)))
    line = lambda start: next(s for s in lines if s.strip().startswith(start))  # noqa: E731
    assert line("(a)").endswith("sine separated ahead on 1, elu on 0, of 2 (setting, field) "
                                "comparisons -> agrees.")
    assert "not separated" in line("trained on grad, grad_mse")
    assert "could have seen" in line("trained on grad, grad_mse")
    pixel_claim = line("(b) Original: constant lr 1e-07 is best for MSE")
    assert "behind constant lr 0.0001" in pixel_claim and pixel_claim.endswith("-> differs.")
    assert not any(s.startswith("(b) Original: exponential") for s in lines)
    assert line("(c)").endswith("not tested: no confirmed vector trains both pixels and the "
                                "gradient (each term at least 1% of the effective weight) on "
                                "seeds shared with original-best, so none can be shown better "
                                "on both.")
    assert "Against the original" in build_report(tmp_path)["report"].read_text()


def test_a_mixed_duel_gets_no_single_word(tmp_path):
    # sine ahead, separated, on the pixels; elu ahead, separated, on the gradient
    activation_runs(tmp_path, {"sine": ((30.0, 31.0, 30.5, 30.2), (0.50, 0.52, 0.51, 0.5)),
                               "elu": ((22.0, 21.0, 22.5, 22.1), (0.10, 0.11, 0.12, 0.1))})
    lines = compare_with_original(collect(OutputTree(tmp_path)))
    assert lines[0].endswith("sine separated ahead on 1, elu on 1, of 2 (setting, field) "
                             "comparisons -> mixed, setting by setting.")


def test_weight_settings_are_labelled_when_planned_in_both_run_name_layouts(tmp_path):
    """The label comes from the plan (stored in the record), never parsed out of a path."""
    runs = plan([load_experiment("activations"), load_experiment("losses"),
                 load_experiment("random-weights")], RunConfig(), tmp_path, random_weights=2)
    label = {r.name: r.config.output.weights_name or "" for r in runs}
    assert label["elu/cameraman_experiments_laplacian"] == "laplacian"
    assert label["gauss-s3/cameraman_experiments_laplacian"] == "laplacian"
    assert label["cameraman/losses/mse+ssim_0.1/sine_constant_0.0001"] == "mse+ssim_0.1"
    arms = {r.config.output.arm for r in runs if r.experiment == "losses"}
    assert arms == {"mse", "ssim", "ms_ssim", "mse+ssim", "mse+ms_ssim"}
    drawn = {label[r.name] for r in runs if r.experiment == "random-weights"}
    assert drawn == {"", "pixel-only", "original-best"}  # drawn vectors have no name


def test_video_links_are_relative_to_the_report_and_absent_where_they_would_point_nowhere(tmp_path):
    """A report links only videos that exist, relative to its own folder; a curated copy built
    elsewhere (--curate) has no links at all, since its videos are not committed."""
    activation_runs(tmp_path, {"sine": ([36.0], [0.1]), "elu": ([22.0], [0.5])})
    sine = tmp_path / "videos" / "sine" / "cameraman_experiments_pixel.mp4"
    sine.parent.mkdir(parents=True)
    sine.write_bytes(b"not empty")
    report = build_report(tmp_path)["report"].read_text()
    assert "[video](../videos/sine/cameraman_experiments_pixel.mp4)" in report
    assert "elu/cameraman_experiments_pixel.mp4" not in report  # no file: no link
    curated = tmp_path / "results" / "curated" / "quick"
    built = build_report(tmp_path, curated, video_links=False)
    assert built["report"] == curated / "REPORT.md" and (curated / "summary.csv").is_file()
    assert "[video]" not in built["report"].read_text()

