"""Figures for FinalProject.ipynb: pure functions of data, each returning a new object.

    sequence_figure(seq, frames)      the diffusion sequence: pixel, |grad|, Laplacian and dt
                                      targets (rows) at a few frames (columns)
    history_figure(histories)         evaluation curves (loss, PSNR, per-term MSE) of one or more
                                      runs, from RunResult.history or the record's "history"
    with_loss(history, weights)       adds each record's weighted loss sum_k beta_k * MSE_k

Figures are built with matplotlib.figure.Figure (no pyplot state, no backend needed): a notebook
shows them with IPython.display.display(fig); a script saves them with fig.savefig. Colour
scales and column titles are the ones of the 2x4 prediction panels (inr.artefacts.panels), so every
picture of a field in the suite reads the same way.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from inr.data import DiffusionSequence
from inr.artefacts.panels import CMAPS, COLUMN_TITLES, COLUMNS, panel_columns, panel_scales
from inr.report.plots import log_scale_fits
from inr.vocabulary import MSE_TERMS, metric_title, mse_metric

HISTORY_METRICS = ("psnr", "pixel_mse", "grad_mse", "laplacian_mse", "dt_mse")
CELL_INCHES = 2.0
HISTORY_COLUMNS = 3  # history_figure: axes per row


def default_frames(n_frames: int, count: int = 4) -> list[int]:
    """Up to `count` frame indices spread evenly from the first to the last."""
    if n_frames < 1:
        raise ValueError(f"a sequence needs at least one frame, got {n_frames}")
    return sorted({int(round(i)) for i in np.linspace(0, n_frames - 1, min(count, n_frames))})


def sequence_figure(seq: DiffusionSequence, frames: Sequence[int] | None = None) -> Figure:
    """Targets (rows: pixel, |∇u|, Δu, ∂u/∂t) of `seq` at `frames` (columns; default: 4 spread).

    Each row has one colour scale over all its frames (robust percentiles of the whole sequence,
    symmetric for the signed Laplacian and dt, as in inr.artefacts.panels) and one colour bar, so the decay
    of the derivatives under diffusion is visible. Axes: len(frames) x 4 images, then 4 bars.
    """
    fields = panel_columns(seq.fields())
    n = fields["value"].shape[0]
    frames = default_frames(n) if frames is None else [int(f) for f in frames]
    if not frames:
        raise ValueError("frames must name at least one frame")
    bad = [f for f in frames if not -n <= f < n]
    if bad:
        raise ValueError(f"frames {bad} out of range for a sequence of {n} frames")
    scales = panel_scales(fields)
    fig = Figure(figsize=(CELL_INCHES * len(frames) + 1.0, CELL_INCHES * len(COLUMNS)),
                 layout="constrained")
    axes = np.asarray(fig.subplots(len(COLUMNS), len(frames), squeeze=False))
    for i, name in enumerate(COLUMNS):
        vmin, vmax = scales[name]
        for j, frame in enumerate(frames):
            ax = axes[i, j]
            image = ax.imshow(fields[name][frame], cmap=CMAPS[name], vmin=vmin, vmax=vmax,
                              interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"t = {float(seq.times[frame]):.3g}")
            if j == 0:
                ax.set_ylabel(COLUMN_TITLES[name])
        fig.colorbar(image, ax=list(axes[i]), shrink=0.9)
    fig.suptitle(f"Heat-equation sequence (D = {seq.diffusivity:g}, {seq.method}): "
                 "targets in network coordinates")
    return fig


def history_figure(histories: Mapping[str, list[dict]],
                   metrics: Sequence[str] = HISTORY_METRICS) -> Figure:
    """One axis per metric (in rows of 3) against the training step, one line per run.

    histories: run label -> history.
    A history is a list of evaluation records {"step": s, metric: value, ...} (RunResult.history
    or metrics.json "history"). Errors (MSE) use a log axis; records lacking a metric are skipped.
    """
    if not histories:
        raise ValueError("history_figure needs at least one run")
    if not metrics:
        raise ValueError("history_figure needs at least one metric")
    cols = min(HISTORY_COLUMNS, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig = Figure(figsize=(4.0 * cols, 3.0 * rows), layout="constrained")
    grid = np.asarray(fig.subplots(rows, cols, squeeze=False)).ravel()
    for spare in grid[len(metrics):]:
        spare.remove()
    axes = grid[:len(metrics)]
    for ax, metric in zip(axes, metrics):
        for label, history in histories.items():
            points = [(r["step"], r[metric]) for r in history
                      if metric in r and r[metric] is not None and math.isfinite(r[metric])]
            ax.plot([p[0] for p in points], [p[1] for p in points], "o-", ms=3, label=label)
        ax.set_title(metric_title(metric), fontsize=9)
        ax.set_xlabel("step")
        if log_scale_fits(metric, [y for line in ax.lines for y in line.get_ydata()]):
            ax.set_yscale("log")
    axes[0].legend()
    return fig


def with_loss(history: list[dict], weights: Mapping[str, float]) -> list[dict]:
    """Copies of the records with "loss" = sum over terms of beta_term * term MSE.

    weights: the run's loss weights (config "loss" section); terms are pixel, grad, laplacian and
    dt (the MSE terms of inr.training.losses); perceptual (SSIM) terms are not in the records and are left
    out. This is the training objective evaluated on every pixel of every frame.
    """
    return [{**r, "loss": sum(float(weights.get(t, 0.0)) * r[mse_metric(t)]
                              for t in MSE_TERMS if weights.get(t, 0.0))}
            for r in history]
