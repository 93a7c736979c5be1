"""One training run, or several trained together as a batched ensemble, and its outputs.

`train(config)` trains one run. `train_ensemble(configs)` trains M runs in one pass when they share
data, architecture, steps and batch (`ensemble_key`); each keeps its own seed, loss weights and
learning-rate schedule, and gets exactly what `train` alone would give it (within float
round-off). A run writes, into `output.run_dir`:

    events.out.tfevents.*   TensorBoard: train/*, eval/*, heldout/*, lr, panels, one HParams row
    config.json             the RunConfig, enough to reproduce the run
    checkpoint.pt           this model's parameters, its config and seed
    metrics.json            status (completed | diverged | interrupted), final and best metrics

and the video to `output.video`. Every file is written atomically. A NaN or inf loss ends that
model's training as "diverged" (the others go on); Ctrl-C ends all as "interrupted".

CLI: python -m inr.train --config run.toml [--run-dir DIR] [--video PATH]
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from inr.allocator import tune_allocator
from inr.config import DERIVATIVE_TERMS, RunConfig
from inr.data import TrainingData, default_times, diffuse, load_image
from inr.derivatives import derivatives
from inr.evaluate import METRICS, as_floats, evaluate, panel_fields, truth_fields
from inr.io import atomic_path, write_json_atomic
from inr.losses import perceptual_losses, squared_errors, weighted_loss
from inr.models import make_model, member_state_dict
from inr.optim import BatchedAdam
from inr.schedules import lrs_at

SAMPLING_SEED_OFFSET = 1_000_003  # batches draw from seed + offset, init from seed
W0_ACTIVATIONS = ("sine", "siren", "finer")
VIDEO_FPS = 4


@dataclass
class RunResult:
    """What a run produced. metrics: final metrics (inr.evaluate.METRICS, heldout_* when
    evaluated) plus status, steps_done, diverged_at, seconds; best: the eval with the best PSNR."""
    config: RunConfig
    metrics: dict
    best: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    run_dir: Path | None = None
    video: Path | None = None
    model: torch.nn.Module | None = None

    @property
    def status(self) -> str:
        return self.metrics["status"]


def ensemble_key(config: RunConfig) -> str:
    """Runs with equal keys can train together: same data, model, steps, batch, device, dtype."""
    train = dataclasses.asdict(config.train)
    train.pop("seed")
    return repr((dataclasses.asdict(config.data), dataclasses.asdict(config.model), train))


def build_data(config: RunConfig):
    """(training TrainingData, held-out TrainingData or None) on the run's device and dtype.

    Held-out frames lie at the midpoints between training times: they measure interpolation.
    """
    d = config.data
    image = load_image(d.image, size=d.size)
    times = default_times(d.frames, d.t_start, d.t_stop)
    as_data = lambda ts: TrainingData(diffuse(image, ts, d.diffusivity, d.method),  # noqa: E731
                                      config.resolved_device(), config.torch_dtype)
    heldout = as_data(0.5 * (times[1:] + times[:-1])) if d.heldout and d.frames > 1 else None
    return as_data(times), heldout


def build_model(configs: list[RunConfig]) -> torch.nn.Module:
    m = configs[0].model
    kw = {"w0": m.w0} if m.activation in W0_ACTIVATIONS else {}
    model = make_model(m.activation, m.width, m.depth, models=len(configs),
                       seed=[c.train.seed for c in configs], **kw)
    return model.to(configs[0].resolved_device(), configs[0].torch_dtype)


def train(config: RunConfig) -> RunResult:
    """Train one run (see module doc) and return its result."""
    return train_ensemble([config])[0]


def train_ensemble(configs: list[RunConfig], progress: bool | None = None,
                   description: str = "train", on_eval=None,
                   state_path=None) -> list[RunResult]:
    """Train the runs together as one batched ensemble; one RunResult per config, in order.

    on_eval(step, records): called after every evaluation with one metrics dict per run (e.g. to
    report to Ray Tune). state_path: a file for mid-run checkpoints (model, optimiser, batch
    generators, history) written atomically at every evaluation; when it exists and belongs to
    the same runs, training continues from it instead of from step 0.
    """
    configs = [c.validate() for c in configs]
    if not configs:
        raise ValueError("train_ensemble needs at least one config")
    tune_allocator()
    if len({ensemble_key(c) for c in configs}) != 1:
        raise ValueError("runs in one ensemble must share data, model, steps, batch and device")
    base = configs[0]
    data, heldout = build_data(base)
    model = build_model(configs)
    loop = _Loop(configs, model, data, heldout, on_eval, state_path)
    show = base.output.progress if progress is None else progress
    loop.run(show, description)
    return loop.finish()


class _Loop:
    """The state of one ensemble's training: the only stateful piece of the suite."""

    def __init__(self, configs, model, data, heldout, on_eval=None, state_path=None):
        self.configs, self.model, self.data, self.heldout = configs, model, data, heldout
        self.on_eval = on_eval
        self.state_path = Path(state_path) if state_path else None
        self.m = len(configs)
        self.device, self.dtype = data.device, data.dtype
        self.steps = configs[0].train.steps
        self.streams = tuple(s for s in ("value", "grad", "laplacian", "dt")
                             if any(s in c.loss.streams() for c in configs))
        weight = lambda name: torch.tensor([getattr(c.loss, name) for c in configs],  # noqa
                                           dtype=self.dtype, device=self.device)
        self.weights = {n: weight(n) for n in (*DERIVATIVE_TERMS, "ssim", "ms_ssim")}
        self.perceptual = any(bool(self.weights[n].any()) for n in ("ssim", "ms_ssim"))
        self.optim = BatchedAdam(model.parameters())
        self.generators = [torch.Generator().manual_seed(c.train.seed + SAMPLING_SEED_OFFSET)
                           for c in configs]
        self.diverged_at = [None] * self.m
        self.status = ["completed"] * self.m
        self.history = [[] for _ in configs]
        self.steps_done = 0
        self.truth = truth_fields(data)
        self.started = time.time()
        self._renderer = None
        self._restore()
        self.writers = [_writer(c, self.steps_done) for c in configs]

    # ---------------------------------------------------------------- mid-run checkpoints
    def _state(self) -> dict:
        return {"identities": [c.identity() for c in self.configs], "step": self.steps_done,
                "model": self.model.state_dict(), "optim": self.optim.state_dict(),
                "generators": [g.get_state() for g in self.generators],
                "diverged_at": self.diverged_at, "status": self.status, "history": self.history}

    def _save_state(self):
        if self.state_path is not None:
            with atomic_path(self.state_path) as tmp:
                torch.save(self._state(), tmp)

    def _restore(self):
        if self.state_path is None or not self.state_path.is_file():
            return
        state = torch.load(self.state_path, map_location=self.device, weights_only=False)
        if state["identities"] != [c.identity() for c in self.configs]:
            return  # a checkpoint of other runs: start afresh
        self.model.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optim"])
        for g, s in zip(self.generators, state["generators"]):
            g.set_state(s)
        self.steps_done, self.diverged_at = state["step"], state["diverged_at"]
        self.status = ["completed" if s == "interrupted" else s for s in state["status"]]
        self.history = state["history"]

    # ---------------------------------------------------------------- batches
    def batch(self) -> dict:
        """Per-model batches (M, N, ...), each model drawing from its own generator."""
        cfg = self.configs[0].train
        n_total = self.data.tensors["value"].shape[0]
        if cfg.batch == "frame":
            n = self.data.points_per_frame
            frames = [int(torch.randint(self.data.shape[0], (1,), generator=g)) for g in self.generators]
            index = torch.stack([torch.arange(f * n, (f + 1) * n) for f in frames])
        else:
            index = torch.stack([torch.randint(n_total, (cfg.points,), generator=g)
                                 for g in self.generators])
        return self.data.take(index.to(self.device))

    # ---------------------------------------------------------------- one step
    def step(self, step: int) -> torch.Tensor:
        batch = self.batch()
        out = derivatives(self.model, batch["coords"], self.streams)
        terms = squared_errors(out, batch, self.weights)
        if self.perceptual:
            terms.update(perceptual_losses(out["value"], batch["value"], self.data.shape[1:]))
        losses = weighted_loss(terms, self.weights)  # (M,)
        alive = torch.tensor([d is None for d in self.diverged_at], device=self.device)
        bad = alive & ~torch.isfinite(losses)
        for m in torch.nonzero(bad).flatten().tolist():
            self.diverged_at[m] = step
            self.status[m] = "diverged"
        alive &= ~bad
        self.optim.zero_grad()
        if bool(alive.any()):
            losses[alive].sum().backward()
        if not bool(alive.all()):
            for p in self.model.parameters():  # a diverged model is frozen where it stands
                if p.grad is not None:
                    p.grad[~alive] = 0
        lrs = lrs_at([c.schedule for c in self.configs], step, self.steps, dtype=self.dtype,
                     device=self.device) * alive
        self.optim.step(lrs)
        self._log_train(step, losses.detach(), {k: v.detach() for k, v in terms.items()}, lrs)
        return losses.detach()

    def _log_train(self, step, losses, terms, lrs):
        every = max(1, self.configs[0].train.eval_every // 10)
        if step % every and step != self.steps - 1:
            return
        for m, writer in enumerate(self.writers):
            if writer is None or self.diverged_at[m] is not None:
                continue
            scalars = {"loss": float(losses[m]), "lr": float(lrs[m])}
            scalars.update({f"{k}_loss": float(v[m]) for k, v in terms.items()
                            if float(self.weights[k][m]) > 0})
            _log_scalars(writer, "train", scalars, step)

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, step: int, panels: bool, final: bool = False) -> dict:
        """Metrics of every model on all training frames (and, at the final evaluation, on the
        held-out frames between them); logs scalars and panels; calls on_eval."""
        metrics, pred = evaluate(self.model, self.data, self.configs[0].data.diffusivity)
        held = None
        if self.heldout is not None and final:
            held, _ = evaluate(self.model, self.heldout, self.configs[0].data.diffusivity)
        records = []
        for m, (writer, cfg) in enumerate(zip(self.writers, self.configs)):
            record = {"step": step, **as_floats(metrics, m)}
            if held is not None:
                record.update({f"heldout_{k}": v for k, v in as_floats(held, m).items()})
            repeated = bool(self.history[m]) and self.history[m][-1]["step"] == step
            if self.diverged_at[m] is None and not repeated:
                self.history[m].append(record)
            records.append(record)
            if writer is None:
                continue
            _log_scalars(writer, "eval", as_floats(metrics, m), step)
            if held is not None:
                _log_scalars(writer, "heldout", as_floats(held, m), step)
            if panels and cfg.output.panels and self.diverged_at[m] is None:
                frame = self.data.shape[0] // 2
                image = self.renderer().render(panel_fields(pred, m), frame,
                                        title=f"{cfg.model.activation} · step {step}")
                writer.add_image("panels/truth_vs_prediction", image, step, dataformats="HWC")
        if self.on_eval is not None:
            self.on_eval(step, records)
        return metrics, pred

    def renderer(self):
        """One panel figure for the whole ensemble (same truth), made when first needed."""
        if self._renderer is None:
            from inr.panels import PanelRenderer
            self._renderer = PanelRenderer(panel_fields(self.truth))
        return self._renderer

    # ---------------------------------------------------------------- the loop
    def run(self, show: bool, description: str):
        from tqdm.auto import tqdm

        every = self.configs[0].train.eval_every
        bar = tqdm(range(self.steps_done, self.steps), desc=description, disable=not show,
                   leave=False, dynamic_ncols=True, initial=self.steps_done, total=self.steps)
        psnr = float("nan")
        try:
            for step in bar:
                losses = self.step(step)
                self.steps_done = step + 1
                if self.steps_done % every == 0 and self.steps_done < self.steps:
                    metrics, _ = self.evaluate(self.steps_done, panels=True)
                    psnr = _best_alive(metrics["psnr"], self.diverged_at)
                    self._save_state()
                if show:
                    bar.set_postfix(loss=f"{_best_alive(losses, self.diverged_at, min):.3g}",
                                    psnr=f"{psnr:.1f}", alive=self.m - self._n_diverged())
                if self._n_diverged() == self.m:
                    break
        except KeyboardInterrupt:
            self.status = ["interrupted" if s == "completed" else s for s in self.status]
        finally:
            bar.close()

    def _n_diverged(self) -> int:
        return sum(d is not None for d in self.diverged_at)

    # ---------------------------------------------------------------- outputs
    def finish(self) -> list[RunResult]:
        metrics, pred = self.evaluate(self.steps_done, panels=True, final=True)
        seconds = time.time() - self.started
        results = []
        for m, cfg in enumerate(self.configs):
            final = dict(self.history[m][-1]) if self.history[m] else as_floats(metrics, m)
            final.pop("step", None)
            if self.status[m] == "diverged":
                final = {k: float("nan") for k in final}
            final.update(status=self.status[m], steps_done=self.steps_done,
                         diverged_at=self.diverged_at[m], seconds=seconds / self.m)
            best = max(self.history[m], key=lambda r: _finite_or(r["psnr"]), default={})
            video = None
            if cfg.output.video and self.status[m] != "diverged":
                video = _write_video(cfg, self.renderer(), panel_fields(pred, m),
                                     self.data.sequence.times)
            result = RunResult(cfg, final, best, self.history[m], _dir(cfg), video,
                               self.model.member(m) if self.m > 1 else self.model)
            self._write_outputs(m, result)
            results.append(result)
        if self.state_path is not None:
            if "interrupted" in self.status:
                self._save_state()
            else:
                self.state_path.unlink(missing_ok=True)
        return results

    def _write_outputs(self, m: int, result: RunResult):
        cfg, writer = result.config, self.writers[m]
        if writer is not None:
            from inr.tblog import log_hparams
            log_hparams(writer, hparams_of(cfg), {f"final/{k}": v for k, v in
                                                  result.metrics.items() if k in METRICS})
            writer.close()
        run_dir = result.run_dir
        if run_dir is None:
            return
        cfg.save(run_dir / "config.json")
        with atomic_path(run_dir / "checkpoint.pt") as tmp:
            torch.save({"model": member_state_dict(self.model.state_dict(), m),
                        "model_config": self.model.config, "config": cfg.to_dict(),
                        "seed": cfg.train.seed, "steps_done": self.steps_done}, tmp)
        write_json_atomic(run_dir / "metrics.json", {
            "status": result.metrics["status"], "final": result.metrics, "best": result.best,
            "experiments": [cfg.output.experiment] if cfg.output.experiment else [],
            "history": result.history, "video": str(result.video) if result.video else None,
            "config": cfg.to_dict(), "target_scales": self.data.sequence.target_scales()})


# -------------------------------------------------------------------- helpers

def hparams_of(cfg: RunConfig) -> dict:
    """One HParams row: identical keys in every run."""
    return {"activation": cfg.model.activation, "width": cfg.model.width,
            "depth": cfg.model.depth, "w0": cfg.model.w0, "scheduler": cfg.schedule.kind,
            "lr": cfg.schedule.lr, **{f"beta_{n}": getattr(cfg.loss, n) for n in
                                      (*DERIVATIVE_TERMS, "ssim", "ms_ssim")},
            "steps": cfg.train.steps, "batch": cfg.train.batch, "size": cfg.data.size or 0,
            "frames": cfg.data.frames, "seed": cfg.train.seed}


def _dir(cfg: RunConfig) -> Path | None:
    return Path(cfg.output.run_dir) if cfg.output.run_dir else None


def _writer(cfg: RunConfig, resumed_at: int = 0):
    """The run's SummaryWriter: a fresh log, or, when continuing from a mid-run checkpoint, the
    old log with anything after the checkpoint's step purged."""
    run_dir = _dir(cfg)
    if run_dir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter
    run_dir.mkdir(parents=True, exist_ok=True)
    if resumed_at:
        return SummaryWriter(log_dir=str(run_dir), purge_step=resumed_at)
    for old in run_dir.glob("events.out.tfevents.*"):  # a redone run starts a clean log
        old.unlink()
    return SummaryWriter(log_dir=str(run_dir))


def _log_scalars(writer, prefix, values, step):
    from inr.tblog import log_scalars
    log_scalars(writer, prefix, values, step)


def _write_video(cfg, renderer, pred_panels, times) -> Path:
    from inr.video import write_video
    title = f"{cfg.model.activation} · lr {cfg.schedule.lr:g} {cfg.schedule.kind}"
    frames = [renderer.render(pred_panels, j, title=f"{title} · t = {t:.2f}")
              for j, t in enumerate(times)]
    return write_video(cfg.output.video, frames, fps=VIDEO_FPS)


def _finite_or(x, default=-np.inf):
    return x if np.isfinite(x) else default


def _best_alive(values: torch.Tensor, diverged_at, pick=max) -> float:
    alive = [float(v) for v, d in zip(values, diverged_at) if d is None and torch.isfinite(v)]
    return pick(alive) if alive else float("nan")


# -------------------------------------------------------------------- CLI

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inr.train", description="Train one coordinate network on a diffusion "
        "sequence and write its TensorBoard log, checkpoint, metrics.json and video.")
    parser.add_argument("--config", help="a run config (.json or .toml); omitted sections and "
                        "fields take the quick profile's defaults")
    parser.add_argument("--profile", choices=("quick", "paper"), default=None,
                        help="base settings: quick (CPU-sized, default without a GPU) or paper")
    parser.add_argument("--run-dir", default="runs/single", help="output folder (default: %(default)s)")
    parser.add_argument("--video", default="videos/single.mp4",
                        help="video path, .mp4 or .gif; 'none' for no video (default: %(default)s)")
    parser.add_argument("--steps", type=int, help="override train.steps")
    parser.add_argument("--device", help="override train.device (cpu, cuda, auto)")
    args = parser.parse_args(argv)
    from inr.config import profile_config
    try:
        config = profile_config(args.profile)
        if args.config:
            config = RunConfig.load(args.config, base=config)
        overrides = {k: v for k, v in (("steps", args.steps), ("device", args.device)) if v}
        video = None if args.video.lower() == "none" else args.video
        config = config.replace(train=overrides, output={"run_dir": args.run_dir, "video": video})
        config.validate()
    except ValueError as err:
        parser.error(str(err))
    result = train(config)
    m = result.metrics
    print(f"{m['status']}: psnr {m['psnr']:.2f} dB, ssim {m['ssim']:.4f}, grad_mse "
          f"{m['grad_mse']:.4g}, laplacian_mse {m['laplacian_mse']:.4g}, dt_mse {m['dt_mse']:.4g}"
          f" -> {result.run_dir}")
    return 0 if m["status"] == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
