"""Fused forward jet: the forward Laplacian of inr.model.derivatives after the first linear layer, as one
compiled C++ kernel (inr/model/fused_jet.cpp) with the same rules, the same results and a backward.

The eager jet makes several elementwise passes per layer over the whole stream tensor
(M, S, N, width), which outgrows the cache at ensemble sizes. The kernel instead works through
(model, block of points) items, one thread each: per item, every activation's Taylor rule and every
matmul run back to back on (S, block, width) tiles that stay in the core's cache. The only trips to
memory are the inputs, the outputs and the pre-activation streams saved for the backward (written
once, read once); the backward recomputes each activation's streams from them, as the eager path
does.

Determinism: the results do not depend on the number of threads, nor on which thread ran what. The
forward computes each item's outputs on its own; the backward sums each model's parameter
gradients over its blocks in a fixed partition (GROUPS in fused_jet.cpp) in a fixed order. They
depend, at round-off level, on the number of points and the points per block (`block_points`: from
the dtype, the width and the streams), on the compiled code (compiler, flags, CPU) and on MKL's code
path for the CPU.

Build: once per machine, source, compiler and flags, with the system C++ compiler ($CXX, else c++
or g++), into the first directory that has the library or can be written: $INR_KERNEL_CACHE (else
$XDG_CACHE_HOME/inr, else ~/.cache/inr where there is a home directory), then
<temp dir>/inr-kernel-<uid>, used only while it is this user's own. One process builds at a time,
holding a lock on <library>.lock beside the library; the others wait, then load its result. A
build that was killed leaves a temporary file, which the next build removes.
$INR_KERNEL_MARCH sets the -march flag: native where it is unset, none with "none" (the compiler's
default), else -march=$INR_KERNEL_MARCH (x86-64-v2, ...), e.g. to test other vector paths.

The library is loaded with ctypes after checking that its calling convention is this module's
(LAYOUT_VERSION, the layout of _JetArgs, ACTIVATION_IDS). It calls the BLAS inside libtorch_cpu
and, on x86-64 glibc, libmvec's vector sin, cos and exp.

Use: `prepare()` builds and loads the kernel now (else the first `kernel()` does) and says why it
is unavailable ("" when it is available); `unsupported()` adds the cases the kernel does not serve
(a device, dtype or activation). `kernel()` is None, and inr.model.derivatives runs the eager jet
instead, when INR_NO_FUSION=1 is set (silently) or the build, the load or the layout check
fails (one RuntimeWarning line per process then). `reset()` forgets the outcome, for tests.
"""
from __future__ import annotations

import ctypes
import fcntl
import hashlib
import os
import platform
import shutil
import stat
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from inr.io import atomic_path, stale_temporaries

if TYPE_CHECKING:
    from inr.model.networks import Activation

DISABLE_VARIABLE = "INR_NO_FUSION"
CACHE_VARIABLE = "INR_KERNEL_CACHE"
MARCH_VARIABLE = "INR_KERNEL_MARCH"
SOURCE = Path(__file__).with_name("fused_jet.cpp")
# -fno-trapping-math (no floating-point traps: values unchanged) lets GCC vectorize the loops
# that select per element (sinc's series or closed form, ELU's two sides): sinc's forward and
# backward 15% faster, ELU's 17%
FLAGS = ("-O3", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-std=c++17", "-shared",
         "-fPIC")  # -march: compile_flags()
BUILD_TIMEOUT = 600  # seconds
LAYOUT_VERSION = 2  # of the calling convention: LAYOUT_VERSION in fused_jet.cpp
# The kernel's Taylor rule (enum Act in fused_jet.cpp) of each Activation.name it serves: H-SIREN's
# hidden activations are SIREN's (HSiren.taylor is Sine's), its first ("hsiren-first", HSinhSine)
# has its own rule.
ACTIVATION_IDS = {"sine": 0, "finer": 1, "gauss": 2, "elu": 3, "wire": 4, "sinc": 5, "hsiren": 0,
                  "hsiren-first": 6}
BLOCK_BYTES = 160 * 1024  # target size of one (S, block, width) tile of a work item

_SIZES = ("models", "points", "width", "outs", "cols", "lap", "depth", "act", "first_act", "block",
          "threads", "itemsize")


class _JetArgs(ctypes.Structure):
    """struct JetArgs of fused_jet.cpp."""
    _fields_ = [*((name, ctypes.c_int64) for name in _SIZES), ("w0", ctypes.c_double),
                ("r2", ctypes.c_double),
                ("u", ctypes.c_void_p), ("a", ctypes.c_void_p),
                ("w", ctypes.POINTER(ctypes.c_void_p)), ("b", ctypes.POINTER(ctypes.c_void_p))]


def compile_flags() -> tuple[str, ...]:
    """FLAGS and -march=$INR_KERNEL_MARCH: native where it is unset, no -march flag where it is "none"."""
    march = os.environ.get(MARCH_VARIABLE) or "native"
    return FLAGS if march == "none" else (*FLAGS, f"-march={march}")


def cache_dirs() -> list[Path]:
    """Where the kernel may be built, first choice first: $INR_KERNEL_CACHE, else $XDG_CACHE_HOME/inr,
    else ~/.cache/inr where there is a home directory; then <temp dir>/inr-kernel-<uid>."""
    if os.environ.get(CACHE_VARIABLE):
        dirs = [Path(os.environ[CACHE_VARIABLE])]
    elif os.environ.get("XDG_CACHE_HOME"):
        dirs = [Path(os.environ["XDG_CACHE_HOME"]) / "inr"]
    else:
        try:
            dirs = [Path.home() / ".cache" / "inr"]
        except RuntimeError:  # HOME unset and a user id the system does not know
            dirs = []
    return [*dirs, _temp_cache()]


def _temp_cache() -> Path:
    return Path(tempfile.gettempdir()) / f"inr-kernel-{os.getuid()}"


def _make_cache(directory: Path) -> None:
    """Make `directory` unless it exists. OSError where that fails, and in the shared temporary
    directory where it is not this user's own (another user could have put a library there)."""
    if directory != _temp_cache():
        directory.mkdir(parents=True, exist_ok=True)
        return
    directory.mkdir(mode=0o700, exist_ok=True)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise PermissionError(f"{directory} is not a directory of this user's own")


def _cpu_signature() -> str:
    """What -march=native compiles for: the CPU's feature flags where Linux lists them."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith("flags")), platform.processor())
    except OSError:
        return platform.processor()


def _torch_lib() -> Path:
    return Path(torch.__file__).parent / "lib"


def _library_name(source: Path, compiler: str, flags: tuple[str, ...]) -> str:
    """<stem>-<hash of the source, the flags, the compiler, torch and, for -march=native, the CPU>.so"""
    cpu = [_cpu_signature()] if "-march=native" in flags else []
    key = "\n".join([source.read_text(), *flags, compiler, str(_torch_lib()), torch.__version__, *cpu])
    return f"{source.stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.so"


def _compile(compiler: str, flags: tuple[str, ...], source: Path, target: Path) -> None:
    """Compile `source` into `target`, first removing the temporary files of a killed build of it.
    Call it holding the lock of `target`: no other build of it can be running then."""
    for tmp in stale_temporaries(target):
        tmp.unlink(missing_ok=True)
    torch_lib = _torch_lib()
    with atomic_path(target) as tmp:
        subprocess.run([compiler, *flags, str(source), "-o", str(tmp), f"-L{torch_lib}", "-ltorch_cpu",
                        f"-Wl,-rpath,{torch_lib}", "-lm"], check=True, capture_output=True, text=True,
                       timeout=BUILD_TIMEOUT)


def build(source: Path = SOURCE, cache: Path | None = None, compiler: str | None = None) -> Path:
    """Compile `source` into a shared library unless it is built already; its path. In `cache`
    where given, else in the first of cache_dirs() that has it built or can be written.

    The file name carries a hash of the source, the flags, the compiler and torch (and the CPU for
    -march=native), so a change of any of them builds anew. A build holds an exclusive lock on
    <library>.lock beside the library: concurrent callers wait for it, then find the library built.
    Raises OSError or subprocess.SubprocessError where there is no compiler, no usable directory or
    the build fails.
    """
    compiler = compiler or os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if not compiler:
        raise FileNotFoundError("no C++ compiler found (set CXX)")
    flags = compile_flags()
    name = _library_name(source, compiler, flags)
    unusable = []
    for directory in [Path(cache)] if cache else cache_dirs():
        target = directory / name
        try:
            _make_cache(directory)
            if target.exists():
                return target
            lock = open(directory / f"{name}.lock", "a")
        except OSError as err:
            unusable.append(f"{directory}: {err.strerror or err}")
            continue
        with lock:  # closing it releases the lock, and so does the death of the process
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not target.exists():
                _compile(compiler, flags, source, target)
        return target
    raise OSError(f"no usable kernel cache ({'; '.join(unusable)})")


def load(path: Path) -> ctypes.CDLL:
    """The built library with its entry points typed."""
    lib = ctypes.CDLL(str(path))
    args = ctypes.POINTER(_JetArgs)
    lib.jet_forward.argtypes = [args, ctypes.c_void_p, ctypes.c_void_p]
    lib.jet_backward.argtypes = [args, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)]
    lib.jet_forward.restype = lib.jet_backward.restype = ctypes.c_int
    lib.jet_args_offset.argtypes = lib.jet_activation_id.argtypes = [ctypes.c_char_p]
    for check in (lib.jet_layout_version, lib.jet_args_size, lib.jet_args_offset, lib.jet_activation_id):
        check.restype = ctypes.c_int64
    return lib


def _layout_mismatch(lib: ctypes.CDLL) -> str:
    """What differs between the calling conventions of `lib` and of this module; "" if nothing."""
    version = lib.jet_layout_version()
    if version != LAYOUT_VERSION:
        return f"kernel version {version}, LAYOUT_VERSION {LAYOUT_VERSION}"
    if lib.jet_args_size() != ctypes.sizeof(_JetArgs):
        return f"JetArgs has {lib.jet_args_size()} bytes, _JetArgs {ctypes.sizeof(_JetArgs)}"
    for field, _ in _JetArgs._fields_:
        offset, expected = lib.jet_args_offset(field.encode()), getattr(_JetArgs, field).offset
        if offset != expected:
            return f"JetArgs.{field} at offset {offset}, _JetArgs.{field} at {expected}"
    for name, expected in ACTIVATION_IDS.items():
        value = lib.jet_activation_id(name.encode())
        if value != expected:
            return f"activation {name!r} is {value} in enum Act, {expected} in ACTIVATION_IDS"
    return ""


def _first_line(text: str) -> str:
    """The first line of `text` that names an error, else its first nonblank line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return next((line for line in lines if "error" in line.lower()), lines[0] if lines else "")


def _failure(err: Exception) -> str:
    """What went wrong, in one line: the compiler's first error line where it failed."""
    if isinstance(err, subprocess.CalledProcessError):
        return _first_line(err.stderr or "") or f"exit status {err.returncode}"
    if isinstance(err, subprocess.TimeoutExpired):
        return f"no result after {err.timeout:g} s"
    return _first_line(str(err)) or type(err).__name__


def _load_kernel() -> tuple[ctypes.CDLL | None, str]:
    """(the kernel, "") or (None, why not)."""
    try:
        path = build()
    except Exception as err:  # whatever fails here, the eager jet remains
        return None, f"build failed: {_failure(err)}"
    try:
        lib = load(path)
        mismatch = _layout_mismatch(lib)
    except Exception as err:
        return None, f"load failed: {_failure(err)}"
    return (None, f"layout mismatch: {mismatch}") if mismatch else (lib, "")


_state_lock = threading.Lock()  # one prepare() at a time in this process
_kernel: ctypes.CDLL | None = None
_reason: str | None = None  # None: not tried yet; "": _kernel is loaded; else why it is not


def prepare() -> str:
    """Build and load the kernel unless that was tried already; "" where it is usable, else why not,
    in one line: "INR_NO_FUSION=1", "build failed: no C++ compiler found (set CXX)", "build
    failed: <the compiler's first error line>", "load failed: ...", "layout mismatch: ...".

    A failure warns (one RuntimeWarning) when it happens and is remembered: later calls answer the
    same without building again, until reset(). INR_NO_FUSION=1 is read at every call, and neither
    warns nor builds.
    """
    global _kernel, _reason
    if os.environ.get(DISABLE_VARIABLE) == "1":
        return f"{DISABLE_VARIABLE}=1"
    if _reason is not None:  # settled: every later call (one per derivative pass) ends here
        return _reason
    with _state_lock:
        if _reason is None:
            _kernel, _reason = _load_kernel()
            if _reason:
                warnings.warn(f"inr.model.fused_jet: kernel unavailable, using the eager forward jet ({_reason})",
                              RuntimeWarning, stacklevel=2)
    return _reason


def kernel() -> ctypes.CDLL | None:
    """The loaded kernel, built on first use; None when prepare() gives a reason."""
    return None if prepare() else _kernel


def reset() -> None:
    """Forget the loaded kernel and any failure: the next kernel() or prepare() builds (or finds the
    library built) and loads again. For tests; a library once loaded stays in the process."""
    global _kernel, _reason
    with _state_lock:
        _kernel, _reason = None, None


def unsupported(device: torch.device, dtype: torch.dtype, activation: str | None) -> str:
    """Why the kernel cannot run a jet on `device` in `dtype` through the activation named
    `activation` (Activation.name), in one line; "" where it can (prepare() builds it now if
    that was not tried yet)."""
    if device.type != "cpu":
        return f"the fused kernel runs on the CPU, not on {device.type}"
    if dtype not in (torch.float32, torch.float64):
        return f"the fused kernel takes float32 or float64, not {dtype}"
    if activation not in ACTIVATION_IDS:
        return f"the fused kernel has no activation {activation!r}"
    return prepare()


def _first(act: Activation) -> Activation:
    """The activation of the first layer (Activation.first_layer: `act` itself but for H-SIREN)."""
    return getattr(act, "first_layer", act)


def _parameters(act: Activation) -> tuple[float, float]:
    """The kernel's real parameters of `act`: JetArgs.w0 and JetArgs.r2 (0 where it has none)."""
    return float(getattr(act, "w0", 0.0)), float(getattr(act, "r2", 0.0))


def supports(u: torch.Tensor, act: Activation) -> bool:
    """Whether the kernel can run a jet whose first pre-activation is u (M, N, W) through `act`:
    through its first layer's activation too, which must take the same w0 and r2 (one pair a
    call)."""
    first = _first(act)
    return (u.shape[1] > 0 and not unsupported(u.device, u.dtype, getattr(act, "name", None))
            and getattr(first, "name", None) in ACTIVATION_IDS
            and _parameters(first) == _parameters(act))


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
                    ACTIVATION_IDS[act.name], ACTIVATION_IDS[_first(act).name], block,
                    torch.get_num_threads(), u.element_size(), *_parameters(act), u.data_ptr(),
                    a.data_ptr())
    args.keep = _pointers(weights), _pointers(biases)
    args.w, args.b = args.keep
    return args


def _check(status: int):
    if status:
        raise RuntimeError(f"inr.model.fused_jet: the kernel refused its arguments (status {status})")


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
        g = g.contiguous()  # held while the kernel reads it (a temporary's pointer would dangle)
        _check(kernel().jet_backward(ctypes.byref(args), _ptr(ctx.streams), _ptr(g), _ptr(du),
                                     _ptr(da), _pointers(dws), _pointers(dbs)))
        return du, da, None, None, None, None, *(d for pair in zip(dws, dbs) for d in pair)


def hidden_jet(u: torch.Tensor, a: torch.Tensor,
               layers: Sequence[tuple[torch.Tensor, torch.Tensor]], act: Activation,
               lap: bool) -> torch.Tensor:
    """Jet streams after the last layer, from the first pre-activation's value u (M, N, W) and
    Jacobian columns a (M, K, W) through `act` (act.first_layer at the first activation) and the
    (weight (M, in, out), bias (M, 1, out)) `layers` after the first. Returns (M, 1 + K + lap, N,
    out_features), differentiable in u, a and the layers. Call only where `supports(u, act)`."""
    params = [p for layer in layers for p in layer]
    block = block_points(1 + a.shape[1] + int(lap), u.shape[-1], u.element_size(), u.shape[1])
    save = torch.is_grad_enabled() and any(t.requires_grad for t in (u, a, *params))
    return _FusedJet.apply(u, a, act, bool(lap), int(block), save, *params)
