"""The report is rebuilt from the runs' records alone and ranks what they say."""
import csv
import math

from inr.config import RunConfig
from inr.experiments import load_experiment
from inr.report import build_report
from inr.report.analysis import conclusion_lines, conclusions
from inr.report.rows import read_summary
from inr.rundir import RunDir, RunResult, record


def fake_run(out, name, experiment, psnr, grad_mse, status="completed", weights_name=None,
             **sections):
    """A finished run's folder, its record written by inr.rundir as training writes it."""
    cfg = RunConfig().replace(output={"name": name, "experiment": experiment,
                                      "question": load_experiment(experiment).question,
                                      "weights_name": weights_name,
                                      "run_dir": str(out / "runs" / name)}, **sections)
    final = {"pixel_mse": 10 ** (-psnr / 10), "grad_mse": grad_mse, "laplacian_mse": 50.0,
             "dt_mse": 0.1, "psnr": psnr, "ssim": psnr / 50, "grad_ssim": 0.5,
             "laplacian_ssim": 0.4, "dt_ssim": 0.3, "pde_residual": 0.2, "status": status}
    if status == "diverged":
        final = {k: (math.nan if isinstance(v, float) else v) for k, v in final.items()}
    result = RunResult(cfg, final, final, video=out / "videos" / f"{name}.mp4")
    RunDir.of(cfg).write(record(result, {}))


def test_summary_rankings_and_conclusions_follow_the_metrics(tmp_path):
    weights = [((1, 0.01, 0, 0), 31.0, 0.5), ((1, 0, 0, 0), 33.0, 0.9),
               ((0.1, 1, 0, 0), 20.0, 0.1), ((0, 1, 1, 1), 12.0, 0.3)]
    for (p, g, l, d), psnr, gm in weights:
        fake_run(tmp_path, f"cameraman/experiments/{p:g}_{g:g}_{l:g}_{d:g}/sine_constant_0.0001",
                 "random-weights", psnr, gm, loss={"pixel": p, "grad": g, "laplacian": l, "dt": d})
    fake_run(tmp_path, "cameraman/experiments/0_0_1_0/sine_constant_0.0001", "random-weights",
             0.0, 0.0, status="diverged", loss={"pixel": 0.0, "laplacian": 1.0})
    for act, psnr in (("sine", 30.0), ("elu", 22.0)):
        fake_run(tmp_path, f"{act}/cameraman_experiments_pixel", "activations", psnr, 1.0,
                 weights_name="pixel", model={"activation": act})
    built = build_report(tmp_path)
    rows = read_summary(built["summary"])
    assert len(rows) == 7
    diverged = [r for r in rows if r["status"] == "diverged"]
    assert len(diverged) == 1 and math.isnan(diverged[0]["psnr"])
    c = conclusions(built["rows"])
    assert [b for b, _, _ in c["weights"]["pixel_mse"]] == \
        ["(1, 0, 0, 0)", "(1, 0.01, 0, 0)", "(0.1, 1, 0, 0)", "(0, 1, 1, 1)"]
    assert c["weights"]["grad_mse"][0][0] == "(0.1, 1, 0, 0)"
    assert c["weights"]["diverged"] == 1
    assert c["activation"]["winners"]["pixel"][0] == "sine" and c["activation"]["best"] == "sine"
    report = built["report"].read_text()
    for line in conclusion_lines(built["rows"]):
        assert line in report
    assert "Best weights by pixel_mse: (1, 0, 0, 0)" in report
    assert (tmp_path / "results" / "random-weights.png").is_file()
    assert (tmp_path / "results" / "report.pdf").is_file()
    header = next(csv.reader(open(built["summary"])))
    assert {"name", "status", "activation", "lr", "beta_pixel", "psnr", "pde_residual"} <= set(header)


def test_an_empty_output_folder_gives_an_empty_report(tmp_path):
    built = build_report(tmp_path)
    assert built["rows"] == [] and "0 runs" in built["report"].read_text()


def test_the_original_conclusions_are_checked_against_the_rows(tmp_path):
    from inr.report.analysis import compare_with_original
    from inr.report.rows import collect

    for act, psnr, grad in (("sine", 30.0, 0.2), ("elu", 22.0, 0.1)):
        fake_run(tmp_path, f"{act}/cameraman_experiments_pixel", "activations", psnr, 1.0,
                 weights_name="pixel", model={"activation": act})
        fake_run(tmp_path, f"{act}/cameraman_experiments_grad", "activations", psnr, grad,
                 weights_name="grad", model={"activation": act}, loss={"pixel": 0.0, "grad": 1.0})
    for kind, lr, psnr in (("constant", 1e-4, 31.0), ("constant", 1e-7, 5.0),
                           ("exponential", 1e-4, 25.0)):
        fake_run(tmp_path, f"cameraman/experiments/1_0.01_0.001_0/sine_{kind}_{lr:g}",
                 "learning-rates", psnr, 0.5, loss={"pixel": 1.0, "grad": 0.01, "laplacian": 0.001},
                 schedule={"kind": kind, "lr": lr, **({"gamma": 0.99} if kind != "constant" else {})})
    fake_run(tmp_path, "cameraman/experiments/1_0_0_0/sine_constant_0.0001", "random-weights",
             33.0, 0.9, loss={"pixel": 1.0})
    lines = compare_with_original(collect(tmp_path))
    text = "\n".join(lines)
    assert "sine beats elu on 1 of 2 weight settings -> differs" in text
    assert "constant lr 1e-07 is best for pixel_mse. Here: constant at lr 0.0001" in text
    assert "ranks 3 of 3 -> differs" in text
    # the original's vector was trained in the lr experiment at 1e-4 constant: rank 2 of 2
    assert "best of 1 random vectors by pixel_mse is (1.0, 0.0, 0.0, 0.0)" in text
    assert "rank 2 of 2 -> differs" in text
    assert "Against the original" in build_report(tmp_path)["report"].read_text()


def test_weight_settings_are_labelled_when_planned_in_both_run_name_layouts(tmp_path):
    """The label comes from the plan (stored in the record), never parsed out of a path."""
    from inr.experiments import plan
    runs = plan([load_experiment("activations"), load_experiment("losses"),
                 load_experiment("random-weights")], RunConfig(), tmp_path, random_weights=2)
    label = {r.name: r.config.output.weights_name or "" for r in runs}
    assert label["elu/cameraman_experiments_laplacian"] == "laplacian"
    assert label["cameraman/losses/mse+ssim/sine_constant_0.0001"] == "mse+ssim"
    assert {label[r.name] for r in runs if r.experiment == "random-weights"} == {""}
