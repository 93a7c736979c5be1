"""comparisons.csv as typed rows (inr.report.comparisons): a row is written and read back
unchanged, a committed file reads and writes back byte for byte, and a file of another version
is refused with a one-line error."""
import csv
import math
from pathlib import Path

import pytest

from comparison_rows import make_row
from inr.report.comparisons import COLUMNS, ComparisonRow, read_comparisons, write_comparisons

CURATED = Path(__file__).resolve().parent.parent / "results" / "curated"


def _same(a: ComparisonRow, b: ComparisonRow) -> bool:
    """Field by field, nan equal to nan."""
    for name in COLUMNS:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, float) and math.isnan(x):
            if not (isinstance(y, float) and math.isnan(y)):
                return False
        elif x != y or type(x) is not type(y):
            return False
    return True


def test_a_row_is_written_and_read_back_unchanged(tmp_path):
    rows = [make_row(effect=0.1 + 0.2, effect_ci_low=-1e-300, effect_ci_high=2.5e17, p=5e-324,
                     p_holm=1.0, separated=True, n=12, family_size=94, note='a "quoted", note',
                     setting="all-equal", power=0.8),
            make_row(paired=False, test="Welch t", seeds="", mean_a=-0.0)]
    path = write_comparisons(rows, tmp_path / "comparisons.csv")
    back = read_comparisons(path)
    assert len(back) == 2 and all(_same(a, b) for a, b in zip(rows, back))
    assert back[0].effect == 0.1 + 0.2 and back[0].p == 5e-324  # the same bits
    raw = list(csv.DictReader(open(path, newline="")))
    assert raw[1]["effect"] == "" and raw[0]["separated"] == "true" and raw[1]["paired"] == "false"


@pytest.mark.parametrize("profile", ["quick", "medium", "study"])
def test_a_curated_file_reads_and_writes_back_byte_for_byte(tmp_path, profile):
    source = CURATED / profile / "comparisons.csv"
    rows = read_comparisons(source)
    assert rows and all(isinstance(r.n, int) and isinstance(r.separated, bool) for r in rows)
    copy = write_comparisons(rows, tmp_path / "comparisons.csv")
    assert copy.read_bytes() == source.read_bytes()


def test_a_file_of_another_version_is_refused_naming_the_missing_columns(tmp_path):
    old = tmp_path / "comparisons.csv"
    old.write_text(",".join(c for c in COLUMNS if c != "a_label") + "\r\n")
    with pytest.raises(ValueError, match=r"comparisons.csv: not this version's .*a_label") as e:
        read_comparisons(old)
    assert "\n" not in str(e.value)
