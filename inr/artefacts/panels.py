"""Truth-vs-prediction panel figures: a 2x4 grid per frame, rendered to RGB arrays.

Inputs are dicts ``truth`` and ``pred`` holding float arrays of shape (T, H, W)
for every name in ``COLUMNS`` (``panel_columns`` makes them from the four fields). Each column gets one colour scale taken from the
truth (robust percentiles), fixed over all frames and shared by both rows;
prediction values outside it are clipped for display.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import imageio.v3 as iio
import numpy as np

from inr.io import atomic_path
from inr.vocabulary import FIELDS

if TYPE_CHECKING:
    import torch

COLUMNS = tuple("grad_mag" if f == "grad" else f for f in FIELDS)  # |grad| shows the gradient
COLUMN_TITLES = {"value": "pixel", "grad_mag": "|∇u|", "laplacian": "Δu", "dt": "∂u/∂t"}
ROW_LABELS = ("truth", "prediction")
SIGNED = frozenset({"laplacian", "dt"})  # symmetric scale around 0, diverging map
CMAPS = {"value": "gray", "grad_mag": "viridis", "laplacian": "RdBu_r", "dt": "RdBu_r"}

PERCENTILES = (1.0, 99.0)  # robust colour-scale limits, taken from the truth
MIN_SPAN = 1e-6  # widen degenerate (constant) scales to at least this span
FIGSIZE = (10.0, 5.0)  # inches
DPI = 80  # 10x5 in at 80 dpi -> 800x400 px


def panel_columns(fields: Mapping[str, np.ndarray | torch.Tensor]) -> dict[str, np.ndarray]:
    """The four fields (arrays or tensors: value, laplacian, dt (T, H, W), grad (T, H, W, 2)) as
    the panel columns, float64 (T, H, W) numpy arrays: the gradient becomes its magnitude."""
    as_array = lambda x: np.asarray(x.cpu() if hasattr(x, "cpu") else x, dtype=np.float64)  # noqa
    grad = as_array(fields["grad"])
    return {"value": as_array(fields["value"]), "grad_mag": np.hypot(grad[..., 0], grad[..., 1]),
            "laplacian": as_array(fields["laplacian"]), "dt": as_array(fields["dt"])}


def _check_fields(fields: dict, name: str) -> tuple[int, int, int]:
    """Validate that ``fields`` has every column as a (T, H, W) array of one shape."""
    if not isinstance(fields, dict):
        raise ValueError(f"{name} must be a dict of (T, H, W) arrays, got {type(fields).__name__}")
    missing = [c for c in COLUMNS if c not in fields]
    if missing:
        raise ValueError(f"{name} is missing fields {missing}")
    shapes = {c: np.shape(fields[c]) for c in COLUMNS}
    first = shapes[COLUMNS[0]]
    if len(first) != 3 or min(first) < 1:
        raise ValueError(f"{name}['{COLUMNS[0]}'] must have shape (T, H, W), got {first}")
    bad = {c: s for c, s in shapes.items() if s != first}
    if bad:
        raise ValueError(f"{name} fields must all have shape {first}, got {bad}")
    return first


def panel_scales(truth: dict) -> dict[str, tuple[float, float]]:
    """Per-column (vmin, vmax) from the truth's 1st/99th percentiles over all frames.

    Signed columns (Laplacian, dt) are symmetric around 0: +-max(|p1|, |p99|).
    Non-finite values are ignored; a constant column gets a span of ``MIN_SPAN``.
    """
    _check_fields(truth, "truth")
    scales = {}
    for name in COLUMNS:
        data = np.asarray(truth[name], dtype=np.float64)
        data = data[np.isfinite(data)]
        if data.size == 0:
            raise ValueError(f"truth['{name}'] has no finite values")
        lo, hi = np.percentile(data, PERCENTILES)
        if name in SIGNED:
            hi = max(abs(lo), abs(hi), MIN_SPAN / 2)
            lo = -hi
        elif hi - lo < MIN_SPAN:
            mid = (lo + hi) / 2
            lo, hi = mid - MIN_SPAN / 2, mid + MIN_SPAN / 2
        scales[name] = (float(lo), float(hi))
    return scales


def pad_even(rgb: np.ndarray) -> np.ndarray:
    """Pad an (h, w, 3) image with one white row/column where h or w is odd."""
    pad_h, pad_w = rgb.shape[0] % 2, rgb.shape[1] % 2
    if pad_h or pad_w:
        rgb = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), constant_values=255)
    return rgb


class PanelRenderer:
    """Reusable 2x4 truth/prediction figure; ``render`` only swaps image data.

    Args:
        truth: dict of (T, H, W) arrays for every name in ``COLUMNS``.
        scales: per-column (vmin, vmax); default ``panel_scales(truth)``.
        title: default suptitle (e.g. "sine"), overridable per ``render`` call.
        figsize, dpi: figure size in inches and resolution.
    """

    def __init__(self, truth: dict, scales: dict | None = None, title: str | None = None,
                 figsize: tuple[float, float] = FIGSIZE, dpi: int = DPI) -> None:
        self.shape = _check_fields(truth, "truth")
        self.truth = {c: np.asarray(truth[c], dtype=np.float32) for c in COLUMNS}
        self.scales = panel_scales(truth) if scales is None else dict(scales)
        missing = [c for c in COLUMNS if c not in self.scales]
        if missing:
            raise ValueError(f"scales is missing columns {missing}")
        self.title = title

        # matplotlib loads here, when a panel is first drawn, not when a sweep starts
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        self.canvas = FigureCanvasAgg(self.fig)
        axes = self.fig.subplots(2, len(COLUMNS))
        blank = np.zeros(self.shape[1:], dtype=np.float32)
        self.images = {}  # (row, column name) -> AxesImage
        for j, name in enumerate(COLUMNS):
            vmin, vmax = self.scales[name]
            for i, row in enumerate(ROW_LABELS):
                ax = axes[i, j]
                self.images[row, name] = ax.imshow(blank, cmap=CMAPS[name], vmin=vmin, vmax=vmax,
                                                   interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(row)
            axes[0, j].set_title(COLUMN_TITLES[name])
            self.fig.colorbar(self.images["truth", name], ax=axes[:, j], shrink=0.8)
        # Lay out once with a placeholder suptitle (reserves its space even when
        # titles only arrive per frame), then freeze: per-frame layout is slow.
        self.suptitle = self.fig.suptitle("Placeholder · t = 0.00")
        self.fig.get_layout_engine().execute(self.fig)
        self.fig.set_layout_engine("none")
        self.suptitle.set_text(title or "")
        # Blitting: draw the static parts (axes, labels, colour bars) once and keep
        # them as a background; per frame only the images and suptitle are redrawn.
        self._dynamic = [*self.images.values(), self.suptitle]
        for artist in self._dynamic:
            artist.set_animated(True)
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(self.fig.bbox)

    def render(self, pred: dict, frame: int, title: str | None = None) -> np.ndarray:
        """Render frame ``frame`` of truth (top) and ``pred`` (bottom) -> (h, w, 3) uint8, h, w even.

        Prediction values are clipped to the column scales; NaNs show as blank pixels.
        ``title`` replaces the default suptitle for this frame only.
        """
        if _check_fields(pred, "pred") != self.shape:
            raise ValueError(f"pred shape {np.shape(pred[COLUMNS[0]])} != truth shape {self.shape}")
        if not -self.shape[0] <= frame < self.shape[0]:
            raise ValueError(f"frame {frame} out of range for {self.shape[0]} frames")
        for name in COLUMNS:
            vmin, vmax = self.scales[name]
            self.images["truth", name].set_data(self.truth[name][frame])
            shown = np.clip(np.asarray(pred[name][frame], dtype=np.float32), vmin, vmax)
            self.images["prediction", name].set_data(shown)
        self.suptitle.set_text(self.title if title is None else title)
        self.canvas.restore_region(self._background)
        for artist in self._dynamic:
            self.fig.draw_artist(artist)
        for image in self.images.values():  # frame lines back on top of the images
            for spine in image.axes.spines.values():
                self.fig.draw_artist(spine)
        rgb = np.asarray(self.canvas.buffer_rgba())[..., :3].copy()
        return pad_even(rgb)


def render_panel(truth: dict, pred: dict, frame: int, scales: dict | None = None,
                 title: str | None = None) -> np.ndarray:
    """One-off render of frame ``frame`` -> (h, w, 3) uint8; use ``PanelRenderer`` for videos."""
    return PanelRenderer(truth, scales, title).render(pred, frame)


def save_panel_png(path: str | Path, truth: dict, pred: dict, frame: int,
                   scales: dict | None = None, title: str | None = None) -> Path:
    """Render frame ``frame`` and save it as a PNG at ``path`` (atomically, parents created);
    return the path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"panel still must be a .png path, got '{path.suffix}'")
    rgb = render_panel(truth, pred, frame, scales, title)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, rgb, extension=".png")
    return path
