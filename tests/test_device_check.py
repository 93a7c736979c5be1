"""benchmarks/device_check.py --tiny on the CPU, as a GPU session would run it at full size: both
files written, every section in the JSON, every correctness check within its tolerance."""
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from inr import roundoff

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "device_check.py"
SECTIONS = ("correctness", "derivative_step", "sweep_throughput")
pytestmark = pytest.mark.slow


def device_check(*args, timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("device-check")
    done = device_check("--tiny", "--device", "cpu", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    return out, done.stdout, json.loads((out / "device_check.json").read_text())


def test_both_files_are_written_with_every_section(tiny):
    out, _, data = tiny
    assert data["status"] == "complete" and data["device"] == "cpu" and data["tiny"]
    for name in SECTIONS:
        assert data[name]["status"] == "done", name
    text = (out / "device_check.md").read_text()
    for heading in ("## Correctness", "## Derivative step", "## Sweep throughput"):
        assert heading in text


def test_every_correctness_check_passes_within_its_tolerance(tiny):
    _, _, data = tiny
    checks = {c["name"]: c for c in data["correctness"]["checks"]}
    assert {f"derivatives/{act}/{dtype}" for act in ("sine", "elu", "gauss", "finer")
            for dtype in ("float32", "float64")} <= set(checks)
    assert {"ssim/float32", "train_step/losses_and_gradients", "train_step/parameters",
            "sweep/metrics_json", "sweep/tensorboard_events", "sweep/video",
            "sweep/report"} <= set(checks)
    for name, check in checks.items():
        if check["status"] == "skipped":  # only the video, where no ffmpeg exists
            assert name == "sweep/video", check
            continue
        assert check["status"] == "passed", check
        assert check["error"] <= check["tolerance"], check
    ruled = [n for n in checks if n.split("/")[0] in ("derivatives", "ssim", "train_step")]
    for name in ruled:  # inr.roundoff's rule: error over own round-off, at most FACTOR
        assert checks[name]["tolerance"] == roundoff.FACTOR, name
    for name in ("ssim/float32", "train_step/losses_and_gradients", "train_step/parameters"):
        assert checks[name]["error"] <= 1, checks[name]  # the device is the CPU: it is its own
    assert data["summary"]["checks_failed"] == 0


def test_the_derivative_step_and_the_sweep_are_measured(tiny):
    """Timed in float32 (TF32 is timed on CUDA only); TF32's error is computed everywhere."""
    _, _, data = tiny
    step = data["derivative_step"]
    assert {(r["width"], r["method"]) for r in step["rows"] if r["status"] == "ok"} == \
        {(w, m) for w in (32, 64) for m in ("fused", "forward", "autograd")}
    assert all(r["ms"] > 0 for r in step["rows"] if r["precision"] == "fp32")
    assert {r["status"] for r in step["rows"] if r["precision"] == "tf32"} == {"n/a"}
    errors = [r for r in step["precision_errors"] if r["field"] in ("grad", "laplacian")]
    assert {(r["width"], r["precision"]) for r in errors} == \
        {(w, p) for w in (32, 64) for p in ("fp32", "tf32")}
    assert all(0 <= r["fraction_of_std"] < 1e-3 for r in errors)
    assert step["tf32_acceptable"] is True
    sweep = data["sweep_throughput"]
    assert [(r["models"], r["precision"], r["status"]) for r in sweep["rows"]] == \
        [(1, "fp32", "ok"), (1, "tf32", "n/a"), (2, "fp32", "ok"), (2, "tf32", "n/a")]
    assert all(r["step_s"] > 0 and r["eval_s"] > 0 and (r["video_s"] or 1) > 0
               for r in sweep["rows"] if r["status"] == "ok")
    assert [(p["models"], p["precision"]) for p in sweep["projection"]] == [(1, "fp32"),
                                                                             (2, "fp32")]
    assert sweep["recommendation"]["models"] in (1, 2)
    assert sweep["recommendation"]["needs_tf32"] is False
    assert "skipped" in sweep["host_syncs"]  # counted on CUDA only


def test_the_summary_is_printed_last(tiny):
    _, stdout, _ = tiny
    tail = stdout.strip().splitlines()
    summary = next(i for i, line in enumerate(tail) if line.startswith("=== device check"))
    assert any(line.startswith("recommended: M = ") for line in tail[summary:])
    assert tail[-1].startswith("written: ")


@pytest.mark.parametrize("args, message", [
    (["--budget", "0"], "--budget must be positive"),
    (["--device", "tpu"], "unknown device"),
] + ([] if torch.cuda.is_available() else [(["--device", "cuda"], "CUDA is not available")]))
def test_bad_input_is_one_line(tmp_path, args, message):
    done = device_check(*args, "--out", str(tmp_path), timeout=120)
    assert done.returncode == 2
    assert message in done.stderr.strip().splitlines()[-1]


# ----------------------------------------------------------------------------- in-process parts

@pytest.fixture()
def parts(monkeypatch):
    """The benchmark's modules, imported as the script imports them (benchmarks/ on the path)."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import device_check
    from devicecheck import common, sweep_throughput

    monkeypatch.setitem(common.STOP, "by", None)
    return device_check, sweep_throughput


def test_the_projection_costs_every_part_of_a_sweep(parts):
    _, throughput = parts
    setup = {"steps": 1000, "eval_every": 250, "data_s": 1.0, "runs": 100}
    row = lambda m, step: {"models": m, "precision": "fp32", "status": "ok", "setup_s": 0.5,  # noqa
                           "step_s": step, "eval_s": 1.0, "final_eval_s": 2.0, "video_s": 3.0}
    # one ensemble: data + build 1.5, steps 1000 x step_s, 3 evaluations + the final one 5,
    # a video per run 3 s
    one, many = throughput.project([row(1, 0.01), row(64, 0.2)], setup)
    assert one["per_run"] == {"setup": 1.5, "steps": 10.0, "evaluations": 5.0, "videos": 3.0}
    assert one["sweep_minutes"] == pytest.approx(100 * 19.5 / 60)
    # 100 runs in ensembles of 64: one full, and 36 costed as the smallest measured size >= 36
    assert many["sweep_minutes"] == pytest.approx(2 * (1.5 + 200 + 5 + 64 * 3) / 60)
    rec = throughput.recommend([one, many], {**setup, "goal_minutes": 15})
    assert (rec["models"], rec["goal_met"], rec["needs_tf32"]) == (64, True, False)


def test_an_out_of_memory_ends_the_doubling_as_a_result(parts, tmp_path, monkeypatch, capsys):
    device_check, throughput = parts
    args = device_check.parser().parse_args(["--tiny", "--device", "cpu", "--out",
                                             str(tmp_path), "--max-models", "64"])
    session = device_check.Session(args, dataclasses.replace(device_check.TINY, max_models=64))

    def fake(session, base, data, heldout, models, precision):
        if models >= 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 40 GiB")
        return throughput.EnsembleRow(models, precision, setup_s=0.1, step_s=0.01 * models,
                                      eval_s=0.1, final_eval_s=0.2, video_s=0.3)

    monkeypatch.setattr(throughput, "measure_ensemble", fake)
    throughput.run(session)
    rows = session.section("sweep_throughput")["rows"]
    assert [(r["models"], r["status"]) for r in rows if r["precision"] == "fp32"] == \
        [(1, "ok"), (2, "ok"), (4, "oom")]
    assert rows[-1]["message"] == "OutOfMemoryError: CUDA out of memory. Tried to allocate 40 GiB"
    assert [p["models"] for p in session.section("sweep_throughput")["projection"]] == [1, 2]


def test_an_ensemble_predicted_to_end_past_the_budget_is_skipped(parts, tmp_path, monkeypatch):
    device_check, throughput = parts
    args = device_check.parser().parse_args(["--tiny", "--device", "cpu", "--out",
                                             str(tmp_path), "--budget", "3"])
    session = device_check.Session(args, dataclasses.replace(device_check.TINY, max_models=8))

    def slow(session, base, data, heldout, models, precision):
        time.sleep(1.0)  # the next, doubled ensemble is predicted at 2.5 s: past 3 s in all
        return throughput.EnsembleRow(models, precision, setup_s=0.1, step_s=0.01, eval_s=0.1,
                                      final_eval_s=0.2, video_s=0.3)

    monkeypatch.setattr(throughput, "measure_ensemble", slow)
    throughput.run(session)
    rows = [r for r in session.section("sweep_throughput")["rows"] if r["precision"] == "fp32"]
    assert [(r["models"], r["status"]) for r in rows] == [(1, "ok"), (2, "skipped")]
    assert rows[1]["message"].startswith("predicted to take ")
