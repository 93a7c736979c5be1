"""A training run end to end on tiny problems: it learns, logs, renders, and fails safely."""
import json

import imageio.v3 as iio
import numpy as np
import pytest
import torch

import inr.training.loop as train_module
from inr.cli import train_main
from inr.config import RunConfig, profile_config
from inr.training.evaluate import evaluate
from inr.artefacts.tblog import read_events
from inr.training.loop import train, train_ensemble


def tiny(tmp_path=None, name="run", **sections) -> RunConfig:
    """32x32, 4 frames, width 32: a CPU-second problem."""
    base = RunConfig().replace(
        data={"size": 32, "frames": 4, "heldout": False},
        model={"width": 32, "depth": 3},
        train={"steps": 60, "points": 1024, "eval_every": 30},
        output={"progress": False, "panels": False,
                **({"run_dir": str(tmp_path / name)} if tmp_path else {})})
    return base.replace(**sections)


def test_a_tiny_siren_learns_the_pixels():
    cfg = tiny(train={"steps": 300, "eval_every": 100}, schedule={"lr": 1e-3})
    result = train(cfg)
    assert result.status == "completed"
    assert result.metrics["psnr"] > 25
    assert result.history[0]["psnr"] < result.metrics["psnr"]


def test_a_gradient_only_loss_teaches_the_gradient():
    cfg = tiny(loss={"pixel": 0.0, "grad": 1.0}, train={"steps": 300, "eval_every": 1},
               schedule={"lr": 1e-3})
    result = train(cfg)
    first, last = result.history[0]["grad_mse"], result.metrics["grad_mse"]
    assert last < first / 10


def test_a_laplacian_only_loss_changes_the_weights():
    """Original bug 3: without create_graph the Laplacian loss trained nothing."""
    cfg = tiny(loss={"pixel": 0.0, "laplacian": 1.0}, train={"steps": 3})
    before = train_module.build_model([cfg]).state_dict()
    after = train(cfg).model.state_dict()
    moved = [k for k in before if k.endswith("weight") and not torch.equal(before[k], after[k])]
    assert len(moved) == sum(k.endswith("weight") for k in before)


def test_an_ensemble_equals_its_runs_trained_alone():
    configs = [tiny(train={"seed": s}, schedule=sched, loss=loss) for s, sched, loss in [
        (0, {"lr": 1e-4}, {"pixel": 1.0}),
        (5, {"kind": "exponential", "lr": 3e-4, "gamma": 0.99}, {"pixel": 1.0, "grad": 0.1}),
        (9, {"kind": "cyclic", "lr": 1e-5, "base_lr": 1e-5, "max_lr": 1e-3, "step_size_up": 10},
         {"pixel": 0.1, "laplacian": 1e-3, "dt": 0.5}),
    ]]
    together = train_ensemble(configs)
    for cfg, joint in zip(configs, together):
        alone = train(cfg)
        for key in ("pixel_mse", "grad_mse", "laplacian_mse", "dt_mse", "ssim"):
            assert joint.metrics[key] == pytest.approx(alone.metrics[key], rel=1e-3, abs=1e-7)


def test_outputs_events_video_checkpoint_and_metrics(tmp_path):
    cfg = tiny(tmp_path, output={"panels": True, "video": str(tmp_path / "v" / "run.mp4")},
               loss={"grad": 0.1, "laplacian": 1e-4, "dt": 0.1})
    result = train(cfg)
    run = tmp_path / "run"
    events = read_events(run)
    for tag in ("train/loss", "train/lr", "train/pixel_loss", "train/laplacian_loss",
                "eval/psnr", "eval/ssim", "eval/grad_mse", "eval/pde_residual", "final/psnr"):
        assert tag in events["scalars"], tag
    assert "panels/truth_vs_prediction" in events["images"]
    assert events["hparams"]["activation"] == "sine" and "final/psnr" in events["hparam_metrics"]
    assert [p.name for p in run.iterdir() if p.is_dir()] == []  # no add_hparams sub-folder
    frames = iio.imread(result.video, plugin="FFMPEG", index=None)
    assert frames.shape[0] == cfg.data.frames and frames.shape[1] % 2 == frames.shape[2] % 2 == 0
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["status"] == "completed" and saved["final"]["psnr"] == pytest.approx(
        result.metrics["psnr"])
    ckpt = torch.load(run / "checkpoint.pt")
    assert torch.equal(ckpt["model"]["layers.0.weight"], result.model.state_dict()["layers.0.weight"])
    assert RunConfig.load(run / "config.json").to_dict() == cfg.to_dict()


def test_the_video_shows_the_model_that_was_trained(tmp_path):
    """Original bug 6: ELU videos rendered from the SIREN. Each run's video must differ and
    its bottom row must be that run's own prediction."""
    videos = []
    for act in ("sine", "elu"):
        cfg = tiny(tmp_path, act, model={"activation": act},
                   output={"video": str(tmp_path / f"{act}.mp4")})
        videos.append(iio.imread(train(cfg).video, plugin="FFMPEG", index=None).astype(float))
    h = videos[0].shape[1]
    top = [v[:, : h // 2] for v in videos]
    bottom = [v[:, h // 2:] for v in videos]
    same_truth = np.abs(top[0] - top[1]).mean()  # differs only in the title text
    own_prediction = np.abs(bottom[0] - bottom[1]).mean()
    assert own_prediction > 3 * same_truth


def test_a_nan_target_marks_only_that_run_diverged(tmp_path, monkeypatch):
    real = train_module.build_data

    def poisoned(cfg):
        data, held = real(cfg)
        data.tensors["laplacian"][::7] = float("nan")
        return data, held

    monkeypatch.setattr(train_module, "build_data", poisoned)
    cfgs = [tiny(tmp_path, "healthy", loss={"pixel": 1.0}),
            tiny(tmp_path, "poisoned", loss={"pixel": 1.0, "laplacian": 1.0})]
    healthy, sick = train_ensemble(cfgs)
    assert healthy.status == "completed" and np.isfinite(healthy.metrics["psnr"])
    assert sick.status == "diverged" and sick.metrics["diverged_at"] == 0
    saved = json.loads((tmp_path / "poisoned" / "metrics.json").read_text())
    assert saved["status"] == "diverged"
    # the healthy model trained exactly as it would alone
    alone = train(cfgs[0].replace(output={"run_dir": None}))
    assert alone.metrics["pixel_mse"] == pytest.approx(healthy.metrics["pixel_mse"], rel=1e-3)


def interrupt_at(monkeypatch, step_number: int):
    """Make TrainingLoop.step raise KeyboardInterrupt (a Ctrl-C) at step `step_number`; returns
    a function that restores the real step."""
    real_step = train_module.TrainingLoop.step

    def step(self, i):
        if i == step_number:
            raise KeyboardInterrupt
        return real_step(self, i)

    monkeypatch.setattr(train_module.TrainingLoop, "step", step)
    return lambda: monkeypatch.setattr(train_module.TrainingLoop, "step", real_step)


def test_ctrl_c_ends_the_run_as_interrupted_with_outputs_written(tmp_path, monkeypatch):
    interrupt_at(monkeypatch, 10)
    result = train(tiny(tmp_path))
    assert result.status == "interrupted" and result.metrics["steps_done"] == 10
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["status"] == "interrupted"
    assert "train/loss" in read_events(tmp_path / "run")["scalars"]


def test_frame_batches_with_perceptual_losses_train():
    cfg = tiny(train={"batch": "frame", "steps": 40}, loss={"pixel": 1.0, "ssim": 0.5,
                                                            "ms_ssim": 0.5}, schedule={"lr": 1e-3})
    data, _ = train_module.build_data(cfg)
    before = evaluate(train_module.build_model([cfg]), data, cfg.data.diffusivity)[0][0]["ssim"]
    result = train(cfg)
    assert result.status == "completed" and result.metrics["ssim"] > before + 0.2


@pytest.mark.parametrize("sections,message", [
    ({"schedule": {"lr": 0.0}}, "lr must be > 0"),
    ({"schedule": {"lr": -1e-3}}, "lr must be > 0"),
    ({"schedule": {"kind": "cosine"}}, "unknown scheduler 'cosine'"),
    ({"loss": {"pixel": 0.0}}, "all loss weights are zero"),
    ({"loss": {"grad": -1.0}}, "loss weight grad must be finite and >= 0"),
    ({"model": {"activation": "tanh"}}, "unknown activation 'tanh'"),
    ({"train": {"steps": 0}}, "train.steps must be at least 1"),
    ({"train": {"batch": "pixels"}}, "unknown batch kind"),
    ({"loss": {"ssim": 1.0}}, "need whole frames"),
    ({"data": {"size": 8}}, "data.size must be at least 16"),
    ({"output": {"video": "x.avi"}}, "must end in .mp4 or .gif"),
    ({"train": {"matmul_precision": "medium"}}, "unknown train.matmul_precision 'medium'"),
    ({"loss": {"normalize": "std"}}, "unknown loss.normalize 'std'"),
])
def test_bad_configs_give_one_line_errors(sections, message):
    with pytest.raises(ValueError, match=message) as err:
        RunConfig().replace(**sections).validate()
    assert "\n" not in str(err.value)


def test_config_round_trips_through_json_and_toml(tmp_path):
    cfg = profile_config("quick").replace(schedule={"kind": "multistep", "gamma": 0.5,
                                                    "milestones": [10, 20]})
    cfg.save(tmp_path / "c.json")
    assert RunConfig.load(tmp_path / "c.json").to_dict() == cfg.to_dict()
    (tmp_path / "c.toml").write_text('[model]\nactivation = "elu"\n[schedule]\nlr = 3e-4\n')
    loaded = RunConfig.load(tmp_path / "c.toml", base=cfg)
    assert loaded.model.activation == "elu" and loaded.schedule.lr == 3e-4
    assert loaded.schedule.milestones == (10, 20) and loaded.data.size == 64
    (tmp_path / "bad.toml").write_text("[model]\nwidht = 3\n")
    with pytest.raises(ValueError, match="unknown field"):
        RunConfig.load(tmp_path / "bad.toml")


def test_cli_trains_one_run(tmp_path):
    cfg = tiny()
    cfg.save(tmp_path / "cfg.json")
    code = train_main(["--config", str(tmp_path / "cfg.json"), "--run-dir",
                              str(tmp_path / "out"), "--video", "none", "--steps", "5"])
    assert code == 0
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["final"]["steps_done"] == 5


def test_cli_honours_the_configs_outputs_unless_overridden(tmp_path):
    cfg = tiny(output={"run_dir": str(tmp_path / "from-config"),
                       "video": str(tmp_path / "from-config.gif")})
    cfg.save(tmp_path / "cfg.json")
    assert train_main(["--config", str(tmp_path / "cfg.json"), "--steps", "3"]) == 0
    assert (tmp_path / "from-config" / "metrics.json").is_file()
    assert (tmp_path / "from-config.gif").stat().st_size > 0
    assert train_main(["--config", str(tmp_path / "cfg.json"), "--steps", "3", "--run-dir",
                       str(tmp_path / "given"), "--video", "none"]) == 0
    assert (tmp_path / "given" / "metrics.json").is_file()
    assert json.loads((tmp_path / "given" / "metrics.json").read_text())["video"] is None


def test_a_config_whose_video_is_null_writes_no_video(tmp_path, monkeypatch):
    """output.video = null in a JSON config means no video, not the default videos/single.mp4."""
    monkeypatch.chdir(tmp_path)
    raw = tiny().to_dict()
    raw["output"].update(run_dir=str(tmp_path / "run"), video=None)
    (tmp_path / "cfg.json").write_text(json.dumps(raw))
    assert train_main(["--config", str(tmp_path / "cfg.json"), "--steps", "3"]) == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["video"] is None
    assert not (tmp_path / "videos").exists()
    del raw["output"]["video"]  # left out: the default
    (tmp_path / "cfg.json").write_text(json.dumps(raw))
    assert train_main(["--config", str(tmp_path / "cfg.json"), "--steps", "3"]) == 0
    assert (tmp_path / "videos" / "single.mp4").stat().st_size > 0


def test_a_run_continues_from_its_mid_run_checkpoint_exactly(tmp_path, monkeypatch):
    cfg = tiny(train={"steps": 40, "eval_every": 10})
    straight = train(cfg)
    cfg = cfg.replace(output={"run_dir": str(tmp_path / "run")})
    state = tmp_path / "state.pt"
    restore = interrupt_at(monkeypatch, 25)
    first = train_ensemble([cfg], state_path=state)[0]
    assert first.status == "interrupted" and state.is_file()
    restore()
    seen = []
    resumed = train_ensemble([cfg], state_path=state, on_eval=lambda s, recs: seen.append(s))[0]
    assert resumed.status == "completed" and not state.exists()
    assert seen == [30, 40]  # continued from step 25, not from 0
    for key in ("pixel_mse", "grad_mse", "laplacian_mse", "dt_mse"):
        assert resumed.metrics[key] == straight.metrics[key]  # the kernel sums in a fixed order
    # the TensorBoard log keeps the steps before the interruption, each once
    psnr_steps = [s for s, _ in read_events(tmp_path / "run")["scalars"]["eval/psnr"]]
    assert psnr_steps == [10, 20, 30, 40]
    assert [r["step"] for r in resumed.history] == [10, 20, 25, 30, 40]


def test_tf32_precision_is_set_for_the_run_alone_and_changes_nothing_on_a_cpu():
    before = torch.get_float32_matmul_precision()
    plain = train(tiny(train={"steps": 5}))
    high = train(tiny(train={"steps": 5, "matmul_precision": "high"}))
    assert torch.get_float32_matmul_precision() == before
    assert high.metrics["pixel_mse"] == plain.metrics["pixel_mse"]  # a CPU has no TF32
