"""The results report, rebuilt at any time from the per-run metrics.json files.

    results/summary.csv     one row per run: hyperparameters, final metrics, status
    results/<experiment>.png and results/report.pdf   plots per experiment and metric
    results/REPORT.md       rankings that answer the suite's four questions, with video links

`conclusions(rows)` computes the answers once; REPORT.md and the notebook both print them.
"""
from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

from inr.config import DERIVATIVE_TERMS
from inr.evaluate import METRICS
from inr.io import read_json, write_text_atomic

PLOT_METRICS = ("pixel_mse", "ssim", "grad_mse", "laplacian_mse", "dt_mse", "pde_residual")
HIGHER_IS_BETTER = {"psnr", "ssim", "grad_ssim", "laplacian_ssim", "dt_ssim"}
TERM_METRIC = {"pixel": "pixel_mse", "grad": "grad_mse", "laplacian": "laplacian_mse",
               "dt": "dt_mse", "all": "psnr"}
TOP = 5
LOG_SPAN = 20  # a metric spanning more than this factor is plotted on a log axis


# ----------------------------------------------------------------------------- rows

def collect(out: Path) -> list[dict]:
    """One flat row per run folder below <out>/runs holding a readable metrics.json."""
    rows = []
    for path in sorted((Path(out) / "runs").rglob("metrics.json")):
        try:
            saved = read_json(path)
        except (OSError, ValueError):
            continue  # a foreign or damaged file: the report lists only readable runs
        rows.append(_row(saved, path.parent, Path(out)))
    return rows


def _row(saved: dict, run_dir: Path, out: Path) -> dict:
    cfg, final = saved.get("config", {}), saved.get("final", {})
    sched, loss = cfg.get("schedule", {}), cfg.get("loss", {})
    row = {"name": str(run_dir.relative_to(out / "runs")),
           "experiments": ";".join(saved.get("experiments", [])),
           "status": saved.get("status"),
           "activation": cfg.get("model", {}).get("activation"),
           "width": cfg.get("model", {}).get("width"),
           "scheduler": sched.get("kind"),
           "lr": sched.get("max_lr") if sched.get("kind") == "cyclic" else sched.get("lr"),
           **{f"beta_{k}": loss.get(k) for k in (*DERIVATIVE_TERMS, "ssim", "ms_ssim")},
           "weights": weight_setting(str(run_dir.relative_to(out / "runs"))),
           "steps": cfg.get("train", {}).get("steps"),
           "size": cfg.get("data", {}).get("size"),
           "frames": cfg.get("data", {}).get("frames")}
    for key in (*METRICS, *(f"heldout_{m}" for m in METRICS)):
        row[key] = _num(final.get(key))
    row["best_psnr"] = _num(saved.get("best", {}).get("psnr"))
    row["seconds"] = _num(final.get("seconds"))
    row["video"] = saved.get("video") or ""
    return row


def weight_setting(name: str) -> str:
    """The weight setting's label carried by a run name (see inr.experiments): 'grad' in
    'sine/cameraman_experiments_grad' and in 'cameraman/losses/grad/...'; '' for betas runs."""
    parts = name.split("/")
    if "_experiments_" in parts[-1]:
        return parts[-1].split("_experiments_")[-1]
    if len(parts) >= 3 and parts[-3] == "losses":
        return parts[-2]
    return ""


def _num(x) -> float:
    return float("nan") if x is None else float(x)


def of(rows, experiment: str, done_only: bool = True) -> list[dict]:
    return [r for r in rows if experiment in r["experiments"].split(";")
            and (not done_only or r["status"] == "completed")]


def ranked(rows, metric: str) -> list[dict]:
    """Completed rows with a finite metric, best first."""
    keep = [r for r in rows if r["status"] == "completed" and math.isfinite(r[metric])]
    return sorted(keep, key=lambda r: r[metric], reverse=metric in HIGHER_IS_BETTER)


def betas(row) -> str:
    return "(" + ", ".join(f"{row[f'beta_{t}']:g}" for t in DERIVATIVE_TERMS) + ")"


def write_summary(rows, path: Path) -> None:
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
        for k, v in row.items():
            try:
                row[k] = float(v) if k not in ("name", "experiments", "status", "activation",
                                               "scheduler", "weights", "video") else v
            except ValueError:
                pass
    return rows


# ----------------------------------------------------------------------------- answers

def conclusions(rows) -> dict:
    """The answers to the suite's four questions, from the rows (empty parts where no data)."""
    out = {}
    acts = of(rows, "activations")
    if acts:
        table = {}
        for r in acts:
            table.setdefault(r["weights"], []).append(r)
        winners = {}
        for weights, group in table.items():
            metric = TERM_METRIC.get(weights, "psnr")
            best = ranked(group, metric)
            if best:
                winners[weights] = (best[0]["activation"], metric, best[0][metric])
        counts = {}
        for act, _, _ in winners.values():
            counts[act] = counts.get(act, 0) + 1
        out["activation"] = {"winners": winners,
                             "best": max(counts, key=counts.get) if counts else None,
                             "wins": counts}
    lrs = of(rows, "learning-rates")
    if lrs:
        out["learning_rate"] = {m: [(r["scheduler"], r["lr"], r[m]) for r in ranked(lrs, m)[:TOP]]
                                for m in ("pixel_mse", "ssim", "grad_mse")}
    weights = of(rows, "random-weights")
    if weights:
        out["weights"] = {m: [(betas(r), r[m], r["psnr"]) for r in ranked(weights, m)[:TOP]]
                          for m in ("pixel_mse", "grad_mse")}
        worst = ranked(weights, "pixel_mse")[-TOP:][::-1]
        out["weights"]["worst_pixel_mse"] = [(betas(r), r["pixel_mse"], r["psnr"]) for r in worst]
        out["weights"]["diverged"] = sum(r["status"] == "diverged"
                                         for r in of(rows, "random-weights", done_only=False))
    losses = of(rows, "losses")
    if losses:
        out["pixel_loss"] = {m: [(r["weights"], r[m]) for r in ranked(losses, m)]
                             for m in ("psnr", "ssim", "grad_mse")}
    best = ranked(rows, "psnr")
    if best:
        out["best_run"] = {"name": best[0]["name"], "psnr": best[0]["psnr"],
                           "video": best[0]["video"]}
    return out


def conclusion_lines(rows) -> list[str]:
    """Short sentences with the computed answers (printed by the notebook and in REPORT.md)."""
    c, lines = conclusions(rows), []
    if "activation" in c and c["activation"]["best"]:
        a = c["activation"]
        lines.append(f"Best activation: {a['best']} (best on {a['wins'][a['best']]} of "
                     f"{len(a['winners'])} weight settings).")
    if "learning_rate" in c:
        for metric, top in c["learning_rate"].items():
            if top:
                s, lr, v = top[0]
                lines.append(f"Best lr and schedule by {metric}: {s} at lr {lr:g} ({metric} = {v:.4g}).")
    if "weights" in c:
        for metric in ("pixel_mse", "grad_mse"):
            top = c["weights"][metric]
            if top:
                b, v, p = top[0]
                lines.append(f"Best weights by {metric}: {b} ({metric} = {v:.4g}, PSNR {p:.2f} dB).")
    if "pixel_loss" in c and c["pixel_loss"]["psnr"]:
        name, v = c["pixel_loss"]["psnr"][0]
        lines.append(f"Best pixel loss by PSNR: {name} ({v:.2f} dB).")
    if "best_run" in c:
        b = c["best_run"]
        lines.append(f"Best run overall: {b['name']} at {b['psnr']:.2f} dB.")
    return lines


# ----------------------------------------------------------------------------- plots

def plot_all(rows, results: Path) -> list[Path]:
    """One PNG per experiment present, and all of them in results/report.pdf."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages

    figures = []
    for experiment, draw in (("learning-rates", _plot_lrs), ("activations", _plot_activations),
                             ("random-weights", _plot_weights), ("losses", _plot_losses)):
        subset = of(rows, experiment)
        if subset:
            figures.append((experiment, draw(subset)))
    paths = []
    results.mkdir(parents=True, exist_ok=True)
    for name, fig in figures:
        path = results / f"{name}.png"
        _save_atomic(fig, path)
        paths.append(path)
    if figures:
        tmp = results / ".report.pdf.tmp"
        with PdfPages(tmp) as pdf:
            for _, fig in figures:
                pdf.savefig(fig)
        tmp.replace(results / "report.pdf")
        paths.append(results / "report.pdf")
    import matplotlib.pyplot as plt
    for _, fig in figures:
        plt.close(fig)
    return paths


def _save_atomic(fig, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)


def _grid(title: str):
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), layout="constrained")
    fig.suptitle(title)
    return fig, axes.ravel()


def _label(ax, metric, axis="y"):
    from matplotlib.ticker import NullFormatter

    ax.set_title(metric + (" (higher is better)" if metric in HIGHER_IS_BETTER else
                           " (lower is better)"))
    lo, hi = (ax.dataLim.intervalx if axis == "x" else ax.dataLim.intervaly)
    if metric not in HIGHER_IS_BETTER and lo > 0 and hi / lo > LOG_SPAN:
        getattr(ax, f"set_{axis}scale")("log")
        getattr(ax, f"{axis}axis").set_minor_formatter(NullFormatter())


def _plot_lrs(rows):
    fig, axes = _grid("Learning rates x schedulers")
    for ax, metric in zip(axes, PLOT_METRICS):
        for sched in sorted({r["scheduler"] for r in rows}):
            pts = sorted((r["lr"], r[metric]) for r in rows if r["scheduler"] == sched)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=sched)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (max lr for cyclic)")
        _label(ax, metric)
    axes[0].legend()
    return fig


def _bars(ax, groups: list[str], series: dict[str, list[float]]):
    import numpy as np
    x, width = np.arange(len(groups)), 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + i * width, values, width, label=name)
    ax.set_xticks(x + 0.4 - width / 2, groups, rotation=20)


def _plot_activations(rows):
    fig, axes = _grid("Activations under each weight setting")
    weights = list(dict.fromkeys(r["weights"] for r in rows))
    acts = list(dict.fromkeys(r["activation"] for r in rows))
    for ax, metric in zip(axes, PLOT_METRICS):
        series = {a: [next((r[metric] for r in rows if r["activation"] == a and
                            r["weights"] == w), float("nan")) for w in weights]
                  for a in acts}
        _bars(ax, weights, series)
        _label(ax, metric)
    axes[0].legend()
    return fig


def _plot_weights(rows):
    fig, axes = _grid(f"Loss weights (pixel, grad, laplacian, dt): best {TOP} (green) and "
                      f"worst {TOP} (red) per metric")
    for ax, metric in zip(axes, PLOT_METRICS):
        order = ranked(rows, metric)
        pick = order if len(order) <= 2 * TOP else order[:TOP] + order[-TOP:]
        y = list(range(len(pick)))[::-1]
        colours = ["tab:green" if i < min(TOP, len(order) - TOP) or len(order) <= TOP
                   else "tab:red" for i in range(len(pick))]
        ax.scatter([r[metric] for r in pick], y, c=colours, zorder=3)
        ax.set_yticks(y, [betas(r) for r in pick], fontsize=7)
        ax.grid(axis="x", alpha=0.3)
        _label(ax, metric, axis="x")
    return fig


def _plot_losses(rows):
    fig, axes = _grid("Pixel losses (derivative terms at fixed weights)")
    names = [r["weights"] for r in rows]
    for ax, metric in zip(axes, PLOT_METRICS):
        _bars(ax, names, {metric: [r[metric] for r in rows]})
        _label(ax, metric)
    return fig


# ----------------------------------------------------------------------------- markdown

def _fmt(v) -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.4g}"


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c if isinstance(c, str) else _fmt(c) for c in row) + " |"
              for row in rows]
    return lines + [""]


def _video_link(row, results: Path) -> str:
    if not row["video"]:
        return "—"
    try:
        rel = Path(row["video"]).resolve().relative_to(results.resolve().parent)
        return f"[video](../{rel.as_posix()})"
    except ValueError:
        return f"[video]({row['video']})"


def write_markdown(rows, results: Path) -> Path:
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
    if "activation" in c:
        lines += ["## 1. Which activation?", ""]
        lines += _table(["trained on", "best activation", "metric", "value"],
                        [[w, a, m, v] for w, (a, m, v) in c["activation"]["winners"].items()])
        acts = of(rows, "activations")
        lines += _table(["run", "psnr", "ssim", "grad_mse", "laplacian_mse", "dt_mse",
                         "pde_residual", "video"],
                        [[r["name"], r["psnr"], r["ssim"], r["grad_mse"], r["laplacian_mse"],
                          r["dt_mse"], r["pde_residual"], _video_link(r, results)] for r in acts])
    if "learning_rate" in c:
        lines += ["## 2. Which learning rate and schedule?", ""]
        lrs = of(rows, "learning-rates")
        for metric in ("pixel_mse", "ssim", "grad_mse"):
            lines += [f"Ranked by {metric}:", ""]
            lines += _table(["scheduler", "lr", metric, "psnr", "video"],
                            [[r["scheduler"], f"{r['lr']:g}", r[metric], r["psnr"],
                              _video_link(r, results)] for r in ranked(lrs, metric)[:TOP]])
    if "weights" in c:
        lines += ["## 3. Which loss weights (pixel, grad, laplacian, dt)?", ""]
        ws = of(rows, "random-weights")
        for metric in ("pixel_mse", "grad_mse"):
            lines += [f"Best {TOP} by {metric}:", ""]
            lines += _table(["weights", metric, "psnr", "grad_mse", "laplacian_mse", "dt_mse",
                             "video"],
                            [[betas(r), r[metric], r["psnr"], r["grad_mse"], r["laplacian_mse"],
                              r["dt_mse"], _video_link(r, results)]
                             for r in ranked(ws, metric)[:TOP]])
        lines += [f"Worst {TOP} by pixel_mse:", ""]
        lines += _table(["weights", "pixel_mse", "psnr"],
                        [[b, v, p] for b, v, p in c["weights"]["worst_pixel_mse"]])
        lines += [f"Diverged: {c['weights']['diverged']} runs.", ""]
    if "pixel_loss" in c:
        lines += ["## 4. Which pixel loss?", ""]
        ls = of(rows, "losses")
        lines += _table(["pixel loss", "psnr", "ssim", "grad_mse", "laplacian_mse", "dt_mse",
                         "video"],
                        [[r["weights"], r["psnr"], r["ssim"], r["grad_mse"],
                          r["laplacian_mse"], r["dt_mse"], _video_link(r, results)]
                         for r in ranked(ls, "psnr")])
    path = results / "REPORT.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def build_report(out: Path) -> dict:
    """summary.csv, plots and REPORT.md under <out>/results from <out>/runs; returns paths."""
    out = Path(out)
    rows = collect(out)
    results = out / "results"
    results.mkdir(parents=True, exist_ok=True)
    write_summary(rows, results / "summary.csv")
    plots = plot_all(rows, results) if rows else []
    report = write_markdown(rows, results)
    return {"rows": rows, "summary": results / "summary.csv", "plots": plots, "report": report}


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


# ----------------------------------------------------------------------------- the original

ORIGINAL_WEIGHTS = (1.0, 0.01, 0.001, 0.0)  # the original project's best (pixel, grad, lap, dt)
ORIGINAL_LR_CLAIMS = (("pixel_mse", "constant", 1e-7), ("ssim", "exponential", None))


def _vector(row) -> tuple:
    return tuple(row[f"beta_{t}"] for t in DERIVATIVE_TERMS)


def compare_with_original(rows, activation: str = "sine", lr: float = 1e-4,
                          scheduler: str = "constant") -> list[str]:
    """Sentences that set each conclusion of the original project (NOTES §1) against the rows:
    (a) SIREN beats ELU, (b) constant lr 1e-7 best for MSE and exponential best for SSIM,
    (c) best weights (1, 0.01, 0.001, 0). `activation`, `lr`, `scheduler`: the settings of the
    random-weights runs, to find the original's vector among comparable runs."""
    verdict = lambda ok: "agrees" if ok else "differs"  # noqa: E731
    lines = []
    acts, duels = of(rows, "activations"), []
    for setting in dict.fromkeys(r["weights"] for r in acts):
        metric = TERM_METRIC.get(setting, "psnr")
        pair = {r["activation"]: r[metric] for r in acts if r["weights"] == setting}
        if "sine" in pair and "elu" in pair:
            better = (pair["sine"] > pair["elu"]) == (metric in HIGHER_IS_BETTER)
            duels.append((setting, metric, pair["sine"], pair["elu"], better))
    if duels:
        wins = sum(d[-1] for d in duels)
        lines.append(f"(a) Original: SIREN beats ELU. Here: sine beats elu on {wins} of "
                     f"{len(duels)} weight settings -> {verdict(wins > len(duels) / 2)}.")
        lines += [f"      trained on {s}: {m} sine {a:.4g}, elu {b:.4g}" for s, m, a, b, _ in duels]
    lrs = of(rows, "learning-rates")
    for metric, kind, claim_lr in ORIGINAL_LR_CLAIMS:
        order = ranked(lrs, metric)
        if not order:
            continue
        matches = lambda r: r["scheduler"] == kind and (  # noqa: E731
            claim_lr is None or math.isclose(r["lr"], claim_lr, rel_tol=1e-6))
        said = (f"{kind} decay is best for {metric}" if claim_lr is None
                else f"{kind} lr {claim_lr:g} is best for {metric}")
        rank = next((i for i, r in enumerate(order, 1) if matches(r)), None)
        lines.append(f"(b) Original: {said}. Here: {order[0]['scheduler']} at lr "
                     f"{order[0]['lr']:g} ({metric} = {order[0][metric]:.4g}); the original's "
                     f"choice ranks {rank or '—'} of {len(order)} -> {verdict(rank == 1)}.")
    weights = ranked(of(rows, "random-weights"), "pixel_mse")
    if weights:
        best = weights[0]
        line = (f"(c) Original: the best weights are {ORIGINAL_WEIGHTS}. Here the best of "
                f"{len(weights)} random vectors by pixel_mse is {_vector(best)} (pixel_mse "
                f"{best['pixel_mse']:.4g}, grad_mse {best['grad_mse']:.4g})")
        same = [r for r in ranked(rows, "pixel_mse") if _vector(r) == ORIGINAL_WEIGHTS
                and r["activation"] == activation and r["scheduler"] == scheduler
                and math.isclose(r["lr"], lr, rel_tol=1e-6)]
        if same:
            o = same[0]
            rank = 1 + sum(r["pixel_mse"] < o["pixel_mse"] for r in weights
                           if _vector(r) != ORIGINAL_WEIGHTS)
            total = len(weights) + (ORIGINAL_WEIGHTS not in map(_vector, weights))
            line += (f"; the original's vector at the same {scheduler} lr {lr:g} gives pixel_mse "
                     f"{o['pixel_mse']:.4g}, grad_mse {o['grad_mse']:.4g}, rank {rank} of {total}")
            ok = rank == 1
        else:
            ok = _vector(best) == ORIGINAL_WEIGHTS
        lines.append(line + f" -> {verdict(ok)}.")
        by_grad = ranked(weights, "grad_mse")[0]
        lines.append(f"      by grad_mse the best vector is {_vector(by_grad)} (grad_mse "
                     f"{by_grad['grad_mse']:.4g}).")
    return lines
