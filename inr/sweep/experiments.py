"""Experiments as data: TOML files in experiments/, read and checked (inr.sweep.planning expands
them into runs).

An experiment file holds:
    name, description, layout      layout: "betas" | "activation" | "losses" (folder naming)
    question                       what it asks, which decides how the report analyses it:
                                   "activation" | "learning_rate" | "weights" | "pixel_loss";
                                   default: inferred from what it varies (`infer_question`)
    [base]                         RunConfig overrides on top of the profile (sections as keys)
    [grid]                         lists whose Cartesian product gives the runs:
        lr = [...]                 learning rates (per step)
        schedule = [{...}]         schedule templates: `*_fraction` = fraction of the run's
                                   steps, `*_factor` = multiple of the grid lr
        activation = [...] | "all"
        scale = {sine = [...], finer = [...], gauss = [...]}
                                   each activation's frequency or scale to tune over (w0 of
                                   sine and FINER, the Gaussian's s; ELU has none)
        weights = [{name, pixel, grad, laplacian, dt, ssim, ms_ssim}]  loss overrides; one
                                   weight of a named setting may be a list: the setting is
                                   then an arm tuned over those values (runs "<name>_<value>")
        balance = [...]            loss-balancing schemes, "none" | "lra" | "relobralo" |
                                   "softadapt" (inr.training.balance); a balanced run's name
                                   ends in "_bal-<scheme>" (inr.artefacts.tree)
    [random_weights]               count, choices: N random (pixel, grad, Laplacian, dt) vectors
    seeds                          matched seeds each configuration is screened with (default:
                                   the sweep's --seeds); for an experiment that tunes nothing,
                                   whose seeds all count
    [search]                       a loss-weight search before the weights question's comparison
                                   (experiments/weights-search.toml; inr.sweep.comparison):
                                   strategies, trials (a number, or a table per strategy),
                                   seeds (search seeds per strategy), batch
    development_images = [...]     the development images (names as inr.data.image_label
                                   gives them) on which the experiment screens and chooses,
                                   when the sweep has held-out images (default: every one);
                                   its held-out runs are trained on every held-out image

A folder of experiment files (experiments/study, experiments/medium) is a set of experiments run
together: `--experiment study` runs every file in it (`experiment_files`).

Runs are named by the experiment's layout (inr.artefacts.tree). What a sweep's screening tunes
(`inr.sweep.planning.tuned_axis`): the scale table, a listed weight, or the lr within each
schedule; the confirmation stage (inr.sweep.stages) tests what it chose on fresh seeds.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from inr.artefacts.tree import LAYOUTS
from inr.config import REPO_ROOT
from inr.vocabulary import QUESTIONS, Question

EXPERIMENTS_DIR = REPO_ROOT / "experiments"


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    layout: str
    question: str | None
    base: dict
    grid: dict
    random_weights: dict | None
    path: Path
    seeds: int | None = None
    development_images: tuple[str, ...] | None = None
    search: dict | None = None

    def screens_on(self, image: str) -> bool:
        """Whether the experiment screens on the development image labelled `image`."""
        return self.development_images is None or image in self.development_images


def available() -> dict[str, Path]:
    """Experiment name -> file, from experiments/*.toml."""
    return {p.stem: p for p in sorted(EXPERIMENTS_DIR.glob("*.toml"))}


def sets() -> dict[str, Path]:
    """Experiment-set name -> folder, from the folders of experiments/ that hold .toml files."""
    return {p.name: p for p in sorted(EXPERIMENTS_DIR.iterdir())
            if p.is_dir() and any(p.glob("*.toml"))}


def experiment_files(name_or_path: str) -> list[str]:
    """The experiments a name stands for: an experiment-set folder (by name or path) gives each
    .toml file in it, in name order; anything else is one experiment (`load_experiment`)."""
    folder = sets().get(name_or_path) or Path(name_or_path)
    if folder.is_dir():
        files = sorted(str(p) for p in folder.glob("*.toml"))
        if not files:
            raise ValueError(f"{folder}: no experiment files (*.toml) in this folder")
        return files
    return [name_or_path]


def load_experiment(name_or_path: str | Path) -> Experiment:
    """Read an experiment by name (experiments/<name>.toml) or path; one-line errors."""
    path = Path(name_or_path)
    if not path.suffix:
        known = available()
        if str(name_or_path) not in known:
            raise ValueError(f"unknown experiment {name_or_path!r}; choose from "
                             f"{', '.join([*known, *sets()])} or give a .toml path")
        path = known[str(name_or_path)]
    if not path.is_file():
        raise ValueError(f"{path}: no such experiment file")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from None
    layout = raw.get("layout", "betas")
    if layout not in LAYOUTS:
        raise ValueError(f"{path}: unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    unknown = sorted(set(raw) - {"name", "description", "layout", "question", "base", "grid",
                                 "random_weights", "seeds", "development_images", "search"})
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}")
    question = raw.get("question") or infer_question(layout, raw.get("grid", {}),
                                                     raw.get("random_weights"))
    if question is not None and question not in QUESTIONS:
        raise ValueError(f"{path}: unknown question {question!r}; choose from "
                         f"{', '.join(QUESTIONS)}")
    seeds = raw.get("seeds")
    if seeds is not None and (not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1):
        raise ValueError(f"{path}: seeds must be a whole number >= 1, got {seeds!r}")
    images = raw.get("development_images")
    if images is not None and (not isinstance(images, list) or not images
                               or not all(isinstance(i, str) and i for i in images)):
        raise ValueError(f"{path}: development_images must be a non-empty list of image names, "
                         f"got {images!r}")
    search = raw.get("search")
    if search is not None and not isinstance(search, dict):
        raise ValueError(f"{path}: search must be a table (strategies, trials, seeds, batch)")
    return Experiment(raw.get("name", path.stem), raw.get("description", ""), layout, question,
                      raw.get("base", {}), raw.get("grid", {}), raw.get("random_weights"), path,
                      seeds, tuple(images) if images else None, search)


def infer_question(layout: str, grid: dict, random_weights: dict | None) -> str | None:
    """What an experiment without a `question` asks, from what it varies: pixel losses (the
    losses layout), activations, learning rates and schedules, random weights; else None."""
    if layout == "losses":
        return Question.PIXEL_LOSS
    if "activation" in grid:
        return Question.ACTIVATION
    if "lr" in grid or "schedule" in grid:
        return Question.LEARNING_RATE
    return Question.WEIGHTS if random_weights is not None else None
