"""The report's plots: one figure per experiment, drawn by what the experiment asks, saved as
results/<experiment>.png, the Pareto view of the loss weights (results/pareto.png), and all of
them together in results/report.pdf. A sweep over several images draws each experiment with a
column of panels per image, a Pareto view per image, and a strip of the images with their target
variances (results/images.png). Each seed is a dot; a configuration's mean is a bar marker
with its 95% t-interval (on the log scale for errors: a geometric mean). Every MSE gets a log
axis.

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
from scipy import stats

from inr.artefacts.rundir import by_image
from inr.artefacts.tree import (CROSS_IMAGE_FIGURE, HYPERVOLUME_FIGURE, IMAGES_FIGURE,
                                PARETO_FIGURE, PIXEL_LOSS_PARETO_FIGURE, REPORT_PDF, figure_file)
from inr.data import load_image
from inr.io import atomic_path
from inr.report.analysis import (PARETO_AXES, PLOT_METRICS, TOP, FigureData, figure_data,
                                 reference_name)
from inr.report.comparisons import ComparisonRow
from inr.report.rows import asking, betas, experiment_questions, of
from inr.report.search import hypervolume_rows
from inr.stats import mean_interval
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
    fig.suptitle(title + " (dots: seeds; bars: mean and 95% interval)")
    return fig, axes.ravel()


def seed_dots(ax: Axes, x: float, config, metric: str, colour: str, label: str | None = None,
              horizontal: bool = False) -> None:
    """One configuration's seeds as dots at position x, its mean and 95% interval as a bar."""
    values = config.values(metric)
    log = not higher_is_better(metric)
    mean, low, high = mean_interval(values, log)
    if not np.isfinite(mean):
        return
    jitter = np.linspace(-0.08, 0.08, len(values)) if len(values) > 1 else [0.0]
    pos = [x + j for j in jitter]
    kw = dict(color=colour, zorder=3)
    if horizontal:
        ax.plot(values, pos, ".", alpha=0.5, ms=4, **kw)
        ax.errorbar(mean, x, xerr=[[mean - low], [high - mean]], fmt="o", ms=5, capsize=2,
                    label=label, **kw)
    else:
        ax.plot(pos, values, ".", alpha=0.5, ms=4, **kw)
        ax.errorbar(x, mean, yerr=[[mean - low], [high - mean]], fmt="o", ms=5, capsize=2,
                    label=label, **kw)


def _stats(data: FigureData, configs, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Means and standard deviations (0 for one seed) of `metric` over `configs`, as the
    analysis computed them."""
    mean, sd = data.means_and_sds(list(configs), metric)
    return np.array(mean, dtype=float), np.array(sd, dtype=float)


COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def draw_learning_rates(ax: Axes, data: FigureData, metric: str) -> None:
    """Each schedule's mean `metric` against the lr, its seeds as dots."""
    configs = data.configs
    for k, sched in enumerate(sorted({c["scheduler"] for c in configs})):
        own = sorted((c for c in configs if c["scheduler"] == sched), key=lambda c: c["lr"])
        means = [mean_interval(c.values(metric), not higher_is_better(metric))[0] for c in own]
        ax.plot([c["lr"] for c in own], means, "-", color=COLOURS[k % len(COLOURS)],
                label=sched)
        for c in own:
            values = c.values(metric)
            ax.plot([c["lr"]] * len(values), values, ".", color=COLOURS[k % len(COLOURS)],
                    alpha=0.5, ms=4)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (max lr for cyclic)")
    label_axis(ax, metric)


def _stands_for(configs, activation: str, weights: str):
    """The configuration of an activation at a weight setting that the tests use: the one
    with the most seeds (the confirmed, tuned one), else the first."""
    own = [c for c in configs if c["activation"] == activation and c["weights"] == weights]
    return max(own, key=lambda c: len(c.rows)) if own else None


def draw_activations(ax: Axes, data: FigureData, metric: str) -> None:
    """At each weight setting, each activation's seeds and mean with its interval."""
    configs = data.configs
    weights = list(dict.fromkeys(c["weights"] for c in configs))
    acts = list(dict.fromkeys(c["activation"] for c in configs))
    width = 0.8 / max(1, len(acts))
    for k, act in enumerate(acts):
        for i, w in enumerate(weights):
            config = _stands_for(configs, act, w)
            if config is not None:
                seed_dots(ax, i + k * width, config, metric, COLOURS[k % len(COLOURS)],
                          act if i == 0 else None)
    ax.set_xticks(np.arange(len(weights)) + 0.4 - width / 2, weights, rotation=20)
    label_axis(ax, metric)


def draw_weights(ax: Axes, data: FigureData, metric: str) -> None:
    """The best and worst TOP vectors by `metric`, seeds and mean with interval, best green."""
    order = [c for c, _ in data.rankings[metric].entries]
    pick = order if len(order) <= 2 * TOP else order[:TOP] + order[-TOP:]
    y = np.arange(len(pick))[::-1]
    for i, (yi, c) in enumerate(zip(y, pick)):
        good = i < min(TOP, len(order) - TOP) or len(order) <= TOP
        seed_dots(ax, yi, c, metric, "tab:green" if good else "tab:red", horizontal=True)
    ax.set_yticks(y, [betas(c.first) for c in pick], fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    label_axis(ax, metric, axis="x")


def draw_pixel_losses(ax: Axes, data: FigureData, metric: str) -> None:
    """Each pixel loss at each of its weights, coloured by arm."""
    configs = data.configs
    arms = list(dict.fromkeys(c["arm"] or c["weights"] for c in configs))
    for i, c in enumerate(configs):
        seed_dots(ax, i, c, metric, COLOURS[arms.index(c["arm"] or c["weights"]) % len(COLOURS)])
    ax.set_xticks(np.arange(len(configs)), [c["weights"] for c in configs], rotation=45,
                  fontsize=7)
    label_axis(ax, metric)


# what each question's figure draws on one axis, and its title
DRAWERS = {Question.LEARNING_RATE: draw_learning_rates, Question.ACTIVATION: draw_activations,
           Question.WEIGHTS: draw_weights, Question.PIXEL_LOSS: draw_pixel_losses,
           Question.POISSON: draw_activations}
TITLES = {Question.LEARNING_RATE: "Learning rates x schedulers",
          Question.ACTIVATION: "Activations under each weight setting, each at its tuned scale",
          Question.POISSON: "Activations under each weight setting, each at its tuned scale",
          Question.WEIGHTS: f"Loss weights (pixel, grad, laplacian, dt): best {TOP} (green) and "
                            f"worst {TOP} (red) per metric",
          Question.PIXEL_LOSS: "Pixel losses, each at each of its weights (derivative terms "
                               "fixed)"}
LEGENDS = {Question.LEARNING_RATE, Question.ACTIVATION, Question.POISSON}  # colours to name


def plot_question(question: str, data: FigureData) -> Figure:
    """One image's figure of a question: an axis per metric of PLOT_METRICS."""
    fig, axes = _grid(TITLES[question])
    for ax, metric in zip(axes, PLOT_METRICS):
        DRAWERS[question](ax, data, metric)
    if question in LEGENDS:
        axes[0].legend()
    return fig


def plot_across_images(question: str, data: dict[str, FigureData]) -> Figure:
    """A question on several images: a column of panels per image (rows: PLOT_METRICS), each
    seed a dot and each mean with its 95% interval, so an answer can be read across images."""
    images = list(data)
    fig = Figure(figsize=(4.2 * len(images), 2.9 * len(PLOT_METRICS)), layout="constrained")
    axes = np.asarray(fig.subplots(len(PLOT_METRICS), len(images), squeeze=False))
    fig.suptitle(f"{TITLES[question]}, on each image (columns; dots: seeds; bars: mean and "
                 "95% interval)")
    for j, image in enumerate(images):
        for i, metric in enumerate(PLOT_METRICS):
            DRAWERS[question](axes[i, j], data[image], metric)
            axes[i, j].set_title(f"{image}: {metric_title(metric)}", fontsize=9)
        if question in LEGENDS:
            axes[0, j].legend(fontsize=7)
    return fig


VARIANCE_LABELS = (("value", "pixel"), ("grad", "grad"), ("laplacian", "Laplacian"),
                   ("dt", "dt"))


def plot_images(images: list[dict]) -> Figure:
    """A strip of the images a sweep ran on, each titled with its target variances (the
    variance of each field of its sequence, in network coordinates), which set the effective
    weight of a raw weight vector on that image.

    images: [{"image": name, "pixels": (H, W) array in [0, 1] or None, "variance_<field>":
    float, ...}], as `plot_all` reads them from the rows and the image files."""
    fig = Figure(figsize=(3.2 * len(images), 4.6), layout="constrained")
    axes = np.asarray(fig.subplots(1, len(images), squeeze=False))[0]
    fig.suptitle("The images at the sweep's size (before diffusion) and the variance of each "
                 "target over the frames")
    for ax, entry in zip(axes, images):
        if entry.get("pixels") is not None:
            ax.imshow(entry["pixels"], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        else:
            ax.text(0.5, 0.5, "image file not found", ha="center", va="center")
        ax.set_xticks([])
        ax.set_yticks([])
        variances = "\n".join(f"σ² {label} = {entry[f'variance_{field}']:.3g}"
                              for field, label in VARIANCE_LABELS)
        ax.set_title(f"{entry['image']}\n{variances}", fontsize=9)
    return fig




def plot_pareto(data: FigureData, what: str = "a weight vector",
                label_all: bool = False) -> Figure:
    """Pixel PSNR against gradient MSE and against Laplacian MSE, one point per configuration
    (mean over seeds, sd as error bars), the Pareto front joined and marked, the reference
    vectors labelled (label_all: every configuration, by its weight setting's name)."""
    configs = [c for c in data.configs if data.summaries[c.key]["psnr"].n > 0]
    fig = Figure(figsize=(13, 5.5), layout="constrained")
    axes = fig.subplots(1, len(PARETO_AXES))
    fig.suptitle(f"The trade-off between pixels and derivatives: each point {what} "
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
            if label_all:
                ax.annotate(c["weights"], (x[i], y[i]), fontsize=7, xytext=(4, 4),
                            textcoords="offset points")
            elif reference_name(c.first):
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


def save_figure(fig: Figure, path: Path) -> Path:
    """Save a figure atomically (PNG at PNG_DPI)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=PNG_DPI)
    return path


def plot_pooled(comparisons: list[ComparisonRow]) -> Figure | None:
    """Every comparison pooled across images (comparisons.csv rows of image 'all', paired t):
    its effect (a against b) as a dot, its 95% HKSJ interval as a thick bar, and the 95%
    prediction interval for a new image as a thin one; ratios of MSEs on a log axis (left),
    differences in dB (right); separated comparisons in red. None where nothing was pooled."""
    pooled = [r for r in comparisons if r.pooled and r.kind == "t" and np.isfinite(r.effect)]
    panels = [(title, [r for r in pooled if (r.transform == "log") == log])
              for title, log in (("ratio of MSEs, a / b (log axis; < 1: a better)", True),
                                 ("difference in dB, a - b (> 0: a better)", False))]
    panels = [(title, own) for title, own in panels if own]
    if not panels:
        return None
    tallest = max(len(own) for _, own in panels)
    fig = Figure(figsize=(7.5 * len(panels), 1.2 + 0.22 * tallest), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    fig.suptitle("Pooled over the images (random effects, HKSJ): dot = effect, thick = 95% "
                 "interval, thin = 95% prediction interval for a new image; red = separated")
    for ax, (title, own) in zip(axes, panels):
        log = own[0].transform == "log"
        back = np.exp if log else (lambda x: x)
        for y, r in enumerate(own):
            colour = "tab:red" if r.separated else "0.3"
            if np.isfinite(r.pi_low):
                ax.plot(back([r.pi_low, r.pi_high]), [y, y], "-", color=colour, lw=0.8)
            ax.plot(back([r.effect_ci_low, r.effect_ci_high]), [y, y], "-", color=colour, lw=3)
            ax.plot(back(r.effect), y, "o", color=colour, ms=4)
        ax.axvline(1.0 if log else 0.0, color="0.6", lw=0.8)
        ax.set_yticks(range(len(own)))
        ax.set_yticklabels([f"{r.question}{', ' + r.setting if r.setting else ''}: {r.metric}: "
                            f"{r.a_label} vs {r.b_label}" for r in own], fontsize=7)
        ax.invert_yaxis()
        if log:
            ax.set_xscale("log")
        ax.set_title(title)
    return fig


def plot_hypervolume(table: list[dict]) -> Figure | None:
    """Each loss-weight search's hypervolume (hypervolume.csv rows) against runs (left) and
    seconds (right): one line per strategy (the mean over its search seeds, at each batch), a
    faint line per search seed, and the fresh-seed hypervolume of each final front as a dot.
    One row of panels per image; None where nothing was searched."""
    if not table:
        return None
    images = list(dict.fromkeys(r["image"] for r in table))
    fig = Figure(figsize=(11, 3.6 * len(images)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(images), 2))
    colours = {}
    for row_axes, image in zip(axes, images):
        own = [r for r in table if r["image"] == image]
        for strategy in dict.fromkeys(r["strategy"] for r in own):
            colour = colours.setdefault(strategy, f"C{len(colours)}")
            mine = [r for r in own if r["strategy"] == strategy]
            seeds = list(dict.fromkeys(r["search_seed"] for r in mine))
            for ax, x in zip(row_axes, ("runs", "seconds")):
                curves = []
                for seed in seeds:
                    line = [r for r in mine if r["search_seed"] == seed and r["stage"] == "screening"]
                    ax.plot([r[x] for r in line], [r["hypervolume"] for r in line], "-",
                            color=colour, alpha=0.25, lw=0.8)
                    curves.append(line)
                    fresh = [r for r in mine if r["search_seed"] == seed and r["stage"] == "fresh"]
                    ax.plot([r[x] for r in fresh], [r["hypervolume"] for r in fresh], "o",
                            color=colour, ms=5)
                shortest = min(len(c) for c in curves)
                if shortest:
                    ax.plot([np.mean([c[i][x] for c in curves]) for i in range(shortest)],
                            [np.mean([c[i]["hypervolume"] for c in curves])
                             for i in range(shortest)], "-", color=colour, lw=2,
                            label=f"{strategy} ({len(seeds)} search seeds)")
        for ax, x in zip(row_axes, ("runs trained", "seconds (training and asking)")):
            ax.set_xlabel(x)
            ax.set_ylabel("hypervolume (higher is better)")
            ax.set_title(f"{image}: the pixel-gradient front; dots = re-measured on fresh seeds",
                         fontsize=9)
        row_axes[0].legend(fontsize=8)
    return fig


def plot_all(rows: list[dict], results: Path,
             comparisons: list[ComparisonRow] | None = None) -> list[Path]:
    """One PNG per experiment whose question has a plot, the Pareto views of the loss weights
    (pareto.png) and of the pixel losses (pareto-pixel-losses.png), and all of them in
    report.pdf. With several images, each experiment's figure has a column per image
    (`plot_across_images`), the Pareto views are per image ('pareto-<image>.png'),
    images.png shows the images with their target variances, and cross-image.png the
    comparisons pooled across them (`plot_pooled`, from comparisons.csv's rows)."""
    grouped = by_image(rows)
    if len(grouped) == 1:
        figures = _figures(rows) + _paretos(rows, "")
    else:
        figures = [(figure_file(IMAGES_FIGURE),
                    plot_images([_image_entry(own) for own in grouped.values()]))]
        for name, question in experiment_questions(rows).items():
            if question not in DRAWERS:
                continue
            data = {image: figure_data(of(own, name)) for image, own in grouped.items()
                    if of(own, name)}
            if data:
                figures.append((figure_file(Path(name).stem), plot_across_images(question, data)))
        for image, own in grouped.items():
            figures += _paretos(own, image)
        pooled = plot_pooled(comparisons or [])
        if pooled is not None:
            figures.insert(0, (figure_file(CROSS_IMAGE_FIGURE), pooled))
    searched = plot_hypervolume(hypervolume_rows(rows))
    if searched is not None:
        figures.append((figure_file(HYPERVOLUME_FIGURE), searched))
    paths = [save_figure(fig, results / name) for name, fig in figures]
    if figures:
        with atomic_path(results / REPORT_PDF) as tmp:
            with PdfPages(tmp) as pdf:
                for _, fig in figures:
                    pdf.savefig(fig)
        paths.append(results / REPORT_PDF)
    return paths


def _image_entry(rows: list[dict]) -> dict:
    """One image's entry of `plot_images`: its name, its first frame at the sweep's size (None
    where the file is gone) and its target variances, from its first row."""
    first = rows[0]
    try:
        size = first.get("size")
        pixels = load_image(first["image_file"], int(size) if size == size and size else None)
    except (KeyError, OSError, ValueError):
        pixels = None
    return {"image": first["image"], "pixels": pixels,
            **{f"variance_{f}": first.get(f"variance_{f}", float("nan"))
               for f, _ in VARIANCE_LABELS}}


def _figures(rows: list[dict]) -> list[tuple[str, Figure]]:
    """The experiments' figures of one image's rows, with their file names."""
    subsets = {name: (question, of(rows, name))
               for name, question in experiment_questions(rows).items() if question in DRAWERS}
    return [(figure_file(name), plot_question(question, figure_data(subset)))
            for name, (question, subset) in subsets.items() if subset]


def _paretos(rows: list[dict], image: str) -> list[tuple[str, Figure]]:
    """The Pareto views of one image's rows, their files named for `image` ('' for a sweep of
    one image: inr.artefacts.tree.figure_file)."""
    figures = []
    if asking(rows, Question.WEIGHTS):
        pareto = figure_data(asking(rows, Question.WEIGHTS), PLOT_METRICS, pareto=True)
        figures.append((figure_file(PARETO_FIGURE, image), plot_pareto(pareto)))
    if asking(rows, Question.PIXEL_LOSS):
        fronts = figure_data(asking(rows, Question.PIXEL_LOSS), PLOT_METRICS, pareto=True)
        figures.append((figure_file(PIXEL_LOSS_PARETO_FIGURE, image),
                        plot_pareto(fronts, "a pixel loss at one weight", label_all=True)))
    return figures
