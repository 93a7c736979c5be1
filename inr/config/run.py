"""A run's whole configuration as dataclasses: saved beside every run, enough to reproduce it.

`RunConfig.from_dict` / `load` read JSON or TOML; `save` writes JSON. `validate` raises a one-line
ValueError naming the bad field. Units: times and diffusivity are in the coordinate units of
`inr.data`; steps are optimiser steps; learning rates are per step.
"""
from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from inr.config.schedule import Schedule
from inr.config.weights import BALANCE_SCHEMES, NORMALIZATIONS, LossWeights
from inr.data import DIFFUSION_METHODS, MIN_IMAGE_SIDE
from inr.io import write_json_atomic
from inr.model.derivatives import DERIVATIVE_METHODS
from inr.model.networks import (ACTIVATIONS, CoordinateMLP, canonical_activation, make_model,
                                scale_symbol)
from inr.vocabulary import LOSS_TERMS

REPO_ROOT = Path(__file__).resolve().parents[2]  # inr/config/run.py -> the repository
DEFAULT_IMAGE = str(REPO_ROOT / "original" / "cameraman.png")
BATCH_KINDS = ("points", "frame")
MATMUL_PRECISIONS = ("highest", "high")
DTYPES = {"float32": torch.float32, "float64": torch.float64}
# an activation's frequency or scale, by its symbol (inr.model.networks.scale_symbol): the
# ModelConfig field that holds it, and the keyword make_model takes it as
SCALE_FIELDS = {"w0": "w0", "s": "gauss_scale"}
SCALE_KEYWORDS = {"w0": "w0", "s": "scale"}


@dataclass
class DataConfig:
    """The diffusion sequence: `frames` times evenly in [t_start, t_stop] (t_start > 0 keeps the
    targets smooth, see inr.data), image resampled to size x size (None keeps it)."""
    image: str = DEFAULT_IMAGE
    size: int | None = 64
    frames: int = 8
    t_start: float = 0.05
    t_stop: float = 1.0
    diffusivity: float = 0.02
    method: str = "spectral"
    heldout: bool = True  # also evaluate at the midpoints between training frames


@dataclass
class ModelConfig:
    activation: str = "sine"  # inr.model.networks.ACTIVATIONS
    width: int = 64
    depth: int = 3  # hidden layers
    w0: float = 30.0  # the activations whose scale symbol is w0 only (sine, FINER, WIRE, ...)
    gauss_scale: float = 10.0  # the Gaussian's s in exp(-(s z)^2) only
    wire_s0: float = 3.0  # WIRE's envelope s0 in cos(w0 z) exp(-(s0 z)^2) only (not tuned)

    @staticmethod
    def scale_field(activation: str) -> str | None:
        """The field that holds the activation's frequency or scale: 'w0' (sine, FINER, WIRE,
        sinc, H-SIREN), 'gauss_scale' (Gaussian); None for an activation without one (ELU)."""
        symbol = scale_symbol(activation)
        return None if symbol is None else SCALE_FIELDS[symbol]

    @property
    def scale(self) -> float | None:
        """The activation's frequency or scale (its `scale_field`: w0, or the Gaussian's s);
        None for an activation without one (ELU)."""
        held_in = self.scale_field(self.activation)
        return None if held_in is None else getattr(self, held_in)

    def build(self, seeds: list[int]) -> CoordinateMLP:
        """An ensemble of len(seeds) such networks, model m initialised from seeds[m]."""
        symbol = scale_symbol(self.activation)
        kw = {} if symbol is None else {SCALE_KEYWORDS[symbol]: self.scale}
        if canonical_activation(self.activation) == "wire":
            kw["s0"] = self.wire_s0
        return make_model(self.activation, self.width, self.depth, models=len(seeds),
                          seed=list(seeds), **kw)


@dataclass
class TrainConfig:
    steps: int = 300
    batch: str = "points"  # "points": random points across frames; "frame": one whole frame
    points: int = 4096  # per step, when batch == "points"
    eval_every: int = 100  # steps between full-frame evaluations (and a final one)
    seed: int = 0
    device: str = "auto"  # "auto" = cuda when available, else cpu
    dtype: str = "float32"
    # float32 matrix products: "highest" (full float32) or "high" (TF32 on GPUs that have it;
    # no effect on a CPU). Part of a run's identity: it changes the numbers (README, "GPU")
    matmul_precision: str = "highest"
    # how the network's derivatives are taken (inr.model.derivatives): "fused" (the compiled kernel,
    # falling back to "forward" where it cannot run), "forward" (the eager forward Laplacian) or
    # "autograd" (nested reverse mode). INR_NO_FUSION=1 overrides "fused"; the record says
    # which ran (derivative_method) and why it fell back (derivative_fallback)
    derivative_method: str = "fused"


@dataclass
class OutputConfig:
    run_dir: str | None = None  # TensorBoard events, config, checkpoint, metrics.json
    video: str | None = None  # .mp4 or .gif path; None = no video
    panels: bool = True  # log prediction panels to TensorBoard at each evaluation
    progress: bool = True  # tqdm bar
    # labels set when a sweep plans the run, stored in its record for the report
    experiment: str | None = None  # the experiment that planned it
    question: str | None = None  # what that experiment asks (inr.vocabulary.QUESTIONS)
    name: str | None = None  # the run's folder below runs/
    configuration: str | None = None  # its first seed's name: the runs that differ only in seed
    # its configuration's name with the image part '*' (inr.artefacts.tree.ANY_IMAGE): the same
    # on every image, so it matches the configuration across images
    across_images: str | None = None
    weights_name: str | None = None  # the name of its weight setting, where it has one
    reference: str | None = None  # the reference vector its weights equal up to scale, if any
    arm: str | None = None  # the group it is tuned in (inr.vocabulary.Role.TUNED), if any
    stage: str | None = None  # inr.vocabulary.Stage: screening or confirmation
    role: str | None = None  # inr.vocabulary.Role: drawn, reference or tuned
    image_role: str | None = None  # inr.vocabulary.ImageRole, where a sweep holds images out
    # a run a loss-weight search proposed (inr.sweep.search): the strategy, the search's seed,
    # the trial and the batch of trials asked together, and the sampler's seconds to propose it
    search: str | None = None
    search_seed: int | None = None
    trial: int | None = None
    search_batch: int | None = None
    ask_seconds: float | None = None


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    schedule: Schedule = field(default_factory=lambda: Schedule("constant", lr=1e-4))
    train: TrainConfig = field(default_factory=TrainConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    # ------------------------------------------------------------------ validation
    def validate(self) -> "RunConfig":
        """Raise a one-line ValueError for the first bad field; return self."""
        d, m, w, t = self.data, self.model, self.loss, self.train
        _check(d.size is None or d.size >= MIN_IMAGE_SIDE,
               f"data.size must be at least {MIN_IMAGE_SIDE}, got {d.size}")
        _check(d.frames >= 1, f"data.frames must be at least 1, got {d.frames}")
        _check(0 <= d.t_start <= d.t_stop, f"data times need 0 <= t_start <= t_stop, got "
                                            f"{d.t_start}, {d.t_stop}")
        _check(d.diffusivity > 0, f"data.diffusivity must be positive, got {d.diffusivity}")
        _check(d.method in DIFFUSION_METHODS, f"unknown diffusion method {d.method!r}; choose from "
                                    f"{', '.join(DIFFUSION_METHODS)}")
        _check(m.activation in ACTIVATIONS, f"unknown activation {m.activation!r}; choose from "
                                             f"{', '.join(ACTIVATIONS)}")
        _check(m.width >= 1 and m.depth >= 1, f"model width and depth must be positive, got "
                                               f"{m.width}, {m.depth}")
        _check(m.w0 > 0, f"model.w0 must be positive, got {m.w0}")
        _check(m.gauss_scale > 0, f"model.gauss_scale must be positive, got {m.gauss_scale}")
        _check(m.wire_s0 > 0, f"model.wire_s0 must be positive, got {m.wire_s0}")
        weights = {name: getattr(w, name) for name in LOSS_TERMS}
        for name, value in weights.items():
            _check(math.isfinite(value) and value >= 0,
                   f"loss weight {name} must be finite and >= 0, got {value}")
        _check(any(v > 0 for v in weights.values()), "all loss weights are zero: nothing to train")
        _check(w.normalize in NORMALIZATIONS, f"unknown loss.normalize {w.normalize!r}; choose "
                                              f"from {', '.join(NORMALIZATIONS)}")
        _check(w.balance in BALANCE_SCHEMES, f"unknown loss.balance {w.balance!r}; choose from "
                                             f"{', '.join(BALANCE_SCHEMES)}")
        _check(w.balance_every >= 1, f"loss.balance_every must be at least 1, got "
                                     f"{w.balance_every}")
        for name in ("lra_alpha", "relobralo_alpha", "relobralo_saudade"):
            _check(0 <= getattr(w, name) <= 1, f"loss.{name} must be in [0, 1], got "
                                               f"{getattr(w, name)}")
        _check(w.relobralo_temperature > 0, f"loss.relobralo_temperature must be positive, got "
                                            f"{w.relobralo_temperature}")
        _check(math.isfinite(w.softadapt_beta), f"loss.softadapt_beta must be finite, got "
                                                f"{w.softadapt_beta}")
        _check(t.steps >= 1, f"train.steps must be at least 1, got {t.steps}")
        _check(t.batch in BATCH_KINDS, f"unknown batch kind {t.batch!r}; choose from "
                                       f"{', '.join(BATCH_KINDS)}")
        _check(t.points >= 1, f"train.points must be at least 1, got {t.points}")
        _check(t.eval_every >= 1, f"train.eval_every must be at least 1, got {t.eval_every}")
        _check(t.dtype in DTYPES, f"unknown dtype {t.dtype!r}; choose from {', '.join(DTYPES)}")
        _check(t.matmul_precision in MATMUL_PRECISIONS,
               f"unknown train.matmul_precision {t.matmul_precision!r}; choose from "
               f"{', '.join(MATMUL_PRECISIONS)}")
        _check(t.derivative_method in DERIVATIVE_METHODS,
               f"unknown train.derivative_method {t.derivative_method!r}; choose from "
               f"{', '.join(DERIVATIVE_METHODS)}")
        _check(t.device == "auto" or t.device.split(":")[0] in ("cpu", "cuda", "mps"),
               f"unknown device {t.device!r}")
        _check(t.device.split(":")[0] != "cuda" or torch.cuda.is_available(),
               f"device {t.device!r} asked for, but CUDA is not available")
        _check(t.batch == "frame" or (w.ssim == 0 and w.ms_ssim == 0),
               "SSIM and MS-SSIM losses need whole frames: set train.batch = 'frame'")
        if self.output.video is not None:
            _check(Path(self.output.video).suffix in (".mp4", ".gif"),
                   f"output.video must end in .mp4 or .gif, got {self.output.video}")
        return self

    # ------------------------------------------------------------------ derived
    def resolved_device(self) -> torch.device:
        if self.train.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.train.device)

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.train.dtype]

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        out = {f.name: dataclasses.asdict(getattr(self, f.name))
               for f in dataclasses.fields(self) if f.name != "schedule"}
        out["schedule"] = self.schedule.to_dict()
        return out

    def identity(self) -> dict:
        """Everything that decides the numbers a run produces (all but the output section)."""
        out = self.to_dict()
        out.pop("output")
        return out

    @classmethod
    def from_dict(cls, raw: dict) -> "RunConfig":
        """Build from nested mappings (missing fields take defaults); unknown keys raise."""
        sections = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - set(sections))
        _check(not unknown, f"unknown config section(s) {', '.join(unknown)}; expected "
                            f"{', '.join(sections)}")
        built = {}
        for name, value in raw.items():
            if name == "schedule":
                built[name] = Schedule.from_dict(dict(value))
            else:
                kind = type(getattr(cls(), name))
                built[name] = _section(kind, name, value)
        return cls(**built)

    def save(self, path: str | Path) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path, base: "RunConfig | None" = None) -> "RunConfig":
        """Read a .json or .toml config; fields it omits come from `base` (default: defaults)."""
        return (base or cls()).replace(**read_config_file(path))

    def replace(self, **sections: dict) -> "RunConfig":
        """A copy with some sections' fields changed: replace(model={"width": 128})."""
        raw = self.to_dict()
        for name, changes in sections.items():
            _check(name in raw, f"unknown config section {name!r}")
            raw[name] = {**raw[name], **changes}
        return RunConfig.from_dict(raw)


def read_config_file(path: str | Path) -> dict:
    """A .json or .toml config file as it is written: nested mappings holding only the fields
    it sets (so a caller can tell a field set to null from one left out)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such config file")
    try:
        text = path.read_text()
        return tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, OSError) as err:
        raise ValueError(f"{path}: cannot parse config ({str(err).splitlines()[0]})") from None


def _section(kind, name: str, value: dict):
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(value) - known)
    _check(not unknown, f"unknown field(s) {', '.join(unknown)} in config section {name!r}; "
                        f"expected {', '.join(sorted(known))}")
    return kind(**value)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


# ------------------------------------------------------------------ profiles

PROFILES: dict[str, dict] = {
    # CPU-sized, still meaningful: >= 64^2, >= 8 frames, width 64 x 3 hidden layers
    # (2048 random points a step: the step time is linear in points, and 100 runs must fit
    # in well under 9 minutes on 2 cores; see README "Speed")
    "quick": {"data": {"size": 64, "frames": 8},
              "model": {"width": 64, "depth": 3},
              "train": {"steps": 300, "batch": "points", "points": 2048, "eval_every": 100}},
    # a scale check on the CPU: 128^2, width 128 x 3, 1000 steps (its time: README, "Medium")
    "medium": {"data": {"size": 128, "frames": 8},
               "model": {"width": 128, "depth": 3},
               "train": {"steps": 1000, "batch": "points", "points": 2048, "eval_every": 250}},
    # the original project's sizes (GPU): 256^2, 10 frames, width 512 x 3, 1000 steps, a frame a step
    "paper": {"data": {"size": 256, "frames": 10},
              "model": {"width": 512, "depth": 3},
              "train": {"steps": 1000, "batch": "frame", "eval_every": 250}},
}


def default_profile() -> str:
    """'paper' where a GPU is present, else 'quick'."""
    return "paper" if torch.cuda.is_available() else "quick"


def profile_config(profile: str | None = None) -> RunConfig:
    """The base RunConfig of a profile (None: the default for this machine)."""
    profile = profile or default_profile()
    _check(profile in PROFILES, f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    return RunConfig().replace(**PROFILES[profile])
