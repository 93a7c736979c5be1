"""The sweep driver end to end on tiny problems: naming, outputs, resume after SIGKILL, engines."""
import csv
import dataclasses
import math
import itertools
import json
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import t as stats_t

from inr.artefacts.tree import OutputTree
from inr.cli import main
from inr.config import RunConfig
from inr.model.networks import ACTIVATION_CHOICES
from inr.sweep.engine import ensembles
from inr.sweep.experiments import load_experiment
from inr.sweep.planning import plan, resolve_schedule
from inr.sweep.weights import random_weight_vectors

REPO = Path(__file__).resolve().parents[1]
TINY = ["--confirm-seeds", "0", "--size", "32", "--frames", "4", "--width", "16", "--steps", "12", "--quiet"]
LR_EXPERIMENT = """
name = "learning-rates"
layout = "betas"
[base.loss]
pixel = 1.0
grad = 0.01
[grid]
lr = [1e-4, 1e-3]
[[grid.schedule]]
kind = "constant"
"""


@pytest.fixture()
def lr2(tmp_path):
    path = tmp_path / "lr2.toml"
    path.write_text(LR_EXPERIMENT)
    return str(path)


def test_tiny_sweep_writes_the_naming_scheme_logs_videos_and_report(tmp_path, lr2, capsys):
    out = tmp_path / "out"
    assert main(["--random-weights", "3", "--experiment", lr2, "--out", str(out), *TINY]) == 0
    runs = sorted(p.parent.relative_to(out / "runs").as_posix()
                  for p in (out / "runs").rglob("metrics.json"))
    assert len(runs) == 7  # 3 drawn vectors and the 2 reference vectors, 2 learning rates
    assert "cameraman/experiments/1_0.01_0_0/sine_constant_0.0001" in runs
    assert "cameraman/experiments/1_0.01_0_0/sine_constant_0.001" in runs
    for name in runs:
        assert name.startswith("cameraman/experiments/") and name.endswith("sine_constant_0.0001") \
            or name.endswith("_0.001")
        assert list((out / "runs" / name).glob("events.out.tfevents.*"))
        assert (out / "videos" / f"{name}.mp4").stat().st_size > 1000
    rows = list(csv.DictReader(open(out / "results" / "summary.csv")))
    assert len(rows) == 7 and {r["status"] for r in rows} == {"completed"}
    assert {r["experiments"] for r in rows} == {"random-weights", "learning-rates"}
    for plot in ("random-weights.png", "learning-rates.png", "report.pdf"):
        assert (out / "results" / plot).stat().st_size > 1000
    report = (out / "results" / "REPORT.md").read_text()
    assert "Which schedule" in report and "Which loss weights" in report
    assert "[video](../videos/cameraman/experiments/" in report
    printed = capsys.readouterr().out
    assert "7 runs trained, 0 reused" in printed and "Best runs" in printed


def test_an_activation_run_uses_the_activation_layout(tmp_path):
    exp = tmp_path / "act.toml"
    exp.write_text('name = "activations"\nlayout = "activation"\n[grid]\n'
                   'activation = ["sine", "elu"]\n[[grid.weights]]\nname = "grad"\n'
                   'pixel = 0.0\ngrad = 1.0\n')
    out = tmp_path / "out"
    assert main(["--experiment", str(exp), "--out", str(out), "--no-video", *TINY]) == 0
    assert (out / "runs" / "elu" / "cameraman_experiments_grad" / "metrics.json").is_file()
    assert (out / "runs" / "sine" / "cameraman_experiments_grad" / "metrics.json").is_file()
    assert not (out / "videos").exists()
    assert "Which activation" in (out / "results" / "REPORT.md").read_text()


def test_batched_and_sequential_engines_give_equal_metrics(tmp_path):
    common = ["--random-weights", "4", "--no-video", *TINY]
    assert main([*common, "--out", str(tmp_path / "a"), "--engine", "batched"]) == 0
    assert main([*common, "--out", str(tmp_path / "b"), "--engine", "sequential"]) == 0
    read = lambda d: {r["name"]: r for r in csv.DictReader(open(d / "results" / "summary.csv"))}  # noqa
    a, b = read(tmp_path / "a"), read(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) == 6
    for name in a:
        for key in ("pixel_mse", "grad_mse", "laplacian_mse", "dt_mse", "ssim"):
            assert float(a[name][key]) == pytest.approx(float(b[name][key]), rel=1e-3, abs=1e-7)


def test_a_sweep_killed_with_sigkill_resumes_and_finishes_every_run_once(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, str(REPO / "sweep.py"), "--random-weights", "6", "--engine",
           "sequential", "--no-video", "--out", str(out), *TINY[:-3], "--steps", "40", "--quiet"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(out.rglob("metrics.json"))) < 2:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    finished = {p: p.stat().st_mtime_ns for p in out.rglob("metrics.json")}
    assert 2 <= len(finished) < 8, "the kill should land mid-sweep"
    for p in finished:  # whatever the kill interrupted, no metrics.json is half-written
        json.loads(p.read_text())
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert f"{8 - len(finished)} runs trained, {len(finished)} reused" in second.stdout
    for p, mtime in finished.items():  # the finished runs were not redone
        assert p.stat().st_mtime_ns == mtime
    rows = list(csv.DictReader(open(out / "results" / "summary.csv")))
    assert len(rows) == 8 and all(r["status"] == "completed" for r in rows)
    assert len({r["name"] for r in rows}) == 8


def test_a_second_sweep_on_the_same_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    with OutputTree(out).lock():
        code = main(["--random-weights", "2", "--out", str(out), *TINY])
    assert code == 2
    err = capsys.readouterr().err
    assert "another sweep" in err and err.count("\n") == 1
    assert not (out / "runs").exists()


def test_a_finished_run_with_another_config_is_not_silently_reused(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--random-weights", "1", "--out", str(out), "--no-video", *TINY]) == 0
    assert main(["--random-weights", "1", "--out", str(out), "--no-video", *TINY[:-3],
                 "--steps", "13", "--quiet"]) == 2
    assert "another config" in capsys.readouterr().err
    assert main(["--random-weights", "1", "--out", str(out), "--no-video", *TINY[:-3],
                 "--steps", "13", "--quiet", "--overwrite"]) == 0


@pytest.mark.parametrize("args,message", [
    (["--experiment", "nope"], "unknown experiment 'nope'"),
    (["--random-weights", "0"], "--random-weights needs N >= 1"),
    (["--random-weights", "-3"], "--random-weights needs N >= 1"),
    (["--random-weights", "2", "--image", "/no/such/image.png"],
     "unknown image '/no/such/image.png': no such file"),
    (["--random-weights", "2", "--images", "camera,nope"],
     "unknown image 'nope': no such file, and not one of scikit-image's bundled images "
     "(astronaut, brick, camera"),
    (["--random-weights", "2", "--images", "camera", "--image", "moon"],
     "give --image or --images, not both"),
    (["--random-weights", "2", "--out", "/proc/not-writable"], "is not writable"),
    (["--random-weights", "2", "--lr", "0"], "lr must be > 0"),
    ([], "nothing to run"),
    (["--random-weights", "2", "--width", "0"], "model width and depth must be positive, got 0"),
    (["--random-weights", "2", "--width", "-5"], "model width and depth must be positive, got -5"),
    (["--random-weights", "2", "--size", "0"], "data.size must be at least 16, got 0"),
    (["--random-weights", "2", "--frames", "0"], "data.frames must be at least 1, got 0"),
    (["--random-weights", "2", "--steps", "-1"], "train.steps must be at least 1, got -1"),
    (["--random-weights", "2", "--max-models", "0"], "--max-models needs at least 1, got 0"),
    (["--random-weights", "2", "--workers", "0"], "--workers needs at least 1, got 0"),
])
def test_bad_input_gives_one_line_error_before_training(tmp_path, capsys, args, message):
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "runs").exists()


def test_a_two_image_sweep_answers_per_image_and_across_images(tmp_path):
    """Every experiment on each image with matched seeds and the same drawn vectors; a row per
    image and seed; per-image and cross-image lines in REPORT.md; each image's families apart."""
    out = tmp_path / "out"
    assert main(["--images", "camera,moon", "--random-weights", "2", "--confirm", "1",
                 "--confirm-seeds", "2", "--no-video", "--out", str(out), *TINY[2:]]) == 0
    rows = list(csv.DictReader(open(out / "results" / "summary.csv")))
    assert {r["image"] for r in rows} == {"camera", "moon"}
    for image in ("camera", "moon"):
        own = [r for r in rows if r["image"] == image]
        assert {float(r["seed"]) for r in own} == {0.0, 1.0, 2.0}
        screened = {tuple(float(r[f"beta_{t}"]) for t in ("pixel", "grad", "laplacian", "dt"))
                    for r in own if r["stage"] == "screening"}
        assert len(screened) == 4  # the same 2 drawn vectors and 2 references on each image
    vectors = lambda image: {r["name"].split("/")[2] for r in rows if r["image"] == image}  # noqa
    assert vectors("camera") == vectors("moon")
    report = (out / "results" / "REPORT.md").read_text()
    assert "## On camera" in report and "## On moon" in report and "<details>" in report
    assert "## Across the 2 images" in report and "of 2 images (separated on" in report
    table = list(csv.DictReader(open(out / "results" / "comparisons.csv")))
    assert {r["image"] for r in table} <= {"camera", "moon", "all"}
    assert {"camera", "moon"} <= {r["image"] for r in table}
    assert all(r["family"].endswith("/" + r["image"]) for r in table)
    assert (out / "results" / "pareto-moon.png").is_file()
    import re
    links = re.findall(r"\]\(([^)#]+)\)", report)  # every relative link resolves
    assert "pareto-moon.png" in links and "pareto.png" not in links
    assert all((out / "results" / link).exists() for link in links if "://" not in link), links
    assert (out / "results" / "images.png").is_file()  # the strip, and one figure per question
    assert (out / "results" / "random-weights.png").is_file()
    # chosen once on both images together: the same vectors confirmed on each
    confirmed = lambda image: {r["name"].split("/")[2] for r in rows  # noqa: E731
                               if r["image"] == image and r["stage"] == "confirmation"}
    assert confirmed("camera") == confirmed("moon") and len(confirmed("camera")) >= 3
    # one figure per question with a column of panels per image, and the strip of the images
    from inr.data import load_image, resolve_image
    from inr.report.analysis import PLOT_METRICS, figure_data
    from inr.report.plots import _image_entry, plot_across_images, plot_images
    from inr.report.rows import of, read_summary
    saved = read_summary(out / "results" / "summary.csv")
    own = {i: [r for r in saved if r["image"] == i] for i in ("camera", "moon")}
    fig = plot_across_images("weights", {i: figure_data(of(own[i], "random-weights"))
                                         for i in own})
    assert len(fig.axes) == 2 * len(PLOT_METRICS)
    assert [ax.get_title().split(":")[0] for ax in fig.axes[:2]] == ["camera", "moon"]
    entries = [_image_entry(own[i]) for i in own]
    size = int(own["moon"][0]["size"])
    assert np.array_equal(entries[1]["pixels"], load_image(resolve_image("moon"), size))
    assert entries[1]["variance_laplacian"] == own["moon"][0]["variance_laplacian"]
    strip = plot_images(entries)
    assert f"σ² Laplacian = {entries[1]['variance_laplacian']:.3g}" in strip.axes[1].get_title()
    # a pooled row: DerSimonian-Laird random effects of the per-image paired effects, by hand
    assert any(r["image"] == "all" and r["family"] == "weights/all" for r in table)
    for pooled in (r for r in table if r["image"] == "all"):
        vector = lambda key: key.split("/")[2]  # noqa: E731  the betas part of a run's name
        per_image = [r for r in table if r["image"] != "all" and r["metric"] == pooled["metric"]
                     and r["test"] == "paired t" and r["family"].startswith("weights/")
                     and {vector(r["a"]), vector(r["b"])} == {vector(pooled["a"]),
                                                             vector(pooled["b"])}]
        assert len(per_image) == 2
        effects, variances = [], []
        for r in per_image:
            same = vector(r["a"]) == vector(pooled["a"])
            half = (float(r["effect_ci_high"]) - float(r["effect_ci_low"])) / 2
            effects.append(float(r["effect"]) * (1 if same else -1))
            variances.append((half / stats_t.ppf(0.975, int(r["n"]) - 1)) ** 2)
        e, v = np.array(effects), np.array(variances)
        w = 1 / v
        q = np.sum(w * (e - np.sum(w * e) / np.sum(w)) ** 2)
        tau2 = max(0.0, (q - 1) / (np.sum(w) - np.sum(w ** 2) / np.sum(w)))
        w_re = 1 / (v + tau2)
        assert float(pooled["effect"]) == pytest.approx(np.sum(w_re * e) / np.sum(w_re), rel=1e-6)


def test_the_poisson_question_scores_derivative_fits_up_to_their_free_part(tmp_path):
    """Fits to the gradient alone and the Laplacian alone, every activation at its tuned scale,
    compared on the reconstruction up to a constant per frame and up to an affine function, and
    set against the SIREN paper's finding."""
    out = tmp_path / "out"
    assert main(["--experiment", "poisson", "--confirm-seeds", "2", "--no-video", "--out",
                 str(out), *TINY[2:]]) == 0
    table = list(csv.DictReader(open(out / "results" / "comparisons.csv")))
    poisson = [r for r in table if r["question"] == "poisson"]
    assert {(r["setting"], r["metric"]) for r in poisson} == {
        ("grad", "psnr_up_to_frame_constants"), ("laplacian", "psnr_up_to_affine")}
    pairs = math.comb(len(ACTIVATION_CHOICES), 2)  # every pair of activations, per setting
    assert len(poisson) == 2 * pairs and all(r["seeds"] == "1 2" for r in poisson)
    report = (out / "results" / "REPORT.md").read_text()
    assert "(Poisson) SIREN paper" in report and "from the laplacian alone, psnr_up_to_affine" \
        in report and "10,000 steps" in report


def test_dry_run_lists_runs_and_trains_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--random-weights", "3", "--experiment", "learning-rates", "--dry-run",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    # 6 lrs x 4 schedulers, 3 drawn vectors, the pixel-only reference (the original's best at
    # constant 1e-4 is one of the learning-rate runs: one folder, trained once)
    assert "28 runs (0 done)" in printed and "sine_cyclic_0.0001" in printed
    # what it knows of the confirmation: the 3 configurations named in advance (pixel-only, the
    # original's best, the claimed constant lr 1e-7) on 5 fresh seeds; at most one member of
    # each of the 4 schedules' arms and the top 2 drawn vectors by each of 2 metrics
    assert "15 runs known now (3 configurations named in advance), and up to 40 more" in printed
    assert not (out / "runs").exists()
    assert main(["--experiment", "medium", "--profile", "medium", "--dry-run",
                 "--out", str(out)]) == 0
    assert "no confirmation stage: no experiment chooses anything" in capsys.readouterr().out


def test_an_experiment_set_runs_each_of_its_files_with_the_seeds_each_file_asks(tmp_path,
                                                                                 capsys):
    """--experiment study: every file of experiments/study on each image (each activation's
    scale, each schedule's lr and each pixel loss's weight tuned on one screening seed); a
    folder of files runs each, and a file's `seeds` replicates its configurations."""
    import tomllib
    study = {p.stem: tomllib.loads(p.read_text())
             for p in (Path(__file__).parents[1] / "experiments" / "study").glob("*.toml")}
    assert set(study) == {"activations", "poisson", "learning-rates", "losses", "random-weights"}
    acts, losses = study["activations"], study["losses"]
    scales = sum(len(v) for v in acts["grid"]["scale"].values()) + 1  # ELU has none
    per_image = (len(acts["grid"]["weights"]) * scales  # Poisson: the same runs
                 + len(study["learning-rates"]["grid"]["lr"])
                 * len(study["learning-rates"]["grid"]["schedule"])
                 + sum(len(next(v for v in w.values() if isinstance(v, list)))
                       for w in losses["grid"]["weights"])
                 + study["random-weights"]["random_weights"]["count"] + 2
                 - 1)  # the original's best at constant 1e-4: a reference and an lr grid point
    assert main(["--experiment", "study", "--images", "camera,moon", "--dry-run",
                 "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert f"{2 * per_image} runs (0 done)" in printed
    assert "gauss-s1/moon_experiments_grad\n" in printed
    assert "moon/losses/mse+ms_ssim_8.4/sine_constant_0.0001\n" in printed
    assert "_seed11" not in printed  # one screening seed; fresh seeds come with the confirmation
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "fixed.toml").write_text('name = "fixed"\nquestion = "activation"\n'
                                       'layout = "activation"\nseeds = 3\n[grid]\n'
                                       'activation = ["sine", "elu"]\n[[grid.weights]]\n'
                                       'name = "grad"\npixel = 0.0\ngrad = 1.0\n')
    (folder / "lr.toml").write_text(LR_EXPERIMENT)
    assert main(["--experiment", str(folder), "--dry-run", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "8 runs (0 done)" in printed  # 2 activations x 3 seeds, 2 lrs x 1 seed
    assert "sine/cameraman_experiments_grad_seed2" in printed
    assert "sine/cameraman_experiments_grad_seed3" not in printed
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nseeds = 0\n[[grid.weights]]\nname = "p"\npixel = 1.0\n')
    assert main(["--experiment", str(bad), "--dry-run", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "seeds must be a whole number >= 1, got 0" in err and err.count("\n") == 1


def _ratios(v):
    """An independent form of a vector up to scale: its entries over its largest, as fractions."""
    top = max(Fraction(str(x)) for x in v)
    return tuple(Fraction(str(x)) / top for x in v)


def test_random_weight_vectors_follow_the_original_draw_once_up_to_scale():
    choices = [1, 0.1, 0.01, 0.001, 0]
    vectors = random_weight_vectors(200, choices, seed=3)
    assert len({_ratios(v) for v in vectors}) == 200 and all(any(v) for v in vectors)
    assert all(x in choices for v in vectors for x in v)
    assert vectors == random_weight_vectors(200, choices, seed=3)
    assert vectors[:5] != random_weight_vectors(5, choices, seed=4)
    forms = {_ratios(v) for v in itertools.product(choices, repeat=4) if any(v)}
    assert len(random_weight_vectors(len(forms), choices, 0)) == len(forms) == 369
    with pytest.raises(ValueError, match="only 369 distinct up to scale"):
        random_weight_vectors(370, choices, 0)
    references = [(1, 0, 0, 0), (1, 0.01, 0.001, 0)]
    drawn = random_weight_vectors(367, choices, 0, exclude=references)
    assert not {_ratios(v) for v in drawn} & {_ratios(v) for v in references}


def test_a_random_weights_plan_adds_the_two_reference_vectors(tmp_path):
    runs = plan([load_experiment("random-weights")], RunConfig(), tmp_path, random_weights=5)
    assert len(runs) == 7
    vectors = {r.config.output.weights_name: r.config.loss.betas for r in runs}
    assert vectors["pixel-only"] == (1, 0, 0, 0) and vectors["original-best"] == (1, 0.01, 0.001, 0)


def test_schedule_templates_resolve_in_steps_and_lr_multiples():
    s = resolve_schedule({"kind": "multistep", "gamma": 0.1,
                          "milestones_fraction": [0.25, 0.5, 0.75]}, 1e-4, 1000)
    assert s == {"kind": "multistep", "gamma": 0.1, "milestones": [250, 500, 750], "lr": 1e-4}
    c = resolve_schedule({"kind": "cyclic", "base_lr_factor": 0.001, "max_lr_factor": 1.0,
                          "step_size_up_fraction": 0.25}, 1e-4, 1000)
    assert c["base_lr"] == c["lr"] == pytest.approx(1e-7) and c["max_lr"] == 1e-4
    assert c["step_size_up"] == 250
    e = resolve_schedule({"kind": "exponential", "final_lr_factor": 0.01}, 1e-5, 300)
    assert e["final_lr"] == 1e-7


def test_the_learning_rate_experiment_covers_four_schedulers_including_cyclic(tmp_path):
    runs = plan([load_experiment("learning-rates")], RunConfig(), tmp_path)
    kinds = {r.config.schedule.kind for r in runs}
    assert kinds == {"constant", "exponential", "multistep", "cyclic"} and len(runs) == 24
    # the original's range 1e-4..1e-7, and 3e-4 and 1e-3 above it to bracket the optimum
    assert {r.config.schedule.lr for r in runs if r.config.schedule.kind == "constant"} == \
        {1e-3, 3e-4, 1e-4, 1e-5, 1e-6, 1e-7}
    batches = ensembles(runs, "batched", max_models=10)
    assert [len(b) for b in batches] == [10, 10, 4]
    assert all(r.folder().state(r.config) == "todo" for r in runs)


def test_worker_processes_give_the_same_runs(tmp_path):
    common = ["--random-weights", "2", "--no-video", "--engine", "sequential", *TINY]
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    assert main([*common, "--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    read = lambda d: {r["name"]: r for r in csv.DictReader(open(d / "results" / "summary.csv"))}  # noqa
    one, two = read(tmp_path / "one"), read(tmp_path / "two")
    assert one.keys() == two.keys() and len(one) == 4
    for name in one:
        assert float(one[name]["pixel_mse"]) == pytest.approx(float(two[name]["pixel_mse"]),
                                                              rel=1e-4)


KILL_DURING = """
import os, signal, sys
import inr.artefacts.rundir, inr.artefacts.video
target = sys.argv[1]

def killed(path):  # a partial file exists on disk when the process dies
    open(path, "wb").write(b"partial")
    os.kill(os.getpid(), signal.SIGKILL)

if target == "video":
    inr.artefacts.video._WRITERS[".mp4"] = lambda path, frames, fps: killed(path)
else:
    inr.artefacts.rundir.torch.save = lambda data, path: killed(path)
from inr.cli import main
main(sys.argv[2:])
"""


def test_a_rerun_removes_the_temporary_files_of_killed_attempts_and_no_others(tmp_path):
    out = tmp_path / "out"
    args = ["--random-weights", "2", "--engine", "sequential", "--out", str(out), *TINY]
    # killed while writing the video (whose folder runs share), then while writing the checkpoint
    for target, suffix in (("video", ".tmp.mp4"), ("checkpoint", ".tmp.pt")):
        killed = subprocess.run([sys.executable, "-c", KILL_DURING, target, *args],
                                capture_output=True, text=True, timeout=300)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        left = list(out.rglob(f"*{suffix}"))
        assert len(left) == 1 and left[0].read_bytes() == b"partial"
    video_folder = next((out / "videos").rglob("*.mp4")).parent
    foreign = video_folder / ".another_run.mp4.abcd1234.tmp.mp4"  # another run's, in the same folder
    foreign.write_bytes(b"not ours")
    run_temporary = left[0]
    assert main(args) == 0
    assert not run_temporary.exists()
    assert sorted(out.rglob("*.tmp*")) == [foreign]
    assert len(set((out / "videos").rglob("*.mp4")) - {foreign}) == 4  # one video a run


def test_replicate_seeds_give_one_row_a_run_and_the_report_summarises_them_as_numpy(tmp_path):
    out = tmp_path / "out"
    assert main(["--random-weights", "2", "--seeds", "2", "--no-video", "--out", str(out),
                 *TINY]) == 0
    rows = list(csv.DictReader(open(out / "results" / "summary.csv")))
    assert len(rows) == 8  # (2 drawn + 2 reference vectors) x 2 seeds
    by_config = {}
    for r in rows:
        by_config.setdefault(r["configuration"], []).append(r)
    assert all(sorted(float(r["seed"]) for r in group) == [0.0, 1.0] for group in by_config.values())
    assert {r["weights"] for r in rows} >= {"pixel-only", "original-best"}
    replicate = next(r for r in rows if float(r["seed"]) == 1)
    assert replicate["name"] == replicate["configuration"] + "_seed1"
    from inr.report.rows import collect
    from inr.stats import rank
    ranking = rank(collect(OutputTree(out)), "pixel_mse")
    for config, summary in ranking.entries:
        values = [float(r["pixel_mse"]) for r in by_config[config.key]]
        assert summary.mean == pytest.approx(np.mean(values), rel=1e-9)
        assert summary.sd == pytest.approx(np.std(values, ddof=1), rel=1e-9)


CONFIRM = ["--random-weights", "4", "--confirm", "1", "--confirm-seeds", "2", "--engine",
           "sequential", "--no-video", *TINY[2:-3], "--steps", "60", "--quiet"]


def test_the_confirmation_stage_reruns_the_top_k_and_the_references_and_resumes_after_a_kill(
        tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, str(REPO / "sweep.py"), *CONFIRM, "--out", str(out)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    while time.time() < deadline and not list(out.rglob("*_seed1/metrics.json")):
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # killed inside the confirmation stage
    first.wait()
    before = {p: p.stat().st_mtime_ns for p in out.rglob("metrics.json")}
    confirmed_before_kill = len(list(out.rglob("*_seed1/metrics.json")))
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    rows = list(csv.DictReader(open(out / "results" / "summary.csv")))
    assert len({r["name"] for r in rows}) == len(rows)  # every run once
    screening = {r["configuration"]: r for r in rows if float(r["seed"]) == 0}
    assert len(screening) == 6  # 4 drawn and the 2 reference vectors, screened with one seed
    best = {min(screening, key=lambda c: float(screening[c][m])) for m in ("pixel_mse", "grad_mse")}
    references = {c for c, r in screening.items() if r["weights"] in ("pixel-only", "original-best")}
    confirmed = {r["configuration"] for r in rows if float(r["seed"]) == 1}
    assert confirmed == best | references
    fresh = [r for r in rows if float(r["seed"]) > 0]
    assert {float(r["seed"]) for r in fresh} == {1.0, 2.0}  # fresh seeds, beyond the screening's
    assert all(r["stage"] == "confirmation" for r in fresh)
    assert all(r["stage"] == "screening" for r in screening.values())
    assert {r["role"] for r in rows if r["configuration"] in references} == {"reference"}
    assert {r["role"] for r in rows if r["configuration"] not in references} == {"drawn"}
    assert len(rows) == 6 + 2 * len(confirmed)
    assert 1 <= confirmed_before_kill < len(confirmed), "the kill should land mid-confirmation"
    assert "reused 6 of 6 runs" in second.stdout and "confirmation:" in second.stdout
    done_before = sum(1 for p in before if "_seed" in p.parent.name)
    assert f"reused {done_before} of {2 * len(confirmed)} runs" in second.stdout
    for p, mtime in before.items():  # nothing finished before the kill was trained again
        assert p.stat().st_mtime_ns == mtime


def test_every_new_measure_reaches_the_record_summary_hparams_and_report(tmp_path):
    exp = tmp_path / "terms.toml"
    exp.write_text('name = "terms"\nquestion = "weights"\n[[grid.weights]]\nname = "pixel"\n'
                   'pixel = 1.0\n[[grid.weights]]\nname = "grad"\npixel = 0.0\ngrad = 1.0\n')
    out = tmp_path / "out"
    assert main(["--experiment", str(exp), "--out", str(out), "--no-video", *TINY]) == 0
    metrics = ("psnr_up_to_constant", "psnr_up_to_frame_constants", "pde_residual")
    saved = json.loads(next((out / "runs").rglob("metrics.json")).read_text())
    assert set(metrics) <= set(saved["final"])
    assert set(saved["target_variances"]) == {"value", "grad", "laplacian", "dt"}
    assert set(saved["effective_weights"]) == {"pixel", "grad", "laplacian", "dt"}
    header = next(csv.reader(open(out / "results" / "summary.csv")))
    columns = {*metrics, "normalize", "derivative_method", "derivative_fallback",
               *(f"variance_{f}" for f in ("value", "grad", "laplacian", "dt")),
               *(f"effective_{t}" for t in ("pixel", "grad", "laplacian", "dt"))}
    assert columns <= set(header)
    from inr.artefacts.tblog import read_events
    events = read_events(next((out / "runs").rglob("metrics.json")).parent)
    assert {f"final/{m}" for m in metrics} <= set(events["hparam_metrics"])
    assert {"normalize", "effective_grad", "variance_laplacian"} <= set(events["hparams"])
    report = (out / "results" / "REPORT.md").read_text()
    for shown in (*metrics, "effective weights β·σ²", "σ² laplacian"):
        assert shown in report, shown


def test_a_batch_that_runs_out_of_device_memory_is_split_and_every_run_trained(tmp_path,
                                                                               monkeypatch):
    import weakref

    import inr.sweep.engine as sweep_module
    real, sizes, held = sweep_module.train_ensemble, [], []

    def small_device(configs, **kw):  # a device that holds one model at a time
        sizes.append(len(configs))
        # what the failed attempt held is freed before the halves train
        assert all(ref() is None for ref in held)
        if len(configs) > 1:
            activations = torch.empty(1 << 20)
            held.append(weakref.ref(activations))
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(configs, **kw)

    monkeypatch.setattr(sweep_module, "train_ensemble", small_device)
    (tmp_path / "lrs.toml").write_text('[grid]\nlr = [1e-4, 2e-4, 3e-4, 4e-4]\n')
    runs = plan([load_experiment(tmp_path / "lrs.toml")], RunConfig().replace(
        data={"size": 32, "frames": 2}, model={"width": 8}, train={"steps": 2}), tmp_path,
        videos=False)  # four runs that can train as one ensemble
    outcome = sweep_module.run_sweep(runs, max_models=4, progress=False, report=lambda _: None)
    assert sizes == [4, 2, 1, 1, 2, 1, 1] and len(outcome.done) == 4


def test_the_gpu_ensemble_size_is_capped_by_free_memory():
    from inr.sweep.engine import MAX_MODELS, STEP_BYTES_PER_POINT_UNIT, models_fitting
    per_model = STEP_BYTES_PER_POINT_UNIT * 65536 * 512  # the paper profile: a frame, width 512
    assert models_fitting(80 * 2**30, 65536, 512) == 16 == 2 ** int(math.log2(0.8 * 80 * 2**30 / per_model))
    assert models_fitting(10**15, 2048, 64) == MAX_MODELS["cuda"]
    assert models_fitting(10**6, 65536, 512) == 1


def test_a_replicate_is_named_by_the_tree_and_keeps_its_configurations_video_format(tmp_path):
    """Replicas are named from the plan (configuration + _seed<s>), not from another run's
    path, and their video has the format of the configuration's first video (.gif stays .gif)."""
    from inr.sweep.planning import replicate

    run = plan([load_experiment("random-weights")], RunConfig(), tmp_path, random_weights=1)[0]
    tree = OutputTree(tmp_path)
    gif = dataclasses.replace(run, config=run.config.replace(
        output={"video": str(tree.video(run.name, ".gif"))}))
    again = replicate(gif, 7)
    assert again.name == f"{run.name}_seed7" and again.config.train.seed == 7
    assert again.config.output.run_dir == str(tree.run_dir(f"{run.name}_seed7"))
    assert again.config.output.video == str(tree.video(f"{run.name}_seed7", ".gif"))
    assert again.config.output.configuration == run.name


def test_a_run_recorded_before_a_config_field_existed_is_still_done(tmp_path):
    """A record whose config lacks a field added since (train.derivative_method) matches a
    planned run that has the field at its default, and not one that sets another value."""
    from inr.artefacts.rundir import RunDir, RunResult, record

    cfg = RunConfig().replace(output={"run_dir": str(tmp_path / "run")})
    saved = record(RunResult(cfg, {"status": "completed"}), {f: 1.0 for f in
                                                             ("value", "grad", "laplacian", "dt")})
    del saved["config"]["train"]["derivative_method"]
    run = RunDir(tmp_path / "run")
    run.write(saved)
    assert run.state(cfg) == "done"
    assert run.state(cfg.replace(train={"derivative_method": "autograd"})) == "conflict"
    saved["config"]["train"]["no_such_field"] = 1
    run.write(saved)
    assert run.state(cfg) == "conflict"


def test_an_activation_at_another_scale_is_named_by_its_symbol():
    from inr.artefacts.tree import activation_name
    named = [("sine", {"w0": 10.0}, "sine-w010"), ("gauss", {"gauss_scale": 3.0}, "gauss-s3"),
             ("finer", {"w0": 20.0}, "finer-w020"), ("siren", {"w0": 10.0}, "siren-w010"),
             ("sine", {}, "sine"), ("gauss", {}, "gauss"),
             ("elu", {"w0": 10.0, "gauss_scale": 3.0}, "elu")]
    for activation, scale, name in named:
        assert activation_name(RunConfig().replace(model={"activation": activation, **scale})) \
            == name


def test_a_scale_for_an_activation_without_one_is_refused(tmp_path):
    path = tmp_path / "elu-scale.toml"
    path.write_text('name = "elu-scale"\nlayout = "activation"\n[grid]\n'
                    'activation = ["sine", "elu"]\n[grid.scale]\nelu = [1.0]\n')
    with pytest.raises(ValueError) as err:
        plan([load_experiment(str(path))], RunConfig(), tmp_path / "out")
    assert str(err.value).endswith("grid.scale.elu: elu has no frequency or scale")
    assert "\n" not in str(err.value)


def _planned_on(images, out, experiment="activations"):
    from inr.data import resolve_image
    return {image: plan([load_experiment(experiment)],
                        RunConfig().replace(data={"image": str(resolve_image(image))}), out,
                        videos=False, seeds=2)
            for image in images}


def test_a_configuration_planned_on_two_images_carries_one_across_images_name(tmp_path):
    """Each planned run carries what its configuration is called on every image; the same
    configuration has it on both images (its replicate too), different ones differ."""
    planned = _planned_on(("camera", "moon"), tmp_path)
    names = {image: [r.config.output.across_images for r in runs]
             for image, runs in planned.items()}
    assert names["camera"] == names["moon"]
    firsts = [r for r in planned["camera"] if r.name == r.config.output.configuration]
    assert len({r.config.output.across_images for r in firsts}) == len(firsts)
    sine = next(r for r in planned["moon"] if r.name == "sine-w010/moon_experiments_grad_seed1")
    assert sine.config.output.across_images == "sine-w010/*_experiments_grad"


def test_the_record_carries_the_images_label_and_a_row_reads_it_old_records_too(tmp_path):
    """A record holds the image's label and the across-images name, and its row reads both; a
    record without them (as written before they were recorded) gives the same row, built from
    its recorded config; a row reads the recorded label, not the file name."""
    from inr.artefacts.rundir import RunResult, record, row_of
    variances = {f: 1.0 for f in ("value", "grad", "laplacian", "dt")}
    planned = _planned_on(("camera",), tmp_path, "losses")["camera"] + _planned_on(
        ("moon",), tmp_path, "learning-rates")["moon"]
    picked = [planned[0], planned[1], next(r for r in planned if "moon/" in r.name)]
    assert picked[1].name.endswith("_seed1")  # a replicate
    for run in picked:
        saved = record(RunResult(run.config, {"status": "completed"}), variances)
        image = "moon" if "moon/" in run.name else "camera"
        assert saved["image"] == image
        assert saved["labels"]["across_images"] == run.config.output.across_images
        assert run.config.output.across_images == run.name.replace(image, "*", 1).removesuffix(
            "_seed1")
        row = row_of(saved)
        assert (row["image"], row["across_images"]) == (image,
                                                        run.config.output.across_images)
        old = json.loads(json.dumps(saved))
        del old["image"], old["labels"]["across_images"]
        assert row_of(old) == row
    saved = record(RunResult(picked[0].config, {"status": "completed"}), variances)
    assert row_of({**saved, "image": "planted"})["image"] == "planted"
    single = record(RunResult(RunConfig().replace(output={"name": "single"}),
                              {"status": "completed"}), variances)
    assert (row_of(single)["image"], row_of(single)["across_images"]) == ("cameraman", "single")


def test_rows_are_grouped_by_image_in_first_seen_order():
    from inr.artefacts.rundir import by_image
    rows = [{"image": "moon", "n": 0}, {"image": "camera", "n": 1}, {"image": "moon", "n": 2},
            {"n": 3}, {"image": "", "n": 4}]
    grouped = by_image(rows)
    assert list(grouped) == ["moon", "camera", ""]
    assert {k: [r["n"] for r in v] for k, v in grouped.items()} == {
        "moon": [0, 2], "camera": [1], "": [3, 4]}
    assert by_image([]) == {}
