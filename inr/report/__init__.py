"""The report layer: the results, rebuilt at any time from the runs' records alone. It imports
the artefacts layer (records, the output tree, panels), inr.stats, inr.io, inr.vocabulary, the
config layer (the profiles, to name the one a run used) and, for the figures of the images and
the notebook's figures of the data, the data layer; never the sweep or the training. The
plotting stack (matplotlib) loads only when a report or a figure is drawn.

    rows.py         one flat row per run; results/summary.csv
    contrasts.py    each question's tests, declared in advance and Holm-corrected (pure)
    comparisons.py  results/comparisons.csv as typed rows, one per test, written and read
    wording.py      a comparisons.csv row in words: effects, verdicts, Holm p (pure)
    answers.py      one answer table per question, from comparisons.csv's rows (pure)
    analysis.py     the answers in sentences: conclusions, the original's claims (pure)
    scale_check.py  whether another report's verdicts hold here (pure)
    search.py       the loss-weight searches' hypervolume histories, results/hypervolume.csv,
                    and the strategies against random search
    plots.py        results/<experiment>.png, cross-image.png and report.pdf (file names:
                    inr.artefacts.tree)
    markdown.py     results/REPORT.md (printed from comparisons.csv) and the text tables
    figures.py      the notebook's figures of the data and of training curves

`build_report(tree)` writes all of results/ from the tree's runs.
"""
from __future__ import annotations

from pathlib import Path

from inr.artefacts.tree import SUMMARY_FILE, OutputTree
from inr.report.rows import collect, write_summary


def build_report(out: OutputTree | Path, results: Path | None = None,
                 video_links: bool = True, against: Path | None = None) -> dict:
    """summary.csv, comparisons.csv, plots and REPORT.md in `results` (default: the tree's results/) from the
    runs of the output tree `out` (or the tree at that folder); returns {"rows", "summary",
    "plots", "report"}. REPORT.md links each run's video relative to its own folder where the
    video exists; video_links=False leaves them out (a curated copy is committed without the
    videos); against: another report's comparisons.csv whose verdicts REPORT.md checks
    (inr.report.scale_check)."""
    # the plots (matplotlib) load only here, when a report is built
    from inr.report.comparisons import row_of
    from inr.report.contrasts import all_tests
    from inr.report.markdown import write_markdown
    from inr.report.plots import plot_all

    tree = out if isinstance(out, OutputTree) else OutputTree(out)
    rows = collect(tree)
    results = Path(results) if results is not None else tree.results
    results.mkdir(parents=True, exist_ok=True)
    write_summary(rows, results / SUMMARY_FILE)
    tests = all_tests(rows)  # REPORT.md writes them to comparisons.csv
    plots = plot_all(rows, results, [row_of(t) for t in tests]) if rows else []
    report = write_markdown(rows, results, video_links, tests=tests, against=against)
    return {"rows": rows, "summary": results / SUMMARY_FILE, "plots": plots, "report": report}
