"""inr.figures: the figures show exactly the data they are given, laid out as documented."""
import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from inr.artefacts.panels import panel_columns
from inr.report import figures
from inr.stats import rank
from inr.report.markdown import question_table
from inr.data import diffuse
from inr.artefacts.panels import COLUMN_TITLES, COLUMNS


@pytest.fixture(scope="module")
def seq():
    rng = np.random.default_rng(0)
    return diffuse(rng.random((20, 24)), [0.01, 0.05, 0.1, 0.2, 0.4], 0.02)


def _images(fig):
    return [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]


def test_sequence_figure_shows_each_target_at_each_frame(seq):
    frames = [0, 2, 4]
    fig = figures.sequence_figure(seq, frames=frames)
    assert isinstance(fig, Figure)
    images = _images(fig)
    assert len(images) == len(COLUMNS) * len(frames)  # 4 rows of targets x 3 frames
    assert len(fig.axes) == len(images) + len(COLUMNS)  # plus one colour bar per row
    fields = panel_columns(seq.fields())
    np.testing.assert_allclose(fields["grad_mag"], np.hypot(seq.grad[..., 0], seq.grad[..., 1]))
    for k, name in enumerate(COLUMNS):
        for j, frame in enumerate(frames):
            ax = images[k * len(frames) + j]
            np.testing.assert_array_equal(ax.images[0].get_array(), fields[name][frame])
            if k == 0:
                assert ax.get_title() == f"t = {seq.times[frame]:.3g}"
            if j == 0:
                assert ax.get_ylabel() == COLUMN_TITLES[name]
        # one colour scale per row, shared by every frame
        row = images[k * len(frames):(k + 1) * len(frames)]
        assert len({ax.images[0].get_clim() for ax in row}) == 1
    lo, hi = images[2 * len(frames)].images[0].get_clim()  # Laplacian: signed, symmetric
    assert lo == -hi


def test_sequence_figure_default_frames_and_bad_frames(seq):
    fig = figures.sequence_figure(seq)
    assert len(_images(fig)) == len(COLUMNS) * 4
    assert figures.default_frames(5) == [0, 1, 3, 4]
    assert figures.default_frames(2) == [0, 1]
    with pytest.raises(ValueError, match="out of range"):
        figures.sequence_figure(seq, frames=[7])


def _history(scale):
    return [{"step": s, "psnr": 10 + s * scale, "pixel_mse": 1 / (1 + s), "grad_mse": 2.0 / (1 + s),
             "laplacian_mse": 50.0, "dt_mse": 0.1 * scale} for s in (10, 20, 30)]


def test_history_figure_plots_each_metric_of_each_run():
    runs = {"sine": _history(1.0), "elu": _history(0.5)}
    metrics = ("psnr", "pixel_mse", "grad_mse", "laplacian_mse", "dt_mse")
    fig = figures.history_figure(runs, metrics=metrics)
    assert len(fig.axes) == len(metrics)
    for ax, metric in zip(fig.axes, metrics):
        assert ax.get_title().startswith(metric)
        assert [line.get_label() for line in ax.lines] == ["sine", "elu"]
        for line, history in zip(ax.lines, runs.values()):
            np.testing.assert_array_equal(line.get_xdata(), [r["step"] for r in history])
            np.testing.assert_array_equal(line.get_ydata(), [r[metric] for r in history])
        assert ax.get_yscale() == ("linear" if metric == "psnr" else "log")
    assert fig.axes[0].get_legend() is not None


def test_history_figure_skips_missing_and_non_finite_values():
    history = [{"step": 1, "psnr": 5.0}, {"step": 2, "psnr": math.nan}, {"step": 3}]
    fig = figures.history_figure({"run": history}, metrics=("psnr",))
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), [1])
    with pytest.raises(ValueError):
        figures.history_figure({})


def test_with_loss_is_the_weighted_sum_of_the_mse_terms():
    history = _history(1.0)
    weights = {"pixel": 1.0, "grad": 0.01, "laplacian": 0.001, "dt": 0.0, "ssim": 0.0}
    out = figures.with_loss(history, weights)
    for r, o in zip(history, out):
        assert o["loss"] == pytest.approx(r["pixel_mse"] + 0.01 * r["grad_mse"]
                                          + 0.001 * r["laplacian_mse"])
        assert "loss" not in r  # the input is not changed


def test_question_table_ranks_configurations_by_their_mean_over_seeds(tmp_path):
    def row(config, seed, psnr, status="completed"):
        return {"configuration": config, "seed": seed, "status": status, "activation": config,
                "psnr": psnr, "grad_mse": 0.1, "laplacian_mse": 1.0, "dt_mse": 0.1,
                "pde_residual": 0.5, "video": "", "weights": "pixel", "scheduler": "constant",
                "scale": 30.0,
                "lr": 1e-4, "beta_pixel": 1.0, "beta_grad": 0.0, "beta_laplacian": 0.0,
                "beta_dt": 0.0}
    rows = [row("a", 0, 20.0), row("a", 1, 22.0), row("b", 0, 30.0), row("b", 1, 31.0),
            row("c", 0, 40.0, "diverged"), row("d", 0, math.nan)]
    table = question_table(rank(rows, "psnr"), "activation", tmp_path).splitlines()
    assert table[0].startswith("| rank | activation | scale | psnr: mean ± sd (n) | grad_mse (mean)")
    # the sd to two significant digits (0.7071 -> 0.71, 1.414 -> 1.4), the mean to match
    assert np.std([30, 31], ddof=1) == pytest.approx(0.7071, abs=1e-4)
    assert table[2].startswith("| 1 | b | 30 | 30.50 ± 0.71 (n=2) |")
    assert table[3].startswith("| 2 | a | 30 | 21.0 ± 1.4 (n=2) |")
    assert len([line for line in table if line.startswith("| ")]) == 3  # c diverged, d nan
    assert not any(line.startswith("Winner") for line in table)  # an order, not a test
