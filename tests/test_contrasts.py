"""The report's tests (inr.report.contrasts) on hand-made rows: every comparison is tested once,
in one family; a setting that repeats another's trained fields is tested once; a choice at the
edge of its grid is reported as such."""
import math

import numpy as np

from inr.report.analysis import EDGE_WORDS, compare_with_original, edge_lines
from inr.report.contrasts import all_tests, grid_choices, repeated_settings
from inr.vocabulary import MSE_TERMS

VARIANCES = {"pixel": 0.05, "grad": 0.36, "laplacian": 108.0, "dt": 0.044}
SETTINGS = {"pixel": (1, 0, 0, 0), "grad": (0, 1, 0, 0), "laplacian": (0, 0, 1, 0),
            "all": (1, 1, 1, 1)}


def run_row(activation, setting, seed, stage, scale, quality, arm=True, image="camera"):
    """One activation run's summary row as inr.artefacts.rundir.row_of writes it: raw weights
    of `setting`, effective weights beta * variance, every field's MSE scaled by `quality`."""
    betas = SETTINGS[setting]
    name = f"{activation}-{scale:g}/{image}_experiments_{setting}"
    row = {"configuration": name, "name": name if seed == 0 else f"{name}_seed{seed}",
           "seed": float(seed), "stage": stage, "status": "completed", "reference": "",
           "role": "tuned" if arm else "reference", "image": image, "image_role": "",
           "questions": "activation", "experiments": "activations", "weights": setting,
           "arm": f"{setting}/{activation}" if arm else "", "activation": activation,
           "scale": float(scale), "scheduler": "constant", "lr": 1e-4}
    for term, beta in zip(MSE_TERMS, betas):
        row[f"beta_{term}"] = float(beta)
        row[f"effective_{term}"] = beta * VARIANCES[term]
        row[f"variance_{'value' if term == 'pixel' else term}"] = VARIANCES[term]
    row.update({"beta_ssim": 0.0, "beta_ms_ssim": 0.0})
    for term in MSE_TERMS:
        row[f"{term}_mse"] = VARIANCES[term] * quality
    row["psnr"] = -10 * math.log10(row["pixel_mse"])
    return row


def activation_rows(scales=(10.0, 30.0, 90.0), best=30.0):
    """Sine tuned over `scales` on seed 0 (the `best` one far ahead), ELU untuned; the chosen
    members confirmed on seeds 1-4 with seed noise; settings pixel, grad, laplacian and the raw
    all-terms setting (whose Laplacian carries 99% of the effective weight)."""
    rng = np.random.default_rng(5)
    rows = []
    for setting in SETTINGS:
        for scale in scales:
            rows.append(run_row("sine", setting, 0, "screening", scale,
                                1e-3 if scale == best else 1e-1))
        rows.append(run_row("elu", setting, 0, "screening", 1, 1.0))
        for seed in range(1, 5):
            rows.append(run_row("sine", setting, seed, "confirmation", best,
                                1e-3 * math.exp(rng.normal(0, 0.3))))
            rows.append(run_row("elu", setting, seed, "confirmation", 1,
                                math.exp(rng.normal(0, 0.3))))
    return rows


def test_no_comparison_is_tested_in_two_families_and_verdict_a_reads_the_activation_family():
    rows = activation_rows()
    tests = all_tests(rows)
    keys = {}
    for t in tests:
        key = (t.question, t.image, t.setting, t.metric, t.a.key, t.b.key, t.kind)
        assert keys.setdefault(key, t.family) == t.family, key
    assert len(keys) == len(tests)
    assert not any(t.family.startswith("original") for t in tests)
    # (a) counts the activation family's tests: one per (setting, field), each once
    lines = compare_with_original(rows, tests)
    duels = [t for t in tests if t.question == "activation"]
    assert lines[0].startswith(f"(a) Original: SIREN beats ELU. Here: sine separated ahead on "
                               f"{len(duels)}, elu on 0, of {len(duels)}")


def test_a_setting_that_repeats_another_is_tested_once():
    """The raw all-terms setting trains the Laplacian alone (99.6% of its effective weight), as
    the Laplacian setting does: its tests would repeat those, so it has none."""
    rows = activation_rows()
    assert repeated_settings(rows, "activation") == {"all": "laplacian"}
    settings = {t.setting for t in all_tests(rows)}
    assert settings == {"pixel", "grad", "laplacian"}


def test_a_choice_at_the_edge_of_its_grid_is_reported_and_an_interior_one_is_not():
    edge = activation_rows(best=10.0)
    choices = grid_choices(edge, "activation")
    assert {(c.arm, c.column, c.chosen, c.edge) for c in choices} == {
        (f"{s}/sine", "scale", 10.0, "lowest") for s in SETTINGS}
    line = edge_lines(edge, "activation")
    assert len(line) == 1 and EDGE_WORDS in line[0] and "scale 10, the lowest of 10, 30, 90" \
        in line[0]
    assert edge_lines(activation_rows(best=30.0), "activation") == []
    top = activation_rows(best=90.0)
    assert {c.edge for c in grid_choices(top, "activation")} == {"highest"}
