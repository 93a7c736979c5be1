"""The report as text: REPORT.md, the notebook's ranking tables and the end-of-sweep table.

`markdown_table` is the one table writer: every number through `number_cell`, nan as "—".
"""
from __future__ import annotations

import math
import time
from pathlib import Path

from inr.io import write_text_atomic
from inr.report.analysis import TOP, compare_with_original, conclusion_lines, conclusions
from inr.report.rows import asking, betas, ranked


def number_cell(value) -> str:
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


def ranking_table(rows: list[dict], metric: str, columns=("name",), top: int = TOP) -> str:
    """Markdown table of the `top` completed rows with a finite `metric`, best first.

    Columns: rank, `columns` (summary.csv keys), then the metric; the order of rows.ranked.
    """
    keep = ranked(rows, metric)[:top]
    return "\n".join(markdown_table(["rank", *columns, metric],
                                    [[str(rank), *(row.get(c, "") for c in columns), row[metric]]
                                     for rank, row in enumerate(keep, 1)]))


def best_table(rows, n: int = TOP) -> str:
    """A plain-text table of the best runs by PSNR, for the end of a sweep."""
    top = ranked(rows, "psnr")[:n]
    if not top:
        return "no completed runs"
    width = max(len(r["name"]) for r in top)
    head = f"{'run':<{width}}  {'psnr':>6}  {'ssim':>6}  {'grad_mse':>9}  {'lap_mse':>9}  {'dt_mse':>9}"
    return "\n".join([head] + [f"{r['name']:<{width}}  {r['psnr']:6.2f}  {r['ssim']:6.4f}  "
                               f"{r['grad_mse']:9.3g}  {r['laplacian_mse']:9.3g}  {r['dt_mse']:9.3g}"
                               for r in top])


def _video_link(row, results: Path) -> str:
    if not row["video"]:
        return "—"
    try:
        rel = Path(row["video"]).resolve().relative_to(results.resolve().parent)
        return f"[video](../{rel.as_posix()})"
    except ValueError:
        return f"[video]({row['video']})"


def write_markdown(rows, results: Path) -> Path:
    """results/REPORT.md: conclusions, the comparison with the original, one section per
    question that the runs answer."""
    c = conclusions(rows)
    done = [r for r in rows if r["status"] == "completed"]
    lines = ["# Results", "",
             f"Built {time.strftime('%Y-%m-%d %H:%M')} from {len(rows)} runs "
             f"({len(done)} completed, {sum(r['status'] == 'diverged' for r in rows)} diverged). "
             "Rebuild with `python sweep.py --report`. Plots: the PNGs beside this file and "
             "`report.pdf`. Every number is computed from the runs' metrics.json.", "",
             "## Conclusions", ""] + [f"- {s}" for s in conclusion_lines(rows)] + [""]
    against = compare_with_original(rows)
    if against:
        lines += ["## Against the original project's conclusions", "", "```"] + against + \
                 ["```", ""]
    table = lambda header, body: markdown_table(header, body) + [""]  # noqa: E731
    if "activation" in c:
        lines += ["## 1. Which activation?", ""]
        lines += table(["trained on", "best activation", "metric", "value"],
                       [[w, a, m, v] for w, (a, m, v) in c["activation"]["winners"].items()])
        lines += table(["run", "psnr", "ssim", "grad_mse", "laplacian_mse", "dt_mse",
                        "pde_residual", "video"],
                       [[r["name"], r["psnr"], r["ssim"], r["grad_mse"], r["laplacian_mse"],
                         r["dt_mse"], r["pde_residual"], _video_link(r, results)]
                        for r in asking(rows, "activation")])
    if "learning_rate" in c:
        lines += ["## 2. Which learning rate and schedule?", ""]
        lrs = asking(rows, "learning_rate")
        for metric in ("pixel_mse", "ssim", "grad_mse"):
            lines += [f"Ranked by {metric}:", ""]
            lines += table(["scheduler", "lr", metric, "psnr", "video"],
                           [[r["scheduler"], f"{r['lr']:g}", r[metric], r["psnr"],
                             _video_link(r, results)] for r in ranked(lrs, metric)[:TOP]])
    if "weights" in c:
        lines += ["## 3. Which loss weights (pixel, grad, laplacian, dt)?", ""]
        ws = asking(rows, "weights")
        for metric in ("pixel_mse", "grad_mse"):
            lines += [f"Best {TOP} by {metric}:", ""]
            lines += table(["weights", metric, "psnr", "grad_mse", "laplacian_mse", "dt_mse",
                            "video"],
                           [[betas(r), r[metric], r["psnr"], r["grad_mse"], r["laplacian_mse"],
                             r["dt_mse"], _video_link(r, results)]
                            for r in ranked(ws, metric)[:TOP]])
        lines += [f"Worst {TOP} by pixel_mse:", ""]
        lines += table(["weights", "pixel_mse", "psnr"],
                       [[b, v, p] for b, v, p in c["weights"]["worst_pixel_mse"]])
        lines += [f"Diverged: {c['weights']['diverged']} runs.", ""]
    if "pixel_loss" in c:
        lines += ["## 4. Which pixel loss?", ""]
        lines += table(["pixel loss", "psnr", "ssim", "grad_mse", "laplacian_mse", "dt_mse",
                        "video"],
                       [[r["weights"], r["psnr"], r["ssim"], r["grad_mse"], r["laplacian_mse"],
                         r["dt_mse"], _video_link(r, results)]
                        for r in ranked(asking(rows, "pixel_loss"), "psnr")])
    path = results / "REPORT.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
