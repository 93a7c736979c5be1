"""Coordinate MLPs f(x, y, t) -> value, held as batched ensembles of M independent models.

Every parameter carries a leading model dimension M, so M networks train in one
forward/backward pass through batched matmuls (`torch.baddbmm`):

    weight (M, out, in)     bias (M, 1, out)     seeds buffer (M,)

Slicing any state_dict entry with `[m:m+1]` gives model m as a one-model network
(see `member_state_dict` and `CoordinateMLP.member`).

Architecture, following the reference SIREN code (Sitzmann et al. 2020):
`depth` counts the hidden width x width layers (SIREN's `hidden_layers`), so a
network has depth + 2 linear layers and depth + 1 activations:

    3 -> width -> (width -> width) x depth -> out_features, last layer linear.

Each activation is written as  h = f(u),  u = scale * (W h_prev + b), where
`scale` is w0 for sine/FINER, the Gaussian's scale, and 1 for ELU. The weights
are stored exactly as in the reference code; `scale` is applied in the matmul.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral

import torch
from torch import nn


# activations: f(u) and its first three derivatives in u = scale * z

class Activation:
    """Pointwise activation sigma(z) = f(scale * z) of the pre-activation z = W h + b.

    `taylor(u, order)` returns [f(u), f'(u), ..., f^(order)(u)] (order <= 3) in
    u = scale * z, which the forward-Laplacian path needs; a derivative in z carries
    one more factor of `scale` per order.

    scale_symbol: how names and text write the activation's frequency or scale ('w0', 's'),
    None for an activation without one; display_name: the activation in prose and legends.
    """

    name = None
    scale_symbol: str | None = None
    display_name = ""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = float(scale)
        self.first_layer = self  # the first hidden layer's activation (H-SIREN's differs)

    def fn(self, u: torch.Tensor) -> torch.Tensor:
        return self.taylor(u, 0)[0]

    def taylor(self, u: torch.Tensor, order: int) -> list[torch.Tensor]:
        raise NotImplementedError

    def signed_taylor(self, u: torch.Tensor,
                      order: int) -> tuple[list[torch.Tensor], tuple[int, ...]]:
        """(t, sign) with t[k] * sign[k] = f^(k)(u): lets sin'' = -sin skip a negation."""
        return self.taylor(u, order), (1, 1, 1, 1)

    def init_(self, weight: torch.Tensor, bias: torch.Tensor, layer: int, layers: int,
              generator: torch.Generator) -> None:
        """Fill one model's (out, in) weight and (out,) bias of linear layer `layer` of `layers`."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(scale={self.scale:g})"


def _uniform_(tensor, bound, generator):
    return tensor.uniform_(-bound, bound, generator=generator)


def _linear_default_(weight, bias, generator):
    """nn.Linear's default init: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1 / math.sqrt(weight.shape[1])
    _uniform_(weight, bound, generator)
    _uniform_(bias, bound, generator)


class Sine(Activation):
    """SIREN (Sitzmann et al. 2020, "Implicit Neural Representations with Periodic
    Activation Functions"): sigma(z) = sin(w0 z).

    Init as the reference code: first layer W ~ U(-1/fan_in, 1/fan_in), hidden and
    last layers W ~ U(-sqrt(6/fan_in)/w0, sqrt(6/fan_in)/w0); biases keep nn.Linear's
    default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (the reference never re-initialises
    them). Note: w0 also multiplies the bias, so a hidden pre-activation w0 (W h + b)
    has std sqrt(1 + w0^2 / (3 fan_in)), about 1.47 at width 256, 1.07 at width 2048.
    """

    name = "sine"
    scale_symbol = "w0"
    display_name = "SIREN (sine)"

    def __init__(self, w0: float = 30.0) -> None:
        super().__init__(scale=w0)
        self.w0 = float(w0)

    def fn(self, u: torch.Tensor) -> torch.Tensor:
        return torch.sin(u)

    def taylor(self, u: torch.Tensor, order: int) -> list[torch.Tensor]:
        s = torch.sin(u)
        if order == 0:
            return [s]
        c = torch.cos(u)
        return [s, c, -s, -c][: order + 1]

    def signed_taylor(self, u: torch.Tensor,
                      order: int) -> tuple[list[torch.Tensor], tuple[int, ...]]:
        s = torch.sin(u)
        if order == 0:
            return [s], (1,)
        c = torch.cos(u)
        return [s, c, s, c][: order + 1], (1, 1, -1, -1)

    def init_(self, weight: torch.Tensor, bias: torch.Tensor, layer: int, layers: int,
              generator: torch.Generator) -> None:
        fan_in = weight.shape[1]
        bound = 1 / fan_in if layer == 0 else math.sqrt(6 / fan_in) / self.w0
        _uniform_(weight, bound, generator)
        _uniform_(bias, 1 / math.sqrt(fan_in), generator)


class Finer(Sine):
    """FINER (Liu et al. 2024, "FINER: Flexible Spectral-bias Tuning in Implicit NEural
    Representation by Variable-periodic Activation Functions", CVPR):
    sigma(z) = sin(w0 (|z| + 1) z).

    In u = w0 z: f(u) = sin(g(u)), g(u) = u + u |u| / w0. Init as the reference code:
    SIREN weights, nn.Linear default biases, and optionally the first-layer bias
    ~ U(-k, k) with k = `first_bias_scale` (None keeps the default).
    The reference code detaches the factor (|z| + 1) from autograd by default; here it
    is not detached, so every derivative is that of the function the network computes.
    """

    name = "finer"
    display_name = "FINER"

    def __init__(self, w0: float = 30.0, first_bias_scale: float | None = None) -> None:
        super().__init__(w0)
        if first_bias_scale is not None and not first_bias_scale > 0:
            raise ValueError(f"first_bias_scale must be positive, got {first_bias_scale}")
        self.first_bias_scale = first_bias_scale

    signed_taylor = Activation.signed_taylor

    def fn(self, u: torch.Tensor) -> torch.Tensor:
        return torch.sin(u + u * u.abs() / self.w0)

    def taylor(self, u: torch.Tensor, order: int) -> list[torch.Tensor]:
        a = u.abs()
        g = u + u * a / self.w0
        s = torch.sin(g)
        if order == 0:
            return [s]
        c = torch.cos(g)
        g1 = 1 + 2 * a / self.w0                 # g'
        g2 = 2 * torch.sign(u) / self.w0         # g'' (g''' = 0 away from u = 0)
        f1 = c * g1
        f2 = c * g2 - s * g1 ** 2
        f3 = -c * g1 ** 3 - 3 * s * g1 * g2
        return [s, f1, f2, f3][: order + 1]

    def init_(self, weight: torch.Tensor, bias: torch.Tensor, layer: int, layers: int,
              generator: torch.Generator) -> None:
        super().init_(weight, bias, layer, layers, generator)
        if layer == 0 and self.first_bias_scale is not None:
            _uniform_(bias, self.first_bias_scale, generator)


class Gauss(Activation):
    """Gaussian activation (Ramasinghe & Lucey 2022, "Beyond Periodicity: Towards a
    Unifying Framework for Activations in Coordinate-MLPs", ECCV):
    sigma(z) = exp(-(s z)^2), i.e. exp(-z^2 / (2 a^2)) with a = 1 / (s sqrt 2).

    Scale s = 10 and init follow the reference implementation in WIRE (Saragadam et
    al. 2023, modules/gauss.py): nn.Linear default init for every layer,
    W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """

    name = "gauss"
    scale_symbol = "s"
    display_name = "Gaussian"

    def fn(self, u: torch.Tensor) -> torch.Tensor:
        return torch.exp(-u * u)

    def taylor(self, u: torch.Tensor, order: int) -> list[torch.Tensor]:
        e = torch.exp(-u * u)
        if order == 0:
            return [e]
        u2 = u * u
        f1 = -2 * u * e
        f2 = (4 * u2 - 2) * e
        f3 = (12 - 8 * u2) * u * e
        return [e, f1, f2, f3][: order + 1]

    def init_(self, weight: torch.Tensor, bias: torch.Tensor, layer: int, layers: int,
              generator: torch.Generator) -> None:
        _linear_default_(weight, bias, generator)


class ELU(Activation):
    """ELU (Clevert et al. 2016), the original project's baseline: f(u) = u for u > 0,
    exp(u) - 1 otherwise (alpha = 1, scale 1).

    He/Kaiming-uniform init (He et al. 2015) for the layers feeding an ELU,
    W ~ U(-sqrt(6/fan_in), sqrt(6/fan_in)); the linear last layer gets gain 1,
    W ~ U(-sqrt(3/fan_in), sqrt(3/fan_in)); all biases zero.
    """

    name = "elu"
    display_name = "ELU"

    def fn(self, u: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.elu(u)

    def taylor(self, u: torch.Tensor, order: int) -> list[torch.Tensor]:
        pos = u > 0
        e = torch.exp(u.clamp(max=0))            # exp(u) on the negative side, 1 on the positive
        f = torch.where(pos, u, e - 1)
        if order == 0:
            return [f]
        f1 = e                                    # exp(u) for u <= 0, 1 for u > 0
        f2 = torch.where(pos, torch.zeros_like(e), e)
        return [f, f1, f2, f2][: order + 1]

    def init_(self, weight: torch.Tensor, bias: torch.Tensor, layer: int, layers: int,
              generator: torch.Generator) -> None:
        gain = 1.0 if layer == layers - 1 else math.sqrt(2.0)
        _uniform_(weight, gain * math.sqrt(3 / weight.shape[1]), generator)
        bias.zero_()


class Wire(Activation):
    """WIRE in its real Gabor form (Saragadam et al. 2023, "WIRE: Wavelet Implicit Neural
    Representations", CVPR): sigma(z) = cos(w0 z) exp(-(s0 z)^2), a cosine of frequency w0
    under a Gaussian envelope of width 1/s0, on one pre-activation z (the complex form
    exp(i w0 z - (s0 z)^2) needs complex weights, which this real-valued pipeline does not
    carry).

    In u = w0 z: f(u) = cos(u) exp(-(r u)^2) with r = s0 / w0. Init as the reference code
    (modules/wire.py): nn.Linear's default for every layer, W, b ~ U(-1/sqrt(fan_in),
    1/sqrt(fan_in)). The sweeps tune w0 (a run's `scale`); s0 keeps its value,
    ModelConfig.wire_s0 = 3 by default: with this init the reference code's s0 = 10 leaves the
    envelope near zero on most of the first layer's range, and a pilot on the cameraman at the
    quick profile (s0 1, 3, 10 by w0 2, 5; trained on pixels and on the gradient) fitted both
    best at s0 = 3.
    """

    name = "wire"
    scale_symbol = "w0"
    display_name = "WIRE (real Gabor)"

    def __init__(self, w0: float = 30.0, s0: float = 3.0) -> None:
        super().__init__(scale=w0)
        if not s0 > 0:
            raise ValueError(f"wire s0 must be positive, got {s0}")
        self.w0, self.s0 = float(w0), float(s0)
        self.r2 = (self.s0 / self.w0) ** 2  # the envelope exp(-r2 u^2) in u = w0 z

    def fn(self, u: torch.Tensor) -> torch.Tensor:
        return torch.cos(u) * torch.exp(-self.r2 * u * u)

    def taylor(self, u: torch.Tensor, order: int) -> list[torch.Tensor]:
        a = self.r2
        e = torch.exp(-a * u * u)
        c = torch.cos(u)
        if order == 0:
            return [c * e]
        s = torch.sin(u)
        e1 = -2 * a * u * e                       # the envelope's derivatives in u
        e2 = (4 * a * a * u * u - 2 * a) * e
        e3 = (12 * a * a * u - 8 * a ** 3 * u ** 3) * e
        f1 = -s * e + c * e1
        f2 = -c * e - 2 * s * e1 + c * e2
        f3 = s * e - 3 * c * e1 - 3 * s * e2 + c * e3
        return [c * e, f1, f2, f3][: order + 1]

    def init_(self, weight: torch.Tensor, bias: torch.Tensor, layer: int, layers: int,
              generator: torch.Generator) -> None:
        _linear_default_(weight, bias, generator)

    def __repr__(self):
        return f"{type(self).__name__}(w0={self.w0:g}, s0={self.s0:g})"


SINC_SERIES_BELOW = 1.0  # |u| at or under which sinc's derivatives come from its power series
_SINC_TERMS = 10  # terms of sin(u)/u = sum_k (-1)^k u^(2k) / (2k + 1)!; the next is 2e-20 at |u| = 1


def _sinc_series(u: torch.Tensor, n: int) -> torch.Tensor:
    """The n-th derivative (n <= 3) of sin(u)/u from its power series, for |u| at most
    SINC_SERIES_BELOW, where the closed forms lose digits to cancellation (the third derivative's
    relative error grows like 30 eps / u^4)."""
    u2 = u * u
    out = torch.zeros_like(u)
    for k in reversed(range(_SINC_TERMS)):
        if 2 * k < n:
            break
        coeff = (-1) ** k * math.perm(2 * k, n) / math.factorial(2 * k + 1)
        out = out * u2 + coeff                     # Horner in u^2 over the powers u^(2k - n)
    return out * u if n % 2 else out


class Sinc(Activation):
    """sinc (Saratchandran et al. 2024, "A sampling theory perspective on activations for
    implicit neural representations", ICML): sigma(z) = sin(w0 z) / (w0 z), 1 at z = 0; w0 sets
    the band it passes.

    In u = w0 z: f(u) = sin(u) / u, its derivatives by their closed forms above
    SINC_SERIES_BELOW and by the power series at and below it (exact at u = 0, no
    cancellation). Init: SIREN's scheme (first layer U(-1/fan_in, 1/fan_in), then
    U(+-sqrt(6/fan_in)/w0)), which keeps u of order one for a sine-type activation. The paper's
    code was not available to this project, so this choice is ours, and it is stated here.
    """

    name = "sinc"
    scale_symbol = "w0"
    display_name = "sinc"
    init_ = Sine.init_

    def __init__(self, w0: float = 30.0) -> None:
        super().__init__(scale=w0)
        self.w0 = float(w0)

    def fn(self, u: torch.Tensor) -> torch.Tensor:
        return self.taylor(u, 0)[0]

    def taylor(self, u: torch.Tensor, order: int) -> list[torch.Tensor]:
        small = u.abs() <= SINC_SERIES_BELOW
        v = torch.where(small, torch.ones_like(u), u)  # the closed forms never see u = 0
        s, c = torch.sin(v), torch.cos(v)
        closed = [lambda: s / v, lambda: (v * c - s) / v ** 2,
                  lambda: (2 * s - 2 * v * c - v * v * s) / v ** 3,
                  lambda: (6 * v * c - 6 * s + 3 * v * v * s - v ** 3 * c) / v ** 4]
        return [torch.where(small, _sinc_series(u, n), closed[n]()) for n in range(order + 1)]


class HSinhSine(Sine):
    """H-SIREN's first activation: sigma(z) = sin(w0 sinh(2 z)). In u = w0 z:
    f(u) = sin(g(u)), g(u) = w0 sinh(2 u / w0)."""

    name = "hsiren-first"

    signed_taylor = Activation.signed_taylor

    def fn(self, u: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.w0 * torch.sinh(2 * u / self.w0))

    def taylor(self, u: torch.Tensor, order: int) -> list[torch.Tensor]:
        x = 2 * u / self.w0
        g = self.w0 * torch.sinh(x)
        s = torch.sin(g)
        if order == 0:
            return [s]
        c, ch, sh = torch.cos(g), torch.cosh(x), torch.sinh(x)
        g1, g2, g3 = 2 * ch, 4 * sh / self.w0, 8 * ch / self.w0 ** 2
        f1 = c * g1
        f2 = c * g2 - s * g1 ** 2
        f3 = c * g3 - 3 * s * g1 * g2 - c * g1 ** 3
        return [s, f1, f2, f3][: order + 1]


class HSiren(Sine):
    """H-SIREN (Gao & Jaiman 2024, "H-SIREN: Improving implicit neural representations with
    hyperbolic periodic functions"): SIREN whose first activation is sin(w0 sinh(2 z)) instead
    of sin(w0 z) (`first_layer`, an HSinhSine); the hidden ones are SIREN's. The sinh acts on
    the first pre-activation z before w0 scales it: with SIREN's first-layer init z is of order
    one, where sinh(2 w0 z) would overflow. Init: SIREN's, which the paper keeps.
    """

    name = "hsiren"
    display_name = "H-SIREN"

    def __init__(self, w0: float = 30.0) -> None:
        super().__init__(w0)
        self.first_layer = HSinhSine(w0)


_ACTIVATION_CLASSES = {"sine": Sine, "elu": ELU, "gauss": Gauss, "finer": Finer,
                       "wire": Wire, "sinc": Sinc, "hsiren": HSiren}
ACTIVATION_ALIASES = {"siren": "sine"}
ACTIVATION_CHOICES = tuple(_ACTIVATION_CLASSES)  # one name per activation: what sweeps offer
ACTIVATIONS = (*ACTIVATION_CHOICES, *ACTIVATION_ALIASES)  # every name make_model accepts


def canonical_activation(name: str) -> str:
    """An activation's own name ('siren' -> 'sine'); unknown names raise a one-line error."""
    name = ACTIVATION_ALIASES.get(name, name)
    if name not in _ACTIVATION_CLASSES:
        raise ValueError(f"unknown activation {name!r}, expected one of {ACTIVATIONS}")
    return name


def scale_symbol(name: str) -> str | None:
    """How names and text write the activation's frequency or scale: 'w0' (sine, FINER, WIRE,
    sinc, H-SIREN), 's' (Gaussian), None for an activation without one (ELU); unknown names
    raise a one-line error."""
    return _ACTIVATION_CLASSES[canonical_activation(name)].scale_symbol


def display_name(name: str) -> str:
    """The activation in prose and legends ('SIREN (sine)', 'FINER', 'WIRE (real Gabor)', ...);
    unknown names raise a one-line error."""
    return _ACTIVATION_CLASSES[canonical_activation(name)].display_name


def takes_w0(name: str) -> bool:
    """Whether the activation's frequency or scale is a w0 (`scale_symbol`)."""
    return scale_symbol(name) == "w0"


def make_activation(name: str, **kw: float | None) -> Activation:
    """Activation object by name (see ACTIVATIONS); kw: w0 (sine, FINER, WIRE, sinc, H-SIREN),
    scale (gauss), s0 (wire), first_bias_scale (finer)."""
    name = canonical_activation(name)
    if takes_w0(name):
        w0 = kw.pop("w0", 30.0)
        if not w0 > 0:
            raise ValueError(f"w0 must be positive, got {w0}")
        kw["w0"] = w0
    if name == "gauss":
        scale = kw.pop("scale", 10.0)
        if not scale > 0:
            raise ValueError(f"gauss scale must be positive, got {scale}")
        kw["scale"] = scale
    try:
        return _ACTIVATION_CLASSES[name](**kw)
    except TypeError:
        raise ValueError(f"unexpected options {sorted(kw)} for activation {name!r}") from None


# batched linear layer and the ensemble MLP

class BatchedLinear(nn.Module):
    """M independent affine maps u = scale * (h W^T + b): h (M, N, in) -> u (M, N, out)."""

    def __init__(self, models: int, in_features: int, out_features: int,
                 scale: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(models, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(models, 1, out_features))
        self.scale = float(scale)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, h, self.weight.transpose(1, 2), beta=self.scale, alpha=self.scale)

    def scaled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale W^T (M, in, out), scale b (M, 1, out)) for the derivative paths."""
        return self.weight.transpose(1, 2) * self.scale, self.bias * self.scale

    def extra_repr(self) -> str:
        m, o, i = self.weight.shape
        return f"models={m}, in={i}, out={o}, scale={self.scale:g}"


def _seeds(seed, models):
    if isinstance(seed, Integral):
        return [int(seed) + m for m in range(models)]
    seeds = [int(s) for s in seed]
    if len(seeds) != models:
        raise ValueError(f"got {len(seeds)} seeds for {models} models")
    return seeds


class CoordinateMLP(nn.Module):
    """Ensemble of M coordinate MLPs (x, y, t) -> out_features.

    coords (M, N, 3) -> (M, N, out); (N, 3) is shared by all models -> (M, N, out),
    or (N, out) when M == 1. Model m is initialised from torch.Generator seeded with
    seeds[m] alone, so it equals a one-model network built with that seed.
    """

    in_features = 3

    def __init__(self, activation: str, width: int = 256, depth: int = 3, models: int = 1,
                 seed: int | Sequence[int] = 0, out_features: int = 1,
                 **act_kw: float | None) -> None:
        super().__init__()
        for name, value in (("width", width), ("depth", depth), ("models", models), ("out_features", out_features)):
            if not isinstance(value, Integral) or isinstance(value, bool):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if min(width, depth, models, out_features) < 1:
            raise ValueError(f"width, depth, models and out_features must be positive, got width={width}, "
                             f"depth={depth}, models={models}, out_features={out_features}")
        self.act = make_activation(activation, **dict(act_kw))
        self.activation = self.act.name
        self.width, self.depth, self.models, self.out_features = int(width), int(depth), int(models), int(out_features)
        self.config = dict(activation=self.activation, width=self.width, depth=self.depth,
                           out_features=self.out_features, **act_kw)

        sizes = [self.in_features] + [self.width] * (self.depth + 1) + [self.out_features]
        n = len(sizes) - 1
        self.layers = nn.ModuleList(
            BatchedLinear(self.models, i, o, self.act.scale if k < n - 1 else 1.0)
            for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])))

        seeds = _seeds(seed, self.models)
        self.register_buffer("seeds", torch.tensor(seeds, dtype=torch.int64))
        with torch.no_grad():
            for m, s in enumerate(seeds):
                g = torch.Generator().manual_seed(s)
                for k, layer in enumerate(self.layers):
                    self.act.init_(layer.weight[m], layer.bias[m, 0], k, n, g)

    def check_coords(self, coords: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """Validate coords; return them as (B, N, 3) with B in (1, M) and whether to drop M on output."""
        if not torch.is_tensor(coords) or not coords.is_floating_point():
            raise ValueError("coords must be a floating-point tensor")
        if coords.dim() not in (2, 3) or coords.shape[-1] != self.in_features:
            raise ValueError(f"coords must have shape (N, 3) or ({self.models}, N, 3), got {tuple(coords.shape)}")
        if coords.dim() == 3 and coords.shape[0] != self.models:
            raise ValueError(f"coords hold {coords.shape[0]} model batches but the ensemble has {self.models} models")
        w = self.layers[0].weight
        if coords.dtype != w.dtype or coords.device != w.device:
            raise ValueError(f"coords are {coords.dtype} on {coords.device} but the model is {w.dtype} on {w.device}")
        squeeze = coords.dim() == 2 and self.models == 1
        return (coords.unsqueeze(0) if coords.dim() == 2 else coords), squeeze

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        h, squeeze = self.check_coords(coords)
        h = h.expand(self.models, *h.shape[1:])
        for k, layer in enumerate(self.layers[:-1]):
            h = (self.act.first_layer if k == 0 else self.act).fn(layer(h))
        out = self.layers[-1](h)
        return out[0] if squeeze else out

    def member(self, m: int) -> CoordinateMLP:
        """Model m of the ensemble as a new one-model network (a copy)."""
        if not 0 <= m < self.models:
            raise ValueError(f"model index {m} out of range for {self.models} models")
        single = make_model(models=1, seed=int(self.seeds[m]), **self.config)
        single.load_state_dict(member_state_dict(self.state_dict(), m))
        return single.to(self.seeds.device, next(self.parameters()).dtype)

    def extra_repr(self) -> str:
        return f"activation={self.act!r}, models={self.models}"


def member_state_dict(state_dict: Mapping[str, torch.Tensor],
                      m: int) -> dict[str, torch.Tensor]:
    """state_dict of model m of an ensemble: every entry sliced [m:m+1] along dim 0."""
    return {k: v[m:m + 1].clone() for k, v in state_dict.items()}


def make_model(activation: str, width: int = 256, depth: int = 3, models: int = 1,
               seed: int | Sequence[int] = 0, **kw: float | None) -> CoordinateMLP:
    """Ensemble of `models` coordinate MLPs; activation in ACTIVATIONS.

    depth: hidden width x width layers (the reference SIREN's hidden_layers).
    seed: int (model m gets seed + m) or a sequence of `models` ints.
    kw: out_features=1, w0=30 (sine, finer), scale=10 (gauss), first_bias_scale (finer).
    """
    return CoordinateMLP(activation, width=width, depth=depth, models=models, seed=seed, **kw)
