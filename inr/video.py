"""Write truth-vs-prediction panel videos (.mp4 via ffmpeg/libx264, .gif via Pillow).

Files are written atomically: frames go to a hidden temporary file in the target
folder, which is renamed onto the final path only once it is complete.
Odd frame sizes are padded to even (one white row/column), since H.264 with
yuv420p needs even width and height.

TensorBoard: ``SummaryWriter.add_video`` needs ``moviepy``, which is not installed
here, so runs log the panels frame by frame as images (``inr.tblog.log_panel_frames``)
and the MP4 itself lives next to the run (e.g. in ``videos/``).
``frames_to_video_tensor`` gives the (1, T, C, H, W) layout ``add_video`` expects
for setups that do have moviepy.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np

from inr.panels import PanelRenderer, pad_even

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
    import imageio.v2 as iio2

    with iio2.get_writer(path, format="FFMPEG", mode="I", fps=fps, codec=MP4_CODEC,
                         pixelformat=MP4_PIXEL_FORMAT, quality=MP4_QUALITY,
                         macro_block_size=1, ffmpeg_log_level="error") as writer:
        for frame in frames:
            writer.append_data(frame)


def _write_gif(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import imageio.v3 as iio

    # Pillow's GIF duration is per frame in milliseconds; loop=0 repeats forever.
    # Pillow merges identical consecutive frames into one longer frame, so a GIF
    # may read back with fewer frames than written (playback time is unchanged).
    iio.imwrite(path, np.stack(frames), plugin="pillow", extension=".gif",
                duration=1000.0 / fps, loop=0)


_WRITERS = {".mp4": _write_mp4, ".gif": _write_gif}


def write_video(path, frames, fps: float = DEFAULT_FPS) -> Path:
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{suffix}")
    try:
        _WRITERS[suffix](tmp, frames, fps)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def render_frames(truth: dict, pred: dict, title: str | None = None, times=None,
                  scales: dict | None = None, renderer: PanelRenderer | None = None) -> list[np.ndarray]:
    """Render every frame of truth/pred -> list of T (h, w, 3) uint8 panels.

    ``times`` (length T, optional) adds "title · t = 0.35"-style per-frame titles.
    ``renderer``: a ``PanelRenderer`` already built for this truth, reused across the
    runs of a sweep to skip the ~0.5 s figure set-up (``scales`` is then ignored).
    """
    if renderer is None:
        renderer = PanelRenderer(truth, scales, title)
    elif np.shape(truth["value"]) != renderer.shape:
        raise ValueError(f"truth shape {np.shape(truth['value'])} != renderer shape {renderer.shape}")
    n_frames = renderer.shape[0]
    if times is not None and len(times) != n_frames:
        raise ValueError(f"times has {len(times)} entries for {n_frames} frames")
    frames = []
    for i in range(n_frames):
        parts = [title, None if times is None else f"t = {float(times[i]):.2f}"]
        frames.append(renderer.render(pred, i, title=" · ".join(p for p in parts if p)))
    return frames


def render_video(path, truth: dict, pred: dict, title: str | None = None, fps: float = DEFAULT_FPS,
                 times=None, scales: dict | None = None, renderer: PanelRenderer | None = None) -> Path:
    """Render all T frames of truth vs prediction and write them to ``path``; return the path."""
    return write_video(path, render_frames(truth, pred, title, times, scales, renderer), fps)


def frames_to_video_tensor(frames) -> np.ndarray:
    """Frames (T of (h, w, 3) uint8) -> (1, T, 3, h, w) uint8, the layout of ``add_video``."""
    return np.stack(_check_frames(frames)).transpose(0, 3, 1, 2)[None]
