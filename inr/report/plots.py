"""The report's plots: one figure per experiment, drawn by what the experiment asks, saved as
results/<experiment>.png, the Pareto view of the loss weights (results/pareto.png), and all of
them together in results/report.pdf. Points are configurations: the mean over their seeds, with
the standard deviation as error bars.

Figures are matplotlib.figure.Figure objects (no pyplot state, no backend to choose). Every axis
says which way is better (inr.vocabulary.metric_title), and `log_scale_fits` is the one rule for
when a metric gets a log axis.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from inr.io import atomic_path
from inr.report.analysis import (PARETO_AXES, PLOT_METRICS, TOP, FigureData, figure_data,
                                 reference_name)
from inr.report.rows import asking, betas, experiment_questions, of
from inr.vocabulary import Question, higher_is_better, metric_title

if TYPE_CHECKING:
    from matplotlib.axes import Axes

PNG_DPI = 110


def log_scale_fits(metric: str, values: Iterable[float]) -> bool:
    """A log axis for a lower-is-better metric (an error) whose finite values are all positive;
    a linear one for scores (PSNR, SSIM) and for anything that reaches 0 or below."""
    finite = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    return not higher_is_better(metric) and finite.size > 0 and bool(finite.min() > 0)


def label_axis(ax: Axes, metric: str, axis: str = "y") -> None:
    """Title the axis with the metric and its direction; log scale where `log_scale_fits`."""
    ax.set_title(metric_title(metric))
    lo, hi = ax.dataLim.intervalx if axis == "x" else ax.dataLim.intervaly
    if log_scale_fits(metric, [lo, hi]):
        getattr(ax, f"set_{axis}scale")("log")
        getattr(ax, f"{axis}axis").set_minor_formatter(NullFormatter())


def _grid(title: str):
    fig = Figure(figsize=(15, 8.5), layout="constrained")
    axes = fig.subplots(2, 3)
    fig.suptitle(title + " (mean ± sd over seeds)")
    return fig, axes.ravel()


def _stats(data: FigureData, configs, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Means and standard deviations (0 for one seed) of `metric` over `configs`, as the
    analysis computed them."""
    mean, sd = data.means_and_sds(list(configs), metric)
    return np.array(mean, dtype=float), np.array(sd, dtype=float)


def _bars(ax, groups: list[str], series: dict[str, tuple[np.ndarray, np.ndarray]]):
    x, width = np.arange(len(groups)), 0.8 / max(1, len(series))
    for i, (name, (mean, sd)) in enumerate(series.items()):
        ax.bar(x + i * width, mean, width, yerr=sd, capsize=2, label=name)
    ax.set_xticks(x + 0.4 - width / 2, groups, rotation=20)


def plot_learning_rates(data: FigureData) -> Figure:
    fig, axes = _grid("Learning rates x schedulers")
    configs = data.configs
    for ax, metric in zip(axes, PLOT_METRICS):
        for sched in sorted({c["scheduler"] for c in configs}):
            own = sorted((c for c in configs if c["scheduler"] == sched), key=lambda c: c["lr"])
            mean, sd = _stats(data, own, metric)
            ax.errorbar([c["lr"] for c in own], mean, yerr=sd, fmt="o-", capsize=2, label=sched)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (max lr for cyclic)")
        label_axis(ax, metric)
    axes[0].legend()
    return fig


def plot_activations(data: FigureData) -> Figure:
    fig, axes = _grid("Activations under each weight setting")
    configs = data.configs
    weights = list(dict.fromkeys(c["weights"] for c in configs))
    acts = list(dict.fromkeys(c["activation"] for c in configs))
    for ax, metric in zip(axes, PLOT_METRICS):
        series = {}
        for a in acts:
            pick = [next((c for c in configs if c["activation"] == a and c["weights"] == w), None)
                    for w in weights]
            stats = [_stats(data, [c], metric) if c else (np.array([np.nan]), np.array([0.0]))
                     for c in pick]
            series[a] = (np.concatenate([m for m, _ in stats]),
                         np.concatenate([s for _, s in stats]))
        _bars(ax, weights, series)
        label_axis(ax, metric)
    axes[0].legend()
    return fig


def plot_weights(data: FigureData) -> Figure:
    fig, axes = _grid(f"Loss weights (pixel, grad, laplacian, dt): best {TOP} (green) and "
                      f"worst {TOP} (red) per metric")
    for ax, metric in zip(axes, PLOT_METRICS):
        order = [c for c, _ in data.rankings[metric].entries]
        pick = order if len(order) <= 2 * TOP else order[:TOP] + order[-TOP:]
        y = np.arange(len(pick))[::-1]
        colours = ["tab:green" if i < min(TOP, len(order) - TOP) or len(order) <= TOP
                   else "tab:red" for i in range(len(pick))]
        mean, sd = _stats(data, pick, metric)
        for yi, m, s, colour in zip(y, mean, sd, colours):
            ax.errorbar(m, yi, xerr=s, fmt="o", color=colour, capsize=2, zorder=3)
        ax.set_yticks(y, [betas(c.first) for c in pick], fontsize=7)
        ax.grid(axis="x", alpha=0.3)
        label_axis(ax, metric, axis="x")
    return fig


def plot_pixel_losses(data: FigureData) -> Figure:
    fig, axes = _grid("Pixel losses (derivative terms at fixed weights)")
    configs = data.configs
    for ax, metric in zip(axes, PLOT_METRICS):
        _bars(ax, [c["weights"] for c in configs], {metric: _stats(data, configs, metric)})
        label_axis(ax, metric)
    return fig


PARETO_FILE = "pareto.png"


def plot_pareto(data: FigureData) -> Figure:
    """Pixel PSNR against gradient MSE and against Laplacian MSE, one point per configuration
    (mean over seeds, sd as error bars), the Pareto front joined and marked, the reference
    vectors labelled."""
    configs = [c for c in data.configs if data.summaries[c.key]["psnr"].n > 0]
    fig = Figure(figsize=(13, 5.5), layout="constrained")
    axes = fig.subplots(1, len(PARETO_AXES))
    fig.suptitle("The trade-off between pixels and derivatives: each point a weight vector "
                 "(mean ± sd over seeds), the Pareto front in red")
    for ax, (x_metric, y_metric) in zip(axes, PARETO_AXES):
        x, x_sd = _stats(data, configs, x_metric)
        y, y_sd = _stats(data, configs, y_metric)
        ax.errorbar(x, y, xerr=x_sd, yerr=y_sd, fmt="o", ms=3, color="tab:blue", alpha=0.6,
                    ecolor="lightgray", label="weight vector")
        front = data.fronts[(x_metric, y_metric)]
        fx, fy = _stats(data, front, x_metric)[0], _stats(data, front, y_metric)[0]
        order = np.argsort(fx)
        ax.plot(fx[order], fy[order], "o-", color="tab:red", ms=5, label="Pareto front")
        for i, c in enumerate(configs):
            if reference_name(c.first):
                ax.annotate(f"{reference_name(c.first)} {betas(c.first)}", (x[i], y[i]), fontsize=8,
                            xytext=(6, -12), textcoords="offset points")
                ax.plot(x[i], y[i], "s", color="black", ms=6)
        ax.set_xlabel(metric_title(x_metric))
        ax.set_ylabel(metric_title(y_metric))
        if log_scale_fits(x_metric, x):
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


PLOTTERS = {Question.LEARNING_RATE: plot_learning_rates, Question.ACTIVATION: plot_activations,
            Question.WEIGHTS: plot_weights, Question.PIXEL_LOSS: plot_pixel_losses}


def save_figure(fig: Figure, path: Path) -> Path:
    """Save a figure atomically (PNG at PNG_DPI)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=PNG_DPI)
    return path


def plot_all(rows: list[dict], results: Path) -> list[Path]:
    """One PNG per experiment whose question has a plot, the Pareto view of the loss weights
    (pareto.png), and all of them in report.pdf."""
    subsets = {name: (question, of(rows, name))
               for name, question in experiment_questions(rows).items() if question in PLOTTERS}
    figures = [(f"{name}.png", PLOTTERS[question](figure_data(subset)))
               for name, (question, subset) in subsets.items() if subset]
    if asking(rows, Question.WEIGHTS):
        pareto = figure_data(asking(rows, Question.WEIGHTS), PLOT_METRICS, pareto=True)
        figures.append((PARETO_FILE, plot_pareto(pareto)))
    paths = [save_figure(fig, results / name) for name, fig in figures]
    if figures:
        with atomic_path(results / "report.pdf") as tmp:
            with PdfPages(tmp) as pdf:
                for _, fig in figures:
                    pdf.savefig(fig)
        paths.append(results / "report.pdf")
    return paths
