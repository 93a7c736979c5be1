"""Selection on synthetic records: every configuration is pure seed noise around one common mean,
so no difference is real. The sweep's own choice (inr.sweep.stages.confirmation_choice) picks the
top vectors on the screening seed, the report's own tests (inr.report.contrasts) compare them
with the reference vectors on fresh seeds, and across many simulated families those tests call no
more of them separated than a binomial bound at alpha allows; a mean that keeps the screening
seed is biased up (the winner's curse), the fresh mean is not."""
import gc
import math

import numpy as np
from scipy import stats

from inr.report.contrasts import correct, weights_tests
from inr.stats.selection import named_in_advance, selection_score, trained_terms
from inr.sweep.stages import confirmation_choice
from inr.vocabulary import ORIGINAL_BEST, PIXEL_ONLY, Question, Stage

FAMILIES, DRAWN, TOP, FRESH = 300, 12, 2, 5
MEAN_PSNR, SD_PSNR, MEAN_LOG_GRAD, SD_LOG_GRAD = 36.0, 1.0, math.log(0.02), 0.3


def row(configuration, seed, stage, psnr, grad_mse, reference=""):
    return {"configuration": configuration, "name": f"{configuration}_seed{seed}",
            "seed": float(seed), "stage": stage, "status": "completed", "reference": reference,
            "questions": Question.WEIGHTS, "experiments": "random-weights", "weights": "",
            "arm": "", "activation": "sine", "scheduler": "constant", "lr": 1e-4,
            "psnr": psnr, "pixel_mse": 10 ** (-psnr / 10), "grad_mse": grad_mse,
            **{f"beta_{t}": b for t, b in zip(("pixel", "grad", "laplacian", "dt"),
                                             (1.0, 0.1, 0.0, 0.0))}}


def family(rng):
    """One simulated sweep: screening rows (seed 0) of DRAWN vectors and the two references,
    then their confirmation rows on FRESH seeds for the configurations the sweep chooses. A
    seed effect shared by all configurations makes the seeds matched, as in real runs."""
    names = [f"v{i}" for i in range(DRAWN)] + [PIXEL_ONLY, ORIGINAL_BEST]
    seed_psnr = rng.normal(0, SD_PSNR, FRESH + 1)
    seed_grad = rng.normal(0, SD_LOG_GRAD, FRESH + 1)

    def draw(name, seed, stage):
        psnr = MEAN_PSNR + seed_psnr[seed] + rng.normal(0, SD_PSNR)
        grad = math.exp(MEAN_LOG_GRAD + seed_grad[seed] + rng.normal(0, SD_LOG_GRAD))
        return row(name, seed, stage, psnr, grad, name if name in (PIXEL_ONLY, ORIGINAL_BEST)
                   else "")

    screening = [draw(n, 0, Stage.SCREENING) for n in names]
    chosen = confirmation_choice(screening, Question.WEIGHTS, TOP)
    confirmed = [draw(n, s, Stage.CONFIRMATION) for n in chosen for s in range(1, FRESH + 1)]
    return screening, confirmed, chosen


def test_fresh_seed_confirmation_keeps_the_false_separations_within_alpha(monkeypatch):
    # statsmodels' Holm (multipletests) calls gc.collect() each time: 0.16 s in a test process
    # that holds torch, 300 x 3 times here. The numbers do not depend on it.
    monkeypatch.setattr(gc, "collect", lambda *args: 0)
    rng = np.random.default_rng(20261129)
    false_families, curse, fresh_bias, tests_run = 0, [], [], 0
    for _ in range(FAMILIES):
        screening, confirmed, chosen = family(rng)
        assert {PIXEL_ONLY, ORIGINAL_BEST} <= set(chosen)
        assert len(chosen) <= 2 * TOP + 2
        tests = correct(weights_tests(screening + confirmed))
        # the family's claims of a difference (non-inferiority, true here, is no false claim)
        plain = [t for t in tests if t.family == Question.WEIGHTS and t.kind != "noninferiority"]
        tests_run += len(plain)
        assert all(t.comparison.paired and set(t.comparison.seeds) == set(range(1, FRESH + 1))
                   for t in plain), "the tests use the fresh seeds only"
        false_families += any(t.separated for t in plain)
        best = max((r for r in screening if not r["reference"]
                    and r["configuration"] in chosen), key=lambda r: r["psnr"])
        fresh = [r["psnr"] for r in confirmed if r["configuration"] == best["configuration"]]
        curse.append((best["psnr"] + sum(fresh)) / (1 + len(fresh)) - MEAN_PSNR)
        fresh_bias.append(np.mean(fresh) - MEAN_PSNR)
    assert tests_run >= FAMILIES * 10
    # Holm keeps each family's chance of any false separation at or below 0.05: the count
    # stays within the binomial's 99.9% quantile at alpha (a test that fails by chance once in
    # a thousand draws, on a fixed generator: never)
    assert false_families <= stats.binom.ppf(0.999, FAMILIES, 0.05), false_families
    # the best drawn vector on the screening seed is well above the mean; one of 6 seeds
    # carries it: the mean keeping it is biased up, the fresh mean is not (standard errors
    # over the families, measured)
    curse_se = np.std(curse, ddof=1) / math.sqrt(FAMILIES)
    fresh_se = np.std(fresh_bias, ddof=1) / math.sqrt(FAMILIES)
    assert np.mean(curse) > 0.15 and np.mean(curse) > 4 * curse_se, (np.mean(curse), curse_se)
    assert abs(np.mean(fresh_bias)) < 4 * fresh_se, (np.mean(fresh_bias), fresh_se)


def test_testing_on_the_seed_that_chose_calls_far_more_noise_separated():
    """The same families tested on all seeds, the screening seed kept (a Welch-free, paired
    test of the chosen vector against pixel-only): the chosen vector looks better than it is."""
    rng = np.random.default_rng(7)
    kept, fresh_only = [], []
    for _ in range(200):
        screening, confirmed, chosen = family(rng)
        best = max((r for r in screening if not r["reference"]
                    and r["configuration"] in chosen), key=lambda r: r["psnr"])
        rows = screening + confirmed

        def series(name, with_screening):
            return [r["psnr"] for r in sorted(rows, key=lambda r: r["seed"])
                    if r["configuration"] == name and (with_screening or r["seed"] > 0)]
        kept.append(stats.ttest_rel(series(best["configuration"], True),
                                    series(PIXEL_ONLY, True)).statistic)
        fresh_only.append(stats.ttest_rel(series(best["configuration"], False),
                                          series(PIXEL_ONLY, False)).statistic)
    assert np.mean(kept) > np.mean(fresh_only) + 0.2
    assert abs(np.mean(fresh_only)) < 0.25


def test_an_arm_is_tuned_by_the_fields_its_loss_weighs_and_claims_are_named_in_advance():
    base = {"status": "completed", "stage": Stage.SCREENING, "seed": 0.0,
            "beta_pixel": 1.0, "beta_grad": 0.01, "beta_laplacian": 0.001, "beta_dt": 0.0,
            "beta_ssim": 0.0, "beta_ms_ssim": 0.0,
            "effective_pixel": 0.05, "effective_grad": 0.0067, "effective_laplacian": 0.107,
            "effective_dt": 0.0, "variance_value": 0.05, "variance_grad": 0.67,
            "variance_laplacian": 107.0, "variance_dt": 0.043}
    assert trained_terms(base) == ["pixel", "grad", "laplacian"]
    laplacian_heavy = {**base, "beta_grad": 1.0, "beta_laplacian": 1.0, "beta_dt": 1.0,
                       "effective_pixel": 0.053, "effective_grad": 0.67,
                       "effective_laplacian": 107.0, "effective_dt": 0.043}
    assert trained_terms(laplacian_heavy) == ["laplacian"]  # the others carry < 1% each
    run = {**base, "pixel_mse": 0.05 * math.exp(-4), "grad_mse": 0.67 * math.exp(-2),
           "laplacian_mse": 107.0 * math.exp(-3)}
    assert selection_score(run) == -3.0  # mean of ln(MSE / variance) over the trained fields
    arms = [{**run, "configuration": "a1", "arm": "a"},
            {**run, "configuration": "a2", "arm": "a", "grad_mse": run["grad_mse"] / 10},
            {**run, "configuration": "b1", "arm": "b"}]
    assert confirmation_choice(arms, Question.PIXEL_LOSS, 2) == ["a2", "b1"]
    assert named_in_advance({"scheduler": "constant", "lr": 1e-7}, Question.LEARNING_RATE)
    assert not named_in_advance({"scheduler": "constant", "lr": 1e-4}, Question.LEARNING_RATE)
    assert named_in_advance({"reference": PIXEL_ONLY}, Question.WEIGHTS)


def test_several_images_choose_once_on_all_of_them_by_the_mean_of_their_log_errors():
    """Image a prefers v1 by a factor of 2, image b prefers v2 by a factor of 100: the pooled
    choice is the vector with the smaller mean of ln(MSE) over the images (numpy, below), and
    the same vector is chosen on both images; each image alone would choose its own."""
    grads = {"a": {"v1": 0.01, "v2": 0.02, "v3": 0.5}, "b": {"v1": 0.3, "v2": 0.003, "v3": 0.4}}
    rows = []
    for image, by_vector in grads.items():
        for vector, grad in by_vector.items():
            key = f"{image}/experiments/{vector}/sine_constant_0.0001"
            psnr = {"v1": 31.0, "v2": 30.0, "v3": 29.0}[vector]
            rows.append({**row(key, 0, Stage.SCREENING, psnr, grad), "image": image,
                         "across_images": f"*/experiments/{vector}/sine_constant_0.0001"})
    pooled = {v: np.mean([math.log(grads[i][v]) for i in grads]) for v in ("v1", "v2", "v3")}
    best = min(pooled, key=pooled.get)
    assert best == "v2"
    chosen = confirmation_choice(rows, Question.WEIGHTS, 1)  # by pixel_mse, then by grad_mse
    assert chosen == [f"{i}/experiments/{v}/sine_constant_0.0001"
                      for v in ("v1", best) for i in grads]
    alone = [confirmation_choice([r for r in rows if r["image"] == i], Question.WEIGHTS, 1)[-1]
             for i in grads]
    assert alone == ["a/experiments/v1/sine_constant_0.0001",
                     "b/experiments/v2/sine_constant_0.0001"]


def test_vectors_an_experiment_file_names_are_tested_on_all_their_seeds_not_exploratory():
    """Without a confirmation stage, vectors named in advance (role 'reference', as
    experiments/medium/weights.toml plans them) are tested in the family 'weights'; random
    draws ranked on the same seeds stay exploratory."""
    rng = np.random.default_rng(7)

    def rows_of(role):
        out = []
        for name, reference in (("v", ""), (PIXEL_ONLY, PIXEL_ONLY)):
            for seed in range(3):
                r = row(name, seed, Stage.SCREENING, 30 + rng.normal(), 0.02, reference)
                out.append({**r, "role": "reference" if reference else role})
        return out
    named = {t.family for t in weights_tests(rows_of("reference"))}
    drawn = {t.family for t in weights_tests(rows_of("drawn"))}
    assert "weights" in named and not any("exploratory" in f for f in named)
    assert drawn == {"weights/exploratory"}
    # and the sweep chooses nothing among named vectors: no confirmation stage for them
    assert confirmation_choice(rows_of("reference"), Question.WEIGHTS, 2) == []
    assert "v" in confirmation_choice(rows_of("drawn"), Question.WEIGHTS, 2)


def test_a_balanced_run_is_judged_on_every_field_and_repeats_no_fixed_vector():
    """A run that balances its weights (loss.balance) trains all four MSE terms whatever its
    starting weights: it is judged on each, labelled by its scheme, and never counted as a
    repeat of the fixed vector it starts from."""
    from inr.report.contrasts import distinct_key
    from inr.report.rows import betas
    from inr.stats.selection import trained_terms
    fixed = {"beta_pixel": 1.0, "beta_grad": 0.0, "beta_laplacian": 0.0, "beta_dt": 0.0,
             "effective_pixel": 0.05, "effective_grad": 0.0, "effective_laplacian": 0.0,
             "effective_dt": 0.0, "configuration": "a", "balance": "none"}
    lra = {**fixed, "configuration": "b", "balance": "lra"}
    assert trained_terms(fixed) == ["pixel"]
    assert trained_terms(lra) == ["pixel", "grad", "laplacian", "dt"]
    assert distinct_key(lra) != distinct_key(fixed)
    assert distinct_key(lra) != distinct_key({**lra, "configuration": "c"})
    assert betas(fixed) == "(1, 0, 0, 0)" and betas(lra) == "(1, 0, 0, 0) balanced by lra"
