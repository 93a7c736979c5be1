"""The tests the report makes, declared per question before any run, as pure functions over
report rows (inr.report.rows). Every row of results/comparisons.csv is one `Test`
(inr.report.comparisons.row_of).

Which configurations a question compares, and on which seeds:
- A question whose sweep had a confirmation stage (runs with stage "confirmation") compares the
  configurations that stage trained, on the confirmation seeds only: the screening seed that
  chose a configuration never speaks for it (inr.sweep.stages).
- A question without one compares its configurations on all their seeds when nothing was chosen
  from the data (each arm has one member, no random draws); otherwise its tests are exploratory.

Each question's contrasts (family = the question's name, Holm-corrected together):
    activation      at each weight setting, each pair of activations (each at its tuned scale),
                    on each field the setting trains
    learning_rate   each pair of schedules (each at its tuned lr), on each field trained
    weights         each confirmed vector against each reference vector, and the references
                    against each other, on pixels (PSNR) and the gradient (log MSE), each where
                    the vector's loss trains that field; each confirmed vector that trains both
                    better than the original's best on both (intersection-union test); and each
                    such vector not worse than pixel-only in PSNR by NONINFERIORITY_MARGIN_DB or
                    more (one-sided non-inferiority test, its power printed beside it); and
                    after a loss-weight search (inr.sweep.comparison), each adaptively balanced
                    vector against the best fixed vector the searches found, on both fields
    pixel_loss      each pixel-loss arm (at its tuned weight) against MSE, on each field trained
    poisson         at each setting (the gradient alone, the Laplacian alone), each pair of
                    activations on the reconstruction scored up to its free part
    original        the original's lr claims (b), the only tests its verdicts add: the verdicts
                    (a) SIREN against ELU and (c) dominance over the original's best read the
                    activation and weights families' own tests (inr.report.analysis), so every
                    comparison is tested once, in one family, with one verdict

A setting or a vector whose trained fields and effective weights repeat an earlier one's (the
raw all-terms setting, 99% Laplacian, repeats Laplacian-only) is tested once (`distinct_key`).

The metric of a field is named in advance (inr.vocabulary.PRIMARY_METRIC). A family marked
exploratory is printed but separates nothing. Intervals are 95% and unadjusted.

With several images (the rows' `image`), every question is tested on each image apart, in
families '<family>/<image>', and each comparison made on several images is also pooled across
them (`pooled_tests`, family '<question>/all', image 'all'): over the held-out images where the
sweep had any (their rows' image_role; they took no part in any choice), else over all of them.
Each test says where its configurations were chosen (`chosen_on`: the images and seeds of the
screening that chose them, '-' where nothing was chosen) and where it is tested (`tested_on`).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from inr.artefacts.rundir import by_image
from inr.report.rows import asking, betas
from inr.stats import (ALPHA, Comparison, Configuration, compare, configurations,
                       detectable_effect, dominance, holm, noninferiority, noninferiority_power,
                       pooled_sd)
from inr.stats.inference import one_sided
from inr.stats.pooling import METHOD as POOLED_TEST
from inr.stats.pooling import Pooled, random_effects
from inr.stats.selection import (arm_of, balanced, best_per_arm, edge_of_grid, effective_shares,
                                 mean_selection_score, named_in_advance, trained_terms,
                                 tuned_column)
from inr.vocabulary import (BEST_FIXED, ORIGINAL_BEST, ORIGINAL_LR_CLAIMS, PERCEPTUAL_TERMS, PIXEL_ONLY,
                            POISSON_METRIC, PRIMARY_METRIC, ImageRole, Question, Role, Stage)

ORIGINAL = "original"  # the family of the verdicts on the original project's claims
EXPLORATORY = "exploratory"
# "costs no pixels": a vector loses less than this in PSNR against pixel-only, fixed before any
# run. It is less than one seed-to-seed sd of the pixel-only runs' own PSNR (1.4 dB over seeds
# 0-2 at the quick profile, shared/NOTES section 7): a loss smaller than redrawing the seed.
NONINFERIORITY_MARGIN_DB = 1.0
HEADLINE_TERMS = ("pixel", "grad")  # what the weights question tests its vectors on
ACTIVATION_ORDER = ("sine", "finer", "gauss", "wire", "sinc", "hsiren", "elu")


@dataclass
class Test:
    """One test: a against b. kind: 't' (two-sided, paired or Welch), 'dominance' (a better on
    every metric of `metric`, joined by '+'), 'noninferiority' (a not worse than b by `margin`
    or more, on the tested scale). p_holm and separated are set by `correct`; detectable: the
    effect its family's test could have seen, power: a non-inferiority test's power where a and
    b are equal (see `correct`); a pooled test (image POOLED) carries `pooled`."""
    question: str
    family: str
    metric: str
    a: Configuration
    b: Configuration
    comparison: Comparison
    kind: str = "t"
    p: float = math.nan
    p_holm: float = math.nan
    separated: bool = False
    family_size: int = 0
    detectable: float = math.nan
    setting: str = ""  # what the compared configurations were trained on, where it varies
    margin: float = math.nan
    image: str = ""  # the image both were trained on
    note: str = field(default="")
    power: float = math.nan
    pooled: Pooled | None = None
    chosen_on: str = "-"  # where a or b was chosen: images and seeds of the screening
    tested_on: str = ""  # the images and seeds of this test

    @property
    def exploratory(self) -> bool:
        return is_exploratory(self.family)


def is_exploratory(family: str) -> bool:
    """Whether a family (a Test's, or a comparisons.csv row's) is exploratory."""
    return f"/{EXPLORATORY}" in f"/{family}"


# ----------------------------------------------------------------------------- which seeds

def counted_stage(rows: list[dict]) -> str | None:
    """The stage whose seeds a question's tests use: confirmation where the question had one,
    else None (all seeds)."""
    return Stage.CONFIRMATION if any(r.get("stage") == Stage.CONFIRMATION for r in rows) \
        else None


def chosen_per_arm(configs: list[Configuration], stage: str | None,
                   question: str) -> tuple[dict, bool]:
    """{arm: the configuration that stands for it} and whether that involved a choice on the
    tested seeds. An arm stands by the member its screening ranks first (inr.stats.selection.
    best_per_arm), as the sweep chose it for confirmation; without a confirmation stage, an arm
    of several members was chosen on the seeds its tests use (exploratory). With a confirmation
    stage only the members it trained can stand for their arm (a sweep over several images
    chooses on all of them together, so an image's own best member may not be among them)."""
    if stage is not None:
        configs = [c for c in configs if c.by_seed("psnr", stage)] or configs
    chosen = best_per_arm(configs, question)
    several = len(chosen) < len(configs)
    return chosen, stage is None and several


def _t(question, family, a, b, metric, stage, setting="") -> Test:
    comparison = compare(a.by_seed(metric, stage), b.by_seed(metric, stage), metric)
    return Test(question, family, metric, a, b, comparison, p=comparison.p, setting=setting)


def _family(question: str, biased: bool) -> str:
    return f"{question}/{EXPLORATORY}" if biased else question


# ----------------------------------------------------------------------------- the questions

def distinct_key(row: dict) -> tuple:
    """What a run's loss asks, for telling repeated tests apart: the fields it trains
    (inr.stats.selection.trained_terms) with their shares of the effective weight among them,
    to two decimals. Two settings with the same key train the same fields in the same
    proportions (the raw all-terms setting, 99% Laplacian, and the Laplacian alone), so their
    tests would repeat each other. A row without recorded effective weights, or with a
    perceptual term (whose weight has no effective share to compare), is distinct from every
    other (its configuration), and so is a balanced run's (its weights move as it trains)."""
    terms, shares = trained_terms(row), effective_shares(row)
    if not shares or balanced(row) or any((row.get(f"beta_{t}") or 0) > 0
                                          for t in PERCEPTUAL_TERMS):
        return (row.get("configuration"),)
    total = sum(shares.get(t, 0.0) for t in terms)
    return (tuple(terms), tuple(round(shares.get(t, 0.0) / total, 2) if total else None
                                for t in terms))


def _repeats(named_rows) -> dict[str, str]:
    """{a name: the earlier name it repeats (the same `distinct_key`)} over (name, row) pairs in
    order; a name seen again is skipped."""
    seen, repeats = {}, {}
    for name, row in named_rows:
        if name in seen.values() or name in repeats:
            continue
        key = distinct_key(row)
        if key in seen:
            repeats[name] = seen[key]
        else:
            seen[key] = name
    return repeats


def repeated_settings(rows: list[dict], question: str) -> dict[str, str]:
    """{a weight setting of `question`'s rows: the earlier setting it repeats (same
    `distinct_key`)}; such a setting is not tested again."""
    return _repeats((row["weights"], row) for row in asking(rows, question))


def activation_pairs(rows: list[dict], question: str, metrics_of) -> list[Test]:
    """At each weight setting of `question`'s rows (each distinct one once:
    `repeated_settings`), each pair of activations (each at its tuned scale) on each metric of
    metrics_of(the setting's trained terms)."""
    repeats = repeated_settings(rows, question)
    rows = asking(rows, question)
    stage, tests = counted_stage(rows), []
    for setting in dict.fromkeys(r["weights"] for r in rows):
        if setting in repeats:
            continue
        configs = configurations([r for r in rows if r["weights"] == setting])
        chosen, biased = chosen_per_arm(configs, stage, question)
        by_act = sorted(chosen.values(), key=lambda c: _act_rank(c["activation"]))
        metrics = metrics_of(trained_terms(configs[0].first))
        tests += [_t(question, _family(question, biased), a, b, metric, stage, setting)
                  for a, b in itertools.combinations(by_act, 2) for metric in metrics]
    return tests


def activation_tests(rows: list[dict]) -> list[Test]:
    """Each pair of activations at each setting, on each field the setting trains."""
    return activation_pairs(rows, Question.ACTIVATION,
                            lambda terms: [PRIMARY_METRIC[t] for t in terms])


def poisson_tests(rows: list[dict]) -> list[Test]:
    """The SIREN paper's Poisson question: at each setting (gradient alone, Laplacian alone),
    each pair of activations (each at its tuned scale) on the reconstruction scored up to what
    the loss leaves free (inr.vocabulary.POISSON_METRIC); a setting that trains both or neither
    of those fields has no test."""
    def metrics_of(terms):
        scored = [POISSON_METRIC[t] for t in terms if t in POISSON_METRIC]
        return scored if len(scored) == 1 else []
    return activation_pairs(rows, Question.POISSON, metrics_of)


@dataclass(frozen=True)
class GridChoice:
    """What the screening chose in one arm: the column it tuned, the grid's values and the
    chosen value, and `edge` ('lowest', 'highest') where the choice is at an end of the grid."""
    arm: str
    column: str
    grid: tuple
    chosen: float
    edge: str | None


def grid_choices(rows: list[dict], question: str) -> list[GridChoice]:
    """Each tuned arm's choice (inr.stats.selection.edge_of_grid): the confirmed member where
    the question had a confirmation stage, else the screening's best (`chosen_per_arm`)."""
    asked = asking(rows, question)
    screened = [r for r in asked if r.get("stage") != Stage.CONFIRMATION]
    stage = counted_stage(asked)
    arms: dict[str, list[Configuration]] = {}
    for c in configurations(screened):
        arms.setdefault(arm_of(c.first, question) or c.key, []).append(c)
    confirmed = [r for r in asked if r.get("stage") == Stage.CONFIRMATION]
    out = []
    for arm, members in arms.items():
        column = tuned_column(members) if len(members) > 1 else None
        if column is None:
            continue
        if stage is not None:  # the value the confirmation trained, on any image
            trained = [r for r in confirmed if arm_of(r, question) == arm]
            values = {float(r[column]) for r in trained
                      if not named_in_advance(r, question)} or \
                {float(r[column]) for r in trained}
        else:
            values = {float(c.first[column]) for c in best_per_arm(members, question).values()}
        grid = tuple(sorted({float(c.first[column]) for c in members}))
        for value in sorted(values):
            out.append(GridChoice(arm, column, grid, value, edge_of_grid(grid, value)))
    return out


def _act_rank(activation: str) -> int:
    return ACTIVATION_ORDER.index(activation) if activation in ACTIVATION_ORDER else 99


def lr_tests(rows: list[dict]) -> list[Test]:
    rows = asking(rows, Question.LEARNING_RATE)
    stage = counted_stage(rows)
    chosen, biased = chosen_per_arm(configurations(rows), stage, Question.LEARNING_RATE)
    arms = list(chosen.values())
    terms = trained_terms(arms[0].first) if arms else []
    return [_t(Question.LEARNING_RATE, _family(Question.LEARNING_RATE, biased), a, b,
               PRIMARY_METRIC[t], stage) for a, b in itertools.combinations(arms, 2)
            for t in terms]


def references(rows: list[dict]) -> dict[str, Configuration]:
    """The reference vectors' configurations of the weights question, by name."""
    return {c.first["reference"]: c for c in configurations(asking(rows, Question.WEIGHTS))
            if c.first.get("reference")}


def confirmed_vectors(rows: list[dict]) -> tuple[list[Configuration], str | None, bool]:
    """The non-reference vectors the weights question tests, the stage of their seeds, and
    whether the tests are exploratory: the confirmed ones, or without a confirmation stage every
    vector with at least two seeds; those are exploratory when random draws are among them
    (ranked on the seeds that test them), not when an experiment file named every vector in
    advance (experiments/medium/weights.toml)."""
    rows = asking(rows, Question.WEIGHTS)
    stage = counted_stage(rows)
    vectors = [c for c in configurations(rows) if not c.first.get("reference")]
    if stage is not None:
        return [c for c in vectors if len(c.by_seed("psnr", stage)) > 0], stage, False
    vectors = [c for c in vectors if len(c.by_seed("psnr")) >= 2]
    return vectors, None, any(c.first.get("role") != Role.REFERENCE for c in vectors)


def judged_terms(config: Configuration) -> list[str]:
    """The headline fields a weight vector is judged on: those its loss trains (at least 1% of
    its effective weight; inr.stats.selection.trained_terms)."""
    trained = trained_terms(config.first)
    return [t for t in HEADLINE_TERMS if t in trained]


def repeated_vectors(vectors: list[Configuration], refs: dict[str, Configuration]
                     ) -> dict[str, str]:
    """{a vector's key: the reference or earlier vector it repeats (same `distinct_key`)}."""
    return _repeats((c.key, c.first) for c in [*refs.values(), *vectors])


def weights_tests(rows: list[dict]) -> list[Test]:
    """The weights family (module doc); a confirmed vector that repeats a reference or an
    earlier vector (`repeated_vectors`) is tested once, as the one it repeats."""
    refs = references(rows)
    vectors, stage, biased = confirmed_vectors(rows)
    repeats = repeated_vectors(vectors, refs)
    vectors = [v for v in vectors if v.key not in repeats]
    family, tests = _family(Question.WEIGHTS, biased), []
    for vector in vectors:
        for name, ref in refs.items():
            tests += [_t(Question.WEIGHTS, family, vector, ref, PRIMARY_METRIC[t], stage)
                      for t in judged_terms(vector)]
    if PIXEL_ONLY in refs and ORIGINAL_BEST in refs:
        tests += [_t(Question.WEIGHTS, family, refs[ORIGINAL_BEST], refs[PIXEL_ONLY],
                     PRIMARY_METRIC[t], stage) for t in judged_terms(refs[ORIGINAL_BEST])]
    both = [v for v in vectors if judged_terms(v) == list(HEADLINE_TERMS)]
    if ORIGINAL_BEST in refs:
        tests += dominance_tests(both, refs[ORIGINAL_BEST], stage, family)
    if PIXEL_ONLY in refs:
        tests += noninferiority_tests([*both, refs.get(ORIGINAL_BEST)], refs[PIXEL_ONLY], stage,
                                      family)
    return tests + balancing_tests(vectors, stage, family)


def balancing_tests(vectors: list[Configuration], stage: str | None, family: str) -> list[Test]:
    """Each adaptively balanced vector (inr.training.balance) against the best fixed vector the
    loss-weight searches found (its arm BEST_FIXED, inr.sweep.comparison), on pixels and on the
    gradient: does balancing reach the front a searched fixed vector reaches?"""
    best = [v for v in vectors if v.first.get("arm") == BEST_FIXED]
    if not best:
        return []
    return [_t(Question.WEIGHTS, family, vector, best[0], PRIMARY_METRIC[t], stage)
            for vector in vectors if balanced(vector.first) for t in HEADLINE_TERMS]


def noninferiority_tests(vectors: list[Configuration | None], baseline: Configuration,
                         stage: str | None, family: str) -> list[Test]:
    """Each vector not worse than `baseline` in PSNR by NONINFERIORITY_MARGIN_DB or more: "small
    derivative terms cost no pixels" (one-sided; inr.stats.inference.noninferiority)."""
    tests = []
    for vector in vectors:
        if vector is None or vector.key == baseline.key:
            continue
        a, b = vector.by_seed("psnr", stage), baseline.by_seed("psnr", stage)
        test = Test(Question.WEIGHTS, family, "psnr", vector, baseline, compare(a, b, "psnr"),
                    kind="noninferiority", margin=NONINFERIORITY_MARGIN_DB)
        test.p = noninferiority(a, b, "psnr", NONINFERIORITY_MARGIN_DB)
        tests.append(test)
    return tests


def dominance_tests(vectors: list[Configuration], claimed: Configuration, stage: str | None,
                    family: str, question: str = Question.WEIGHTS) -> list[Test]:
    """Each vector better than `claimed` on pixels and on the gradient together."""
    metrics = [PRIMARY_METRIC[t] for t in HEADLINE_TERMS]
    tests = []
    for vector in vectors:
        if vector.key == claimed.key:
            continue
        a = {m: vector.by_seed(m, stage) for m in metrics}
        b = {m: claimed.by_seed(m, stage) for m in metrics}
        test = Test(question, family, "+".join(metrics), vector, claimed,
                    compare(a[metrics[0]], b[metrics[0]], metrics[0]), kind="dominance")
        test.p = dominance(a, b)
        test.note = "; ".join(f"{m} one-sided p = {one_sided(a[m], b[m], m):.2g}" for m in metrics)
        tests.append(test)
    return tests


def pixel_loss_tests(rows: list[dict]) -> list[Test]:
    rows = asking(rows, Question.PIXEL_LOSS)
    stage = counted_stage(rows)
    chosen, biased = chosen_per_arm(configurations(rows), stage, Question.PIXEL_LOSS)
    mse = chosen.get("mse")
    if mse is None:
        return []
    terms = trained_terms(mse.first)
    return [_t(Question.PIXEL_LOSS, _family(Question.PIXEL_LOSS, biased), arm, mse,
               PRIMARY_METRIC[t], stage) for name, arm in chosen.items() if name != "mse"
            for t in terms]


def lr_claim_tests(rows: list[dict]) -> list[Test]:
    """(b): the claimed constant lr 1e-7 against the screening's best schedule at its tuned lr
    (its runner-up where the claim is itself the best), on PSNR; exponential decay at its tuned
    lr against the best other schedule, on SSIM."""
    lrs = asking(rows, Question.LEARNING_RATE)
    if not lrs:
        return []
    stage = counted_stage(lrs)
    configs = configurations(lrs)
    claimed_only = [c for c in configs if named_in_advance(c.first, Question.LEARNING_RATE)
                    and c["scheduler"] != "exponential"]
    chosen, biased = chosen_per_arm([c for c in configs if c not in claimed_only], stage,
                                    Question.LEARNING_RATE)
    family = ORIGINAL if not biased else f"{ORIGINAL}/{EXPLORATORY}"
    arms = list(chosen.values())
    tests = []
    for metric, kind, claim_lr in ORIGINAL_LR_CLAIMS:
        if claim_lr is not None:
            claimed = next((c for c in configs if c["scheduler"] == kind and
                            math.isclose(c["lr"], claim_lr, rel_tol=1e-6)), None)
            rivals = [c for c in arms if claimed is None or c.key != claimed.key]
        else:
            claimed = chosen.get(kind)
            rivals = [c for c in arms if c["scheduler"] != kind]
        best = min(rivals, key=mean_selection_score) if rivals else None
        if claimed is None or best is None:
            continue
        test = _t(Question.LEARNING_RATE, family, claimed, best, metric, stage)
        test.note = (f"{kind} lr {claim_lr:g} is best for MSE (tested on {metric})" if claim_lr
                     else f"{kind} decay is best for {metric.upper()}")
        tests.append(test)
    return tests


# ----------------------------------------------------------------------------- correction

def correct(tests: list[Test]) -> list[Test]:
    """Holm within each family (exploratory families: none, nothing separated), and, for
    each t-test not separated, the smallest effect its test had POWER to detect: the pooled sd
    of the paired differences of the same metric in its family times the standardised effect
    of a paired test of its n at Holm's strictest level alpha / family size; for each
    non-inferiority test, its power at that level where a and b are truly equal, the margin
    over its own sd of the paired differences."""
    families: dict[str, list[Test]] = {}
    for t in tests:
        families.setdefault(t.family, []).append(t)
    for family, members in families.items():
        size = sum(math.isfinite(t.p) for t in members)
        adjusted = holm([t.p for t in members]) if not members[0].exploratory \
            else [math.nan] * len(members)
        for t, p in zip(members, adjusted):
            t.p_holm, t.family_size = p, size
            t.separated = math.isfinite(p) and p < ALPHA
        for t in members:
            if t.kind == "noninferiority" and size and t.comparison.sd_diff > 0:
                t.power = noninferiority_power(t.margin / t.comparison.sd_diff, t.comparison.n,
                                               ALPHA / size)
            if t.kind != "t" or t.separated or not t.comparison.paired or not size:
                continue
            if t.pooled is not None:  # HKSJ's t on k - 1: k values with sd se * sqrt(k)
                t.detectable = t.pooled.se * math.sqrt(t.pooled.k) * detectable_effect(
                    t.pooled.k, ALPHA / size)
                continue
            same = [u.comparison for u in members if u.kind == "t" and u.metric == t.metric]
            t.detectable = pooled_sd(same) * detectable_effect(t.comparison.n, ALPHA / size)
    return tests


def cross_key(config: Configuration, question: str) -> str:
    """What a configuration stands for across images: the activation, the schedule, the pixel
    loss, the weight vector (a sweep chooses its tuned scale, weight or lr on all images
    together, inr.sweep.stages; runs chosen per image may differ in them)."""
    row = config.first
    if question in (Question.ACTIVATION, Question.POISSON):
        return row["activation"]
    if question == Question.LEARNING_RATE:
        return row["scheduler"]
    if question == Question.PIXEL_LOSS:
        return row.get("arm") or row["weights"]
    return betas(row)


POOLED = "all"  # the image column of a test pooled across images


def cross_group_key(test: Test) -> tuple[tuple, bool]:
    """(what a comparison is across images: question, setting, metric and the two sides'
    cross_key in sorted order; whether the test's a and b come in the other order)."""
    a, b = cross_key(test.a, test.question), cross_key(test.b, test.question)
    return (test.question, test.setting, test.metric, *sorted((a, b))), a > b


def cross_image_groups(tests: list[Test], images: list[str] | None = None
                       ) -> dict[tuple, list[tuple[Test, bool]]]:
    """The confirmatory per-image t-tests grouped by `cross_group_key`: {key: [(test, flipped)]}
    (the original's lr claims and pooled tests left out); only those on `images` if given."""
    groups: dict[tuple, list[tuple[Test, bool]]] = {}
    for t in tests:
        if t.kind != "t" or t.exploratory or t.family.startswith(ORIGINAL) or t.image == POOLED:
            continue
        if images is not None and t.image not in images:
            continue
        key, flip = cross_group_key(t)
        groups.setdefault(key, []).append((t, flip))
    return groups


def pooled_tests(tests: list[Test], images: list[str] | None = None) -> list[Test]:
    """Each paired comparison made on several of `images` (default: all), pooled with the image
    as a block: the per-image mean differences combined by random effects with the HKSJ
    interval and t-test on k - 1 degrees of freedom, and the prediction interval for a new
    image (inr.stats.pooling), Cochran's Q and I² in the note. Family '<question>/all'."""
    groups = {key: [(t, -1.0 if flip else 1.0) for t, flip in members
                    if t.comparison.paired and math.isfinite(t.comparison.sd_diff)
                    and t.comparison.sd_diff > 0]
              for key, members in cross_image_groups(tests, images).items()}
    pooled = []
    for (question, setting, metric, a, b), members in groups.items():
        if len({t.image for t, _ in members}) < 2:
            continue
        effects = np.array([sign * t.comparison.effect for t, sign in members])
        variances = np.array([t.comparison.sd_diff ** 2 / t.comparison.n for t, _ in members])
        pool = random_effects(effects, variances)
        first, sign = members[0]
        ordered = (first.a, first.b) if sign > 0 else (first.b, first.a)
        seeds = tuple(sorted({s for t, _ in members for s in t.comparison.seeds}))
        comparison = Comparison(metric, first.comparison.transform, True, seeds, pool.k,
                                math.nan, math.nan, pool.effect, pool.ci_low, pool.ci_high,
                                pool.p, math.nan, math.nan)
        pooled.append(Test(question, f"{question}/{POOLED}", metric, *ordered, comparison,
                           p=pool.p, setting=setting, image=POOLED, pooled=pool,
                           chosen_on=first.chosen_on,
                           tested_on=_where([t.image for t, _ in members], seeds),
                           note=f"{POOLED_TEST} over {pool.k} images; heterogeneity: "
                                f"Q = {pool.q:.3g}, p = {pool.q_p:.2g}, I² = {pool.i2:.0%}"))
    return pooled


def images_of(rows: list[dict]) -> list[str]:
    """The images of the rows (their `image` column), in first-seen order."""
    return list(by_image(rows))


def choosing_only(rows: list[dict]) -> bool:
    """Whether an image's rows only chose: a development image of a sweep with held-out images,
    which trains the screening alone (inr.sweep.stages.confirmation_runs); it has no tests."""
    return bool(rows) and all(r.get("image_role") == ImageRole.DEVELOPMENT
                              and r.get("stage") != Stage.CONFIRMATION for r in rows)


def held_out_images(rows: list[dict]) -> list[str]:
    """The rows' held-out images (image_role HELD_OUT): they took no part in any choice."""
    return list(dict.fromkeys(r.get("image") or "" for r in rows
                              if r.get("image_role") == ImageRole.HELD_OUT))


def _where(images, seeds) -> str:
    """'camera grass @ 10': images and seeds, as chosen_on and tested_on write them."""
    return f"{' '.join(images)} @ {' '.join(str(int(s)) for s in seeds)}"


def chosen_where(rows: list[dict]) -> dict[str, str]:
    """{question: the images and seeds its screening chose on} for each question whose sweep
    chose configurations on a screening (it has a confirmation stage)."""
    out = {}
    for question in dict.fromkeys(q for r in rows for q in (r.get("questions") or "").split(";")
                                  if q):
        asked = asking(rows, question)
        if counted_stage(asked) is None:
            continue
        screened = [r for r in asked if r.get("stage") != Stage.CONFIRMATION]
        out[question] = _where(images_of(screened), sorted({int(r["seed"]) for r in screened}))
    return out


def _chosen_from_data(config: Configuration, question: str) -> bool:
    return not named_in_advance(config.first, question) and \
        config.first.get("role") != Role.REFERENCE


def all_tests(rows: list[dict]) -> list[Test]:
    """Every test of the rows' questions, image by image, corrected (`correct`). With several
    images each image's families are its own ('<family>/<image>'): a conclusion is tested on
    each image, and inr.report.analysis counts on how many it holds; the pooled tests use the
    held-out images where there are any (`held_out_images`)."""
    grouped, tests = by_image(rows), []
    images = list(grouped)
    chosen = chosen_where(rows)
    for image, own in grouped.items():
        if choosing_only(own):
            continue
        found = activation_tests(own) + lr_tests(own) + weights_tests(own)
        found += pixel_loss_tests(own) + poisson_tests(own) + lr_claim_tests(own)
        for t in found:
            t.image = image
            t.tested_on = _where([image], t.comparison.seeds)
            if t.exploratory:
                t.chosen_on = t.tested_on
            elif t.question in chosen and any(_chosen_from_data(c, t.question)
                                              for c in (t.a, t.b)):
                t.chosen_on = chosen[t.question]
            if len(images) > 1:
                t.family = f"{t.family}/{image}"
        tests += found
    if len(images) > 1:
        tests += pooled_tests(tests, held_out_images(rows) or None)
    return correct(tests)
