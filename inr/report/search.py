"""The loss-weight searches' fronts, from run records alone: each search's hypervolume as it
grew (after each batch of trials), its final front re-measured on fresh seeds, and how the
strategies compare (hypervolume.csv, hypervolume.png and REPORT.md's "Searching the weights").

The front is pixel against gradient: ln(pixel_mse) and ln(grad_mse), both minimised, with the
reference point fixed in advance at ln of each target's variance (inr.stats.hypervolume). A
search's rows are the runs whose `search` column names its strategy (inr.sweep.search):
    screening     the trials as the search trained them, on the sweep's seed; after each batch,
                  the hypervolume of all its runs so far (`runs`, `seconds`: the runs trained and
                  their seconds, training plus the sampler's asking, so far)
    fresh         the final front's configurations on fresh seeds (the confirmation stage), each
                  at its mean ln MSE over them: the front without the bias of having been picked
                  on one seed; `runs` and `seconds` are then the screening's totals
"""
from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats

from inr.io import atomic_path
from inr.stats.hypervolume import (DEFAULT_OBJECTIVES, history, hypervolume, nondominated,
                                   objective_values, reference_point)
import inr.report.wording as wording
from inr.report.comparisons import flipped, row_of
from inr.report.contrasts import POOLED
from inr.report.rows import betas
from inr.stats.inference import holm, mean_interval
from inr.stats.selection import balanced
from inr.vocabulary import BEST_FIXED, FIELDS, Question, Stage

HYPERVOLUME_COLUMNS = ("image", "strategy", "search_seed", "runs", "seconds", "hypervolume",
                       "stage", "reference_point")
BASELINE = "random"  # the strategy the others are compared with


def searched(rows: list[dict]) -> dict[tuple[str, str, int], list[dict]]:
    """The rows of each search, keyed (image, strategy, search seed), in first-seen order."""
    out: dict[tuple[str, str, int], list[dict]] = {}
    for row in rows:
        if row.get("search"):
            out.setdefault((row["image"], row["search"], int(row["search_seed"])), []).append(row)
    return out


def _reference(rows: list[dict]) -> tuple[float, ...]:
    first = rows[0]
    return reference_point({f: float(first[f"variance_{f}"]) for f in FIELDS}, DEFAULT_OBJECTIVES)


def _point(row: dict) -> tuple[float, ...] | None:
    return objective_values(row, DEFAULT_OBJECTIVES) if row.get("status") == "completed" else None


def search_history(rows: list[dict]) -> list[dict]:
    """One search's rows -> hypervolume.csv rows (module doc): a screening row after each batch
    and one fresh row where its front was re-measured."""
    image, strategy, seed = rows[0]["image"], rows[0]["search"], int(rows[0]["search_seed"])
    ref = _reference(rows)
    ref_text = " ".join(f"{v:.6g}" for v in ref)
    screening = sorted((r for r in rows if r.get("stage") == Stage.SCREENING),
                       key=lambda r: int(r["trial"]))
    curve = history([_point(r) for r in screening], ref)
    out, spent = [], 0.0
    for i, row in enumerate(screening):
        spent += float(row.get("seconds") or 0) + float(row.get("ask_seconds") or 0)
        last = i + 1 == len(screening) or screening[i + 1]["search_batch"] != row["search_batch"]
        if last:
            out.append({"image": image, "strategy": strategy, "search_seed": seed, "runs": i + 1,
                        "seconds": round(spent, 2), "hypervolume": curve[i],
                        "stage": "screening", "reference_point": ref_text})
    fresh = fresh_points(rows, final_front(screening))
    if fresh:
        out.append({"image": image, "strategy": strategy, "search_seed": seed,
                    "runs": len(screening), "seconds": round(spent, 2),
                    "hypervolume": hypervolume(list(fresh.values()), ref), "stage": "fresh",
                    "reference_point": ref_text})
    return out


def final_front(screening: list[dict]) -> set[str]:
    """The configurations on a search's final screening front (inr.stats.hypervolume
    .nondominated over its completed runs' points)."""
    done = [(r["configuration"], _point(r)) for r in screening]
    done = [(name, point) for name, point in done if point is not None]
    return {done[i][0] for i in nondominated([p for _, p in done])} if done else set()


def fresh_points(rows: list[dict], front: set[str]) -> dict[str, tuple[float, ...]]:
    """Each configuration of the final front (`front`) re-measured on fresh seeds: its mean
    objectives over them (a diverged seed leaves it out). Re-measured configurations that the
    front no longer holds (a search continued after its front was measured) do not count."""
    by_config: dict[str, list] = {}
    for row in rows:
        if row.get("stage") == Stage.CONFIRMATION and row["configuration"] in front:
            by_config.setdefault(row["configuration"], []).append(_point(row))
    return {k: tuple(np.mean(points, axis=0)) for k, points in by_config.items()
            if points and all(p is not None for p in points)}


def hypervolume_rows(rows: list[dict]) -> list[dict]:
    """hypervolume.csv: every search's history (`search_history`)."""
    return [r for own in searched(rows).values() for r in search_history(own)]


def write_hypervolume(table: list[dict], path: Path) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, HYPERVOLUME_COLUMNS)
            writer.writeheader()
            writer.writerows(table)
    return path


def runs_to_reach(table: list[dict], image: str, strategy: str, seed: int,
                  target: float) -> int | None:
    """The runs a search needed until its screening hypervolume reached `target` (None: never)."""
    for row in table:
        if (row["image"], row["strategy"], row["search_seed"], row["stage"]) == (
                image, strategy, seed, "screening") and row["hypervolume"] >= target:
            return row["runs"]
    return None


def strategy_comparison(table: list[dict]) -> list[dict]:
    """Each strategy against random search on one image, paired by search seed: the mean
    difference in fresh-seed hypervolume with its t interval (n - 1 degrees of freedom), Holm p
    over the strategies, and on how many seeds the strategy's is at least random search's;
    and, per seed, the runs the strategy needed to reach random search's final screening
    hypervolume at that seed (like against like: both picked on one seed)."""
    out = []
    for image in dict.fromkeys(r["image"] for r in table):
        own = [r for r in table if r["image"] == image]
        fresh = {(r["strategy"], r["search_seed"]): r["hypervolume"] for r in own
                 if r["stage"] == "fresh"}
        final = {}
        for r in own:
            if r["stage"] == "screening":
                final[(r["strategy"], r["search_seed"])] = r["hypervolume"]
        strategies = [s for s in dict.fromkeys(r["strategy"] for r in own) if s != BASELINE]
        for strategy in strategies:
            seeds = sorted(s for (k, s) in final if k == strategy and (BASELINE, s) in final)
            diffs = [fresh[(strategy, s)] - fresh[(BASELINE, s)] for s in seeds
                     if (strategy, s) in fresh and (BASELINE, s) in fresh]
            mean, low, high, p = _paired(diffs)
            reach = [runs_to_reach(own, image, strategy, s, final[(BASELINE, s)]) for s in seeds]
            baseline_runs = [max(r["runs"] for r in own if (r["strategy"], r["search_seed"])
                                 == (BASELINE, s)) for s in seeds]
            runs = [max(r["runs"] for r in own if (r["strategy"], r["search_seed"])
                        == (strategy, s)) for s in seeds]
            out.append({"image": image, "strategy": strategy, "seeds": len(diffs),
                        "difference": mean, "low": low, "high": high, "p": p,
                        "reach": reach, "baseline_runs": baseline_runs, "runs": runs,
                        "at_least": sum(d >= 0 for d in diffs)})
    for image in dict.fromkeys(r["image"] for r in out):
        own = [r for r in out if r["image"] == image]
        for r, adjusted in zip(own, holm([r["p"] for r in own])):
            r["holm_p"] = adjusted
    return out


def _paired(diffs: Sequence[float]) -> tuple[float, float, float, float]:
    """(mean, low, high, two-sided p) of paired differences: the mean with its t interval on
    n - 1 degrees of freedom (inr.stats.mean_interval) and the one-sample t-test's p; nan
    where fewer than 2."""
    d = np.asarray(diffs, dtype=float)
    if d.size < 2:
        mean = float(d.mean()) if d.size else math.nan
        return mean, math.nan, math.nan, math.nan
    mean, low, high = mean_interval(d, log=False)
    p = float(stats.ttest_1samp(d, 0.0).pvalue) if d.std() > 0 else (
        0.0 if d.mean() != 0 else 1.0)
    return mean, low, high, p


def search_lines(table: list[dict]) -> list[str]:
    """REPORT.md's "Searching the weights": what the hypervolume is, then one table row per
    strategy and image, and the answer to "does search beat random?"."""
    if not table:
        return []
    ref = table[0]["reference_point"]
    lines = ["## Searching the weights", "",
             "Each search proposes loss-weight vectors over the box `--random-weights` draws "
             "from and minimises ln(pixel MSE) and ln(gradient MSE). Its measure is the "
             "hypervolume its front dominates below a reference point fixed in advance, ln of "
             f"each target's variance (here {ref}): larger is better. The front as the search "
             "saw it (one seed) is biased upward; its configurations were re-measured on fresh "
             "seeds, and only those values (`fresh`) compare the strategies. `hypervolume.csv` "
             "and `hypervolume.png` have every search's history.", "",
             "| image | strategy | search seeds | runs each | fresh hypervolume, mean (min-max) |",
             "|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in table:
        if r["stage"] == "fresh":
            groups.setdefault((r["image"], r["strategy"]), []).append(r)
    for (image, strategy), own in groups.items():
        hv = [r["hypervolume"] for r in own]
        lines.append(f"| {image} | {strategy} | {len(own)} | {own[0]['runs']} | "
                     f"{np.mean(hv):.3g} ({min(hv):.3g}-{max(hv):.3g}) |")
    lines.append("")
    for c in strategy_comparison(table):
        reached = [f"{n}" if n is not None else "not reached" for n in c["reach"]]
        if c["seeds"] < 2:
            verdict = (f"not tested on fresh seeds with 2 or more search seeds "
                       f"({c['seeds']} paired)")
        else:
            verdict = (f"fresh hypervolume {c['difference']:+.3g} against random search "
                       f"[{c['low']:+.3g}, {c['high']:+.3g}], Holm p = {c['holm_p']:.2g} over "
                       f"{c['seeds']} search seeds paired: "
                       + ("separated" if c["holm_p"] < 0.05 else "not separated"))
        at_least = (f" Its fresh hypervolume is at least random search's on {c['at_least']} "
                    f"of {c['seeds']} search seeds." if c["seeds"] else "")
        lines.append(f"* **{c['strategy']}** on {c['image']}, "
                     f"{'/'.join(map(str, c['runs']))} runs against random search's "
                     f"{'/'.join(map(str, c['baseline_runs']))} (per search seed): "
                     f"{verdict}.{at_least} On the screening curves (both fronts picked on one "
                     f"seed), runs to reach random search's final screening hypervolume, per "
                     f"search seed: {', '.join(reached)}.")
    return lines + [""]


def balancing_lines(tests: list) -> list[str]:
    """REPORT.md's answer to "does any balancing scheme reach the front of the best fixed
    vector?": the weights family's tests of each balanced vector against the best fixed vector
    the searches found (inr.report.contrasts.balancing_tests), pooled across the held-out
    images where they were pooled, else on each image. A balanced vector reaches the front
    where the best fixed vector is ahead of it, separated, on neither field; it goes beyond it
    where it is ahead on one, separated, and behind on none."""
    found = [t for t in tests if t.question == Question.WEIGHTS and t.kind == "t"
             and _balanced_against_best(t)]
    pooled = [t for t in found if t.image == POOLED]
    shown = pooled or found
    if not shown:
        return []
    fixed = next(c for t in shown for c in (t.a, t.b) if c.first.get("arm") == BEST_FIXED)
    where = "pooled across the held-out images (HKSJ)" if pooled else "on each image"
    lines = ["## Balancing against the best fixed vector", "",
             "Each adaptive balancing scheme, started from each reference vector, against the "
             f"best fixed vector the searches found ({fixed.first['weights']}, "
             f"{betas(fixed.first)}), on fresh seeds, {where}, in the weights family (Holm); "
             "each effect is the balanced vector's against the fixed one. It reaches that "
             "vector's front where the fixed vector is ahead of it, separated, on neither "
             "pixels nor the gradient.", ""]
    outcome: dict[str, list[str]] = {"beyond": [], "level": [], "behind": []}
    for arm in dict.fromkeys((t.image, _balanced_side(t)) for t in shown):
        behind, ahead, parts = [], [], []
        for t in (t for t in shown if (t.image, _balanced_side(t)) == arm):
            row = row_of(t) if balanced(t.a.first) else flipped(row_of(t))
            if row.separated:
                (ahead if wording.a_ahead(row) else behind).append(FIELD_NAMES[t.metric])
            parts.append(f"{FIELD_NAMES[t.metric]} {wording.effect_text(row)}, "
                         f"{wording.verdict(row)}")
        if behind and not ahead:
            verdict, kind = f"does not reach it: behind on {' and '.join(behind)}", "behind"
        elif ahead and not behind:
            verdict, kind = f"goes beyond it: ahead on {' and '.join(ahead)}", "beyond"
        elif ahead:
            verdict, kind = (f"another point of the front: ahead on {' and '.join(ahead)}, "
                             f"behind on {' and '.join(behind)}"), "beyond"
        else:
            verdict, kind = "not separated from it on either field", "level"
        outcome[kind].append(arm[1] + ("" if arm[0] == POOLED else f" on {arm[0]}"))
        image = "" if arm[0] == POOLED else f" on {arm[0]}"
        lines.append(f"* **{arm[1]}**{image} against it: {verdict}. {'; '.join(parts)}.")
    said = {"beyond": "ahead of it on a field, separated, and behind on none or another",
            "level": "not separated from it on either field (what each test could have seen "
                     "is beside it above)",
            "behind": "behind it, separated, on pixels or the gradient"}
    answer = " ".join(f"{said[k].capitalize()}: {', '.join(v)}." for k, v in outcome.items()
                      if v)
    return lines + ["", "**Does any balancing scheme reach the best fixed vector's front?** "
                    + answer, ""]


FIELD_NAMES = {"psnr": "pixels (PSNR)", "grad_mse": "gradient (MSE)"}


def _balanced_against_best(test) -> bool:
    sides = (test.a.first, test.b.first)
    return any(balanced(r) for r in sides) and any(r.get("arm") == BEST_FIXED for r in sides)


def _balanced_side(test) -> str:
    config = test.a if balanced(test.a.first) else test.b
    return betas(config.first)
