"""Image metrics and losses: SSIM, MS-SSIM, PSNR.

All functions take images as tensors (..., H, W) and return one value per image (...),
batched over any leading dims (frames, models). Everything is differentiable.

`data_range` (L, the max-minus-min the images may take, e.g. 2 for [-1, 1], 255 for
uint8-style intensities) is always REQUIRED: a float, or a tensor broadcastable to the
batch shape (...) for per-image ranges (per model, per frame). Defaulting it to 255
(pytorch-msssim) or estimating it from the batch (torchmetrics) silently changes the
constants C1 = (K1 L)^2, C2 = (K2 L)^2 and makes numbers incomparable across runs.

SSIM (Wang et al. 2004) is computed exactly as scikit-image's
`structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=L)`: 11-tap Gaussian window (sigma 1.5), K = (0.01, 0.03), population
covariance, and the SSIM map averaged over the VALID region (skimage's crop of 5 px at
each border). A zero-padded "same" SSIM is not comparable with skimage and is not offered.

Which one to use:
- As a METRIC (reporting, tables): `ssim(...)` with the default `stable=False`. It can be
  negative for anti-correlated images (range [-1, 1]); that is information, keep it.
  `ms_ssim(...)` for a multi-scale summary; report `ms_ssim_levels(h, w)` alongside it
  since small images use fewer than 5 scales (renormalised weights).
- As a LOSS: `ssim_loss = 1 - ssim(stable=True)` and `ms_ssim_loss = 1 - ms_ssim`.
  MS-SSIM raises per-scale terms to fractional powers; a negative term gives NaN and a
  zero term an infinite gradient, which happens early in training and on hard pairs
  (noise or an inverted image vs the target). In the spirit of the common PyTorch ports
  (pytorch-msssim's ReLU on the per-scale terms / `nonnegative_ssim`) we clamp the
  per-scale contrast-structure means and the coarsest-scale SSIM (which carries the
  luminance term) to >= STABLE_EPS before the powers; unlike a ReLU, a clamp above 0 also
  avoids the infinite slope of x^w at 0. When no term falls below STABLE_EPS the value is
  the textbook MS-SSIM. A clamped term has zero gradient: the other scales still drive
  the loss, but if every term is clamped (an anti-correlated prediction) the loss is flat.
  `ssim(stable=True)` clamps the single-scale value the same way (loss in [0, 1 - eps]).
  Single-scale SSIM has no powers and is always finite, so `1 - ssim(stable=False)`
  (range [0, 2]) is the choice if anti-correlated predictions must still get a gradient.
- `psnr` in dB, over the last two dims by default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# Wang et al. 2004 constants (as in skimage with gaussian_weights=True).
WINDOW_SIZE = 11  # taps: 2 * int(truncate 3.5 * sigma 1.5 + 0.5) + 1
WINDOW_SIGMA = 1.5  # px
K1 = 0.01
K2 = 0.03

# Wang, Simoncelli, Bovik 2003: per-scale exponents, finest scale first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_POOL = 2  # 2x2 average pooling between scales

# Lower clamp for terms raised to fractional powers (and for ssim(stable=True)).
STABLE_EPS = 1e-4


def gaussian_window(size: int = WINDOW_SIZE, sigma: float = WINDOW_SIGMA, *, dtype=None, device=None) -> Tensor:
    """Normalised 1-D Gaussian taps (size,), centred, built in `dtype`."""
    radius = (size - 1) / 2
    x = torch.arange(size, dtype=dtype, device=device) - radius
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def _valid_blur(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, C, H - 10, W - 10): per-channel separable VALID Gaussian blur."""
    g = gaussian_window(dtype=x.dtype, device=x.device)
    channels = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def _ssim_maps(x: Tensor, y: Tensor, c1: Tensor, c2: Tensor) -> tuple[Tensor, Tensor]:
    """x, y (B, H, W), c1, c2 (B, 1, 1) -> luminance and contrast-structure maps (B, H-10, W-10)."""
    # (Co)variances are shift-invariant: centring each image first shrinks the float32
    # cancellation in E[x^2] - mu^2; the shift is added back for the means.
    shift_x, shift_y = x.mean(dim=(-2, -1), keepdim=True), y.mean(dim=(-2, -1), keepdim=True)
    x, y = x - shift_x, y - shift_y
    stats = _valid_blur(torch.stack([x, y, x * x, y * y, x * y], dim=1))
    mu_x, mu_y, e_xx, e_yy, e_xy = stats.unbind(dim=1)
    # E[x^2] - mu^2 can still dip slightly below 0 in float32: clamp.
    var_x = (e_xx - mu_x * mu_x).clamp(min=0)
    var_y = (e_yy - mu_y * mu_y).clamp(min=0)
    cov_xy = e_xy - mu_x * mu_y
    mu_x, mu_y = mu_x + shift_x, mu_y + shift_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    contrast_structure = (2 * cov_xy + c2) / (var_x + var_y + c2)
    return luminance, contrast_structure


def _too_small(h: int, w: int) -> ValueError:
    return ValueError(f"image of {h}x{w} is too small for SSIM with an {WINDOW_SIZE}-pixel window")


def _data_range(data_range, batch_shape: torch.Size, like: Tensor) -> Tensor:
    """float or tensor broadcastable to batch_shape -> positive tensor of exactly batch_shape."""
    if data_range is None:
        raise ValueError("data_range is required (e.g. 1.0 for [0, 1] images, 2.0 for [-1, 1])")
    rng = torch.as_tensor(data_range, dtype=like.dtype, device=like.device)
    try:
        ok = torch.broadcast_shapes(rng.shape, batch_shape) == batch_shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(f"data_range of shape {tuple(rng.shape)} does not broadcast to batch shape {tuple(batch_shape)}")
    if not bool(torch.all(rng > 0)):
        raise ValueError("data_range must be > 0")
    return rng.expand(batch_shape)


def _prepare(pred: Tensor, target: Tensor, data_range) -> tuple[Tensor, Tensor, Tensor, torch.Size]:
    """Check and flatten to x, y (B, H, W), range (B,), and return the batch shape (...)."""
    if not (pred.is_floating_point() and target.is_floating_point()):
        raise ValueError(f"expected floating-point images, got {pred.dtype} and {target.dtype}")
    if pred.ndim < 2 or target.ndim < 2:
        raise ValueError(f"expected images (..., H, W), got shapes {tuple(pred.shape)} and {tuple(target.shape)}")
    try:
        x, y = torch.broadcast_tensors(pred, target)
    except RuntimeError:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} do not broadcast") from None
    dtype = torch.promote_types(pred.dtype, target.dtype)
    x, y = x.to(dtype), y.to(dtype)
    *batch, h, w = x.shape
    if min(h, w) < WINDOW_SIZE:
        raise _too_small(h, w)
    batch = torch.Size(batch)
    rng = _data_range(data_range, batch, x)
    return x.reshape(-1, h, w), y.reshape(-1, h, w), rng.reshape(-1), batch


def _constants(rng: Tensor) -> tuple[Tensor, Tensor]:
    """Per-image range (B,) -> C1, C2 (B, 1, 1)."""
    rng = rng[:, None, None]
    return (K1 * rng) ** 2, (K2 * rng) ** 2


def ssim(pred: Tensor, target: Tensor, data_range, *, stable: bool = False) -> Tensor:
    """Mean SSIM per image, (..., H, W) x2 -> (...). Matches skimage (see module docstring).

    data_range: float or tensor broadcastable to (...), required.
    stable: clamp the value to >= STABLE_EPS (loss form; see module docstring).
    """
    x, y, rng, batch = _prepare(pred, target, data_range)
    luminance, contrast_structure = _ssim_maps(x, y, *_constants(rng))
    value = (luminance * contrast_structure).mean(dim=(-2, -1))
    if stable:
        value = value.clamp(min=STABLE_EPS)
    return value.reshape(batch)


def ms_ssim_levels(h: int, w: int) -> int:
    """Number of MS-SSIM scales (<= 5) for an h x w image: every scale must be >= 11 px.

    All 5 scales need min(h, w) >= 176 (11 * 2^4); the often-quoted ~161 px assumes padding.
    """
    if min(h, w) < WINDOW_SIZE:
        raise _too_small(h, w)
    levels, side = 1, min(h, w)
    while levels < len(MS_SSIM_WEIGHTS) and side // MS_SSIM_POOL >= WINDOW_SIZE:
        side //= MS_SSIM_POOL
        levels += 1
    return levels


def _ms_ssim_weights(h: int, w: int, levels, weights, like: Tensor) -> Tensor:
    """Resolve (levels, weights) -> exponents (levels,). Default weights are renormalised to sum 1."""
    max_levels = ms_ssim_levels(h, w)
    if weights is not None:
        weights = torch.as_tensor(weights, dtype=like.dtype, device=like.device).flatten()
        if levels is not None and levels != weights.numel():
            raise ValueError(f"got levels={levels} but {weights.numel()} weights")
        levels = weights.numel()
    levels = max_levels if levels is None else levels
    if not 1 <= levels <= max_levels:
        raise ValueError(f"MS-SSIM on {h}x{w} images allows 1..{max_levels} levels, got {levels}")
    if weights is None:
        weights = torch.tensor(MS_SSIM_WEIGHTS[:levels], dtype=like.dtype, device=like.device)
        weights = weights / weights.sum()
    return weights


def ms_ssim(pred: Tensor, target: Tensor, data_range, levels: int | None = None, weights=None) -> Tensor:
    """Multi-scale SSIM per image, (..., H, W) x2 -> (...), in [STABLE_EPS^sum(w), 1].

    value = prod_{j < n-1} mcs_j^{w_j} * mssim_{n-1}^{w_{n-1}}, where mcs_j is the mean
    contrast-structure map at scale j and mssim the mean SSIM at the coarsest scale; each
    factor is clamped to >= STABLE_EPS first. Scales are 2x2 average pooled (odd rows /
    columns dropped). levels=None: as many scales as fit (ms_ssim_levels), weights
    renormalised. Custom `weights` (levels,) are used as given.
    """
    x, y, rng, batch = _prepare(pred, target, data_range)
    exponents = _ms_ssim_weights(*x.shape[-2:], levels, weights, x)
    c1, c2 = _constants(rng)
    factors = []
    for level in range(exponents.numel()):
        luminance, contrast_structure = _ssim_maps(x, y, c1, c2)
        if level < exponents.numel() - 1:
            factors.append(contrast_structure.mean(dim=(-2, -1)))
            x, y = F.avg_pool2d(x, MS_SSIM_POOL), F.avg_pool2d(y, MS_SSIM_POOL)
        else:
            factors.append((luminance * contrast_structure).mean(dim=(-2, -1)))
    factors = torch.stack(factors, dim=-1).clamp(min=STABLE_EPS)  # (B, levels)
    return (factors**exponents).prod(dim=-1).reshape(batch)


def ssim_loss(pred: Tensor, target: Tensor, data_range) -> Tensor:
    """1 - ssim(stable=True), per image (...)."""
    return 1 - ssim(pred, target, data_range, stable=True)


def ms_ssim_loss(pred: Tensor, target: Tensor, data_range, levels: int | None = None, weights=None) -> Tensor:
    """1 - ms_ssim, per image (...)."""
    return 1 - ms_ssim(pred, target, data_range, levels=levels, weights=weights)


def psnr(pred: Tensor, target: Tensor, data_range, dims: tuple[int, ...] = (-2, -1)) -> Tensor:
    """Peak signal-to-noise ratio in dB, 10 log10(L^2 / MSE), MSE over `dims`.

    (..., H, W) x2 -> (...); data_range L broadcastable to the result. Identical images -> inf.
    """
    try:
        sq_err = (pred - target).pow(2)
    except RuntimeError:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} do not broadcast") from None
    return psnr_from_mse(sq_err.mean(dim=dims), data_range)


def psnr_from_mse(mse: Tensor, data_range) -> Tensor:
    """10 log10(L^2 / MSE) in dB for an MSE already taken, (...) -> (...)."""
    rng = _data_range(data_range, mse.shape, mse)
    return 10 * torch.log10(rng**2 / mse)


def gradient_magnitude(grad: Tensor) -> Tensor:
    """Euclidean norm of a 2-D gradient field, (..., 2) -> (...)."""
    if grad.shape[-1:] != (2,):
        raise ValueError(f"expected a gradient field (..., 2), got shape {tuple(grad.shape)}")
    return torch.linalg.vector_norm(grad, dim=-1)
