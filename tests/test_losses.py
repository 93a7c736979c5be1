"""inr.training.losses: the training loss. SSIM losses train from any start; normalised terms are MSE over
the target's variance, computed here independently."""
import numpy as np
import pytest
import torch

from inr.config import RunConfig, profile_config
from inr.model.derivatives import derivatives
from inr.training.evaluate import evaluate
from inr.sweep.experiments import load_experiment
from inr.sweep.planning import plan
from inr.training.losses import normalized, squared_errors, term_divisors
from inr.training.loop import build_data, build_model, train_ensemble

TINY = RunConfig().replace(data={"size": 32, "frames": 4, "heldout": False},
                           model={"width": 32, "depth": 3},
                           train={"steps": 40, "batch": "frame", "eval_every": 40},
                           output={"progress": False, "panels": False}, schedule={"lr": 1e-3})


@pytest.fixture(scope="module")
def negative_starts():
    """Eight SIREN seeds whose freshly initialised network has a negative SSIM, with it."""
    configs = [TINY.replace(train={"seed": s}) for s in range(32)]
    data, _ = build_data(configs[0])
    records, _ = evaluate(build_model(configs), data, TINY.data.diffusivity)
    found = [(c, r["ssim"]) for c, r in zip(configs, records) if r["ssim"] < 0]
    assert len(found) >= 8
    return found[:8]


@pytest.mark.parametrize("term", ["ssim", "ms_ssim"])
def test_a_perceptual_loss_alone_raises_ssim_from_every_negative_start(negative_starts, term):
    configs = [c.replace(loss={"pixel": 0.0, term: 1.0}) for c, _ in negative_starts]
    for (_, before), result in zip(negative_starts, train_ensemble(configs)):
        assert before < 0 and result.metrics["ssim"] > before + 0.1  # a stalled loss moves ~0


def test_variance_normalised_terms_are_each_mse_over_its_targets_variance():
    cfg = TINY.replace(train={"batch": "points", "points": 512},
                       loss={"grad": 0.1, "laplacian": 0.01, "dt": 1.0, "normalize": "variance"})
    data, _ = build_data(cfg)
    seq = data.sequence
    variance = {"pixel": np.var(seq.value), "grad": np.var(seq.grad[..., 0]) + np.var(seq.grad[..., 1]),
                "laplacian": np.var(seq.laplacian), "dt": np.var(seq.dt)}
    batch = data.sample([torch.Generator().manual_seed(0)], cfg.train.points)
    model = build_model([cfg])
    with torch.no_grad():
        out = derivatives(model, batch["coords"])
    divisors = term_divisors([cfg.loss], seq.target_variances(), torch.float32, "cpu")
    terms = normalized(squared_errors(out, batch), divisors)
    errors = {"pixel": out["value"] - batch["value"], "grad": out["grad"] - batch["grad"],
              "laplacian": out["laplacian"] - batch["laplacian"], "dt": out["dt"] - batch["dt"]}
    for term, err in errors.items():
        err = err.double().numpy()
        mse = np.mean(np.sum(err ** 2, axis=-1)) if term == "grad" else np.mean(err ** 2)
        assert terms[term].item() == pytest.approx(mse / variance[term], rel=1e-5)
    plain = term_divisors([cfg.replace(loss={"normalize": "none"}).loss], seq.target_variances(),
                          torch.float32, "cpu")
    assert all(v.item() == 1.0 for v in plain.values())


def test_the_ms_ssim_loss_trains_every_seed_of_the_losses_experiment(tmp_path):
    """The losses experiment's MS-SSIM run at weight 1 (its arm's largest) at the quick profile
    (64 x 64 frames, 3 scales, its fixed derivative terms, 300 steps): one seed of it once
    ended inverted with a negative mean
    (SSIM -0.53, 0.5 dB), which the loss's old form scored as nearly perfect at the coarsest
    scale. Every seed must now learn the image."""
    runs = plan([load_experiment("losses")], profile_config("quick"), tmp_path, seeds=3,
                videos=False)
    configs = [r.config.replace(output={"run_dir": None}) for r in runs
               if r.config.output.weights_name == "ms_ssim_1"]
    assert [c.train.seed for c in configs] == [0, 1, 2]
    for result in train_ensemble(configs):
        assert result.metrics["ssim"] > 0.8 and result.metrics["psnr"] > 15
