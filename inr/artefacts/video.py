"""Truth-vs-prediction panel videos (.mp4 via ffmpeg/libx264, .gif via Pillow).

Files are written atomically (inr.io.atomic_path): frames go to a hidden temporary file in
the target folder, which is renamed onto the final path only once it is complete.
Odd frame sizes are padded to even (one white row/column), since H.264 with
yuv420p needs even width and height. The videos are files beside the runs (videos/), not
TensorBoard entries: TensorBoard gets the panel of the middle frame at each evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import imageio.v2 as iio2
import imageio.v3 as iio
import numpy as np

from inr.io import atomic_path
from inr.artefacts.panels import PanelRenderer, pad_even

VIDEO_SUFFIXES = (".mp4", ".gif")
DEFAULT_FPS = 4
MP4_CODEC = "libx264"
MP4_PIXEL_FORMAT = "yuv420p"
MP4_QUALITY = 8  # imageio-ffmpeg scale 0-10; 8 -> x264 crf 10, keeps panel text sharp


def _check_frames(frames) -> list[np.ndarray]:
    """Validate a non-empty sequence of equal-shape (h, w, 3) uint8 frames; pad to even sizes."""
    frames = [np.asarray(f) for f in frames]
    if not frames:
        raise ValueError("frames is empty")
    for i, frame in enumerate(frames):
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame {i} must have shape (h, w, 3), got {frame.shape}")
        if frame.dtype != np.uint8:
            raise ValueError(f"frame {i} must be uint8, got {frame.dtype}")
        if frame.shape != frames[0].shape:
            raise ValueError(f"frame {i} has shape {frame.shape}, frame 0 has {frames[0].shape}")
    return [pad_even(f) for f in frames]


def _write_mp4(path: Path, frames: list[np.ndarray], fps: float) -> None:
    with iio2.get_writer(path, format="FFMPEG", mode="I", fps=fps, codec=MP4_CODEC,
                         pixelformat=MP4_PIXEL_FORMAT, quality=MP4_QUALITY,
                         macro_block_size=1, ffmpeg_log_level="error") as writer:
        for frame in frames:
            writer.append_data(frame)


def _write_gif(path: Path, frames: list[np.ndarray], fps: float) -> None:
    # Pillow's GIF duration is per frame in milliseconds; loop=0 repeats forever.
    # Pillow merges identical consecutive frames into one longer frame, so a GIF
    # may read back with fewer frames than written (playback time is unchanged).
    iio.imwrite(path, np.stack(frames), plugin="pillow", extension=".gif",
                duration=1000.0 / fps, loop=0)


_WRITERS = {".mp4": _write_mp4, ".gif": _write_gif}


def write_video(path: str | Path, frames: Iterable[np.ndarray],
                fps: float = DEFAULT_FPS) -> Path:
    """Write frames (sequence of (h, w, 3) uint8) to ``path`` (.mp4 or .gif) atomically.

    Parent folders are created; odd sizes are padded to even. Returns the path.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _WRITERS:
        raise ValueError(f"unknown video suffix '{path.suffix}', expected one of {VIDEO_SUFFIXES}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    frames = _check_frames(frames)
    with atomic_path(path) as tmp:
        _WRITERS[suffix](tmp, frames, fps)
    return path


def panel_frames(renderer: PanelRenderer, pred: dict, titles: list[str]) -> list[np.ndarray]:
    """Every frame j of `pred` ((T, H, W) per panel column) against the renderer's truth, titled
    titles[j] -> T panels (h, w, 3) uint8. One renderer serves every run on the same truth."""
    if len(titles) != renderer.shape[0]:
        raise ValueError(f"{len(titles)} titles for {renderer.shape[0]} frames")
    return [renderer.render(pred, j, title=title) for j, title in enumerate(titles)]
