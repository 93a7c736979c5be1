"""Held-out images: they take no part in any choice, train what the development images chose
on the confirmation's fresh seeds, and the report's cross-image verdicts are tested on them."""
import contextlib
import csv

import pytest
from pathlib import Path

from inr.artefacts.rundir import RunDir, RunResult, record
from inr.cli import main
from inr.config import RunConfig
from inr.data import resolve_image
from inr.sweep.experiments import load_experiment
from inr.sweep.planning import plan
from inr.sweep.stages import confirmation_runs
from inr.vocabulary import ImageRole

VARIANCES = {"value": 0.05, "grad": 0.36, "laplacian": 108.0, "dt": 0.044}
TINY = ["--size", "32", "--frames", "4", "--width", "16", "--steps", "12", "--quiet",
        "--no-video"]


def _finish(run, mse: float) -> None:
    """Write a finished record for a planned run, with this pixel and gradient MSE."""
    final = {"pixel_mse": mse, "grad_mse": mse, "laplacian_mse": 50.0, "dt_mse": 0.1,
             "psnr": 30.0, "ssim": 0.8, "status": "completed"}
    RunDir.of(run.config).write(record(RunResult(run.config, final, final), VARIANCES))


def _planned(out: Path, image: str, role: str):
    base = RunConfig().replace(data={"image": str(resolve_image(image))},
                               output={"image_role": role})
    return plan([load_experiment("random-weights")], base, out, random_weights=4, seed=0,
                videos=False)


def test_a_planted_held_out_image_whose_runs_would_change_the_choice_does_not_change_it(tmp_path):
    """The development image ranks the drawn vectors one way; a planted held-out image, whose
    screening records rank them the other way and by far more, would move the pooled choice if
    it took part (shown by pooling it as a development image). As a held-out image it does not:
    the confirmation trains the development image's choice on both images."""
    development = _planned(tmp_path, "camera", ImageRole.DEVELOPMENT)
    held_out = _planned(tmp_path, "moon", ImageRole.HELD_OUT)
    drawn = [r for r in development if r.config.output.role == "drawn"]
    for runs, mse in ((development, lambda i: 0.01 * (1 + i)),  # camera: the first drawn best
                      (held_out, lambda i: 1e3 * 0.1 ** i)):  # moon: the last, by decades
        for i, run in enumerate(r for r in runs if r.config.output.role == "drawn"):
            _finish(run, mse(i))
        for run in runs:
            if run.config.output.role != "drawn":
                _finish(run, 10.0)
    on_camera = lambda extra: {r.config.output.configuration.replace("moon/", "camera/", 1)  # noqa
                               for r in extra}
    held = confirmation_runs(development, 1, 2, held_out)
    pooled_in = confirmation_runs(development + held_out, 1, 2)
    assert on_camera(pooled_in) != on_camera(held), "the plant would have changed the choice"
    assert drawn[0].name in on_camera(held)
    # the confirmation trains the development image's choice on the held-out image alone
    assert all(r.config.output.image_role == ImageRole.HELD_OUT and r.name.startswith("moon/")
               for r in held)
    assert all(r.config.output.stage == "confirmation" and r.config.train.seed in (1, 2)
               for r in held)


LR_EXPERIMENT = """
name = "lr-tuned"
question = "learning_rate"
layout = "betas"
[base.loss]
pixel = 1.0
grad = 0.01
[grid]
lr = [1e-4, 1e-3]
[[grid.schedule]]
kind = "constant"
[[grid.schedule]]
kind = "exponential"
final_lr_factor = 0.01
"""


def test_a_held_out_sweep_tests_its_cross_image_verdicts_on_images_that_chose_nothing(tmp_path):
    """End to end on tiny runs (each schedule's lr tuned on camera, confirmed on fresh seeds on
    camera and on two held-out images): the held-out images have no screening runs, every
    confirmatory comparisons.csv row has disjoint chosen_on and tested_on (image, seed) pairs,
    and the pooled rows use the held-out images alone."""
    out, experiment = tmp_path / "out", tmp_path / "lr-tuned.toml"
    experiment.write_text(LR_EXPERIMENT)
    assert main(["--images", "camera", "--holdout-images", "moon,grass", "--experiment",
                 str(experiment), "--confirm-seeds", "3", "--out", str(out), *TINY]) == 0
    rows = list(csv.DictReader(open(out / "results" / "summary.csv")))
    roles = {r["image"]: r["image_role"] for r in rows}
    assert roles == {"camera": "development", "moon": "held-out", "grass": "held-out"}
    assert {r["stage"] for r in rows if r["image"] != "camera"} == {"confirmation"}
    assert {r["stage"] for r in rows if r["image"] == "camera"} == {"screening"}
    table = list(csv.DictReader(open(out / "results" / "comparisons.csv")))
    pooled = [r for r in table if r["image"] == "all"]
    assert pooled and all(r["test"] == "random effects, HKSJ" and r["n"] == "2" for r in pooled)
    assert all(r["tested_on"].split(" @ ")[0] in ("moon grass", "grass moon") for r in pooled)

    def pairs(text):
        if text == "-":
            return set()
        images, seeds = text.split(" @ ")
        return {(i, s) for i in images.split() for s in seeds.split()}
    confirmatory = [r for r in table if "exploratory" not in r["family"]]
    assert any(r["chosen_on"] == "camera @ 0" for r in confirmatory)
    for r in confirmatory:
        assert not pairs(r["chosen_on"]) & pairs(r["tested_on"]), r
    report = (out / "results" / "REPORT.md").read_text()
    assert "## Across the 2 held-out images" in report and "## Answers" in report
    assert "These images took no part in any choice" in report


def test_an_experiment_screens_only_on_its_own_development_images(tmp_path):
    """`development_images` limits an experiment's screening to those development images: the
    others plan none of its runs, the choice is theirs, and every held-out image (grass too,
    when held out) trains it. Naming none of the sweep's development images is a one-line error before training."""
    experiment = tmp_path / "lr-tuned.toml"
    experiment.write_text('development_images = ["camera"]\n' + LR_EXPERIMENT)
    exp = load_experiment(experiment)
    assert exp.development_images == ("camera",)

    def planned(image: str, role: str):
        base = RunConfig().replace(data={"image": str(resolve_image(image))},
                                   output={"image_role": role})
        return plan([exp], base, tmp_path, videos=False)

    camera, grass = planned("camera", ImageRole.DEVELOPMENT), planned("grass", ImageRole.DEVELOPMENT)
    moon = planned("moon", ImageRole.HELD_OUT)
    assert len(camera) == 4 and grass == [] and len(moon) == 4
    assert len(planned("grass", ImageRole.HELD_OUT)) == 4  # held out: every image
    for run in camera:  # camera: lr 1e-3 best under both schedules
        _finish(run, 0.01 if run.config.schedule.lr == 1e-3 else 0.1)
    extra = confirmation_runs(camera, 1, 2, moon)
    assert {r.config.schedule.lr for r in extra} == {1e-3}
    assert len(extra) == 2 * 2 and all(r.name.startswith("moon/") for r in extra)

    err = tmp_path / "err.txt"
    with open(err, "w") as stream, contextlib.redirect_stderr(stream):
        code = main(["--images", "grass", "--holdout-images", "moon", "--experiment",
                     str(experiment), "--out", str(tmp_path / "out"), *TINY])
    assert code == 2
    assert err.read_text().strip().splitlines() == [
        f"sweep.py: error: {experiment}: development_images camera: none is among the "
        "development images (grass)"]
    assert not (tmp_path / "out" / "runs").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text('development_images = "camera"\n' + LR_EXPERIMENT)
    with pytest.raises(ValueError, match="development_images must be a non-empty list"):
        load_experiment(bad)
