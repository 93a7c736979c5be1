"""Pooling one comparison over a few images, as pure functions over per-image effects.

Each image gives an effect (a mean paired difference over its seeds, on the tested scale) and
the variance of that mean. Images differ in kind, so the effects are pooled by random effects:

    tau2     the between-image variance, DerSimonian-Laird's moment estimate, truncated at 0
             (where the images agree more than their within-image noise predicts, Q < k - 1,
             the pool is the fixed-effect mean)
    effect   the random-effects mean, weights 1 / (variance + tau2)
    ci       Hartung-Knapp-Sidik-Jonkman (HKSJ): the standard error rescaled by the weighted
             spread of the images about the pool, with t quantiles on k - 1 degrees of freedom
             (Hartung & Knapp 2001; Sidik & Jonkman 2002). With few images, each variance
             resting on a few seeds, the normal (z) interval of DerSimonian-Laird covers far
             less than 95%; HKSJ keeps close to it (IntHout et al. 2014). statsmodels'
             combine_effects gives the same as its "random effect wls" row where tau2 > 0.
    pi       the 95% prediction interval for the effect on a new image like these
             (Higgins, Thompson & Spiegelhalter 2009): effect +- t(k - 2) * sqrt(tau2 + se^2),
             with se the HKSJ standard error; it needs k >= 3 images.

The interval speaks of the mean effect over images like these; the prediction interval of the
next image; neither of the images themselves, which the per-image tests judge.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
METHOD = "random effects, HKSJ"  # the `test` column of a pooled row in comparisons.csv


@dataclass(frozen=True)
class Pooled:
    """A random-effects pool of k per-image effects (module doc): the effect with its HKSJ
    interval and two-sided t p-value, Cochran's Q with its chi2 p on k - 1 degrees of freedom,
    I² (the share of the spread between images not explained by their noise), tau2, and the
    prediction interval for a new image (nan below 3 images)."""
    k: int
    effect: float
    se: float
    ci_low: float
    ci_high: float
    p: float
    q: float
    q_p: float
    i2: float
    tau2: float
    pi_low: float
    pi_high: float


def dersimonian_laird_tau2(effects: np.ndarray, variances: np.ndarray) -> tuple[float, float]:
    """(tau2 >= 0, Cochran's Q) of per-image effects with their within-image variances."""
    w = 1.0 / variances
    fixed = float(np.sum(w * effects) / np.sum(w))
    q = float(np.sum(w * (effects - fixed) ** 2))
    c = float(np.sum(w) - np.sum(w ** 2) / np.sum(w))
    k = effects.size
    return (max(0.0, (q - (k - 1)) / c) if c > 0 else 0.0), q


def random_effects(effects, variances) -> Pooled:
    """Pool k >= 2 per-image effects (module doc). effects, variances: (k,) on the tested scale
    (a log ratio of MSEs, or dB), variances of each image's mean effect (sd_diff² / n)."""
    effects = np.asarray(effects, dtype=float)
    variances = np.asarray(variances, dtype=float)
    k = effects.size
    if k < 2 or np.any(variances <= 0):
        raise ValueError(f"random effects need at least 2 images with positive variances, "
                         f"got {k}")
    tau2, q = dersimonian_laird_tau2(effects, variances)
    w = 1.0 / (variances + tau2)
    effect = float(np.sum(w * effects) / np.sum(w))
    spread = float(np.sum(w * (effects - effect) ** 2) / (k - 1))
    se = math.sqrt(spread / float(np.sum(w)))
    t = stats.t.ppf(0.5 + LEVEL / 2, k - 1)
    p = float(2 * stats.t.sf(abs(effect / se), k - 1)) if se > 0 else \
        (1.0 if effect == 0 else 0.0)
    if k >= 3:
        half = stats.t.ppf(0.5 + LEVEL / 2, k - 2) * math.sqrt(tau2 + se ** 2)
        pi_low, pi_high = float(effect - half), float(effect + half)
    else:
        pi_low = pi_high = math.nan
    return Pooled(k, effect, se, float(effect - t * se), float(effect + t * se), p, q,
                  float(stats.chi2.sf(q, k - 1)), max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0,
                  tau2, pi_low, pi_high)
