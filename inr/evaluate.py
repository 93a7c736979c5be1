"""Full-frame evaluation of an ensemble: predictions of every stream and the metrics of each model.

Metrics (one value per model, coordinate units of inr.data):
    pixel_mse, grad_mse (summed over x, y), laplacian_mse, dt_mse
    psnr            pixel PSNR over all frames, data range 1
    ssim            mean pixel SSIM over frames (skimage-equivalent, data range 1)
    grad_ssim, laplacian_ssim, dt_ssim
                    SSIM of |grad|, Δ and ∂t, each with its target's range as data range
    pde_residual    RMS of (f_t - D Δf): are the learned derivatives a heat flow?
"""
from __future__ import annotations

import numpy as np
import torch

from inr.data import TrainingData
from inr.derivatives import derivatives
from inr.metrics import gradient_magnitude, ssim

ALL_STREAMS = ("value", "grad", "laplacian", "dt")
METRICS = ("pixel_mse", "grad_mse", "laplacian_mse", "dt_mse", "psnr", "ssim", "grad_ssim",
           "laplacian_ssim", "dt_ssim", "pde_residual")
MAX_POINTS_PER_PASS = 1 << 17  # models x points evaluated at once (bounds memory)


@torch.no_grad()
def predict(model, data: TrainingData) -> dict[str, torch.Tensor]:
    """All streams on every sample: value (M, T, H, W), grad (M, T, H, W, 2), laplacian, dt."""
    coords = data.all_points()["coords"]
    chunk = max(1, MAX_POINTS_PER_PASS // model.models)
    parts = [derivatives(model, _per_model(coords[i:i + chunk], model.models), ALL_STREAMS)
             for i in range(0, coords.shape[0], chunk)]
    t, h, w = data.shape
    out = {}
    for name in ALL_STREAMS:
        joined = torch.cat([p[name] for p in parts], dim=1)
        out[name] = joined.reshape(model.models, t, h, w, *joined.shape[2:])
    return out


def _per_model(coords: torch.Tensor, models: int) -> torch.Tensor:
    return coords.unsqueeze(0).expand(models, *coords.shape)


def truth_fields(data: TrainingData) -> dict[str, torch.Tensor]:
    """The targets shaped like `predict`'s output without the model dim."""
    t, h, w = data.shape
    tensors = data.all_points()
    return {name: tensors[name].reshape(t, h, w, *tensors[name].shape[1:])
            for name in ALL_STREAMS}


def field_range(x: torch.Tensor) -> float:
    """max - min of a target field: SSIM's data range for derivative quantities."""
    span = float(x.max() - x.min())
    return span if span > 0 else 1.0


def metrics_of(pred: dict, truth: dict, diffusivity: float) -> dict[str, torch.Tensor]:
    """pred: (M, T, H, W[, 2]); truth: (T, H, W[, 2]) -> name -> (M,) (see module doc)."""
    def mse(name):
        d2 = (pred[name] - truth[name]) ** 2
        return (d2.sum(-1) if name == "grad" else d2).flatten(1).mean(1)

    out = {"pixel_mse": mse("value"), "grad_mse": mse("grad"),
           "laplacian_mse": mse("laplacian"), "dt_mse": mse("dt")}
    out["psnr"] = 10 * torch.log10(1.0 / out["pixel_mse"])
    out["ssim"] = ssim(pred["value"], truth["value"], 1.0).mean(-1)
    true_mag, pred_mag = gradient_magnitude(truth["grad"]), gradient_magnitude(pred["grad"])
    out["grad_ssim"] = ssim(pred_mag, true_mag, field_range(true_mag)).mean(-1)
    for name in ("laplacian", "dt"):
        out[f"{name}_ssim"] = ssim(pred[name], truth[name], field_range(truth[name])).mean(-1)
    residual = pred["dt"] - diffusivity * pred["laplacian"]
    out["pde_residual"] = residual.pow(2).flatten(1).mean(1).sqrt()
    return out


def evaluate(model, data: TrainingData, diffusivity: float):
    """(metrics name -> (M,) tensor, predictions (M, T, H, W[, 2]) on the CPU)."""
    pred = predict(model, data)
    metrics = metrics_of(pred, truth_fields(data), diffusivity)
    return metrics, {k: v.cpu() for k, v in pred.items()}


def panel_fields(fields: dict, m: int | None = None) -> dict[str, np.ndarray]:
    """Streams -> the panel columns (value, grad_mag, laplacian, dt) as (T, H, W) numpy."""
    pick = (lambda x: x) if m is None else (lambda x: x[m])
    return {"value": pick(fields["value"]).cpu().numpy(),
            "grad_mag": gradient_magnitude(pick(fields["grad"])).cpu().numpy(),
            "laplacian": pick(fields["laplacian"]).cpu().numpy(),
            "dt": pick(fields["dt"]).cpu().numpy()}


def as_floats(metrics: dict[str, torch.Tensor], m: int) -> dict[str, float]:
    """Model m's metrics as plain floats."""
    return {k: float(v[m]) for k, v in metrics.items()}
