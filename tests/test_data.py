"""The diffusion sequence and its targets against analytic solutions and independent numerics."""
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.color import rgb2gray

from inr.data import (ImageError, TrainingData, coordinate_grid, default_times, diffuse,
                      frame_shape, load_image, pixel_centres, stable_step)

CAMERAMAN = Path(__file__).resolve().parents[1] / "original" / "cameraman.png"
D = 0.02


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.fixture(scope="module")
def camera64():
    return load_image(CAMERAMAN, size=64)


# ----------------------------------------------------------------------------- analytic mode

@pytest.mark.parametrize("k,l,shape", [(1, 0, (32, 32)), (3, 2, (24, 40)), (5, 7, (48, 32))])
def test_cosine_mode_decays_and_differentiates_exactly(k, l, shape):
    h, w = shape
    y, x = np.meshgrid(pixel_centres(h), pixel_centres(w), indexing="ij")
    ax, ay = k * np.pi / 2, l * np.pi / 2
    mode = np.cos(ax * (x + 1)) * np.cos(ay * (y + 1))
    times = np.array([0.0, 0.1, 0.5, 1.0])
    seq = diffuse(mode, times, D)
    for i, t in enumerate(times):
        decay = np.exp(-D * np.pi**2 * (k**2 + l**2) / 4 * t)
        u = decay * mode
        ux = -decay * ax * np.sin(ax * (x + 1)) * np.cos(ay * (y + 1))
        uy = -decay * ay * np.cos(ax * (x + 1)) * np.sin(ay * (y + 1))
        lap = -(ax**2 + ay**2) * u
        assert rel(seq.value[i], u) < 1e-6
        if k:
            assert rel(seq.grad[i, ..., 0], ux) < 1e-6
        if l:
            assert rel(seq.grad[i, ..., 1], uy) < 1e-6
        assert rel(seq.laplacian[i], lap) < 1e-6
        assert rel(seq.dt[i], D * lap) < 1e-6
        assert np.allclose(seq.coords[i, ..., 2], t)


# ----------------------------------------------------------------------------- heat equation

def test_spectral_time_derivative_matches_a_finite_difference_in_time(camera64):
    """dt is checked against the value itself, not against D * laplacian (which it equals by
    construction): a central difference in t of the generated frames."""
    t, delta = np.array([0.3]), 1e-4
    seq = diffuse(camera64, t, D)
    ahead, behind = diffuse(camera64, t + delta, D), diffuse(camera64, t - delta, D)
    fd = (ahead.value[0] - behind.value[0]) / (2 * delta)
    assert rel(fd, seq.dt[0]) < 1e-6
    assert rel(seq.dt, D * seq.laplacian) < 1e-6


def test_explicit_obeys_the_heat_equation_approximately(camera64):
    times = default_times(4)
    seq = diffuse(camera64, times, D, method="explicit", step=stable_step(camera64.shape, D) / 4)
    assert rel(seq.dt, D * seq.laplacian) < 1e-12
    delta = 5e-3  # forward-Euler frames a short time apart: their slope is the dt target
    later = diffuse(camera64, times + delta, D, method="explicit",
                    step=stable_step(camera64.shape, D) / 4)
    assert rel((later.value - seq.value) / delta, seq.dt) < 0.05


def test_explicit_converges_to_spectral_as_the_step_shrinks_and_the_grid_refines():
    """Forward Euler is first order in the step: successive differences halve. Its step -> 0
    limit (Richardson-extrapolated) differs from the spectral solution only by the 5-point
    stencil's O(h^2) error, which falls about 4x when the grid doubles."""
    times = np.array([0.1, 0.4])
    gaps = []
    for n in (64, 128):
        image = load_image(CAMERAMAN, size=n)
        spectral = diffuse(image, times, D)
        limit = stable_step(image.shape, D)
        runs = [diffuse(image, times, D, method="explicit", step=limit / 2**j).value
                for j in range(1, 5)]
        diffs = [np.linalg.norm(a - b) for a, b in zip(runs, runs[1:])]
        for coarse, fine in zip(diffs, diffs[1:]):
            assert 1.8 < coarse / fine < 2.2
        gaps.append(rel(2 * runs[-1] - runs[-2], spectral.value))
    assert gaps[0] < 2e-3
    assert 3 < gaps[0] / gaps[1] < 5


def test_explicit_laplacian_error_shrinks_with_resolution():
    image = load_image(CAMERAMAN, size=128)
    errs = []
    for im in (ndimage.zoom(image, 0.5, order=1), image):
        step = stable_step(im.shape, D) / 8
        errs.append(rel(diffuse(im, [0.2], D, "explicit", step).laplacian,
                        diffuse(im, [0.2], D).laplacian))
    assert errs[1] < errs[0] / 2


@pytest.mark.parametrize("method", ["spectral", "explicit"])
def test_mean_intensity_is_conserved(camera64, method):
    seq = diffuse(camera64, default_times(6), D, method=method)
    means = seq.value.mean(axis=(1, 2))
    assert np.allclose(means, camera64.mean(), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- regression guards

@pytest.mark.parametrize("method", ["spectral", "explicit"])
def test_negative_time_derivatives_stay_negative_and_float(camera64, method):
    """Original bug 1: dt cast to uint8 wrapped -3.7 to 253."""
    seq = diffuse(camera64, default_times(3), D, method=method)
    for name in ("value", "grad", "laplacian", "dt", "coords"):
        assert np.issubdtype(getattr(seq, name).dtype, np.floating)
    assert seq.dt.min() < -0.1 and seq.dt.max() > 0.1
    # non-integral values survive (frames were truncated to integers too)
    assert np.any(np.abs(seq.value * 255 - np.round(seq.value * 255)) > 1e-3)
    batch = TrainingData(seq, dtype=torch.float32).all_points()
    assert batch["dt"].dtype == torch.float32 and batch["dt"].min() < -0.1


def test_no_border_corruption_after_many_explicit_steps(camera64):
    """Original bug 2: aliased arrays corrupted the borders. Reference: the same scheme run as a
    periodic stencil (np.roll) on the mirror-extended image, an independent implementation of
    the zero-flux border."""
    t, step = 1.0, stable_step(camera64.shape, D) / 2
    n = int(np.ceil(t / step - 1e-9))
    seq = diffuse(camera64, [t], D, method="explicit", step=step)
    assert n > 100
    big = np.block([[camera64, camera64[:, ::-1]], [camera64[::-1], camera64[::-1, ::-1]]])
    hx = 2 / camera64.shape[1]
    for _ in range(n):
        lap = (np.roll(big, 1, 0) + np.roll(big, -1, 0) + np.roll(big, 1, 1) + np.roll(big, -1, 1)
               - 4 * big) / hx**2
        big = big + (t / n) * D * lap
    h, w = camera64.shape
    assert np.max(np.abs(seq.value[0] - big[:h, :w])) < 1e-12
    border = np.zeros_like(camera64, bool)
    border[[0, -1], :] = border[:, [0, -1]] = True
    assert np.max(np.abs(seq.value[0][border] - big[:h, :w][border])) < 1e-12


@pytest.mark.parametrize("method", ["spectral", "explicit"])
def test_targets_are_in_coordinate_units(camera64, method):
    """Original bug 4: pixel-unit targets. A finite difference taken on the coordinate grid must
    match the gradient target, and the Laplacian must match a second difference on that grid."""
    seq = diffuse(camera64, [0.5], D, method=method)
    u = seq.value[0]
    x, y = seq.coords[0, 0, :, 0], seq.coords[0, :, 0, 1]
    fd_x = np.gradient(u, x, axis=1)[1:-1, 1:-1]
    fd_y = np.gradient(u, y, axis=0)[1:-1, 1:-1]
    assert rel(fd_x, seq.grad[0, 1:-1, 1:-1, 0]) < 0.02
    assert rel(fd_y, seq.grad[0, 1:-1, 1:-1, 1]) < 0.02
    fd_lap = (np.gradient(np.gradient(u, x, axis=1), x, axis=1)
              + np.gradient(np.gradient(u, y, axis=0), y, axis=0))[2:-2, 2:-2]
    assert rel(fd_lap, seq.laplacian[0, 2:-2, 2:-2]) < 0.05


def test_sobel_and_laplace_filters_convert_by_the_documented_factors():
    """d/dx = (N/16) sobel, Laplacian = (N/2)^2 laplace, on a smooth 2-D function (a low mode),
    compared with its analytic derivatives."""
    n = 128
    y, x = np.meshgrid(pixel_centres(n), pixel_centres(n), indexing="ij")
    u = np.cos(np.pi * (x + 1)) * np.cos(1.5 * np.pi * (y + 1))
    ux = -np.pi * np.sin(np.pi * (x + 1)) * np.cos(1.5 * np.pi * (y + 1))
    lap = -(np.pi**2 + (1.5 * np.pi) ** 2) * u
    inner = (slice(2, -2), slice(2, -2))
    assert rel(n / 16 * ndimage.sobel(u, axis=1)[inner], ux[inner]) < 2e-3
    assert rel((n / 2) ** 2 * ndimage.laplace(u)[inner], lap[inner]) < 2e-3
    # and the spectral generator's targets equal the same analytic values
    seq = diffuse(u, [0.0], D)
    assert rel(seq.grad[0, ..., 0], ux) < 1e-9 and rel(seq.laplacian[0], lap) < 1e-9


def test_coordinates_are_cell_centred_on_the_unit_square():
    grid = coordinate_grid([0.0, 0.5], 4, 8)
    assert grid.shape == (2, 4, 8, 3)
    assert np.allclose(grid[0, 0, :, 0], -1 + (2 * np.arange(8) + 1) / 8)
    assert np.allclose(grid[0, :, 0, 1], -1 + (2 * np.arange(4) + 1) / 4)
    assert np.allclose(grid[1, ..., 2], 0.5)


# ----------------------------------------------------------------------------- images

def test_cameraman_is_256_gray_in_unit_range():
    image = load_image(CAMERAMAN)
    assert image.shape == (256, 256) and image.dtype == np.float64
    assert 0 <= image.min() < 0.1 and 0.9 < image.max() <= 1
    assert np.allclose(image * 255, np.round(image * 255))


def test_rgb_is_converted_to_luminance_and_resized(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / "rgb.png", rgb)
    got = load_image(tmp_path / "rgb.png")
    assert np.allclose(got, rgb2gray(rgb / 255.0), atol=1e-12)
    small = load_image(tmp_path / "rgb.png", size=(20, 30))
    assert small.shape == (20, 30) and 0 <= small.min() and small.max() <= 1
    wide16 = (rng.random((32, 32)) * 65535).astype(np.uint16)
    iio.imwrite(tmp_path / "deep.png", wide16)
    assert np.allclose(load_image(tmp_path / "deep.png"), wide16 / 65535.0)


@pytest.mark.parametrize("make,message", [
    (lambda p: None, "no such image file"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n not really a png"), "cannot read image"),
    (lambda p: iio.imwrite(p, np.zeros((1, 64), np.uint8)), "must be 2-D"),
    (lambda p: iio.imwrite(p, np.zeros((12, 64), np.uint8)), "smaller than 16x16"),
])
def test_bad_images_give_one_line_errors_naming_the_file(tmp_path, make, message):
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(ImageError) as err:
        load_image(path)
    text = str(err.value)
    assert message in text and str(path) in text and "\n" not in text


@pytest.mark.parametrize("kwargs,message", [
    (dict(method="euler"), "unknown diffusion method"),
    (dict(diffusivity=0.0), "diffusivity must be positive"),
    (dict(times=[0.5, 0.1]), "non-decreasing"),
    (dict(times=[-0.1]), "non-negative"),
    (dict(method="explicit", step=1.0), "is unstable"),
])
def test_bad_diffusion_arguments(camera64, kwargs, message):
    args = dict(times=[0.1, 0.2], diffusivity=D) | kwargs
    with pytest.raises(ValueError, match=message):
        diffuse(camera64, **args)


# ----------------------------------------------------------------------------- batches

def test_training_data_samples_frames_and_random_points(camera64):
    seq = diffuse(camera64, default_times(3), D)
    data = TrainingData(seq, dtype=torch.float64)
    frame = {k: v[0] for k, v in data.sample([torch.Generator().manual_seed(0)], None).items()}
    j = int(np.searchsorted(seq.times, float(frame["coords"][0, 2])))  # the frame it drew
    assert frame["coords"].shape == (64 * 64, 3) and frame["grad"].shape == (64 * 64, 2)
    assert np.allclose(frame["value"].numpy(), seq.value[j].ravel())
    assert np.allclose(frame["coords"].numpy(), seq.coords[j].reshape(-1, 3))
    gens = [torch.Generator().manual_seed(s) for s in range(4)]
    batch = data.sample(gens, 100)
    assert batch["coords"].shape == (4, 100, 3) and batch["laplacian"].shape == (4, 100)
    # every drawn point carries the targets of its own coordinates
    t, h, w = seq.shape
    c = batch["coords"].reshape(-1, 3).numpy()
    ti = np.searchsorted(seq.times, c[:, 2])
    yi = np.round((c[:, 1] + 1) * h / 2 - 0.5).astype(int)
    xi = np.round((c[:, 0] + 1) * w / 2 - 0.5).astype(int)
    assert np.allclose(batch["value"].reshape(-1).numpy(), seq.value[ti, yi, xi])
    assert np.allclose(batch["grad"].reshape(-1, 2).numpy(), seq.grad[ti, yi, xi])
    assert data.sample(gens[:1], 10)["value"].dtype == torch.float64


def test_frame_shape_is_the_size_asked_for_or_the_images_own(tmp_path):
    """No size: the frames keep the image's shape (a custom image need not be 256 px square)."""
    path = tmp_path / "wide.png"
    iio.imwrite(path, np.zeros((40, 72), dtype=np.uint8))
    assert frame_shape(path) == (40, 72)
    assert frame_shape(path, 33) == (33, 33)
    assert frame_shape(path, (36, 48)) == (36, 48)


def test_an_image_is_named_by_a_file_or_by_scikit_images_bundled_name(tmp_path):
    import skimage.data

    from inr.data import BUNDLED_IMAGES, resolve_image
    assert np.array_equal(load_image(resolve_image("coins")),
                          skimage.data.coins() / 255.0)  # the bundled file, read as ours
    own = tmp_path / "coins.png"
    iio.imwrite(own, (np.arange(32 * 32).reshape(32, 32) % 255).astype(np.uint8))
    assert resolve_image(own) == own.resolve()  # a file wins over a bundled name
    with pytest.raises(ValueError) as err:
        resolve_image("no-such-image")
    message = str(err.value)
    assert "\n" not in message and "no-such-image" in message
    assert all(name in message for name in BUNDLED_IMAGES)


def test_an_image_is_labelled_by_its_files_stem_or_its_bundled_name():
    from inr.data import image_label, resolve_image
    assert image_label("/data/images/cameraman.png") == "cameraman"
    assert image_label(Path("relative/moon.tif")) == "moon"
    assert image_label("coins") == "coins" == image_label(resolve_image("coins"))
    assert image_label("") == ""


def test_a_non_square_image_is_cropped_to_its_centred_square_before_resampling(tmp_path):
    wide = np.random.default_rng(0).integers(0, 256, size=(40, 64), dtype=np.uint8)
    path = tmp_path / "wide.png"
    iio.imwrite(path, wide)
    assert np.array_equal(load_image(path, 40), wide[:, 12:52] / 255.0)  # no resampling needed
    assert load_image(path, 32).shape == (32, 32)
    assert load_image(path).shape == (40, 64)  # no size: kept as it is
