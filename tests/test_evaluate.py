"""inr.training.evaluate: the metrics of full-frame predictions against independent references."""
import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from inr.data import diffuse
from inr.training.evaluate import metrics_of
from inr.training.metrics import WINDOW_SIGMA

D = 0.02


@pytest.fixture(scope="module")
def seq():
    image = np.random.default_rng(0).uniform(0, 1, (32, 32))
    return diffuse(image, np.linspace(0.05, 1.0, 5), D)


def as_fields(seq, noise=0.0, seed=1):
    """The sequence's fields as torch predictions (1, T, H, W[, 2]), optionally with noise
    scaled to each field's own standard deviation."""
    rng = np.random.default_rng(seed)
    return {k: torch.as_tensor(v + noise * np.std(v) * rng.normal(size=v.shape))[None]
            for k, v in seq.fields().items()}


def test_the_exact_solution_has_zero_pde_residual_and_a_constant_has_one(seq):
    truth = {k: v[0] for k, v in as_fields(seq).items()}
    exact = metrics_of(as_fields(seq), truth, D)
    assert exact["pde_residual"].item() < 1e-12
    constant = {k: torch.zeros_like(v) for k, v in as_fields(seq).items()}
    constant["value"] += 0.5
    assert metrics_of(constant, truth, D)["pde_residual"].item() == 1.0


def test_derivative_ssim_uses_each_frames_own_range_as_skimage_frame_by_frame(seq):
    truth = {k: v[0] for k, v in as_fields(seq).items()}
    got = metrics_of(as_fields(seq, noise=0.3), truth, D)
    pred = {k: v[0].numpy() for k, v in as_fields(seq, noise=0.3).items()}
    sk = lambda a, b, r: structural_similarity(a, b, gaussian_weights=True, sigma=WINDOW_SIGMA,  # noqa: E731
                                               use_sample_covariance=False, data_range=r)
    mag = lambda g: np.hypot(g[..., 0], g[..., 1])  # noqa: E731
    fields = {"grad": (mag(pred["grad"]), mag(seq.grad)), "laplacian": (pred["laplacian"], seq.laplacian),
              "dt": (pred["dt"], seq.dt)}
    for name, (p, u) in fields.items():
        expected = np.mean([sk(u[j], p[j], u[j].max() - u[j].min()) for j in range(len(u))])
        whole_range = np.mean([sk(u[j], p[j], u.max() - u.min()) for j in range(len(u))])
        assert got[f"{name}_ssim"].item() == pytest.approx(expected, abs=1e-10)
        assert abs(expected - whole_range) > 1e-3  # the per-frame range makes a difference here
