"""Report rows: one flat row per run (inr.artefacts.rundir.row_of says what a row holds), read
from the run records of an output tree; summary.csv; and selections of rows.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from inr.artefacts.rundir import LIST_SEPARATOR, TEXT_COLUMNS, finished_records, row_of
from inr.artefacts.tree import OutputTree
from inr.io import write_text_atomic
from inr.vocabulary import MSE_TERMS, Status, higher_is_better


def collect(tree: OutputTree) -> list[dict]:
    """One row per run folder of the tree holding a readable record."""
    return [row_of(saved, tree.name_of(run.path)) for run, saved in finished_records(tree)]


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


def of(rows: list[dict], experiment: str, done_only: bool = True) -> list[dict]:
    """The rows of one experiment (by name); completed ones only unless done_only is False."""
    return [r for r in rows if _listed(r["experiments"], experiment)
            and (not done_only or r["status"] == Status.COMPLETED)]


def asking(rows: list[dict], question: str, done_only: bool = True) -> list[dict]:
    """The rows of every experiment that asks `question` (inr.vocabulary.QUESTIONS)."""
    return [r for r in rows if _listed(r["questions"], question)
            and (not done_only or r["status"] == Status.COMPLETED)]


def ranked(rows: list[dict], metric: str) -> list[dict]:
    """Completed rows with a finite metric, best first."""
    keep = [r for r in rows if r["status"] == Status.COMPLETED and math.isfinite(r[metric])]
    return sorted(keep, key=lambda r: r[metric], reverse=higher_is_better(metric))


def weight_vector(row: dict) -> tuple[float, ...]:
    """The row's (pixel, grad, laplacian, dt) weights."""
    return tuple(row[f"beta_{t}"] for t in MSE_TERMS)


def weights_text(weights: tuple[float, ...]) -> str:
    """A (pixel, grad, laplacian, dt) weight vector as text: '(1, 0.01, 0, 0)'."""
    return "(" + ", ".join(f"{b:g}" for b in weights) + ")"


def betas(row: dict) -> str:
    """The row's weight vector as text (`weights_text`); a balanced run's (loss.balance) says
    that its weights start there: '(1, 0, 0, 0) balanced by lra'."""
    scheme = row.get("balance") or "none"
    return weights_text(weight_vector(row)) + (f" balanced by {scheme}" if scheme != "none"
                                               else "")


def experiment_questions(rows: list[dict]) -> dict[str, str]:
    """Every experiment named in the rows -> what it asks ('' for none), in first-seen order."""
    found = {}
    for row in rows:
        names = [n for n in row["experiments"].split(LIST_SEPARATOR) if n]
        asks = row["questions"].split(LIST_SEPARATOR)
        for name, question in zip(names, asks + [""] * len(names)):
            found.setdefault(name, question)
    return found
