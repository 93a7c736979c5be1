"""inr.training.balance: each scheme's update against a hand computation, the per-term gradients
against each model's own, and a balanced run end to end: ensembles, logs, records, checkpoints,
names and sweeps."""
import json
import math

import numpy as np
import pytest
import torch

import inr.training.loop as loop_module
from inr.artefacts.rundir import RunDir, RunResult, record, row_of
from inr.artefacts.tblog import read_events
from inr.artefacts.tree import run_name
from inr.config import RunConfig
from inr.model.derivatives import derivatives
from inr.model.networks import make_model
from inr.sweep.engine import ensembles
from inr.sweep.experiments import load_experiment
from inr.sweep.planning import plan
from inr.training.balance import (SAUDADE_SEED_OFFSET, Balancer, BalanceState,
                                  gradient_magnitudes, lra_weights, relobralo_weights,
                                  saudade_draws, softadapt_weights)
from inr.training.losses import squared_errors
from inr.training.loop import train, train_ensemble
from inr.vocabulary import FIELDS, MSE_TERMS
from test_train import interrupt_at

TERMS = MSE_TERMS  # pixel, grad, laplacian, dt


def tiny(tmp_path=None, name="run", **sections) -> RunConfig:
    """32x32, 4 frames, width 32; training scalars logged every step (eval_every 10)."""
    base = RunConfig().replace(
        data={"size": 32, "frames": 4, "heldout": False},
        model={"width": 32, "depth": 3},
        train={"steps": 30, "points": 1024, "eval_every": 10},
        schedule={"lr": 1e-3},
        output={"progress": False, "panels": False,
                **({"run_dir": str(tmp_path / name)} if tmp_path else {})})
    return base.replace(**sections)


def per_term(*rows):
    """Rows of (pixel, grad, laplacian, dt), one per model -> term -> (M,) float64."""
    return {t: torch.tensor([r[i] for r in rows], dtype=torch.float64)
            for i, t in enumerate(TERMS)}


def softmax(xs):
    exps = [math.exp(x) for x in xs]
    return [e / sum(exps) for e in exps]


# ----------------------------------------------------------------------------- one update by hand

def test_relobralo_update_matches_a_hand_computation():
    weights = (1.0, 0.5, 0.0, 2.0)
    now, last, first = (0.5, 2.0, 10.0, 1.0), (1.0, 2.0, 5.0, 2.0), (2.0, 4.0, 20.0, 1.0)
    alpha, tau = 0.9, 0.5
    # model 0 keeps its history (rho = 1), model 1 looks back to step 0 (rho = 0)
    got = relobralo_weights(per_term(weights, weights), per_term(now, now),
                            per_term(last, last), per_term(first, first), alpha, tau,
                            torch.tensor([1.0, 0.0], dtype=torch.float64))
    to_last = [4 * p for p in softmax([1.0, 2.0, 4.0, 1.0])]  # (0.5/1, 2/2, 10/5, 1/2) / 0.5
    to_first = [4 * p for p in softmax([0.5, 1.0, 1.0, 2.0])]  # (0.5/2, 2/4, 10/20, 1/1) / 0.5
    for i, t in enumerate(TERMS):
        kept = alpha * weights[i] + (1 - alpha) * to_last[i]
        looked_back = alpha * to_first[i] + (1 - alpha) * to_last[i]
        assert got[t].tolist() == pytest.approx([kept, looked_back], rel=1e-12)
    # a few hand values, written out: softmax(1, 2, 4, 1)[laplacian] = e^4 / (2e + e^2 + e^4)
    assert to_last[2] == pytest.approx(4 * 54.59815 / (2 * 2.718282 + 7.389056 + 54.59815),
                                       rel=1e-6)


def test_softadapt_update_matches_a_hand_computation():
    now, last = (1.0, 3.0, 10.0, 0.5), (2.0, 2.0, 12.0, 0.5)
    got = softadapt_weights(per_term(now), per_term(last), beta=2.0)
    # slopes (-1, 1, -2, 0), sum of |s| = 4 -> normalised (-0.25, 0.25, -0.5, 0), times beta 2
    expected = softmax([-0.5, 0.5, -1.0, 0.0])
    assert [float(got[t]) for t in TERMS] == pytest.approx(expected, rel=1e-12)
    assert sum(expected) == pytest.approx(1.0)
    # normalised slopes do not see the terms' scales
    scaled = softadapt_weights(per_term([1e4 * v for v in now]), per_term([1e4 * v for v in last]),
                               beta=2.0)
    assert [float(scaled[t]) for t in TERMS] == pytest.approx(expected, rel=1e-9)


def test_lra_update_matches_a_hand_computation():
    got = lra_weights(per_term((1.0, 2.0, 0.0, 4.0)), torch.tensor([3.0], dtype=torch.float64),
                      per_term((1.0, 0.5, 1.5, 6.0)), alpha=0.9)
    # (1 - 0.9) * old + 0.9 * 3 / mean: grad 0.2 + 5.4, laplacian 0 + 1.8, dt 0.4 + 0.45
    assert [float(got[t]) for t in TERMS] == pytest.approx([1.0, 5.6, 1.8, 0.85], rel=1e-12)


@pytest.mark.parametrize("method", ["fused", "forward", "autograd"])
def test_per_term_gradients_are_each_models_own_and_the_step_still_sees_its_graph(method):
    """gradient_magnitudes on an ensemble of two against each model alone, differentiated by
    nested autograd; the graph it retains (the fused kernel's too) still gives the step the
    gradient a fresh graph gives."""
    torch.manual_seed(0)
    model = make_model("sine", width=8, depth=2, models=2, seed=[3, 4]).double()
    coords = torch.rand(2, 64, 3, dtype=torch.float64) * 2 - 1
    batch = {"value": torch.rand(2, 64, dtype=torch.float64),
             "grad": torch.randn(2, 64, 2, dtype=torch.float64),
             "laplacian": torch.randn(2, 64, dtype=torch.float64) * 100,
             "dt": torch.randn(2, 64, dtype=torch.float64)}
    params = list(model.parameters())
    terms = squared_errors(derivatives(model, coords, FIELDS, method), batch)
    got = gradient_magnitudes(terms, params, torch.tensor([True, True]))
    for m in range(2):
        alone = model.member(m)
        own = squared_errors(derivatives(alone, coords[m:m + 1], FIELDS, "autograd"),
                             {k: v[m:m + 1] for k, v in batch.items()})
        for t in TERMS:
            grads = torch.autograd.grad(own[t].sum(), list(alone.parameters()),
                                        retain_graph=True, allow_unused=True)
            # a parameter a term does not reach (the last bias, for a derivative) counts as 0
            flat = np.concatenate([np.zeros(p.numel()) if g is None else g.numpy().ravel()
                                   for p, g in zip(alone.parameters(), grads)])
            assert float(got[t][0][m]) == pytest.approx(np.abs(flat).max(), rel=1e-9)
            assert float(got[t][1][m]) == pytest.approx(np.abs(flat).mean(), rel=1e-9)
    total = sum(terms.values()).sum()
    total.backward()
    after = [p.grad.clone() for p in params]
    fresh = sum(squared_errors(derivatives(model, coords, FIELDS, method), batch).values()).sum()
    for p, g, f in zip(params, after, torch.autograd.grad(fresh, params)):
        assert torch.allclose(g, f, rtol=1e-12, atol=0)
    dead = gradient_magnitudes(
        squared_errors(derivatives(model, coords, FIELDS, method), batch), params,
        torch.tensor([True, False]))
    assert all(float(top[1]) == 0 and float(mean[1]) == 0 for top, mean in dead.values())


def test_the_saudade_draws_are_each_models_own_from_its_seed():
    draws = saudade_draws([0.5, 0.9], [3, 7], 2000)
    alone = saudade_draws([0.9], [7], 2000)
    assert torch.equal(draws[:, 1], alone[:, 0])  # the same alone as in an ensemble
    g = torch.Generator().manual_seed(3 + SAUDADE_SEED_OFFSET)
    assert torch.equal(draws[:, 0], torch.rand(2000, generator=g, dtype=torch.float64) < 0.5)
    assert abs(draws[:, 1].double().mean().item() - 0.9) < 0.03


@pytest.mark.parametrize("scheme", ["lra", "relobralo", "softadapt"])
def test_a_non_finite_model_keeps_its_weights_and_poisons_no_other(scheme):
    losses = [RunConfig().replace(loss={"balance": scheme, "grad": 0.5}).loss] * 2
    balancer = Balancer.of(losses, [0, 1], steps=3, dtype=torch.float64, device="cpu")
    start = balancer.start(losses, torch.float64, "cpu")
    good = (0.5, 2.0, 10.0, 1.0)
    state = balancer.update(start, 0, per_term(good, good), torch.tensor([True, True]))
    nan = (0.4, math.nan, 9.0, 1.0)
    grads = {t: (torch.tensor([2.0, math.nan], dtype=torch.float64),
                 torch.tensor([0.5, 0.5], dtype=torch.float64)) for t in TERMS}
    step = 0 if scheme == "lra" else 1
    both = balancer.update(state, step, per_term((0.4, 1.0, 9.0, 1.0), nan),
                           torch.tensor([True, True]), grads)
    lone = balancer.update(state, step, per_term((0.4, 1.0, 9.0, 1.0), good),
                           torch.tensor([True, True]), grads)
    for t in TERMS:
        assert math.isfinite(float(both.weights[t][0]))
        assert float(both.weights[t][0]) == float(lone.weights[t][0])  # model 0 unaffected
        assert float(both.weights[t][1]) == float(state.weights[t][1])  # model 1 kept its own
        assert float(both.last[t][1]) == float(state.last[t][1])


# ----------------------------------------------------------------------------- a balanced run

def logged_weights(run_dir) -> dict[str, list[tuple[int, float]]]:
    scalars = read_events(run_dir)["scalars"]
    return {t: scalars[f"weights/{t}"] for t in TERMS}


@pytest.mark.parametrize("scheme", ["relobralo", "lra"])
def test_a_model_in_an_ensemble_gets_the_weights_it_gets_alone(tmp_path, scheme):
    """Each model's λ at every step, as logged, within 1e-5 relative of the same run alone
    (float32 round-off, amplified by relobralo's softmax at temperature 0.1)."""
    configs = [tiny(tmp_path, f"joint{s}", train={"seed": s},
                    loss={"balance": scheme, **loss})
               for s, loss in ((0, {"grad": 0.1}), (5, {"pixel": 0.5, "laplacian": 1e-3}))]
    train_ensemble(configs)
    for m, cfg in enumerate(configs):
        alone = train(cfg.replace(output={"run_dir": str(tmp_path / f"alone{m}")}))
        joint = logged_weights(tmp_path / f"joint{[0, 5][m]}")
        single = logged_weights(tmp_path / f"alone{m}")
        for t in TERMS:
            assert [s for s, _ in joint[t]] == list(range(30))
            assert [v for _, v in joint[t]] == pytest.approx([v for _, v in single[t]],
                                                             rel=1e-5, abs=1e-12)
        assert alone.final_weights == pytest.approx(
            {t: joint[t][-1][1] for t in TERMS}, rel=1e-5)
    moved = [v for _, v in logged_weights(tmp_path / "joint0")["laplacian"]]
    assert moved[-1] != moved[0]  # the weights did change


def test_a_balanced_run_trains_every_term_logs_its_weights_and_records_its_scheme(tmp_path):
    cfg = tiny(tmp_path, loss={"balance": "relobralo"})  # pixel-only start
    assert cfg.loss.fields() == FIELDS and RunConfig().loss.fields() == ("value",)
    result = train(cfg)
    events = read_events(tmp_path / "run")
    scalars = events["scalars"]
    loss_steps = [s for s, _ in scalars["train/loss"]]
    for t in TERMS:
        assert [s for s, _ in scalars[f"weights/{t}"]] == loss_steps  # logged with the losses
        assert f"train/{t}_loss" in scalars  # trained, though its configured weight is 0
    assert scalars["weights/grad"][0][1] == 0.0 and scalars["weights/grad"][-1][1] > 0
    assert events["hparams"]["balance"] == "relobralo"
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["balance"]["scheme"] == "relobralo"
    assert saved["balance"]["final_weights"] == result.final_weights
    # the final weights are those of the last step, logged as float32
    assert saved["balance"]["final_weights"] == pytest.approx(
        {t: scalars[f"weights/{t}"][-1][1] for t in TERMS}, rel=1e-7)
    row = row_of(saved)
    assert row["balance"] == "relobralo"
    columns = list(row)
    assert columns.index("balance") == columns.index("normalize") + 1
    assert RunDir(tmp_path / "run").result(cfg).final_weights == result.final_weights
    # a record of a fixed-weight run, and one written before balancing existed, read "none"
    plain = record(RunResult(tiny(), {"status": "completed"}), {f: 1.0 for f in FIELDS})
    assert "balance" not in plain and row_of(plain)["balance"] == "none"
    del plain["config"]["loss"]["balance"]
    assert row_of(plain)["balance"] == "none"


def test_an_unknown_scheme_is_a_one_line_error_before_training(tmp_path, monkeypatch):
    path = tmp_path / "run.toml"
    path.write_text('[loss]\nbalance = "gradnorm"\n')
    cfg = RunConfig.load(path, base=tiny())
    monkeypatch.setattr(loop_module, "build_data", lambda *a: pytest.fail("trained"))
    with pytest.raises(ValueError) as err:
        train(cfg)
    assert str(err.value) == ("unknown loss.balance 'gradnorm'; choose from none, lra, "
                              "relobralo, softadapt")
    path.write_text('[loss]\nbalance = "relobralo"\n')
    assert RunConfig.load(path).loss.balance == "relobralo"
    exp = tmp_path / "bal.toml"
    exp.write_text('name = "bal"\n[grid]\nbalance = ["none", "gradnorm"]\n')
    with pytest.raises(ValueError, match="grid.balance: unknown scheme 'gradnorm'; choose from "
                                         "none, lra, relobralo, softadapt") as err:
        plan([load_experiment(exp)], tiny(), tmp_path / "out")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("scheme", ["relobralo", "lra"])
def test_a_balanced_run_continues_from_its_mid_run_checkpoint_exactly(tmp_path, monkeypatch,
                                                                      scheme):
    cfg = tiny(loss={"balance": scheme, "grad": 0.1}, train={"steps": 40})
    straight = train(cfg)
    cfg = cfg.replace(output={"run_dir": str(tmp_path / "run")})
    state = tmp_path / "state.pt"
    restore = interrupt_at(monkeypatch, 25)
    first = train_ensemble([cfg], state_path=state)[0]
    assert first.status == "interrupted" and state.is_file()
    saved = torch.load(state, weights_only=False)["balance"]
    assert saved["weights"]["grad"].item() != 0.1  # the checkpoint holds the balanced weights
    restore()
    resumed = train_ensemble([cfg], state_path=state)[0]
    assert resumed.status == "completed" and not state.exists()
    assert resumed.final_weights == straight.final_weights
    assert resumed.metrics["pixel_mse"] == straight.metrics["pixel_mse"]


def test_a_checkpoint_written_before_balancing_existed_still_resumes():
    cfg = tiny()
    old = cfg.identity()
    for key in ("balance", "balance_every", "lra_alpha", "relobralo_alpha",
                "relobralo_temperature", "relobralo_saudade", "softadapt_beta"):
        del old["loss"][key]
    assert loop_module._same_identities([old], [cfg])
    assert not loop_module._same_identities([old], [cfg.replace(loss={"balance": "lra"})])


# ----------------------------------------------------------------------------- names and sweeps

OLD_IDENTITY = {  # RunConfig().identity() before loss.balance existed, image as "cameraman.png"
    "data": {"image": "cameraman.png", "size": 64, "frames": 8, "t_start": 0.05, "t_stop": 1.0,
             "diffusivity": 0.02, "method": "spectral", "heldout": True},
    "model": {"activation": "sine", "width": 64, "depth": 3, "w0": 30.0, "gauss_scale": 10.0,
              "wire_s0": 3.0},
    "loss": {"pixel": 1.0, "grad": 0.0, "laplacian": 0.0, "dt": 0.0, "ssim": 0.0,
             "ms_ssim": 0.0, "normalize": "none"},
    "train": {"steps": 300, "batch": "points", "points": 4096, "eval_every": 100, "seed": 0,
              "device": "auto", "dtype": "float32", "matmul_precision": "highest",
              "derivative_method": "fused"},
    "schedule": {"kind": "constant", "lr": 0.0001, "gamma": None, "final_lr": None,
                 "milestones": [], "base_lr": None, "max_lr": None, "step_size_up": 2000,
                 "step_size_down": None, "mode": "triangular"}}
BALANCE_DEFAULTS = {"balance": "none", "balance_every": 10, "lra_alpha": 0.9,
                    "relobralo_alpha": 0.999, "relobralo_temperature": 0.1,
                    "relobralo_saudade": 0.999, "softadapt_beta": 0.1}


def test_an_unbalanced_runs_names_and_identity_are_what_they_were(tmp_path):
    cfg = RunConfig().replace(data={"image": "cameraman.png"})
    other = cfg.replace(loss={"normalize": "variance", "grad": 0.01}, model={"w0": 10.0})
    names = {(layout, label, c is other): run_name(layout, label, c)
             for layout in ("betas", "activation", "losses") for label, c in
             ((None, cfg), ("w", other))}
    assert names == {
        ("betas", None, False): "cameraman/experiments/1_0_0_0/sine_constant_0.0001",
        ("activation", None, False): "sine/cameraman_experiments_1_0_0_0",
        ("losses", None, False): "cameraman/losses/1_0_0_0/sine_constant_0.0001",
        ("betas", "w", True): "cameraman/experiments/1_0.01_0_0/sine-w010_constant_0.0001_variance",
        ("activation", "w", True): "sine-w010/cameraman_experiments_w_variance",
        ("losses", "w", True): "cameraman/losses/w/sine-w010_constant_0.0001_variance"}
    balanced = other.replace(loss={"balance": "relobralo"})
    assert [run_name(layout, "w", balanced) for layout in ("betas", "activation", "losses")] == [
        "cameraman/experiments/1_0.01_0_0/sine-w010_constant_0.0001_variance_bal-relobralo",
        "sine-w010/cameraman_experiments_w_variance_bal-relobralo",
        "cameraman/losses/w/sine-w010_constant_0.0001_variance_bal-relobralo"]
    # the identity gains the balance settings at their defaults, and nothing else changes
    identity = cfg.identity()
    added = {k: identity["loss"].pop(k) for k in BALANCE_DEFAULTS}
    assert identity == OLD_IDENTITY and added == BALANCE_DEFAULTS
    # a run recorded before the fields existed is still done, not trained again
    run = RunDir(tmp_path / "run")
    planned = cfg.replace(output={"run_dir": str(run.path)})
    saved = record(RunResult(planned, {"status": "completed"}), {f: 1.0 for f in FIELDS})
    for key in BALANCE_DEFAULTS:
        del saved["config"]["loss"][key]
    run.write(saved)
    assert run.state(planned) == "done"
    assert run.state(planned.replace(loss={"balance": "lra"})) == "conflict"


def test_a_balance_grid_plans_a_run_per_scheme_each_ensemble_one_scheme(tmp_path):
    exp = tmp_path / "bal.toml"
    exp.write_text('name = "bal"\n[base.loss]\ngrad = 0.01\n'
                   '[grid]\nlr = [1e-4, 1e-3]\nbalance = ["none", "relobralo", "lra"]\n')
    runs = plan([load_experiment(exp)], tiny(data={"image": "cameraman.png"}), tmp_path / "out")
    names = sorted(r.name for r in runs)
    assert names == sorted(f"cameraman/experiments/1_0.01_0_0/sine_constant_{lr}{suffix}"
                           for lr in ("0.0001", "0.001")
                           for suffix in ("", "_bal-relobralo", "_bal-lra"))
    assert {r.config.loss.balance for r in runs} == {"none", "relobralo", "lra"}
    groups = ensembles(runs, "batched", 8)
    assert sorted(len(g) for g in groups) == [2, 2, 2]
    assert all(len({r.config.loss.balance for r in g}) == 1 for g in groups)
    with pytest.raises(ValueError, match="loss.balance"):
        train_ensemble([tiny(), tiny(loss={"balance": "lra"})])
