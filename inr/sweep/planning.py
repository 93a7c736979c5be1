"""Planning a sweep: experiments expanded into runs, each with its config, its labels and its
place in the output tree (inr.artefacts.tree names it), replicated over seeds, and each run
planned once however many experiments ask for it."""
from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from inr.artefacts.rundir import RunDir
from inr.artefacts.tree import ANY_IMAGE, OutputTree, replicate_name, run_name
from inr.config import ModelConfig, RunConfig, image_label
from inr.config.weights import BALANCE_SCHEMES
from inr.model.networks import ACTIVATION_CHOICES
from inr.sweep.experiments import Experiment
from inr.sweep.weights import random_weight_vectors, reference_name
from inr.stats.selection import named_in_advance
from inr.vocabulary import MSE_TERMS, REFERENCE_WEIGHTS, ImageRole, Role, Stage


@dataclass
class PlannedRun:
    """One run of a sweep: its experiment, its name (inr.artefacts.tree), its config and the
    output tree it writes into."""
    experiment: str
    name: str
    config: RunConfig
    tree: OutputTree
    experiments: list[str] = field(default_factory=list)  # all experiments that ask for it
    questions: list[str] = field(default_factory=list)  # what each asks ('' for none)

    def __post_init__(self):
        self.questions += [""] * (len(self.experiments) - len(self.questions))

    def folder(self) -> RunDir:
        return RunDir.of(self.config)

    def tag(self) -> None:
        """Record in the finished run's folder every experiment that uses it."""
        self.folder().tag(self.experiments, self.questions)


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
    """The grid's axes as (key, values); a `scale` table is applied per activation in
    `expand`, a weight setting with a list of values becomes one setting per value, and
    `balance` lists loss-balancing schemes (inr.config.weights.BALANCE_SCHEMES)."""
    axes = []
    for key, values in exp.grid.items():
        if key == "scale":
            continue
        if key == "activation" and values == "all":
            values = list(activations)
        if not isinstance(values, list) or not values:
            raise ValueError(f"{exp.path}: grid.{key} must be a non-empty list")
        if key not in ("lr", "schedule", "activation", "weights", "balance"):
            raise ValueError(f"{exp.path}: unknown grid axis {key!r}")
        unknown = [v for v in values if v not in BALANCE_SCHEMES] if key == "balance" else []
        if unknown:
            raise ValueError(f"{exp.path}: grid.balance: unknown scheme {unknown[0]!r}; choose "
                             f"from {', '.join(BALANCE_SCHEMES)}")
        if key == "weights":
            values = [member for setting in values for member in _weight_members(exp, setting)]
        axes.append((key, values))
    return axes


def _weight_members(exp: Experiment, setting: dict) -> list[dict]:
    """A weight setting, or, where one of its weights is a list (the arm's own grid), one
    setting per value named '<name>_<value>' in the arm <name>."""
    tuned = [k for k, v in setting.items() if isinstance(v, list)]
    if not tuned:
        return [dict(setting)]
    if len(tuned) > 1 or "name" not in setting:
        raise ValueError(f"{exp.path}: a weight setting tunes one named weight, got "
                         f"{', '.join(tuned)} in {setting.get('name', 'an unnamed setting')}")
    key, name = tuned[0], setting["name"]
    if not setting[key]:
        raise ValueError(f"{exp.path}: weights {name}: {key} needs at least one value")
    return [{**setting, key: float(v), "name": f"{name}_{float(v):g}", "arm": name}
            for v in setting[key]]


def _scales(exp: Experiment, activation: str) -> list[float | None]:
    """The scales the grid's `scale` table gives an activation ([None]: its configured one); an
    activation without a frequency or scale (ELU) may have none there."""
    table = exp.grid.get("scale")
    if table is None:
        return [None]
    if not isinstance(table, dict):
        raise ValueError(f"{exp.path}: grid.scale must be a table of activation = [values]")
    values = table.get(activation)
    if values is None:
        return [None]
    if ModelConfig.scale_field(activation) is None:
        raise ValueError(f"{exp.path}: grid.scale.{activation}: {activation} has no frequency "
                         "or scale")
    if not isinstance(values, list) or not values or not all(
            isinstance(v, (int, float)) and v > 0 for v in values):
        raise ValueError(f"{exp.path}: grid.scale.{activation} must be a list of positive "
                         "numbers")
    return [float(v) for v in values]


def tuned_axis(exp: Experiment) -> str | None:
    """The axis the screening of `exp` tunes within each arm: 'scale', 'weights' (a weight
    setting with a list of values), 'lr' (with a schedule axis); None for none. A scale table
    that gives each activation one value fixes the scales and tunes nothing."""
    if any(isinstance(v, list) and len(v) > 1 for v in exp.grid.get("scale", {}).values()):
        return "scale"
    if any(isinstance(v, list) for s in exp.grid.get("weights", []) for v in s.values()):
        return "weights"
    if "lr" in exp.grid and "schedule" in exp.grid:
        return "lr"
    return None


def expand(exp: Experiment, base: RunConfig, random_weights: int | None = None,
           seed: int = 0) -> list[tuple[dict, RunConfig]]:
    """The experiment's runs as (labels, config) pairs, before naming. labels: lr, schedule,
    weights (the setting's name), arm (the group the screening tunes within, where the
    experiment tunes one: `tuned_axis`; a balance axis makes each scheme an arm of its own),
    drawn (a random vector)."""
    cfg0 = base.replace(**exp.base) if exp.base else base
    axes = _grid_axes(exp, ACTIVATION_CHOICES)
    tuned = tuned_axis(exp)
    drawn: list[tuple[float, ...]] = []
    if exp.random_weights is not None:
        count = random_weights or exp.random_weights.get("count", 1)
        drawn = random_weight_vectors(count, exp.random_weights.get("choices"), seed,
                                      exclude=REFERENCE_WEIGHTS.values())
        named = [{"name": n, **dict(zip(MSE_TERMS, v))} for n, v in REFERENCE_WEIGHTS.items()]
        axes.append(("weights", named + [dict(zip(MSE_TERMS, v)) for v in drawn]))
    runs = []
    for combo in itertools.product(*(values for _, values in axes)):
        labels, sections, arm = {}, copy.deepcopy(cfg0.to_dict()), []
        for (key, _), value in zip(axes, combo):
            if key == "lr":
                labels["lr"] = value
            elif key == "schedule":
                labels["schedule"] = dict(value)
                arm.append(value["kind"])
            elif key == "activation":
                sections["model"]["activation"] = value
                arm.append(value)
            elif key == "balance":
                sections["loss"]["balance"] = value
                arm.append(value)
            elif key == "weights":
                value = dict(value)
                labels["weights"] = value.pop("name", None)
                arm.insert(0, value.pop("arm", labels["weights"]))
                labels["drawn"] = labels["weights"] is None
                sections["loss"].update(value)
        if tuned is not None:
            labels["arm"] = "/".join(a for a in arm if a)
        lr = labels.get("lr", sections["schedule"]["lr"])
        template = labels.get("schedule", {"kind": sections["schedule"]["kind"]}
                              if "lr" in labels else None)
        if template is not None:
            fresh = resolve_schedule(template, lr, sections["train"]["steps"])
            sections["schedule"] = fresh
        sections["train"]["seed"] = seed
        for scale in _scales(exp, sections["model"]["activation"]):
            model = dict(sections["model"])
            if scale is not None:
                model[ModelConfig.scale_field(model["activation"])] = scale
            runs.append((dict(labels), RunConfig.from_dict({**sections, "model": model})))
    return runs


def selection_row(cfg: RunConfig) -> dict:
    """The columns of a planned run's future record that inr.stats.selection reads to tell
    what was named in advance (named_in_advance) and which arm it tunes in (arm_of)."""
    out = cfg.output
    return {"reference": out.reference, "scheduler": cfg.schedule.kind,
            "lr": cfg.schedule.display_lr, "arm": out.arm, "weights": out.weights_name,
            "activation": cfg.model.activation}


def role_of(labels: dict, cfg: RunConfig, question: str | None) -> str:
    """Why a run is planned (inr.vocabulary.Role): a reference vector or a claim of the original
    named in advance, a random draw, a grid point the screening chooses from (its arm), or a
    setting the experiment file names outright (named in advance too)."""
    if question and named_in_advance(selection_row(cfg), question):
        return Role.REFERENCE
    if labels.get("drawn"):
        return Role.DRAWN
    return Role.TUNED if labels.get("arm") else Role.REFERENCE


def replicate(run: PlannedRun, seed: int, stage: str | None = None) -> PlannedRun:
    """The same configuration with another seed (network init and batches): the tree names it
    after its configuration (inr.artefacts.tree.replicate_name), its video likewise, in the
    format the configuration's video has. stage: the replicate's (inr.vocabulary.Stage;
    default: the run's); a confirmation run writes no video (the report links the first
    seed's)."""
    out = run.config.output
    name = run.name if seed == _first_seed(run) else replicate_name(out.configuration, seed)
    stage = stage or out.stage
    video = run.tree.video(name, Path(out.video).suffix) \
        if out.video and stage != Stage.CONFIRMATION else None
    cfg = run.config.replace(train={"seed": seed},
                             output={"run_dir": str(run.tree.run_dir(name)), "name": name,
                                     "video": str(video) if video else None, "stage": stage})
    return PlannedRun(run.experiment, name, cfg, run.tree, list(run.experiments),
                      list(run.questions))


def _first_seed(run: PlannedRun) -> int:
    """The seed of the run named after the configuration itself."""
    return run.config.train.seed if run.name == run.config.output.configuration else -1


def plan(experiments: Iterable[Experiment], base: RunConfig, out: Path,
         random_weights: int | None = None, seed: int = 0, videos: bool = True,
         seeds: int = 1) -> list[PlannedRun]:
    """Every run of the given experiments, with its folder (and video) in the output tree at
    `out`; a run whose weights equal a reference vector up to scale is labelled with its name.

    seed: the weight draw's seed and the first run seed; seeds: how many seeds each
    configuration trains with (seed, seed + 1, ...; see `replicate`) where its experiment
    does not say (its `seeds`). On a development image (base.output.image_role) an experiment
    that screens on other development images only (its `development_images`) plans nothing.
    """
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    runs, seen, tree = [], {}, OutputTree(out)
    developing = base.output.image_role == ImageRole.DEVELOPMENT
    for exp in experiments:
        if developing and not exp.screens_on(image_label(base.data.image)):
            continue
        for labels, cfg in expand(exp, base, random_weights, seed):
            name = run_name(exp.layout, labels.get("weights"), cfg)
            cfg = cfg.replace(output={"run_dir": str(tree.run_dir(name)),
                                      "video": str(tree.video(name)) if videos else None,
                                      "reference": None if cfg.loss.ssim or cfg.loss.ms_ssim
                                      or cfg.loss.balanced else reference_name(cfg.loss.betas),
                                      "experiment": exp.name, "question": exp.question,
                                      "name": name, "configuration": name,
                                      "across_images": run_name(exp.layout,
                                                                labels.get("weights"), cfg,
                                                                ANY_IMAGE),
                                      "weights_name": labels.get("weights"),
                                      "arm": labels.get("arm"), "stage": Stage.SCREENING,
                                      "progress": False})
            cfg = cfg.replace(output={"role": role_of(labels, cfg, exp.question)})
            cfg.validate()
            first = PlannedRun(exp.name, name, cfg, tree, [exp.name], [exp.question or ""])
            for planned in [first] + [replicate(first, seed + r)
                                      for r in range(1, exp.seeds or seeds)]:
                _add(planned, exp, seen, runs)
    return runs


def check_development_images(experiments: Iterable[Experiment], images: Iterable[str]) -> None:
    """A one-line ValueError for an experiment that names development images of which the
    sweep's development images (their labels) hold none: it would screen on no image."""
    images = list(images)
    for exp in experiments:
        if exp.development_images is not None and not any(map(exp.screens_on, images)):
            raise ValueError(f"{exp.path}: development_images {', '.join(exp.development_images)}: "
                             f"none is among the development images ({', '.join(images)})")


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
