"""Report rows: one flat row per run, read from the run records (inr.rundir), and summary.csv.

A row holds the run's labels (name, configuration, experiments, questions, weights, seed), its
settings (activation, width, scheduler, lr, the beta of every loss term, normalize, steps, size,
frames), the target variances and effective weights (inr.losses.effective_weights), its final
metrics (inr.vocabulary.METRICS and their held-out twins), and the derivative path that ran
(derivative_method, derivative_fallback). Non-finite metrics are nan.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from inr.io import write_text_atomic
from inr.rundir import finished_records
from inr.vocabulary import (FIELDS, HELDOUT_PREFIX, LOSS_TERMS, METRICS, MSE_TERMS,
                            higher_is_better)

TEXT_COLUMNS = ("name", "configuration", "experiments", "questions", "status", "activation",
                "scheduler", "normalize", "weights", "derivative_method", "derivative_fallback",
                "video")
LIST_SEPARATOR = ";"  # joins a run's experiments (and questions) in one column


def collect(out) -> list[dict]:
    """One row per run folder below <out>/runs holding a readable record."""
    runs = Path(out) / "runs"
    return [row_of(saved, run.path.relative_to(runs).as_posix())
            for run, saved in finished_records(out)]


def row_of(saved: dict, folder: str = "") -> dict:
    """A run's record (inr.rundir.record) as a flat row; `folder` names a run that was not
    planned by a sweep (a single run trained into runs/)."""
    cfg, final, labels = saved.get("config", {}), saved.get("final", {}), saved.get("labels", {})
    sched, loss = cfg.get("schedule", {}), cfg.get("loss", {})
    name = labels.get("name") or folder
    row = {"name": name, "configuration": labels.get("configuration") or name,
           "experiments": LIST_SEPARATOR.join(saved.get("experiments", [])),
           "questions": LIST_SEPARATOR.join(saved.get("questions", [])),
           "status": saved.get("status"),
           "activation": cfg.get("model", {}).get("activation"),
           "width": cfg.get("model", {}).get("width"),
           "scheduler": sched.get("kind"),
           "lr": sched.get("max_lr") if sched.get("kind") == "cyclic" else sched.get("lr"),
           **{f"beta_{k}": loss.get(k) for k in LOSS_TERMS},
           "normalize": loss.get("normalize", "none"),
           **{f"effective_{t}": saved.get("effective_weights", {}).get(t) for t in MSE_TERMS},
           **{f"variance_{f}": saved.get("target_variances", {}).get(f) for f in FIELDS},
           "weights": labels.get("weights_name") or "",
           "seed": labels.get("seed", cfg.get("train", {}).get("seed")),
           "steps": cfg.get("train", {}).get("steps"),
           "size": cfg.get("data", {}).get("size"),
           "frames": cfg.get("data", {}).get("frames")}
    for key in (*METRICS, *(HELDOUT_PREFIX + m for m in METRICS)):
        row[key] = _number(final.get(key))
    row["best_psnr"] = _number(saved.get("best", {}).get("psnr"))
    row["seconds"] = _number(final.get("seconds"))
    row["derivative_method"] = final.get("derivative_method", "")
    row["derivative_fallback"] = final.get("derivative_fallback", "")
    row["video"] = saved.get("video") or ""
    return row


def _number(x) -> float:
    return math.nan if x is None else float(x)


def write_summary(rows: list[dict], path: Path) -> None:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_text_atomic(path, buf.getvalue())


def read_summary(path: Path) -> list[dict]:
    """summary.csv back as rows (numbers as floats)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key, value in row.items():
            if key not in TEXT_COLUMNS:
                try:
                    row[key] = float(value)
                except ValueError:
                    pass
    return rows


# ----------------------------------------------------------------------------- selections

def _listed(value: str, item: str) -> bool:
    return item in value.split(LIST_SEPARATOR)


def of(rows, experiment: str, done_only: bool = True) -> list[dict]:
    """The rows of one experiment (by name); completed ones only unless done_only is False."""
    return [r for r in rows if _listed(r["experiments"], experiment)
            and (not done_only or r["status"] == "completed")]


def asking(rows, question: str, done_only: bool = True) -> list[dict]:
    """The rows of every experiment that asks `question` (inr.experiments.QUESTIONS)."""
    return [r for r in rows if _listed(r["questions"], question)
            and (not done_only or r["status"] == "completed")]


def ranked(rows, metric: str) -> list[dict]:
    """Completed rows with a finite metric, best first."""
    keep = [r for r in rows if r["status"] == "completed" and math.isfinite(r[metric])]
    return sorted(keep, key=lambda r: r[metric], reverse=higher_is_better(metric))


def weight_vector(row) -> tuple[float, ...]:
    """The row's (pixel, grad, laplacian, dt) weights."""
    return tuple(row[f"beta_{t}"] for t in MSE_TERMS)


def betas(row) -> str:
    """The weight vector as text: '(1, 0.01, 0, 0)'."""
    return "(" + ", ".join(f"{b:g}" for b in weight_vector(row)) + ")"


def experiment_questions(rows) -> dict[str, str]:
    """Every experiment named in the rows -> what it asks ('' for none), in first-seen order."""
    found = {}
    for row in rows:
        names = [n for n in row["experiments"].split(LIST_SEPARATOR) if n]
        asks = row["questions"].split(LIST_SEPARATOR)
        for name, question in zip(names, asks + [""] * len(names)):
            found.setdefault(name, question)
    return found
