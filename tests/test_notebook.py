"""FinalProject.ipynb end to end: executed headless (nbclient) at the tiny profile, twice.

The notebook is run with INR_NOTEBOOK_PROFILE=tiny into a temporary INR_NOTEBOOK_OUT. Cells are
found by their id (each code cell also carries its id as a metadata tag), so every checked
artefact names the cell that must have produced it. The executed notebook is exported to
<out>/results/FinalProject.html as the README's `jupyter nbconvert --execute --to html` does.
A second execution into the same folder must reuse every run and retrain nothing.
"""
import contextlib
import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from inr.config import REPO_ROOT
from inr.report.markdown import as_list
from inr.report.rows import of, read_summary

pytestmark = pytest.mark.slow

NOTEBOOK = REPO_ROOT / "FinalProject.ipynb"
CELL_TIMEOUT = 600  # s per cell: a guard against a hang, not the budget (about a minute in all)
EXPERIMENTS = ("learning-rates", "activations", "random-weights")

# (cell id, artefact below the output folder): the cell must print "wrote <artefact>" or name it
ARTEFACTS = [
    ("data", "results/sequence.png"),
    ("single-fit", "results/single-fit-history.png"),
    ("single-fit-panels", "single-fit/sine-panels.png"),
    ("single-fit-panels", "single-fit/elu-panels.png"),
    ("single-fit-video", "single-fit/sine.mp4"),
    ("single-fit-video", "single-fit/elu.mp4"),
    ("sweep", "runs"),
    ("sweep", "videos"),
    ("report", "results/summary.csv"),
    ("report", "results/REPORT.md"),
    ("report", "results/report.pdf"),
    *(("report", f"results/{name}.png") for name in EXPERIMENTS),
    ("report", "results/pareto.png"),
]
# cell id -> how many figures (PNG outputs) it shows
FIGURES = {"data": 1, "single-fit": 1, "single-fit-panels": 2, "report": len(EXPERIMENTS) + 1}


@contextlib.contextmanager
def _environment(**values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if v is not None})
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute(out: Path):
    """Run the committed notebook top to bottom at the tiny profile into `out`."""
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    with _environment(INR_NOTEBOOK_PROFILE="tiny", INR_NOTEBOOK_OUT=str(out),
                      INR_TENSORBOARD=None, MPLBACKEND="Agg"):
        start = time.time()
        NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                       resources={"metadata": {"path": str(REPO_ROOT)}}).execute()
        seconds = time.time() - start
    print(f"notebook executed in {seconds:.0f} s")
    return nb, seconds


def export_html(nb, path: Path) -> Path:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def cell(nb, cell_id):
    found = [c for c in nb.cells if c.get("id") == cell_id]
    assert len(found) == 1, f"no single cell with id {cell_id!r}"
    return found[0]


def text(nb, cell_id) -> str:
    return "".join(o.get("text", "") for o in cell(nb, cell_id).outputs
                   if o.output_type == "stream" and o.name == "stdout")


def outputs_of(nb, cell_id, mime):
    return [o["data"][mime] for o in cell(nb, cell_id).outputs
            if o.output_type in ("display_data", "execute_result") and mime in o.get("data", {})]


def _mtimes(out: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in out.rglob("metrics.json")}


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    out = tmp_path_factory.mktemp("notebook")
    nb, seconds = execute(out)
    export_html(nb, out / "results" / "FinalProject.html")
    return out, nb, _mtimes(out)


@pytest.fixture(scope="module")
def second(first):
    out, _, _ = first
    nb, _ = execute(out)
    return nb


# ----------------------------------------------------------------------------- the committed file

def test_committed_notebook_has_no_outputs_and_starts_with_the_settings():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), \
        "strip the outputs before committing"
    ids = [c.get("id") for c in nb.cells]
    assert len(set(ids)) == len(ids)
    assert all(c.metadata.get("tags") == [c.id] for c in code)
    settings = code[0]
    assert settings.id == "settings"
    for name in ("PROFILE", "IMAGE", "OUT", "INR_NOTEBOOK_PROFILE", "INR_NOTEBOOK_OUT"):
        assert name in settings.source
    # every later cell reads the settings, none re-defines them
    for c in code[1:]:
        assert not re.search(r"^(PROFILE|IMAGE|OUT)\s*=", c.source, re.M), c.id


# ----------------------------------------------------------------------------- the first run

def test_every_cell_ran_without_error(first):
    _, nb, _ = first
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.execution_count is not None, c.id
            assert not [o for o in c.outputs if o.output_type == "error"], c.id
            stderr = "".join(o.get("text", "") for o in c.outputs
                             if o.output_type == "stream" and o.name == "stderr")
            assert "Traceback" not in stderr, (c.id, stderr)


@pytest.mark.parametrize("cell_id, artefact", ARTEFACTS, ids=[a for _, a in ARTEFACTS])
def test_each_artefact_exists_and_its_cell_names_it(first, cell_id, artefact):
    out, nb, _ = first
    path = out / artefact
    assert path.exists(), f"cell {cell_id!r} should have written {artefact}"
    if path.is_file():
        assert path.stat().st_size > 1000
    assert artefact in text(nb, cell_id), f"cell {cell_id!r} does not name {artefact}"


def test_figures_and_videos_are_shown_in_their_cells(first):
    _, nb, _ = first
    for cell_id, count in FIGURES.items():
        assert len(outputs_of(nb, cell_id, "image/png")) == count, cell_id
    videos = outputs_of(nb, "single-fit-video", "text/html")
    assert len(videos) == 2 and all("<video" in v and "base64" in v for v in videos)
    assert sum(len(v) for v in videos) < 1_000_000  # embedded, and small at the tiny profile
    tables = outputs_of(nb, "rankings", "text/markdown")
    assert len(tables) == 4 and all("| 1 |" in t for t in tables)


def test_the_data_cell_checks_the_heat_equation(first):
    _, nb, _ = first
    errors = [float(x) for x in re.findall(r"relative error ([0-9.e+-]+)", text(nb, "data"))]
    assert len(errors) == 2
    assert errors[0] < 1e-12  # dt = D lap of the exact targets
    assert errors[1] < 1e-4  # against a central difference in time


def test_the_sweep_trained_every_run_of_the_three_experiments(first):
    out, nb, _ = first
    rows = read_summary(out / "results" / "summary.csv")
    for experiment in EXPERIMENTS:
        assert of(rows, experiment), experiment
    assert all(r["status"] == "completed" for r in rows)
    screened = [r for r in rows if r["stage"] == "screening"]
    assert len(list((out / "videos").rglob("*.mp4"))) == len(screened)  # none for confirmation
    assert f"{len(rows)} runs trained, 0 reused" in text(nb, "sweep")
    assert "2 runs trained, 0 reused" in text(nb, "single-fit")
    weights = of(rows, "random-weights")
    screened = {r["configuration"] for r in weights}
    assert len(screened) == 3 + 2  # the tiny profile's N, and the two reference vectors
    confirmed = {r["configuration"] for r in weights if r["seed"] == 1}  # TINY's confirm: (1, 2)
    assert 2 < len(confirmed) <= 4 and "confirmation:" in text(nb, "sweep")
    assert {r["seed"] for r in rows if r["stage"] == "confirmation"} == {1.0, 2.0}  # fresh


def test_the_answer_tables_and_conclusions_shown_are_those_of_report_md(first):
    """The notebook shows REPORT.md's answer tables, and prints its conclusions, which REPORT.md
    lists (inr.report.markdown.as_list)."""
    out, nb, _ = first
    report = (out / "results" / "REPORT.md").read_text()
    [tables] = outputs_of(nb, "conclusions", "text/markdown")
    assert "| question | answer | effect [95% CI] |" in tables
    assert all(f"{line}\n" in report for line in tables.splitlines() if line.startswith("|"))
    lines = text(nb, "conclusions").strip().splitlines()
    assert len(lines) >= 5
    for item in as_list(lines)[:-1]:
        assert f"{item}\n" in report, item


def test_the_comparison_with_the_original_gives_a_verdict_per_claim(first):
    _, nb, _ = first
    printed = text(nb, "compare-original")
    for claim in ("(a) Original: SIREN beats ELU.",
                  "(b) Original: constant lr 1e-07 is best for MSE (tested on psnr).",
                  "(b) Original: exponential decay is best for SSIM.",
                  "(c) Original: the best weights are (1.0, 0.01, 0.001, 0.0)."):
        line = next((s for s in printed.splitlines() if s.startswith(claim)), None)
        assert line is not None, claim
        assert re.search(r"-> (agrees|differs|mixed, setting by setting|not separated.*|"
                         r"exploratory only|not tested: .+)\.$", line), line


def test_tensorboard_is_not_started_headless(first):
    _, nb, _ = first
    assert "tensorboard --logdir" in text(nb, "tensorboard")
    assert not outputs_of(nb, "tensorboard", "text/html")


def test_the_html_export_holds_the_results(first):
    out, nb, _ = first
    html = (out / "results" / "FinalProject.html").read_text(encoding="utf-8")
    assert "data:image/png;base64" in html and "<video" in html
    assert text(nb, "conclusions").splitlines()[0] in html


# ----------------------------------------------------------------------------- the second run

def test_a_second_run_in_the_same_folder_retrains_nothing(first, second):
    out, _, before = first
    runs = len(read_summary(out / "results" / "summary.csv"))
    stages = re.findall(r"reused (\d+) of (\d+) runs \(already done\)", text(second, "sweep"))
    assert all(a == b for a, b in stages) and sum(int(a) for a, _ in stages) == runs
    assert f"0 runs trained, {runs} reused" in text(second, "sweep")
    assert "reused 2 of 2 runs (already done)" in text(second, "single-fit")
    assert _mtimes(out) == before  # no metrics.json was rewritten
    assert text(second, "conclusions") == text(first[1], "conclusions")
