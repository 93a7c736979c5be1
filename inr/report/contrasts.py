"""The tests the report makes, declared per question before any run, as pure functions over
report rows (inr.report.rows). Every row of results/comparisons.csv is one `Test`.

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
                    the vector's loss trains that field; family weights/dominance: each
                    confirmed vector that trains both better than the original's best on both
                    (intersection-union test); family weights/equivalence: each such vector
                    within +-EQUIVALENCE_MARGIN_DB of pixel-only in PSNR (TOST)
    pixel_loss      each pixel-loss arm (at its tuned weight) against MSE, on each field trained
    poisson         at each setting (the gradient alone, the Laplacian alone), each pair of
                    activations on the reconstruction scored up to its free part
    original        the three verdicts on the original's claims (inr.report.analysis): SIREN
                    against ELU at each setting and field, the two lr claims, and (c) the
                    dominance tests against the original's best

The metric of a field is named in advance (inr.vocabulary.PRIMARY_METRIC). A family marked
exploratory is printed but separates nothing. Intervals are 95% and unadjusted.

With several images (the rows' `image`), every question is tested on each image apart, in
families '<family>/<image>', and each comparison made on several images is also pooled across
them (`pooled_tests`, family '<question>/all', image 'all').
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from inr.report.rows import asking
import numpy as np

from inr.stats import (ALPHA, Comparison, Configuration, compare, configurations,
                       detectable_effect, dominance, equivalence, holm, pooled_sd)
from inr.stats.inference import one_sided, transform_of
from inr.stats.selection import (best_per_arm, mean_selection_score, named_in_advance,
                                 trained_terms)
from inr.vocabulary import (ORIGINAL_BEST, ORIGINAL_LR_CLAIMS, PIXEL_ONLY, POISSON_METRIC,
                            PRIMARY_METRIC, Question, Role, Stage, higher_is_better)

ORIGINAL = "original"  # the family of the verdicts on the original project's claims
EXPLORATORY = "exploratory"
PAIRED_T = "paired t"  # the `test` column of a paired t-test's row in comparisons.csv
EQUIVALENCE_MARGIN_DB = 0.5
HEADLINE_TERMS = ("pixel", "grad")  # what the weights question tests its vectors on
ACTIVATION_ORDER = ("sine", "finer", "gauss", "elu")


@dataclass
class Test:
    """One test: a against b. kind: 't' (two-sided, paired or Welch), 'dominance' (a better on
    every metric of `metric`, joined by '+'), 'equivalence' (TOST, margin on the tested scale).
    p_holm and separated are set by `correct`; detectable: the effect its family's test could
    have seen (see `correct`)."""
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

def activation_pairs(rows: list[dict], question: str, metrics_of) -> list[Test]:
    """At each weight setting of `question`'s rows, each pair of activations (each at its
    tuned scale) on each metric of metrics_of(the setting's trained terms)."""
    rows = asking(rows, question)
    stage, tests = counted_stage(rows), []
    for setting in dict.fromkeys(r["weights"] for r in rows):
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


def weights_tests(rows: list[dict]) -> list[Test]:
    refs = references(rows)
    vectors, stage, biased = confirmed_vectors(rows)
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
        tests += dominance_tests(both, refs[ORIGINAL_BEST], stage,
                                 f"{family}/dominance" if not biased else family)
    if PIXEL_ONLY in refs:
        for vector in [*both, refs.get(ORIGINAL_BEST)]:
            if vector is None or vector.key == refs[PIXEL_ONLY].key:
                continue
            a, b = vector.by_seed("psnr", stage), refs[PIXEL_ONLY].by_seed("psnr", stage)
            test = Test(Question.WEIGHTS, f"{family}/equivalence" if not biased else family,
                        "psnr", vector, refs[PIXEL_ONLY], compare(a, b, "psnr"),
                        kind="equivalence", margin=EQUIVALENCE_MARGIN_DB)
            test.p = equivalence(a, b, "psnr", EQUIVALENCE_MARGIN_DB)
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


def original_tests(rows: list[dict], activation_tests_: list[Test],
                   weights_tests_: list[Test]) -> list[Test]:
    """The tests behind the verdicts on the original's claims, in one family: (a) sine against
    elu, (b) the lr claims, (c) dominance over the original's best."""
    out = []
    for t in activation_tests_:
        if {t.a["activation"], t.b["activation"]} == {"sine", "elu"}:
            out.append(_again(t, ORIGINAL if not t.exploratory else f"{ORIGINAL}/{EXPLORATORY}"))
    out += lr_claim_tests(rows)
    out += [_again(t, ORIGINAL if not t.exploratory else f"{ORIGINAL}/{EXPLORATORY}")
            for t in weights_tests_ if t.kind == "dominance"]
    return out


def _again(test: Test, family: str) -> Test:
    return Test(test.question, family, test.metric, test.a, test.b, test.comparison,
                kind=test.kind, p=test.p, setting=test.setting, margin=test.margin,
                note=test.note)


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
    of a paired test of its n at Holm's strictest level alpha / family size."""
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
            if t.kind != "t" or t.separated or not t.comparison.paired or not size:
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
    return "(" + ", ".join(f"{row[f'beta_{t}']:g}" for t in ("pixel", "grad", "laplacian", "dt")) \
        + ")"


POOLED = "all"  # the image column of a test pooled across images


def cross_group_key(test: Test) -> tuple[tuple, bool]:
    """(what a comparison is across images: question, setting, metric and the two sides'
    cross_key in sorted order; whether the test's a and b come in the other order)."""
    a, b = cross_key(test.a, test.question), cross_key(test.b, test.question)
    return (test.question, test.setting, test.metric, *sorted((a, b))), a > b


def cross_image_groups(tests: list[Test]) -> dict[tuple, list[tuple[Test, bool]]]:
    """The confirmatory per-image t-tests grouped by `cross_group_key`: {key: [(test, flipped)]}
    (the verdicts on the original and pooled tests left out)."""
    groups: dict[tuple, list[tuple[Test, bool]]] = {}
    for t in tests:
        if t.kind != "t" or t.exploratory or t.family.startswith(ORIGINAL) or t.image == POOLED:
            continue
        key, flip = cross_group_key(t)
        groups.setdefault(key, []).append((t, flip))
    return groups


def random_effects(effects: np.ndarray, variances: np.ndarray) -> dict:
    """DerSimonian-Laird random-effects pooling of k per-image effects with their variances:
    {effect, se, ci_low, ci_high (95%, normal), p (two-sided z), q, q_p (Cochran's Q, chi2 on
    k - 1), i2, tau2}. tau² = max(0, (Q - (k - 1)) / c): where the images agree more than their
    within-image noise predicts (Q < k - 1) it is 0 and the pool is the fixed-effect mean.
    (statsmodels' combine_effects(method_re="dl") leaves tau² negative there, giving a negative
    weight and a nan standard error, so the most consistent comparisons went unpooled.)"""
    from scipy import stats as scipy_stats

    w = 1.0 / variances
    fixed = float(np.sum(w * effects) / np.sum(w))
    q = float(np.sum(w * (effects - fixed) ** 2))
    k = effects.size
    c = float(np.sum(w) - np.sum(w ** 2) / np.sum(w))
    tau2 = max(0.0, (q - (k - 1)) / c) if c > 0 else 0.0
    w_re = 1.0 / (variances + tau2)
    effect = float(np.sum(w_re * effects) / np.sum(w_re))
    se = float(np.sqrt(1.0 / np.sum(w_re)))
    z = scipy_stats.norm.ppf(0.975)
    return {"effect": effect, "se": se, "ci_low": effect - z * se, "ci_high": effect + z * se,
            "p": float(2 * scipy_stats.norm.sf(abs(effect / se))) if se > 0 else math.nan,
            "q": q, "q_p": float(scipy_stats.chi2.sf(q, k - 1)),
            "i2": max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0, "tau2": tau2}


def pooled_tests(tests: list[Test]) -> list[Test]:
    """Each paired comparison made on several images, pooled with the image as a block: the
    per-image mean differences combined by random effects (`random_effects`), its 95% interval
    and a two-sided z-test, and Cochran's Q test of heterogeneity between images with I² in the
    note. Family '<question>/all'."""
    groups = {key: [(t, -1.0 if flip else 1.0) for t, flip in members
                    if t.comparison.paired and math.isfinite(t.comparison.sd_diff)
                    and t.comparison.sd_diff > 0]
              for key, members in cross_image_groups(tests).items()}
    pooled = []
    for (question, setting, metric, a, b), members in groups.items():
        if len({t.image for t, _ in members}) < 2:
            continue
        effects = np.array([sign * t.comparison.effect for t, sign in members])
        variances = np.array([t.comparison.sd_diff ** 2 / t.comparison.n for t, _ in members])
        pool = random_effects(effects, variances)
        if not math.isfinite(pool["p"]):
            continue
        first, sign = members[0]
        ordered = (first.a, first.b) if sign > 0 else (first.b, first.a)
        comparison = Comparison(metric, first.comparison.transform, True,
                                tuple(t.image for t, _ in members), len(members), math.nan,
                                math.nan, pool["effect"], pool["ci_low"], pool["ci_high"],
                                pool["p"], math.nan, math.nan)
        pooled.append(Test(question, f"{question}/{POOLED}", metric, *ordered, comparison,
                           p=pool["p"], setting=setting, image=POOLED,
                           note=f"random effects over {len(members)} images; heterogeneity: "
                                f"Q = {pool['q']:.3g}, p = {pool['q_p']:.2g}, "
                                f"I² = {pool['i2']:.0%}"))
    return pooled


def images_of(rows: list[dict]) -> list[str]:
    """The images of the rows (their `image` column), in first-seen order."""
    return list(dict.fromkeys(r.get("image") or "" for r in rows))


def all_tests(rows: list[dict]) -> list[Test]:
    """Every test of the rows' questions, image by image, corrected (`correct`). With several
    images each image's families are its own ('<family>/<image>'): a conclusion is tested on
    each image, and inr.report.analysis counts on how many it holds."""
    images, tests = images_of(rows), []
    for image in images:
        own = [r for r in rows if (r.get("image") or "") == image]
        acts, weights = activation_tests(own), weights_tests(own)
        found = acts + lr_tests(own) + weights + pixel_loss_tests(own) + poisson_tests(own)
        found += original_tests(own, acts, weights)
        for t in found:
            t.image = image
            if len(images) > 1:
                t.family = f"{t.family}/{image}"
        tests += found
    if len(images) > 1:
        tests += pooled_tests(tests)
    return correct(tests)


# ----------------------------------------------------------------------------- the CSV

COLUMNS = ("question", "family", "metric", "a", "b", "n", "seeds", "paired", "transform",
           "mean_a", "mean_b", "effect", "effect_ci_low", "effect_ci_high", "p", "p_holm",
           "separated", "family_size", "test", "setting", "correlation", "detectable_effect",
           "margin", "note", "image")


def _number(x: float) -> float | str:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else ""


def csv_rows(tests: list[Test]) -> list[dict]:
    """One comparisons.csv row per test (COLUMNS; `effect` on the tested scale: a log ratio of
    MSEs, or a difference in dB; empty where not computed)."""
    out = []
    for t in tests:
        c = t.comparison
        out.append({
            "question": t.question, "family": t.family, "metric": t.metric,
            "a": t.a.key, "b": t.b.key, "n": c.n, "seeds": " ".join(str(s) for s in c.seeds),
            "paired": str(c.paired).lower(), "transform": c.transform,
            "mean_a": _number(c.mean_a), "mean_b": _number(c.mean_b),
            "effect": _number(c.effect), "effect_ci_low": _number(c.ci_low),
            "effect_ci_high": _number(c.ci_high), "p": _number(t.p),
            "p_holm": _number(t.p_holm), "separated": str(t.separated).lower(),
            "family_size": t.family_size,
            "test": {"t": PAIRED_T if c.paired else "Welch t", "dominance":
                     "intersection-union (paired one-sided t)", "equivalence":
                     "TOST (paired)"}[t.kind],
            "setting": t.setting, "correlation": _number(c.correlation),
            "detectable_effect": _number(t.detectable), "margin": _number(t.margin),
            "note": t.note, "image": t.image})
    return out


def direction_word(test: Test) -> str:
    """'ahead' when a's mean is the better one on the test's metric, else 'behind'."""
    metric = test.metric.split("+")[0]
    return "ahead" if (test.comparison.effect > 0) == higher_is_better(metric) else "behind"


def effect_text(test: Test) -> str:
    """The effect and its 95% interval on a readable scale: a ratio of MSEs (a / b) for log
    metrics, a difference in the metric's units otherwise."""
    c = test.comparison
    if not math.isfinite(c.effect):
        return "—"
    if c.transform == "log":
        text = f"×{_sig(math.exp(c.effect))}"
        if math.isfinite(c.ci_low):
            text += f" [{_sig(math.exp(c.ci_low))}, {_sig(math.exp(c.ci_high))}]"
        return text
    unit = " dB" if "psnr" in test.metric else ""
    text = f"{c.effect:+.2g}{unit}" if abs(c.effect) < 1 else f"{c.effect:+.1f}{unit}"
    if math.isfinite(c.ci_low):
        text += f" [{c.ci_low:+.2g}, {c.ci_high:+.2g}]" if abs(c.effect) < 1 \
            else f" [{c.ci_low:+.1f}, {c.ci_high:+.1f}]"
    return text


def detectable_text(test: Test) -> str:
    """The effect a non-separated t-test could have seen, on the effect's scale."""
    d = test.detectable
    if not math.isfinite(d):
        return ""
    if transform_of(test.metric) == "log":
        return f"could have seen a ratio beyond ×{_sig(math.exp(d))} (or ×{_sig(math.exp(-d))})"
    unit = " dB" if "psnr" in test.metric else ""
    return f"could have seen ±{d:.2g}{unit}"


def _sig(x: float) -> str:
    """A ratio in two significant digits, three decimals near 1 (×1.03, not ×1)."""
    if 0.9 < x < 1.1:
        return f"{x:.3f}"
    return f"{x:.2g}" if x < 10 else f"{x:.0f}"
