"""Tests for inr.artefacts.video: mp4/gif writing (read back), atomic writes, full panel videos."""

import imageio.v3 as iio
import numpy as np
import pytest

import inr.artefacts.video as video
from inr.artefacts.panels import PanelRenderer
from inr.artefacts.video import panel_frames, write_video

N_FRAMES, FRAME_H, FRAME_W = 5, 48, 64


def ramp_frames(n=N_FRAMES, h=FRAME_H, w=FRAME_W):
    """n distinct frames: a horizontal colour ramp whose brightness grows frame by frame."""
    ramp = np.linspace(0, 1, w)[None, :, None] * np.ones((h, 1, 3))
    return [np.clip(40 + 150 * ramp + 12 * i, 0, 255).astype(np.uint8) for i in range(n)]


def read_mp4(path):
    """All frames as (T, h, w, 3) uint8 via the imageio-ffmpeg reader (pyav is not installed)."""
    return iio.imread(path, plugin="FFMPEG", index=None)


def heat_fields(n_frames=3, size=16):
    t = np.linspace(0.0, 1.0, n_frames)[:, None, None]
    y, x = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    u = np.exp(-3.0 * (x**2 + y**2) / (1.0 + t))
    return {"value": u, "grad_mag": u, "laplacian": u - 0.5, "dt": 0.5 - u}


def test_mp4_round_trip(tmp_path):
    frames = ramp_frames()
    path = write_video(tmp_path / "videos" / "run.mp4", frames, fps=4)
    assert path == tmp_path / "videos" / "run.mp4" and path.stat().st_size > 0
    back = read_mp4(path)
    assert back.shape == (N_FRAMES, FRAME_H, FRAME_W, 3)
    # lossy but close: smooth frames survive H.264 nearly unchanged, in order
    errors = [np.abs(b.astype(int) - f).mean() for b, f in zip(back, frames)]
    assert max(errors) < 3.0
    assert np.all(np.diff(back.mean(axis=(1, 2, 3))) > 5)
    meta = iio.immeta(path, plugin="FFMPEG")
    assert meta["fps"] == pytest.approx(4.0) and meta["codec"] == "h264"
    assert meta["pix_fmt"].startswith("yuv420p")


def test_gif_round_trip(tmp_path):
    frames = ramp_frames()
    path = write_video(tmp_path / "run.gif", frames, fps=5)
    back = iio.imread(path, index=None)
    assert back.shape[:3] == (N_FRAMES, FRAME_H, FRAME_W)
    assert np.abs(back[..., :3].astype(int) - np.stack(frames)).mean() < 3.0
    assert iio.immeta(path)["duration"] == pytest.approx(200, abs=10)  # ms per frame


def test_odd_frame_size_is_padded_to_even(tmp_path):
    frames = ramp_frames(n=3, h=33, w=47)
    back = read_mp4(write_video(tmp_path / "odd.mp4", frames))
    assert back.shape == (3, 34, 48, 3)


def test_bad_input_raises_value_error(tmp_path):
    frames = ramp_frames()
    with pytest.raises(ValueError, match="suffix"):
        write_video(tmp_path / "run.avi", frames)
    with pytest.raises(ValueError, match="empty"):
        write_video(tmp_path / "run.mp4", [])
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "run.mp4", [f.astype(np.float32) for f in frames])
    with pytest.raises(ValueError, match="shape"):
        write_video(tmp_path / "run.mp4", [frames[0], frames[1][:10]])
    with pytest.raises(ValueError, match="fps"):
        write_video(tmp_path / "run.mp4", frames, fps=0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_failed_write_leaves_no_file_and_keeps_old_one(tmp_path, monkeypatch, suffix):
    real_writer = video._WRITERS[suffix]
    seen = []

    def crash_midway(path, frames, fps):
        real_writer(path, frames[:2], fps)  # a partial video really exists on disk ...
        seen.append(path)
        assert path.exists()
        raise RuntimeError("interrupted")  # ... when the run dies

    monkeypatch.setitem(video._WRITERS, suffix, crash_midway)
    final = tmp_path / f"run{suffix}"
    with pytest.raises(RuntimeError, match="interrupted"):
        write_video(final, ramp_frames())
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []  # temporary file cleaned up too
    assert seen[0].parent == tmp_path and seen[0].name != final.name

    final.write_bytes(b"previous video")  # an older complete video survives a failed rewrite
    with pytest.raises(RuntimeError):
        write_video(final, ramp_frames())
    assert final.read_bytes() == b"previous video"
    assert list(tmp_path.iterdir()) == [final]


def titles(name, times=(0.0, 0.5, 1.0)):
    return [f"{name} · t = {t:.2f}" for t in times]


def test_panel_video_writes_one_panel_per_frame(tmp_path):
    truth = heat_fields()
    pred = {name: 0.8 * f for name, f in truth.items()}
    renderer = PanelRenderer(truth)
    path = write_video(tmp_path / "videos" / "sine.mp4", panel_frames(renderer, pred, titles("sine")))
    back = read_mp4(path)
    assert back.shape == (3, 400, 800, 3)
    frames = [PanelRenderer(truth).render(pred, j, title=t) for j, t in enumerate(titles("sine"))]
    assert np.abs(back.astype(int) - np.stack(frames)).mean() < 3.0
    with pytest.raises(ValueError, match="titles"):
        panel_frames(renderer, pred, titles("sine", [0.0]))


def test_panel_video_reuses_renderer_across_runs(tmp_path):
    truth = heat_fields()
    renderer = PanelRenderer(truth)
    for name, scale in (("a", 0.5), ("b", 1.0)):
        pred = {key: scale * f for key, f in truth.items()}
        path = write_video(tmp_path / f"{name}.gif", panel_frames(renderer, pred, titles(name)))
        fresh = panel_frames(PanelRenderer(truth), pred, titles(name))
        assert np.abs(iio.imread(path, index=None)[..., :3].astype(int) - np.stack(fresh)).mean() < 3.0
    with pytest.raises(ValueError, match="truth shape"):
        panel_frames(renderer, heat_fields(size=8), titles("c"))
