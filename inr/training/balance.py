"""Adaptive loss balancing: the weights λ of the four MSE terms (pixel, grad, laplacian, dt),
updated while training from the training signal (loss.balance; inr.config.weights).

Every model of an ensemble balances itself: each tensor here is (M,) per term (a dict
term -> (M,)), and nothing mixes models. The weights are detached: they never receive gradients.
A model whose terms (or new weights) are not finite keeps its weights and history, so a
diverging model poisons no other's (the loop drops it anyway). The terms T_i are the MSE terms
the loss weighs (after loss.normalize, inr.training.losses), on the step's batch.

Schemes, each with its paper's defaults (the LossWeights fields named in brackets):

lra        Learning-rate annealing: Wang, Teng & Perdikaris 2021, "Understanding and mitigating
           gradient flow pathologies in physics-informed neural networks", SIAM J. Sci. Comput.
           43(5), A3055-A3081 (arXiv:2001.04536), Algorithm 1. The pixel term is the reference
           (the paper's PDE residual L_r, whose weight is 1). Every k steps [balance_every = 10],
           before the step, for each other term i:
               λ̂_i = max_θ |∇_θ T_pixel| / mean_θ |∇_θ T_i|
               λ_i ← (1 − α) λ_i + α λ̂_i,   α = 0.9 [lra_alpha]
           where max and mean run over all of the model's parameters (every layer's weight and
           bias) and T_i is the unweighted term, as in the paper's Algorithm 1. λ_pixel ≡ 1.
           Start: λ_i(0) = β_i / β_pixel (the configured loss up to scale, which Adam does not
           see), or β_i where β_pixel = 0; the first update is at step 0, so a 0 start is
           replaced by α λ̂_i at once. (The authors' released code differs in details: it
           updates every 10 steps after the step, puts 0.9 on the old value, differentiates the
           weighted term λ_i T_i, and takes max and mean over the weight matrices only.)
relobralo  ReLoBRaLo: Bischof & Kraus 2021, "Multi-Objective Loss Balancing for Physics-Informed
           Deep Learning", arXiv:2110.09813, with n terms:
               λ^bal_i(t, t') = n softmax_i(T_i(t) / (τ T_i(t')))
               λ_i(t) = α (ρ λ_i(t − 1) + (1 − ρ) λ^bal_i(t, 0))
                        + (1 − α) λ^bal_i(t, t − 1)
           α = 0.999 [relobralo_alpha], τ = 0.1 [relobralo_temperature], ρ ~ Bernoulli with
           E[ρ] = 0.999 [relobralo_saudade], drawn for every step from a per-model generator
           seeded from the run's seed (`saudade_draws`), so a model gets the same draws alone
           or in any ensemble. Updated every step from step 1; λ(0) = β (any β ≥ 0 works: the
           update pulls every weight towards the balance, at a rate 1 − α per step).
softadapt  SoftAdapt: Heydari, Thompson & Mehmood 2019, "SoftAdapt: Techniques for Adaptive
           Loss Weighting of Neural Networks with Multi-Part Loss Functions", arXiv:1912.12355,
           the normalised-slopes variant (their §3.1.3), with first-order slopes:
               s_i = T_i(t) − T_i(t − 1),   ŝ_i = s_i / Σ_j |s_j|
               λ_i = exp(β ŝ_i) / Σ_j exp(β ŝ_j)   (softmax, the max subtracted)
           β = 0.1 [softadapt_beta] (their package's default; β > 0 weighs the terms that
           improve least). Normalised slopes make the weights independent of the terms'
           scales, which differ by orders of magnitude here. Updated every step from step 1;
           the weights sum to 1 (λ(0) = β until then).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from inr.config.weights import LossWeights
from inr.vocabulary import MSE_TERMS

REFERENCE_TERM = "pixel"  # lra's reference: the term whose weight stays 1
SAUDADE_SEED_OFFSET = 2_000_003  # relobralo's draws come from seed + offset (batches: 1_000_003)

Terms = dict[str, Tensor]  # term -> (M,)


# ----------------------------------------------------------------------------- pure updates

def _stack(terms: Terms) -> Tensor:
    """term -> (M,) as (M, n) in MSE_TERMS order."""
    return torch.stack([terms[t] for t in MSE_TERMS], dim=-1)


def _unstack(stacked: Tensor) -> Terms:
    return {t: stacked[..., i] for i, t in enumerate(MSE_TERMS)}


def lra_weights(weights: Terms, reference_max: Tensor, term_means: Terms,
                alpha: float | Tensor) -> Terms:
    """One learning-rate-annealing update (module doc): weights and term_means term -> (M,),
    reference_max (M,) = max |∇ T_pixel| over each model's parameters, alpha float or (M,).
    The reference term's weight stays as it is."""
    out = dict(weights)
    for t, mean in term_means.items():
        if t != REFERENCE_TERM:
            out[t] = (1 - alpha) * weights[t] + alpha * (reference_max / mean)
    return out


def relobralo_weights(weights: Terms, terms: Terms, last: Terms, first: Terms,
                      alpha: float | Tensor, temperature: float | Tensor,
                      rho: float | Tensor) -> Terms:
    """One ReLoBRaLo update (module doc): weights λ(t − 1), terms T(t), last T(t − 1) and first
    T(0), term -> (M,) each; alpha, temperature and rho (the Bernoulli draw, 0 or 1) float or
    (M,)."""
    now, n = _stack(terms), len(MSE_TERMS)
    col = lambda x: torch.as_tensor(x, dtype=now.dtype, device=now.device).reshape(-1, 1)  # noqa
    alpha, temperature, rho = col(alpha), col(temperature), col(rho)
    to_last = n * torch.softmax(now / (temperature * _stack(last)), dim=-1)
    to_first = n * torch.softmax(now / (temperature * _stack(first)), dim=-1)
    history = rho * _stack(weights) + (1 - rho) * to_first
    return _unstack(alpha * history + (1 - alpha) * to_last)


def softadapt_weights(terms: Terms, last: Terms, beta: float | Tensor) -> Terms:
    """One SoftAdapt update (module doc): terms T(t), last T(t − 1), term -> (M,); beta float or
    (M,). Returns weights that sum to 1 per model."""
    slopes = _stack(terms) - _stack(last)
    normalised = slopes / slopes.abs().sum(-1, keepdim=True)
    beta = torch.as_tensor(beta, dtype=slopes.dtype, device=slopes.device).reshape(-1, 1)
    return _unstack(torch.softmax(beta * normalised, dim=-1))  # softmax subtracts the max


def kept_where(ok: Tensor, new: Terms, old: Terms) -> Terms:
    """new where ok (M,) bool, else old: term -> (M,)."""
    return {t: torch.where(ok, new[t], old[t]) for t in new}


def finite_models(*groups: Terms) -> Tensor:
    """(M,) bool: the models whose every value in every group is finite."""
    return torch.stack([torch.isfinite(v) for g in groups for v in g.values()]).all(0)


def gradient_magnitudes(terms: Terms, params: Sequence[Tensor],
                        live: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
    """term -> (max, mean) of |∂T_i/∂θ| over all of each model's parameters, (M,) each.

    terms: term -> (M,) with a graph to params; params: the ensemble's parameters, each
    (M, ...) with model m's slice at [m] (inr.model.networks.BatchedLinear); live (M,) bool: a
    model not live contributes nothing. The graph is retained for the step's own backward.
    The models share no parameters, so the gradient of sum_m T_i,m is model m's own in its slice.
    """
    count = sum(p[0].numel() for p in params)
    out = {}
    for name, term in terms.items():
        grads = torch.autograd.grad(torch.where(live, term, torch.zeros_like(term)).sum(),
                                    list(params), retain_graph=True, allow_unused=True)
        flat = [g.detach().abs().flatten(1) for g in grads if g is not None]
        top = torch.stack([g.amax(1) for g in flat]).amax(0)
        mean = torch.stack([g.sum(1) for g in flat]).sum(0) / count
        out[name] = (top, mean)
    return out


# ----------------------------------------------------------------------------- state

@dataclass
class BalanceState:
    """What a balanced ensemble carries from step to step: the weights λ (term -> (M,)) the last
    step used, and the terms of the previous step (`last`) and of step 0 (`first`; relobralo),
    None before step 0."""
    weights: Terms
    last: Terms | None = None
    first: Terms | None = None

    def state_dict(self) -> dict:
        """For a mid-run checkpoint (tensors cloned)."""
        copy = lambda d: None if d is None else {k: v.clone() for k, v in d.items()}  # noqa
        return {"weights": copy(self.weights), "last": copy(self.last), "first": copy(self.first)}

    @classmethod
    def from_state_dict(cls, saved: dict) -> "BalanceState":
        return cls(saved["weights"], saved["last"], saved["first"])


@dataclass(frozen=True)
class Balancer:
    """A balanced ensemble's scheme and settings. Every member uses the same scheme and `every`
    (inr.training.loop.ensemble_key); the rates are per model, (M,): alpha (lra_alpha or
    relobralo_alpha), temperature, beta (softadapt); keep (steps, M) bool: relobralo's ρ at
    every step."""
    scheme: str
    every: int
    alpha: Tensor
    temperature: Tensor
    beta: Tensor
    keep: Tensor | None

    @classmethod
    def of(cls, losses: Sequence[LossWeights], seeds: Sequence[int], steps: int,
           dtype: torch.dtype, device: str | torch.device) -> "Balancer | None":
        """The ensemble's balancer (None when its runs do not balance); losses and seeds: one
        per model."""
        scheme = losses[0].balance
        if scheme == "none":
            return None
        if any(w.balance != scheme or w.balance_every != losses[0].balance_every for w in losses):
            raise ValueError("runs in one ensemble must share loss.balance and balance_every")
        rate = lambda name: torch.tensor([getattr(w, name) for w in losses], dtype=dtype,  # noqa
                                         device=device)
        alpha = rate("lra_alpha" if scheme == "lra" else "relobralo_alpha")
        keep = saudade_draws([w.relobralo_saudade for w in losses], seeds, steps).to(device) \
            if scheme == "relobralo" else None
        return cls(scheme, losses[0].balance_every, alpha, rate("relobralo_temperature"),
                   rate("softadapt_beta"), keep)

    def start(self, losses: Sequence[LossWeights], dtype: torch.dtype,
              device: str | torch.device) -> BalanceState:
        """The weights before step 0: the configured β (module doc: lra divides by β_pixel)."""
        betas = torch.tensor([w.betas for w in losses], dtype=dtype, device=device)  # (M, 4)
        if self.scheme == "lra":
            pixel = betas[:, MSE_TERMS.index(REFERENCE_TERM)].unsqueeze(1)
            betas = torch.where(pixel > 0, betas / pixel, betas)
            betas[:, MSE_TERMS.index(REFERENCE_TERM)] = 1.0
        return BalanceState(_unstack(betas))

    def needs_gradients(self, step: int) -> bool:
        """Whether `update` at `step` needs `gradient_magnitudes` (lra, every `every` steps)."""
        return self.scheme == "lra" and step % self.every == 0

    def update(self, state: BalanceState, step: int, terms: Terms, live: Tensor,
               gradients: dict[str, tuple[Tensor, Tensor]] | None = None) -> BalanceState:
        """The state after `step`, whose weights the step uses: terms T(step) term -> (M,)
        (detached), live (M,) bool, gradients: `gradient_magnitudes` where `needs_gradients`.
        A model not live, or whose terms or new weights are not finite, keeps its state."""
        terms = {t: terms[t].detach() for t in MSE_TERMS}
        ok = live & finite_models(terms)
        if self.scheme == "lra":
            new = state.weights
            if gradients is not None:
                means = {t: gradients[t][1] for t in MSE_TERMS}
                new = lra_weights(state.weights, gradients[REFERENCE_TERM][0], means, self.alpha)
        elif state.last is None:
            new = state.weights  # step 0: nothing to compare with yet
        elif self.scheme == "relobralo":
            rho = self.keep[step].to(self.alpha.dtype)
            new = relobralo_weights(state.weights, terms, state.last, state.first, self.alpha,
                                    self.temperature, rho)
        else:
            new = softadapt_weights(terms, state.last, self.beta)
        ok = ok & finite_models(new)
        last = terms if state.last is None else kept_where(ok, terms, state.last)
        first = terms if state.first is None else state.first
        return BalanceState(kept_where(ok, new, state.weights), last, first)


def saudade_draws(saudade: Sequence[float], seeds: Sequence[int], steps: int) -> Tensor:
    """relobralo's ρ of every step, (steps, M) bool: model m's from its own generator (seed
    seeds[m] + SAUDADE_SEED_OFFSET), True (keep the history) with probability saudade[m]."""
    columns = [torch.rand(steps, generator=torch.Generator().manual_seed(s + SAUDADE_SEED_OFFSET),
                          dtype=torch.float64) < e for e, s in zip(saudade, seeds)]
    return torch.stack(columns, dim=1)
