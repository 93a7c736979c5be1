"""results/comparisons.csv as typed rows: one `ComparisonRow` per test (inr.report.contrasts.Test),
whose fields are the file's columns in order, written by `write_comparisons` and read back by
`read_comparisons` unchanged (a float is written as Python's shortest repr, so it reads back
to the same bits; a number not computed is an empty cell, read back as nan).

Every number REPORT.md prints about a test, and every word it says of one (inr.report.wording),
is read from these rows, so the file and the report cannot disagree.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
from dataclasses import dataclass
from pathlib import Path

from scipy import stats

from inr.io import write_text_atomic
from inr.report.contrasts import ORIGINAL, POOLED, Test, cross_key, is_exploratory
from inr.stats.inference import LEVEL
from inr.stats.pooling import METHOD as POOLED_TEST

PAIRED_T = "paired t"  # the `test` of a paired t-test's row
WELCH_T = "Welch t"
TEST_NAMES = {"dominance": "intersection-union (paired one-sided t)",
              "noninferiority": "non-inferiority (paired one-sided t)"}
KIND_OF_TEST = {name: kind for kind, name in TEST_NAMES.items()}


@dataclass(frozen=True)
class ComparisonRow:
    """One test as comparisons.csv holds it. a, b: the two configurations' names (their run
    folders without the seed); a_label, b_label: what each stands for across images and
    profiles (inr.report.contrasts.cross_key: the activation, the schedule, the pixel-loss arm,
    the weight vector). effect: a - b on the tested scale (`transform`: 'log' for an MSE, so a
    log ratio, 'none' for PSNR and SSIM, a difference) with its 95% interval, unadjusted; p and
    the Holm-adjusted p within `family`; n: seeds, or images for a pooled row (image 'all'),
    which also gives tau2, I² and the 95% prediction interval for a new image (pi_low, pi_high,
    on the tested scale); detectable_effect: what a test not separated could have seen;
    margin and power: a non-inferiority test's, in dB; chosen_on, tested_on: 'images @ seeds'."""
    question: str
    family: str
    metric: str
    a: str
    b: str
    n: int
    seeds: str
    paired: bool
    transform: str
    mean_a: float
    mean_b: float
    effect: float
    effect_ci_low: float
    effect_ci_high: float
    p: float
    p_holm: float
    separated: bool
    family_size: int
    test: str
    setting: str
    correlation: float
    detectable_effect: float
    margin: float
    note: str
    image: str
    power: float
    tau2: float
    i2: float
    pi_low: float
    pi_high: float
    chosen_on: str
    tested_on: str
    a_label: str
    b_label: str

    @property
    def kind(self) -> str:
        """'t', 'dominance' or 'noninferiority' (inr.report.contrasts.Test.kind)."""
        return KIND_OF_TEST.get(self.test, "t")

    @property
    def exploratory(self) -> bool:
        return is_exploratory(self.family)

    @property
    def pooled(self) -> bool:
        return self.image == POOLED

    @property
    def original(self) -> bool:
        """A test of the original project's claims (its own family)."""
        return self.family == ORIGINAL or self.family.startswith(f"{ORIGINAL}/")

    @property
    def confirmatory_t(self) -> bool:
        """A paired t-test of one image that can separate: not exploratory, not the original's,
        not pooled."""
        return (self.test == PAIRED_T and not self.exploratory and not self.original
                and not self.pooled)

    @property
    def se(self) -> float:
        """The standard error of a t row's effect (its interval's half-width over t's quantile
        on n - 1 degrees of freedom; a pooled row's on k - 1, as HKSJ's is)."""
        if self.n < 2 or not math.isfinite(self.effect_ci_low):
            return math.nan
        half = (self.effect_ci_high - self.effect_ci_low) / 2
        return half / float(stats.t.ppf(0.5 + LEVEL / 2, self.n - 1))


COLUMNS = tuple(f.name for f in dataclasses.fields(ComparisonRow))
_TYPES = {f.name: f.type for f in dataclasses.fields(ComparisonRow)}


def _finite(x) -> float:
    return float(x) if x is not None and math.isfinite(x) else math.nan


def row_of(test: Test) -> ComparisonRow:
    """The comparisons.csv row of a test (effect on the tested scale; nan where not computed).
    A pooled test's n counts images and its test is POOLED_TEST."""
    c, pool = test.comparison, test.pooled
    if pool is not None:
        name = POOLED_TEST
    else:
        name = TEST_NAMES.get(test.kind) or (PAIRED_T if c.paired else WELCH_T)
    return ComparisonRow(
        question=test.question, family=test.family, metric=test.metric, a=test.a.key,
        b=test.b.key, n=int(c.n), seeds=" ".join(str(s) for s in c.seeds), paired=bool(c.paired),
        transform=c.transform, mean_a=_finite(c.mean_a), mean_b=_finite(c.mean_b),
        effect=_finite(c.effect), effect_ci_low=_finite(c.ci_low),
        effect_ci_high=_finite(c.ci_high), p=_finite(test.p), p_holm=_finite(test.p_holm),
        separated=bool(test.separated), family_size=int(test.family_size), test=name,
        setting=test.setting, correlation=_finite(c.correlation),
        detectable_effect=_finite(test.detectable), margin=_finite(test.margin), note=test.note,
        image=test.image, power=_finite(test.power),
        tau2=_finite(pool.tau2) if pool else math.nan, i2=_finite(pool.i2) if pool else math.nan,
        pi_low=_finite(pool.pi_low) if pool else math.nan,
        pi_high=_finite(pool.pi_high) if pool else math.nan,
        chosen_on=test.chosen_on, tested_on=test.tested_on,
        a_label=cross_key(test.a, test.question), b_label=cross_key(test.b, test.question))


def _cell(value) -> str | int | float:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return value


def _value(name: str, text: str):
    kind = _TYPES[name]
    if kind == "float":
        return float(text) if text != "" else math.nan
    if kind == "int":
        return int(text)
    if kind == "bool":
        if text not in ("true", "false"):
            raise ValueError(f"comparisons.csv: column {name} holds {text!r}, "
                             "expected true or false")
        return text == "true"
    return text


def write_comparisons(rows: list[ComparisonRow], path: Path) -> Path:
    """comparisons.csv: a header of COLUMNS, then one line per row (atomic)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([_cell(getattr(r, name)) for name in COLUMNS] for r in rows)
    write_text_atomic(path, buf.getvalue())
    return path


def read_comparisons(path: Path) -> list[ComparisonRow]:
    """A comparisons.csv back as rows; one line error naming the file where its header is not
    COLUMNS (a file of another version of this suite)."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = tuple(next(reader, ()))
        if header != COLUMNS:
            missing = [c for c in COLUMNS if c not in header]
            raise ValueError(f"{path}: not this version's comparisons.csv (missing columns: "
                             f"{', '.join(missing) or 'none'}; expected {len(COLUMNS)} columns "
                             f"in order, got {len(header)})")
        return [ComparisonRow(**{name: _value(name, text) for name, text in zip(COLUMNS, line)})
                for line in reader]


def flipped(row: ComparisonRow) -> ComparisonRow:
    """The same test read as b against a: the sides, means, effect and intervals swapped."""
    return dataclasses.replace(
        row, a=row.b, b=row.a, a_label=row.b_label, b_label=row.a_label, mean_a=row.mean_b,
        mean_b=row.mean_a, effect=-row.effect, effect_ci_low=-row.effect_ci_high,
        effect_ci_high=-row.effect_ci_low, pi_low=-row.pi_high, pi_high=-row.pi_low)
