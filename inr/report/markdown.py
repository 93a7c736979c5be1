"""The report as text: REPORT.md, the notebook's tables and the end-of-sweep table.

`markdown_table` is the one table writer: every number through `number_cell`, nan as "—". A
mean carries its sd, rounded by it (inr.stats.uncertain). Every comparison REPORT.md prints is
a row of results/comparisons.csv, read back from that file, so the two cannot disagree; a
ranking on one seed is labelled a screening anecdote and names no winner.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import inr.report.wording as wording
from inr.artefacts.rundir import summary_line
from inr.artefacts.tree import (COMPARISONS_FILE, HYPERVOLUME_FILE, PARETO_FIGURE,
                                PIXEL_LOSS_PARETO_FIGURE, REPORT_FILE, figure_file)
from inr.io import write_text_atomic
from inr.report.analysis import (TOP, Configuration, compare_with_original, conclusion_lines,
                                 cross_image_lines,
                                 diverged_count, per_image, question_sections, reference_name,
                                 scope_line, short_label, vector_text)
from inr.report.answers import HEADER as ANSWER_HEADER
from inr.report.answers import QUESTION_TITLES, question_answers
from inr.report.comparisons import ComparisonRow, read_comparisons, row_of, write_comparisons
from inr.report.contrasts import Test, choosing_only, held_out_images
from inr.report.rows import asking, ranked
from inr.report.scale_check import scale_check_lines
from inr.report.search import (balancing_lines, hypervolume_rows, search_lines,
                               write_hypervolume)
from inr.stats import Ranking, p_text, rank
from inr.stats.selection import trained_terms
from inr.vocabulary import (FIELDS, MSE_TERMS, POISSON_METRIC, PRIMARY_METRIC, Question, Stage,
                            Status)

CONTEXT = ("psnr", "grad_mse", "laplacian_mse", "dt_mse", "pde_residual")  # beside a ranking


def number_cell(value: object) -> str:
    """A number as a table cell: 4 significant digits, "—" for a missing or non-finite one."""
    if value is None or value == "" or (isinstance(value, float) and not math.isfinite(value)):
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


def ranking_lines(ranking: Ranking, describe: dict, results: Path | None, top: int | None = TOP,
                  context: Sequence[str] = CONTEXT) -> list[str]:
    """A ranking as a table: rank, the configuration (describe: column -> f(config) -> text),
    the metric's mean ± sd (n), the means of the context metrics other than it, the first
    seed's video. An order of means, not a test: a table whose entries have one seed each says
    it is a screening anecdote."""
    others = [m for m in context if m != ranking.metric]
    entries = ranking.entries if top is None else ranking.entries[:top]
    body = [[str(i), *(f(c) for f in describe.values()), s.text(),
             *(_mean(c, m) for m in others), _video_link(c.first, results)]
            for i, (c, s) in enumerate(entries, 1)]
    header = ["rank", *describe, f"{ranking.metric}: mean ± sd (n)",
              *(f"{m} (mean)" for m in others), "video"]
    lines = []
    if entries and max(s.n for _, s in entries) == 1:
        lines = ["Screening anecdote (n = 1 each): an order, not a result; no winner.", ""]
    return lines + markdown_table(header, body) + [""]


def _weights(config: Configuration) -> str:
    name = config["weights"] or reference_name(config.first)
    return vector_text(config.first) + (f" ({name})" if name else "")


def _effective(config: Configuration) -> str:
    return "(" + ", ".join(number_cell(config.first[f"effective_{t}"]) for t in MSE_TERMS) + ")"


DESCRIBE = {
    Question.ACTIVATION: {"activation": lambda c: c["activation"],
                          "scale": lambda c: number_cell(c["scale"])},
    Question.LEARNING_RATE: {"scheduler": lambda c: c["scheduler"],
                             "lr": lambda c: f"{c['lr']:g}"},
    Question.WEIGHTS: {"weights (pixel, grad, laplacian, dt)": _weights,
                       "effective weights β·σ²": _effective},
    Question.PIXEL_LOSS: {"pixel loss": lambda c: c["weights"]},
}
DESCRIBE[Question.POISSON] = DESCRIBE[Question.ACTIVATION]


def _target_scales(rows) -> list[str]:
    """The target variances of the runs' data (one line per distinct data setting)."""
    seen = {}
    for r in rows:
        key = (r.get("image", ""), r["size"], r["frames"])
        if key not in seen and math.isfinite(r["variance_value"] or math.nan):
            seen[key] = [r[f"variance_{f}"] for f in FIELDS]
    if not seen:
        return []
    lines = ["## Target scales", "",
             "Each field's target variance over the training frames (the gradient's: the sum of "
             "its two components'). A weight β acts on its term's MSE, so on the error relative "
             "to the target's scale with the effective weight β·σ² (loss.normalize = none, the "
             "default) or β (normalize = variance).", ""] + \
        markdown_table(["image", "size", "frames", *(f"σ² {f}" for f in FIELDS)],
                       [[str(k[0]), f"{k[1]:g}", f"{k[2]:g}", *v] for k, v in seen.items()]) + [""]
    if len({k[0] for k in seen}) > 1:
        spans = [f"{f} {max(v[i] for v in seen.values()) / min(v[i] for v in seen.values()):.3g}x"
                 for i, f in enumerate(FIELDS) if min(v[i] for v in seen.values()) > 0]
        normalize = sorted({r["normalize"] for r in rows})
        lines += [f"Across the images each variance spans a factor of: {', '.join(spans)}. So "
                  "with raw weights (normalize = none) one weight vector sets different "
                  "effective weights on each image, and the report prints them (β·σ²) beside "
                  "every vector. This sweep's normalize: " + ", ".join(normalize) + ".", ""]
    return lines


def _figure_lines(results: Path) -> list[str]:
    """Links to the plots beside REPORT.md."""
    names = sorted(p.name for p in results.glob("*.png"))
    if not names:
        return []
    return ["## Figures", "", "Beside this file: " +
            ", ".join(f"[{n}]({n})" for n in names) + ".", ""]


RECONSTRUCTION = ("psnr", "psnr_up_to_constant", "psnr_up_to_frame_constants")


def _unsupervised_pixels(rows, results: Path | None) -> list[str]:
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
             "harmonic functions, which neither figure removes. Shown, not tested.", ""]
    for what, metric, chosen in groups:
        ranking = rank(chosen, metric)
        if ranking.entries:
            lines += [f"Runs {what}, ranked by {metric}:", ""]
            lines += ranking_lines(ranking, DESCRIBE[Question.WEIGHTS], results,
                                   context=(*RECONSTRUCTION, "grad_mse", "dt_mse"))
    return lines


# ----------------------------------------------------------------------------- comparisons

def comparison_table(rows: list[ComparisonRow],
                     names: dict[tuple[str, str], str] | None = None) -> list[str]:
    """comparisons.csv rows as a Markdown table: the within-pair correlation r (what pairing
    bought: the higher, the narrower the paired interval against an unpaired one), the effect
    on its readable scale with its 95% interval, p, Holm's p and the verdict in words
    (inr.report.wording), with a pooled row's prediction interval for a new image;
    names: (question, configuration) -> how the table names it (default: its label)."""
    names = names or {}
    body = []
    for r in rows:
        verdict = wording.verdict(r, with_p=False)
        new_image = wording.prediction_text(r)
        if new_image:
            verdict += f"; a new image: {new_image}"
        body.append([names.get((r.question, r.a), r.a_label),
                     names.get((r.question, r.b), r.b_label),
                     r.metric + (f" ({r.setting})" if r.setting else ""), r.test, r.n,
                     f"{r.correlation:.2f}" if math.isfinite(r.correlation) else "—",
                     wording.effect_text(r), p_text(r.p), p_text(r.p_holm), verdict])
    return markdown_table(["a", "b", "metric", "test", "n", "r (pairs)",
                           "effect [95% CI, unadjusted]", "p", "Holm p", "verdict"], body)


def answer_lines(rows: list[ComparisonRow], names: dict[tuple[str, str], str],
                 kind: str = "images",
                 level: str = "###") -> list[str]:
    """One table per question (inr.report.answers), in QUESTION_TITLES order."""
    lines = []
    for question, title in QUESTION_TITLES.items():
        answers = question_answers(rows, question, names, kind)
        if answers:
            lines += [f"{level} {title}", ""]
            lines += markdown_table(ANSWER_HEADER, [a.cells() for a in answers]) + [""]
    return lines


def as_list(lines: list[str]) -> list[str]:
    """Sentences as a Markdown list; a line's leading spaces (two a level) nest it."""
    out = []
    for line in lines:
        depth = (len(line) - len(line.lstrip(" "))) // 2
        out.append("  " * depth + "- " + line.strip())
    return out + [""]


def folded(summary: str, lines: list[str]) -> list[str]:
    """Lines folded under a <details> element that shows `summary`."""
    return ["<details>", f"<summary>{summary}</summary>", "", *lines, "</details>", ""]


# ----------------------------------------------------------------------------- REPORT.md

def _screening_tables(rows, question: str, results: Path | None) -> list[str]:
    """The screening's order of each question's configurations (the seeds that chose)."""
    screened = [r for r in asking(rows, question) if r.get("stage") != Stage.CONFIRMATION]
    if not screened:
        return []
    lines = ["Screening (the seeds that chose; an order, no test):", ""]
    if question == Question.WEIGHTS:
        for metric in ("psnr", "grad_mse"):
            lines += [f"Best {TOP} by {metric}:", ""]
            lines += ranking_lines(rank(screened, metric), DESCRIBE[question], results)
        return lines
    if question in (Question.ACTIVATION, Question.POISSON):
        for setting in dict.fromkeys(r["weights"] for r in screened):
            own = [r for r in screened if r["weights"] == setting]
            terms = trained_terms(own[0]) or ["pixel"]
            metric = (POISSON_METRIC.get(terms[0], "psnr") if question == Question.POISSON
                      else PRIMARY_METRIC[terms[0]])
            lines += [f"Trained on {setting}, by {metric}:", ""]
            lines += ranking_lines(rank(own, metric), DESCRIBE[question], results, top=None)
        return lines
    lines += ranking_lines(rank(screened, "psnr"), DESCRIBE[question], results,
                           top=None if question == Question.PIXEL_LOSS else TOP)
    return lines


def _question_lines(section, number: int, level: str, rows: list[dict],
                    table_rows: list[ComparisonRow],
                    names: dict, links: Path | None, image: str = "") -> list[str]:
    """One question's part of REPORT.md: its families' tables (from comparisons.csv), its
    screening order and its figures."""
    question = section.question
    lines = [f"{level} {number}. {section.title}", ""]
    own = [r for r in table_rows if r.question == question and not r.original]
    for family in dict.fromkeys(r.family for r in own):
        members = [r for r in own if r.family == family]
        lines += [f"Family `{family}` ({members[0].family_size} tests):", ""]
        lines += comparison_table(members, names) + [""]
    lines += _screening_tables(rows, question, links)
    if question == Question.WEIGHTS:
        lines += _unsupervised_pixels(asking(rows, question), links)
        lines += [f"Diverged: {diverged_count(rows, question)} runs.", "",
                  f"![Pareto view]({figure_file(PARETO_FIGURE, image)})", ""]
    if question == Question.PIXEL_LOSS:
        lines += ["Each pixel loss at each of its weights, pixels against derivatives "
                  "(screening and confirmation seeds together):", "",
                  f"![Pixel losses: fronts]({figure_file(PIXEL_LOSS_PARETO_FIGURE, image)})", ""]
    return lines


def write_markdown(rows: list[dict], results: Path, video_links: bool = True,
                   tests: list[Test] | None = None, against: Path | None = None) -> Path:
    """results/REPORT.md (and results/comparisons.csv, which it prints from): scope,
    conclusions, the comparison with the original, one section per question that the runs
    answer with its tests and its screening order, the target scales; with video_links, a
    link to each ranked configuration's video; with `against` (another report's
    comparisons.csv, e.g. the quick profile's), whether each verdict it shares holds here
    (inr.report.scale_check)."""
    from inr.report.contrasts import all_tests

    tests = all_tests(rows) if tests is None else tests
    csv_path = write_comparisons([row_of(t) for t in tests], results / COMPARISONS_FILE)
    table_rows = read_comparisons(csv_path)
    names = display_names(tests)
    done = [r for r in rows if r["status"] == Status.COMPLETED]
    links = results if video_links else None
    images = per_image(rows, tests)
    held_out = held_out_images(rows)
    kind = "held-out images" if held_out else "images"
    lines = ["# Results", "",
             f"Built {time.strftime('%Y-%m-%d %H:%M')} from {len(rows)} runs "
             f"({len(done)} completed, {sum(r['status'] == 'diverged' for r in rows)} "
             "diverged). Rebuild with `python sweep.py --report`. Every number is computed from "
             "the runs' metrics.json; every test is a row of `comparisons.csv` beside this file.",
             "", scope_line(rows), ""]
    answers = answer_lines(table_rows, names, kind)
    if answers:
        lines += ["## Answers", "", _answers_intro(len(images) > 1, held_out), "", *answers]
    lines += ["## How to read the tests", "",
              "A mean is given ± the sd over its seeds, rounded by the sd. Configurations are "
              "compared seed by seed (a paired t-test on the seeds they share: log MSE for "
              "errors, dB for PSNR), with Holm's correction within each question's family; "
              "intervals are 95% and unadjusted. A configuration chosen from the data is tested "
              "only on fresh seeds that took no part in choosing it.", ""]
    if len(images) > 1:
        tested = held_out or [image for image, own, _ in images if not choosing_only(own)]
        lines += [f"## Across the {len(tested)} {kind}", "",
                  *as_list(cross_image_lines(tests, tested, bool(held_out)))]
    else:
        lines += ["## Conclusions", "", *as_list(conclusion_lines(rows, tests))]
    if rows:
        lines += ["## Against the original project's conclusions", "",
                  *as_list(compare_with_original(rows, tests))]
    if against is not None:
        lines += ["## Against another report: do its verdicts hold here?", "",
                  f"Each confirmatory test this report shares with `{against}` (the same question, "
                  "setting, metric and pair), and whether its verdict holds here.", "",
                  *as_list(scale_check_lines(table_rows, read_comparisons(against),
                                             str(against)))]
    searches = hypervolume_rows(rows)
    if searches:
        write_hypervolume(searches, results / HYPERVOLUME_FILE)
        lines += search_lines(searches)
    lines += balancing_lines(tests)
    lines += _figure_lines(results)
    for image, own_rows, own_tests in images:
        detail = []
        level = "###" if len(images) > 1 else "##"
        if len(images) > 1 and not choosing_only(own_rows):
            detail += as_list(conclusion_lines(own_rows, own_tests))
        for i, section in enumerate(question_sections(own_rows, own_tests), 1):
            detail += _question_lines(section, i, level, own_rows,
                                      [r for r in table_rows if r.image == image], names,
                                      links, image if len(images) > 1 else "")
        if len(images) > 1:
            role = (" (development: it chose)" if choosing_only(own_rows) else
                    " (held out)" if image in held_out else "")
            lines += [f"## On {image}{role}", "", *folded(f"The tests and rankings on {image}",
                                                         detail)]
        else:
            lines += detail
    original = [r for r in table_rows if r.original]
    if original:
        lines += ["## The tests behind the verdicts on the original", ""]
        lines += comparison_table(original, names) + [""]
    lines += _target_scales(rows)
    path = results / REPORT_FILE
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def display_names(tests: list[Test]) -> dict[tuple[str, str], str]:
    """{(question, configuration): how the report names it (inr.report.analysis.short_label)}."""
    return {(t.question, c.key): short_label(c, t.question) for t in tests for c in (t.a, t.b)}


def answers_markdown(rows: list[dict], results: Path) -> str:
    """REPORT.md's answer tables, read from results/comparisons.csv (the notebook shows them)."""
    from inr.report.contrasts import all_tests

    kind = "held-out images" if held_out_images(rows) else "images"
    lines = answer_lines(read_comparisons(results / COMPARISONS_FILE),
                         display_names(all_tests(rows)), kind)
    return "\n".join(lines) or "No comparisons: nothing to answer yet."


def _answers_intro(several: bool, held_out: list[str]) -> str:
    if not several:
        return ("Each row: a comparison the question made, the configuration ahead of the "
                "others with its closest rival's effect and interval, and the verdict on the "
                "original project's claim where it made one. The tests are in the sections "
                "below and in `comparisons.csv`.")
    where = (f"the {len(held_out)} held-out images ({', '.join(held_out)}), which took no "
             "part in any choice" if held_out else
             "all the images (not held out: they also chose the configurations)")
    return ("Each row: a comparison the question made, pooled over " + where + " (random "
            "effects, HKSJ interval; 'a new image' is the 95% prediction interval for one more "
            "image like these); the configuration ahead of the others, its effect against its "
            "closest rival, on how many of the images it was ahead (separated on how many, "
            "each image's tests Holm-corrected in its own families), and the verdict on the "
            "original project's claim where it made one. Details per image are folded below.")


def question_table(ranking: Ranking, question: str, results: Path, top: int | None = TOP) -> str:
    """A ranking of one question's configurations as Markdown (the notebook shows these)."""
    return "\n".join(ranking_lines(ranking, DESCRIBE[question], results, top=top))
