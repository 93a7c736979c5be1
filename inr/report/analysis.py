"""The answers: pure functions over report rows (inr.report.rows) that rank configurations, answer
the suite's four questions and set each of the original project's conclusions against the runs.

A configuration is every run that differs only in its seed (the rows' "configuration" label). A
ranking orders configurations by the mean of a metric over their seeds and says whether the
winner is separated from the runner-up (inr.stats: Welch's t-test). Which rows answer
which question is recorded in the runs (their experiments' `question`), so no experiment name is
spelled here. REPORT.md and the notebook both print `conclusion_lines` and
`compare_with_original`.

Verdicts on the original's claims: "agrees" (the claimed choice wins, separated from the
runner-up), "differs" (another choice wins, separated from the claimed one), "not separated at
N seeds" (the test cannot tell them apart at the seeds run), "not tested: ..." (the runs the claim
needs were not made).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from inr.report.rows import asking, betas, weight_vector
from inr.stats import (MIN_SEEDS, TEST, Configuration, Ranking, Summary, configurations,
                       differ_by, pareto_front, rank)
from inr.vocabulary import (HEADLINE_METRICS, MSE_TERMS, ORIGINAL_BEST, PIXEL_ONLY,
                            REFERENCE_WEIGHTS, Question, Status, higher_is_better, mse_metric)

TOP = 5
ORIGINAL_WEIGHTS = REFERENCE_WEIGHTS[ORIGINAL_BEST]  # the original project's reported best
ORIGINAL_LR_CLAIMS = (("pixel_mse", "constant", 1e-7), ("ssim", "exponential", None))
LR_METRICS = ("pixel_mse", "ssim", "grad_mse")
PIXEL_LOSS_METRICS = ("psnr", "ssim", "grad_mse")


def reference_name(row: dict) -> str | None:
    """Which reference vector (inr.vocabulary.REFERENCE_WEIGHTS) a row's weights equal up to
    scale, as its record says (set when it was planned); None for any other vector."""
    return row.get("reference") or None


def metric_of_setting(setting: str) -> str:
    """The metric that judges a run trained on one term alone ('grad' -> 'grad_mse'); PSNR for
    any other weight setting."""
    return mse_metric(setting) if setting in MSE_TERMS else "psnr"


def not_separated(n: int) -> str:
    return f"not separated at {n} seed{'s' * (n != 1)}"


def separation_text(ranking: Ranking) -> str:
    """How a ranking's winner stands against the runner-up, in words."""
    sep = ranking.separation
    if sep is None:
        return "nothing to compare with"
    runner = ranking.entries[1][0]
    if sep.separated:
        return f"separated from the runner-up ({label(runner)}; p = {sep.p:.2g})"
    return f"{not_separated(sep.n)} from the runner-up ({label(runner)})" + \
        (f"; p = {sep.p:.2g}" if sep.tested else "")


def label(config: Configuration) -> str:
    """How a configuration is named in sentences: its weight setting's name (or its weight
    vector, normalised beside the raw one, and which reference it is), activation, schedule
    and lr."""
    row = config.first
    reference = reference_name(row)
    what = row["weights"] or vector_text(row) + (f" ({reference})" if reference else "")
    return f"{what}, {row['activation']}, {row['scheduler']} lr {row['lr']:g}"


def vector_text(row: dict) -> str:
    """'(0.1, 0.01, 0, 0) = (1, 0.1, 0, 0) up to scale', or just the vector when it is already
    normalised: only the ratios of the weights matter with Adam (to within its epsilon)."""
    raw, top = weight_vector(row), max(weight_vector(row))
    if top in (0, 1):
        return betas(row)
    scaled = "(" + ", ".join(f"{v / top:.4g}" for v in raw) + ")"
    return f"{betas(row)} = {scaled} up to scale"


# ----------------------------------------------------------------------------- the answers

def lr_bracket(ranking: Ranking, tried_rows: list[dict]) -> str:
    """Where the winning lr lies in the range tried for its scheduler (tried_rows: every run
    of the question, a diverged one too): at an edge, or inside."""
    best = ranking.winner
    if best is None:
        return ""
    tried = sorted({r["lr"] for r in tried_rows if r["scheduler"] == best["scheduler"]})
    if len(tried) < 2:
        return "the only lr tried"
    if best["lr"] == tried[-1]:
        return f"best at the largest value tried ({tried[-1]:g}): the optimum may lie above"
    if best["lr"] == tried[0]:
        return f"best at the smallest value tried ({tried[0]:g}): the optimum may lie below"
    return f"bracketed: inside the range tried ({tried[0]:g} to {tried[-1]:g})"


def supervising(rows: list[dict], metric: str) -> list[dict]:
    """The rows whose loss trains the field that `metric` measures (all rows for metrics that
    no single term trains)."""
    term = next((t for t in MSE_TERMS if mse_metric(t) == metric), None)
    return rows if term is None else [r for r in rows if r[f"beta_{term}"] > 0]


def conclusions(rows: list[dict]) -> dict:
    """The answers to the suite's four questions as rankings, from the rows (a question's part
    is absent where no run answers it)."""
    out = {}
    acts = asking(rows, Question.ACTIVATION)
    if acts:
        settings = list(dict.fromkeys(r["weights"] for r in acts))
        per_setting = {s: rank([r for r in acts if r["weights"] == s], metric_of_setting(s))
                       for s in settings}
        wins: dict[str, int] = {}
        for ranking in per_setting.values():
            if ranking.separation is not None and ranking.separation.separated:
                act = ranking.winner["activation"]
                wins[act] = wins.get(act, 0) + 1
        out[Question.ACTIVATION] = {"settings": per_setting, "separated_wins": wins}
    lrs = asking(rows, Question.LEARNING_RATE)
    if lrs:
        out[Question.LEARNING_RATE] = {m: rank(lrs, m) for m in LR_METRICS}
    weights = asking(rows, Question.WEIGHTS)
    if weights:
        out[Question.WEIGHTS] = {m: rank(weights, m) for m in HEADLINE_METRICS}
        out[Question.WEIGHTS]["worst_pixel_mse"] = rank(supervising(weights, "pixel_mse"), "pixel_mse")
        out[Question.WEIGHTS]["diverged"] = sum(r["status"] == Status.DIVERGED
                                         for r in asking(rows, Question.WEIGHTS, done_only=False))
    losses = asking(rows, Question.PIXEL_LOSS)
    if losses:
        out[Question.PIXEL_LOSS] = {m: rank(losses, m) for m in PIXEL_LOSS_METRICS}
    return out


def ranking_line(question: str, ranking: Ranking, extra: str = "") -> str:
    """'<question> by <metric>: highest mean <winner> (<mean ± sd (n)>); <separation>.'"""
    best, summary = ranking.entries[0]
    lead = "lowest" if not higher_is_better(ranking.metric) else "highest"
    return (f"{question} by {ranking.metric}: {lead} mean for {label(best)} "
            f"({summary.text()}); {separation_text(ranking)}{extra}.")


def conclusion_lines(rows: list[dict]) -> list[str]:
    """The computed answers as sentences (the notebook and REPORT.md print them). No sentence
    names a winner without saying whether the statistics separate it."""
    c, lines = conclusions(rows), []
    if Question.ACTIVATION in c:
        for setting, ranking in c[Question.ACTIVATION]["settings"].items():
            if ranking.entries:
                lines.append(ranking_line(f"Activation trained on {setting}", ranking))
        wins = c[Question.ACTIVATION]["separated_wins"]
        if wins:
            counts = ", ".join(f"{a} on {n}" for a, n in sorted(wins.items(), key=lambda x: -x[1]))
            lines.append(f"Separated wins over the runner-up, of {len(c['activation']['settings'])}"
                         f" weight settings: {counts}.")
        else:
            lines.append("No activation is separated from the runner-up on any weight setting.")
    if Question.LEARNING_RATE in c:
        tried = asking(rows, Question.LEARNING_RATE, done_only=False)
        for ranking in c[Question.LEARNING_RATE].values():
            if ranking.entries:
                lines.append(ranking_line("Learning rate and schedule", ranking,
                                          f"; {lr_bracket(ranking, tried)}"))
    if Question.WEIGHTS in c:
        for metric in HEADLINE_METRICS:
            if c[Question.WEIGHTS][metric].entries:
                lines.append(ranking_line("Loss weights", c[Question.WEIGHTS][metric]))
    if Question.PIXEL_LOSS in c:
        for ranking in c[Question.PIXEL_LOSS].values():
            if ranking.entries:
                lines.append(ranking_line("Pixel loss", ranking))
    if lines:
        lines.append(f"Test: {TEST}.")
    return lines


# ----------------------------------------------------------------------------- the original

def claim_verdict(ranking: Ranking, claimed: Configuration | None, what: str) -> str:
    """The verdict on "`claimed` is best by the ranking's metric" (module doc's words)."""
    if claimed is None or claimed.summary(ranking.metric).n == 0:
        return f"not tested: {what} was not run"
    if len(ranking.entries) < 2:
        return "not tested: nothing to compare it with"
    if ranking.winner.key == claimed.key:
        sep = ranking.separation
        return "agrees" if sep.separated else not_separated(sep.n)
    sep = differ_by(ranking.winner, claimed, ranking.metric)
    return "differs" if sep.separated else not_separated(sep.n)


def _versus(ranking: Ranking, claimed: Configuration | None) -> str:
    """'winner X (mean ± sd (n)); the claimed one ranks k of K (mean ± sd (n))'."""
    best, summary = ranking.entries[0]
    text = f"{label(best)} has the best mean ({summary.text()})"
    position = ranking.position(claimed) if claimed is not None else None
    if position:
        text += (f"; the original's choice ranks {position} of {len(ranking.entries)} "
                 f"({claimed.summary(ranking.metric).text()})")
    return text


def _activation_duels(rows) -> list[str]:
    acts, duels = asking(rows, Question.ACTIVATION), []
    for setting in dict.fromkeys(r["weights"] for r in acts):
        metric = metric_of_setting(setting)
        pair = {c["activation"]: c for c in configurations([r for r in acts
                                                            if r["weights"] == setting])}
        if "sine" in pair and "elu" in pair:
            sep = differ_by(pair["sine"], pair["elu"], metric)
            sine, elu = pair["sine"].summary(metric), pair["elu"].summary(metric)
            sine_ahead = (sine.mean > elu.mean) == higher_is_better(metric)
            word = (("agrees" if sine_ahead else "differs") if sep.separated
                    else not_separated(sep.n))
            duels.append((setting, metric, sine, elu, word))
    if not duels:
        return ["(a) Original: SIREN beats ELU. Here: not tested: no weight setting has both "
                "sine and elu runs."]
    agree = sum(d[-1] == "agrees" for d in duels)
    differ = sum(d[-1] == "differs" for d in duels)
    if agree and not differ:  # one word only where every separated setting points one way
        overall = "agrees"
    elif differ and not agree:
        overall = "differs"
    elif not agree and not differ:
        overall = not_separated(min(min(d[2].n, d[3].n) for d in duels))
    else:
        overall = (f"agrees on {agree}, differs on {differ}, "
                   f"{not_separated(min(min(d[2].n, d[3].n) for d in duels))} on "
                   f"{len(duels) - agree - differ}, setting by setting")
    lines = [f"(a) Original: SIREN beats ELU. Here: sine is separated ahead on {agree}, elu on "
             f"{differ}, of {len(duels)} weight settings -> {overall}."]
    lines += [f"      trained on {s}: {m} sine {a.text()}, elu {b.text()} -> {w}"
              for s, m, a, b, w in duels]
    return lines


def _lr_claims(rows) -> list[str]:
    lines, lrs = [], asking(rows, Question.LEARNING_RATE)
    tried = asking(rows, Question.LEARNING_RATE, done_only=False)
    if not lrs:
        missing = "no learning-rate run completed" if tried else "no learning-rate runs"
        return ["(b) Original: constant lr 1e-7 is best for MSE, exponential decay for SSIM. "
                f"Here: not tested: {missing}."]
    for metric, kind, claim_lr in ORIGINAL_LR_CLAIMS:
        ranking = rank(lrs, metric)
        matches = [c for c, _ in ranking.entries if c["scheduler"] == kind and (
            claim_lr is None or math.isclose(c["lr"], claim_lr, rel_tol=1e-6))]
        claimed = matches[0] if matches else None  # the best-ranked match
        said = (f"{kind} decay is best for {metric}" if claim_lr is None
                else f"{kind} lr {claim_lr:g} is best for {metric}")
        what = f"{kind} decay" if claim_lr is None else f"{kind} lr {claim_lr:g}"
        verdict = claim_verdict(ranking, claimed, what)
        lines.append(f"(b) Original: {said}. Here: {_versus(ranking, claimed)}; "
                     f"{lr_bracket(ranking, tried)} -> {verdict}.")
    return lines


def _comparable(config: Configuration, activation, lr, scheduler) -> bool:
    """Whether a configuration has the given settings (None: any)."""
    return ((activation is None or config["activation"] == activation)
            and (scheduler is None or config["scheduler"] == scheduler)
            and (lr is None or math.isclose(config["lr"], lr, rel_tol=1e-6)))


def _weights_claim(rows, activation, lr, scheduler) -> list[str]:
    """(c), by pixel_mse and by grad_mse. Against the best mean, whose seeds include the one
    that chose it for confirmation (its mean is biased up), and against the pixel-only
    reference, which no ranking chose: a claim separated below that reference differs on
    unbiased evidence."""
    weights = asking(rows, Question.WEIGHTS)
    claim = f"(c) Original: the best weights are {ORIGINAL_WEIGHTS}."
    if not weights:
        return [f"{claim} Here: not tested: no loss-weight runs."]
    configs = [c for c in configurations(weights) if _comparable(c, activation, lr, scheduler)]
    claimed = next((c for c in configs if reference_name(c.first) == ORIGINAL_BEST), None)
    pixel_only = next((c for c in configs if reference_name(c.first) == PIXEL_ONLY), None)
    lines = []
    for metric in HEADLINE_METRICS:
        ranking = rank(weights, metric)
        if not ranking.entries:
            continue
        verdict = claim_verdict(ranking, claimed, "the original's vector")
        versus_reference = ""
        if claimed is not None and pixel_only is not None and claimed.key != pixel_only.key:
            sep = differ_by(pixel_only, claimed, metric)
            ahead = (pixel_only.summary(metric).mean > claimed.summary(metric).mean) == \
                higher_is_better(metric)
            if sep.separated and ahead:
                verdict = "differs"
            versus_reference = (f"; the pixel-only reference {pixel_only.summary(metric).text()}"
                                f" is {'ahead' if ahead else 'behind'}, "
                                f"{'separated' if sep.separated else not_separated(sep.n)}"
                                + (f" (p = {sep.p:.2g})" if sep.tested else ""))
        lead = f"{claim} Here, by {metric}" if not lines else f"      by {metric}"
        lines.append(f"{lead} over {len(ranking.entries)} vectors: {_versus(ranking, claimed)}"
                     f"{versus_reference} -> {verdict}.")
    return lines


def compare_with_original(rows: list[dict], activation: str | None = None,
                          lr: float | None = None, scheduler: str | None = None) -> list[str]:
    """Sentences that set each conclusion of the original project (NOTES §1) against the rows:
    (a) SIREN beats ELU, (b) constant lr 1e-7 best for MSE and exponential best for SSIM,
    (c) best weights (1, 0.01, 0.001, 0), each with the statistics behind its verdict.
    `activation`, `lr`, `scheduler`: the settings of the weights runs among which to find the
    original's vector (None: any; a loss-weight experiment gives all its runs the same)."""
    return [*_activation_duels(rows), *_lr_claims(rows),
            *_weights_claim(rows, activation, lr, scheduler), f"Test: {TEST}."]


REFERENCE_METRICS = ("psnr", "grad_mse")  # what the confirmed vectors are compared on
SELECTION_NOTE = ("The confirmed vectors were chosen by their screening seed, which their means "
                  "include: the top of a ranking is biased up (the winner's curse). The "
                  "reference vectors were chosen by no ranking, so a comparison with them is "
                  "free of that bias.")


def reference_configurations(rows: list[dict]) -> dict[str, Configuration]:
    """The loss-weight configurations of the reference vectors, by reference name."""
    return {reference_name(c.first): c for c in configurations(asking(rows, Question.WEIGHTS))
            if reference_name(c.first)}


def reference_comparisons(rows: list[dict]) -> list[tuple[Configuration, dict]]:
    """Every loss-weight configuration with at least MIN_SEEDS seeds against each reference
    vector: (configuration, {(reference name, metric): Separation}) for REFERENCE_METRICS."""
    configs = configurations(asking(rows, Question.WEIGHTS))
    references = reference_configurations(rows)
    return [(c, {(name, metric): differ_by(c, ref, metric) for name, ref in references.items()
                 if ref.key != c.key for metric in REFERENCE_METRICS})
            for c in configs if c.summary("psnr").n >= MIN_SEEDS]


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
