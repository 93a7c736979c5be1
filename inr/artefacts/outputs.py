"""What an ensemble's runs show while and after they train: TensorBoard scalars and prediction
panels, one HParams row per run, and each run's panel video.

Tags: train/loss, train/lr, train/<term>_loss (the terms a run trains on), weights/<term> (a
balanced run's weight λ of each MSE term, inr.training.balance: the weight the loss puts on the
term as trained, after loss.normalize; logged with the training scalars), eval/<metric> at every
evaluation, heldout/<metric> at the final one, final/<metric> beside the HParams row, and the
image panels/truth_vs_prediction (the middle frame) at every evaluation. One panel renderer
serves the whole ensemble, since its members share the truth.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from inr.config import RunConfig
from inr.config.weights import effective_weights
from inr.artefacts.panels import PanelRenderer, panel_columns
from inr.artefacts.rundir import RunDir
from inr.artefacts.tblog import log_hparams, log_panel, log_scalars
from inr.artefacts.video import panel_frames, write_video
from inr.vocabulary import HELDOUT_PREFIX, LOSS_TERMS, METRICS

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

VIDEO_FPS = 4
TRAIN_LOGS_PER_EVALUATION = 10  # training scalars are logged this often between evaluations
PANEL_TAG = "panels/truth_vs_prediction"


def hparams_of(cfg: RunConfig, variances: dict[str, float], final: dict) -> dict:
    """One HParams row: the same keys in every run (lr: the schedule's display_lr, as in
    summary.csv). variances: each field's target variance; final: the run's final record, for
    the derivative path that ran."""
    return {"activation": cfg.model.activation, "width": cfg.model.width,
            "depth": cfg.model.depth, "w0": cfg.model.w0, "scheduler": cfg.schedule.kind,
            "lr": cfg.schedule.display_lr,
            **{f"beta_{n}": getattr(cfg.loss, n) for n in LOSS_TERMS},
            "normalize": cfg.loss.normalize, "balance": cfg.loss.balance,
            **{f"effective_{t}": w for t, w in effective_weights(cfg.loss, variances).items()},
            **{f"variance_{f}": v for f, v in variances.items()},
            "steps": cfg.train.steps, "batch": cfg.train.batch, "size": cfg.data.size or 0,
            "frames": cfg.data.frames, "seed": cfg.train.seed,
            "derivative_method": final.get("derivative_method", ""),
            "derivative_fallback": final.get("derivative_fallback", "")}


def open_log(run: RunDir | None, resumed_at: int) -> SummaryWriter | None:
    """The run's SummaryWriter: a fresh log, or, when continuing from a mid-run checkpoint, the
    old log with anything after the checkpoint's step purged. None for a run without a folder."""
    if run is None:
        return None
    from torch.utils.tensorboard import SummaryWriter  # tensorboard stays off the import path

    run.prepare(resumed=bool(resumed_at))
    return SummaryWriter(log_dir=str(run.path), purge_step=resumed_at or None)


class EnsembleOutputs:
    """The logs and videos of an ensemble's runs (nothing for a run without a folder).

    truth: the fields' targets (T, H, W[, 2]); times (T,): the frames' times; variances: each
    field's target variance (for the HParams row).
    """

    def __init__(self, configs: list[RunConfig], truth: dict, times: Sequence[float] | np.ndarray,
                 variances: dict, resumed_at: int = 0) -> None:
        self.configs, self.truth, self.times, self.variances = configs, truth, times, variances
        self.writers = [open_log(RunDir.of(c), resumed_at) for c in configs]
        self.steps = configs[0].train.steps
        self.log_every = max(1, configs[0].train.eval_every // TRAIN_LOGS_PER_EVALUATION)
        self._renderer = None

    def renderer(self) -> PanelRenderer:
        """One panel figure for the whole ensemble (same truth), made when first needed."""
        if self._renderer is None:
            self._renderer = PanelRenderer(panel_columns(self.truth))
        return self._renderer

    def logs_at(self, step: int) -> bool:
        """Whether training scalars are logged at `step`: every few steps, and the last."""
        return step % self.log_every == 0 or step == self.steps - 1

    def training(self, step: int, losses: torch.Tensor, terms: dict, lrs: torch.Tensor,
                 alive: list[bool], weights: dict | None = None) -> None:
        """Loss, lr and each trained term's loss of every live run, at a logging step, and a
        balanced run's weights. losses, lrs, terms[name], weights[term]: (M,); weights: the
        MSE terms' weights this step used, None where the ensemble does not balance."""
        losses, lrs = losses.cpu(), lrs.cpu()  # one read of the device, not one per number
        terms = {k: v.cpu() for k, v in terms.items()}
        weights = {k: v.cpu() for k, v in (weights or {}).items()}
        for m, (writer, cfg) in enumerate(zip(self.writers, self.configs)):
            if writer is None or not alive[m]:
                continue
            scalars = {"loss": float(losses[m]), "lr": float(lrs[m])}
            scalars.update({f"{k}_loss": float(v[m]) for k, v in terms.items()
                            if cfg.loss.trains(k)})
            log_scalars(writer, "train", scalars, step)
            if weights and cfg.loss.balanced:
                log_scalars(writer, "weights", {k: float(v[m]) for k, v in weights.items()},
                            step)

    def evaluation(self, step: int, records: list[dict], pred: dict, alive: list[bool],
                   panels: bool = True) -> None:
        """Every run's evaluation metrics (held-out ones under heldout/) and, for live runs that
        log panels, its prediction panel of the middle frame. pred: fields (M, T, H, W[, 2])."""
        frame = len(self.times) // 2  # the renderer is made only when a panel is drawn
        for m, (writer, cfg) in enumerate(zip(self.writers, self.configs)):
            if writer is None:
                continue
            own = {k: v for k, v in records[m].items() if k in METRICS}
            held = {k.removeprefix(HELDOUT_PREFIX): v for k, v in records[m].items()
                    if k.startswith(HELDOUT_PREFIX)}
            log_scalars(writer, "eval", own, step)
            if held:
                log_scalars(writer, "heldout", held, step)
            if panels and cfg.output.panels and alive[m]:
                image = self.renderer().render(panel_columns({k: v[m] for k, v in pred.items()}),
                                               frame, title=f"{cfg.model.activation} · step {step}")
                log_panel(writer, PANEL_TAG, image, step)

    def video(self, m: int, pred: dict) -> Path | None:
        """Run m's panel video (every frame), where its config asks for one."""
        cfg = self.configs[m]
        if not cfg.output.video:
            return None
        title = f"{cfg.model.activation} · lr {cfg.schedule.lr:g} {cfg.schedule.kind}"
        titles = [f"{title} · t = {t:.2f}" for t in self.times]
        columns = panel_columns({k: v[m] for k, v in pred.items()})
        return write_video(cfg.output.video, panel_frames(self.renderer(), columns, titles),
                           fps=VIDEO_FPS)

    def abandon(self) -> None:
        """Close every run's log without an HParams row: the ensemble failed."""
        for writer in self.writers:
            if writer is not None:
                writer.close()

    def close(self, m: int, final: dict) -> None:
        """Run m's HParams row with its final metrics, and the end of its log."""
        writer = self.writers[m]
        if writer is None:
            return
        log_hparams(writer, hparams_of(self.configs[m], self.variances, final),
                    {f"final/{k}": v for k, v in final.items() if k in METRICS})
        writer.close()
