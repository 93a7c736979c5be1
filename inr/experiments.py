"""Experiments as data: TOML files in experiments/ expanded into planned runs with their folders.

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
        weights = [{name, pixel, grad, laplacian, dt, ssim, ms_ssim}]  loss overrides
    [random_weights]               count, choices: N random (pixel, grad, Laplacian, dt) vectors

Folder names follow the original project:
    betas       runs/<image>/experiments/<b_pixel>_<b_grad>_<b_lap>_<b_dt>/<act>_<sched>_<lr>
    activation  runs/<act>/<image>_experiments_<weights name>
    losses      runs/<image>/losses/<weights name>/<act>_<sched>_<lr>
and videos/ mirrors runs/ with a .mp4 per run.
"""
from __future__ import annotations

import copy
import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inr.config import REPO_ROOT, RunConfig
from inr.models import ACTIVATION_CHOICES
from inr.rundir import RunDir
from inr.vocabulary import MSE_TERMS

EXPERIMENTS_DIR = REPO_ROOT / "experiments"
LAYOUTS = ("betas", "activation", "losses")
QUESTIONS = ("activation", "learning_rate", "weights", "pixel_loss")
MAX_WEIGHT_DRAWS = 100_000  # attempts before giving up on finding N distinct vectors


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


@dataclass
class PlannedRun:
    """One run of a sweep: its experiment, its name (path relative to runs/) and its config."""
    experiment: str
    name: str
    config: RunConfig
    experiments: list[str] = field(default_factory=list)  # all experiments that ask for it
    questions: list[str] = field(default_factory=list)  # what each asks ('' for none)

    def __post_init__(self):
        self.questions += [""] * (len(self.experiments) - len(self.questions))

    def folder(self) -> RunDir:
        return RunDir.of(self.config)

    def tag(self) -> None:
        """Record in the finished run's folder every experiment that uses it."""
        self.folder().tag(self.experiments, self.questions)


def available() -> dict[str, Path]:
    """Experiment name -> file, from experiments/*.toml."""
    return {p.stem: p for p in sorted(EXPERIMENTS_DIR.glob("*.toml"))}


def load_experiment(name_or_path) -> Experiment:
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


def infer_question(layout: str, grid: dict, random_weights) -> str | None:
    """What an experiment without a `question` asks, from what it varies: pixel losses (the
    losses layout), activations, learning rates and schedules, random weights; else None."""
    if layout == "losses":
        return "pixel_loss"
    if "activation" in grid:
        return "activation"
    if "lr" in grid or "schedule" in grid:
        return "learning_rate"
    return "weights" if random_weights is not None else None


# ----------------------------------------------------------------------------- expansion

def random_weight_vectors(count: int, choices, seed: int) -> list[tuple[float, ...]]:
    """`count` distinct (pixel, grad, Laplacian, dt) vectors drawn from `choices`, none all zero."""
    choices = [float(c) for c in choices]
    distinct = len(set(choices)) ** 4 - (1 if 0.0 in choices else 0)
    if count < 1:
        raise ValueError(f"the number of random weight vectors must be at least 1, got {count}")
    if count > distinct:
        raise ValueError(f"asked for {count} random weight vectors, but {choices} give only "
                         f"{distinct} distinct non-zero ones")
    rng = np.random.default_rng(seed)
    seen: list[tuple[float, ...]] = []
    for _ in range(MAX_WEIGHT_DRAWS):
        vector = tuple(float(v) for v in rng.choice(choices, size=4))
        if any(vector) and vector not in seen:
            seen.append(vector)
            if len(seen) == count:
                return seen
    raise ValueError(f"could not draw {count} distinct weight vectors")


def resolve_schedule(template: dict, lr: float | None, steps: int) -> dict:
    """A schedule template -> Schedule fields: `x_fraction` * steps, `x_factor` * lr."""
    out = {}
    for key, value in template.items():
        if key.endswith("_fraction"):
            field = key[: -len("_fraction")]
            scale = lambda f: max(1 if "size" in field else 0, int(round(f * steps)))  # noqa
            out[field] = [scale(v) for v in value] if isinstance(value, list) else scale(value)
        elif key.endswith("_factor"):
            if lr is None:
                raise ValueError(f"schedule field {key} needs a learning rate")
            out[key[: -len("_factor")]] = float(f"{value * lr:.12g}")  # no 1.0000000000000002e-06
        else:
            out[key] = value
    if out.get("kind") == "cyclic" and "base_lr" in out:
        out["lr"] = out["base_lr"]  # a cyclic schedule starts at its base
    elif lr is not None and "lr" not in out:
        out["lr"] = lr
    return out


def _grid_axes(exp: Experiment, activations) -> list[tuple[str, list]]:
    axes = []
    for key, values in exp.grid.items():
        if key == "activation" and values == "all":
            values = list(activations)
        if not isinstance(values, list) or not values:
            raise ValueError(f"{exp.path}: grid.{key} must be a non-empty list")
        if key not in ("lr", "schedule", "activation", "weights"):
            raise ValueError(f"{exp.path}: unknown grid axis {key!r}")
        axes.append((key, values))
    return axes


def expand(exp: Experiment, base: RunConfig, random_weights: int | None = None,
           seed: int = 0) -> list[tuple[dict, RunConfig]]:
    """The experiment's runs as (labels, config) pairs, before naming."""
    cfg0 = base.replace(**exp.base) if exp.base else base
    axes = _grid_axes(exp, ACTIVATION_CHOICES)
    if exp.random_weights is not None:
        count = random_weights or exp.random_weights.get("count", 1)
        vectors = random_weight_vectors(count, exp.random_weights.get("choices"), seed)
        axes.append(("weights", [dict(zip(MSE_TERMS, v)) for v in vectors]))
    runs = []
    for combo in itertools.product(*(values for _, values in axes)):
        labels, sections = {}, copy.deepcopy(cfg0.to_dict())
        for (key, _), value in zip(axes, combo):
            if key == "lr":
                labels["lr"] = value
            elif key == "schedule":
                labels["schedule"] = dict(value)
            elif key == "activation":
                sections["model"]["activation"] = value
            elif key == "weights":
                value = dict(value)
                labels["weights"] = value.pop("name", None)
                sections["loss"].update(value)
        lr = labels.get("lr", sections["schedule"]["lr"])
        template = labels.get("schedule", {"kind": sections["schedule"]["kind"]}
                              if "lr" in labels else None)
        if template is not None:
            fresh = resolve_schedule(template, lr, sections["train"]["steps"])
            sections["schedule"] = fresh
        sections["train"]["seed"] = seed
        runs.append((labels, RunConfig.from_dict(sections)))
    return runs


def betas_name(cfg: RunConfig) -> str:
    return "_".join(f"{getattr(cfg.loss, t):g}" for t in MSE_TERMS)


def run_name(exp: Experiment, labels: dict, cfg: RunConfig) -> str:
    """The run's folder below runs/ (see module doc)."""
    image = Path(cfg.data.image).stem
    act, sched, lr = cfg.model.activation, cfg.schedule.kind, f"{cfg.schedule.lr:g}"
    if cfg.schedule.kind == "cyclic":
        lr = f"{cfg.schedule.max_lr:g}"
    if exp.layout == "activation":
        return f"{act}/{image}_experiments_{labels.get('weights') or betas_name(cfg)}"
    if exp.layout == "losses":
        return f"{image}/losses/{labels.get('weights') or betas_name(cfg)}/{act}_{sched}_{lr}"
    return f"{image}/experiments/{betas_name(cfg)}/{act}_{sched}_{lr}"


def plan(experiments, base: RunConfig, out: Path, random_weights: int | None = None,
         seed: int = 0, videos: bool = True) -> list[PlannedRun]:
    """Every run of the given experiments, with run_dir (and video) set below `out`."""
    runs, seen = [], {}
    for exp in experiments:
        for labels, cfg in expand(exp, base, random_weights, seed):
            name = run_name(exp, labels, cfg)
            cfg = cfg.replace(output={"run_dir": str(out / "runs" / name),
                                      "video": str(out / "videos" / f"{name}.mp4")
                                      if videos else None,
                                      "experiment": exp.name, "question": exp.question,
                                      "name": name, "weights_name": labels.get("weights"),
                                      "progress": False})
            cfg.validate()
            if name in seen:  # the same run asked twice (by two experiments): train it once
                if seen[name].config.identity() != cfg.identity():
                    raise ValueError(f"experiments {seen[name].experiment} and {exp.name} "
                                     f"plan different runs under the same folder {name}")
                seen[name].experiments.append(exp.name)
                seen[name].questions.append(exp.question or "")
                continue
            seen[name] = PlannedRun(exp.name, name, cfg, [exp.name], [exp.question or ""])
            runs.append(seen[name])
    return runs
