"""The Ray Tune backend on a local 2-CPU Ray instance: same layout and numbers as the sequential
engine, retries, restore of an interrupted experiment, and a clear error without Ray.

The Ray tests are skipped when ray is not installed (pip install -e '.[ray]'); one Ray instance
(module fixture) serves them all, since starting Ray takes seconds.
"""
import contextlib
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inr.cli import main
from inr.config import profile_config
from inr.sweep.experiments import load_experiment
from inr.sweep.planning import plan
from inr.sweep.ray_backend import RayOptions
from inr.sweep.engine import run_sweep

TINY = ["--confirm-seeds", "0", "--size", "32", "--frames", "4", "--width", "16", "--steps", "12", "--quiet"]
METRICS = ("psnr", "pixel_mse", "grad_mse", "laplacian_mse", "dt_mse", "ssim")


def _fault_injector(arm_dir: str):
    """A Ray worker setup hook: while <arm_dir>/arm names a marker file, the first trial to
    create that marker fails once, right after reporting an evaluation with a checkpoint (or
    its final one). The fault lives here, in the tests: the backend knows nothing of it."""
    def install():
        import os
        from pathlib import Path

        from inr.sweep import ray_backend

        report = ray_backend._Reporter.__call__

        def report_then_fail(self, step, records):
            report(self, step, records)
            arm = Path(arm_dir) / "arm"
            if not arm.is_file() or not (self.state_path.is_file() or step >= self.steps):
                return
            try:
                os.close(os.open(arm.read_text(), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return
            raise RuntimeError(f"injected fault in trial {self.names[0]} at step {step}")

        ray_backend._Reporter.__call__ = report_then_fail
    return install


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory):
    """A local Ray instance whose workers can be made to fail (`armed`); yields the arming
    folder."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    arm_dir = tmp_path_factory.mktemp("ray-faults")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"worker_process_setup_hook": _fault_injector(str(arm_dir))})
    yield arm_dir
    ray.shutdown()


@contextlib.contextmanager
def armed(arm_dir: Path, marker: Path):
    """Within: the first trial to create `marker` fails once (see `_fault_injector`)."""
    (arm_dir / "arm").write_text(str(marker))
    try:
        yield
    finally:
        (arm_dir / "arm").unlink()


def _layout(out: Path) -> list[str]:
    """Files under runs/ and videos/, event files by kind only (their names hold pid/host)."""
    names = []
    for p in sorted((out / "runs").rglob("*")) + sorted((out / "videos").rglob("*")):
        if p.is_file():
            rel = p.relative_to(out).as_posix()
            names.append(rel.split("events.out.tfevents")[0] + "events" if
                         "events.out.tfevents" in rel else rel)
    return sorted(names)


def _summary(out: Path) -> dict:
    return {r["name"]: r for r in csv.DictReader(open(out / "results" / "summary.csv"))}


def _finals(out: Path) -> dict:
    return {p.parent.relative_to(out / "runs").as_posix(): json.loads(p.read_text())["final"]
            for p in (out / "runs").rglob("metrics.json")}


def _assert_same_metrics(a: dict, b: dict):
    assert a.keys() == b.keys() and a
    for name in a:
        for key in METRICS:
            assert float(a[name][key]) == pytest.approx(float(b[name][key]), rel=1e-3,
                                                        abs=1e-7), (name, key)


# ----------------------------------------------------------------------------- without Ray

def test_the_core_package_does_not_import_ray():
    code = ("import sys, inr, inr.cli, inr.sweep.engine, inr.training.loop, inr.sweep.ray_backend; "
            "inr.cli.parser(); print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_without_ray_the_backend_gives_a_one_line_install_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    code = main(["--random-weights", "2", "--backend", "ray", "--out", str(tmp_path / "o"),
                 *TINY])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install -e '.[ray]'" in err
    assert not (tmp_path / "o" / "runs").exists()


# ----------------------------------------------------------------------------- on Ray

def test_a_ray_sweep_matches_the_sequential_engine(ray_instance, tmp_path, capsys):
    common = ["--random-weights", "3", *TINY]
    ray_out, local_out = tmp_path / "ray", tmp_path / "local"
    assert main([*common, "--out", str(local_out), "--engine", "sequential"]) == 0
    assert main([*common, "--out", str(ray_out), "--backend", "ray", "--engine",
                 "sequential"]) == 0
    assert "5 runs trained, 0 reused" in capsys.readouterr().out  # 3 drawn, 2 reference vectors
    assert _layout(ray_out) == _layout(local_out) and len(_layout(ray_out)) == 5 * 5
    assert (ray_out / "ray_results").is_dir()  # Ray's own storage, beside the layout
    _assert_same_metrics(_summary(ray_out), _summary(local_out))
    _assert_same_metrics(_finals(ray_out), _finals(local_out))
    assert {r["status"] for r in _summary(ray_out).values()} == {"completed"}
    # a finished sweep is not submitted again
    assert main([*common, "--out", str(ray_out), "--backend", "ray"]) == 0
    assert "0 runs trained, 5 reused" in capsys.readouterr().out


def _planned(out: Path, eval_every: int = 4):
    """Five tiny runs (3 drawn and 2 reference vectors) that evaluate (and checkpoint) every 4
    of their 12 steps."""
    base = profile_config("quick").replace(data={"size": 32, "frames": 4},
                                           model={"width": 16},
                                           train={"steps": 12, "eval_every": eval_every})
    return plan([load_experiment("random-weights")], base, out, random_weights=3,
                videos=False)


def _args(out: Path, **kw) -> RayOptions:
    return RayOptions(**{"engine": "sequential", "max_models": 25, "overwrite": False,
                         "quiet": True, "out": str(out), "address": None, "cpus_per_trial": 1,
                         "gpus_per_trial": 0, "max_retries": 2, "early_stop": "none",
                         "storage": None, **kw})


def _resumed_from(out: Path) -> list[int]:
    """resumed_from_step of every result Ray recorded (0 unless a checkpoint was used)."""
    steps = []
    for path in (out / "ray_results").rglob("result.json"):
        steps += [json.loads(line)["resumed_from_step"] for line in open(path)
                  if line.strip()]
    return steps


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The five checkpointing runs trained by the local sequential engine."""
    out = tmp_path_factory.mktemp("reference")
    run_sweep(_planned(out), engine="sequential", progress=False, report=lambda _: None)
    return _finals(out)


def test_a_failing_trial_is_retried_from_its_checkpoint(ray_instance, reference, tmp_path,
                                                        monkeypatch):
    from inr.sweep.ray_backend import run_sweep_ray

    out, marker = tmp_path / "out", tmp_path / "fault-marker"
    with armed(ray_instance, marker):  # the first trial fails once, at step 8
        outcome = run_sweep_ray(_planned(out), _args(out, max_retries=1), report=lambda _: None)
    assert marker.exists(), "the fault was injected"
    assert len(outcome.done) == 5 and not outcome.interrupted
    assert len({r.config.output.name for r in outcome.done}) == 5  # every run done once
    assert 4 in _resumed_from(out), "the retry continued from the step-4 checkpoint"
    _assert_same_metrics(_finals(out), reference)
    for path in (out / "runs").rglob("metrics.json"):
        saved = json.loads(path.read_text())
        assert saved["status"] == "completed" and [h["step"] for h in saved["history"]] == [4, 8, 12]


def test_an_interrupted_sweep_is_restored_and_skips_finished_runs(ray_instance, reference,
                                                                  tmp_path, monkeypatch):
    from inr.sweep.ray_backend import run_sweep_ray

    out, marker = tmp_path / "out", tmp_path / "fault-marker"
    with armed(ray_instance, marker), \
            pytest.raises(RuntimeError, match="1 trials failed after 0 retries"):
        run_sweep_ray(_planned(out), _args(out, max_retries=0), report=lambda _: None)
    finished = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("metrics.json")}
    assert len(finished) == 4
    printed = []
    outcome = run_sweep_ray(_planned(out), _args(out, max_retries=0), report=printed.append)
    assert any(line.startswith("ray: resuming experiment") for line in printed)
    assert len(outcome.done) == 1 and not outcome.interrupted
    for path, mtime in finished.items():  # the runs finished before were not redone
        assert path.stat().st_mtime_ns == mtime
    assert 4 in _resumed_from(out), "the restored trial continued from its checkpoint"
    _assert_same_metrics(_finals(out), reference)
