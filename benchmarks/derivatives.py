"""Time one full-derivative training step: nested autograd vs the forward-Laplacian paths.

Methods (inr.model.derivatives.DERIVATIVE_METHODS): "fused" (the compiled kernel of inr.model.fused_jet), "forward"
(the eager forward jet it is checked against) and "autograd" (nested reverse mode).

A step is: value, grad, Laplacian and d/dt at N random points, four MSE losses against
random targets, backward to the parameters and (unless --no-adam) an Adam step.

    python benchmarks/derivatives.py            # full table
    python benchmarks/derivatives.py --quick    # 4096 points only, fewer repeats

Measurements, all in one run so the methods share the machine's state:
- time: median over interleaved repeats (method A, method B, A, B, ...) after warm-up.
- GFLOP: matmul FLOPs of one step counted by torch.utils.flop_counter (forward and
  backward, each method its own; the fused kernel's BLAS calls bypass the dispatcher and
  are those of the eager forward jet, so "fused" gets its count); GFLOP/s = GFLOP / median
  time, and "% sgemm" compares that with a large sgemm timed at the start of the run.
- peak MB: extra memory one step needs above the steady state (model, Adam state and
  inputs resident). CUDA: torch.cuda.max_memory_allocated. CPU: each method runs in a
  fresh subprocess with glibc's mmap threshold fixed at 128 kB, so freed tensors go back
  to the OS and the resident set tracks live memory; after one warm-up step the kernel's
  high-water mark is reset (/proc/self/clear_refs) and peak = VmHWM - VmRSS around a step.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from inr.model import fused_jet
from inr.model.derivatives import DERIVATIVE_METHODS, derivatives
from inr.vocabulary import FIELDS
from inr.model.networks import make_model

# (width, depth, models, points): SIREN 3 -> width x depth -> 1
FULL = [(256, 3, 1, 4096), (256, 3, 1, 16384), (64, 3, 1, 4096), (64, 3, 1, 16384),
        (64, 3, 8, 4096), (64, 3, 8, 16384)]
QUICK = [(256, 3, 1, 4096), (64, 3, 1, 4096), (64, 3, 8, 4096)]


def sgemm_gflops(device, n=2048, repeats=5):
    """Best-of rate of an n x n float32 matmul, GFLOP/s."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = float("inf")
    for _ in range(repeats + 1):
        _sync(device)
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def setup(width, depth, models, points, device, adam, seed=0):
    torch.manual_seed(seed)
    model = make_model("sine", width=width, depth=depth, models=models, seed=seed).to(device)
    shape = (points, 3) if models == 1 else (models, points, 3)
    x = torch.rand(shape, device=device) * 2 - 1
    with torch.no_grad():
        targets = {k: torch.randn_like(v) for k, v in derivatives(model, x).items()}
    opt = torch.optim.Adam(model.parameters(), lr=1e-4) if adam else None
    return model, x, targets, opt


def train_step(model, x, targets, opt, method):
    out = derivatives(model, x, FIELDS, method=method)
    loss = sum(F.mse_loss(out[k], targets[k]) for k in FIELDS)
    model.zero_grad(set_to_none=True)
    loss.backward()
    if opt is not None:
        opt.step()


class MatmulFlops(TorchDispatchMode):
    """Counts matmul FLOPs of every op dispatched inside it (torch.utils.flop_counter's formulas).

    FlopCounterMode itself cannot be used: its module hooks break torch.autograd.grad."""

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        return out


def matmul_gflop(args, method):
    with MatmulFlops() as counter:
        train_step(*args, "forward" if method == "fused" else method)
    return counter.flops / 1e9


def time_methods(args, repeats, warmup=2):
    """Median seconds per step of each method, interleaved."""
    for method in DERIVATIVE_METHODS:
        for _ in range(warmup):
            train_step(*args, method)
    times = {m: [] for m in DERIVATIVE_METHODS}
    device = args[1].device
    for _ in range(repeats):
        for method in DERIVATIVE_METHODS:
            _sync(device)
            t = time.perf_counter()
            train_step(*args, method)
            _sync(device)
            times[method].append(time.perf_counter() - t)
    return {m: sorted(v)[len(v) // 2] for m, v in times.items()}


def _status_kb(field):
    return int(re.search(rf"{field}:\s+(\d+)", open("/proc/self/status").read()).group(1))


def peak_memory_worker(width, depth, models, points, method, adam):
    """Runs inside a fresh process: MB one step needs above the steady state."""
    args = setup(width, depth, models, points, "cpu", adam)
    train_step(*args, method)
    open("/proc/self/clear_refs", "w").write("5")      # reset the high-water mark to the current RSS
    before = _status_kb("VmRSS")
    train_step(*args, method)
    return (_status_kb("VmHWM") - before) / 1024


def peak_memory(config, method, adam, device):
    if torch.device(device).type == "cuda":
        args = setup(*config, device, adam)
        train_step(*args, method)
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        train_step(*args, method)
        return (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    if not os.access("/proc/self/clear_refs", os.W_OK):
        return float("nan")
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    cmd = [sys.executable, os.path.abspath(__file__), "--_memory", json.dumps([*config, method, adam])]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4096 points only, fewer repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per method (default 7, quick 3)")
    parser.add_argument("--no-adam", dest="adam", action="store_false", help="leave out the Adam step")
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak-memory runs")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tuned-malloc", action="store_true",
                        help="time with the allocator setting that training uses (inr.training.allocator) "
                        "for both methods; peak memory is measured without it either way")
    parser.add_argument("--_memory", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tuned_malloc and not args._memory:
        from inr.training.allocator import tune_allocator
        tune_allocator()
    if args._memory:
        print(peak_memory_worker(*json.loads(args._memory)))
        return

    repeats = args.repeats or (3 if args.quick else 7)
    configs = QUICK if args.quick else FULL
    peak = sgemm_gflops(args.device)
    print(f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} threads, "
          f"Adam {'on' if args.adam else 'off'}, {repeats} timed steps per method (median), "
          f"allocator {'tuned (inr.training.allocator)' if args.tuned_malloc else 'glibc default'}")
    kernel = fused_jet.kernel() is not None and torch.device(args.device).type == "cpu"
    print("fused: " + ("the compiled kernel of inr.model.fused_jet" if kernel else
                       "no kernel for this device or build: the row times the eager forward jet"))
    print(f"sgemm 2048^3: {peak:.0f} GFLOP/s; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores (other processes skew timings: compare methods within a row pair)\n")
    head = f"{'SIREN 3->WxD->1':<16}{'M':>3}{'points':>7}  {'method':<9}{'ms/step':>9}{'ms/model':>9}" \
           f"{'speedup':>8}{'GFLOP':>7}{'GFLOP/s':>8}{'%sgemm':>7}{'peak MB':>9}{'mem ratio':>10}"
    print(head)
    print("-" * len(head))
    for width, depth, models, points in configs:
        step_args = setup(width, depth, models, points, args.device, args.adam)
        times = time_methods(step_args, repeats)
        flops = {m: matmul_gflop(step_args, m) for m in DERIVATIVE_METHODS}
        mem = {m: peak_memory((width, depth, models, points), m, args.adam, args.device) if args.memory
               else float("nan") for m in DERIVATIVE_METHODS}
        for method in DERIVATIVE_METHODS:
            t = times[method]
            rate = flops[method] / t
            print(f"{f'{width}x{depth}':<16}{models:>3}{points:>7}  {method:<9}{1e3 * t:>9.1f}"
                  f"{1e3 * t / models:>9.1f}{times['autograd'] / t:>7.2f}x{flops[method]:>7.1f}"
                  f"{rate:>8.0f}{100 * rate / peak:>6.0f}%{mem[method]:>9.0f}"
                  f"{mem[method] / mem['autograd']:>10.2f}")
        del step_args
    print(f"\nspeedup = autograd time / method time; mem ratio = peak MB / autograd peak MB; "
          f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
