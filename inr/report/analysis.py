"""The answers: pure functions over report rows (inr.report.rows) that rank runs, answer the
suite's four questions and set each of the original project's conclusions against the runs.

Which rows answer which question is recorded in the runs (their experiments' `question`), so no
experiment name is spelled here. `conclusions(rows)` computes the answers once; REPORT.md and the
notebook both print `conclusion_lines` and `compare_with_original`.
"""
from __future__ import annotations

import math

from inr.report.rows import asking, betas, ranked, weight_vector
from inr.vocabulary import MSE_TERMS, higher_is_better, mse_metric

TOP = 5


def metric_of_setting(setting: str) -> str:
    """The metric that judges a run trained on one term alone ('grad' -> 'grad_mse'); PSNR for
    any other weight setting."""
    return mse_metric(setting) if setting in MSE_TERMS else "psnr"


def conclusions(rows) -> dict:
    """The answers to the suite's four questions, from the rows (empty parts where no data)."""
    out = {}
    acts = asking(rows, "activation")
    if acts:
        table = {}
        for r in acts:
            table.setdefault(r["weights"], []).append(r)
        winners = {}
        for weights, group in table.items():
            metric = metric_of_setting(weights)
            best = ranked(group, metric)
            if best:
                winners[weights] = (best[0]["activation"], metric, best[0][metric])
        counts = {}
        for act, _, _ in winners.values():
            counts[act] = counts.get(act, 0) + 1
        out["activation"] = {"winners": winners,
                             "best": max(counts, key=counts.get) if counts else None,
                             "wins": counts}
    lrs = asking(rows, "learning_rate")
    if lrs:
        out["learning_rate"] = {m: [(r["scheduler"], r["lr"], r[m]) for r in ranked(lrs, m)[:TOP]]
                                for m in ("pixel_mse", "ssim", "grad_mse")}
    weights = asking(rows, "weights")
    if weights:
        out["weights"] = {m: [(betas(r), r[m], r["psnr"]) for r in ranked(weights, m)[:TOP]]
                          for m in ("pixel_mse", "grad_mse")}
        worst = ranked(weights, "pixel_mse")[-TOP:][::-1]
        out["weights"]["worst_pixel_mse"] = [(betas(r), r["pixel_mse"], r["psnr"]) for r in worst]
        out["weights"]["diverged"] = sum(r["status"] == "diverged"
                                         for r in asking(rows, "weights", done_only=False))
    losses = asking(rows, "pixel_loss")
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


ORIGINAL_WEIGHTS = (1.0, 0.01, 0.001, 0.0)  # the original project's best (pixel, grad, lap, dt)
ORIGINAL_LR_CLAIMS = (("pixel_mse", "constant", 1e-7), ("ssim", "exponential", None))


def compare_with_original(rows, activation: str = "sine", lr: float = 1e-4,
                          scheduler: str = "constant") -> list[str]:
    """Sentences that set each conclusion of the original project (NOTES §1) against the rows:
    (a) SIREN beats ELU, (b) constant lr 1e-7 best for MSE and exponential best for SSIM,
    (c) best weights (1, 0.01, 0.001, 0). `activation`, `lr`, `scheduler`: the settings of the
    random-weights runs, to find the original's vector among comparable runs."""
    verdict = lambda ok: "agrees" if ok else "differs"  # noqa: E731
    lines = []
    acts, duels = asking(rows, "activation"), []
    for setting in dict.fromkeys(r["weights"] for r in acts):
        metric = metric_of_setting(setting)
        pair = {r["activation"]: r[metric] for r in acts if r["weights"] == setting}
        if "sine" in pair and "elu" in pair:
            better = (pair["sine"] > pair["elu"]) == higher_is_better(metric)
            duels.append((setting, metric, pair["sine"], pair["elu"], better))
    if duels:
        wins = sum(d[-1] for d in duels)
        lines.append(f"(a) Original: SIREN beats ELU. Here: sine beats elu on {wins} of "
                     f"{len(duels)} weight settings -> {verdict(wins > len(duels) / 2)}.")
        lines += [f"      trained on {s}: {m} sine {a:.4g}, elu {b:.4g}" for s, m, a, b, _ in duels]
    lrs = asking(rows, "learning_rate")
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
    weights = ranked(asking(rows, "weights"), "pixel_mse")
    if weights:
        best = weights[0]
        line = (f"(c) Original: the best weights are {ORIGINAL_WEIGHTS}. Here the best of "
                f"{len(weights)} random vectors by pixel_mse is {weight_vector(best)} (pixel_mse "
                f"{best['pixel_mse']:.4g}, grad_mse {best['grad_mse']:.4g})")
        same = [r for r in ranked(rows, "pixel_mse") if weight_vector(r) == ORIGINAL_WEIGHTS
                and r["activation"] == activation and r["scheduler"] == scheduler
                and math.isclose(r["lr"], lr, rel_tol=1e-6)]
        if same:
            o = same[0]
            rank = 1 + sum(r["pixel_mse"] < o["pixel_mse"] for r in weights
                           if weight_vector(r) != ORIGINAL_WEIGHTS)
            total = len(weights) + (ORIGINAL_WEIGHTS not in map(weight_vector, weights))
            line += (f"; the original's vector at the same {scheduler} lr {lr:g} gives pixel_mse "
                     f"{o['pixel_mse']:.4g}, grad_mse {o['grad_mse']:.4g}, rank {rank} of {total}")
            ok = rank == 1
        else:
            ok = weight_vector(best) == ORIGINAL_WEIGHTS
        lines.append(line + f" -> {verdict(ok)}.")
        by_grad = ranked(weights, "grad_mse")[0]
        lines.append(f"      by grad_mse the best vector is {weight_vector(by_grad)} (grad_mse "
                     f"{by_grad['grad_mse']:.4g}).")
    return lines
