"""The report is rebuilt from the runs' records alone: it ranks configurations by their mean over
seeds, with numpy's mean and sd and scipy's Welch test, and its verdicts test something."""
import csv
import math

import numpy as np
import pytest
from scipy import stats

from inr.artefacts.rundir import RunDir, RunResult, record
from inr.artefacts.tree import OutputTree
from inr.config import RunConfig
from inr.report import build_report
from inr.report.analysis import compare_with_original, conclusion_lines, conclusions
from inr.report.rows import collect, read_summary
from inr.sweep.experiments import load_experiment
from inr.sweep.planning import plan
from inr.sweep.weights import reference_name

VARIANCES = {"value": 0.05, "grad": 0.36, "laplacian": 108.0, "dt": 0.044}


def fake_run(out, name, experiment, psnr, grad_mse, status="completed", weights_name=None,
             seed=0, **sections):
    """A finished run's folder, its record written by inr.artefacts.rundir as training writes it,
    labelled as the planner labels it (inr.sweep.planning); seed > 0 makes a replicate of `name`
    (folder name_seed<s>)."""
    folder = name if seed == 0 else f"{name}_seed{seed}"
    cfg = RunConfig().replace(train={"seed": seed}, **sections)
    cfg = cfg.replace(output={"name": folder, "configuration": name, "experiment": experiment,
                              "question": load_experiment(experiment).question,
                              "weights_name": weights_name,
                              "reference": reference_name(cfg.loss.betas),
                              "run_dir": str(out / "runs" / folder)})
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


def test_rankings_are_means_over_seeds_with_numpys_sd_and_scipys_welch_test(tmp_path):
    vectors = {(1, 0.01, 0, 0): [(31.0, 0.5), (32.0, 0.4), (30.5, 0.45)],
               (1, 0, 0, 0): [(33.0, 0.9), (35.0, 0.95), (34.0, 0.85)],
               (0.1, 1, 0, 0): [(20.0, 0.1), (21.0, 0.12), (19.0, 0.11)],
               (0, 1, 1, 1): [(12.0, 0.3), (13.0, 0.2), (11.0, 0.25)]}
    weights_runs(tmp_path, vectors)
    fake_run(tmp_path, "cameraman/experiments/0_0_1_0/sine_constant_0.0001", "random-weights",
             0.0, 0.0, status="diverged", loss={"pixel": 0.0, "laplacian": 1.0})
    built = build_report(tmp_path)
    rows = read_summary(built["summary"])
    assert len(rows) == 13 and {r["seed"] for r in rows} == {0.0, 1.0, 2.0}
    diverged = [r for r in rows if r["status"] == "diverged"]
    assert len(diverged) == 1 and math.isnan(diverged[0]["psnr"])
    c = conclusions(built["rows"])
    ranking = c["weights"]["pixel_mse"]
    pixel = {v: [10 ** (-p / 10) for p, _ in seeds] for v, seeds in vectors.items()}
    order = sorted(pixel, key=lambda v: np.mean(pixel[v]))
    assert [tuple(c.first[f"beta_{t}"] for t in ("pixel", "grad", "laplacian", "dt"))
            for c, _ in ranking.entries] == order
    for config, summary in ranking.entries:
        values = pixel[order[ranking.position(config) - 1]]
        assert summary.mean == pytest.approx(np.mean(values), rel=1e-12)
        assert summary.sd == pytest.approx(np.std(values, ddof=1), rel=1e-12) and summary.n == 3
    welch = stats.ttest_ind(pixel[order[0]], pixel[order[1]], equal_var=False).pvalue
    assert ranking.separation.p == pytest.approx(welch, rel=1e-12)
    assert c["weights"]["grad_mse"].winner["beta_grad"] == 1
    assert c["weights"]["diverged"] == 1
    report = built["report"].read_text()
    for line in conclusion_lines(built["rows"]):
        assert line in report
    assert "Loss weights by pixel_mse: lowest mean for (1, 0, 0, 0)" in report
    assert "Welch's t-test" in report
    assert (tmp_path / "results" / "random-weights.png").is_file()
    assert (tmp_path / "results" / "pareto.png").is_file()
    assert (tmp_path / "results" / "report.pdf").is_file()
    header = next(csv.reader(open(built["summary"])))
    assert {"name", "configuration", "seed", "status", "activation", "lr", "beta_pixel", "psnr",
            "pde_residual"} <= set(header)


def test_tables_repeat_no_column_and_the_worst_list_ranks_only_runs_that_train_on_pixels(
        tmp_path):
    weights_runs(tmp_path, {(1, 0, 0, 0): [(33.0, 0.9)], (1, 0.1, 0, 0): [(30.0, 0.5)],
                            (0, 1, 0, 0): [(6.0, 0.01)]})
    report = build_report(tmp_path)["report"].read_text()
    for line in report.splitlines():
        if line.startswith("| rank"):
            cells = [c.strip().split(":")[0].replace(" (mean)", "") for c in line.split("|")]
            cells = [c for c in cells if c]
            assert len(cells) == len(set(cells)), line
    worst = report.split("Worst 5 by pixel_mse")[1].split("\n\n")[1]
    assert "(0, 1, 0, 0)" not in worst and "(1, 0.1, 0, 0)" in worst
    assert "Runs without a pixel term" in report and "psnr_up_to_frame_constants" in report


def test_an_empty_output_folder_gives_an_empty_report(tmp_path):
    built = build_report(tmp_path)
    assert built["rows"] == [] and "0 runs" in built["report"].read_text()


def test_the_original_conclusions_get_verdicts_that_test_something(tmp_path):
    # (a) on pixels sine is clearly ahead; on the gradient the two overlap
    activation_runs(tmp_path, {"sine": ((30.0, 31.0, 30.5), (0.20, 0.10, 0.30)),
                               "elu": ((22.0, 21.0, 22.5), (0.15, 0.25, 0.20))})
    # (b) constant 1e-4 clearly beats the claimed constant 1e-7; no exponential run was made
    for lr, psnrs in ((1e-4, (31.0, 31.5, 30.8)), (1e-7, (5.0, 5.5, 4.9))):
        for seed, psnr in enumerate(psnrs):
            fake_run(tmp_path, f"cameraman/experiments/1_0.01_0.001_0/sine_constant_{lr:g}",
                     "learning-rates", psnr, 0.5, seed=seed, schedule={"lr": lr},
                     loss={"pixel": 1.0, "grad": 0.01, "laplacian": 0.001})
    # (c) the original's vector was not run in a weights experiment
    weights_runs(tmp_path, {(1, 0, 0, 0): [(33.0, 0.9), (33.5, 0.8)]})
    lines = compare_with_original(collect(OutputTree(tmp_path)))
    line = lambda start: next(s for s in lines if s.strip().startswith(start))  # noqa: E731
    assert line("(a)").endswith("sine is separated ahead on 1, elu on 0, of 2 weight settings "
                                "-> agrees.")
    assert line("trained on grad: grad_mse").endswith("-> not separated at 3 seeds")
    pixel_claim = line("(b) Original: constant lr 1e-07 is best for pixel_mse")
    assert "ranks 2 of 2" in pixel_claim and pixel_claim.endswith("-> differs.")
    assert line("(b) Original: exponential decay").endswith(
        "-> not tested: exponential decay was not run.")
    assert line("(c)").endswith("-> not tested: the original's vector was not run.")
    # the original's vector, run with one seed only: no verdict without the seeds to test it
    weights_runs(tmp_path, {(1, 0.01, 0.001, 0): [(30.0, 0.5)]})
    lines = compare_with_original(collect(OutputTree(tmp_path)))
    assert "by pixel_mse over 2 vectors" in line("(c)")
    assert line("(c)").endswith("-> not separated at 1 seed.")
    assert "Against the original" in build_report(tmp_path)["report"].read_text()


def test_a_claimed_winner_agrees_only_when_separated_and_a_mixed_duel_gets_no_single_word(
        tmp_path):
    # sine ahead, separated, on the pixels; elu ahead, separated, on the gradient
    activation_runs(tmp_path, {"sine": ((30.0, 31.0, 30.5), (0.50, 0.52, 0.51)),
                               "elu": ((22.0, 21.0, 22.5), (0.10, 0.11, 0.12))})
    # the original's vector: best by pixel_mse, separated from the runner-up; beside it the
    # pixel-only reference, and a vector that matches it on the gradient
    weights_runs(tmp_path, {(1, 0.01, 0.001, 0): [(35.0, 0.30), (35.5, 0.32), (35.2, 0.31)],
                            (1, 0, 0, 0): [(30.0, 0.90), (30.5, 0.95), (30.2, 0.92)],
                            (1, 0.1, 0, 0): [(20.0, 0.29), (21.0, 0.33), (19.0, 0.31)]})
    lines = compare_with_original(collect(OutputTree(tmp_path)))
    line = lambda start: next(s for s in lines if s.strip().startswith(start))  # noqa: E731
    assert line("(a)").endswith("-> agrees on 1, differs on 1, not separated at 3 seeds on 0, "
                                "setting by setting.")
    by_pixel, by_grad = line("(c)"), line("by grad_mse")
    assert by_pixel.endswith("-> agrees.") and "is behind, separated" in by_pixel
    assert by_grad.endswith("-> not separated at 3 seeds.")
    # the pixel-only reference, which no ranking chose, separated ahead: it differs on that
    weights_runs(tmp_path / "other", {(1, 0.01, 0.001, 0): [(30.0, 0.30), (30.5, 0.32)],
                                      (1, 0, 0, 0): [(35.0, 0.90), (35.5, 0.95)]})
    lines = compare_with_original(collect(OutputTree(tmp_path / "other")))
    assert line("(c)").endswith("-> differs.") and "is ahead, separated" in line("(c)")


def test_weight_settings_are_labelled_when_planned_in_both_run_name_layouts(tmp_path):
    """The label comes from the plan (stored in the record), never parsed out of a path."""
    runs = plan([load_experiment("activations"), load_experiment("losses"),
                 load_experiment("random-weights")], RunConfig(), tmp_path, random_weights=2)
    label = {r.name: r.config.output.weights_name or "" for r in runs}
    assert label["elu/cameraman_experiments_laplacian"] == "laplacian"
    assert label["cameraman/losses/mse+ssim/sine_constant_0.0001"] == "mse+ssim"
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
