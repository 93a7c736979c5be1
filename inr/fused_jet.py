"""Fused forward jet: the forward Laplacian of inr.derivatives after the first linear layer, as one
compiled C++ kernel (inr/fused_jet.cpp) with the same rules, the same results and a backward.

The eager jet makes several elementwise passes per layer over the whole stream tensor
(M, S, N, width), which outgrows the cache at ensemble sizes. The kernel instead works through
(model, block of points) items, one thread each: per item, every activation's Taylor rule and every
matmul run back to back on (S, block, width) tiles that stay in the core's cache. The only trips to
memory are the inputs, the outputs and the pre-activation streams saved for the backward (written
once, read once); the backward recomputes each activation's streams from them, as the eager path
does.

The kernel is built once per machine and source with the system C++ compiler ($CXX, else c++ or
g++) into $INR_KERNEL_CACHE (default $XDG_CACHE_HOME/inr or ~/.cache/inr) and loaded with
ctypes. It calls the BLAS inside libtorch_cpu and, on x86-64 glibc, libmvec's vector sin, cos and
exp. `kernel()` is None, and inr.derivatives runs the eager jet instead, when INR_NO_FUSION=1 is
set or the build or load fails (one warning line then).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import warnings
from pathlib import Path

import torch

from inr.io import atomic_path

DISABLE_VARIABLE = "INR_NO_FUSION"
CACHE_VARIABLE = "INR_KERNEL_CACHE"
SOURCE = Path(__file__).with_name("fused_jet.cpp")
FLAGS = ("-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-std=c++17", "-shared", "-fPIC")
ACTIVATION_IDS = {"sine": 0, "finer": 1, "gauss": 2, "elu": 3}  # enum Act in fused_jet.cpp
BLOCK_BYTES = 160 * 1024  # target size of one (S, block, width) tile of a work item

_SIZES = ("models", "points", "width", "outs", "cols", "lap", "depth", "act", "block", "threads", "itemsize")


class _JetArgs(ctypes.Structure):
    """struct JetArgs of fused_jet.cpp."""
    _fields_ = [*((name, ctypes.c_int64) for name in _SIZES), ("w0", ctypes.c_double),
                ("u", ctypes.c_void_p), ("a", ctypes.c_void_p),
                ("w", ctypes.POINTER(ctypes.c_void_p)), ("b", ctypes.POINTER(ctypes.c_void_p))]


def _cpu_signature() -> str:
    """What -march=native compiles for: the CPU's feature flags where Linux lists them."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith("flags")), platform.processor())
    except OSError:
        return platform.processor()


def build(source: Path = SOURCE, cache: Path | None = None, compiler: str | None = None) -> Path:
    """Compile `source` into a shared library in `cache` unless it is there already; its path.

    The file name carries a hash of the source, the flags, the compiler, torch and the CPU, so a
    change of any of them builds anew. Concurrent builders each write a temporary file and rename it
    (inr.io.atomic_path).
    Raises OSError or subprocess.CalledProcessError when there is no compiler or the build fails.
    """
    compiler = compiler or os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if not compiler:
        raise FileNotFoundError("no C++ compiler found (set CXX)")
    cache = Path(cache or os.environ.get(CACHE_VARIABLE)
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "inr")
    torch_lib = Path(torch.__file__).parent / "lib"
    key = hashlib.sha256("\n".join([source.read_text(), *FLAGS, compiler, str(torch_lib), torch.__version__,
                                    _cpu_signature()]).encode()).hexdigest()[:16]
    target = cache / f"{source.stem}-{key}.so"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        subprocess.run([compiler, *FLAGS, str(source), "-o", str(tmp), f"-L{torch_lib}", "-ltorch_cpu",
                        f"-Wl,-rpath,{torch_lib}", "-lm"], check=True, capture_output=True, text=True, timeout=600)
    return target


def load(path: Path) -> ctypes.CDLL:
    """The built library with its two entry points typed."""
    lib = ctypes.CDLL(str(path))
    args = ctypes.POINTER(_JetArgs)
    lib.jet_forward.argtypes = [args, ctypes.c_void_p, ctypes.c_void_p]
    lib.jet_backward.argtypes = [args, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)]
    lib.jet_forward.restype = lib.jet_backward.restype = ctypes.c_int
    return lib


_kernel: ctypes.CDLL | None = None
_failed = False


def kernel() -> ctypes.CDLL | None:
    """The loaded kernel, built on first use; None when INR_NO_FUSION=1 or it cannot be built."""
    global _kernel, _failed
    if os.environ.get(DISABLE_VARIABLE) == "1" or _failed:
        return None
    if _kernel is None:
        try:
            _kernel = load(build())
        except (OSError, subprocess.SubprocessError) as err:
            _failed = True
            detail = getattr(err, "stderr", None) or str(err)
            warnings.warn(f"inr.fused_jet: kernel unavailable, using the eager forward jet "
                          f"({detail.strip().splitlines()[0] if detail.strip() else type(err).__name__})",
                          RuntimeWarning, stacklevel=3)
            return None
    return _kernel


def supports(u: torch.Tensor, act) -> bool:
    """Whether the kernel can run a jet whose first pre-activation is u (M, N, W) through `act`."""
    return (u.device.type == "cpu" and u.dtype in (torch.float32, torch.float64) and u.shape[1] > 0
            and getattr(act, "name", None) in ACTIVATION_IDS and kernel() is not None)


def block_points(streams: int, width: int, itemsize: int, points: int) -> int:
    """Points per work item: an (S, block, width) tile of about BLOCK_BYTES, at least 8 points."""
    return max(8, min(points, BLOCK_BYTES // (streams * width * itemsize)))


def _pointers(tensors) -> ctypes.Array:
    return (ctypes.c_void_p * len(tensors))(*(t.data_ptr() for t in tensors))


def _ptr(t: torch.Tensor | None) -> ctypes.c_void_p:
    return ctypes.c_void_p(None if t is None else t.data_ptr())


def _args(u, a, weights, biases, act, lap, block) -> _JetArgs:
    """The kernel's description of one call; its pointer arrays live as long as it does."""
    m, n, width = u.shape
    args = _JetArgs(m, n, width, weights[-1].shape[-1], a.shape[1], int(lap), len(weights) - 1,
                    ACTIVATION_IDS[act.name], block, torch.get_num_threads(), u.element_size(),
                    float(getattr(act, "w0", 0.0)), u.data_ptr(), a.data_ptr())
    args.keep = _pointers(weights), _pointers(biases)
    args.w, args.b = args.keep
    return args


def _check(status: int):
    if status:
        raise RuntimeError(f"inr.fused_jet: the kernel refused its arguments (status {status})")


class _FusedJet(torch.autograd.Function):
    """u (M, N, W), a (M, K, W), then weight (M, W, out) and bias (M, 1, out) of every layer after
    the first -> pre-activation streams (M, S, N, C) of the output, S = 1 + K + lap. With `save`,
    keeps the hidden pre-activation streams (depth, M, S * N * W) for the backward."""

    @staticmethod
    def forward(ctx, u, a, act, lap, block, save, *params):
        u, a, *params = (t.contiguous() for t in (u, a, *params))
        weights, biases = params[0::2], params[1::2]
        m, n, width = u.shape
        streams, depth = 1 + a.shape[1] + lap, len(weights) - 1
        saved = u.new_empty(depth, m, streams * n * width) if save else None
        out = u.new_empty(m, streams, n, weights[-1].shape[-1])
        _check(kernel().jet_forward(ctypes.byref(_args(u, a, weights, biases, act, lap, block)), _ptr(saved),
                                    _ptr(out)))
        ctx.save_for_backward(u, a, *params)
        ctx.streams, ctx.act, ctx.lap, ctx.block = saved, act, lap, block
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        u, a, *params = ctx.saved_tensors
        weights, biases = params[0::2], params[1::2]
        du, da = torch.empty_like(u), torch.empty_like(a)
        dws, dbs = [torch.empty_like(w) for w in weights], [torch.empty_like(b) for b in biases]
        args = _args(u, a, weights, biases, ctx.act, ctx.lap, ctx.block)
        _check(kernel().jet_backward(ctypes.byref(args), _ptr(ctx.streams), _ptr(g.contiguous()), _ptr(du),
                                     _ptr(da), _pointers(dws), _pointers(dbs)))
        return du, da, None, None, None, None, *(d for pair in zip(dws, dbs) for d in pair)


def hidden_jet(u: torch.Tensor, a: torch.Tensor, layers, act, lap: bool) -> torch.Tensor:
    """Jet streams after the last layer, from the first pre-activation's value u (M, N, W) and
    Jacobian columns a (M, K, W) through `act` and the (weight (M, in, out), bias (M, 1, out))
    `layers` after the first. Returns (M, 1 + K + lap, N, out_features), differentiable in u, a
    and the layers. Call only where `supports(u, act)`."""
    params = [p for layer in layers for p in layer]
    block = block_points(1 + a.shape[1] + int(lap), u.shape[-1], u.element_size(), u.shape[1])
    save = torch.is_grad_enabled() and any(t.requires_grad for t in (u, a, *params))
    return _FusedJet.apply(u, a, act, bool(lap), int(block), save, *params)
