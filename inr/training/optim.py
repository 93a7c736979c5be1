"""Adam for batched ensembles: M models stacked on a leading dim, one lr per model.

Every parameter has a leading model dim M (weights (M, out, in), biases (M, 1, out)).
`BatchedAdam.step(lrs)` with lrs (M,) performs, for each model slice m independently,
exactly the update of torch.optim.Adam(lr=lrs[m]) with default settings (no weight
decay, no amsgrad, not maximising):

    m_t = beta1 m + (1 - beta1) g            v_t = beta2 v + (1 - beta2) g^2
    p  -= lr / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)

The step count t is shared: all models are stepped together. Adam's update is
elementwise, so slices never interact; only the lr differs between models.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

DEFAULT_BETAS = (0.9, 0.999)  # torch.optim.Adam defaults
DEFAULT_EPS = 1e-8


class BatchedAdam:
    """Adam over params with a shared leading model dim M and per-model learning rates."""

    def __init__(self, params: Iterable[Tensor], betas: tuple[float, float] = DEFAULT_BETAS,
                 eps: float = DEFAULT_EPS) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("BatchedAdam got an empty parameter list")
        if any(p.ndim == 0 for p in self.params):
            raise ValueError("every parameter needs a leading model dim M; got a scalar")
        sizes = {p.shape[0] for p in self.params}
        if len(sizes) != 1:
            raise ValueError(f"all parameters must share the leading model dim M, got {sorted(sizes)}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        self.num_models = sizes.pop()
        self.betas = tuple(float(b) for b in betas)
        self.eps = float(eps)
        self.steps = 0
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    def _lrs(self, lrs) -> Tensor:
        """float or (M,) -> float64 tensor (M,), checked: its shape always, its values (>= 0)
        where they are on the CPU (reading an accelerator's values would wait for it; the
        training loop checks its lr table once)."""
        lrs = torch.as_tensor(lrs, dtype=torch.float64).detach()
        if lrs.ndim == 0:
            lrs = lrs.expand(self.num_models)
        if lrs.shape != (self.num_models,):
            raise ValueError(f"lrs must have shape ({self.num_models},), got {tuple(lrs.shape)}")
        if lrs.device.type == "cpu" and not bool(torch.all(lrs >= 0)):
            raise ValueError("lrs must be >= 0")
        return lrs

    @torch.no_grad()
    def step(self, lrs: float | Tensor) -> None:
        """One Adam update; lrs: float or tensor (M,), model m uses lrs[m]. Params without grad are skipped."""
        lrs = self._lrs(lrs)
        beta1, beta2 = self.betas
        self.steps += 1
        bias_correction1 = 1 - beta1**self.steps
        bias_correction2_sqrt = (1 - beta2**self.steps) ** 0.5
        step_sizes = lrs / bias_correction1  # (M,), float64 like torch's Python-float step size
        for p, exp_avg, exp_avg_sq in zip(self.params, self.exp_avg, self.exp_avg_sq):
            if p.grad is None:
                continue
            g = p.grad
            exp_avg.lerp_(g, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
            step_size = step_sizes.to(p.device, p.dtype).view(-1, *([1] * (p.ndim - 1)))
            p.sub_(step_size * exp_avg / denom)

    def descend(self, losses: Tensor, alive: Tensor, lrs: float | Tensor) -> None:
        """One step down the sum of the live models' losses; a model not alive is frozen.

        losses (M,) with a graph to the params; alive (M,) bool; lrs as in `step` (0 for a model
        not alive). The models share no parameters, so each receives exactly the gradient of its
        own loss. Nothing here reads a value back from the device.
        """
        self.zero_grad()
        torch.where(alive, losses, torch.zeros_like(losses)).sum().backward()
        for p in self.params:  # a diverged model's NaN gradients never reach its Adam state
            if p.grad is not None:
                p.grad = torch.where(alive.view(-1, *[1] * (p.ndim - 1)), p.grad, 0)
        self.step(lrs)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear gradients (as torch.optim.Optimizer.zero_grad)."""
        for p in self.params:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_().zero_()

    def state_dict(self) -> dict:
        """Checkpointable state (tensors are cloned)."""
        return {
            "steps": self.steps,
            "betas": self.betas,
            "eps": self.eps,
            "exp_avg": [t.clone() for t in self.exp_avg],
            "exp_avg_sq": [t.clone() for t in self.exp_avg_sq],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore from state_dict(); moments are copied into this optimiser's buffers."""
        for key in ("exp_avg", "exp_avg_sq"):
            saved, buffers = state[key], getattr(self, key)
            if len(saved) != len(buffers) or any(s.shape != b.shape for s, b in zip(saved, buffers)):
                raise ValueError(f"state_dict {key} does not match the parameters' shapes")
        for key in ("exp_avg", "exp_avg_sq"):
            for buffer, saved in zip(getattr(self, key), state[key]):
                buffer.copy_(saved)
        self.steps = int(state["steps"])
        self.betas = tuple(float(b) for b in state["betas"])
        self.eps = float(state["eps"])
