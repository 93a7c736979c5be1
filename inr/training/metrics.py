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
- As a METRIC (reporting, tables): `ssim(...)`. It can be negative for anti-correlated
  images (range [-1, 1]); that is information, keep it. `ms_ssim(...)` for a multi-scale
  summary (Wang, Simoncelli & Bovik 2003): Wang's five weights as published when five
  scales fit; smaller images use fewer scales (`ms_ssim_levels`) with those weights
  renormalised to sum 1, so report the number of scales alongside. Wang's product raises
  per-scale terms to fractional powers, which is undefined for a negative term: the metric
  clamps each term to >= STABLE_EPS first (it is the textbook value whenever no term falls
  below that).
- As a LOSS: both losses keep a non-zero gradient for any SSIM in (-1, 1], so training
  moves from any start (a freshly initialised network often has a negative SSIM):
  `ssim_loss = 1 - ssim` (no clamp; range [0, 2]), and `ms_ssim_loss = 1 - MS-SSIM` with
  every map mapped to (1 + x) / 2, in [0, 1], before the means and the fractional powers (in
  the spirit of the `normalize="simple"` form of jorge-pessoa/pytorch-msssim): each scale's
  contrast-structure, and at the coarsest scale the luminance and the contrast-structure each
  on its own. Mapping the coarsest SSIM (their product) instead would score a prediction that
  is inverted at that scale and has a negative mean (both factors negative) as nearly
  perfect: a quick-profile run of the MS-SSIM loss once ended there, at SSIM -0.53. The
  mapped terms are clamped at STABLE_EPS only against the infinite slope of x^w at 0. A
  clamp on the unmapped terms (the metric's form) would zero the gradient of every negative
  term, and with it the whole loss of an anti-correlated prediction.
- `psnr_up_to_affine` removes each frame's best affine function of the position (a
  Laplacian-only fit's free part, at least the affine share of it).
- `psnr` in dB, over the last two dims by default; `psnr_up_to_constant` removes the free
  constant(s) a derivative-only fit cannot see; `relative_pde_residual` asks whether learned
  derivatives form a heat flow.
"""

from __future__ import annotations

from collections.abc import Sequence

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

# Lower clamp for terms raised to fractional powers.
STABLE_EPS = 1e-4


def gaussian_window(size: int = WINDOW_SIZE, sigma: float = WINDOW_SIGMA, *,
                    dtype: torch.dtype | None = None,
                    device: str | torch.device | None = None) -> Tensor:
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
    """float or tensor broadcastable to batch_shape -> positive tensor of exactly batch_shape.
    Its values are checked where they are on the CPU: reading them from an accelerator would
    make every loss step wait for it (a tensor there is the caller's to keep positive)."""
    if data_range is None:
        raise ValueError("data_range is required (e.g. 1.0 for [0, 1] images, 2.0 for [-1, 1])")
    checked = not torch.is_tensor(data_range) or data_range.device.type == "cpu"
    if checked and not bool(torch.all(torch.as_tensor(data_range) > 0)):  # read on the CPU
        raise ValueError("data_range must be > 0")
    rng = torch.as_tensor(data_range, dtype=like.dtype, device=like.device)
    try:
        ok = torch.broadcast_shapes(rng.shape, batch_shape) == batch_shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(f"data_range of shape {tuple(rng.shape)} does not broadcast to batch shape {tuple(batch_shape)}")
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


def ssim(pred: Tensor, target: Tensor, data_range: float | Tensor) -> Tensor:
    """Mean SSIM per image, (..., H, W) x2 -> (...), in [-1, 1]. Matches skimage (module doc).

    data_range: float or tensor broadcastable to (...), required.
    """
    x, y, rng, batch = _prepare(pred, target, data_range)
    luminance, contrast_structure = _ssim_maps(x, y, *_constants(rng))
    return (luminance * contrast_structure).mean(dim=(-2, -1)).reshape(batch)


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
    """Resolve (levels, weights) -> exponents (levels,): Wang's weights as published when all
    five scales are used, renormalised to sum 1 when fewer are; custom weights as given."""
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
        if levels < len(MS_SSIM_WEIGHTS):
            weights = weights / weights.sum()
    return weights


def _unit(x: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1]: (1 + x) / 2."""
    return (1 + x) / 2


def _ms_ssim_terms(pred: Tensor, target: Tensor, data_range, levels, weights,
                   unit: bool = False):
    """(terms (B, levels), exponents (levels,), batch shape): the mean contrast-structure at
    each scale but the coarsest, then the coarsest scale's mean SSIM. Scales are 2x2 average
    pooled (odd rows / columns dropped). unit: every map mapped to [0, 1] first, the coarsest
    scale's luminance and contrast-structure each on its own (the loss form, module doc)."""
    x, y, rng, batch = _prepare(pred, target, data_range)
    exponents = _ms_ssim_weights(*x.shape[-2:], levels, weights, x)
    c1, c2 = _constants(rng)
    terms = []
    for level in range(exponents.numel()):
        luminance, contrast_structure = _ssim_maps(x, y, c1, c2)
        if unit:
            luminance, contrast_structure = _unit(luminance), _unit(contrast_structure)
        if level < exponents.numel() - 1:
            terms.append(contrast_structure.mean(dim=(-2, -1)))
            x, y = F.avg_pool2d(x, MS_SSIM_POOL), F.avg_pool2d(y, MS_SSIM_POOL)
        else:
            terms.append((luminance * contrast_structure).mean(dim=(-2, -1)))
    return torch.stack(terms, dim=-1), exponents, batch


def ms_ssim(pred: Tensor, target: Tensor, data_range: float | Tensor, levels: int | None = None,
            weights: Sequence[float] | Tensor | None = None) -> Tensor:
    """Multi-scale SSIM per image, (..., H, W) x2 -> (...), in [STABLE_EPS^sum(w), 1].

    value = prod_{j < n-1} mcs_j^{w_j} * mssim_{n-1}^{w_{n-1}}, where mcs_j is the mean
    contrast-structure map at scale j and mssim the mean SSIM at the coarsest scale; each
    term is clamped to >= STABLE_EPS first (module doc). levels=None: as many scales as fit
    (ms_ssim_levels). Custom `weights` (levels,) are used as given.
    """
    terms, exponents, batch = _ms_ssim_terms(pred, target, data_range, levels, weights)
    return (terms.clamp(min=STABLE_EPS) ** exponents).prod(dim=-1).reshape(batch)


def ssim_loss(pred: Tensor, target: Tensor, data_range: float | Tensor) -> Tensor:
    """1 - ssim per image (...), in [0, 2]: a gradient for every SSIM (module doc)."""
    return 1 - ssim(pred, target, data_range)


def ms_ssim_loss(pred: Tensor, target: Tensor, data_range: float | Tensor,
                 levels: int | None = None,
                 weights: Sequence[float] | Tensor | None = None) -> Tensor:
    """1 - prod_j term_j^{w_j} per image (...), in [0, 1], every map mapped to [0, 1] by
    (1 + x) / 2 before its mean: each scale's contrast-structure, and at the coarsest scale the
    luminance and the contrast-structure each on its own, so that a negative term still has a
    gradient and two negatives never multiply into a positive (module doc)."""
    terms, exponents, batch = _ms_ssim_terms(pred, target, data_range, levels, weights,
                                             unit=True)
    return 1 - (terms.clamp(min=STABLE_EPS) ** exponents).prod(dim=-1).reshape(batch)


def psnr(pred: Tensor, target: Tensor, data_range: float | Tensor,
         dims: tuple[int, ...] = (-2, -1)) -> Tensor:
    """Peak signal-to-noise ratio in dB, 10 log10(L^2 / MSE), MSE over `dims`.

    (..., H, W) x2 -> (...); data_range L broadcastable to the result. Identical images -> inf.
    """
    try:
        sq_err = (pred - target).pow(2)
    except RuntimeError:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} do not broadcast") from None
    return psnr_from_mse(sq_err.mean(dim=dims), data_range)


def psnr_from_mse(mse: Tensor, data_range: float | Tensor) -> Tensor:
    """10 log10(L^2 / MSE) in dB for an MSE already taken, (...) -> (...)."""
    rng = _data_range(data_range, mse.shape, mse)
    return 10 * torch.log10(rng**2 / mse)


def psnr_up_to_constant(pred: Tensor, target: Tensor, data_range: float | Tensor,
                        per_frame: bool = False) -> Tensor:
    """PSNR after removing the intensity offset a fit cannot see, (M, T, H, W) -> (M,) in dB.

    Subtracts c = mean(pred - target) over the whole sequence (one constant per model), or,
    with per_frame, c_j = mean over frame j of (pred - target) from each frame. A gradient-only
    fit is free up to one constant per frame, one with a dt term up to one constant in all;
    this is how the SIREN paper scores its gradient-only (Poisson) reconstructions. target may
    lack the model dim.
    """
    diff = pred - target
    dims = (-2, -1) if per_frame else tuple(range(1, diff.dim()))
    diff = diff - diff.mean(dim=dims, keepdim=True)
    return psnr_from_mse(diff.pow(2).flatten(1).mean(1), data_range)


def psnr_up_to_affine(pred: Tensor, target: Tensor, data_range: float | Tensor) -> Tensor:
    """PSNR after removing from each frame the affine function a + b x + c y of the pixel
    position that best fits (pred - target) by least squares, (M, T, H, W) -> (M,) in dB.

    A Laplacian-only fit is free up to harmonic functions; the affine ones are those every
    grid carries, so this is a lower bound on what the fit got right up to its free part (it
    removes at least what psnr_up_to_constant per frame removes). The fit does not depend on
    how the positions are scaled. target may lack the model dim.
    """
    diff = (pred - target).flatten(-2)  # (M, T, H*W)
    h, w = pred.shape[-2:]
    y, x = torch.meshgrid(torch.linspace(-1, 1, h, dtype=diff.dtype, device=diff.device),
                          torch.linspace(-1, 1, w, dtype=diff.dtype, device=diff.device),
                          indexing="ij")
    basis = torch.stack([torch.ones_like(x).flatten(), x.flatten(), y.flatten()], dim=1)
    q, _ = torch.linalg.qr(basis)  # (H*W, 3), orthonormal columns
    residual = diff - (diff @ q) @ q.T
    return psnr_from_mse(residual.pow(2).flatten(1).mean(1), data_range)


def relative_pde_residual(dt: Tensor, laplacian: Tensor, diffusivity: float) -> Tensor:
    """||f_t - D Δf|| / (||f_t|| + D ||Δf||) with RMS norms over all but the first dim:
    (M, ...) -> (M,), in [0, 1].

    0 when a network's own time derivative is exactly D times its own Laplacian (a heat flow),
    about 1 when the two are unrelated, and 1 by definition where both norms are 0 (a constant
    network, which solves the heat equation trivially: always read this beside dt_mse).
    """
    rms = lambda x: x.pow(2).flatten(1).mean(1).sqrt()  # noqa: E731
    scale = rms(dt) + diffusivity * rms(laplacian)
    residual = rms(dt - diffusivity * laplacian)
    return torch.where(scale > 0, residual / torch.where(scale > 0, scale, 1), 1)


def gradient_magnitude(grad: Tensor) -> Tensor:
    """Euclidean norm of a 2-D gradient field, (..., 2) -> (...)."""
    if grad.shape[-1:] != (2,):
        raise ValueError(f"expected a gradient field (..., 2), got shape {tuple(grad.shape)}")
    return torch.linalg.vector_norm(grad, dim=-1)
