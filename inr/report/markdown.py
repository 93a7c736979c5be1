"""The report as text: REPORT.md, the notebook's ranking tables and the end-of-sweep table.

`markdown_table` is the one table writer: every number through `number_cell`, nan as "—".
Every ranking shows each configuration's mean ± sd over its seeds and n, ranks by the mean, and
says whether the winner is separated from the runner-up (inr.stats.TEST).
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

from inr.artefacts.rundir import summary_line
from inr.io import write_text_atomic
from inr.report.analysis import (REFERENCE_METRICS, SELECTION_NOTE, TOP,
                                 Configuration, Ranking, compare_with_original,
                                 conclusion_lines, conclusions, not_separated, rank,
                                 reference_comparisons, reference_configurations,
                                 reference_name, separation_text, vector_text)
from inr.report.plots import PARETO_FILE
from inr.report.rows import asking, ranked
from inr.stats import TEST
from inr.vocabulary import FIELDS, HEADLINE_METRICS, MSE_TERMS, Question, Status, higher_is_better

CONTEXT = ("psnr", "grad_mse", "laplacian_mse", "dt_mse", "pde_residual")  # beside a ranking
RECONSTRUCTION = ("psnr", "psnr_up_to_constant", "psnr_up_to_frame_constants")


def number_cell(value: object) -> str:
    """A number as a table cell: 4 significant digits, "—" for a missing or non-finite one."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def markdown_table(header: list[str], rows: list[list]) -> list[str]:
    """A Markdown table as lines; text cells as given, numbers through number_cell."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c if isinstance(c, str) else number_cell(c) for c in row) + " |"
              for row in rows]
    return lines


def best_table(rows: list[dict], n: int = TOP) -> str:
    """The best runs by PSNR, one summary line each (inr.artefacts.rundir.summary_line), for
    the end of a sweep."""
    top = ranked(rows, "psnr")[:n]
    if not top:
        return "no completed runs"
    width = max(len(r["name"]) for r in top)
    return "\n".join(f"{r['name']:<{width}}  {summary_line(r)}" for r in top)


def _video_link(row, results: Path | None) -> str:
    """A link to the run's video relative to REPORT.md's folder `results`; "—" where there is
    no video file, or no links are wanted (results None)."""
    if results is None or not row["video"] or not Path(row["video"]).is_file():
        return "—"
    return f"[video]({Path(os.path.relpath(Path(row['video']).resolve(), results.resolve())).as_posix()})"


def _mean(config: Configuration, metric: str) -> float:
    return config.summary(metric).mean


def ranking_lines(ranking: Ranking, describe: dict, results: Path, top: int | None = TOP,
                  context: Sequence[str] = CONTEXT, verdict: bool = True) -> list[str]:
    """A ranking as a table: rank, the configuration (describe: column -> f(config) -> text),
    the metric's mean ± sd (n), the means of the context metrics other than it, the first
    seed's video; then (verdict) the separation of the winner from the runner-up."""
    others = [m for m in context if m != ranking.metric]
    entries = ranking.entries if top is None else ranking.entries[:top]
    body = [[str(i), *(f(c) for f in describe.values()), s.text(),
             *(_mean(c, m) for m in others), _video_link(c.first, results)]
            for i, (c, s) in enumerate(entries, 1)]
    header = ["rank", *describe, f"{ranking.metric}: mean ± sd (n)",
              *(f"{m} (mean)" for m in others), "video"]
    table = markdown_table(header, body) + [""]
    if verdict and len(ranking.entries) > 1:
        table += [f"Winner: {separation_text(ranking)}.", ""]
    return table


def _weights(config: Configuration) -> str:
    name = config["weights"] or reference_name(config.first)
    return vector_text(config.first) + (f" ({name})" if name else "")


def _effective(config: Configuration) -> str:
    return "(" + ", ".join(number_cell(config.first[f"effective_{t}"]) for t in MSE_TERMS) + ")"


DESCRIBE = {
    Question.ACTIVATION: {"activation": lambda c: c["activation"]},
    Question.LEARNING_RATE: {"scheduler": lambda c: c["scheduler"],
                             "lr": lambda c: f"{c['lr']:g}"},
    Question.WEIGHTS: {"weights (pixel, grad, laplacian, dt)": _weights,
                       "effective weights β·σ²": _effective},
    Question.PIXEL_LOSS: {"pixel loss": lambda c: c["weights"]},
}


def _target_scales(rows) -> list[str]:
    """The target variances of the runs' data (one line per distinct data setting)."""
    seen = {}
    for r in rows:
        key = (r["size"], r["frames"])
        if key not in seen and math.isfinite(r["variance_value"] or math.nan):
            seen[key] = [r[f"variance_{f}"] for f in FIELDS]
    if not seen:
        return []
    return ["## Target scales", "",
            "Each field's target variance over the training frames (the gradient's: the sum of "
            "its two components'). A weight β acts on its term's MSE, so on the error relative "
            "to the target's scale with the effective weight β·σ² (loss.normalize = none, the "
            "default) or β (normalize = variance).", ""] + \
        markdown_table(["size", "frames", *(f"σ² {f}" for f in FIELDS)],
                       [[f"{k[0]:g}", f"{k[1]:g}", *v] for k, v in seen.items()]) + [""]


def _unsupervised_pixels(rows, results: Path) -> list[str]:
    """Runs without a pixel term, scored up to the constants their loss leaves free: one for
    the sequence where a dt term ties the frames together, one per frame where none does."""
    free = [r for r in rows if r["beta_pixel"] == 0]
    groups = [("with a dt term, free up to one constant", "psnr_up_to_constant",
               [r for r in free if r["beta_dt"] > 0]),
              ("without one, free up to a constant per frame", "psnr_up_to_frame_constants",
               [r for r in free if r["beta_dt"] == 0])]
    if not free:
        return []
    lines = ["Runs without a pixel term, whose intensity is free up to constants: PSNR after "
             "removing the best constant of the whole sequence (psnr_up_to_constant) or of "
             "each frame (psnr_up_to_frame_constants). A gradient term leaves each frame's "
             "constant free, a dt term ties them into one; a Laplacian-only run is free up to "
             "harmonic functions, which neither figure removes.", ""]
    for what, metric, chosen in groups:
        ranking = rank(chosen, metric)
        if ranking.entries:
            lines += [f"Runs {what}, ranked by {metric}:", ""]
            lines += ranking_lines(ranking, DESCRIBE[Question.WEIGHTS], results,
                                   context=(*RECONSTRUCTION, "grad_mse", "dt_mse"))
    return lines


def _against_references(rows) -> list[str]:
    """Each loss-weight vector with several seeds against the reference vectors."""
    compared = reference_comparisons(rows)
    if not compared:
        return []
    pairs = list(dict.fromkeys(key for _, seps in compared for key in seps))
    references = reference_configurations(rows)
    body = []
    for config, seps in compared:
        cells = []
        for name, metric in pairs:
            sep = seps.get((name, metric))
            if sep is None:
                cells.append("—")
                continue
            ahead = (config.summary(metric).mean > references[name].summary(metric).mean) \
                == higher_is_better(metric)
            cells.append(f"{'ahead' if ahead else 'behind'}, "
                         + ("separated" if sep.separated else not_separated(sep.n))
                         + (f", p = {sep.p:.2g}" if sep.tested else ""))
        body.append([_weights(config), *(config.summary(m).text() for m in REFERENCE_METRICS),
                     *cells])
    header = ["weights", *(f"{m}: mean ± sd (n)" for m in REFERENCE_METRICS),
              *(f"{m} vs {name}" for name, m in pairs)]
    return ["Against the reference vectors (Welch's t-test on each metric):", "",
            SELECTION_NOTE, ""] + markdown_table(header, body) + [""]


def _questions(c: dict, rows, results: Path) -> list[str]:
    lines = []
    if Question.ACTIVATION in c:
        lines += ["## 1. Which activation?", ""]
        for setting, ranking in c[Question.ACTIVATION]["settings"].items():
            lines += [f"Trained on {setting}, ranked by {ranking.metric}:", ""]
            lines += ranking_lines(ranking, DESCRIBE[Question.ACTIVATION], results, top=None)
    if Question.LEARNING_RATE in c:
        lines += ["## 2. Which learning rate and schedule?", ""]
        for ranking in c[Question.LEARNING_RATE].values():
            lines += [f"Ranked by {ranking.metric}:", ""]
            lines += ranking_lines(ranking, DESCRIBE[Question.LEARNING_RATE], results)
    if Question.WEIGHTS in c:
        ws = c[Question.WEIGHTS]
        lines += ["## 3. Which loss weights (pixel, grad, laplacian, dt)?", "",
                  "With Adam only the ratios of the weights matter: vectors equal up to scale "
                  "give nearly identical runs (to within Adam's epsilon), so each vector is "
                  "shown normalised to a largest entry of 1 beside its raw form.", ""]
        for metric in HEADLINE_METRICS:
            lines += [f"Best {TOP} by {metric}:", ""]
            lines += ranking_lines(ws[metric], DESCRIBE[Question.WEIGHTS], results)
        worst = ws["worst_pixel_mse"]
        worst = Ranking(worst.metric, worst.entries[::-1])
        lines += [f"Worst {TOP} by pixel_mse among the runs that train on pixels (a run without "
                  f"a pixel term does not aim at pixel_mse):", ""]
        lines += ranking_lines(worst, DESCRIBE[Question.WEIGHTS], results, verdict=False)
        lines += _against_references(rows)
        lines += _unsupervised_pixels(asking(rows, Question.WEIGHTS), results)
        lines += [f"Diverged: {ws['diverged']} runs.", ""]
        lines += [f"![Pareto view]({PARETO_FILE})", ""]
    if Question.PIXEL_LOSS in c:
        lines += ["## 4. Which pixel loss?", ""]
        for ranking in c[Question.PIXEL_LOSS].values():
            lines += [f"Ranked by {ranking.metric}:", ""]
            lines += ranking_lines(ranking, DESCRIBE[Question.PIXEL_LOSS], results, top=None)
    return lines


def write_markdown(rows: list[dict], results: Path, video_links: bool = True) -> Path:
    """results/REPORT.md: conclusions, the comparison with the original, one section per
    question that the runs answer, the target scales; with video_links, a link to each ranked
    configuration's video."""
    c = conclusions(rows)
    done = [r for r in rows if r["status"] == Status.COMPLETED]
    seeds = len({r["seed"] for r in rows})
    lines = ["# Results", "",
             f"Built {time.strftime('%Y-%m-%d %H:%M')} from {len(rows)} runs "
             f"({len(done)} completed, {sum(r['status'] == 'diverged' for r in rows)} diverged; "
             f"{seeds} distinct seed{'s' * (seeds != 1)}). Rebuild with `python sweep.py "
             "--report`. Plots: the PNGs beside this file and `report.pdf`. Every number is "
             "computed from the runs' metrics.json. A configuration's metric is its mean ± "
             f"standard deviation over its seeds (n seeds); separation: {TEST}.", "",
             "## Conclusions", ""] + [f"- {s}" for s in conclusion_lines(rows)] + [""]
    if rows:
        lines += ["## Against the original project's conclusions", "", "```",
                  *compare_with_original(rows), "```", ""]
    lines += _questions(c, rows, results if video_links else None) + _target_scales(rows)
    path = results / "REPORT.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def question_table(ranking: Ranking, question: str, results: Path, top: int | None = TOP) -> str:
    """A ranking of one question's configurations as Markdown (the notebook shows these)."""
    return "\n".join(ranking_lines(ranking, DESCRIBE[question], results, top=top))
