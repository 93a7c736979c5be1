"""Tests for inr.artefacts.panels: colour scales and the 2x4 truth/prediction panel renderer."""

import time

import imageio.v3 as iio
import numpy as np
import pytest

from inr.artefacts.panels import COLUMNS, PanelRenderer, panel_scales, render_panel, save_panel_png

T, H, W = 4, 32, 32


def heat_fields(n_frames=T, size=H):
    """Diffusing Gaussian bump: value in [0, 1], Laplacian negative at the centre, dt < 0 there."""
    t = np.linspace(0.0, 1.0, n_frames)[:, None, None]
    y, x = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    r2 = x**2 + y**2
    k = 1.0 + t
    u = np.exp(-3.0 * r2 / k)
    lap = u * (36.0 * r2 / k**2 - 12.0 / k) * 20.0
    return {"value": u, "grad_mag": 6.0 * np.sqrt(r2) * u / k, "laplacian": lap, "dt": 0.01 * lap}


@pytest.fixture(scope="module")
def truth():
    return heat_fields()


@pytest.fixture(scope="module")
def renderer(truth):
    """One renderer shared by the tests, as a sweep shares one per truth (set-up is the slow part)."""
    return PanelRenderer(truth, title="sine")


def image_area(rgb, renderer, row, name, inset=2):
    """Pixels of one panel's image (axes image extent, minus a small inset for the frame line)."""
    box = renderer.images[row, name].get_window_extent()
    height = rgb.shape[0]
    top, bottom = int(np.ceil(height - box.y1)) + inset, int(height - box.y0) - inset
    left, right = int(np.ceil(box.x0)) + inset, int(box.x1) - inset
    return rgb[top:bottom, left:right].astype(float)


def test_panel_scales_percentiles_and_symmetry(truth):
    scales = panel_scales(truth)
    assert set(scales) == set(COLUMNS)
    lo, hi = scales["value"]
    assert lo == pytest.approx(np.percentile(truth["value"], 1))
    assert hi == pytest.approx(np.percentile(truth["value"], 99))
    for name in ("laplacian", "dt"):
        lo, hi = scales[name]
        assert lo == -hi and hi > 0
        assert hi == pytest.approx(np.abs(np.percentile(truth[name], [1, 99])).max())


def test_panel_scales_constant_column_gets_nonzero_span(truth):
    flat = {**truth, "grad_mag": np.zeros_like(truth["grad_mag"])}
    lo, hi = panel_scales(flat)["grad_mag"]
    assert hi > lo


def test_bad_inputs_raise_value_error(truth, renderer):
    with pytest.raises(ValueError, match="missing"):
        panel_scales({"value": truth["value"]})
    with pytest.raises(ValueError, match="shape"):
        panel_scales({**truth, "dt": truth["dt"][:, :5]})
    with pytest.raises(ValueError, match="shape"):
        renderer.render(heat_fields(size=16), 0)
    with pytest.raises(ValueError, match="out of range"):
        renderer.render(truth, T)


def test_render_is_even_uint8_rgb(truth):
    rgb = render_panel(truth, truth, 0, title="sine · t = 0.00")
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert rgb.shape[0] % 2 == 0 and rgb.shape[1] % 2 == 0
    assert rgb.shape[:2] == (400, 800)  # 10x5 inches at 80 dpi
    # odd pixel sizes (81 dpi -> 810x405) are padded to even
    odd = PanelRenderer(truth, dpi=81).render(truth, 0)
    assert odd.shape[:2] == (406, 810)


def test_pred_equal_truth_gives_identical_rows(truth, renderer):
    rgb = renderer.render(truth, 1)
    for name in COLUMNS:
        top = image_area(rgb, renderer, "truth", name)
        bottom = image_area(rgb, renderer, "prediction", name)
        h, w = min(top.shape[0], bottom.shape[0]), min(top.shape[1], bottom.shape[1])
        assert h > 20 and w > 20
        assert top.std() > 10  # the panel shows structure, not a flat colour
        assert np.abs(top[:h, :w] - bottom[:h, :w]).mean() < 3.0, name


def test_pred_differs_only_where_it_differs(truth, renderer):
    pred = {name: field.copy() for name, field in truth.items()}
    pred["laplacian"] = -pred["laplacian"]  # wrong sign: shows as opposite colours
    rgb = renderer.render(pred, 2)
    diffs = {}
    for name in COLUMNS:
        top = image_area(rgb, renderer, "truth", name)
        bottom = image_area(rgb, renderer, "prediction", name)
        h, w = min(top.shape[0], bottom.shape[0]), min(top.shape[1], bottom.shape[1])
        diffs[name] = np.abs(top[:h, :w] - bottom[:h, :w]).mean()
    assert diffs["laplacian"] > 20.0
    assert diffs["value"] < 3.0 and diffs["dt"] < 3.0


def test_out_of_scale_prediction_is_clipped(truth, renderer):
    scales = renderer.scales
    assert scales == panel_scales(truth)
    at_max = {name: np.full_like(f, scales[name][1]) for name, f in truth.items()}
    huge = {name: np.full_like(f, 1e6) for name, f in truth.items()}
    np.testing.assert_array_equal(renderer.render(huge, 0), renderer.render(at_max, 0))


def test_renderer_reuse_matches_fresh_render_and_title_changes(truth, renderer):
    pred = {name: 0.9 * f for name, f in truth.items()}
    renderer.render(truth, 0, title="sine · t = 0.00")
    reused = renderer.render(pred, 3)
    fresh = render_panel(truth, pred, 3, title="sine")
    # same pixels up to anti-aliasing of the frame lines redrawn over the cached background
    assert np.abs(reused.astype(int) - fresh).mean() < 0.5
    retitled = renderer.render(pred, 3, title="sine · t = 1.00")
    assert np.abs(retitled.astype(int) - reused).max() > 0  # suptitle pixels changed


def test_save_panel_png_reads_back(tmp_path, truth, renderer):
    path = save_panel_png(tmp_path / "stills" / "frame.png", truth, truth, 2, title="sine")
    back = iio.imread(path)
    assert back.shape == (400, 800, 3) and back.dtype == np.uint8
    assert np.abs(back.astype(int) - renderer.render(truth, 2)).mean() < 0.5
    with pytest.raises(ValueError, match="png"):
        save_panel_png(tmp_path / "frame.jpg", truth, truth, 0)


@pytest.mark.parametrize("size", [64, 256])
def test_render_speed_informal(size):
    """Times the renderer for the report; no assertion on speed."""
    truth = heat_fields(n_frames=8, size=size)
    start = time.perf_counter()
    renderer = PanelRenderer(truth, title="sine")
    setup = time.perf_counter() - start
    start = time.perf_counter()
    for frame in range(8):
        renderer.render(truth, frame)
    per_frame = (time.perf_counter() - start) / 8
    print(f"{size}x{size}: setup {setup * 1e3:.0f} ms, {per_frame * 1e3:.1f} ms/frame")
