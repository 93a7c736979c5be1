"""One training run, or several trained together as a batched ensemble.

`train(config)` trains one run. `train_ensemble(configs)` trains M runs in one pass when they
share data, architecture, steps, batch and loss-balancing scheme (`ensemble_key`); each keeps its
own seed, loss weights and learning-rate schedule, and gets exactly what `train` alone would give
it (within float round-off). A run with output.run_dir set writes its folder
(inr.artefacts.rundir) and its video (output.video); inr.artefacts.outputs says what it logs. A
NaN or inf loss ends that model's training as "diverged" (the others go on); Ctrl-C ends all as
"interrupted", with outputs written.

The pieces: batches come from the data (TrainingData.sample), a step's losses from
inr.training.losses, a balanced run's weights from inr.training.balance, the update from
inr.training.optim, metrics from inr.training.evaluate, logs and videos from
inr.artefacts.outputs, files from inr.artefacts.rundir. `TrainingLoop` holds only the state that
changes while training.

The command line `python -m inr.train` (inr/train.py, inr.cli) calls into here.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from tqdm.auto import tqdm

from inr.training.allocator import tune_allocator
from inr.training.balance import BalanceState, Balancer, gradient_magnitudes
from inr.config import RunConfig
from inr.data import TrainingData, default_times, diffuse, load_image
from inr.model.derivatives import derivatives, resolve_method
from inr.training.evaluate import evaluate, truth_fields
from inr.io import atomic_path
from inr.training.losses import (normalized, perceptual_losses, squared_errors, term_divisors,
                        weighted_loss)
from inr.model.networks import CoordinateMLP, member_state_dict
from inr.training.optim import BatchedAdam
from inr.artefacts.outputs import EnsembleOutputs
from inr.artefacts.rundir import RunDir, RunResult
from inr.config.schedule import lrs_at
from inr.vocabulary import FIELDS, HELDOUT_PREFIX, LOSS_TERMS, MSE_TERMS, PERCEPTUAL_TERMS, Status

SAMPLING_SEED_OFFSET = 1_000_003  # batches draw from seed + offset, init from seed


def ensemble_key(config: RunConfig) -> str:
    """Runs with equal keys can train together: same data, model, steps, batch, device, dtype
    and loss-balancing scheme (loss.balance, with its balance_every); an ensemble holds one."""
    train = dataclasses.asdict(config.train)
    train.pop("seed")
    balance = (config.loss.balance, config.loss.balance_every)
    return repr((dataclasses.asdict(config.data), dataclasses.asdict(config.model), train,
                 balance))


def build_data(config: RunConfig) -> tuple[TrainingData, TrainingData | None]:
    """(training frames, held-out frames or None) on the run's device and dtype.

    Held-out frames lie at the midpoints between training times: they measure interpolation.
    """
    d = config.data
    image = load_image(d.image, size=d.size)
    times = default_times(d.frames, d.t_start, d.t_stop)
    as_data = lambda ts: TrainingData(diffuse(image, ts, d.diffusivity, d.method),  # noqa: E731
                                      config.resolved_device(), config.torch_dtype)
    heldout = as_data(0.5 * (times[1:] + times[:-1])) if d.heldout and d.frames > 1 else None
    return as_data(times), heldout


def build_model(configs: list[RunConfig]) -> CoordinateMLP:
    """The ensemble of the runs' networks, model m initialised from configs[m]'s seed."""
    model = configs[0].model.build([c.train.seed for c in configs])
    return model.to(configs[0].resolved_device(), configs[0].torch_dtype)


def train(config: RunConfig) -> RunResult:
    """Train one run (see module doc) and return its result."""
    return train_ensemble([config])[0]


def train_ensemble(configs: list[RunConfig], progress: bool | None = None,
                   description: str = "train",
                   on_eval: Callable[[int, list[dict[str, float]]], None] | None = None,
                   state_path: str | Path | None = None) -> list[RunResult]:
    """Train the runs together as one batched ensemble; one RunResult per config, in order.

    on_eval(step, records): called after every evaluation with one metrics record per run (e.g.
    to report to Ray Tune). state_path: a file for mid-run checkpoints (model, optimiser, batch
    generators, history) written atomically at every evaluation; when it exists and belongs to
    the same runs, training continues from it instead of from step 0.
    """
    configs = [c.validate() for c in configs]
    if not configs:
        raise ValueError("train_ensemble needs at least one config")
    if len({ensemble_key(c) for c in configs}) != 1:
        raise ValueError("runs in one ensemble must share data, model, steps, batch, device and "
                         "loss.balance")
    tune_allocator()
    with matmul_precision(configs[0].train.matmul_precision):
        data, heldout = build_data(configs[0])
        loop = TrainingLoop(configs, build_model(configs), data, heldout, on_eval, state_path)
        show = configs[0].output.progress if progress is None else progress
        try:
            loop.run(show, description)
            return loop.finish()
        except BaseException:
            loop.outputs.abandon()  # e.g. out of memory: close the logs, keep nothing open
            raise


@contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """torch's float32 matmul precision ("highest" or "high", TF32) inside, restored after."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def _weights(configs, dtype, device) -> dict[str, torch.Tensor]:
    """The weight per model of every loss term that some model trains on: name -> (M,)."""
    return {name: torch.tensor([getattr(c.loss, name) for c in configs], dtype=dtype,
                               device=device)
            for name in LOSS_TERMS if any(getattr(c.loss, name) > 0 for c in configs)}


def _trained(configs, dtype, device) -> dict[str, torch.Tensor]:
    """Which models train on which MSE term: name -> (M,), 1 where a model trains on it (a
    balanced run trains on all four), else 0, for terms that some model trains on."""
    return {t: torch.tensor([float(c.loss.trains(t)) for c in configs], dtype=dtype,
                            device=device)
            for t in MSE_TERMS if any(c.loss.trains(t) for c in configs)}


def _same_identities(saved: list[dict], configs: list[RunConfig]) -> bool:
    """Whether a checkpoint's identities are the runs' own; a field added since the checkpoint
    was written takes its default, as it had then."""
    try:
        read = [RunConfig.from_dict(i).identity() for i in saved]
    except (TypeError, ValueError):
        return False
    return json.loads(json.dumps(read)) == json.loads(json.dumps([c.identity() for c in configs]))


def _lr_table(configs, steps: int, dtype, device) -> torch.Tensor:
    """Every step's learning rate of every model, (steps, M), made once on the device so that a
    step reads no value back from it."""
    table = torch.stack([lrs_at([c.schedule for c in configs], s, steps, dtype=dtype)
                         for s in range(steps)])
    if not bool(torch.all(table >= 0)):
        raise ValueError("a schedule gives a negative learning rate")
    return table.to(device)


class TrainingLoop:
    """The state of one ensemble's training: the only stateful piece of the suite."""

    def __init__(self, configs: list[RunConfig], model: CoordinateMLP, data: TrainingData,
                 heldout: TrainingData | None,
                 on_eval: Callable[[int, list[dict[str, float]]], None] | None = None,
                 state_path: str | Path | None = None) -> None:
        self.configs, self.model, self.data, self.heldout = configs, model, data, heldout
        self.on_eval = on_eval
        self.state_path = Path(state_path) if state_path else None
        self.m = len(configs)
        self.settings = configs[0].train
        self.steps = self.settings.steps
        self.points = self.settings.points if self.settings.batch == "points" else None
        self.fields = tuple(f for f in FIELDS if any(f in c.loss.fields() for c in configs))
        self.weights = _weights(configs, data.dtype, data.device)
        # the MSE terms each model trains on; for a fixed-weight ensemble its weights themselves
        self.trained = self.weights if not configs[0].loss.balanced else \
            {**self.weights, **_trained(configs, data.dtype, data.device)}
        # an adaptive balance of the MSE terms' weights (inr.training.balance), or None
        self.balancer = Balancer.of([c.loss for c in configs], [c.train.seed for c in configs],
                                    self.steps, data.dtype, data.device)
        self.balance = None if self.balancer is None else \
            self.balancer.start([c.loss for c in configs], data.dtype, data.device)
        self.variances = data.sequence.target_variances()
        self.divisors = term_divisors([c.loss for c in configs], self.variances, data.dtype,
                                      data.device)
        self.perceptual = any(n in self.weights for n in PERCEPTUAL_TERMS)
        # the derivative path, settled (and the fused kernel built) before the first step
        self.method, self.fallback = resolve_method(self.settings.derivative_method, data.device,
                                                    data.dtype, model.act.name)
        self.lrs = _lr_table(configs, self.steps, data.dtype, data.device)
        self.optim = BatchedAdam(model.parameters())
        self.generators = [torch.Generator().manual_seed(c.train.seed + SAMPLING_SEED_OFFSET)
                           for c in configs]
        self.diverged_at = [None] * self.m
        self.status = [Status.COMPLETED] * self.m
        self.history = [[] for _ in configs]
        self.steps_done = 0
        self.started = time.time()
        self._restore()
        # divergence as the device sees it: read back only where logs, evaluations and
        # checkpoints need it (`_note_divergence`), so that a step never waits for the device
        self.live = torch.tensor(self.alive(), device=data.device)
        self.read_every_step = data.device.type == "cpu"  # a CPU read waits for nothing
        self.diverged_step = torch.tensor([-1 if d is None else d for d in self.diverged_at],
                                          device=data.device)
        self.outputs = EnsembleOutputs(configs, truth_fields(data), data.sequence.times,
                                       self.variances, self.steps_done)

    def alive(self) -> list[bool]:
        return [d is None for d in self.diverged_at]

    def _note_divergence(self) -> None:
        """Bring the device's record of diverged models into diverged_at and status."""
        for m, at in enumerate(self.diverged_step.tolist()):
            if at >= 0 and self.diverged_at[m] is None:
                self.diverged_at[m], self.status[m] = at, Status.DIVERGED

    # ---------------------------------------------------------------- mid-run checkpoints
    def _save_state(self):
        if self.state_path is None:
            return
        self._note_divergence()
        state = {"identities": [c.identity() for c in self.configs], "step": self.steps_done,
                 "model": self.model.state_dict(), "optim": self.optim.state_dict(),
                 "generators": [g.get_state() for g in self.generators],
                 "diverged_at": self.diverged_at, "status": self.status, "history": self.history,
                 "balance": None if self.balance is None else self.balance.state_dict()}
        with atomic_path(self.state_path) as tmp:
            torch.save(state, tmp)

    def _restore(self):
        if self.state_path is None or not self.state_path.is_file():
            return
        state = torch.load(self.state_path, map_location=self.data.device, weights_only=False)
        if not _same_identities(state["identities"], self.configs):
            return  # a checkpoint of other runs: start afresh
        self.model.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optim"])
        for g, s in zip(self.generators, state["generators"]):
            g.set_state(s)
        self.steps_done, self.diverged_at = state["step"], state["diverged_at"]
        self.status = [Status.COMPLETED if s == Status.INTERRUPTED else s for s in state["status"]]
        self.history = state["history"]
        if self.balancer is not None:
            self.balance = BalanceState.from_state_dict(state["balance"])

    # ---------------------------------------------------------------- one step
    def step(self, step: int) -> torch.Tensor:
        """One optimiser step of every live model; returns the losses (M,)."""
        batch = self.data.sample(self.generators, self.points)
        out = derivatives(self.model, batch["coords"], self.fields, self.method)
        terms = normalized(squared_errors(out, batch, self.trained), self.divisors)
        if self.perceptual:
            terms.update(perceptual_losses(out["value"], batch["value"], self.data.shape[1:]))
        weights = self.weights if self.balancer is None else self._balanced(step, terms)
        losses = weighted_loss(terms, weights)  # (M,)
        finite = torch.isfinite(losses.detach())
        self.diverged_step = torch.where(self.live & ~finite, step, self.diverged_step)
        self.live = self.live & finite
        lrs = self.lrs[step] * self.live
        self.optim.descend(losses, self.live, lrs)
        if self.outputs.logs_at(step):
            self._note_divergence()
            self.outputs.training(step, losses.detach(),
                                  {k: v.detach() for k, v in terms.items()}, lrs, self.alive(),
                                  None if self.balance is None else self.balance.weights)
        return losses.detach()

    def _balanced(self, step: int, terms: dict) -> dict[str, torch.Tensor]:
        """Every loss weight at `step` (name -> (M,)): the MSE terms' updated by the balancer
        from this step's terms (and, where the scheme asks, their parameter gradients), the
        perceptual terms' fixed."""
        mse = {t: terms[t] for t in MSE_TERMS}
        gradients = gradient_magnitudes(mse, self.optim.params, self.live) \
            if self.balancer.needs_gradients(step) else None
        self.balance = self.balancer.update(self.balance, step, mse, self.live, gradients)
        return {**self.weights, **self.balance.weights}

    # ---------------------------------------------------------------- evaluation
    def measure(self, step: int, final: bool = False) -> tuple[list[dict], dict]:
        """Every model's metrics on all training frames (and, at the final evaluation, on the
        held-out frames between them), kept in the history, logged, and handed to on_eval.
        Returns (one record per model, the predictions (M, T, H, W[, 2]))."""
        self._note_divergence()
        diffusivity = self.configs[0].data.diffusivity
        with matmul_precision("highest"):  # metrics in full float32 even when training in TF32
            records, pred = evaluate(self.model, self.data, diffusivity, self.method)
            held = evaluate(self.model, self.heldout, diffusivity, self.method)[0] \
                if self.heldout is not None and final else None
        if held is not None:
            for record, extra in zip(records, held):
                record.update({HELDOUT_PREFIX + k: v for k, v in extra.items()})
        for m, record in enumerate(records):
            record["step"] = step
            repeated = bool(self.history[m]) and self.history[m][-1]["step"] == step
            if self.diverged_at[m] is None and not repeated:
                self.history[m].append(record)
        self.outputs.evaluation(step, records, pred, self.alive())
        if self.on_eval is not None:
            self.on_eval(step, records)
        return records, pred

    # ---------------------------------------------------------------- the loop
    def run(self, show: bool, description: str) -> None:
        every = self.settings.eval_every
        bar = tqdm(range(self.steps_done, self.steps), desc=description, disable=not show,
                   leave=False, dynamic_ncols=True, initial=self.steps_done, total=self.steps)
        psnr = math.nan
        try:
            for step in bar:
                losses = self.step(step)
                self.steps_done = step + 1
                if self.steps_done % every == 0 and self.steps_done < self.steps:
                    records, _ = self.measure(self.steps_done)
                    psnr = _best_alive([r["psnr"] for r in records], self.alive(), max)
                    self._save_state()
                if self.read_every_step or self.outputs.logs_at(step):
                    self._note_divergence()
                    if show:
                        best = _best_alive(losses.tolist(), self.alive(), min)
                        bar.set_postfix(loss=f"{best:.3g}", psnr=f"{psnr:.1f}",
                                        alive=sum(self.alive()))
                    if not any(self.alive()):
                        break
        except KeyboardInterrupt:
            self.status = [Status.INTERRUPTED if s == Status.COMPLETED else s for s in self.status]
        finally:
            bar.close()

    # ---------------------------------------------------------------- outputs
    def _final_weights(self, m: int) -> dict[str, float] | None:
        """Model m's MSE-term weights after training (term -> λ), for a balanced run; else None."""
        if self.balance is None:
            return None
        return {t: float(self.balance.weights[t][m]) for t in MSE_TERMS}

    def finish(self) -> list[RunResult]:
        """The final evaluation, then every run's video, log, checkpoint and record."""
        records, pred = self.measure(self.steps_done, final=True)  # notes divergence too
        seconds = time.time() - self.started
        results = []
        for m, cfg in enumerate(self.configs):
            last = self.history[m][-1] if self.history[m] else records[m]
            final = {k: v for k, v in last.items() if k != "step"}
            if self.status[m] == Status.DIVERGED:
                final = {k: math.nan for k in final}
            final.update(status=self.status[m], steps_done=self.steps_done,
                         diverged_at=self.diverged_at[m], seconds=seconds / self.m,
                         derivative_method=self.method, derivative_fallback=self.fallback)
            best = max(self.history[m], key=lambda r: _finite_or(r["psnr"], -math.inf),
                       default={})
            video = self.outputs.video(m, pred) if self.status[m] != Status.DIVERGED else None
            run = RunDir.of(cfg)
            result = RunResult(cfg, final, best, self.history[m], run and run.path, video,
                               self.model.member(m) if self.m > 1 else self.model,
                               self._final_weights(m))
            self.outputs.close(m, final)
            if run is not None:
                run.save_run(result, member_state_dict(self.model.state_dict(), m),
                             self.model.config, self.variances)
            results.append(result)
        if self.state_path is not None:
            if Status.INTERRUPTED in self.status:
                self._save_state()
            else:
                self.state_path.unlink(missing_ok=True)
        return results


def _finite_or(x: float, default: float) -> float:
    return x if math.isfinite(x) else default


def _best_alive(values: list[float], alive: list[bool], pick) -> float:
    """The best finite value among live models (nan when none)."""
    kept = [v for v, a in zip(values, alive) if a and math.isfinite(v)]
    return pick(kept) if kept else math.nan
