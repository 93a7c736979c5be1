"""Building the fused kernel (inr.model.fused_jet) anywhere: one build among processes that start at once,
a killed build's temporary removed, a cache in the temporary directory where the home directory is
missing or cannot be written, -march chosen by INR_KERNEL_MARCH, and the eager jet on a layout
mismatch. Every build here is cold, in a cache of its own (the layout checks load the library
of the usual cache)."""
import ctypes
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pytest
import torch

from inr import roundoff
from inr.model import fused_jet
from inr.model.derivatives import derivatives
from inr.io import stale_temporaries
from test_derivatives import case
from test_fused_jet import assert_identical, fresh, fused_and_eager  # noqa: F401 (fresh: a fixture)

pytestmark = pytest.mark.skipif(os.environ.get(fused_jet.DISABLE_VARIABLE) == "1",
                                reason=f"{fused_jet.DISABLE_VARIABLE}=1")

REPO = Path(__file__).resolve().parents[1]

# A process that prepares the kernel (where its arguments are READY GO: after creating READY and
# then waiting for GO) and prints, as JSON, prepare()'s reason, the RuntimeWarnings and how far
# the fused derivatives lie from the eager ones. Its argument "no-home": Path.home() raises, as
# it does where HOME is unset and the user id is unknown to the system.
CHILD = """
import json, pathlib, sys, time, warnings
if sys.argv[1:] == ["no-home"]:
    def no_home(cls):
        raise RuntimeError("Could not determine home directory.")
    pathlib.Path.home = classmethod(no_home)
import torch
from inr import roundoff
from inr.model import fused_jet
from inr.model.derivatives import derivatives
from inr.model.networks import make_model
if len(sys.argv) == 3:
    pathlib.Path(sys.argv[1]).touch()
    while not pathlib.Path(sys.argv[2]).exists():
        time.sleep(0.01)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    reason = fused_jet.prepare()
    model = make_model("finer", width=16, depth=2, models=2, seed=0).double()
    x = torch.rand(2, 30, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    fused, eager = derivatives(model, x), derivatives(model, x, method="forward")
print(json.dumps({"reason": reason, "warnings": [str(w.message) for w in caught if w.category is RuntimeWarning],
                  "error": max(float((fused[k] - eager[k]).norm() / eager[k].norm()) for k in fused)}))
"""


def child_env(**changes) -> dict:
    """This process's environment without the kernel's settings, then `changes` (None: unset)."""
    env = {k: v for k, v in os.environ.items()
           if k not in (fused_jet.CACHE_VARIABLE, fused_jet.MARCH_VARIABLE, "XDG_CACHE_HOME")}
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def spawn(env, *args, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, *map(str, args)], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def result(child: subprocess.Popen) -> dict:
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    return json.loads(out.splitlines()[-1])


def assert_fused(res: dict):
    """The child used the kernel, silently, and its derivatives are the eager ones up to round-off."""
    assert res["reason"] == "" and res["warnings"] == [] and res["error"] <= roundoff.bound(0.0, torch.float64), res


def wait_for(path: Path, children, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        for child in children:
            assert child.poll() is None, child.communicate()[1]
        assert time.monotonic() < deadline, f"no {path.name} after {timeout} s"
        time.sleep(0.01)


def compiler_wrapper(tmp_path: Path) -> tuple[Path, Path]:
    """A CXX that appends its arguments to a log, then runs the real compiler; while the file
    `hang` exists beside it, it creates `started` and sleeps instead. (CXX, log)."""
    real = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if not real:
        pytest.skip("no C++ compiler")
    cxx, log = tmp_path / "cxx", tmp_path / "cxx.log"
    cxx.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n'
                   f'if [ -e "{tmp_path}/hang" ]; then touch "{tmp_path}/started"; sleep 60; fi\n'
                   f'exec "{real}" "$@"\n')
    cxx.chmod(0o755)
    return cxx, log


def compiler_runs(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_processes_starting_at_once_build_once_and_all_use_the_kernel(tmp_path):
    cache, (cxx, log), go = tmp_path / "cache", compiler_wrapper(tmp_path), tmp_path / "go"
    env = child_env(**{fused_jet.CACHE_VARIABLE: cache, "CXX": cxx})
    children = [spawn(env, tmp_path / f"ready{i}", go) for i in range(4)]
    for i in range(4):
        wait_for(tmp_path / f"ready{i}", children)
    go.touch()
    for child in children:
        assert_fused(result(child))
    assert len(compiler_runs(log)) == 1
    library, = cache.glob("*.so")
    assert sorted(p.name for p in cache.iterdir()) == [library.name, f"{library.name}.lock"]


def test_the_next_build_removes_a_killed_builds_temporary(tmp_path, monkeypatch):
    cache, (cxx, log) = tmp_path / "cache", compiler_wrapper(tmp_path)
    (tmp_path / "hang").touch()
    child = spawn(child_env(**{fused_jet.CACHE_VARIABLE: cache, "CXX": cxx}), start_new_session=True)
    wait_for(tmp_path / "started", [child])
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    killed, = cache.glob(".*.tmp.so")  # as inr.io.atomic_path names it
    others = [cache / "notes.txt", cache / ".other.so.abcdefgh.tmp.so"]
    for path in others:
        path.touch()
    (tmp_path / "hang").unlink()
    monkeypatch.setenv("CXX", str(cxx))
    library = fused_jet.build(cache=cache)
    assert killed.name.startswith(f".{library.name}.") and not killed.exists()
    assert stale_temporaries(library) == [] and all(path.exists() for path in others)
    assert len(compiler_runs(log)) == 2
    fused_jet.load(library)


def test_without_a_home_directory_the_kernel_is_built_in_the_temporary_directory(tmp_path):
    temp = tmp_path / "temp"
    temp.mkdir()
    assert_fused(result(spawn(child_env(TMPDIR=temp, HOME=None), "no-home")))
    assert list((temp / f"inr-kernel-{os.getuid()}").glob("fused_jet-*.so"))


@pytest.fixture
def unwritable_home(tmp_path, monkeypatch) -> Path:
    """HOME where no cache can be made (root writes to read-only directories, so its parent is a
    file), no other cache set, and a temporary directory of this test's own: that one."""
    (tmp_path / "file").touch()
    monkeypatch.setenv("HOME", str(tmp_path / "file" / "home"))
    for variable in (fused_jet.CACHE_VARIABLE, "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return temp


def test_under_an_unwritable_home_the_kernel_is_built_in_the_temporary_directory(unwritable_home, fresh):
    model, x = case("sine", 2, True, torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert fused_jet.prepare() == ""
        fused, eager = derivatives(model, x), derivatives(model, x, method="forward")
    assert all(roundoff.within(fused[k], eager[k], 0.0, torch.float64) for k in fused)
    assert list((unwritable_home / f"inr-kernel-{os.getuid()}").glob("fused_jet-*.so"))


def test_a_temporary_cache_that_others_could_write_is_not_used(unwritable_home, fresh):
    shared = unwritable_home / f"inr-kernel-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.warns(RuntimeWarning, match="eager forward jet"):
        reason = fused_jet.prepare()
    assert reason.startswith("build failed: no usable kernel cache (") and f"{shared} is not a directory of this user's own" in reason
    assert list(shared.iterdir()) == []


def test_the_march_variable_sets_the_flag_and_the_library(tmp_path, monkeypatch, fresh):
    cxx, log = compiler_wrapper(tmp_path)
    monkeypatch.setenv("CXX", str(cxx))
    monkeypatch.setenv(fused_jet.CACHE_VARIABLE, str(tmp_path / "cache"))
    marches = ["none"] + (["x86-64-v2"] if platform.machine() == "x86_64" else [])
    model, x = case("finer", 2, False, torch.float64)
    eager = derivatives(model, x, method="forward")
    for march in marches:
        monkeypatch.setenv(fused_jet.MARCH_VARIABLE, march)
        fused_jet.reset()
        assert fused_jet.prepare() == ""
        fused = derivatives(model, x)
        assert all(roundoff.within(fused[k], eager[k], 0.0, torch.float64) for k in fused)
    runs = compiler_runs(log)
    assert "-march" not in runs[0] and all(f"-march={march}" in run for march, run in zip(marches[1:], runs[1:]))
    assert len(list((tmp_path / "cache").glob("*.so"))) == len(marches)


class _Reordered(ctypes.Structure):
    """_JetArgs with its first two fields swapped: the same size, another layout."""
    _fields_ = [fused_jet._JetArgs._fields_[1], fused_jet._JetArgs._fields_[0], *fused_jet._JetArgs._fields_[2:]]


class _Longer(ctypes.Structure):
    _fields_ = [*fused_jet._JetArgs._fields_, ("extra", ctypes.c_int64)]


@pytest.mark.parametrize("name, value, reason", [
    ("LAYOUT_VERSION", fused_jet.LAYOUT_VERSION + 1, f"kernel version {fused_jet.LAYOUT_VERSION}, LAYOUT_VERSION "
                                                     f"{fused_jet.LAYOUT_VERSION + 1}"),
    ("_JetArgs", _Reordered, "JetArgs.points at offset 8, _JetArgs.points at 0"),
    ("_JetArgs", _Longer, f"JetArgs has {ctypes.sizeof(fused_jet._JetArgs)} bytes, _JetArgs "
                          f"{ctypes.sizeof(_Longer)}"),
    ("ACTIVATION_IDS", {**fused_jet.ACTIVATION_IDS, "sine": 1, "finer": 0},
     "activation 'sine' is 0 in enum Act, 1 in ACTIVATION_IDS"),
])
def test_a_layout_mismatch_falls_back_to_the_eager_jet(monkeypatch, fresh, name, value, reason):
    monkeypatch.setattr(fused_jet, name, value)
    model, x = case("elu", 2, False, torch.float64)
    with pytest.warns(RuntimeWarning, match="eager forward jet") as record:
        assert fused_jet.kernel() is None
        results = fused_and_eager(model, x)
        assert fused_jet.prepare() == f"layout mismatch: {reason}"
    assert [str(w.message) for w in record if w.category is RuntimeWarning] == [
        f"inr.model.fused_jet: kernel unavailable, using the eager forward jet (layout mismatch: {reason})"]
    assert_identical(*results)
