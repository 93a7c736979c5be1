"""The training loss: per-model weighted MSEs of the four fields plus perceptual terms.

For model m:  L_m = b_pixel MSE(f, u) + b_grad MSE(grad f, grad u) + b_lap MSE(Δf, Δu)
                    + b_dt MSE(f_t, u_t) + b_ssim (1 - SSIM) + b_msssim (1 - MS-SSIM)
where the gradient MSE sums its x and y components (the SIREN reference convention), all in the
coordinate units of inr.data. The ensemble minimises sum_m L_m: the models share no
parameters, so each receives exactly the gradient of its own L_m.
"""
from __future__ import annotations

import torch

from inr.data import PIXEL_RANGE
from inr.training.metrics import ms_ssim_loss, ssim_loss
from inr.vocabulary import FIELD_OF_TERM, MSE_TERMS

def squared_errors(out: dict, batch: dict, weights: dict | None = None) -> dict[str, torch.Tensor]:
    """Per-model MSE of every field present in `out`, by loss term: (M, N[, 2]) -> (M,).

    weights (name -> (M,)): only the terms it names are computed, and where a model's weight is
    0 its error is masked to 0 before squaring, so a NaN it does not train on cannot reach its
    gradients (backward of x * 0).
    """
    errors = {}
    for term in MSE_TERMS:
        name = FIELD_OF_TERM[term]
        if name in out and (weights is None or term in weights):
            diff = out[name] - batch[name]
            if weights is not None:
                used = (weights[term] > 0).reshape(-1, *[1] * (diff.dim() - 1))
                diff = torch.where(used, diff, torch.zeros_like(diff))
            diff2 = diff ** 2
            errors[term] = (diff2.sum(-1) if name == "grad" else diff2).mean(-1)
    return errors


def term_divisors(losses: list, variances: dict[str, float], dtype: torch.dtype,
                  device: str | torch.device) -> dict:
    """What each model's MSE terms are divided by: term -> (M,), the target's variance where a
    model's loss.normalize is "variance", else 1."""
    return {t: torch.tensor([variances[FIELD_OF_TERM[t]] if w.normalize == "variance" else 1.0
                             for w in losses], dtype=dtype, device=device) for t in MSE_TERMS}


def normalized(terms: dict[str, torch.Tensor], divisors: dict[str, torch.Tensor]) -> dict:
    """The terms with each MSE term divided by its divisor (M,); perceptual terms unchanged."""
    return {k: v / divisors[k] if k in divisors else v for k, v in terms.items()}


def perceptual_losses(value: torch.Tensor, target: torch.Tensor,
                      frame_shape: tuple[int, int]) -> dict:
    """(1 - SSIM) and (1 - MS-SSIM) of whole frames: value, target (M, H*W) -> (M,) each."""
    h, w = frame_shape
    pred, true = value.reshape(-1, h, w), target.reshape(-1, h, w)
    return {"ssim": ssim_loss(pred, true, PIXEL_RANGE),
            "ms_ssim": ms_ssim_loss(pred, true, PIXEL_RANGE)}


def weighted_loss(terms: dict[str, torch.Tensor],
                  weights: dict[str, torch.Tensor]) -> torch.Tensor:
    """sum_i weights[i] * terms[i] per model; terms without a weight are skipped.

    terms, weights: name -> (M,). Returns (M,). A zero weight never multiplies a NaN term in.
    """
    total = None
    for name, value in terms.items():
        beta = weights.get(name)
        if beta is None:
            continue
        part = torch.where(beta > 0, beta * value, torch.zeros_like(value))
        total = part if total is None else total + part
    if total is None:
        raise ValueError("no loss term has a positive weight")
    return total
