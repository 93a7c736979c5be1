"""Statistics over seeds, as pure functions: summaries, the separation test, the Pareto front,
and configurations ranked by their mean. Below both the sweep (which chooses its confirmation
runs by a ranking) and the report; it reads flat run rows (inr.artefacts.rundir.row_of).

One seed is an anecdote: a configuration's metric is summarised over its seeds as mean ± sample
standard deviation (n = number of seeds), and a ranking's winner counts as separated from the
runner-up only when Welch's t-test (scipy.stats.ttest_ind with equal_var=False, two-sided)
gives p < ALPHA, which needs at least MIN_SEEDS seeds on each side.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from inr.vocabulary import Status, higher_is_better

ALPHA = 0.05
MIN_SEEDS = 2
TEST = f"Welch's t-test, two-sided, p < {ALPHA:g}, at least {MIN_SEEDS} seeds a side"


@dataclass(frozen=True)
class Summary:
    """A metric over seeds: mean, sample standard deviation (nan for one seed), seeds."""
    mean: float
    sd: float
    n: int

    def text(self, digits: int = 4) -> str:
        """'40.79 ± 2.403 (n=3)'; one seed: '40.79 (n=1)'."""
        spread = f" ± {self.sd:.{digits}g}" if self.n > 1 else ""
        return f"{self.mean:.{digits}g}{spread} (n={self.n})"


def summarize(values: Iterable[float]) -> Summary:
    """Mean ± sd of the finite values (nan mean for none)."""
    kept = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if kept.size == 0:
        return Summary(math.nan, math.nan, 0)
    sd = float(np.std(kept, ddof=1)) if kept.size > 1 else math.nan
    return Summary(float(np.mean(kept)), sd, int(kept.size))


@dataclass(frozen=True)
class Separation:
    """The separation test of two groups of seeds: p (nan when not computable), whether it is
    below ALPHA, and the seeds on the smaller side."""
    p: float
    separated: bool
    n: int

    @property
    def tested(self) -> bool:
        return self.n >= MIN_SEEDS


def separation(a: Iterable[float], b: Iterable[float]) -> Separation:
    """Welch's t-test between two groups' finite values (see module doc). Two groups whose
    values are all identical are not separated; two constant groups with different values are
    (p = 0)."""
    a = [v for v in a if math.isfinite(v)]
    b = [v for v in b if math.isfinite(v)]
    n = min(len(a), len(b))
    if n < MIN_SEEDS:
        return Separation(math.nan, False, n)
    if np.var(a) == 0 and np.var(b) == 0:
        p = 1.0 if np.mean(a) == np.mean(b) else 0.0
    else:
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return Separation(p, p < ALPHA, n)


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

    def __getitem__(self, column: str):
        return self.first[column]


def configurations(rows: Iterable[dict]) -> list[Configuration]:
    """The rows grouped by configuration, in first-seen order."""
    found: dict[str, Configuration] = {}
    for row in rows:
        found.setdefault(row["configuration"], Configuration(row["configuration"])).rows.append(row)
    return list(found.values())


def differ_by(a: Configuration, b: Configuration, metric: str) -> Separation:
    return separation(a.values(metric), b.values(metric))


@dataclass
class Ranking:
    """Configurations ordered by the mean of `metric` over their seeds, best first (those
    without a completed seed are left out); `separation`: the winner against the runner-up."""
    metric: str
    entries: list  # (Configuration, Summary)

    @property
    def winner(self) -> Configuration | None:
        return self.entries[0][0] if self.entries else None

    @property
    def separation(self) -> Separation | None:
        if len(self.entries) < 2:
            return None
        return differ_by(self.entries[0][0], self.entries[1][0], self.metric)

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
