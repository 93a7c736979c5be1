"""TensorBoard helpers on ``torch.utils.tensorboard.SummaryWriter``.

Conventions:
  * scalar tags are "<prefix>/<name>", e.g. "train/loss", "eval/psnr", "final/psnr";
  * non-numeric and non-finite (NaN/inf) scalars are NOT logged: TensorBoard plots
    them poorly and they hide the rest of the curve; the skipped names are returned
    so the caller can warn (a diverged run then simply shows a curve that stops);
  * the HParams row is written into the run's OWN event file (``add_hparams``
    would create a timestamped sub-folder instead), with its metric tags logged as
    ordinary scalars too so the HParams dashboard can show them;
  * panels are logged as HWC uint8 images; videos are files of their own (inr.artefacts.video), not
    TensorBoard entries.
"""

from __future__ import annotations

import math
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

# Everything (0 = no limit) so tests and reports see every logged value.
LOAD_ALL = {"scalars": 0, "images": 0, "tensors": 0, "histograms": 0,
            "compressedHistograms": 0, "audio": 0}
HPARAMS_PLUGIN = "hparams"


def _as_float(value) -> float | None:
    """A finite real scalar (Python, numpy or 1-element tensor) as float, else None."""
    if isinstance(value, (str, bytes)) or value is None:
        return None
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.size != 1 or not np.issubdtype(value.dtype, np.number):
            return None
        value = value.reshape(()).item()
    if not isinstance(value, (Real, np.number)) or isinstance(value, complex):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def log_scalars(writer: SummaryWriter, prefix: str, metrics: dict, step: int) -> list[str]:
    """Log each finite numeric ``metrics`` value as "<prefix>/<name>" at ``step``.

    Non-numeric (str, None, arrays) and non-finite values are skipped; returns their names.
    An empty prefix logs the names as given.
    """
    skipped = []
    for name, value in metrics.items():
        scalar = _as_float(value)
        if scalar is None:
            skipped.append(name)
            continue
        writer.add_scalar(f"{prefix}/{name}" if prefix else name, scalar, step)
    return skipped


def log_panel(writer: SummaryWriter, tag: str, image: np.ndarray, step: int) -> None:
    """Log one (h, w, 3) uint8 RGB image under ``tag`` at ``step``."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"panel must be (h, w, 3) uint8, got {image.shape} {image.dtype}")
    writer.add_image(tag, image, step, dataformats="HWC")


def clean_hparams(hparams: dict) -> dict:
    """Hyperparameters as int/float/str/bool only, so every run has the same keys and types.

    numpy scalars -> Python scalars; None, tuples, lists and anything else -> str.
    (torch's ``hparams`` stores bools as 0/1 numbers.)
    """
    clean = {}
    for name, value in hparams.items():
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, (bool, int, float, str)):
            value = str(value)
        clean[str(name)] = value
    return clean


def log_hparams(writer: SummaryWriter, hparams: dict, metrics: dict,
                step: int = 0) -> list[str]:
    """Write ONE HParams row into the writer's own event file, plus ``metrics`` as scalars.

    ``metrics`` keys are full scalar tags (e.g. "final/psnr"); they are declared as the
    row's metrics and logged with ``add_scalar`` at ``step``. Non-finite metrics are
    declared but not logged (shown blank). Returns the names of skipped metrics.
    """
    from torch.utils.tensorboard.summary import hparams as hparams_summaries

    if not isinstance(hparams, dict) or not isinstance(metrics, dict):
        raise ValueError("hparams and metrics must both be dicts")
    experiment, start_info, end_info = hparams_summaries(clean_hparams(hparams),
                                                         {str(k): 0.0 for k in metrics})
    file_writer = writer._get_file_writer()  # the run's own event file; no sub-folder
    for summary in (experiment, start_info, end_info):
        file_writer.add_summary(summary, step)
    return log_scalars(writer, "", metrics, step)


def read_events(logdir: str | Path) -> dict:
    """Load every event file directly in ``logdir`` (not sub-folders) into plain Python.

    Returns {"scalars": {tag: [(step, value)]}, "images": {tag: [(step, width, height)]},
    "hparams": {name: value}, "hparam_metrics": [tag], "hparam_tags": [hparams-plugin tag]}.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    logdir = Path(logdir)
    if not logdir.is_dir():
        raise ValueError(f"logdir {logdir} is not a folder")
    acc = EventAccumulator(str(logdir), size_guidance=LOAD_ALL)
    acc.Reload()
    tags = acc.Tags()
    out = {
        "scalars": {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in tags["scalars"]},
        "images": {t: [(e.step, e.width, e.height) for e in acc.Images(t)] for t in tags["images"]},
        "hparams": {},
        "hparam_metrics": [],
    }
    hparams_content = _plugin_content(acc, HPARAMS_PLUGIN)
    out["hparam_tags"] = sorted(hparams_content)
    for content in hparams_content.values():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            for name, value in data.session_start_info.hparams.items():
                out["hparams"][name] = getattr(value, value.WhichOneof("kind"))
        if data.HasField("experiment"):
            out["hparam_metrics"] = [m.name.tag for m in data.experiment.metric_infos]
    return out


def _plugin_content(acc, plugin: str) -> dict:
    """{tag: content bytes} for ``plugin``, empty if the plugin wrote nothing."""
    try:
        return acc.PluginTagToContent(plugin)
    except KeyError:
        return {}
