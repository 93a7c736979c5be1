"""Spatial gradient, spatial Laplacian and time derivative of coordinate MLPs.

Three methods, all differentiable with respect to the parameters (so derivative
losses train the network):

- "autograd": nested reverse mode as in the reference SIREN code: the gradient
  with create_graph=True, then one more backward pass per spatial dimension.
- "forward": forward Laplacian / collapsed Taylor mode (Li et al. 2023,
  Dangel et al. 2024). The value, the requested Jacobian columns and the Laplacian
  travel through the network together as streams of one tensor (M, S, N, width),
  so each layer is one batched matmul over all streams. For h = f(u), u = W h' + b:

      J_u = W J_h'    L_u = W L_h'    J_h = f'(u) J_u    L_h = f'(u) L_u + f''(u) (J_u,x^2 + J_u,y^2)

  Only the streams that `which` needs are carried (see `jet_streams`). Each activation
  and the linear map after it form one autograd.Function with a hand-written backward
  that saves only the pre-activation streams and recomputes the Taylor coefficients and
  h from them; the first layer keeps its Jacobian columns as weight rows (constant in N)
  and never stores the zero input Laplacian.
- "fused" (default): the same jet and backward, with everything after the first linear
  layer in the compiled kernel of inr.model.fused_jet, which keeps its work in cache. Where the
  kernel is unavailable (INR_NO_FUSION=1, no compiler) or does not apply (CUDA, dtypes
  other than float32/float64, an activation it does not know) it runs the "forward" code.

Speed and memory against the nested reference: README, "Speed and memory", and
benchmarks/derivatives.py.

Coordinates are (x, y, t) in the last dim, derivatives are in coordinate units.
Results: value (..., N), grad (..., N, 2) as (d/dx, d/dy), laplacian (..., N), dt
(..., N), with "..." = (M,) unless a one-model network is fed (N, 3); out_features
> 1 adds a channel dim after N (grad (..., N, C, 2)).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch

from inr.model import fused_jet
from inr.vocabulary import FIELDS, JET_STREAMS, STREAM_INPUT

if TYPE_CHECKING:
    from inr.model.networks import CoordinateMLP

DERIVATIVE_METHODS = ("fused", "forward", "autograd")


def _check_which(which):
    which = (which,) if isinstance(which, str) else tuple(which)
    unknown = [w for w in which if w not in FIELDS]
    if unknown or not which:
        raise ValueError(f"unknown derivative keys {unknown or which}, expected a non-empty subset of {FIELDS}")
    return tuple(dict.fromkeys(which))


def jet_streams(which: str | Iterable[str] = FIELDS) -> tuple[str, ...]:
    """Jet streams (inr.vocabulary.JET_STREAMS) the forward path propagates for the fields
    `which`, in stored order.

    "value" always (activations need it); "dx", "dy" for grad or laplacian;
    "dt" for dt; "lap" for laplacian.  jet_streams(("laplacian",)) -> ("value", "dx", "dy", "lap").
    """
    which = _check_which(which)
    need = {"value"}
    if "grad" in which or "laplacian" in which:
        need |= {"dx", "dy"}
    if "dt" in which:
        need.add("dt")
    if "laplacian" in which:
        need.add("lap")
    return tuple(s for s in JET_STREAMS if s in need)


# forward Laplacian: elementwise rules for one activation, as pure functions.
# t = act.signed_taylor(u, order): t[k] * sign[k] = f^(k)(u), so sin'' = -sin costs no negation.

def _sq_xy(jx, jy):
    """J_x^2 + J_y^2, the spatial term of the Laplacian rule."""
    return (jx * jx).addcmul_(jy, jy)


def _jet(z, t, sign, lap, out=None):
    """h streams (M, S, N, W) from pre-activation streams z: value, Jacobian columns, Laplacian last."""
    h = torch.empty_like(z) if out is None else out
    h[:, 0].copy_(t[0])
    if z.shape[1] > 1:
        torch.mul(z[:, 1:], t[1].unsqueeze(1), out=h[:, 1:])          # f' J_z and f' L_z
    if lap:
        h[:, -1].addcmul_(t[2], _sq_xy(z[:, 1], z[:, 2]), value=sign[2])
    return h


def _jet_backward_(g, z, t, sign, lap):
    """Overwrite g = dloss/dh (M, S, N, W) with dloss/dz."""
    streams = z.shape[1]
    g0 = g[:, 0].mul_(t[1])
    if streams > 1:                                                    # d/du of f'(u) z_k
        acc = g[:, 1] * z[:, 1]
        for k in range(2, streams):
            acc.addcmul_(g[:, k], z[:, k])
        g0.addcmul_(t[2], acc, value=sign[2])
    if lap:                                                            # d/du, d/dz_x,y of f''(u) q
        gl = g[:, -1] * t[2]
        g0.addcmul_(g[:, -1] * t[3], _sq_xy(z[:, 1], z[:, 2]), value=sign[3])
    if streams > 1:
        g[:, 1:].mul_(t[1].unsqueeze(1))
    if lap:
        g[:, 1].addcmul_(gl, z[:, 1], value=2 * sign[2])
        g[:, 2].addcmul_(gl, z[:, 2], value=2 * sign[2])
    return g


def _jet_first(u, a, t, sign, lap, out=None):
    """h streams of the first activation. u (M, N, W) value pre-activation; a (M, K, 1, W)
    its Jacobian columns, constant in N; the Laplacian before it is 0."""
    m, n, width = u.shape
    k = a.shape[1]
    h = u.new_empty(m, 1 + k + lap, n, width) if out is None else out
    h[:, 0].copy_(t[0])
    if k:
        torch.mul(a, t[1].unsqueeze(1), out=h[:, 1:1 + k])
    if lap:
        torch.mul(t[2], _sq_xy(a[:, 0], a[:, 1]).mul_(sign[2]), out=h[:, -1])
    return h


def _jet_first_backward(g, u, a, t, sign, lap):
    """dloss/du (M, N, W) and dloss/da (M, K, 1, W) from g = dloss/dh."""
    k = a.shape[1]
    du = g[:, 0] * t[1]
    da = torch.stack([(g[:, 1 + j] * t[1]).sum(1, keepdim=True) for j in range(k)], dim=1) if k else \
        torch.zeros_like(a)
    if k:
        acc = g[:, 1] * a[:, 0]
        for j in range(1, k):
            acc.addcmul_(g[:, 1 + j], a[:, j])
        du.addcmul_(t[2], acc, value=sign[2])
    if lap:
        gl = g[:, -1]
        du.addcmul_(gl * t[3], _sq_xy(a[:, 0], a[:, 1]), value=sign[3])
        glf2 = (gl * t[2]).sum(1, keepdim=True) * (2 * sign[2])
        da[:, :2] += glf2.unsqueeze(1) * a[:, :2]
    return du, da


def _linear(h, w, b):
    """(M, S, N, in) @ w (M, in, out), + b (M, 1, out) on the value stream."""
    m, s, n, _ = h.shape
    out = torch.bmm(h.view(m, s * n, -1), w).view(m, s, n, -1)
    out[:, 0].add_(b)
    return out


def _linear_backward(h, g, w):
    """dloss/dh, dloss/dw, dloss/db of `_linear` from g = dloss/dout; dloss/dh overwrites h."""
    m, s, n, _ = h.shape
    flat = g.view(m, s * n, -1)
    dw = torch.bmm(h.view(m, s * n, -1).transpose(1, 2), flat)
    db = g[:, 0].sum(1, keepdim=True)
    if w.shape[-1] == 1:                                   # outer product: a broadcast beats a K=1 bmm
        dh = torch.mul(g, w.transpose(1, 2).unsqueeze(1), out=h)
    else:
        dh = torch.bmm(flat, w.transpose(1, 2), out=h.view(m, s * n, -1)).view(m, s, n, -1)
    return dh, dw, db


class _Workspace:
    """Scratch for the activation streams h of one forward pass: h dies right after its
    matmul, so every layer reuses one buffer instead of allocating (and page-faulting) anew."""

    def __init__(self, like):
        self.like, self.buffer = like, None

    def get(self, shape):
        if self.buffer is None or self.buffer.shape != shape:
            self.buffer = self.like.new_empty(shape)
        return self.buffer


class _JetLayer(torch.autograd.Function):
    """Activation then linear map on all streams: z (M, S, N, in) -> (M, S, N, out).

    z holds pre-activation streams (value with bias, Jacobian columns, Laplacian last if
    `lap`; the x and y columns at 1, 2). Only z is saved: the backward recomputes the
    Taylor coefficients and h from it rather than keeping h for the weight gradient.
    """

    @staticmethod
    def forward(ctx, z, w, b, act, lap, workspace):
        t, sign = act.signed_taylor(z[:, 0], 2 if lap else 1 if z.shape[1] > 1 else 0)
        ctx.save_for_backward(z, w)
        ctx.act, ctx.lap = act, lap
        return _linear(_jet(z, t, sign, lap, out=workspace.get(z.shape)), w, b)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        z, w = ctx.saved_tensors
        t, sign = ctx.act.signed_taylor(z[:, 0], 3 if ctx.lap else 2 if z.shape[1] > 1 else 1)
        dh, dw, db = _linear_backward(_jet(z, t, sign, ctx.lap), g.contiguous(), w)
        return _jet_backward_(dh, z, t, sign, ctx.lap), dw, db, None, None, None


class _FirstJetLayer(torch.autograd.Function):
    """First activation then linear map: u (M, N, in), a (M, K, 1, in) -> (M, 1 + K + lap, N, out).

    The first pre-activation's Jacobian columns a are rows of the first weight, constant in
    N, so they stay (M, K, 1, in) and the zero Laplacian is never stored. Saves u and a.
    """

    @staticmethod
    def forward(ctx, u, a, w, b, act, lap, workspace):
        t, sign = act.signed_taylor(u, 2 if lap else 1 if a.shape[1] else 0)
        ctx.save_for_backward(u, a, w)
        ctx.act, ctx.lap = act, lap
        m, n, width = u.shape
        h = workspace.get((m, 1 + a.shape[1] + lap, n, width))
        return _linear(_jet_first(u, a, t, sign, lap, out=h), w, b)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        u, a, w = ctx.saved_tensors
        t, sign = ctx.act.signed_taylor(u, 3 if ctx.lap else 2 if a.shape[1] else 1)
        dh, dw, db = _linear_backward(_jet_first(u, a, t, sign, ctx.lap), g.contiguous(), w)
        du, da = _jet_first_backward(dh, u, a, t, sign, ctx.lap)
        return du, da, dw, db, None, None, None


def _eager_hidden_jet(u, a, layers, act, lap):
    """Streams (M, S, N, out) after `layers` (scaled (weight, bias) pairs) from the first
    pre-activation's value u (M, N, W) and Jacobian columns a (M, K, W)."""
    workspace = _Workspace(u)
    (w, b), *rest = layers
    z = _FirstJetLayer.apply(u, a.unsqueeze(2), w, b, act.first_layer, lap, workspace)
    for w, b in rest:
        z = _JetLayer.apply(z, w, b, act, lap, workspace)
    return z


def forward_jet(model: CoordinateMLP, coords: torch.Tensor, which: str | Iterable[str] = FIELDS,
                fused: bool = True) -> dict[str, torch.Tensor]:
    """Propagate the streams `jet_streams(which)` through `model` in one pass.

    coords (N, 3) or (M, N, 3) -> dict stream name -> (M, N, out_features).
    fused: run the layers after the first through the compiled kernel of inr.model.fused_jet where it
    supports the model and its inputs; otherwise, or with fused=False, through the eager layers.
    """
    names = jet_streams(which)
    x, _ = model.check_coords(coords)
    m, lap = model.models, "lap" in names
    w, b = model.layers[0].scaled()
    u = torch.baddbmm(b, x.expand(m, *x.shape[1:]), w)                     # (M, N, width)
    dims = [STREAM_INPUT[s] for s in names if s in STREAM_INPUT]  # increasing and contiguous
    a = w[:, dims[0]:dims[0] + len(dims)].contiguous() if dims else w[:, :0]  # (M, K, width)
    # du/d(x, y, t) by a slice: an index list would be copied to an accelerator at every call
    layers = [layer.scaled() for layer in model.layers[1:]]
    if fused and fused_jet.supports(u, model.act):
        z = fused_jet.hidden_jet(u, a, layers, model.act, lap)
    else:
        z = _eager_hidden_jet(u, a, layers, model.act, lap)
    return {name: z[:, k] for k, name in enumerate(names)}


def _forward_derivatives(model, coords, which, fused):
    jet = forward_jet(model, coords, which, fused)
    out = {}
    for key in which:
        if key == "value":
            out[key] = jet["value"]
        elif key == "grad":
            out[key] = torch.stack([jet["dx"], jet["dy"]], dim=-1)
        elif key == "laplacian":
            out[key] = jet["lap"]
        else:
            out[key] = jet["dt"]
    return out


def _autograd_derivatives(model, coords, which):
    x, _ = model.check_coords(coords)
    x = x.expand(model.models, *x.shape[1:]).clone()     # per-model copy: d/dx must not sum over models
    if not x.requires_grad:
        x.requires_grad_(True)
    y = model(x)                                          # (M, N, C)
    need_grad = any(k in which for k in ("grad", "laplacian", "dt"))
    parts = {k: [] for k in which}
    for c in range(y.shape[-1]):
        yc = y[..., c]
        if need_grad:
            g = torch.autograd.grad(yc.sum(), x, create_graph=True)[0]
        for key in which:
            if key == "value":
                parts[key].append(yc)
            elif key == "grad":
                parts[key].append(g[..., :2])
            elif key == "dt":
                parts[key].append(g[..., 2])
            else:
                parts[key].append(sum(torch.autograd.grad(g[..., d].sum(), x, create_graph=True)[0][..., d]
                                      for d in (0, 1)))
    return {k: torch.stack(v, dim=2) for k, v in parts.items()}   # channel dim after N


def resolve_method(method: str, device: torch.device, dtype: torch.dtype,
                   activation: str) -> tuple[str, str]:
    """(the method that runs for `method` on `device` in `dtype` through the activation named
    `activation` (the network's Activation.name, aliases resolved), why it differs from `method`
    or "" where it does not). "fused" runs where the kernel serves the case and builds (this
    builds it now, once per process); elsewhere "forward" runs, with the kernel's reason
    (inr.model.fused_jet.unsupported)."""
    if method not in DERIVATIVE_METHODS:
        raise ValueError(f"unknown method {method!r}, expected one of {DERIVATIVE_METHODS}")
    if method != "fused":
        return method, ""
    reason = fused_jet.unsupported(device, dtype, activation)
    return ("forward", reason) if reason else ("fused", "")


def derivatives(model: CoordinateMLP, coords: torch.Tensor, which: str | Iterable[str] = FIELDS,
                method: str = "fused") -> dict[str, torch.Tensor]:
    """Value and derivatives of `model` at coords (N, 3) or (M, N, 3) holding (x, y, t).

    which: a key or a subset of inr.vocabulary.FIELDS; only those keys are returned, in that order.
    method: "fused" (forward Laplacian through the compiled kernel of inr.model.fused_jet where it
    supports the model and its inputs, else through the eager jet; default), "forward" (the
    eager forward Laplacian, the reference of the fused one) or "autograd" (nested reference).
    Returns value (..., N), grad (..., N, 2), laplacian (..., N), dt (..., N); every
    entry is differentiable w.r.t. the parameters. Under torch.no_grad() the results
    are plain tensors (the autograd path still differentiates inside, then detaches).
    """
    which = _check_which(which)
    if method not in DERIVATIVE_METHODS:
        raise ValueError(f"unknown method {method!r}, expected one of {DERIVATIVE_METHODS}")
    _, squeeze = model.check_coords(coords)
    if method != "autograd":
        out = _forward_derivatives(model, coords, which, fused=method == "fused")
    else:
        grad_enabled = torch.is_grad_enabled()
        with torch.enable_grad():
            out = _autograd_derivatives(model, coords, which)
        if not grad_enabled:
            out = {k: v.detach() for k, v in out.items()}
    for key, v in out.items():
        if model.out_features == 1:
            v = v.squeeze(2)                               # drop the channel dim: (M, N, 1, ...) -> (M, N, ...)
        out[key] = v[0] if squeeze else v
    return out
