"""Descriptive statistics over seeds, as pure functions: summaries, the Pareto front, and
configurations ranked by their mean (a screening order: no test; inr.stats.inference tests).
It reads flat run rows (inr.artefacts.rundir.row_of).

A configuration's metric is summarised over its seeds as mean ± sample standard deviation
(n = number of seeds).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from inr.vocabulary import Status, higher_is_better



@dataclass(frozen=True)
class Summary:
    """A metric over seeds: mean, sample standard deviation (nan for one seed), seeds."""
    mean: float
    sd: float
    n: int

    def text(self) -> str:
        """'40.8 ± 2.4 (n=3)' (inr.stats.summary.uncertain); one seed: '40.79 (n=1)'."""
        if self.n > 1:
            return f"{uncertain(self.mean, self.sd)} (n={self.n})"
        return f"{self.mean:.4g} (n={self.n})"


def uncertain(mean: float, sd: float) -> str:
    """A mean with its sd, rounded by the sd: two significant digits of the sd and the mean to
    the same decimal place ('40.8 ± 2.4'); a common power of ten for very small or large
    numbers ('(1.25 ± 0.74)e-04'); a non-finite or zero sd leaves 4 significant digits."""
    if not math.isfinite(mean):
        return "—"
    if not math.isfinite(sd) or sd <= 0:
        return f"{mean:.4g}"
    place = math.floor(math.log10(sd)) - 1  # the decimal place of the sd's second digit
    scale = max(abs(mean), sd)
    power = math.floor(math.log10(scale)) if scale > 0 else 0
    if -3 <= power < 5:
        decimals = max(0, -place)
        return f"{round(mean, -place):.{decimals}f} ± {round(sd, -place):.{decimals}f}"
    decimals = max(0, power - place)
    m, s = mean / 10 ** power, sd / 10 ** power
    return f"({m:.{decimals}f} ± {s:.{decimals}f})e{power:+03d}"


def p_text(p: float) -> str:
    """A p-value in two significant digits, 'p > 0.99' and 'p < 0.0001' at the ends."""
    if not math.isfinite(p):
        return "p not computed"
    if p > 0.99:
        return "p > 0.99"
    if p < 1e-4:
        return "p < 0.0001"
    return f"p = {p:.2g}"


def summarize(values: Iterable[float]) -> Summary:
    """Mean ± sd of the finite values (nan mean for none)."""
    kept = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if kept.size == 0:
        return Summary(math.nan, math.nan, 0)
    sd = float(np.std(kept, ddof=1)) if kept.size > 1 else math.nan
    return Summary(float(np.mean(kept)), sd, int(kept.size))


def pareto_front(points: Iterable[Sequence[float]],
                 higher_better: tuple[bool, bool]) -> list[int]:
    """Indices of the points (x, y) that no other point dominates (at least as good in both,
    better in one), in input order. higher_better: the direction of x and of y."""
    signs = np.where(np.asarray(higher_better), 1.0, -1.0)
    scored = [np.asarray(p, dtype=float) * signs for p in points]
    front = []
    for i, p in enumerate(scored):
        if not np.all(np.isfinite(p)):
            continue
        dominated = any(np.all(q >= p) and np.any(q > p) for j, q in enumerate(scored)
                        if j != i and np.all(np.isfinite(q)))
        if not dominated:
            front.append(i)
    return front


# ----------------------------------------------------------------------------- configurations

@dataclass
class Configuration:
    """The runs of one configuration: they differ only in their seed."""
    key: str
    rows: list = field(default_factory=list)

    @property
    def first(self) -> dict:
        """The row that labels it: its first seed's."""
        return min(self.rows, key=lambda r: r["seed"] if math.isfinite(r["seed"]) else math.inf)

    def values(self, metric: str) -> list[float]:
        """The metric of its completed seeds."""
        return [r[metric] for r in self.rows
                if r["status"] == Status.COMPLETED and math.isfinite(r[metric])]

    def summary(self, metric: str) -> Summary:
        return summarize(self.values(metric))

    def by_seed(self, metric: str, stage: str | None = None) -> dict[int, float]:
        """{seed: value} of its completed seeds (of one stage, when given)."""
        return {int(r["seed"]): r[metric] for r in self.rows
                if r["status"] == Status.COMPLETED and math.isfinite(r[metric])
                and (stage is None or r.get("stage") == stage)}

    def __getitem__(self, column: str):
        return self.first[column]


def configurations(rows: Iterable[dict]) -> list[Configuration]:
    """The rows grouped by configuration, in first-seen order."""
    found: dict[str, Configuration] = {}
    for row in rows:
        found.setdefault(row["configuration"], Configuration(row["configuration"])).rows.append(row)
    return list(found.values())


@dataclass
class Ranking:
    """Configurations ordered by the mean of `metric` over their seeds, best first (those
    without a completed seed are left out). An order, not a test (inr.stats.inference)."""
    metric: str
    entries: list  # (Configuration, Summary)

    @property
    def winner(self) -> Configuration | None:
        return self.entries[0][0] if self.entries else None

    def position(self, config: Configuration) -> int | None:
        """1-based rank of a configuration (None when it is not ranked)."""
        return next((i for i, (c, _) in enumerate(self.entries, 1) if c.key == config.key),
                    None)


def rank(rows: Iterable[dict], metric: str) -> Ranking:
    """The configurations of `rows` ranked by their mean `metric` (inr.vocabulary decides the
    direction)."""
    scored = [(c, c.summary(metric)) for c in configurations(rows)]
    scored = [(c, s) for c, s in scored if s.n > 0]
    scored.sort(key=lambda cs: cs[1].mean, reverse=higher_is_better(metric))
    return Ranking(metric, scored)
