"""What every part of the device check shares: its sizes and constants, the device helpers
(matmul precision, synchronisation, peak memory), and the one-line form of an error."""
from __future__ import annotations

import gc
import os
import platform
import subprocess
from dataclasses import dataclass, field

import torch

from inr.config import REPO_ROOT, RunConfig
from inr.training.loop import matmul_precision as train_matmul_precision

SECTIONS = ("correctness", "derivative_step", "sweep_throughput")  # the JSON's, in run order
PRECISIONS = ("fp32", "tf32")  # float32 matmuls in full precision, or on TF32 tensor cores
TF32_GOAL = 1e-3  # TF32's RMS error over each target's std, for GOAL_FIELDS
GOAL_FIELDS = ("grad", "laplacian")
ALL_TERMS = {"pixel": 1.0, "grad": 0.01, "laplacian": 0.001, "dt": 0.01}  # every field trained
MIB, GIB = 2 ** 20, 2 ** 30
STOP = {"by": None}  # set by SIGTERM: everything not yet started is skipped
NOT_APPLICABLE = "n/a"  # the status of a TF32 timing off CUDA, where TF32 changes nothing


@dataclass(frozen=True)
class Sizes:
    """Every size the measurements use; `TINY` shrinks them so the whole check runs on a CPU in
    about a minute (the correctness checks are small either way)."""
    check_width: int = 64  # correctness: derivative networks 3 -> width x 3 -> 1, M = 3
    check_points: int = 256
    step_widths: tuple[int, ...] = (256, 512)  # derivative step: SIREN widths, M = 1
    step_side: int = 256  # the step's batch is one side x side frame (256: 65,536 points)
    step_repeats: int = 20  # timed steps per method (median)
    step_warmup: int = 3
    paper_changes: dict = field(default_factory=dict)  # on top of profile_config("paper")
    ensemble_warmup: int = 2  # untimed steps before the timed ones
    ensemble_steps: int = 5  # timed steps per ensemble
    max_models: int = 128  # largest ensemble tried (a 100-run sweep needs no more)


FULL = Sizes()
TINY = Sizes(check_width=24, check_points=64, step_widths=(32, 64), step_side=32,
             step_repeats=3, step_warmup=1,
             paper_changes={"data": {"size": 32, "frames": 4}, "model": {"width": 32}},
             ensemble_warmup=1, ensemble_steps=2, max_models=2)


class Skipped(Exception):
    """A check or measurement that does not apply here (e.g. no ffmpeg); not a failure."""


def one_line(err: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:300] if lines else ''}".rstrip(": ")


def tf32_applies(device: torch.device, precision: str) -> bool:
    """Whether timing `precision` on `device` measures something of its own (TF32: CUDA only)."""
    return precision != "tf32" or device.type == "cuda"


def shown(value, spec: str, unit: str = "") -> str:
    """A number for a progress line ("—" for None)."""
    return "—" if value is None else f"{value:{spec}}{unit}"


def ffmpeg() -> str | None:
    """The ffmpeg binary imageio-ffmpeg ships (or finds), else None."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None


def tensorboard() -> bool:
    """Whether TensorBoard's writer imports (runs log as a sweep's do only then)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401

        return True
    except ImportError:
        return False


def environment(device: torch.device) -> dict:
    """What the numbers were measured on."""
    env = {"torch": torch.__version__, "python": platform.python_version(),
           "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
           "cuda_available": torch.cuda.is_available(), "commit": _git_commit(),
           "ffmpeg": ffmpeg() is not None, "tensorboard": tensorboard(),
           "float32_matmul_precision": torch.get_float32_matmul_precision()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / GIB, 1),
                   capability=f"{props.major}.{props.minor}", cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version(),
                   cudnn_allow_tf32=torch.backends.cudnn.allow_tf32)  # SSIM's convolutions
    return env


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def matmul_precision(precision: str):
    """float32 matmuls in full precision ("fp32") or on TF32 tensor cores ("tf32": CUDA, and
    oneDNN CPUs that have them): the training loop's own switch, inr.training.loop.matmul_precision
    (torch.set_float32_matmul_precision alone, the old setting restored after)."""
    return train_matmul_precision("high" if precision == "tf32" else "highest")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_memory(device: torch.device) -> int | None:
    """Free what can be freed and restart the peak counter; the bytes now allocated (CUDA)."""
    gc.collect()
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    return torch.cuda.memory_allocated(device)


def peak_above(device: torch.device, base: int | None) -> int | None:
    """Bytes of peak allocation above `base` since the last reset (None on a CPU)."""
    if base is None:
        return None
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - base


def is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


def on(config: RunConfig, device: torch.device, **sections) -> RunConfig:
    """config on `device`, with `sections` changed (RunConfig.replace)."""
    train = {**sections.pop("train", {}), "device": str(device)}
    return config.replace(train=train, **sections)
