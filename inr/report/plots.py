"""The report's plots: one figure per experiment, drawn by what the experiment asks, saved as
results/<experiment>.png and together in results/report.pdf.

Figures are matplotlib.figure.Figure objects (no pyplot state, no backend to choose). Every axis
says which way is better (inr.vocabulary.metric_title), and `log_scale_fits` is the one rule for
when a metric gets a log axis.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from inr.io import atomic_path
from inr.report.analysis import TOP
from inr.report.rows import betas, experiment_questions, of, ranked
from inr.vocabulary import higher_is_better, metric_title

PLOT_METRICS = ("pixel_mse", "ssim", "grad_mse", "laplacian_mse", "dt_mse", "pde_residual")
PNG_DPI = 110


def log_scale_fits(metric: str, values) -> bool:
    """A log axis for a lower-is-better metric (an error) whose finite values are all positive;
    a linear one for scores (PSNR, SSIM) and for anything that reaches 0 or below."""
    finite = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    return not higher_is_better(metric) and finite.size > 0 and bool(finite.min() > 0)


def label_axis(ax, metric: str, axis: str = "y") -> None:
    """Title the axis with the metric and its direction; log scale where `log_scale_fits`."""
    ax.set_title(metric_title(metric))
    lo, hi = ax.dataLim.intervalx if axis == "x" else ax.dataLim.intervaly
    if log_scale_fits(metric, [lo, hi]):
        getattr(ax, f"set_{axis}scale")("log")
        getattr(ax, f"{axis}axis").set_minor_formatter(NullFormatter())


def _grid(title: str):
    fig = Figure(figsize=(15, 8.5), layout="constrained")
    axes = fig.subplots(2, 3)
    fig.suptitle(title)
    return fig, axes.ravel()


def _bars(ax, groups: list[str], series: dict[str, list[float]]):
    x, width = np.arange(len(groups)), 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + i * width, values, width, label=name)
    ax.set_xticks(x + 0.4 - width / 2, groups, rotation=20)


def plot_learning_rates(rows) -> Figure:
    fig, axes = _grid("Learning rates x schedulers")
    for ax, metric in zip(axes, PLOT_METRICS):
        for sched in sorted({r["scheduler"] for r in rows}):
            pts = sorted((r["lr"], r[metric]) for r in rows if r["scheduler"] == sched)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=sched)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (max lr for cyclic)")
        label_axis(ax, metric)
    axes[0].legend()
    return fig


def plot_activations(rows) -> Figure:
    fig, axes = _grid("Activations under each weight setting")
    weights = list(dict.fromkeys(r["weights"] for r in rows))
    acts = list(dict.fromkeys(r["activation"] for r in rows))
    for ax, metric in zip(axes, PLOT_METRICS):
        series = {a: [next((r[metric] for r in rows if r["activation"] == a and
                            r["weights"] == w), np.nan) for w in weights]
                  for a in acts}
        _bars(ax, weights, series)
        label_axis(ax, metric)
    axes[0].legend()
    return fig


def plot_weights(rows) -> Figure:
    fig, axes = _grid(f"Loss weights (pixel, grad, laplacian, dt): best {TOP} (green) and "
                      f"worst {TOP} (red) per metric")
    for ax, metric in zip(axes, PLOT_METRICS):
        order = ranked(rows, metric)
        pick = order if len(order) <= 2 * TOP else order[:TOP] + order[-TOP:]
        y = list(range(len(pick)))[::-1]
        colours = ["tab:green" if i < min(TOP, len(order) - TOP) or len(order) <= TOP
                   else "tab:red" for i in range(len(pick))]
        ax.scatter([r[metric] for r in pick], y, c=colours, zorder=3)
        ax.set_yticks(y, [betas(r) for r in pick], fontsize=7)
        ax.grid(axis="x", alpha=0.3)
        label_axis(ax, metric, axis="x")
    return fig


def plot_pixel_losses(rows) -> Figure:
    fig, axes = _grid("Pixel losses (derivative terms at fixed weights)")
    names = [r["weights"] for r in rows]
    for ax, metric in zip(axes, PLOT_METRICS):
        _bars(ax, names, {metric: [r[metric] for r in rows]})
        label_axis(ax, metric)
    return fig


PLOTTERS = {"learning_rate": plot_learning_rates, "activation": plot_activations,
            "weights": plot_weights, "pixel_loss": plot_pixel_losses}


def save_figure(fig: Figure, path: Path) -> Path:
    """Save a figure atomically (PNG at PNG_DPI)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=PNG_DPI)
    return path


def plot_all(rows, results: Path) -> list[Path]:
    """One PNG per experiment whose question has a plot, and all of them in report.pdf."""
    figures = [(name, PLOTTERS[question](of(rows, name)))
               for name, question in experiment_questions(rows).items()
               if question in PLOTTERS and of(rows, name)]
    paths = [save_figure(fig, results / f"{name}.png") for name, fig in figures]
    if figures:
        with atomic_path(results / "report.pdf") as tmp:
            with PdfPages(tmp) as pdf:
                for _, fig in figures:
                    pdf.savefig(fig)
        paths.append(results / "report.pdf")
    return paths
