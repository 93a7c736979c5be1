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
    [random_weights]               count, choices: N random (pixel, grad, Laplacian, dt) vectors

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


def available() -> dict[str, Path]:
    """Experiment name -> file, from experiments/*.toml."""
    return {p.stem: p for p in sorted(EXPERIMENTS_DIR.glob("*.toml"))}


def load_experiment(name_or_path: str | Path) -> Experiment:
    """Read an experiment by name (experiments/<name>.toml) or path; one-line errors."""
    path = Path(name_or_path)
    if not path.suffix:
        known = available()
        if str(name_or_path) not in known:
            raise ValueError(f"unknown experiment {name_or_path!r}; choose from "
                             f"{', '.join(known)} or give a .toml path")
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
                                 "random_weights"})
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}")
    question = raw.get("question") or infer_question(layout, raw.get("grid", {}),
                                                     raw.get("random_weights"))
    if question is not None and question not in QUESTIONS:
        raise ValueError(f"{path}: unknown question {question!r}; choose from "
                         f"{', '.join(QUESTIONS)}")
    return Experiment(raw.get("name", path.stem), raw.get("description", ""), layout, question,
                      raw.get("base", {}), raw.get("grid", {}), raw.get("random_weights"), path)


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
