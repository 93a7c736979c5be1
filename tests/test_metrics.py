"""SSIM / MS-SSIM / PSNR against scikit-image and an independent scipy reference."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import data, filters, transform
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inr.training.metrics import (
    K1,
    K2,
    MS_SSIM_WEIGHTS,
    STABLE_EPS,
    WINDOW_SIGMA,
    WINDOW_SIZE,
    gradient_magnitude,
    ms_ssim,
    ms_ssim_levels,
    ms_ssim_loss,
    psnr,
    psnr_up_to_constant,
    relative_pde_residual,
    ssim,
    ssim_loss,
)

RANGE = 255.0
NOISE_STD = 20.0
BLUR_SIGMA = 2.0
SIZES = [(32, 32), (64, 64), (128, 128), (256, 256), (48, 80), (100, 37)]
TOL = {torch.float32: 1e-4, torch.float64: 1e-10}


def cameraman(shape):
    """Cameraman resized to `shape`, float64 in [0, 255]."""
    img = data.camera().astype(np.float64)
    if shape != img.shape:
        img = transform.resize(img, shape, anti_aliasing=True, preserve_range=True)
    return img


def pairs(shape, seed=0):
    """(name, target, pred) for a noisy and a blurred version of the cameraman."""
    img = cameraman(shape)
    noisy = img + np.random.default_rng(seed).normal(0, NOISE_STD, shape)
    blurred = filters.gaussian(img, sigma=BLUR_SIGMA, preserve_range=True)
    return [("noisy", img, noisy), ("blurred", img, blurred)]


def sk_ssim(a, b, data_range=RANGE):
    return structural_similarity(a, b, gaussian_weights=True, sigma=WINDOW_SIGMA, use_sample_covariance=False, data_range=data_range)


def t(x, dtype=torch.float64):
    return torch.as_tensor(x, dtype=dtype)


# ---------------------------------------------------------------- SSIM vs skimage


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SIZES)
def test_ssim_matches_skimage(shape, dtype):
    for name, target, pred in pairs(shape):
        ref = sk_ssim(target, pred)
        got = ssim(t(pred, dtype), t(target, dtype), RANGE)
        assert got.shape == () and got.dtype == dtype
        assert abs(got.item() - ref) < TOL[dtype], (name, got.item(), ref)


def test_ssim_unit_range_and_window_size_edge():
    """[0, 1] images with data_range 1, and the smallest allowed image (11 px)."""
    for shape in [(64, 64), (WINDOW_SIZE, WINDOW_SIZE), (WINDOW_SIZE, 30)]:
        for _, target, pred in pairs(shape):
            ref = sk_ssim(target / RANGE, pred / RANGE, data_range=1.0)
            assert ssim(t(pred / RANGE), t(target / RANGE), 1.0).item() == pytest.approx(ref, abs=1e-10)
            got32 = ssim(t(pred / RANGE, torch.float32), t(target / RANGE, torch.float32), 1.0).item()
            assert got32 == pytest.approx(ref, abs=1e-4)


def test_ssim_batched_with_per_image_data_range():
    """Batch (M models, T frames), per-model range (M, 1), target broadcast over models."""
    shape = (48, 48)
    (_, img, noisy), (_, _, blurred) = pairs(shape)
    scales = np.array([1.0, 2.0, 0.5])  # model m sees images scaled by scales[m], range RANGE * scales[m]
    frames_target = np.stack([img, img, blurred])  # (T, H, W)
    frames_pred = np.stack([noisy, blurred, noisy])
    pred = np.stack([s * frames_pred for s in scales])  # (M, T, H, W)
    target = np.stack([s * frames_target for s in scales])
    data_range = t(RANGE * scales)[:, None]  # (M, 1)
    got = ssim(t(pred), t(target), data_range)
    assert got.shape == (3, 3)
    for m in range(3):
        for f in range(3):
            ref = sk_ssim(target[m, f], pred[m, f], data_range=RANGE * scales[m])
            assert got[m, f].item() == pytest.approx(ref, abs=1e-10)
    # target without the model dim broadcasts against pred (M, T, H, W)
    same = ssim(t(pred[:1]), t(frames_target), RANGE)
    assert torch.allclose(same, got[:1], atol=1e-12)


def test_ssim_identical_and_constant_images():
    img = t(cameraman((32, 32)), torch.float32) + 1000.0  # large offset stresses E[x^2] - mu^2
    assert ssim(img, img, RANGE).item() == pytest.approx(1.0, abs=1e-6)
    const = torch.full((20, 20), 7.0)
    assert ssim(const, const, RANGE).item() == pytest.approx(1.0, abs=1e-6)
    assert torch.isfinite(ssim(const, img[:20, :20], RANGE))


def test_ssim_is_differentiable():
    rng = np.random.default_rng(1)
    x = t(rng.uniform(0, 1, (2, 22, 23))).requires_grad_()  # 22 px: two MS-SSIM scales
    y = t(rng.uniform(0, 1, (2, 22, 23)))
    assert ms_ssim_levels(22, 23) == 2
    assert torch.autograd.gradcheck(lambda a: ssim(a, y, 1.0), (x,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda a: ms_ssim(a, y, 1.0), (x,), fast_mode=True)


def test_ssim_loss_has_a_gradient_at_negative_ssim():
    _, target, pred = pairs((64, 64))[0]
    value = ssim(t(pred), t(target), RANGE)
    assert ssim_loss(t(pred), t(target), RANGE).item() == pytest.approx(1 - value.item(), abs=1e-12)
    anti = (RANGE - t(target)).requires_grad_()  # anti-correlated: SSIM < 0
    negative = ssim(anti, t(target), RANGE)
    assert negative.item() < 0
    loss = ssim_loss(anti, t(target), RANGE)
    assert loss.item() == pytest.approx(1 - negative.item(), abs=1e-12) and loss.item() > 1
    loss.backward()
    assert torch.isfinite(anti.grad).all() and anti.grad.abs().sum() > 0


def test_ms_ssim_loss_maps_each_map_to_the_unit_interval_and_keeps_a_gradient():
    """1 - prod term^w with every map taken to (1 + x) / 2, against an independent numpy
    computation, at a pair whose raw terms are negative (where a clamp of them has no
    gradient)."""
    shape = (176, 176)
    target = cameraman(shape)
    noise = np.random.default_rng(2).uniform(0, RANGE, shape)
    inverted = RANGE - target + 0.2 * noise
    _, raw = ref_ms_ssim(inverted, target, RANGE, 5)
    _, terms = ref_ms_ssim(inverted, target, RANGE, 5, unit=True)
    assert (raw < 0).any()
    expected = 1 - np.prod(terms ** np.array(MS_SSIM_WEIGHTS))
    pred = t(inverted).requires_grad_()
    loss = ms_ssim_loss(pred, t(target), RANGE)
    assert loss.item() == pytest.approx(expected, abs=1e-10)
    loss.backward()
    assert pred.grad.abs().sum() > 0


def test_the_ms_ssim_loss_does_not_reward_an_inverted_negative_image():
    """At the coarsest scale an inverted image of negative mean has a negative luminance and a
    negative contrast-structure, whose product (the coarsest SSIM) is near +1: the loss takes
    the two apart, so that image scores near the worst, below a blank one."""
    target = cameraman((64, 64)) / RANGE
    inverted, blank = -target, np.zeros_like(target)
    _, coarsest = ref_ms_ssim(inverted, target, 1.0, ms_ssim_levels(64, 64))
    assert coarsest[-1] > 0.9  # what mapping the coarsest SSIM would reward
    assert ms_ssim_loss(t(inverted), t(target), 1.0).item() > 0.95
    assert ms_ssim_loss(t(inverted), t(target), 1.0) > ms_ssim_loss(t(blank), t(target), 1.0)


@pytest.mark.parametrize(
    "args, match",
    [
        (((8, 40), (8, 40), RANGE), "image of 8x40 is too small for SSIM with an 11-pixel window"),
        (((16, 16), (16, 16), 0.0), "data_range must be > 0"),
        (((16, 16), (16, 16), -1.0), "data_range must be > 0"),
        (((16, 16), (16, 16), None), "data_range is required"),
        (((2, 16, 16), (2, 16, 16), torch.ones(3)), "does not broadcast to batch shape"),
        (((2, 16, 16), (3, 16, 16), RANGE), "do not broadcast"),
        (((16,), (16,), RANGE), "expected images"),
    ],
)
def test_ssim_bad_input(args, match):
    a, b, rng = args
    with pytest.raises(ValueError, match=match):
        ssim(torch.rand(a), torch.rand(b), rng)


def test_ssim_rejects_integer_images():
    with pytest.raises(ValueError, match="floating-point"):
        ssim(torch.zeros(16, 16, dtype=torch.uint8), torch.zeros(16, 16, dtype=torch.uint8), RANGE)


# ---------------------------------------------------------------- MS-SSIM


def ref_ms_ssim(a, b, data_range, levels, unit=False):
    """Independent numpy/scipy MS-SSIM: scipy Gaussian filter + crop, skimage block means, float64.
    unit: the loss form's terms, every map taken to (1 + x) / 2 first (the coarsest scale's
    luminance and contrast-structure each on its own)."""
    to_unit = (lambda x: (1 + x) / 2) if unit else (lambda x: x)  # noqa: E731
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    pad = (WINDOW_SIZE - 1) // 2
    blur = lambda x: ndimage.gaussian_filter(x, WINDOW_SIGMA, truncate=3.5)[pad:-pad, pad:-pad]  # noqa: E731
    weights = np.array(MS_SSIM_WEIGHTS[:levels])  # Wang's own weights at five scales,
    if levels < len(MS_SSIM_WEIGHTS):             # renormalised to sum 1 when fewer fit
        weights = weights / weights.sum()
    factors = []
    for level in range(levels):
        mx, my = blur(a), blur(b)
        vx, vy, cxy = blur(a * a) - mx**2, blur(b * b) - my**2, blur(a * b) - mx * my
        cs = to_unit((2 * cxy + c2) / (vx + vy + c2))
        if level < levels - 1:
            factors.append(cs.mean())
            h, w = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
            a = transform.downscale_local_mean(a[:h, :w], (2, 2))
            b = transform.downscale_local_mean(b[:h, :w], (2, 2))
        else:
            factors.append((to_unit((2 * mx * my + c1) / (mx**2 + my**2 + c1)) * cs).mean())
    factors = np.array(factors)
    with np.errstate(invalid="ignore"):  # negative factors -> NaN, as the unclamped formula does
        return float(np.prod(factors**weights)), factors


@pytest.mark.parametrize("shape", [(64, 64), (100, 37), (256, 256), (181, 200)])
def test_ms_ssim_matches_reference(shape):
    levels = ms_ssim_levels(*shape)
    for name, target, pred in pairs(shape):
        ref, factors = ref_ms_ssim(pred, target, RANGE, levels)
        assert (factors > STABLE_EPS).all()  # clamp inactive: textbook value
        assert ms_ssim(t(pred), t(target), RANGE).item() == pytest.approx(ref, abs=1e-10), name
        got32 = ms_ssim(t(pred, torch.float32), t(target, torch.float32), RANGE).item()
        assert got32 == pytest.approx(ref, abs=1e-4), name


def test_ms_ssim_at_five_scales_uses_wangs_weights_unchanged():
    """Wang et al. 2003's weights sum to 1.0001; at five scales they are used as published."""
    assert sum(MS_SSIM_WEIGHTS) == pytest.approx(1.0001)
    _, target, pred = pairs((256, 256))[1]
    _, terms = ref_ms_ssim(pred, target, RANGE, 5)
    wang = float(np.prod(terms ** np.array(MS_SSIM_WEIGHTS)))
    renormalised = float(np.prod(terms ** (np.array(MS_SSIM_WEIGHTS) / sum(MS_SSIM_WEIGHTS))))
    got = ms_ssim(t(pred), t(target), RANGE).item()
    assert got == pytest.approx(wang, abs=1e-6)
    assert abs(got - renormalised) > abs(got - wang)


def test_ms_ssim_single_level_is_ssim():
    _, target, pred = pairs((64, 64))[1]
    assert ms_ssim(t(pred), t(target), RANGE, levels=1).item() == pytest.approx(sk_ssim(target, pred), abs=1e-10)


def test_ms_ssim_levels_closed_form():
    """Largest n <= 5 with floor(side / 2^(n-1)) >= 11, i.e. n = 1 + floor(log2(side / 11))."""
    for h in range(WINDOW_SIZE, 400, 7):
        for w in (h, h + 13, 3 * h):
            side = min(h, w)
            expected = min(len(MS_SSIM_WEIGHTS), 1 + math.floor(math.log2(side / WINDOW_SIZE)))
            assert ms_ssim_levels(h, w) == expected
    assert ms_ssim_levels(256, 256) == 5 and ms_ssim_levels(176, 500) == 5 and ms_ssim_levels(175, 175) == 4
    with pytest.raises(ValueError, match="image of 10x64 is too small"):
        ms_ssim_levels(10, 64)


def test_ms_ssim_levels_and_weights_arguments():
    _, target, pred = pairs((64, 64))[0]
    x, y = t(pred), t(target)
    ref2, factors2 = ref_ms_ssim(pred, target, RANGE, 2)
    assert ms_ssim(x, y, RANGE, levels=2).item() == pytest.approx(ref2, abs=1e-10)
    custom = (0.2, 0.8)
    assert ms_ssim(x, y, RANGE, weights=custom).item() == pytest.approx(np.prod(factors2**np.array(custom)), abs=1e-10)
    with pytest.raises(ValueError, match="allows 1..3 levels, got 4"):
        ms_ssim(x, y, RANGE, levels=4)
    with pytest.raises(ValueError, match="got levels=2 but 3 weights"):
        ms_ssim(x, y, RANGE, levels=2, weights=(0.3, 0.3, 0.4))


def test_ms_ssim_batched_per_image_range():
    (_, img, noisy), (_, _, blurred) = pairs((64, 64))
    pred = t(np.stack([noisy, 2 * blurred]))
    target = t(np.stack([img, 2 * img]))
    got = ms_ssim(pred, target, t([RANGE, 2 * RANGE]))
    assert got[0].item() == pytest.approx(ref_ms_ssim(noisy, img, RANGE, 3)[0], abs=1e-10)
    assert got[1].item() == pytest.approx(ref_ms_ssim(2 * blurred, 2 * img, 2 * RANGE, 3)[0], abs=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("hard", ["noise", "zeros", "inverted"])
def test_ms_ssim_hard_pairs_are_finite(hard, dtype):
    """Noise, all-zeros and an inverted noisy copy vs the image: finite values and gradients."""
    shape = (176, 176)  # smallest size with all 5 scales
    target = cameraman(shape)
    noise = np.random.default_rng(2).uniform(0, RANGE, shape)
    start = {"noise": noise, "zeros": np.zeros(shape), "inverted": RANGE - target + 0.2 * noise}[hard]
    if hard == "inverted":  # the unclamped formula is undefined here: negative per-scale terms -> NaN
        ref, factors = ref_ms_ssim(start, target, RANGE, 5)
        assert (factors < 0).any() and math.isnan(ref)
    pred = t(start, dtype).requires_grad_()
    value = ms_ssim(pred, t(target, dtype), RANGE)
    assert torch.isfinite(value) and 0 < value.item() <= 1
    ms_ssim_loss(pred, t(target, dtype), RANGE).backward()
    assert torch.isfinite(pred.grad).all()
    assert pred.grad.abs().sum() > 0  # the loss form keeps a gradient, negative terms too
    pred.grad = None
    ssim_loss(pred, t(target, dtype), RANGE).backward()
    assert torch.isfinite(pred.grad).all()


def test_ms_ssim_identical_is_one():
    img = t(cameraman((200, 200)), torch.float32)
    assert ms_ssim(img, img, RANGE).item() == pytest.approx(1.0, abs=1e-5)
    assert ms_ssim_loss(img, img, RANGE).item() == pytest.approx(0.0, abs=1e-5)


# ---------------------------------------------------------------- PSNR, gradient magnitude


def test_psnr_matches_skimage():
    (_, img, noisy), (_, _, blurred) = pairs((64, 48))
    pred, target = t(np.stack([noisy, blurred])), t(np.stack([img, img]))
    got = psnr(pred, target, RANGE)
    assert got.shape == (2,)
    for k, p in enumerate((noisy, blurred)):
        assert got[k].item() == pytest.approx(peak_signal_noise_ratio(img, p, data_range=RANGE), abs=1e-10)
    per_image = psnr(pred, target, t([RANGE, 1.0]))
    assert per_image[1].item() == pytest.approx(peak_signal_noise_ratio(img, blurred, data_range=1.0), abs=1e-10)
    flat = psnr(pred.flatten(1), target.flatten(1), RANGE, dims=(-1,))
    assert torch.allclose(flat, got)
    with pytest.raises(ValueError, match="data_range must be > 0"):
        psnr(pred, target, 0.0)


def test_gradient_magnitude():
    g = torch.randn(3, 5, 2, dtype=torch.float64)
    assert torch.allclose(gradient_magnitude(g), t(np.hypot(g[..., 0].numpy(), g[..., 1].numpy())))
    with pytest.raises(ValueError, match=r"expected a gradient field \(\.\.\., 2\)"):
        gradient_magnitude(torch.zeros(4, 3))


# ---------------------------------------------------------------- reconstruction up to constants


def numpy_psnr(err, data_range=1.0):
    return 10 * np.log10(data_range ** 2 / np.mean(err ** 2))


def test_psnr_up_to_constants_match_numpy_and_ignore_the_free_constants():
    rng = np.random.default_rng(4)
    target = rng.uniform(0, 1, (5, 24, 20))
    pred = target + 0.05 * rng.normal(size=(3, 5, 24, 20)) + rng.normal(size=(3, 5, 1, 1))
    for m in range(3):
        err = pred[m] - target
        whole = numpy_psnr(err - err.mean())
        frames = numpy_psnr(err - err.mean(axis=(1, 2), keepdims=True))
        got = psnr_up_to_constant(t(pred), t(target), 1.0)
        got_frames = psnr_up_to_constant(t(pred), t(target), 1.0, per_frame=True)
        assert got[m].item() == pytest.approx(whole, abs=1e-9)
        assert got_frames[m].item() == pytest.approx(frames, abs=1e-9)
    shifted = t(pred) + 0.37                                  # one constant for everything
    per_frame = t(pred) + t(rng.normal(size=(1, 5, 1, 1)))    # a different one per frame
    assert torch.allclose(psnr_up_to_constant(shifted, t(target), 1.0),
                          psnr_up_to_constant(t(pred), t(target), 1.0), atol=1e-9)
    assert torch.allclose(psnr_up_to_constant(per_frame, t(target), 1.0, per_frame=True),
                          psnr_up_to_constant(t(pred), t(target), 1.0, per_frame=True), atol=1e-9)
    # a per-frame offset is not one constant: the whole-sequence figure sees it
    assert not torch.allclose(psnr_up_to_constant(per_frame, t(target), 1.0),
                              psnr_up_to_constant(t(pred), t(target), 1.0), atol=1e-3)


# ---------------------------------------------------------------- the relative PDE residual


def test_relative_pde_residual_matches_numpy_and_its_limits():
    rng = np.random.default_rng(5)
    dt, lap, d = rng.normal(size=(3, 4, 9, 9)), rng.normal(size=(3, 4, 9, 9)), 0.02
    rms = lambda x: np.sqrt(np.mean(x ** 2))  # noqa: E731
    got = relative_pde_residual(t(dt), t(lap), d)
    for m in range(3):
        expected = rms(dt[m] - d * lap[m]) / (rms(dt[m]) + d * rms(lap[m]))
        assert got[m].item() == pytest.approx(expected, rel=1e-12)
    zero = torch.zeros(2, 4, 9, 9, dtype=torch.float64)  # a constant network: both fields vanish
    assert relative_pde_residual(zero, zero, d).tolist() == [1.0, 1.0]
    assert relative_pde_residual(d * t(lap), t(lap), d).abs().max().item() < 1e-15  # a heat flow


def test_psnr_up_to_affine_removes_a_planted_affine_offset_as_numpys_least_squares_does():
    """A Laplacian-only fit is free up to harmonic functions: a planted per-frame affine offset
    (a + b x + c y) is removed, and what remains is numpy's least-squares residual."""
    from inr.training.metrics import psnr_up_to_affine

    rng = np.random.default_rng(3)
    target = rng.random((2, 20, 24))
    noise = 0.01 * rng.standard_normal((2, 20, 24))
    y, x = np.meshgrid(np.linspace(-1, 1, 20), np.linspace(-1, 1, 24), indexing="ij")
    offsets = np.stack([0.3 + 0.2 * x - 0.5 * y, -0.1 + 0.7 * x + 0.05 * y])
    pred = target + noise + offsets
    got = psnr_up_to_affine(torch.from_numpy(pred)[None], torch.from_numpy(target), 1.0)
    design = np.stack([np.ones(x.size), x.ravel(), y.ravel()], axis=1)
    residuals = []
    for frame in range(2):
        d = (pred[frame] - target[frame]).ravel()
        coef, *_ = np.linalg.lstsq(design, d, rcond=None)
        residuals.append(d - design @ coef)
    expected = 10 * np.log10(1.0 / np.mean(np.concatenate(residuals) ** 2))
    assert float(got[0]) == pytest.approx(expected, rel=1e-10)
    # the offsets were planted on top of the noise: removing them leaves the noise's PSNR or more
    assert float(got[0]) >= 10 * np.log10(1.0 / np.mean(noise ** 2)) - 1e-9
