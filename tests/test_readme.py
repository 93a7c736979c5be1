"""The README's results are taken from the curated results: every number in its results section
appears, as written, in a curated REPORT.md or comparisons.csv under results/curated/."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECTION = "## What the quick sweeps show"
NUMBER = re.compile(r"(?<![\w.])[+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.]*\d)")


def results_section() -> str:
    text = (REPO / "README.md").read_text()
    assert SECTION in text, f"the README has no section {SECTION!r}"
    body = text.split(SECTION, 1)[1]
    return body.split("\n## ", 1)[0]


def curated_text() -> str:
    files = [p for p in (REPO / "results" / "curated").rglob("*")
             if p.name in ("REPORT.md", "comparisons.csv")]
    assert any(p.name == "comparisons.csv" for p in files), "commit the curated comparisons.csv"
    return "\n".join(p.read_text() for p in files)


def numbers(text: str) -> list[str]:
    """The numbers of a text as written (links, file names and code spans left out)."""
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return [m.group(0).lstrip("+") for m in NUMBER.finditer(text)]


def test_the_number_finder_finds_what_a_reader_reads():
    assert numbers("+3.1 dB [+1.8, +4.5], ×0.082, p = 0.0062, 39.8 ± 2.4 (n=5), 1e-7") == \
        ["3.1", "1.8", "4.5", "0.082", "0.0062", "39.8", "2.4", "5", "1e-7"]
    assert numbers("see `results/curated/quick/REPORT.md` and [x](a/b1.png)") == []


def test_every_number_in_the_readmes_results_appears_in_the_curated_results():
    curated = curated_text()
    missing = [n for n in numbers(results_section())
               if not re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", curated)]
    assert not missing, f"README numbers not in results/curated: {missing}"


def test_every_relative_link_in_the_readme_resolves():
    text = (REPO / "README.md").read_text()
    links = [link.split("#")[0] for link in re.findall(r"\]\(([^)]+)\)", text)
             if "://" not in link and not link.startswith("#")]
    assert links, "the README links its figures"
    missing = [link for link in links if link and not (REPO / link).exists()]
    assert not missing, f"README links that point nowhere: {missing}"
