"""Full-frame evaluation of an ensemble: every field predicted on every pixel of every frame, and
each model's metrics (inr.vocabulary.METRICS) as a plain record.

Metrics (one value per model, coordinate units of inr.data):
    pixel_mse, grad_mse (summed over x, y), laplacian_mse, dt_mse
    psnr            pixel PSNR over all frames, data range 1
    psnr_up_to_constant, psnr_up_to_frame_constants
                    the same after removing one constant offset from the whole sequence, or
                    one per frame (inr.training.metrics.psnr_up_to_constant): a fit without a pixel term
                    is free up to these (gradient alone: one per frame; with dt: one in all;
                    Laplacian alone: up to harmonic functions, which neither removes)
    psnr_up_to_affine
                    after removing each frame's best affine function of the position
                    (inr.training.metrics.psnr_up_to_affine): a Laplacian-only fit's free part,
                    as far as the affine harmonic functions go
    ssim            mean pixel SSIM over frames (skimage-equivalent, data range 1)
    grad_ssim, laplacian_ssim, dt_ssim
                    mean SSIM of |grad|, Δ and ∂t over frames, each frame with the max - min of
                    its own target as data range (the derivatives shrink as the image diffuses)
    pde_residual    ||f_t - D Δf|| / (||f_t|| + D ||Δf||) (inr.training.metrics.relative_pde_residual):
                    are the learned derivatives a heat flow? 1 for a constant network, so
                    read it beside dt_mse, never alone
"""
from __future__ import annotations

import torch

from inr.data import PIXEL_RANGE, TrainingData
from inr.model.derivatives import derivatives
from inr.model.networks import CoordinateMLP
from inr.training.metrics import (gradient_magnitude, psnr_from_mse, psnr_up_to_affine,
                                  psnr_up_to_constant,
                         relative_pde_residual, ssim)
from inr.vocabulary import FIELD_OF_TERM, FIELDS, MSE_TERMS, mse_metric

MAX_POINTS_PER_PASS = {"cpu": 1 << 17, "cuda": 1 << 19}  # models x points at once (memory)


@torch.no_grad()
def predict(model: CoordinateMLP, data: TrainingData,
            method: str = "fused") -> dict[str, torch.Tensor]:
    """Every field on every sample: value (M, T, H, W), grad (M, T, H, W, 2), laplacian, dt,
    by the derivative `method` (inr.model.derivatives)."""
    coords = data.all_points()["coords"]
    budget = MAX_POINTS_PER_PASS.get(coords.device.type, MAX_POINTS_PER_PASS["cpu"])
    chunk = max(1, budget // model.models)
    parts = [derivatives(model, _per_model(coords[i:i + chunk], model.models), FIELDS, method)
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


def frame_ranges(x: torch.Tensor) -> torch.Tensor:
    """max - min of each frame of a target field (T, H, W) -> (T,): SSIM's data range for a
    derivative; 1 for a constant frame."""
    flat = x.flatten(1)
    span = flat.max(1).values - flat.min(1).values
    return torch.where(span > 0, span, torch.ones_like(span))


def metrics_of(pred: dict, truth: dict, diffusivity: float) -> dict[str, torch.Tensor]:
    """pred: (M, T, H, W[, 2]); truth: (T, H, W[, 2]) -> metric name -> (M,) (module doc)."""
    def mse(name):
        d2 = (pred[name] - truth[name]) ** 2
        return (d2.sum(-1) if name == "grad" else d2).flatten(1).mean(1)

    out = {mse_metric(term): mse(FIELD_OF_TERM[term]) for term in MSE_TERMS}
    out["psnr"] = psnr_from_mse(out["pixel_mse"], PIXEL_RANGE)
    out["psnr_up_to_constant"] = psnr_up_to_constant(pred["value"], truth["value"], PIXEL_RANGE)
    out["psnr_up_to_frame_constants"] = psnr_up_to_constant(pred["value"], truth["value"],
                                                            PIXEL_RANGE, per_frame=True)
    out["psnr_up_to_affine"] = psnr_up_to_affine(pred["value"], truth["value"], PIXEL_RANGE)
    out["ssim"] = ssim(pred["value"], truth["value"], PIXEL_RANGE).mean(-1)
    true_mag, pred_mag = gradient_magnitude(truth["grad"]), gradient_magnitude(pred["grad"])
    out["grad_ssim"] = ssim(pred_mag, true_mag, frame_ranges(true_mag)).mean(-1)
    for name in ("laplacian", "dt"):
        out[f"{name}_ssim"] = ssim(pred[name], truth[name], frame_ranges(truth[name])).mean(-1)
    out["pde_residual"] = relative_pde_residual(pred["dt"], pred["laplacian"], diffusivity)
    return out


def evaluate(model: CoordinateMLP, data: TrainingData, diffusivity: float,
             method: str = "fused") -> tuple[list[dict[str, float]], dict[str, torch.Tensor]]:
    """(one metrics record of plain floats per model, the predictions (M, T, H, W[, 2]) on the
    model's device, for panels and videos), derivatives by `method` (inr.model.derivatives)."""
    pred = predict(model, data, method)
    metrics = {k: v.cpu() for k, v in metrics_of(pred, truth_fields(data), diffusivity).items()}
    records = [{k: float(v[m]) for k, v in metrics.items()} for m in range(model.models)]
    return records, pred
