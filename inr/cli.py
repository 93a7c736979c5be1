"""The command lines: `sweep.py` (plan, run and report sweeps) and `python -m inr.train` (one
run). Both check every input before training and answer bad input with one line.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from inr.artefacts.tree import SINGLE_RUN, OutputTree
from inr.config import (MATMUL_PRECISIONS, NORMALIZATIONS, PROFILES, REPO_ROOT, RunConfig,
                        default_profile, profile_config, read_config_file)
from inr.data import frame_shape, image_label, load_image, resolve_image
from inr.model.networks import ACTIVATION_CHOICES
from inr.report import build_report
from inr.report.markdown import best_table
from inr.sweep.engine import ENGINES, MAX_MODELS, check_engine, run_sweep
from inr.sweep.experiments import (Experiment, available, experiment_files, load_experiment,
                                   sets)
from inr.sweep.planning import check_development_images, plan
from inr.sweep.ray_backend import RayOptions, run_sweep_ray
from inr.sweep.comparison import comparison_runs, describe, search_settings, strategy_bests
from inr.sweep.search import (STRATEGIES, SearchOptions, front_runs, run_search, storage_url,
                              study_name)
from inr.stats.hypervolume import DEFAULT_OBJECTIVES
from inr.sweep.stages import (CONFIRM_SEEDS, CONFIRM_TOP, confirmation_outlook,
                              run_confirmed)
from inr.training.loop import train
from inr.training.metrics import ms_ssim_levels
from inr.vocabulary import HEADLINE_METRICS, ImageRole, Status

EXPERIMENT_ALL = "all"
SINGLE = OutputTree(Path("."))  # where `python -m inr.train` writes by default: ./runs/single
SINGLE_RUN_DIR, SINGLE_VIDEO = str(SINGLE.run_dir(SINGLE_RUN)), str(SINGLE.video(SINGLE_RUN))


def parser() -> argparse.ArgumentParser:
    """The options of sweep.py."""
    p = argparse.ArgumentParser(
        prog="sweep.py",
        description="Train coordinate networks on a heat-diffused image and compare how well "
        "they learn its gradient, Laplacian and time derivative. Finished runs are skipped, so "
        "an interrupted sweep resumes by running the same command again.",
        epilog="examples:\n  python sweep.py --random-weights 100\n"
        "  python sweep.py --experiment learning-rates --experiment activations\n"
        "  python sweep.py --experiment all --profile paper --device cuda\n"
        "  python sweep.py --report\nthen: tensorboard --logdir runs",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_argument_group("what to run")
    what.add_argument("--random-weights", type=int, metavar="N",
                      help="train N random loss-weight vectors (pixel, grad, laplacian, dt) drawn "
                      "from {1, 0.1, 0.01, 0.001, 0} (all-zero vectors and vectors equal up to "
                      "scale rejected), plus the references (1, 0, 0, 0) and the original's "
                      "best (1, 0.01, 0.001, 0); then a confirmation stage (--confirm-seeds)")
    what.add_argument("--experiment", action="append", default=[], metavar="NAME",
                      help=f"an experiment from experiments/ ({', '.join(available())}), "
                      f"'{EXPERIMENT_ALL}' for every one, a path to a .toml, or a set of "
                      f"experiments (a folder of them: {', '.join(sets())}; README, 'Study'); "
                      "repeatable")
    what.add_argument("--report", action="store_true",
                      help="only rebuild results/ (summary.csv, plots, REPORT.md) from the runs")
    what.add_argument("--curate", metavar="DIR",
                      help="with --report: write the report into DIR instead, without video "
                      "links (for a copy that is committed, e.g. results/curated/quick)")
    what.add_argument("--against", metavar="CSV",
                      help="with --report: check in REPORT.md whether the verdicts of another "
                      "report's comparisons.csv hold here, test by test (e.g. the medium "
                      "profile against results/curated/quick/comparisons.csv)")
    what.add_argument("--dry-run", action="store_true",
                      help="list the runs, whether they are done, and where they write; train nothing")
    search = p.add_argument_group("loss-weight search (README, 'Searching the weights')")
    search.add_argument("--search", metavar="STRATEGIES",
                        help=f"search the loss weights instead: comma-separated strategies of "
                        f"{', '.join(STRATEGIES)} (Optuna's TPE and Gaussian-process samplers, "
                        "random search), over the box --random-weights draws from, minimising "
                        "ln(pixel_mse) and ln(grad_mse); each search's final front is then "
                        "re-measured on --confirm-seeds fresh seeds. With --backend ray, "
                        "through Ray Tune's OptunaSearch, one run per trial. "
                        "--experiment weights-search runs the searches its [search] table "
                        "names, then compares their best vectors with adaptive balancing")
    search.add_argument("--trials", type=int, default=None, metavar="N",
                        help="runs each search trains (default: the experiment's [search] "
                        "table, else 60)")
    search.add_argument("--search-seeds", type=int, default=None, metavar="K",
                        help="searches per strategy, with sampler seeds 0..K-1, all training "
                        "on --seed, so strategies compare paired by search seed (default: the "
                        "experiment's [search] table, else 1)")
    search.add_argument("--search-batch", type=int, default=None, metavar="B",
                        help="trials asked at once and trained as one ensemble (default: "
                        "--max-models, else the engine's default)")
    search.add_argument("--objectives", default=",".join(DEFAULT_OBJECTIVES), metavar="LIST",
                        help="what a search minimises: pixel,grad (default) or "
                        "pixel,grad,laplacian (the ln of each MSE)")
    search.add_argument("--storage", metavar="URL",
                        help="the searches' Optuna storage, any database URL Optuna accepts, "
                        "to share studies between machines (default: sqlite under "
                        "OUT/results/search.db)")
    setting = p.add_argument_group("settings (override the profile)")
    setting.add_argument("--profile", choices=list(PROFILES), default=None,
                         help="quick: CPU-sized (64x64, 8 frames, width 64, 300 steps); paper: "
                         "the original's sizes (256x256, 10 frames, width 512, 1000 steps). "
                         f"Default here: {default_profile()} (paper when a GPU is present)")
    setting.add_argument("--image", help="image file, or the name of one of scikit-image's "
                         "bundled images (camera, astronaut, coins, moon, brick, grass, gravel, "
                         "text, ...) (default: original/cameraman.png)")
    setting.add_argument("--images", metavar="LIST",
                         help="several images, comma-separated names or files, e.g. "
                         "camera,coins,moon,grass: every experiment runs its whole grid on each "
                         "with matched seeds and the same random weight vectors, and the report "
                         "answers per image and across images; with --holdout-images these "
                         "are the development images, on which every choice is made")
    setting.add_argument("--holdout-images", metavar="LIST",
                         help="held-out images, comma-separated names or files: they take no "
                         "part in any choice (scales, learning rates, pixel-loss weights, "
                         "confirmed vectors); they train only what the development images "
                         "chose, on the confirmation's fresh seeds, and the report's "
                         "cross-image verdicts are tested on them alone")
    setting.add_argument("--size", type=int, help="resample the image to SIZE x SIZE")
    setting.add_argument("--frames", type=int, help="number of diffusion frames")
    setting.add_argument("--width", type=int, help="hidden width of the networks")
    setting.add_argument("--steps", type=int, help="optimiser steps per run")
    setting.add_argument("--activation", choices=ACTIVATION_CHOICES,
                         help="activation for the random-weights and learning-rate runs "
                         "(default: sine)")
    setting.add_argument("--lr", type=float, help="learning rate of the random-weights runs "
                      "(default 1e-4)")
    setting.add_argument("--normalize", choices=NORMALIZATIONS, default=None,
                         help="none: the weights multiply the raw MSEs, as in the original "
                         "project (default); variance: each MSE is divided by its target's "
                         "variance first, so the weights act on relative errors")
    setting.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: auto)")
    setting.add_argument("--matmul-precision", choices=MATMUL_PRECISIONS, default=None,
                         help="float32 matrix products: highest (full float32, default) or "
                         "high (TF32 on GPUs that have it; README, 'GPU')")
    setting.add_argument("--seed", type=int, default=0,
                         help="seed of the weight draw and the first seed of every "
                         "configuration's init and batches (default: 0)")
    setting.add_argument("--seeds", type=int, default=1, metavar="R",
                         help="screen every configuration with R matched seeds: --seed, --seed "
                         "+ 1, ...; a replicate's folder adds _seed<s>. Where an experiment "
                         "chooses nothing (no tuned grid, no random weights) all R count in "
                         "the tests; an experiment file's own `seeds` takes precedence "
                         "(default: 1)")
    setting.add_argument("--confirm", type=int, default=CONFIRM_TOP, metavar="K",
                         help="loss-weight sweeps: the screening chooses the top K vectors by "
                         f"pixel_mse and by grad_mse for confirmation (default: {CONFIRM_TOP})")
    setting.add_argument("--confirm-seeds", type=int, default=CONFIRM_SEEDS, metavar="S",
                         help="fresh seeds, beyond the screening's, on which every configuration "
                         "the screening chose (top K vectors, each activation's tuned scale, "
                         "each pixel loss's tuned weight, each schedule's tuned lr) and every "
                         "reference is trained again; only these seeds test them. 0: no "
                         f"confirmation stage (default: {CONFIRM_SEEDS}; README, 'Power')")
    setting.add_argument("--no-video", action="store_true", help="write no videos")
    run = p.add_argument_group("execution")
    run.add_argument("--out", default=str(REPO_ROOT), help="folder that receives runs/, videos/ "
                     "and results/ (default: the repository)")
    run.add_argument("--engine", choices=ENGINES, default="batched",
                     help="batched: runs sharing data and architecture train together as one "
                     "ensemble (default); sequential: one run at a time")
    run.add_argument("--max-models", type=int, default=None,
                     help="most runs in one batched ensemble (default: "
                     f"{MAX_MODELS['cpu']} on a CPU; on a GPU up to {MAX_MODELS['cuda']}, as many "
                     "as its free memory holds by an estimate)")
    run.add_argument("--backend", choices=("local", "ray"), default="local",
                     help="local: this machine (default); ray: a Ray cluster (pip install -e '.[ray]')")
    run.add_argument("--workers", type=int, default=1,
                     help="local backend: parallel worker processes (default: 1)")
    run.add_argument("--address", default=None,
                     help="ray backend: the cluster to join, 'auto' (the cluster started on this "
                     "node with `ray start`) or ray://HOST:PORT (Ray Client); default: start a "
                     "private Ray instance on this machine for the sweep")
    run.add_argument("--cpus-per-trial", type=float, default=1, metavar="N",
                     help="ray backend: CPUs reserved for each trial (also its torch threads); "
                     "a node runs cores / N trials at once (default: 1)")
    run.add_argument("--gpus-per-trial", type=float, default=0, metavar="F",
                     help="ray backend: GPUs reserved for each trial, fractions share a GPU, "
                     "e.g. 0.5 (default: 0)")
    run.add_argument("--max-retries", type=int, default=2, metavar="N",
                     help="ray backend: times a failed trial is retried, from its latest "
                     "checkpoint (default: 2)")
    run.add_argument("--early-stop", choices=("none", "asha"), default="none",
                     help="ray backend: asha stops runs whose PSNR lags at each evaluation "
                     "(every run becomes its own trial; a stopped run is recorded as "
                     "interrupted with an early_stop note in its metrics.json) (default: none)")
    run.add_argument("--ray-storage", default=None, metavar="PATH",
                     help="ray backend: Ray Tune's experiment folder (trial checkpoints, "
                     "results; needed to resume); must be shared by all nodes "
                     "(default: OUT/ray_results)")
    run.add_argument("--overwrite", action="store_true",
                     help="retrain runs that are already done (their old outputs are deleted)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def _check_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out):
            pass
    except OSError as err:
        raise ValueError(f"output folder {out} is not writable ({err.strerror})") from None


def base_config(args: argparse.Namespace) -> RunConfig:
    """The profile with the command line's overrides (a given value is always applied, so a
    zero or negative size meets the config's one-line check)."""
    cfg = profile_config(args.profile)
    data = {k: v for k, v in (("size", args.size), ("frames", args.frames)) if v is not None}
    if args.image:
        image = resolve_image(args.image)
        load_image(image)  # fails now, with the file's name, not after planning
        data["image"] = str(image)
    cfg = cfg.replace(data=data,
                      model={"width": args.width} if args.width is not None else {},
                      train={k: v for k, v in (("steps", args.steps), ("device", args.device),
                                               ("matmul_precision", args.matmul_precision))
                             if v is not None},
                      schedule={"lr": args.lr} if args.lr is not None else {},
                      loss={"normalize": args.normalize} if args.normalize else {})
    if args.activation:
        cfg = cfg.replace(model={"activation": args.activation})
    return cfg.validate()


def _image_list(option: str, text: str) -> list[Path]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError(f"{option} needs at least one name or file")
    files = [resolve_image(n) for n in names]
    for f in files:
        load_image(f)
    return files


def images_of(args: argparse.Namespace, default: str | None = None
              ) -> tuple[list[str], list[str]]:
    """(the development images, the held-out images) of --images and --holdout-images, each
    checked now: ([], []) for a single-image sweep; without --images, --holdout-images holds out
    from `default` (the --image or the profile's image)."""
    if args.images and args.image:
        raise ValueError("give --image or --images, not both")
    development = _image_list("--images", args.images) if args.images else []
    held_out = _image_list("--holdout-images", args.holdout_images) \
        if args.holdout_images else []
    if held_out and not development and default:
        development = [Path(default)]
    labels = [image_label(f) for f in development + held_out]
    if len(set(labels)) < len(labels):
        raise ValueError(f"--images and --holdout-images: an image is named twice "
                         f"({', '.join(labels)}): runs are named after the image, and a "
                         "held-out image cannot also choose")
    return [str(f) for f in development], [str(f) for f in held_out]


def experiments_of(args: argparse.Namespace) -> list[Experiment]:
    names = []
    for name in args.experiment:
        names += [n for n, p in available().items() if load_experiment(p).search is None] \
            if name == EXPERIMENT_ALL else experiment_files(name)
    if args.random_weights is not None:
        if args.random_weights < 1:
            raise ValueError(f"--random-weights needs N >= 1, got {args.random_weights}")
        if "random-weights" not in names:
            names.append("random-weights")
    return [load_experiment(n) for n in dict.fromkeys(names)]


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = Path(args.out).resolve()
    try:
        if args.workers < 1:
            raise ValueError(f"--workers needs at least 1, got {args.workers}")
        _check_out(out)
        if (args.curate or args.against) and not args.report:
            raise ValueError("--curate and --against go with --report")
        if args.against and not Path(args.against).is_file():
            raise ValueError(f"--against {args.against}: no such comparisons.csv")
        if args.report:
            built = build_report(OutputTree(out), args.curate, video_links=not args.curate,
                                 against=Path(args.against) if args.against else None)
            print(f"report: {len(built['rows'])} runs -> {built['report']}")
            return 0
        exps = experiments_of(args)
        searching = [e for e in exps if e.search is not None]
        if searching and len(exps) > 1:
            raise ValueError(f"{searching[0].name} searches before it compares: run it alone "
                             "(leave out --random-weights and other experiments)")
        if args.search or searching:
            if args.search and exps and not searching:
                raise ValueError("--search runs alone: leave out --random-weights and "
                                 "--experiment")
            return _search_sweep(args, out, searching[0] if searching else None)
        if not exps:
            raise ValueError("nothing to run: give --random-weights N or --experiment NAME "
                             "(or --report)")
        return _sweep(args, exps, out)
    except (ValueError, RuntimeError) as err:  # bad input or a held folder: one line
        print(f"sweep.py: error: {err}", file=sys.stderr)
        return 2


def _ray_options(args, out: Path) -> RayOptions:
    return RayOptions(out=str(out), engine=args.engine, max_models=args.max_models,
                      overwrite=args.overwrite, quiet=args.quiet, address=args.address,
                      cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
                      max_retries=args.max_retries, early_stop=args.early_stop,
                      storage=args.ray_storage)


def _sweep(args, exps, out: Path) -> int:
    base = base_config(args)
    check_engine(args.engine, args.max_models)
    for option, value, least in (("--seeds", args.seeds, 1), ("--confirm", args.confirm, 0),
                                 ("--confirm-seeds", args.confirm_seeds, 0)):
        if value is not None and value < least:
            raise ValueError(f"{option} needs at least {least}, got {value}")
    ray = _ray_options(args, out) if args.backend == "ray" else None
    development, held_out = images_of(args, base.data.image)
    if held_out:
        check_development_images(exps, [image_label(i) for i in development or [base.data.image]])

    def planned(images: list[str], role: str | None) -> list:
        return [run for image in images for run in plan(
            exps, base.replace(data={"image": image}, output={"image_role": role}), out,
            random_weights=args.random_weights, seed=args.seed, videos=not args.no_video,
            seeds=args.seeds)]

    runs = planned(development or [base.data.image],
                   ImageRole.DEVELOPMENT if held_out else None)
    held = planned(held_out, ImageRole.HELD_OUT)
    confirming = args.confirm_seeds > 0
    if args.dry_run:
        states = ["todo" if args.overwrite else r.folder().state(r.config) for r in runs]
        for r, state in zip(runs, states):
            print(f"{state:>8}  {r.name}\n          -> {r.config.output.run_dir}"
                  + (f"\n          -> {r.config.output.video}" if r.config.output.video else ""))
        print(f"{len(runs)} runs ({states.count('done')} done) in "
              f"{', '.join(e.name for e in exps)}; profile {args.profile or default_profile()}")
        outlook = confirmation_outlook(runs, args.confirm, args.confirm_seeds, held)
        where = "each held-out image" if held_out else "each image"
        if not confirming or not (outlook["arms"] or outlook["drawn"]):
            print("no confirmation stage: " + ("--confirm-seeds 0" if not confirming else
                  "no experiment chooses anything, so every planned seed counts"))
        else:
            print(f"then a confirmation stage on {args.confirm_seeds} fresh seeds on {where}: "
                  f"{outlook['runs']} runs known now ({outlook['named']} configurations named "
                  f"in advance), and up to {outlook['more']} more for what the screening "
                  f"chooses ({outlook['arms']} tuned arms, one member each"
                  + (f"; the top {args.confirm} drawn vectors by each of "
                     f"{' and '.join(HEADLINE_METRICS)}, some of which may coincide"
                     if outlook["drawn"] else "") + ")")
        if held_out:
            print(f"held-out images ({', '.join(image_label(f) for f in held_out)}): the same "
                  "configurations on the same fresh seeds, and the runs of any question that "
                  "chooses nothing; they take no part in the choice")
        return 0
    print(f"sweep: {len(runs)} runs ({', '.join(e.name for e in exps)}), profile "
          f"{args.profile or default_profile()}, engine {args.engine}, device "
          f"{base.resolved_device()}, out {out}")
    _note_ms_ssim(runs)
    tree = OutputTree(out)
    with tree.lock():
        if ray is not None:
            execute = partial(run_sweep_ray, options=ray)
        else:
            execute = partial(run_sweep, engine=args.engine, max_models=args.max_models,
                              overwrite=args.overwrite, progress=not args.quiet,
                              workers=args.workers)
        outcome = run_confirmed(runs, execute, args.confirm, args.confirm_seeds, held_out=held)
        built = build_report(tree)
    print(f"\n{len(outcome.done)} runs trained, {len(outcome.skipped)} reused, "
          f"{outcome.seconds:.0f} s. Best runs:\n{best_table(built['rows'])}")
    print(f"\nreport: {built['report']}\nsummary: {built['summary']}\n"
          f"logs: tensorboard --logdir {tree.runs}")
    if outcome.interrupted:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    return 0


def search_options(args: argparse.Namespace, exp: Experiment | None = None
                   ) -> list[SearchOptions]:
    """The searches of --search, or of an experiment's [search] table with the command line's
    --search, --trials, --search-seeds and --search-batch in place of its own: each strategy
    at each search seed (one-line errors)."""
    strategies = [s.strip() for s in (args.search or "").split(",") if s.strip()]
    if args.search is not None and not strategies:
        raise ValueError("--search needs at least one strategy")
    if args.early_stop != "none":
        raise ValueError("--early-stop does not apply to a search: every trial runs to the end")
    if args.search_seeds is not None and args.search_seeds < 1:
        raise ValueError(f"--search-seeds needs at least 1, got {args.search_seeds}")
    if args.trials is not None and args.trials < 1:
        raise ValueError(f"--trials needs at least 1, got {args.trials}")
    objectives = tuple(o.strip() for o in args.objectives.split(",") if o.strip())
    return search_settings(exp.search if exp else {}, str(exp.path) if exp else "--search",
                           strategies or None, args.trials, args.search_seeds,
                           args.search_batch or args.max_models
                           or (None if exp else MAX_MODELS["cpu"]), objectives, args.storage)


def _search_sweep(args, out: Path, exp: Experiment | None = None) -> int:
    """--search, or an experiment with a [search] table (inr.sweep.comparison): every search
    on every development image, then each final front on fresh seeds, then (with an
    experiment) the weights question's comparison on the held-out images, or on the
    development images where there are none, on the same fresh seeds; then the report."""
    base = base_config(args)
    check_engine(args.engine, args.max_models)
    searches = search_options(args, exp)
    development, held_out = images_of(args, base.data.image)
    if held_out and exp is None:
        raise ValueError("--search chooses on its images; --holdout-images goes with "
                         "--experiment weights-search, whose comparison tests on them")
    role = ImageRole.DEVELOPMENT if held_out else None
    bases = [base.replace(data={"image": image}, output={"image_role": role})
             for image in development or [base.data.image]]
    targets = [base.replace(data={"image": image}, output={"image_role": ImageRole.HELD_OUT})
               for image in held_out] or bases
    if args.dry_run:
        for b in bases:
            for options in searches:
                print(f"search {study_name(b, options)}: {options.trials} runs in batches of "
                      f"{options.batch}, then its front on {args.confirm_seeds} fresh seeds")
        if exp is not None:
            print(f"then the comparison on {', '.join(image_label(t.data.image) for t in targets)}"
                  f" on {args.confirm_seeds} fresh seeds: each strategy's best vector and "
                  f"the {exp.path.name} grid")
        return 0
    tree = OutputTree(out)
    execute = partial(run_sweep, engine=args.engine, max_models=searches[0].batch,
                      overwrite=False, progress=not args.quiet, workers=args.workers)
    if args.backend == "ray":
        from inr.sweep.ray_search import run_search_ray  # written beside ray_backend
        ray = _ray_options(args, out)
        search = partial(run_search_ray, ray=ray)
        execute = partial(run_sweep_ray, options=ray)
    else:
        search = partial(run_search, execute=execute)
    print(f"search: {len(searches)} searches x {len(bases)} images, "
          f"{', '.join(sorted({f'{o.strategy} {o.trials}' for o in searches}))} runs each, "
          f"profile {args.profile or default_profile()}, device {base.resolved_device()}, "
          f"out {out}")
    with tree.lock():
        for b in bases:
            for options in searches:
                done = search(b, tree, options)
                print(f"search {done.study}: {done.told} trials told now, {done.trained} runs "
                      f"trained, {done.reused} reused, {done.seconds:.0f} s")
                if done.interrupted:
                    return _interrupted()
        fresh = [run for b in bases for options in searches
                 for run in front_runs(b, tree, options, args.confirm_seeds)]
        if exp is not None:
            bests = strategy_bests(bases, tree, searches)
            print(f"best vector of each strategy: {describe(bests)}")
            fresh += comparison_runs(exp, targets, tree, bests, args.confirm_seeds,
                                     base.train.seed)
        if fresh:
            print(f"fresh seeds: {len(fresh)} runs re-measure the searches' final fronts"
                  + (" and train the comparison" if exp is not None else ""))
            if execute(fresh).interrupted:
                return _interrupted()
        built = build_report(tree)
    print(f"\nreport: {built['report']}\nsearch studies: {storage_url(searches[0], tree)} "
          f"(optuna-dashboard {storage_url(searches[0], tree)})")
    return 0


def _interrupted() -> int:
    print("interrupted: run the same command again to resume", file=sys.stderr)
    return 130


def _note_ms_ssim(runs) -> None:
    for r in runs:
        if r.config.loss.ms_ssim > 0:
            height, width = frame_shape(r.config.data.image, r.config.data.size)
            print(f"note: MS-SSIM on {height}x{width} frames uses {ms_ssim_levels(height, width)} "
                  f"of 5 scales (each scale needs >= 11 px)")
            return


# ----------------------------------------------------------------------------- one run

def train_parser() -> argparse.ArgumentParser:
    """The options of `python -m inr.train`."""
    p = argparse.ArgumentParser(
        prog="python -m inr.train", description="Train one coordinate network on a diffusion "
        "sequence and write its TensorBoard log, checkpoint, metrics.json and video.")
    p.add_argument("--config", help="a run config (.json or .toml); omitted sections and fields "
                   "take the profile's values")
    p.add_argument("--profile", choices=list(PROFILES), default=None,
                   help="base settings: quick (CPU-sized) or paper; default here: "
                   f"{default_profile()} (paper when a GPU is present)")
    p.add_argument("--run-dir", default=None, help="output folder (default: the config's "
                   f"output.run_dir, else {SINGLE_RUN_DIR})")
    p.add_argument("--video", default=None, help="video path, .mp4 or .gif, or 'none' for no "
                   f"video (default: the config's output.video, else {SINGLE_VIDEO})")
    p.add_argument("--steps", type=int, help="override train.steps")
    p.add_argument("--device", help="override train.device (cpu, cuda, cuda:N, auto)")
    return p


def train_config(args: argparse.Namespace) -> RunConfig:
    """The run's config: profile, then the file, then the command line. A file's output.video
    of null (JSON) or "none" means no video; a file without it gets SINGLE_VIDEO."""
    raw = read_config_file(args.config) if args.config else {}
    config = profile_config(args.profile).replace(**raw)
    saved = raw.get("output", {})
    run_dir = args.run_dir or saved.get("run_dir") or SINGLE_RUN_DIR
    video = args.video or (saved["video"] if "video" in saved else SINGLE_VIDEO)
    video = None if video is None or video.lower() == "none" else video
    overrides = {k: v for k, v in (("steps", args.steps), ("device", args.device))
                 if v is not None}
    return config.replace(train=overrides,
                          output={"run_dir": run_dir, "video": video}).validate()


def train_main(argv: Sequence[str] | None = None) -> int:
    p = train_parser()
    args = p.parse_args(argv)
    try:
        config = train_config(args)
    except ValueError as err:
        p.error(str(err))
    result = train(config)
    print(f"{result.status}: {result.summary_line()} -> {result.run_dir}")
    return 0 if result.status == Status.COMPLETED else 1
