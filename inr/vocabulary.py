"""The suite's vocabulary: the four fields a network learns, the jet streams that carry them, the
loss terms and the metric names. Defined here once; every other module imports them.

    field    what the network predicts and the data holds a target of, in the coordinate units
             of inr.data: value (M, N), grad (M, N, 2) as (d/dx, d/dy), laplacian (M, N), dt (M, N)
    term     a loss weight's name: the MSE on a field ("pixel" is the MSE on the value, as in
             the original project's beta vector) or a perceptual term on the value
    stream   a channel of the forward jet (inr.model.derivatives): value, the Jacobian columns dx, dy,
             dt, and the Laplacian lap
    metric   a number measured on every frame after training (inr.training.evaluate)
"""
from __future__ import annotations

FIELDS = ("value", "grad", "laplacian", "dt")
MSE_TERMS = ("pixel", "grad", "laplacian", "dt")  # one per field, in beta (and FIELDS) order
FIELD_OF_TERM = dict(zip(MSE_TERMS, FIELDS))
PERCEPTUAL_TERMS = ("ssim", "ms_ssim")  # (1 - SSIM) and (1 - MS-SSIM) of whole value frames
LOSS_TERMS = MSE_TERMS + PERCEPTUAL_TERMS

JET_STREAMS = ("value", "dx", "dy", "dt", "lap")  # in the order a jet stores them
STREAM_INPUT = {"dx": 0, "dy": 1, "dt": 2}  # Jacobian stream -> the coordinate it differentiates


def mse_metric(term: str) -> str:
    """The metric that measures a loss term's field: 'pixel' -> 'pixel_mse'."""
    return f"{term}_mse"


MSE_METRICS = tuple(mse_metric(t) for t in MSE_TERMS)
SSIM_METRICS = ("ssim", "grad_ssim", "laplacian_ssim", "dt_ssim")  # value, |grad|, Δ, ∂t
PSNR_METRICS = ("psnr", "psnr_up_to_constant", "psnr_up_to_frame_constants", "psnr_up_to_affine")
METRICS = (*MSE_METRICS, *PSNR_METRICS, *SSIM_METRICS, "pde_residual")
HELDOUT_PREFIX = "heldout_"  # the same metrics on the frames between the training times
HIGHER_IS_BETTER = frozenset({*PSNR_METRICS, *SSIM_METRICS})


HEADLINE_METRICS = ("pixel_mse", "grad_mse")  # what the weights question ranks and confirms
# the metric a field is tested on (named before any run): PSNR for pixels (the same test as log
# pixel MSE), the MSE (tested on its log) for the derivatives. Others are shown, not tested.
PRIMARY_METRIC = {"pixel": "psnr", "grad": "grad_mse", "laplacian": "laplacian_mse",
                  "dt": "dt_mse"}

# (pixel, grad, Laplacian, dt) vectors every random-weights sweep also trains, so that each
# verdict on weights compares runs that were made: the pixel loss alone, and the original
# project's reported best. A run whose weights equal one up to scale carries its name.
PIXEL_ONLY, ORIGINAL_BEST = "pixel-only", "original-best"
REFERENCE_WEIGHTS = {PIXEL_ONLY: (1.0, 0.0, 0.0, 0.0), ORIGINAL_BEST: (1.0, 0.01, 0.001, 0.0)}
# the arm of the best vector the loss-weight searches found (inr.sweep.comparison), which every
# adaptively balanced run of the weights question is tested against
BEST_FIXED = "best-fixed"


# the original project's claims on learning rates: (metric, schedule, lr or None for the
# schedule at its best lr)
ORIGINAL_LR_CLAIMS = (("psnr", "constant", 1e-7), ("ssim", "exponential", None))


class Stage:
    """Which stage of a sweep trained a run (its record's `stage`): the screening trains the
    planned grid; the confirmation trains the configurations chosen from it on fresh seeds."""
    SCREENING = "screening"
    CONFIRMATION = "confirmation"


class ImageRole:
    """What an image does in a sweep with held-out images (a record's `image_role`): the
    development images' screening chooses every configuration; the held-out images take part
    in no choice and test what was chosen. Empty where no image is held out."""
    DEVELOPMENT = "development"
    HELD_OUT = "held-out"


class Role:
    """Why a configuration was planned (its record's `role`): drawn (a random loss-weight
    vector), reference (named in advance: a reference vector, a claim of the original, or a
    setting an experiment file names and no screening chooses among), tuned (a point of a grid
    from which the screening chooses)."""
    DRAWN = "drawn"
    REFERENCE = "reference"
    TUNED = "tuned"
    SEARCHED = "searched"  # proposed by a loss-weight search (inr.sweep.search)


class Status:
    """How a run ended, as its record says."""
    COMPLETED = "completed"
    DIVERGED = "diverged"
    INTERRUPTED = "interrupted"


DONE_STATUSES = (Status.COMPLETED, Status.DIVERGED)  # a run in one of these is not trained again


class Question:
    """What an experiment asks (its `question`)."""
    ACTIVATION = "activation"
    LEARNING_RATE = "learning_rate"
    WEIGHTS = "weights"
    PIXEL_LOSS = "pixel_loss"
    POISSON = "poisson"  # the SIREN paper's: reconstruct from the gradient, or the Laplacian, alone


QUESTIONS = (Question.ACTIVATION, Question.LEARNING_RATE, Question.WEIGHTS, Question.PIXEL_LOSS,
             Question.POISSON)

# how a Poisson fit (no pixel term) is scored: up to what its loss leaves free. A gradient
# alone leaves a constant per frame; a Laplacian alone a harmonic function per frame, scored up
# to its affine part (inr.training.metrics.psnr_up_to_affine)
POISSON_METRIC = {"grad": "psnr_up_to_frame_constants", "laplacian": "psnr_up_to_affine"}


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` (or its held-out twin) is better."""
    return metric.removeprefix(HELDOUT_PREFIX) in HIGHER_IS_BETTER


def metric_title(metric: str) -> str:
    """A plot or table title that says which way is better: 'psnr (higher is better)'."""
    return f"{metric} ({'higher' if higher_is_better(metric) else 'lower'} is better)"
