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
and videos/ mirrors runs/ with a .mp4 per run. A run whose loss.normalize is not "none" adds
"_<normalize>" to its last part (e.g. sine_constant_0.0001_variance).
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
# (pixel, grad, Laplacian, dt) vectors every random-weights sweep also trains, so that each
# verdict on weights compares runs that were made: the pixel loss alone, and the original
# project's reported best
REFERENCE_WEIGHTS = {"pixel-only": (1.0, 0.0, 0.0, 0.0), "original-best": (1.0, 0.01, 0.001, 0.0)}
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

def up_to_scale(vector) -> tuple[float, ...]:
    """A weight vector divided by its largest entry (largest 1): with Adam only the ratios of the
    weights matter (to within Adam's epsilon), so vectors with equal forms are nearly the same
    experiment. Rounded to 9 significant digits so that float noise does not split them."""
    top = max(vector)
    return tuple(float(f"{v / top:.9g}") for v in vector) if top > 0 else tuple(vector)


def random_weight_vectors(count: int, choices, seed: int,
                          exclude=()) -> list[tuple[float, ...]]:
    """`count` (pixel, grad, Laplacian, dt) vectors drawn from `choices`, none all zero, no two
    equal up to scale, none equal up to scale to a vector of `exclude`."""
    choices = [float(c) for c in choices]
    taken = {up_to_scale(v) for v in exclude}
    forms = {up_to_scale(v) for v in itertools.product(choices, repeat=4) if any(v)} - taken
    if count < 1:
        raise ValueError(f"the number of random weight vectors must be at least 1, got {count}")
    if count > len(forms):
        raise ValueError(f"asked for {count} random weight vectors, but {choices} give only "
                         f"{len(forms)} distinct up to scale"
                         + (" besides the reference vectors" if taken else ""))
    rng = np.random.default_rng(seed)
    drawn: list[tuple[float, ...]] = []
    for _ in range(MAX_WEIGHT_DRAWS):
        vector = tuple(float(v) for v in rng.choice(choices, size=4))
        if any(vector) and up_to_scale(vector) not in taken:
            taken.add(up_to_scale(vector))
            drawn.append(vector)
            if len(drawn) == count:
                return drawn
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
        drawn = random_weight_vectors(count, exp.random_weights.get("choices"), seed,
                                      exclude=REFERENCE_WEIGHTS.values())
        named = [{"name": n, **dict(zip(MSE_TERMS, v))} for n, v in REFERENCE_WEIGHTS.items()]
        axes.append(("weights", named + [dict(zip(MSE_TERMS, v)) for v in drawn]))
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
    if cfg.loss.normalize != "none":  # runs that differ only in it get distinct folders
        lr = f"{lr}_{cfg.loss.normalize}"
    if exp.layout == "activation":
        suffix = f"_{cfg.loss.normalize}" if cfg.loss.normalize != "none" else ""
        return f"{act}/{image}_experiments_{labels.get('weights') or betas_name(cfg)}{suffix}"
    if exp.layout == "losses":
        return f"{image}/losses/{labels.get('weights') or betas_name(cfg)}/{act}_{sched}_{lr}"
    return f"{image}/experiments/{betas_name(cfg)}/{act}_{sched}_{lr}"


def replicate(run: PlannedRun, seed: int) -> PlannedRun:
    """The same configuration with another seed (network init and batches): named after the
    first seed's run plus "_seed<seed>", its video likewise."""
    out = run.config.output
    name = run.name if seed == _first_seed(run) else f"{out.configuration}_seed{seed}"
    folder = Path(out.run_dir).parents[len(Path(run.name).parts) - 1] / name
    video = Path(out.video).parent / f"{Path(name).name}.mp4" if out.video else None
    cfg = run.config.replace(train={"seed": seed},
                             output={"run_dir": str(folder), "name": name,
                                     "video": str(video) if video else None})
    return PlannedRun(run.experiment, name, cfg, list(run.experiments), list(run.questions))


def _first_seed(run: PlannedRun) -> int:
    """The seed of the run named after the configuration itself."""
    return run.config.train.seed if run.name == run.config.output.configuration else -1


def plan(experiments, base: RunConfig, out: Path, random_weights: int | None = None,
         seed: int = 0, videos: bool = True, seeds: int = 1) -> list[PlannedRun]:
    """Every run of the given experiments, with run_dir (and video) set below `out`.

    seed: the weight draw's seed and the first run seed; seeds: how many seeds each
    configuration trains with (seed, seed + 1, ...; see `replicate`).
    """
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    runs, seen = [], {}
    for exp in experiments:
        for labels, cfg in expand(exp, base, random_weights, seed):
            name = run_name(exp, labels, cfg)
            cfg = cfg.replace(output={"run_dir": str(out / "runs" / name),
                                      "video": str(out / "videos" / f"{name}.mp4")
                                      if videos else None,
                                      "experiment": exp.name, "question": exp.question,
                                      "name": name, "configuration": name,
                                      "weights_name": labels.get("weights"),
                                      "progress": False})
            cfg.validate()
            first = PlannedRun(exp.name, name, cfg, [exp.name], [exp.question or ""])
            for planned in [first] + [replicate(first, seed + r) for r in range(1, seeds)]:
                _add(planned, exp, seen, runs)
    return runs


def _add(run: PlannedRun, exp: Experiment, seen: dict, runs: list) -> None:
    """Add a planned run, or, when another experiment planned the same folder, tag it (the
    run is trained once)."""
    earlier = seen.get(run.name)
    if earlier is None:
        seen[run.name] = run
        runs.append(run)
        return
    if earlier.config.identity() != run.config.identity():
        raise ValueError(f"experiments {earlier.experiment} and {exp.name} plan different runs "
                         f"under the same folder {run.name}")
    earlier.experiments.append(exp.name)
    earlier.questions.append(exp.question or "")
