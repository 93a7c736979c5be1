"""The heat-equation sequence of an image and its exact derivative targets in network coordinates.

Units: the one place they are defined
-------------------------------------
The network sees (x, y, t). An H x W image is sampled on a cell-centred grid of [-1, 1]^2:

    x_j = -1 + (2 j + 1) / W    (column j),    y_i = -1 + (2 i + 1) / H    (row i)

so the pixel spacing is h_x = 2 / W and h_y = 2 / H, and every pixel is the centre of a cell of
the square. Time t is used exactly as given (the defaults lie in [0, 1]). Intensities are floats
in [0, 1]. Every target obeys the heat equation in these units,

    u_t = D (u_xx + u_yy),    zero flux (du/dn = 0) on the border of [-1, 1]^2,

with ``grad = (u_x, u_y)``, ``laplacian = u_xx + u_yy`` and ``dt = u_t``.

Filters in pixel units convert as follows (``pixel_spacing`` gives h per axis):

    d/dx         = (W / 2)   * central difference per pixel     (u[j+1] - u[j-1]) / 2
                 = (W / 16)  * scipy.ndimage.sobel(u, axis=1)   (the unnormalised Sobel is 8x a
                                                                 smoothed central difference)
    d2/dx2+d2/dy2 = (N / 2)^2 * scipy.ndimage.laplace(u)         (square N x N images)

The cosine mode cos(k pi (x + 1) / 2) cos(l pi (y + 1) / 2) is an exact zero-flux eigenmode on
this grid (it is the DCT-II basis), and decays as exp(-D pi^2 (k^2 + l^2) t / 4).

Two generators:

* ``spectral`` (default): the exact solution through the cosine transform. The sequence is one
  smooth function u(x, y, t) = sum_kl c_kl cos(..) cos(..) exp(-D pi^2 (k^2 + l^2) t / 4), the
  c_kl being the DCT-II of the image, and every target is its exact derivative. At t = 0 this is
  the cosine interpolant of the raw photograph, whose derivatives ring (Gibbs): start the
  sequence at a small t0 > 0 (the suite's default config does) so the targets are smooth.
* ``explicit``: forward-Euler finite differences with a 5-point Laplacian and zero-flux
  (mirror) borders, the original project's scheme done right: fresh arrays every step, float64
  throughout, and an error when the step is unstable. Targets are finite differences scaled to
  coordinate units.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import fft

from inr.vocabulary import FIELDS

DIFFUSION_METHODS = ("spectral", "explicit")
STABILITY_LIMIT = 1.0  # forward Euler is stable while D dt (2/hx^2 + 2/hy^2) <= 1
DEFAULT_STABILITY_FRACTION = 0.5  # explicit: default sub-step is half the stable limit


# ----------------------------------------------------------------------------- coordinates

def pixel_centres(n: int) -> np.ndarray:
    """Cell-centred coordinates of n pixels on [-1, 1]: x_j = -1 + (2j + 1)/n, shape (n,)."""
    return -1.0 + (2.0 * np.arange(n) + 1.0) / n


def pixel_spacing(n: int) -> float:
    """Coordinate distance between neighbouring pixels of an n-pixel axis: 2 / n."""
    return 2.0 / n


def coordinate_grid(times: Sequence[float] | np.ndarray, height: int,
                    width: int) -> np.ndarray:
    """(x, y, t) of every sample, shape (T, H, W, 3); x follows columns, y follows rows."""
    times = np.asarray(times, dtype=np.float64)
    t, y, x = np.meshgrid(times, pixel_centres(height), pixel_centres(width), indexing="ij")
    return np.stack([x, y, t], axis=-1)


# ----------------------------------------------------------------------------- the sequence

@dataclass(frozen=True)
class DiffusionSequence:
    """A diffusion sequence and its exact targets, float64, in coordinate units (module doc).

    value (T, H, W), grad (T, H, W, 2) as (d/dx, d/dy), laplacian (T, H, W), dt (T, H, W),
    coords (T, H, W, 3) as (x, y, t); times (T,) and diffusivity D in the same units.
    """
    value: np.ndarray
    grad: np.ndarray
    laplacian: np.ndarray
    dt: np.ndarray
    coords: np.ndarray
    times: np.ndarray
    diffusivity: float
    method: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.value.shape

    def fields(self) -> dict[str, np.ndarray]:
        """The four fields' targets by name (inr.vocabulary.FIELDS)."""
        return {name: getattr(self, name) for name in FIELDS}

    def target_variances(self) -> dict[str, float]:
        """Each field's target variance over the whole sequence; for the gradient the sum of
        its two components' variances (its MSE sums them too). The MSE of predicting a target's
        mean is its variance, so a term's MSE over this is its error relative to the target's
        own scale; the scales differ by orders of magnitude, and a loss weight acts through
        them (inr.losses.effective_weights)."""
        out = {name: float(np.var(getattr(self, name))) for name in FIELDS}
        out["grad"] = float(np.var(self.grad[..., 0]) + np.var(self.grad[..., 1]))
        return out


def diffuse(image: np.ndarray, times: Sequence[float] | np.ndarray, diffusivity: float,
            method: str = "spectral", step: float | None = None) -> DiffusionSequence:
    """Diffuse an (H, W) image by u_t = D Δu to the given times; targets in coordinate units.

    times: (T,) non-negative, non-decreasing; diffusivity D > 0; both in the coordinate units of
    the module doc. step: explicit only, the Euler sub-step in t (default: half the stable limit);
    an unstable step raises.
    """
    image = np.asarray(image, dtype=np.float64)
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if image.ndim != 2 or min(image.shape) < 2:
        raise ValueError(f"image must be 2-D (H, W), got shape {image.shape}")
    if not np.all(np.isfinite(image)):
        raise ValueError("image holds NaN or inf values")
    if times.ndim != 1 or times.size == 0:
        raise ValueError("times must be a non-empty 1-D sequence")
    if np.any(times < 0) or np.any(np.diff(times) < 0) or not np.all(np.isfinite(times)):
        raise ValueError(f"times must be finite, non-negative and non-decreasing, got {times}")
    if not (math.isfinite(diffusivity) and diffusivity > 0):
        raise ValueError(f"diffusivity must be positive, got {diffusivity}")
    if method == "spectral":
        if step is not None:
            raise ValueError("step applies only to method='explicit'")
        fields = _spectral(image, times, diffusivity)
    elif method == "explicit":
        fields = _explicit(image, times, diffusivity, step)
    else:
        raise ValueError(f"unknown diffusion method {method!r}; choose from "
                         f"{', '.join(DIFFUSION_METHODS)}")
    value, grad, lap, dt = fields
    return DiffusionSequence(value, grad, lap, dt, coordinate_grid(times, *image.shape), times,
                    float(diffusivity), method)


def cosine_basis(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orthonormal DCT-II basis on n pixel centres and its coordinate derivative.

    Returns (phi, dphi, wavenumber): phi[j, k] = s_k cos(k pi (x_j + 1) / 2) with s_0 = sqrt(1/n),
    s_k = sqrt(2/n), so that u = phi @ dct(u, type=2, norm='ortho'); dphi = d phi / dx;
    wavenumber[k] = k pi / 2, so d2 phi / dx2 = -wavenumber^2 phi.
    """
    x = pixel_centres(n)
    wavenumber = np.pi * np.arange(n) / 2.0
    scale = np.full(n, math.sqrt(2.0 / n))
    scale[0] = math.sqrt(1.0 / n)
    phase = np.outer(x + 1.0, wavenumber)
    return scale * np.cos(phase), -scale * wavenumber * np.sin(phase), wavenumber


def _spectral(image, times, diffusivity):
    """Exact solution: DCT-II coefficients decaying at rate D (k_x^2 + k_y^2)."""
    h, w = image.shape
    coeff = fft.dctn(image, type=2, norm="ortho")  # (H, W): rows ~ y modes, columns ~ x modes
    phi_y, dphi_y, ky = cosine_basis(h)
    phi_x, dphi_x, kx = cosine_basis(w)
    eigen = -(ky[:, None] ** 2 + kx[None, :] ** 2)  # Laplacian eigenvalue of each mode

    def synth(c, by, bx):  # sum_kl c_kl by[:, k] bx[:, l]
        return by @ c @ bx.T

    value, grad, lap, dt = [], [], [], []
    for t in times:
        c = coeff * np.exp(diffusivity * eigen * t)
        value.append(synth(c, phi_y, phi_x))
        grad.append(np.stack([synth(c, phi_y, dphi_x), synth(c, dphi_y, phi_x)], axis=-1))
        lap.append(synth(c * eigen, phi_y, phi_x))
        dt.append(synth(c * (diffusivity * eigen), phi_y, phi_x))  # d/dt of exp(D eigen t)
    return np.stack(value), np.stack(grad), np.stack(lap), np.stack(dt)


def stable_step(shape: tuple[int, int], diffusivity: float) -> float:
    """Largest stable forward-Euler step in t for the 5-point Laplacian on an (H, W) grid."""
    hy, hx = pixel_spacing(shape[0]), pixel_spacing(shape[1])
    return STABILITY_LIMIT / (diffusivity * (2.0 / hx**2 + 2.0 / hy**2))


def neumann_laplacian(u: np.ndarray) -> np.ndarray:
    """5-point Laplacian of (H, W) in coordinate units, zero-flux mirror border (u[-1] = u[0])."""
    hy, hx = pixel_spacing(u.shape[0]), pixel_spacing(u.shape[1])
    p = np.pad(u, 1, mode="edge")  # a fresh array: no aliasing of the caller's data
    return ((p[1:-1, 2:] - 2.0 * u + p[1:-1, :-2]) / hx**2
            + (p[2:, 1:-1] - 2.0 * u + p[:-2, 1:-1]) / hy**2)


def neumann_gradient(u: np.ndarray) -> np.ndarray:
    """Central-difference (d/dx, d/dy) of (H, W) in coordinate units, mirror border: (H, W, 2)."""
    hy, hx = pixel_spacing(u.shape[0]), pixel_spacing(u.shape[1])
    p = np.pad(u, 1, mode="edge")
    return np.stack([(p[1:-1, 2:] - p[1:-1, :-2]) / (2 * hx),
                     (p[2:, 1:-1] - p[:-2, 1:-1]) / (2 * hy)], axis=-1)


def _explicit(image, times, diffusivity, step):
    limit = stable_step(image.shape, diffusivity)
    if step is None:
        step = DEFAULT_STABILITY_FRACTION * limit
    if not step > 0:
        raise ValueError(f"explicit step must be positive, got {step}")
    if step > limit * (1 + 1e-12):
        raise ValueError(f"explicit step {step:.3g} is unstable: the limit for a "
                         f"{image.shape[0]}x{image.shape[1]} grid at D={diffusivity:g} is {limit:.3g}")
    u, now = image.copy(), 0.0
    value, grad, lap, dt = [], [], [], []
    for t in times:
        n = math.ceil((t - now) / step - 1e-9) if t > now else 0
        for _ in range(n):  # equal sub-steps no longer than `step`
            u = u + ((t - now) / n) * diffusivity * neumann_laplacian(u)
        now = t
        lap_u = neumann_laplacian(u)
        value.append(u.copy())
        grad.append(neumann_gradient(u))
        lap.append(lap_u)
        dt.append(diffusivity * lap_u)  # the semi-discrete rate that forward Euler integrates
    return np.stack(value), np.stack(grad), np.stack(lap), np.stack(dt)


def default_times(frames: int, start: float = 0.05, stop: float = 1.0) -> np.ndarray:
    """`frames` evenly spaced times in [start, stop] (start > 0 keeps frame 0 band-limited)."""
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    return np.linspace(start, stop, frames) if frames > 1 else np.array([start])
