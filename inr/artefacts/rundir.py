"""A run's folder: its layout, the schema of what a run writes, and every read and write of it.

    <run_dir>/
        events.out.tfevents.*   TensorBoard log (scalars, panels, one HParams row; inr.artefacts.outputs)
        config.json             the RunConfig, enough to reproduce the run
        checkpoint.pt           the trained model (see `RunDir.save_checkpoint`)
        metrics.json            the run's record, written last (see `record`)
    <video>                     the run's panel video (.mp4 or .gif), in a folder runs share

Every file is written atomically (inr.io). A run is *done* when its record's status is completed
or diverged and the config in it equals the planned one; anything else is trained again, after
the temporary files a killed attempt of this run left are removed. No other module spells these
file names; the rest of the suite asks a `RunDir`.
"""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from inr.artefacts.tree import OutputTree, across_images_name
from inr.config import ModelConfig, RunConfig, Schedule, effective_weights, image_label
from inr.io import atomic_path, read_json, stale_temporaries, write_json_atomic
from inr.model.networks import CoordinateMLP
from inr.vocabulary import DONE_STATUSES, FIELDS, HELDOUT_PREFIX, LOSS_TERMS, METRICS, MSE_TERMS

RECORD_FILE = "metrics.json"
CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
EVENTS_PATTERN = "events.out.tfevents.*"


@dataclass
class RunResult:
    """What a run produced. metrics: the final metrics (inr.vocabulary.METRICS, heldout_* when
    evaluated) plus status, steps_done, diverged_at, seconds, derivative_method (the derivative
    path that ran: fused, forward or autograd) and derivative_fallback (why it is not the
    configured one, "" when it is); best: the evaluation with the best
    PSNR; history: every evaluation's record; model: the trained network (when in memory);
    final_weights: a balanced run's MSE-term weights after training (term -> λ,
    inr.training.balance), None for a run with fixed weights."""
    config: RunConfig
    metrics: dict
    best: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    run_dir: Path | None = None
    video: Path | None = None
    model: torch.nn.Module | None = None
    final_weights: dict[str, float] | None = None

    @property
    def status(self) -> str:
        return self.metrics["status"]

    def summary_line(self) -> str:
        """The run's headline numbers in one line (`summary_line`)."""
        return summary_line(self.metrics)


SUMMARY_FORMATS = {"psnr": ".2f", "ssim": ".4f", "grad_mse": ".3g", "laplacian_mse": ".3g",
                   "dt_mse": ".3g"}  # the metrics a one-line run summary shows, and their format


def summary_line(metrics: dict) -> str:
    """'psnr 36.10 dB, ssim 0.9512, grad_mse 0.012, laplacian_mse 4.1, dt_mse 0.0021' of a
    run's final metrics (a record's "final" or a summary.csv row)."""
    return ", ".join(f"{k} {metrics[k]:{f}}" + (" dB" if k == "psnr" else "")
                     for k, f in SUMMARY_FORMATS.items())


def record(result: RunResult, target_variances: dict[str, float]) -> dict:
    """The schema of metrics.json: a run's outcome with the labels its report needs.

    status, final, best, history    as in RunResult
    experiments, questions          the experiments that use the run and, aligned, what each
                                    asks ('' for none); another experiment reusing it adds itself
    image                           the label of the image it trained on (inr.data.image_label)
    labels                          name (folder below runs/), configuration (the name of its
                                    first seed), across_images (the configuration's name on
                                    every image), weights_name, reference (the reference vector
                                    its weights equal up to scale), arm (the group it is tuned
                                    in), stage (screening or confirmation), role (drawn,
                                    reference or tuned), image_role (development or held-out,
                                    where the sweep held images out), seed: set when the run
                                    was planned,
                                    never parsed back out of a path
    config, video                   the RunConfig, the video path
    target_variances                each field's target variance over the training frames
    effective_weights               each MSE term's weight on MSE / variance
                                    (inr.config.weights.effective_weights)
    early_stop                      only when an early-stopping scheduler ended the run
    balance                         only for a balanced run (loss.balance): {"scheme": its
                                    scheme, "final_weights": {term: λ after training}}
    """
    cfg = result.config
    out = cfg.output
    balance = {"balance": {"scheme": cfg.loss.balance, "final_weights": result.final_weights}} \
        if cfg.loss.balanced else {}
    return {"status": result.status, "final": result.metrics, "best": result.best,
            "history": result.history,
            "experiments": [out.experiment] if out.experiment else [],
            "questions": [out.question or ""] if out.experiment else [],
            "image": image_label(cfg.data.image),
            "labels": {"name": out.name, "configuration": out.configuration or out.name,
                       "across_images": out.across_images or "",
                       "weights_name": out.weights_name or "", "reference": out.reference or "",
                       "arm": out.arm or "", "stage": out.stage or "", "role": out.role or "",
                       "image_role": out.image_role or "", "seed": cfg.train.seed},
            "config": cfg.to_dict(), "video": str(result.video) if result.video else None,
            "target_variances": target_variances,
            "effective_weights": effective_weights(cfg.loss, target_variances), **balance}


def _same_identity(saved: dict, config: RunConfig) -> bool:
    """Whether a record's config decides the same numbers as `config` (all but `output`). A
    field the record lacks takes its default, as it had then (a record written before the
    field existed, e.g. train.derivative_method, still matches); an unreadable config does not
    match."""
    try:
        recorded = RunConfig.from_dict(saved.get("config", {})).identity()
    except (TypeError, ValueError):
        return False
    return json.loads(json.dumps(recorded)) == json.loads(json.dumps(config.identity()))


class RunDir:
    """The folder (and video path) of one run. `RunDir.of(config)` is None for a run that writes
    no folder (output.run_dir unset)."""

    def __init__(self, path: str | Path, video: str | Path | None = None) -> None:
        self.path = Path(path)
        self.video = Path(video) if video else None

    @classmethod
    def of(cls, config: RunConfig) -> "RunDir | None":
        out = config.output
        return cls(out.run_dir, out.video) if out.run_dir else None

    def __repr__(self):
        return f"RunDir({str(self.path)!r})"

    # ------------------------------------------------------------------ the record
    def read(self) -> dict | None:
        """The record (metrics.json), or None when it is missing or unreadable."""
        try:
            return read_json(self.path / RECORD_FILE)
        except (OSError, ValueError):
            return None

    def write(self, saved: dict) -> None:
        write_json_atomic(self.path / RECORD_FILE, saved)

    def state(self, config: RunConfig) -> str:
        """'done', 'todo' or 'conflict' (finished, but with a different config)."""
        saved = self.read()
        if saved is None or saved.get("status") not in DONE_STATUSES:
            return "todo"
        return "done" if _same_identity(saved, config) else "conflict"

    def early_stopped(self, config: RunConfig) -> bool:
        """Whether an early-stopping scheduler ended this run, planned with `config`."""
        saved = self.read()
        return bool(saved and saved.get("early_stop")) and _same_identity(saved, config)

    def tag(self, experiments: list[str], questions: list[str]) -> None:
        """Add experiments that use this finished run to its record, each with what it asks
        (the two lists are aligned: questions[i] is what experiments[i] asks, '' for none)."""
        saved = self.read()
        pairs = dict(zip(saved.get("experiments", []), saved.get("questions", [])))
        for name, question in zip(experiments, questions):
            pairs.setdefault(name, question)
        if list(pairs) != saved.get("experiments") or \
                list(pairs.values()) != saved.get("questions"):
            self.write({**saved, "experiments": list(pairs), "questions": list(pairs.values())})

    def mark_early_stopped(self, by: str, metric: str, mode: str, of_steps: int) -> None:
        saved = self.read()
        saved["early_stop"] = {"by": by, "metric": metric, "mode": mode,
                               "at_step": saved["final"].get("steps_done"), "of_steps": of_steps}
        self.write(saved)

    def result(self, config: RunConfig) -> RunResult:
        """The RunResult of a finished run, read back from its record (no model)."""
        saved = self.read()
        return RunResult(config, saved["final"], saved.get("best", {}), saved.get("history", []),
                         self.path, Path(saved["video"]) if saved.get("video") else None,
                         final_weights=saved.get("balance", {}).get("final_weights"))

    # ------------------------------------------------------------------ outputs of training
    def save_run(self, result: RunResult, model_state: dict, model_config: dict,
                 target_variances: dict[str, float]) -> None:
        """Write config.json, checkpoint.pt and, last, metrics.json for a trained run."""
        cfg = result.config
        cfg.save(self.path / CONFIG_FILE)
        with atomic_path(self.path / CHECKPOINT_FILE) as tmp:
            torch.save({"model": model_state, "model_config": model_config,
                        "config": cfg.to_dict(), "seed": cfg.train.seed,
                        "steps_done": result.metrics["steps_done"]}, tmp)
        self.write(record(result, target_variances))

    def load_model(self, device: str | torch.device | None = None) -> CoordinateMLP:
        """The trained network of this run (a one-model ensemble), on `device` (default: the
        run's own device)."""
        config = RunConfig.load(self.path / CONFIG_FILE)
        device = device or config.resolved_device()
        model = config.model.build([config.train.seed])
        saved = torch.load(self.path / CHECKPOINT_FILE, map_location=device)
        model.load_state_dict(saved["model"])
        return model.to(device, config.torch_dtype)

    def events(self) -> list[Path]:
        return sorted(self.path.glob(EVENTS_PATTERN))

    def prepare(self, resumed: bool) -> None:
        """Before training: create the folder, remove what a killed attempt of this run left
        (temporary files) and, unless resuming from a mid-run checkpoint, its old log."""
        self.remove_stale_temporaries()
        self.path.mkdir(parents=True, exist_ok=True)
        if not resumed:
            for old in self.events():
                old.unlink()

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete the temporary files of this run's own files (never another run's, even in the
        video folder that runs share); returns what was removed."""
        owned = [self.path / name for name in (RECORD_FILE, CONFIG_FILE, CHECKPOINT_FILE)]
        if self.video is not None:
            owned.append(self.video)
        removed = [tmp for path in owned for tmp in stale_temporaries(path)]
        for tmp in removed:
            tmp.unlink(missing_ok=True)
        return removed

    def clear(self) -> None:
        """Remove the run's folder and video (for --overwrite)."""
        if self.path.exists():
            shutil.rmtree(self.path)
        if self.video is not None:
            self.video.unlink(missing_ok=True)
        self.remove_stale_temporaries()


def finished_records(tree: OutputTree) -> list[tuple[RunDir, dict]]:
    """(RunDir, record) of every run folder of the tree with a readable record."""
    found = []
    for path in sorted(tree.runs.rglob(RECORD_FILE)):
        run = RunDir(path.parent)
        saved = run.read()
        if saved is not None:  # a foreign or damaged file: the report lists only readable runs
            found.append((run, saved))
    return found


# ----------------------------------------------------------------------------- flat rows

TEXT_COLUMNS = ("name", "configuration", "across_images", "experiments", "questions", "status",
                "image", "image_file", "activation", "scheduler", "normalize", "balance", "weights",
                "reference", "arm", "stage", "role", "image_role", "derivative_method",
                "derivative_fallback", "video", "search")
LIST_SEPARATOR = ";"  # joins a run's experiments (and questions) in one column


def row_of(saved: dict, folder: str = "") -> dict:
    """A run's record (`record`) as one flat row of summary.csv: its labels, settings (balance:
    the loss-balancing scheme, "none" for a record written before it existed), target
    variances, effective weights, final metrics (non-finite: nan) and derivative path; `folder`
    names a run that was not planned by a sweep (a single run trained into runs/). A record
    without the image's label or the across-images name gets them from its recorded config."""
    cfg, final, labels = saved.get("config", {}), saved.get("final", {}), saved.get("labels", {})
    sched, loss = cfg.get("schedule", {}), cfg.get("loss", {})
    name = labels.get("name") or folder
    configuration = labels.get("configuration") or name
    row = {"name": name, "configuration": configuration,
           "across_images": _across_images(saved, configuration),
           "experiments": LIST_SEPARATOR.join(saved.get("experiments", [])),
           "questions": LIST_SEPARATOR.join(saved.get("questions", [])),
           "status": saved.get("status"),
           "activation": cfg.get("model", {}).get("activation"),
           "width": cfg.get("model", {}).get("width"),
           "depth": cfg.get("model", {}).get("depth"),
           "scale": _scale(cfg.get("model", {})),
           "scheduler": sched.get("kind"),
           "lr": Schedule.from_dict(sched).display_lr if sched else None,
           **{f"beta_{k}": loss.get(k) for k in LOSS_TERMS},
           "normalize": loss.get("normalize", "none"),
           "balance": loss.get("balance", "none"),
           **{f"effective_{t}": saved.get("effective_weights", {}).get(t) for t in MSE_TERMS},
           **{f"variance_{f}": saved.get("target_variances", {}).get(f) for f in FIELDS},
           "weights": labels.get("weights_name") or "",
           "reference": labels.get("reference") or "",
           "arm": labels.get("arm") or "",
           "stage": labels.get("stage") or "",
           "role": labels.get("role") or "",
           "image_role": labels.get("image_role") or "",
           "seed": labels.get("seed", cfg.get("train", {}).get("seed")),
           "steps": cfg.get("train", {}).get("steps"),
           "image": saved.get("image") or image_label(cfg.get("data", {}).get("image") or ""),
           "image_file": cfg.get("data", {}).get("image") or "",
           "size": cfg.get("data", {}).get("size"),
           "frames": cfg.get("data", {}).get("frames")}
    for key in (*METRICS, *(HELDOUT_PREFIX + m for m in METRICS)):
        row[key] = _number(final.get(key))
    row["best_psnr"] = _number(saved.get("best", {}).get("psnr"))
    row["seconds"] = _number(final.get("seconds"))
    row["derivative_method"] = final.get("derivative_method", "")
    row["derivative_fallback"] = final.get("derivative_fallback", "")
    row["video"] = saved.get("video") or ""
    searched = cfg.get("output", {})  # a loss-weight search's labels (inr.sweep.search)
    row["search"] = searched.get("search") or ""
    for key in ("search_seed", "trial", "search_batch", "ask_seconds"):
        row[key] = searched.get(key)
    return row


def by_image(rows: list[dict]) -> dict[str, list[dict]]:
    """The rows grouped by their `image` column ('' for none), images in first-seen order."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row.get("image") or "", []).append(row)
    return groups


def _across_images(saved: dict, configuration: str) -> str:
    """A record's across-images name: as recorded, or, for a record that carries none, built
    from its recorded config (inr.artefacts.tree.across_images_name); `configuration` for an
    unreadable config."""
    labels = saved.get("labels", {})
    if labels.get("across_images"):
        return labels["across_images"]
    try:
        cfg = RunConfig.from_dict(saved.get("config", {}))
    except (TypeError, ValueError):
        return configuration
    return across_images_name(configuration, labels.get("weights_name") or None, cfg)


def _scale(model: dict) -> float:
    """The activation's frequency or scale of a recorded model section (nan for none)."""
    try:
        scale = ModelConfig(**model).scale
    except TypeError:
        return math.nan
    return math.nan if scale is None else float(scale)


def _number(x) -> float:
    return math.nan if x is None else float(x)
