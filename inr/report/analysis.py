"""The answers in words: pure functions over report rows (inr.report.rows) and their tests
(inr.report.contrasts), that REPORT.md and the notebook both print.

Every sentence that compares reads a `Test`: a paired t-test on matched seeds (Welch's where seeds
are not matched, said so) on the metric named in advance for the field, with its effect, 95%
interval (unadjusted) and Holm-adjusted p within its family. "separated" means p_holm < 0.05; a
comparison not separated says what effect its test could have seen; a family chosen on the
seeds it is tested on is "exploratory" and separates nothing; a comparison that was not run
says "not tested".

Verdicts on the original's claims: "agrees" (the claim's side is separated ahead), "differs"
(the other side is separated ahead), "not separated" (with what it could have seen), "not
tested: ..." (the runs the claim needs were not made).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import inr.report.wording as wording
from inr.artefacts.rundir import by_image
from inr.report.answers import QUESTION_TITLES
from inr.report.comparisons import row_of
from inr.report.contrasts import (ORIGINAL, POOLED, Test, all_tests, choosing_only,
                                  confirmed_vectors, counted_stage, cross_group_key,
                                  cross_image_groups, cross_key, grid_choices, held_out_images,
                                  images_of, references, repeated_settings, repeated_vectors)
from inr.config import PROFILES, profile_config, scale_symbol
from inr.report.rows import asking, betas, weight_vector
from inr.stats import (Configuration, Ranking, Summary, configurations, pareto_front,
                       rank, summarize)
from inr.stats.selection import dominant_term
from inr.vocabulary import ORIGINAL_BEST, REFERENCE_WEIGHTS, Question, Status, higher_is_better

TOP = 5
ORIGINAL_WEIGHTS = REFERENCE_WEIGHTS[ORIGINAL_BEST]  # the original project's reported best
TEST_WORDS = ("paired t-test on matched seeds (log MSE for errors, dB for PSNR), Holm-corrected "
              "within each question's family; separated: Holm-adjusted p < 0.05; intervals 95%, "
              "unadjusted")
ORIGINAL_TEST_LINE = (f"Test: {TEST_WORDS}. Each verdict reads its comparison's one test: (a) the "
                      "activation family's, (c) the weights family's intersection-union tests; "
                      "(b) the original family's.")


def reference_name(row: dict) -> str | None:
    """Which reference vector (inr.vocabulary.REFERENCE_WEIGHTS) a row's weights equal up to
    scale, as its record says (set when it was planned); None for any other vector."""
    return row.get("reference") or None


def vector_text(row: dict) -> str:
    """'(0.1, 0.01, 0, 0) = (1, 0.1, 0, 0) up to scale', or just the vector when it is already
    normalised: only the ratios of the weights matter with Adam (to within its epsilon)."""
    raw, top = weight_vector(row), max(weight_vector(row))
    if top in (0, 1):
        return betas(row)
    scaled = "(" + ", ".join(f"{v / top:.4g}" for v in raw) + ")"
    return f"{betas(row)} = {scaled} up to scale"


def scale_text(row: dict) -> str:
    """'w0 30' (sine, FINER), 's 10' (Gaussian): the activation's own symbol
    (inr.config.scale_symbol) and its recorded scale; '' where it has none."""
    scale, symbol = row.get("scale"), scale_symbol(row["activation"])
    if symbol is None or scale is None or not math.isfinite(scale):
        return ""
    return f"{symbol} {scale:g}"


def label(config: Configuration) -> str:
    """How a configuration is named in sentences: its weight setting's name (or its weight
    vector, and which reference it is), activation (with its scale), schedule and lr."""
    row = config.first
    reference = reference_name(row)
    what = row["weights"] or vector_text(row) + (f" ({reference})" if reference else "")
    scale = scale_text(row)
    act = f"{row['activation']}" + (f" {scale}" if scale else "")
    return f"{what}, {act}, {row['scheduler']} lr {row['lr']:g}"


def short_label(config: Configuration, question: str) -> str:
    """The part of a configuration's label that varies within its question."""
    row = config.first
    if question in (Question.ACTIVATION, Question.POISSON):
        scale = scale_text(row)
        return row["activation"] + (f" ({scale})" if scale else "")
    if question == Question.LEARNING_RATE:
        return f"{row['scheduler']} lr {row['lr']:g}"
    if question == Question.PIXEL_LOSS:
        return row["weights"] or row["arm"]
    reference = reference_name(row)
    return vector_text(row) + (f" ({reference})" if reference else "")


# ----------------------------------------------------------------------------- sentences

def verdict_of(test: Test) -> str:
    """The test's verdict in words (inr.report.wording.verdict)."""
    return wording.verdict(row_of(test))


def test_sentence(test: Test, question: str) -> str:
    """'a ahead of b on metric: effect [ci] (n paired seeds); verdict'."""
    row, c = row_of(test), test.comparison
    pairing = f"{c.n} paired seeds" if c.paired else f"Welch, seeds not matched, n={c.n}"
    a, b = short_label(test.a, question), short_label(test.b, question)
    if row.kind == "dominance":
        return (f"{a} against {b} on both psnr and grad_mse (intersection-union; {test.note}): "
                f"{wording.verdict(row)}")
    if row.kind == "noninferiority":
        return f"{a} against {b} on psnr: {wording.effect_text(row)} ({pairing}); " \
            f"{wording.verdict(row)}"
    where = "ahead of" if wording.a_ahead(row) else "behind"
    return (f"{a} {where} {b} on {test.metric}: {wording.effect_text(row)} ({pairing}); "
            f"{wording.verdict(row)}")


def _order_line(configs: list[Configuration], metric: str, stage: str | None,
                question: str) -> str:
    summaries = [(c, summarize(c.by_seed(metric, stage).values())) for c in configs]
    summaries = [(c, s) for c, s in summaries if s.n]
    summaries.sort(key=lambda cs: cs[1].mean, reverse=higher_is_better(metric))
    return ", ".join(f"{short_label(c, question)} {s.text()}" for c, s in summaries)


@dataclass
class Section:
    """What a question's answer prints: a heading, its lines and the tests behind them."""
    title: str
    question: str
    lines: list = field(default_factory=list)
    tests: list = field(default_factory=list)


def _grouped(tests: list[Test]) -> dict[tuple[str, str], list[Test]]:
    groups: dict[tuple[str, str], list[Test]] = {}
    for t in tests:
        groups.setdefault((t.setting, t.metric), []).append(t)
    return groups


def pairwise_lines(question: str, tests: list[Test], rows: list[dict]) -> list[str]:
    """Per setting and metric: the compared configurations by mean over the tested seeds, then
    every test's sentence, separated ones first."""
    stage = counted_stage(asking(rows, question))
    lines = []
    for (setting, metric), group in _grouped(tests).items():
        configs = list({id(c): c for t in group for c in (t.a, t.b)}.values())
        where = f"trained on {setting}, " if setting else ""
        lines.append(f"{where}by {metric}: {_order_line(configs, metric, stage, question)}")
        for t in sorted(group, key=lambda t: not t.separated):
            lines.append(f"    {test_sentence(t, question)}")
    return lines


def question_sections(rows: list[dict], tests: list[Test] | None = None) -> list[Section]:
    """One Section per question the rows answer, in QUESTIONS order."""
    tests = all_tests(rows) if tests is None else tests
    sections = []
    for question, title in QUESTION_TITLES.items():
        own = [t for t in tests if t.question == question and t.family != ORIGINAL
               and not t.family.startswith(f"{ORIGINAL}/")]
        if not asking(rows, question):
            continue
        section = Section(title, question, tests=own)
        if choosing_only(rows):
            section.lines += ["A development image: its screening chose (the order below), and "
                              "what it chose is tested on the held-out images.",
                              *edge_lines(rows, question)]
            sections.append(section)
            continue
        section.lines += scope_of_question(rows, question)
        if question == Question.WEIGHTS:
            plain = [t for t in own if t.kind == "t"]
            section.lines += pairwise_lines(question, plain, rows)
            section.lines += [test_sentence(t, question) for t in own if t.kind != "t"]
        else:
            section.lines += pairwise_lines(question, own, rows)
        if not own:
            section.lines.append("not tested: no configuration has seeds to compare")
        sections.append(section)
    return sections


def scope_of_question(rows: list[dict], question: str) -> list[str]:
    """Which seeds a question's tests use, and where one term carries most of the loss."""
    asked = asking(rows, question)
    stage = counted_stage(asked)
    seeds = sorted({int(r["seed"]) for r in asked if stage is None or r.get("stage") == stage})
    screening = sorted({int(r["seed"]) for r in asked if r.get("stage") != "confirmation"})
    if stage and not screening:
        how = " (held out: this image took no part in the choice)"
    elif stage:
        how = f" (fresh: the screening chose on seed(s) {' '.join(map(str, screening))})"
    else:
        how = " (no confirmation stage)"
    lines = [f"Tests on seeds {' '.join(map(str, seeds))}{how}."]
    notes: dict[str, list[str]] = {}
    for r in asked:
        dominant = dominant_term(r)
        name = r["weights"] or betas(r)
        if dominant:
            note = f"the {dominant[0]} term carries {dominant[1]:.0%} of the effective weight"
            if name not in notes.setdefault(note, []):
                notes[note].append(name)
    if question == Question.WEIGHTS:
        configs = {c.key: c for c in configurations(asked)}
        vectors = repeated_vectors(confirmed_vectors(rows)[0], references(rows))
        if vectors:
            lines.append("Tested once: " + "; ".join(
                f"{betas(configs[v].first)} trains the same fields in the same proportions as "
                f"{betas(configs[earlier].first)} (each term's share of the effective weight, "
                "to two decimals), so its tests would repeat those"
                for v, earlier in vectors.items()) + ".")
    repeats = repeated_settings(rows, question) \
        if question in (Question.ACTIVATION, Question.POISSON) else {}
    if repeats:
        lines.append("Tested once: " + "; ".join(
            f"{setting} trains the same fields in the same proportions as {earlier}, so its "
            f"tests would repeat those of {earlier}" for setting, earlier in repeats.items())
            + ".")
    lines += edge_lines(rows, question)
    if notes and question != Question.WEIGHTS:
        lines.append("Judged on the fields whose term carries at least 1% of the effective "
                     "weight; where one term dominates: " +
                     "; ".join(f"{', '.join(names)}: {note}" for note, names in notes.items())
                     + ".")
    return lines


EDGE_WORDS = "at the edge of its grid: the optimum may lie beyond"


def edge_lines(rows: list[dict], question: str) -> list[str]:
    """One line per tuned arm whose chosen value is at an end of its grid (EDGE_WORDS)."""
    edges = [c for c in grid_choices(rows, question) if c.edge]
    if not edges:
        return []
    return ["Chosen " + "; ".join(
        f"{c.arm}: {c.column} {c.chosen:g}, the {c.edge} of {', '.join(f'{v:g}' for v in c.grid)}"
        for c in edges) + f" ({EDGE_WORDS})."]


def per_image(rows: list[dict], tests: list[Test]) -> list[tuple[str, list[dict], list[Test]]]:
    """(image, its rows, its tests) for each image of the rows."""
    return [(image, own, [t for t in tests if t.image == image])
            for image, own in by_image(rows).items()]


def cross_image_lines(tests: list[Test], images: list[str], held_out: bool) -> list[str]:
    """For each comparison made on several of `images`: on how many it is ahead and separated
    ("on these images": k of n), a conclusion separated both ways named a reversal; then the
    pooled random-effects estimate with its HKSJ interval (the mean over images like these)
    and its prediction interval ("for a new image like these")."""
    groups = cross_image_groups(tests, images)
    pooled = {cross_group_key(t)[0]: t for t in tests if t.image == POOLED}
    kind = "held-out images" if held_out else "images"
    lines = []
    for (question, setting, metric, a, b), members in groups.items():
        if len(members) < 2:
            continue
        a_ahead = {t.image: bool(wording.a_ahead(row_of(t))) != flip for t, flip in members}
        ahead = [t.image for t, _ in members if a_ahead[t.image] and math.isfinite(t.p)]
        sep_ahead = [t.image for t, _ in members if t.separated and a_ahead[t.image]]
        sep_behind = [t.image for t, _ in members if t.separated and not a_ahead[t.image]]
        if 2 * len(ahead) < len(members):  # name first the side ahead on most images
            a, b = b, a
            ahead = [t.image for t, _ in members if t.image not in ahead and math.isfinite(t.p)]
            sep_ahead, sep_behind = sep_behind, sep_ahead
        where = f", trained on {setting}" if setting else ""
        text = (f"{question}{where}: {a} ahead of {b} on {metric} on "
                f"{wording.images_text(len(ahead), len(members), len(sep_ahead), kind)}")
        if sep_ahead and sep_behind:
            text += (f"; REVERSES between images: separated behind on "
                     f"{', '.join(sep_behind)}")
        elif 0 < len(ahead) < len(members):
            text += f": {', '.join(ahead)} only"
        together = pooled.get((question, setting, metric, *sorted((a, b))))  # a, b may swap
        if together is not None:
            pooled_row = row_of(together)
            new_image = wording.prediction_text(pooled_row)
            text += (f"; pooled ({cross_key(together.a, question)} against "
                     f"{cross_key(together.b, question)}) {wording.effect_text(pooled_row)}, "
                     f"{wording.verdict(pooled_row)}"
                     + (f"; for a new image like these: {new_image}" if new_image else "")
                     + f" ({together.note})")
        lines.append(text)
    if lines:
        lines.append(
            f"On these {len(images)} {kind} ({', '.join(images)}): k of n counts the images "
            "where a side is ahead, each image's tests Holm-corrected in its own families. "
            "Pooled: random effects with the Hartung-Knapp-Sidik-Jonkman interval (t on k - 1 "
            "degrees of freedom), the mean effect over images like these; the prediction "
            "interval is where the effect on one new image like these would fall (95%).")
        lines.append("These images took no part in any choice (scales, learning rates, "
                     "pixel-loss weights, confirmed vectors were chosen on the development "
                     "images)." if held_out else
                     "Not held out: the same images chose the configurations and test them "
                     "(on fresh seeds), so these cross-image verdicts are not held out.")
    return lines


def conclusion_lines(rows: list[dict], tests: list[Test] | None = None) -> list[str]:
    """The computed answers as sentences, question by question (the notebook and REPORT.md
    print them), image by image and across images where there are several; then the test
    used."""
    tests = all_tests(rows) if tests is None else tests
    images = images_of(rows)
    if len(images) > 1:
        lines = []
        held_out = held_out_images(rows)
        chose = [image for image, own_rows, _ in per_image(rows, tests)
                 if choosing_only(own_rows)]
        if chose:
            lines.append(f"Chosen on the development images ({', '.join(chose)}), screening "
                         "only (their order is in each question's section):")
            for question in dict.fromkeys(q for r in rows for q in r["questions"].split(";")
                                          if q):
                lines += [f"  {question}: {line}" for line in edge_lines(rows, question)]
        for image, own_rows, own_tests in per_image(rows, tests):
            if choosing_only(own_rows):
                continue
            lines.append(f"On {image}{' (held out)' if image in held_out else ''}:")
            lines += [f"  {line}" for line in conclusion_lines(own_rows, own_tests)[:-1]]
        lines.append(f"Across the {len(held_out)} held-out images:" if held_out
                     else f"Across the {len(images)} images:")
        lines += [f"  {line}" for line in cross_image_lines(tests, held_out or images,
                                                             bool(held_out))]
        return lines + [f"Test: {TEST_WORDS}."]
    lines = []
    for section in question_sections(rows, tests):
        lines.append(f"{section.title}")
        lines += [f"  {line}" for line in section.lines]
    if lines:
        lines.append(f"Test: {TEST_WORDS}.")
    return lines


# ----------------------------------------------------------------------------- the original

def _word(test: Test, claim_is_a: bool = True) -> str:
    """The verdict a two-sided test gives a claim that its a side (claim_is_a) is better."""
    return wording.claim_word(row_of(test), claim_is_a)


def compare_with_original(rows: list[dict], tests: list[Test] | None = None) -> list[str]:
    """Sentences that set each conclusion of the original project (README, "What was fixed from
    the original") against the rows:
    (a) SIREN beats ELU, (b) constant lr 1e-7 best for MSE and exponential best for SSIM,
    (c) best weights (1, 0.01, 0.001, 0), each from its tests in the `original` family."""
    tests = all_tests(rows) if tests is None else tests
    if len(images_of(rows)) > 1:
        lines = []
        for image, own_rows, own_tests in per_image(rows, tests):
            if choosing_only(own_rows):
                continue
            lines.append(f"On {image}:")
            lines += [f"  {line}" for line in compare_with_original(own_rows, own_tests)[:-1]]
        return lines + [ORIGINAL_TEST_LINE]
    mine = [t for t in tests if t.family == ORIGINAL or t.family.startswith(f"{ORIGINAL}/")]
    lines = []
    duels = [t for t in tests if t.question == Question.ACTIVATION and t.kind == "t"
             and {t.a["activation"], t.b["activation"]} == {"sine", "elu"}]
    if duels:
        words = [_word(t, t.a["activation"] == "sine") for t in duels]
        agree, differ = words.count(wording.AGREES), words.count(wording.DIFFERS)
        lines.append(f"(a) Original: SIREN beats ELU. Here: sine separated ahead on {agree}, "
                     f"elu on {differ}, of {len(duels)} (setting, field) comparisons -> "
                     f"{wording.tally(agree, differ)}.")
        lines += [f"      trained on {t.setting}, {t.metric}: {test_sentence(t, Question.ACTIVATION)}"
                  f" -> {w}" for t, w in zip(duels, words)]
    else:
        lines.append("(a) Original: SIREN beats ELU. Here: -> not tested: no weight setting "
                     "has both sine and elu runs.")
    claims = [t for t in mine if t.question == Question.LEARNING_RATE]
    if claims:
        for t in claims:
            lines.append(f"(b) Original: {t.note}. Here: "
                         f"{test_sentence(t, Question.LEARNING_RATE)} -> {_word(t)}.")
    else:
        lines.append("(b) Original: constant lr 1e-7 is best for MSE, exponential decay for "
                     "SSIM. Here: -> not tested: no learning-rate runs.")
    lines += _weights_verdict(rows, [t for t in tests if t.question == Question.WEIGHTS
                                     and t.kind == "dominance"])
    lines += siren_poisson_lines(rows, tests)
    lines.append(ORIGINAL_TEST_LINE)
    return lines


SIREN_POISSON = ("SIREN paper: SIREN reconstructs an image from its gradient alone (32.91 dB) "
                 "or its Laplacian alone (14.95 dB) where ReLU- and tanh-like networks fail")


def siren_poisson_lines(rows: list[dict], tests: list[Test]) -> list[str]:
    """The SIREN paper's Poisson finding set against the poisson question's sine-elu tests,
    setting by setting, with the setting's difference from the paper's."""
    duels = [t for t in tests if t.question == Question.POISSON
             and {t.a["activation"], t.b["activation"]} == {"sine", "elu"}]
    if not asking(rows, Question.POISSON):
        return []
    if not duels:
        return [f"(Poisson) {SIREN_POISSON}. Here: -> not tested: no sine and elu fits."]
    first = duels[0].a.first
    lines = [f"(Poisson) {SIREN_POISSON}. Here (at {first['size']:g} px, {first['steps']:g} "
             f"steps, width {first['width']:g}, a diffusion sequence, against the paper's "
             "256 px, 10,000 steps and one image; ELU stands for the ReLU-like networks):"]
    lines += [f"      from the {t.setting} alone, {t.metric}: "
              f"{test_sentence(t, Question.POISSON)} -> {_word(t, t.a['activation'] == 'sine')}"
              for t in duels]
    return lines


def _weights_verdict(rows: list[dict], dominance: list[Test]) -> list[str]:
    claim = f"(c) Original: the best weights are {ORIGINAL_WEIGHTS}."
    if not asking(rows, Question.WEIGHTS):
        return [f"{claim} Here: -> not tested: no loss-weight runs."]
    if not dominance:
        return [f"{claim} Here: -> not tested: no confirmed vector trains both pixels and the "
                "gradient (each term at least 1% of the effective weight) on seeds shared with "
                "original-best, so none can be shown better on both."]
    shown = [t for t in dominance if t.separated]
    if shown:
        detail, verdict = (", ".join(short_label(t.a, Question.WEIGHTS) for t in shown)
                           + " shown better on both pixels and gradient, on the tested seeds",
                           wording.DIFFERS)
    elif all(t.exploratory for t in dominance):
        detail, verdict = "no confirmation stage", "exploratory only"
    else:
        detail, verdict = (f"none of {len(dominance)} confirmed vectors shown better on both "
                           "pixels and gradient", "not separated")
    lines = [f"{claim} Here: {detail} -> {verdict}."]
    lines += [f"      {test_sentence(t, Question.WEIGHTS)}" for t in dominance]
    return lines


# ----------------------------------------------------------------------------- scope

PROFILE_SHAPE = ("size", "frames", "width", "steps")  # the settings that name a profile


def profile_of(shape: tuple) -> str:
    """The profile (inr.config.PROFILES) with this (size, frames, width, steps), or 'custom'."""
    for name in PROFILES:
        cfg = profile_config(name)
        if (cfg.data.size, cfg.data.frames, cfg.model.width, cfg.train.steps) == shape:
            return name
    return "custom"


def scope_line(rows: list[dict]) -> str:
    """What the runs were made on: profile, image, size, frames, steps, network, MS-SSIM
    scales, seeds per configuration (screening and confirmation), correction."""
    if not rows:
        return "No runs."

    def distinct(key):
        return sorted({str(r.get(key)) for r in rows if r.get(key) not in (None, "")})

    configs, per_stage = configurations(rows), []
    for stage in dict.fromkeys(r.get("stage") or "unlabelled" for r in rows):
        counts = [len({r["seed"] for r in c.rows if (r.get("stage") or "unlabelled") == stage})
                  for c in configs]
        counts = [n for n in counts if n]
        spread = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
        per_stage.append(f"{stage}: {len(counts)} configurations, {spread} seed(s) each")
    shapes = {tuple(r.get(k) for k in PROFILE_SHAPE) for r in rows}
    profiles = sorted({profile_of(shape) for shape in shapes})
    return (f"Scope: {', '.join(profiles)} profile, "
            f"image {', '.join(distinct('image')) or 'as recorded'}, "
            f"{', '.join(distinct('size'))} px, {', '.join(distinct('frames'))} frames, "
            f"{', '.join(distinct('steps'))} steps, width {', '.join(distinct('width'))} x "
            f"{', '.join(distinct('depth')) or '?'} hidden layers, MS-SSIM at "
            f"{ms_ssim_scales(rows[0])} scales; {'; '.join(per_stage)}; correction: Holm "
            "within each question's family.")


def ms_ssim_scales(row: dict) -> str:
    """How many MS-SSIM scales a row's frames allow (each scale needs at least 11 px)."""
    size = row.get("size")
    if size is None or not math.isfinite(float(size)):
        return "?"
    scales, side = 0, float(size)
    while side >= 11 and scales < 5:
        scales += 1
        side /= 2
    return str(scales)


# ----------------------------------------------------------------------------- what figures show

PLOT_METRICS = ("pixel_mse", "ssim", "grad_mse", "laplacian_mse", "dt_mse", "pde_residual")
PARETO_AXES = (("grad_mse", "psnr"), ("laplacian_mse", "psnr"))


@dataclass
class FigureData:
    """What a question's figure shows, computed here so that inr.report.plots only draws:
    the configurations (first-seen order), each one's Summary of every metric, each metric's
    ranking, and for each pair of PARETO_AXES the configurations on the Pareto front."""
    configs: list[Configuration]
    summaries: dict[str, dict[str, Summary]]
    rankings: dict[str, Ranking]
    fronts: dict[tuple[str, str], list[Configuration]] = field(default_factory=dict)

    def means_and_sds(self, configs: list[Configuration],
                      metric: str) -> tuple[list[float], list[float]]:
        """(means, standard deviations; 0 for one seed) of `metric` over `configs`."""
        summaries = [self.summaries[c.key][metric] for c in configs]
        return ([s.mean for s in summaries], [s.sd if s.n > 1 else 0.0 for s in summaries])


def figure_data(rows: list[dict], metrics: Sequence[str] = PLOT_METRICS,
                pareto: bool = False) -> FigureData:
    """The FigureData of `rows` for `metrics`; with `pareto`, the fronts of PARETO_AXES among
    the configurations with a finite PSNR."""
    wanted = set(metrics) | ({m for axes in PARETO_AXES for m in axes} if pareto else set())
    configs = configurations(rows)
    summaries = {c.key: {m: c.summary(m) for m in wanted} for c in configs}
    data = FigureData(configs, summaries, {m: rank(rows, m) for m in metrics})
    if pareto:
        scored = [c for c in configs if summaries[c.key]["psnr"].n > 0]
        for x_metric, y_metric in PARETO_AXES:
            points = [(summaries[c.key][x_metric].mean, summaries[c.key][y_metric].mean)
                      for c in scored]
            front = pareto_front(points, (higher_is_better(x_metric), higher_is_better(y_metric)))
            data.fronts[(x_metric, y_metric)] = [scored[i] for i in front]
    return data


def diverged_count(rows: list[dict], question: str) -> int:
    return sum(r["status"] == Status.DIVERGED for r in asking(rows, question, done_only=False))

