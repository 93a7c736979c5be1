"""Full-frame evaluation of an ensemble: every field predicted on every pixel of every frame, and
each model's metrics (inr.vocabulary.METRICS) as a plain record.

Metrics (one value per model, coordinate units of inr.data):
    pixel_mse, grad_mse (summed over x, y), laplacian_mse, dt_mse
    psnr            pixel PSNR over all frames, data range 1
    ssim            mean pixel SSIM over frames (skimage-equivalent, data range 1)
    grad_ssim, laplacian_ssim, dt_ssim
                    SSIM of |grad|, Δ and ∂t, each with its target's range as data range
    pde_residual    RMS of (f_t - D Δf): are the learned derivatives a heat flow?
"""
from __future__ import annotations

import torch

from inr.data import PIXEL_RANGE, TrainingData
from inr.derivatives import derivatives
from inr.metrics import gradient_magnitude, psnr_from_mse, ssim
from inr.vocabulary import FIELD_OF_TERM, FIELDS, MSE_TERMS, mse_metric

MAX_POINTS_PER_PASS = 1 << 17  # models x points evaluated at once (bounds memory)


@torch.no_grad()
def predict(model, data: TrainingData) -> dict[str, torch.Tensor]:
    """Every field on every sample: value (M, T, H, W), grad (M, T, H, W, 2), laplacian, dt."""
    coords = data.all_points()["coords"]
    chunk = max(1, MAX_POINTS_PER_PASS // model.models)
    parts = [derivatives(model, _per_model(coords[i:i + chunk], model.models), FIELDS)
             for i in range(0, coords.shape[0], chunk)]
    t, h, w = data.shape
    out = {}
    for name in FIELDS:
        joined = torch.cat([p[name] for p in parts], dim=1)
        out[name] = joined.reshape(model.models, t, h, w, *joined.shape[2:])
    return out


def _per_model(coords: torch.Tensor, models: int) -> torch.Tensor:
    return coords.unsqueeze(0).expand(models, *coords.shape)


def truth_fields(data: TrainingData) -> dict[str, torch.Tensor]:
    """The targets shaped like `predict`'s output without the model dim."""
    t, h, w = data.shape
    tensors = data.all_points()
    return {name: tensors[name].reshape(t, h, w, *tensors[name].shape[1:]) for name in FIELDS}


def field_range(x: torch.Tensor) -> float:
    """max - min of a target field: SSIM's data range for derivative quantities."""
    span = float(x.max() - x.min())
    return span if span > 0 else 1.0


def metrics_of(pred: dict, truth: dict, diffusivity: float) -> dict[str, torch.Tensor]:
    """pred: (M, T, H, W[, 2]); truth: (T, H, W[, 2]) -> metric name -> (M,) (module doc)."""
    def mse(name):
        d2 = (pred[name] - truth[name]) ** 2
        return (d2.sum(-1) if name == "grad" else d2).flatten(1).mean(1)

    out = {mse_metric(term): mse(FIELD_OF_TERM[term]) for term in MSE_TERMS}
    out["psnr"] = psnr_from_mse(out["pixel_mse"], PIXEL_RANGE)
    out["ssim"] = ssim(pred["value"], truth["value"], PIXEL_RANGE).mean(-1)
    true_mag, pred_mag = gradient_magnitude(truth["grad"]), gradient_magnitude(pred["grad"])
    out["grad_ssim"] = ssim(pred_mag, true_mag, field_range(true_mag)).mean(-1)
    for name in ("laplacian", "dt"):
        out[f"{name}_ssim"] = ssim(pred[name], truth[name], field_range(truth[name])).mean(-1)
    residual = pred["dt"] - diffusivity * pred["laplacian"]
    out["pde_residual"] = residual.pow(2).flatten(1).mean(1).sqrt()
    return out


def evaluate(model, data: TrainingData,
             diffusivity: float) -> tuple[list[dict[str, float]], dict[str, torch.Tensor]]:
    """(one metrics record of plain floats per model, the predictions (M, T, H, W[, 2]) on the
    CPU, for panels and videos)."""
    pred = predict(model, data)
    metrics = metrics_of(pred, truth_fields(data), diffusivity)
    records = [{k: float(v[m]) for k, v in metrics.items()} for m in range(model.models)]
    return records, {k: v.cpu() for k, v in pred.items()}
