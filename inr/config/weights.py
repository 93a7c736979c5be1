"""A run's loss weights, and what they mean against the targets' scales.

With raw MSEs a weight vector acts on errors of very different sizes (at 64 px the Laplacian's
target variance is about 10^4 times the value's), so each term's *effective* weight, the weight on
its error relative to its target's variance, is what the loss really balances. With Adam only the
ratios of the weights matter, so vectors equal up to scale are nearly the same experiment.

A run may also balance its four MSE terms adaptively (`LossWeights.balance`, inr.training.balance):
the weights then change during training, starting from the configured ones.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from inr.vocabulary import FIELD_OF_TERM, FIELDS, MSE_TERMS, PERCEPTUAL_TERMS

NORMALIZATIONS = ("none", "variance")  # loss.normalize: raw MSEs, or each over its target's variance
# loss.balance: fixed weights, or a scheme that updates the four MSE terms' weights while training
# (inr.training.balance: learning-rate annealing, ReLoBRaLo, SoftAdapt)
BALANCE_SCHEMES = ("none", "lra", "relobralo", "softadapt")


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
    # "none": the weights above, fixed. A scheme (BALANCE_SCHEMES) trains on all four MSE terms,
    # even those whose weight above is 0, and updates their weights from the training signal,
    # starting from the weights above (inr.training.balance says how each treats a 0); the
    # perceptual terms keep their fixed weights. Each setting below is its paper's default.
    balance: str = "none"
    # lra (Wang, Teng & Perdikaris 2021): steps between updates (each costs one backward pass
    # per MSE term; the authors' code updates every 10 steps) and the weight of the new estimate
    # in the moving average, alpha in their Algorithm 1
    balance_every: int = 10
    lra_alpha: float = 0.9
    # relobralo (Bischof & Kraus 2021): alpha (the weight of the history), the softmax
    # temperature and E[rho] (the chance of keeping the history rather than looking back to
    # step 0, the "saudade")
    relobralo_alpha: float = 0.999
    relobralo_temperature: float = 0.1
    relobralo_saudade: float = 0.999
    # softadapt (Heydari, Thompson & Mehmood 2019): beta, the softmax's scale on the
    # normalised slopes (> 0 weights the terms that improve least)
    softadapt_beta: float = 0.1

    @property
    def betas(self) -> tuple[float, float, float, float]:
        return tuple(getattr(self, t) for t in MSE_TERMS)

    @property
    def balanced(self) -> bool:
        """Whether a scheme updates the MSE terms' weights while training (`balance`)."""
        return self.balance != "none"

    def trains(self, term: str) -> bool:
        """Whether the loss term (inr.vocabulary.LOSS_TERMS) is part of the training loss: its
        weight is positive, or it is an MSE term of a balanced run."""
        return getattr(self, term) > 0 or (self.balanced and term in MSE_TERMS)

    def fields(self) -> tuple[str, ...]:
        """The fields (inr.vocabulary.FIELDS) whose predictions the training loss needs, in
        FIELDS order; a field whose term is not trained (`trains`) is not computed."""
        need = {FIELD_OF_TERM[t] for t in MSE_TERMS if self.trains(t)}
        if any(self.trains(t) for t in PERCEPTUAL_TERMS):
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
