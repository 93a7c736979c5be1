"""A run's loss weights, and what they mean against the targets' scales.

With raw MSEs a weight vector acts on errors of very different sizes (at 64 px the Laplacian's
target variance is about 10^4 times the value's), so each term's *effective* weight, the weight on
its error relative to its target's variance, is what the loss really balances. With Adam only the
ratios of the weights matter, so vectors equal up to scale are nearly the same experiment.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from inr.vocabulary import FIELD_OF_TERM, FIELDS, MSE_TERMS, PERCEPTUAL_TERMS

NORMALIZATIONS = ("none", "variance")  # loss.normalize: raw MSEs, or each over its target's variance


@dataclass
class LossWeights:
    """beta: weights of the MSE of pixel, gradient (summed over x, y), Laplacian and dt, plus
    optional perceptual terms (1 - SSIM) and (1 - MS-SSIM) of the pixel frames."""
    pixel: float = 1.0
    grad: float = 0.0
    laplacian: float = 0.0
    dt: float = 0.0
    ssim: float = 0.0
    ms_ssim: float = 0.0
    # "none": the MSE terms as they are, so a weight vector means what the original's did;
    # "variance": each MSE term divided by its target's variance over the sequence, so the
    # weights act on errors relative to each target's own scale (README, "Loss weights")
    normalize: str = "none"

    @property
    def betas(self) -> tuple[float, float, float, float]:
        return tuple(getattr(self, t) for t in MSE_TERMS)

    def fields(self) -> tuple[str, ...]:
        """The fields (inr.vocabulary.FIELDS) whose predictions the training loss needs, in
        FIELDS order; a field whose weight is zero is not computed."""
        need = {FIELD_OF_TERM[t] for t in MSE_TERMS if getattr(self, t) > 0}
        if any(getattr(self, t) > 0 for t in PERCEPTUAL_TERMS):
            need.add("value")
        return tuple(f for f in FIELDS if f in need)


def effective_weights(weights: LossWeights, variances: dict[str, float]) -> dict[str, float]:
    """Each MSE term's weight on the error relative to its target's scale, MSE / variance:
    beta * variance with loss.normalize = "none", beta itself with "variance".

    variances: field -> target variance (DiffusionSequence.target_variances)."""
    scaled = weights.normalize == "none"
    return {t: getattr(weights, t) * (variances[FIELD_OF_TERM[t]] if scaled else 1.0)
            for t in MSE_TERMS}


def up_to_scale(vector: Sequence[float]) -> tuple[float, ...]:
    """A weight vector divided by its largest entry (largest 1): with Adam only the ratios of the
    weights matter (to within Adam's epsilon), so vectors with equal forms are nearly the same
    experiment. Rounded to 9 significant digits so that float noise does not split them."""
    top = max(vector)
    return tuple(float(f"{v / top:.9g}") for v in vector) if top > 0 else tuple(vector)
