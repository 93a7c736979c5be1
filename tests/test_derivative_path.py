"""Which derivative path a run takes is configured (train.derivative_method), settled before its
first step, and recorded: metrics.json, summary.csv and the HParams row say what ran
(derivative_method) and why it is not what was asked for (derivative_fallback)."""
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from inr.model import fused_jet
from inr.config import RunConfig
from inr.model.derivatives import DERIVATIVE_METHODS
from inr.report.rows import row_of
from inr.artefacts.tblog import read_events
from inr.training.loop import ensemble_key, train
from test_fused_jet import fresh  # noqa: F401 (a fixture)
from test_train import tiny

REPO = Path(__file__).resolve().parents[1]
KERNEL_BUILDS = os.environ.get(fused_jet.DISABLE_VARIABLE) != "1"


def recorded(run_dir: Path) -> tuple[dict, dict, dict]:
    """(metrics.json's final record, the summary row, the HParams row) of a finished run."""
    saved = json.loads((run_dir / "metrics.json").read_text())
    return saved["final"], row_of(saved), read_events(run_dir)["hparams"]


def path_of(record: dict) -> tuple[str, str]:
    return record["derivative_method"], record["derivative_fallback"]


def test_the_method_is_part_of_a_runs_identity_and_a_bad_one_is_refused():
    fused, forward = RunConfig(), RunConfig().replace(train={"derivative_method": "forward"})
    assert fused.train.derivative_method == "fused"
    assert fused.identity() != forward.identity()
    assert ensemble_key(fused) != ensemble_key(forward)  # one path per ensemble
    with pytest.raises(ValueError, match="unknown train.derivative_method 'jvp'; choose from "
                                         "fused, forward, autograd"):
        RunConfig().replace(train={"derivative_method": "jvp"}).validate()


@pytest.mark.parametrize("method", DERIVATIVE_METHODS)
def test_every_record_says_which_path_ran(tmp_path, method):
    if method == "fused" and not KERNEL_BUILDS:
        pytest.skip(f"{fused_jet.DISABLE_VARIABLE}=1")
    result = train(tiny(tmp_path, train={"steps": 3, "derivative_method": method}))
    assert result.status == "completed"
    for where in recorded(tmp_path / "run"):
        assert path_of(where) == (method, ""), where


@pytest.mark.skipif(not KERNEL_BUILDS, reason=f"{fused_jet.DISABLE_VARIABLE}=1")
def test_an_activation_named_by_its_alias_runs_and_records_the_fused_kernel(tmp_path):
    """activation = "siren" builds a sine network, which the kernel serves: the record says so,
    and the fields equal those of a "sine" run (the same network, the same path)."""
    siren = train(tiny(tmp_path, name="siren", model={"activation": "siren"},
                       train={"steps": 3}))
    sine = train(tiny(tmp_path, name="sine", model={"activation": "sine"}, train={"steps": 3}))
    for where in recorded(tmp_path / "siren"):
        assert path_of(where) == ("fused", ""), where
    assert siren.metrics["psnr"] == sine.metrics["psnr"]


def test_a_fused_run_under_the_override_records_the_forward_path_and_why(tmp_path, monkeypatch):
    monkeypatch.setenv(fused_jet.DISABLE_VARIABLE, "1")
    train(tiny(tmp_path, train={"steps": 3}))
    for where in recorded(tmp_path / "run"):
        assert path_of(where) == ("forward", f"{fused_jet.DISABLE_VARIABLE}=1"), where


@pytest.mark.skipif(not KERNEL_BUILDS, reason=f"{fused_jet.DISABLE_VARIABLE}=1")
def test_a_layout_mismatch_makes_a_run_fall_back_with_one_warning(tmp_path, monkeypatch, fresh):
    monkeypatch.setattr(fused_jet, "LAYOUT_VERSION", fused_jet.LAYOUT_VERSION + 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(tiny(tmp_path, train={"steps": 3}))
    assert result.status == "completed"
    assert len([w for w in caught if w.category is RuntimeWarning]) == 1
    for where in recorded(tmp_path / "run"):
        method, why = path_of(where)
        assert method == "forward" and why.startswith("layout mismatch: kernel version"), where


@pytest.mark.skipif(not KERNEL_BUILDS, reason=f"{fused_jet.DISABLE_VARIABLE}=1")
@pytest.mark.parametrize("home", ["unset", "read-only"])
def test_without_a_usable_home_a_run_trains_with_the_kernel_and_records_it(tmp_path, home):
    """`python -m inr.train` in a process whose HOME is unset (Path.home() then asks the user
    database) or cannot hold a cache (a file, not a folder: tests run as root, whom a chmod does
    not stop; the kernel is then built in the temporary directory) trains on the kernel."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HOME", "XDG_CACHE_HOME", fused_jet.CACHE_VARIABLE)}
    env["TMPDIR"] = str(tmp_path / "tmp")  # a cold kernel cache of this test's own
    (tmp_path / "tmp").mkdir()
    if home == "read-only":
        (tmp_path / "not-a-folder").write_text("")
        env["HOME"] = str(tmp_path / "not-a-folder")
    config = tiny(tmp_path, train={"steps": 3}).replace(output={"video": None})
    config.save(tmp_path / "cfg.json")
    done = subprocess.run([sys.executable, "-m", "inr.train", "--config", str(tmp_path / "cfg.json"),
                           "--video", "none"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "RuntimeWarning" not in done.stderr
    for where in recorded(tmp_path / "run"):
        assert path_of(where) == ("fused", ""), where
    if home == "read-only":
        assert list((tmp_path / "tmp").rglob("fused_jet-*.so"))
