"""The output tree: the one place that knows the folders a sweep writes and the name of each run's
folder and video. Every other module asks an `OutputTree`.

    <root>/
        runs/<name>/            one run's folder (inr.artefacts.rundir owns what is inside)
        videos/<name>.mp4       its panel video (.gif where asked for)
        results/                summary.csv, comparisons.csv, REPORT.md, report.pdf and the
                                figures (inr.report writes them; their names are here)
        ray_results/            Ray Tune's experiments (inr.sweep.ray_backend), by default
        .sweep.lock             held by the sweep that writes the tree (`OutputTree.lock`)

Run names follow the original project, by the experiment's layout:
    betas       <image>/experiments/<b_pixel>_<b_grad>_<b_lap>_<b_dt>/<act>_<sched>_<lr>
    activation  <act>/<image>_experiments_<weights name>
    losses      <image>/losses/<weights name>/<act>_<sched>_<lr>
    search      <image>/search/<strategy>-seed<search seed>/<b_pixel>_<b_grad>_<b_lap>_<b_dt>/
                <act>_<sched>_<lr>  (a loss-weight search's trial: `search_run_name`)
<image> is the image's label (inr.data.image_label); the same configuration on every image is
named with ANY_IMAGE ('*') in its place. A run whose loss.normalize is not "none" adds
"_<normalize>" to its last part, a run that balances its loss weights adaptively (loss.balance
not "none") adds "_bal-<scheme>" after that (a run with fixed weights is named as before), an
activation at a frequency or scale other than its default is named "<act>-<symbol><scale>"
("sine-w010", "gauss-s3": inr.model.networks.scale_symbol), and a replicate seed adds "_seed<s>"
to its configuration's name (`replicate_name`).
"""
from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from inr.config import RunConfig, image_label, scale_symbol
from inr.vocabulary import MSE_TERMS

RUNS, VIDEOS, RESULTS, RAY_RESULTS = "runs", "videos", "results", "ray_results"
LOCK_FILE = ".sweep.lock"
VIDEO_SUFFIX = ".mp4"
SINGLE_RUN = "single"  # the name of a run trained by `python -m inr.train` without a name
LAYOUTS = ("betas", "activation", "losses")  # how an experiment names its runs
ANY_IMAGE = "*"  # the image part of a name that stands for the configuration on every image


# results/: the report's files, named here so that the plots and REPORT.md's links agree
SUMMARY_FILE, COMPARISONS_FILE, REPORT_FILE, REPORT_PDF = ("summary.csv", "comparisons.csv",
                                                         "REPORT.md", "report.pdf")
IMAGES_FIGURE = "images"  # the strip of a multi-image sweep's images
PARETO_FIGURE = "pareto"  # the loss weights' Pareto view
PIXEL_LOSS_PARETO_FIGURE = "pareto-pixel-losses"  # each pixel-loss arm at each of its weights
CROSS_IMAGE_FIGURE = "cross-image"  # every pooled comparison with its intervals
SEARCH_DB = "search.db"  # results/search.db: the loss-weight searches' Optuna studies (SQLite)
HYPERVOLUME_FILE, HYPERVOLUME_FIGURE = "hypervolume.csv", "hypervolume"  # the searches' fronts


def figure_file(figure: str, image: str = "") -> str:
    """A figure's file in results/: '<figure>.png' (an experiment's figure is named after the
    experiment), or '<figure>-<image>.png' for one image's view of a multi-image sweep."""
    return f"{figure}-{image}.png" if image else f"{figure}.png"


class TreeLocked(RuntimeError):
    """Another sweep holds the output tree."""


@dataclass(frozen=True)
class OutputTree:
    """The output folders below `root` (see the module doc)."""
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    runs = property(lambda self: self.root / RUNS, doc="<root>/runs: the run folders")
    videos = property(lambda self: self.root / VIDEOS, doc="<root>/videos: mirrors runs/")
    results = property(lambda self: self.root / RESULTS, doc="<root>/results: the report")
    ray_results = property(lambda self: self.root / RAY_RESULTS, doc="<root>/ray_results")

    def run_dir(self, name: str) -> Path:
        """The folder of the run named `name` (a path below runs/)."""
        return self.runs / name

    def video(self, name: str, suffix: str = VIDEO_SUFFIX) -> Path:
        """The video of the run named `name`: videos/ mirrors runs/."""
        return self.videos / f"{name}{suffix}"

    def name_of(self, run_dir: str | Path) -> str:
        """The name of the run whose folder is `run_dir` (its path below runs/)."""
        return Path(run_dir).relative_to(self.runs).as_posix()

    def lock(self) -> "TreeLock":
        """An exclusive lock on the tree for one sweep (`with tree.lock(): ...`)."""
        return TreeLock(self.root / LOCK_FILE)


class TreeLock:
    """An exclusive, non-blocking flock on a file (released when the process dies); entering
    raises TreeLocked, naming the holder, while another process holds it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.handle = None

    def __enter__(self) -> "TreeLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise TreeLocked(f"another sweep ({holder}) is writing to {self.path.parent}; "
                             f"wait for it to finish or choose another --out") from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"pid {os.getpid()}")
        self.handle.flush()
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


# ----------------------------------------------------------------------------- run names

def betas_name(cfg: RunConfig) -> str:
    """The run's MSE weights as a folder name: 1_0.01_0.001_0."""
    return "_".join(f"{getattr(cfg.loss, t):g}" for t in MSE_TERMS)


def activation_name(cfg: RunConfig) -> str:
    """'sine', or 'sine-w010' / 'gauss-s3' at a frequency or scale other than the default."""
    model, default = cfg.model, type(cfg.model)(activation=cfg.model.activation)
    if model.scale is None or model.scale == default.scale:
        return model.activation
    return f"{model.activation}-{scale_symbol(model.activation)}{model.scale:g}"


def run_name(layout: str, weights_label: str | None, cfg: RunConfig,
             image: str | None = None) -> str:
    """The name (folder below runs/) of a run planned by an experiment of `layout` (module doc);
    weights_label: the name of its weight setting, where it has one; image: the name's image
    part (default: cfg's image's label), ANY_IMAGE for what the configuration is called on
    every image."""
    image = image_label(cfg.data.image) if image is None else image
    act, sched, lr = activation_name(cfg), cfg.schedule.kind, f"{cfg.schedule.display_lr:g}"
    # runs that differ only in loss.normalize or loss.balance get distinct folders
    suffix = (f"_{cfg.loss.normalize}" if cfg.loss.normalize != "none" else "") + \
        (f"_bal-{cfg.loss.balance}" if cfg.loss.balanced else "")
    lr += suffix
    if layout == "activation":
        return f"{act}/{image}_experiments_{weights_label or betas_name(cfg)}{suffix}"
    if layout == "losses":
        return f"{image}/losses/{weights_label or betas_name(cfg)}/{act}_{sched}_{lr}"
    return f"{image}/experiments/{betas_name(cfg)}/{act}_{sched}_{lr}"


def across_images_name(configuration: str, weights_label: str | None, cfg: RunConfig) -> str:
    """What the configuration named `configuration` on its image, with `cfg`, is called on every
    image: its name built in the layout whose name of cfg is `configuration`, with the image
    part ANY_IMAGE; `configuration` itself where no layout names cfg so (a run no sweep
    planned). For records that carry no across-images name (OutputConfig.across_images)."""
    for layout in LAYOUTS:
        if run_name(layout, weights_label, cfg) == configuration:
            return run_name(layout, weights_label, cfg, ANY_IMAGE)
    return configuration


def replicate_name(configuration: str, seed: int) -> str:
    """The name of a configuration's run with another seed."""
    return f"{configuration}_seed{seed}"


def search_run_name(cfg: RunConfig, strategy: str, search_seed: int,
                    image: str | None = None) -> str:
    """The name of the run a loss-weight search (inr.sweep.search) trains for a trial: the betas
    layout's, under the search's own folder, so that each search's runs are its own and a trial
    that proposes a vector the same search tried before reuses its run. image: as in
    `run_name`."""
    name = run_name("betas", None, cfg, image)
    head, _, tail = name.partition("/experiments/")
    return f"{head}/search/{strategy}-seed{search_seed}/{tail}"
