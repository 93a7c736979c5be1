"""The answers: pure functions over report rows (inr.report.rows) that rank configurations, answer
the suite's four questions and set each of the original project's conclusions against the runs.

A configuration is every run that differs only in its seed (the rows' "configuration" label). A
ranking orders configurations by the mean of a metric over their seeds and says whether the
winner is separated from the runner-up (inr.report.stats: Welch's t-test). Which rows answer
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
from dataclasses import dataclass, field

from inr.experiments import REFERENCE_WEIGHTS, up_to_scale
from inr.report.rows import asking, betas, weight_vector
from inr.report.stats import TEST, Separation, Summary, separation, summarize
from inr.vocabulary import MSE_TERMS, higher_is_better, mse_metric

TOP = 5
HEADLINE_METRICS = ("pixel_mse", "grad_mse")  # what the weights question ranks (and confirms)
ORIGINAL_WEIGHTS = REFERENCE_WEIGHTS["original-best"]  # the original project's reported best
ORIGINAL_LR_CLAIMS = (("pixel_mse", "constant", 1e-7), ("ssim", "exponential", None))
LR_METRICS = ("pixel_mse", "ssim", "grad_mse")
PIXEL_LOSS_METRICS = ("psnr", "ssim", "grad_mse")


def reference_name(row) -> str | None:
    """Which reference vector (inr.experiments.REFERENCE_WEIGHTS) a row's weights are, up to
    scale; None for any other vector. By the vector, not a label: a reference's run may have
    been planned by another experiment first (the learning rates' run at the same settings)."""
    form = up_to_scale(weight_vector(row))
    return next((n for n, v in REFERENCE_WEIGHTS.items() if up_to_scale(v) == form), None)


def metric_of_setting(setting: str) -> str:
    """The metric that judges a run trained on one term alone ('grad' -> 'grad_mse'); PSNR for
    any other weight setting."""
    return mse_metric(setting) if setting in MSE_TERMS else "psnr"


# ----------------------------------------------------------------------------- configurations

@dataclass
class Configuration:
    """The runs of one configuration: they differ only in their seed."""
    key: str
    rows: list = field(default_factory=list)

    @property
    def first(self) -> dict:
        """The row that labels it: its first seed's."""
        return min(self.rows, key=lambda r: r["seed"] if math.isfinite(r["seed"]) else math.inf)

    def values(self, metric: str) -> list[float]:
        """The metric of its completed seeds."""
        return [r[metric] for r in self.rows
                if r["status"] == "completed" and math.isfinite(r[metric])]

    def summary(self, metric: str) -> Summary:
        return summarize(self.values(metric))

    @property
    def diverged(self) -> int:
        return sum(r["status"] == "diverged" for r in self.rows)

    def __getitem__(self, column: str):
        return self.first[column]


def configurations(rows) -> list[Configuration]:
    """The rows grouped by configuration, in first-seen order."""
    found: dict[str, Configuration] = {}
    for row in rows:
        found.setdefault(row["configuration"], Configuration(row["configuration"])).rows.append(row)
    return list(found.values())


def differ_by(a: Configuration, b: Configuration, metric: str) -> Separation:
    return separation(a.values(metric), b.values(metric))


@dataclass
class Ranking:
    """Configurations ordered by the mean of `metric` over their seeds, best first (those
    without a completed seed are left out); `separation`: the winner against the runner-up."""
    metric: str
    entries: list  # (Configuration, Summary)

    @property
    def winner(self) -> Configuration | None:
        return self.entries[0][0] if self.entries else None

    @property
    def separation(self) -> Separation | None:
        if len(self.entries) < 2:
            return None
        return differ_by(self.entries[0][0], self.entries[1][0], self.metric)

    def position(self, config: Configuration) -> int | None:
        """1-based rank of a configuration (None when it is not ranked)."""
        return next((i for i, (c, _) in enumerate(self.entries, 1) if c is config), None)

    def separation_text(self) -> str:
        """How the winner stands against the runner-up, in words."""
        sep = self.separation
        if sep is None:
            return "nothing to compare with"
        runner = self.entries[1][0]
        if sep.separated:
            return f"separated from the runner-up ({label(runner)}; p = {sep.p:.2g})"
        return f"{not_separated(sep.n)} from the runner-up ({label(runner)})" + \
            (f"; p = {sep.p:.2g}" if sep.tested else "")


def rank(rows, metric: str) -> Ranking:
    """The configurations of `rows` ranked by their mean `metric` (inr.vocabulary decides the
    direction)."""
    scored = [(c, c.summary(metric)) for c in configurations(rows)]
    scored = [(c, s) for c, s in scored if s.n > 0]
    scored.sort(key=lambda cs: cs[1].mean, reverse=higher_is_better(metric))
    return Ranking(metric, scored)


def not_separated(n: int) -> str:
    return f"not separated at {n} seed{'s' * (n != 1)}"


def label(config: Configuration) -> str:
    """How a configuration is named in sentences: its weight setting's name (or its weight
    vector, normalised beside the raw one, and which reference it is), activation, schedule
    and lr."""
    row = config.first
    reference = reference_name(row)
    what = row["weights"] or vector_text(row) + (f" ({reference})" if reference else "")
    return f"{what}, {row['activation']}, {row['scheduler']} lr {row['lr']:g}"


def vector_text(row) -> str:
    """'(0.1, 0.01, 0, 0) = (1, 0.1, 0, 0) up to scale', or just the vector when it is already
    normalised: only the ratios of the weights matter with Adam (to within its epsilon)."""
    raw, top = weight_vector(row), max(weight_vector(row))
    if top in (0, 1):
        return betas(row)
    scaled = "(" + ", ".join(f"{v / top:.4g}" for v in raw) + ")"
    return f"{betas(row)} = {scaled} up to scale"


# ----------------------------------------------------------------------------- the answers

def lr_bracket(ranking: Ranking) -> str:
    """Where the winning lr lies in the range tried for its scheduler: at an edge, or inside."""
    best = ranking.winner
    if best is None:
        return ""
    tried = sorted({c["lr"] for c, _ in ranking.entries if c["scheduler"] == best["scheduler"]})
    if len(tried) < 2:
        return "the only lr tried"
    if best["lr"] == tried[-1]:
        return f"best at the largest value tried ({tried[-1]:g}): the optimum may lie above"
    if best["lr"] == tried[0]:
        return f"best at the smallest value tried ({tried[0]:g}): the optimum may lie below"
    return f"bracketed: inside the range tried ({tried[0]:g} to {tried[-1]:g})"


def supervising(rows, metric: str) -> list[dict]:
    """The rows whose loss trains the field that `metric` measures (all rows for metrics that
    no single term trains)."""
    term = next((t for t in MSE_TERMS if mse_metric(t) == metric), None)
    return rows if term is None else [r for r in rows if r[f"beta_{term}"] > 0]


def conclusions(rows) -> dict:
    """The answers to the suite's four questions as rankings, from the rows (a question's part
    is absent where no run answers it)."""
    out = {}
    acts = asking(rows, "activation")
    if acts:
        settings = list(dict.fromkeys(r["weights"] for r in acts))
        per_setting = {s: rank([r for r in acts if r["weights"] == s], metric_of_setting(s))
                       for s in settings}
        wins: dict[str, int] = {}
        for ranking in per_setting.values():
            if ranking.separation is not None and ranking.separation.separated:
                act = ranking.winner["activation"]
                wins[act] = wins.get(act, 0) + 1
        out["activation"] = {"settings": per_setting, "separated_wins": wins}
    lrs = asking(rows, "learning_rate")
    if lrs:
        out["learning_rate"] = {m: rank(lrs, m) for m in LR_METRICS}
    weights = asking(rows, "weights")
    if weights:
        out["weights"] = {m: rank(weights, m) for m in HEADLINE_METRICS}
        out["weights"]["worst_pixel_mse"] = rank(supervising(weights, "pixel_mse"), "pixel_mse")
        out["weights"]["diverged"] = sum(r["status"] == "diverged"
                                         for r in asking(rows, "weights", done_only=False))
    losses = asking(rows, "pixel_loss")
    if losses:
        out["pixel_loss"] = {m: rank(losses, m) for m in PIXEL_LOSS_METRICS}
    return out


def ranking_line(question: str, ranking: Ranking, extra: str = "") -> str:
    """'<question> by <metric>: highest mean <winner> (<mean ± sd (n)>); <separation>.'"""
    best, summary = ranking.entries[0]
    lead = "lowest" if not higher_is_better(ranking.metric) else "highest"
    return (f"{question} by {ranking.metric}: {lead} mean for {label(best)} "
            f"({summary.text()}); {ranking.separation_text()}{extra}.")


def conclusion_lines(rows) -> list[str]:
    """The computed answers as sentences (the notebook and REPORT.md print them). No sentence
    names a winner without saying whether the statistics separate it."""
    c, lines = conclusions(rows), []
    if "activation" in c:
        for setting, ranking in c["activation"]["settings"].items():
            if ranking.entries:
                lines.append(ranking_line(f"Activation trained on {setting}", ranking))
        wins = c["activation"]["separated_wins"]
        if wins:
            counts = ", ".join(f"{a} on {n}" for a, n in sorted(wins.items(), key=lambda x: -x[1]))
            lines.append(f"Separated wins over the runner-up, of {len(c['activation']['settings'])}"
                         f" weight settings: {counts}.")
        else:
            lines.append("No activation is separated from the runner-up on any weight setting.")
    if "learning_rate" in c:
        for ranking in c["learning_rate"].values():
            if ranking.entries:
                lines.append(ranking_line("Learning rate and schedule", ranking,
                                          f"; {lr_bracket(ranking)}"))
    if "weights" in c:
        for metric in HEADLINE_METRICS:
            if c["weights"][metric].entries:
                lines.append(ranking_line("Loss weights", c["weights"][metric]))
    if "pixel_loss" in c:
        for ranking in c["pixel_loss"].values():
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
    if ranking.winner is claimed:
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
    acts, duels = asking(rows, "activation"), []
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
    overall = ("agrees" if agree > differ else "differs" if differ > agree
               else not_separated(min(min(d[2].n, d[3].n) for d in duels)))
    lines = [f"(a) Original: SIREN beats ELU. Here: sine is separated ahead on {agree}, elu on "
             f"{differ}, of {len(duels)} weight settings -> {overall}."]
    lines += [f"      trained on {s}: {m} sine {a.text()}, elu {b.text()} -> {w}"
              for s, m, a, b, w in duels]
    return lines


def _lr_claims(rows) -> list[str]:
    lines, lrs = [], asking(rows, "learning_rate")
    if not lrs:
        return ["(b) Original: constant lr 1e-7 is best for MSE, exponential decay for SSIM. "
                "Here: not tested: no learning-rate runs."]
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
                     f"{lr_bracket(ranking)} -> {verdict}.")
    return lines


def _weights_claim(rows, activation: str, lr: float, scheduler: str) -> list[str]:
    weights = asking(rows, "weights")
    claim = f"(c) Original: the best weights are {ORIGINAL_WEIGHTS}."
    if not weights:
        return [f"{claim} Here: not tested: no loss-weight runs."]
    ranking = rank(weights, "pixel_mse")
    claimed = next((c for c, _ in ranking.entries if weight_vector(c.first) == ORIGINAL_WEIGHTS
                    and c["activation"] == activation and c["scheduler"] == scheduler
                    and math.isclose(c["lr"], lr, rel_tol=1e-6)), None)
    what = f"the original's vector at {activation} {scheduler} lr {lr:g}"
    verdict = claim_verdict(ranking, claimed, what)
    lines = [f"{claim} Here, by pixel_mse over {len(ranking.entries)} vectors: "
             f"{_versus(ranking, claimed)} -> {verdict}."]
    by_grad = rank(weights, "grad_mse")
    if by_grad.entries:
        lines.append(f"      by grad_mse: {_versus(by_grad, claimed)} -> "
                     f"{claim_verdict(by_grad, claimed, what)}.")
    return lines


def compare_with_original(rows, activation: str = "sine", lr: float = 1e-4,
                          scheduler: str = "constant") -> list[str]:
    """Sentences that set each conclusion of the original project (NOTES §1) against the rows:
    (a) SIREN beats ELU, (b) constant lr 1e-7 best for MSE and exponential best for SSIM,
    (c) best weights (1, 0.01, 0.001, 0), each with the statistics behind its verdict.
    `activation`, `lr`, `scheduler`: the settings of the weights runs, to find the original's
    vector among comparable runs."""
    return [*_activation_duels(rows), *_lr_claims(rows),
            *_weights_claim(rows, activation, lr, scheduler), f"Test: {TEST}."]


def confirmation_choice(rows, top: int) -> list[str]:
    """The configurations a confirmation stage reruns: the `top` of each headline metric (by
    their mean over the seeds done) and the reference vectors, in that order, each once."""
    chosen = [c.key for metric in HEADLINE_METRICS for c, _ in rank(rows, metric).entries[:top]]
    chosen += [c.key for c in configurations(rows) if reference_name(c.first)]
    return list(dict.fromkeys(chosen))
