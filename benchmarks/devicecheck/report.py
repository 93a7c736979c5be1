"""The results as a reader wants them: the summary, device_check.md and the printed table, all
built from the results dict alone (so they can be rebuilt from device_check.json)."""
from __future__ import annotations

from collections import Counter

from devicecheck.common import GOAL_FIELDS, TF32_GOAL
from inr.model.derivatives import DERIVATIVE_METHODS
from inr.report.markdown import markdown_table, number_cell


def summary(data: dict) -> dict:
    """The few numbers a reader wants first."""
    checks = data["correctness"].get("checks", [])
    counts = Counter(c["status"] for c in checks)
    rec = data["sweep_throughput"].get("recommendation") or {}
    return {"checks_passed": counts["passed"], "checks_failed": counts["failed"],
            "checks_skipped": counts["skipped"],
            "failed": [c["name"] for c in checks if c["status"] == "failed"],
            "tf32_acceptable": data["derivative_step"].get("tf32_acceptable"),
            "recommended_models": rec.get("models"),
            "recommended_precision": rec.get("precision"),
            "sweep_minutes": rec.get("sweep_minutes"), "goal_met": rec.get("goal_met"),
            "needs_tf32": rec.get("needs_tf32")}


# ----------------------------------------------------------------------------- tables

def _ratio(a, b):
    return a / b if a and b else None


def step_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    """One line per width and method: ms with each precision, TF32's speed-up, the forward
    jet's speed-up over nested autograd, peak MiB."""
    by = {(r["width"], r["method"], r["precision"]): r for r in rows}
    header = ["width", "method", "fp32 ms", "tf32 ms", "TF32 speed-up", "vs autograd (fp32)",
              "vs autograd (tf32)", "peak MiB (fp32)", "peak MiB (tf32)"]
    lines = []
    for width in sorted({r["width"] for r in rows}):
        for method in DERIVATIVE_METHODS:
            def get(precision, key, method=method):
                return (by.get((width, method, precision)) or {}).get(key)

            def versus(precision):  # the reference's own line stays empty
                return None if method == "autograd" else \
                    _ratio(get(precision, "ms", "autograd"), get(precision, "ms"))

            lines.append([str(width), method, get("fp32", "ms"), get("tf32", "ms"),
                          _ratio(get("fp32", "ms"), get("tf32", "ms")), versus("fp32"),
                          versus("tf32"), get("fp32", "peak_mib"), get("tf32", "peak_mib")])
    return header, lines


def error_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    """One line per width and field: relative error with fp32 and TF32, TF32's RMS error over
    the target's std against the goal."""
    by = {(r.get("width"), r.get("field"), r.get("precision")): r for r in rows}
    header = ["width", "field", "fp32 rel. error", "tf32 rel. error", "tf32 RMS / target std",
              f"below {TF32_GOAL:g}"]
    lines = []
    for width, name in dict.fromkeys((r["width"], r["field"]) for r in rows if "field" in r):
        fraction = by.get((width, name, "tf32"), {}).get("fraction_of_std")
        lines.append([str(width), name, by.get((width, name, "fp32"), {}).get("rel_error"),
                      by.get((width, name, "tf32"), {}).get("rel_error"), fraction,
                      "—" if fraction is None else ("yes" if fraction < TF32_GOAL else "NO")])
    return header, lines


def throughput_table(section: dict) -> tuple[list[str], list[list]]:
    """One line per ensemble size and precision: the measured seconds and memory, then the
    projection: seconds per run (and its steps, evaluations, videos) and the sweep's minutes."""
    proj = {(p["models"], p["precision"]): p for p in section.get("projection", [])}
    header = ["M", "precision", "status", "step s", "eval s", "final eval s", "video s",
              "peak GiB", "s per run", "steps", "evaluations", "videos",
              f"{section['setup']['runs']}-run sweep min"]
    lines = []
    for r in section.get("rows", []):
        p = proj.get((r["models"], r["precision"]), {})
        parts = p.get("per_run", {})
        label = f"{r['models']}" + (" (sequential)" if r["models"] == 1 else "")
        lines.append([label, r["precision"], r["status"], r["step_s"], r["eval_s"],
                      r["final_eval_s"], r["video_s"], r["peak_gib"], p.get("seconds_per_run"),
                      parts.get("steps"), parts.get("evaluations"), parts.get("videos"),
                      p.get("sweep_minutes")])
    return header, lines


# ----------------------------------------------------------------------------- verdict lines

def recommendation_line(section: dict) -> str:
    rec = section.get("recommendation") or {}
    if not rec:
        return "recommended: — (no ensemble measured)"
    verdict = "met" if rec["goal_met"] else "NOT met"
    tf32 = "; only TF32 meets it" if rec["needs_tf32"] else ""
    return (f"recommended: M = {rec['models']} with {rec['precision']}: "
            f"{section['setup']['runs']}-run sweep {rec['sweep_minutes']:.1f} min "
            f"(goal {rec['goal_minutes']:g} min: {verdict}{tf32})")


def tf32_line(section: dict) -> str:
    rows = [r for r in section.get("precision_errors", []) if r.get("precision") == "tf32"
            and r.get("field") in GOAL_FIELDS]
    if not rows:
        return "TF32 error: not measured"
    worst = {f: max(r["fraction_of_std"] for r in rows if r["field"] == f)
             for f in GOAL_FIELDS if any(r["field"] == f for r in rows)}
    verdict = {True: "acceptable", False: "NOT acceptable"}.get(section.get("tf32_acceptable"),
                                                                "undecided")
    applies = "" if section["setup"]["tf32_applies"] else " (TF32 does not apply on a CPU)"
    listed = ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
    return f"TF32 RMS error / target std: {listed} (goal < {TF32_GOAL:g}): {verdict}{applies}"


def syncs_line(section: dict) -> str:
    syncs = section.get("host_syncs") or {}
    if "per_step" not in syncs:
        return f"host syncs per step: {syncs.get('skipped') or syncs.get('error') or '—'}"
    where = ", ".join(f"{k} ({v:g})" for k, v in syncs["where"].items())
    return f"host syncs per training step: {syncs['per_step']:g} ({where})"


# ----------------------------------------------------------------------------- the outputs

def markdown(data: dict) -> str:
    """device_check.md: the tables a human reads."""
    env, s = data["environment"], data["summary"]
    lines = [f"# Device check: {env.get('gpu') or data['device']}", "",
             f"torch {env['torch']}, device {data['device']}, commit {env['commit']}, "
             f"{'--tiny, ' if data['tiny'] else ''}status {data['status']} after "
             f"{data['seconds']:.0f} s (budget {data['budget_s']:g} s).", "",
             "## Correctness", "",
             f"{s['checks_passed']} passed, {s['checks_failed']} failed, "
             f"{s['checks_skipped']} skipped.", ""]
    lines += markdown_table(["check", "status", "error", "tolerance", "detail"],
                            [[c["name"], c["status"], c["error"], c["tolerance"], c["detail"]]
                             for c in data["correctness"].get("checks", [])])
    step = data["derivative_step"]
    if "rows" in step:
        lines += ["", f"## Derivative step: SIREN 3 → W × 3 → 1, {step['setup']['points']:,} "
                      "points, M = 1", "",
                  "One training step (value, gradient, Laplacian, ∂t, four MSEs, backward, "
                  f"Adam), median of {step['setup']['repeats']} repeats; peak memory above the "
                  "steady state.", ""]
        lines += markdown_table(*step_table(step["rows"]))
        lines += ["", "Error against float64 (the network at initialisation; RMS error over the "
                      "target's std over the whole sequence):", ""]
        lines += markdown_table(*error_table(step.get("precision_errors", [])))
        lines += ["", tf32_line(step)]
    sweep = data["sweep_throughput"]
    if "rows" in sweep:
        setup = sweep["setup"]
        lines += ["", f"## Sweep throughput: {setup['size']}², {setup['frames']} frames, width "
                      f"{setup['width']} × {setup['depth']}, {setup['steps']} steps "
                      f"({setup['batch']}), evaluation every {setup['eval_every']}", "",
                  f"{setup['timed_steps']} steps timed after {setup['warmup']}; data "
                  f"{setup['data_s']:.2f} s per ensemble; every run trains all four loss terms. "
                  "Seconds per run split into steps, evaluations and videos.", ""]
        lines += markdown_table(*throughput_table(sweep))
        lines += ["", recommendation_line(sweep), "", syncs_line(sweep)]
    return "\n".join(lines) + "\n"


def text_table(header: list[str], rows: list[list], keep: list[int]) -> str:
    """Columns `keep` of a table as plain text, numbers through number_cell."""
    cells = [[header[i] for i in keep]] + \
        [[r[i] if isinstance(r[i], str) else number_cell(r[i]) for i in keep] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(keep))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells)


def print_summary(data: dict, out) -> None:
    """The short summary, printed last."""
    s, env = data["summary"], data["environment"]
    print(f"\n=== device check: {data['device']} ({env.get('gpu') or 'cpu'}), torch "
          f"{env['torch']}: {data['status']} in {data['seconds']:.0f} s ===")
    failed = f" (failed: {', '.join(s['failed'])})" if s["failed"] else ""
    print(f"correctness: {s['checks_passed']} passed, {s['checks_failed']} failed, "
          f"{s['checks_skipped']} skipped{failed}")
    step = data["derivative_step"]
    if step.get("rows"):
        print(f"\nderivative step, {step['setup']['points']:,} points, M = 1")
        print(text_table(*step_table(step["rows"]), keep=[0, 1, 2, 3, 4, 5, 6, 7]))
        print(tf32_line(step))
    sweep = data["sweep_throughput"]
    if sweep.get("rows"):
        print(f"\nsweep throughput, paper profile ({sweep['setup']['size']}², width "
              f"{sweep['setup']['width']}, {sweep['setup']['steps']} steps)")
        print(text_table(*throughput_table(sweep), keep=[0, 1, 2, 3, 7, 8, 12]))
        print(recommendation_line(sweep))
        print(syncs_line(sweep))
    print(f"\nwritten: {out}/device_check.json and device_check.md")
