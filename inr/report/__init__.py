"""The results report, rebuilt at any time from the runs' records (inr.rundir).

    rows.py       one flat row per run; results/summary.csv
    analysis.py   the answers: rankings, conclusions, the original project's claims (pure)
    plots.py      results/<experiment>.png and results/report.pdf
    markdown.py   results/REPORT.md and the text tables
    figures.py    the notebook's figures of the data and of training curves

`build_report(out)` writes all of results/ from <out>/runs.
"""
from __future__ import annotations

from pathlib import Path

from inr.report.rows import collect, write_summary


def build_report(out, results=None, video_links: bool = True) -> dict:
    """summary.csv, plots and REPORT.md in `results` (default <out>/results) from <out>/runs;
    returns {"rows", "summary", "plots", "report"}. REPORT.md links each run's video relative to
    its own folder where the video exists; video_links=False leaves them out (a curated copy is
    committed without the videos)."""
    # the plots (matplotlib's PDF backend) load only here: the training engine imports the
    # analysis of this package to choose its confirmation runs, not its presentation
    from inr.report.markdown import write_markdown
    from inr.report.plots import plot_all

    out = Path(out)
    rows = collect(out)
    results = Path(results) if results is not None else out / "results"
    results.mkdir(parents=True, exist_ok=True)
    write_summary(rows, results / "summary.csv")
    plots = plot_all(rows, results) if rows else []
    report = write_markdown(rows, results, video_links)
    return {"rows": rows, "summary": results / "summary.csv", "plots": plots, "report": report}
