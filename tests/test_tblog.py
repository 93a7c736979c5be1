"""Tests for inr.artefacts.tblog: write with SummaryWriter into tmp_path, read back with EventAccumulator."""

import math

import numpy as np
import pytest
import torch
from torch.utils.tensorboard import SummaryWriter

from inr.artefacts.tblog import clean_hparams, log_hparams, log_panel, log_scalars, read_events


@pytest.fixture
def run_dir(tmp_path):
    return tmp_path / "runs" / "sine_w64"


def test_log_scalars_tags_and_skips(run_dir):
    with SummaryWriter(run_dir) as writer:
        for step in range(3):
            skipped = log_scalars(writer, "train", {
                "loss": 1.0 / (step + 1), "lr": np.float32(1e-3), "grad_norm": torch.tensor(2.5),
                "diverged": float("nan"), "inf": math.inf, "note": "warmup", "none": None,
                "vector": np.ones(3)}, step)
            assert skipped == ["diverged", "inf", "note", "none", "vector"]
        log_scalars(writer, "eval", {"psnr": 31.5}, 2)
    events = read_events(run_dir)
    assert set(events["scalars"]) == {"train/loss", "train/lr", "train/grad_norm", "eval/psnr"}
    assert [s for s, _ in events["scalars"]["train/loss"]] == [0, 1, 2]
    assert [v for _, v in events["scalars"]["train/loss"]] == pytest.approx([1.0, 0.5, 1 / 3])
    assert events["scalars"]["train/lr"][0][1] == pytest.approx(1e-3)
    assert events["scalars"]["train/grad_norm"][0][1] == pytest.approx(2.5)
    assert events["scalars"]["eval/psnr"] == [(2, 31.5)]


def test_log_panel(run_dir):
    panel = np.zeros((40, 60, 3), dtype=np.uint8)
    panel[:, :30, 0] = 255
    with SummaryWriter(run_dir) as writer:
        log_panel(writer, "panels/final", panel, 100)
        with pytest.raises(ValueError, match="uint8"):
            log_panel(writer, "panels/bad", panel.astype(np.float32), 0)
        with pytest.raises(ValueError, match="h, w, 3"):
            log_panel(writer, "panels/bad", panel[..., 0], 0)
    events = read_events(run_dir)
    assert set(events["images"]) == {"panels/final"}
    assert events["images"]["panels/final"] == [(100, 60, 40)]  # (step, width, height)


def test_clean_hparams_types():
    clean = clean_hparams({"lr": 1e-3, "width": np.int64(64), "omega": np.float32(30.0),
                           "act": "sine", "layers": (3, 4), "schedule": None, "ema": True})
    assert clean == {"lr": 1e-3, "width": 64, "omega": 30.0, "act": "sine",
                     "layers": "(3, 4)", "schedule": "None", "ema": True}
    assert type(clean["width"]) is int and type(clean["omega"]) is float


def test_log_hparams_writes_into_runs_own_folder(run_dir):
    hparams = {"act": "sine", "lr": 1e-4, "width": np.int64(64), "layers": [64, 64],
               "schedule": None, "ema": False}
    metrics = {"final/psnr": 32.5, "final/lap_rel_err": np.float64(0.12), "final/dt_rel_err": math.nan}
    with SummaryWriter(run_dir) as writer:
        log_scalars(writer, "train", {"loss": 0.1}, 500)
        skipped = log_hparams(writer, hparams, metrics, step=500)
    assert skipped == ["final/dt_rel_err"]

    # one event file in the run folder itself, no timestamped sub-folder from add_hparams
    entries = list(run_dir.iterdir())
    assert [p.is_dir() for p in entries] == [False]
    assert entries[0].name.startswith("events.out.tfevents")

    events = read_events(run_dir)
    assert events["hparam_tags"] == ["_hparams_/experiment", "_hparams_/session_end_info",
                                     "_hparams_/session_start_info"]
    assert events["hparams"] == {"act": "sine", "lr": pytest.approx(1e-4), "width": 64.0,
                                 "layers": "[64, 64]", "schedule": "None", "ema": 0.0}
    assert events["hparam_metrics"] == list(metrics)
    # the metric tags are also scalars in the same run, so the HParams table can fill them in
    assert events["scalars"]["final/psnr"] == [(500, 32.5)]
    assert events["scalars"]["final/lap_rel_err"] == [(500, pytest.approx(0.12))]
    assert "final/dt_rel_err" not in events["scalars"]
    assert "train/loss" in events["scalars"]


def test_log_hparams_rejects_non_dicts(run_dir):
    with SummaryWriter(run_dir) as writer, pytest.raises(ValueError, match="dicts"):
        log_hparams(writer, [("lr", 1e-3)], {})


def test_read_events_rejects_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        read_events(tmp_path / "nope")
