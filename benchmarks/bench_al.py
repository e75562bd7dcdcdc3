"""The active-learning benchmark: strategies against random on equal terms, several seeds.

    .venv/bin/python benchmarks/bench_al.py                       # the headline grid (full preset)
    .venv/bin/python benchmarks/bench_al.py --strategies ppal --seeds 2     # one cell
    .venv/bin/python benchmarks/bench_al.py --samples small --recipe tiny  # a quick look
    .venv/bin/python benchmarks/bench_al.py --report-only         # re-draw the report
    .venv/bin/python benchmarks/bench_al.py --data my.yaml --out runs/al-mine   # your data
    .venv/bin/python benchmarks/bench_al.py --strategy-file mine.py --strategies random,mine

``--strategy-file`` names a Python file that defines ``STRATEGIES``, a dict of strategy objects
(:class:`alkit.core.strategy.Strategy` or any object with its interface) by name; the names of
``--strategies`` are looked up there first, then in alkit's own. A way to measure a candidate
against the named strategies before it earns a name in alkit.

Interrupt it at any time: run the same command again and it continues (finished rounds are
never retrained). ``--reset`` recomputes the named cells from scratch. Each invocation is
appended to ``<out>/commands.txt`` when it starts and, with its wall time, when it ends. The
results (``cells/*.json``, ``summary.md``, ``summary.json``, ``learning_curves.png``,
``machine.json``) are small and meant to be committed; ``<out>/work`` (projects, checkpoints)
is not.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from alkit import RECIPES, STRATEGIES, ensure_samples, recipe
from alkit.core.cost import SECONDS_PER_BOX, SECONDS_PER_IMAGE, CostModel
from alkit.core.query import BUDGET_UNITS
from alkit.loop import simulate
from alkit.model.yolo import quiet

ROOT = Path(__file__).resolve().parents[1]
#: The default grid: random and the seed's starter rule against alkit's default and the
#: published methods it builds on.
HEADLINE = "random,least_confidence,calibrated,typiclust,ppal"


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options (defaults: the headline grid on the full sample preset)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # a new folder: a committed grid keeps its own protocol (config.json refuses another)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "al-full-2"))
    p.add_argument("--samples", "--preset", dest="samples", default="full",
                   help="sample preset when --data is not given")
    p.add_argument("--data", help="a dataset yaml with a labeled pool (pool + oracle_labels)")
    p.add_argument("--strategies", default=HEADLINE,
                   help=f"comma list of named strategies: {sorted(STRATEGIES)}")
    p.add_argument("--strategy-file", type=Path, default=None,
                   help="a Python file defining STRATEGIES = {name: strategy object}: "
                        "more names for --strategies")
    p.add_argument("--seeds", default="0,1,2", help="comma list of seeds")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--budget", type=float, default=100, help="per round, in --budget-unit")
    p.add_argument("--budget-unit", choices=BUDGET_UNITS, default="images",
                   help="images, boxes (predicted), or cost (seconds by the cost model)")
    p.add_argument("--seconds-per-image", type=float, default=SECONDS_PER_IMAGE,
                   help="cost model: annotation seconds per image (also in the report)")
    p.add_argument("--seconds-per-box", type=float, default=SECONDS_PER_BOX,
                   help="cost model: annotation seconds per box (also in the report)")
    p.add_argument("--jobs", type=int, default=1,
                   help="cells run at once, each in its own process (seed models first); "
                        "set ALKIT_TORCH_THREADS to share the cores")
    p.add_argument("--dedupe", type=float, default=None,
                   help="near-duplicate filter: pass over picks with cosine similarity >= this")
    p.add_argument("--recipe", default="bench", choices=sorted(RECIPES),
                   help="training recipe (bench: 15 epochs a round at 128 px, the committed "
                        "headline run); the flags below override its fields")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--imgsz", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--fixed-start", action="store_true",
                   help="every round from the initial weights instead of the previous round")
    p.add_argument("--until-flat", type=float, default=None, metavar="GAIN",
                   help="grow the grid round by round (up to --rounds) until the best "
                        "strategy's mean mAP50 gain in a round falls below GAIN (e.g. 0.005) "
                        "or the labels reach --max-share of the pool")
    p.add_argument("--max-share", type=float, default=0.08,
                   help="with --until-flat: stop when the labels reach this share of the "
                        "pool (default 8%%)")
    p.add_argument("--extend-random", action="store_true",
                   help="after the grid, continue random past the horizon until it matches "
                        "each strategy's final mAP50 and rare AP50 (the seed's measure; needs "
                        "--fixed-start)")
    p.add_argument("--extension-cap", type=float, default=3.0,
                   help="random's extension stops at this multiple of its labels at the "
                        "horizon")
    p.add_argument("--extension-step", type=float, default=None,
                   help="images per extension round (default: half the horizon's labels)")
    p.add_argument("--extension-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--weights", help="initial weights (default: the pretrained start)")
    p.add_argument("--rare", help="comma list of rare class names (default: < 5%% of the labeled "
                   "splits' instances)")
    p.add_argument("--reset", action="store_true", help="recompute the named cells")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--no-report", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--seed-models-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars and no per-epoch training tables")
    return p.parse_args(argv)


def dataset_yaml(args) -> str:
    """The benchmark's dataset yaml (the sample preset is built, deterministically, if needed)."""
    if args.data:
        return str(Path(args.data).resolve())
    out = ROOT / "data_samples" / "generated" / args.samples
    return str(ensure_samples(args.samples, out, random_state=0, progress=not args.quiet))


def the_experiment(args, data: str) -> simulate.Experiment:
    """The experiment the options describe."""
    rare = tuple(args.rare.split(",")) if args.rare else tuple(simulate.rare_classes(data))
    chosen = recipe(args.recipe, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch,
                    device=args.device, initial_weights=args.weights,
                    warm_start=False if args.fixed_start else None)
    exp = simulate.experiment(data, strategies_named(args), budget=args.budget,
                              budget_unit=args.budget_unit, recipe=chosen, rounds=args.rounds,
                              rare_classes=rare)
    seconds = {"seconds_per_image": args.seconds_per_image,
               "seconds_per_box": args.seconds_per_box}
    dedupe = {} if args.dedupe is None else {"dedupe_threshold": args.dedupe}
    return replace(exp, queries={name: replace(q, **seconds, **dedupe)
                                 for name, q in exp.queries.items()},
                   extension_cap=args.extension_cap, extension_step=args.extension_step)


def strategies_named(args) -> list:
    """The strategies of ``--strategies``: each name looked up in ``--strategy-file``'s
    ``STRATEGIES`` first (the object), else passed on as a name for alkit's own (an unknown
    name is refused there, listing alkit's names)."""
    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    if args.strategy_file is None:
        return names
    import runpy

    if not args.strategy_file.is_file():
        raise SystemExit(f"--strategy-file {args.strategy_file}: no such file")
    extra = runpy.run_path(str(args.strategy_file)).get("STRATEGIES")
    if not isinstance(extra, dict):
        raise SystemExit(f"--strategy-file {args.strategy_file}: expected a dict STRATEGIES = "
                         "{name: strategy object} in it")
    return [extra.get(name, name) for name in names]


def _log(out: Path, line: str) -> None:
    """Append a timestamped line to ``<out>/commands.txt`` (an interrupted run leaves its
    "started" line; the rounds it finished are in the cell files with their wall times)."""
    with open(out / "commands.txt", "a", encoding="utf-8") as log:
        log.write(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {line}\n")


def _without(argv: list[str], *flags: str) -> list[str]:
    """``argv`` without the options ``flags`` and their values (``--x v`` or ``--x=v``; a
    switch such as ``--reset`` has none: the next word is kept when it is an option)."""
    kept, skip = [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in flags:
            skip = "=" not in arg and i + 1 < len(argv) and not argv[i + 1].startswith("--")
            continue
        kept.append(arg)
    return kept


def run_in_processes(argv: list[str], strategies: list[str], seeds: list[int], jobs: int,
                     phase: str | None = None) -> None:
    """Run the grid with ``jobs`` cells at once: first one seed model per seed (in parallel),
    then every (strategy, seed) cell, each as this script with ``--strategies S --seeds K``
    and ``--jobs 1`` in its own process; with ``phase`` (``--extension-only``), only that
    flag's work per cell instead. A failed cell is reported, the others go on."""
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    base = [sys.executable, str(Path(__file__).resolve()),
            *_without(argv, "--strategies", "--seeds", "--jobs", "--reset", "--extend-random"),
            "--no-report"]

    def run(strategy: str, seed: int, *extra: str) -> tuple[str, int]:
        command = [*base, "--strategies", strategy, "--seeds", str(seed), *extra]
        return f"{strategy}-s{seed}", subprocess.run(command, check=False).returncode

    cells = [(strategy, seed) for seed in seeds for strategy in strategies]
    with ThreadPoolExecutor(jobs) as workers:
        if phase is not None:
            failed = [f"{name} ({phase})" for name, rc in workers.map(
                lambda c: run(*c, phase), cells) if rc]
        else:  # seed models first: every strategy of a seed starts from the same one
            failed = [name for name, rc in workers.map(
                lambda s: run(strategies[0], s, "--seed-models-only"), seeds) if rc]
            failed += [name for name, rc in workers.map(lambda c: run(*c), cells) if rc]
    if failed:
        print(f"cells that failed (run the command again to continue them): {failed}")


def _horizons(args, out: Path, config: simulate.Experiment):
    """The grid's round counts: just ``--rounds``; with ``--until-flat``, 1, 2, ... up to
    ``--rounds``, stopping after the first at which :func:`simulate.horizon_reached` says why
    (random's extension follows the last count)."""
    if args.until_flat is None:
        yield args.rounds
        return
    from alkit.data import datasets

    pool = len(datasets.list_images(datasets.read_dataset_yaml(config.dataset_yaml)
                                    .splits["pool"]))
    for rounds in range(1, args.rounds + 1):
        yield rounds
        why = simulate.horizon_reached(simulate.load_cells(out), rounds,
                                       min_gain=args.until_flat,
                                       max_labels=args.max_share * pool)
        if why is not None:
            print(f"horizon after round {rounds}: {why}")
            _log(out, f"horizon   after round {rounds}: {why}")
            return


def main(argv=None) -> int:
    """Run (or continue) the grid, then write and print the report."""
    args = parse_args(argv)
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["benchmarks/bench_al.py", *(argv or sys.argv[1:])])
    _log(out, f"started   {command}")
    if not args.report_only:
        config = the_experiment(args, dataset_yaml(args))
        strategies = list(config.queries)
        seeds = [int(s) for s in args.seeds.split(",")]
        if args.reset:
            for strategy in strategies:
                for seed in seeds:
                    simulate.reset_cell(out, strategy, seed)
        simulate.check_config(out, config)
        if (args.extend_random or args.extension_only) and "random" not in strategies:
            raise SystemExit("--extend-random continues random's cells: put random in "
                             "--strategies")
        if args.extension_only:
            with quiet() if args.quiet else nullcontext():
                for seed in seeds:
                    simulate.extend_random(out, config, seed, progress=not args.quiet)
            _log(out, f"finished  {command}  ({time.perf_counter() - started:.0f} s)")
            return 0
        if args.seed_models_only:
            with quiet() if args.quiet else nullcontext():
                for seed in seeds:
                    simulate.seed_model(out, config, seed, progress=not args.quiet)
            return 0
        argv = _without(list(argv if argv is not None else sys.argv[1:]), "--until-flat",
                        "--max-share", "--rounds")
        grown = config
        for rounds in _horizons(args, out, config):
            grown = replace(config, rounds=rounds)
            if args.jobs > 1:
                run_in_processes([*argv, "--rounds", str(rounds)], strategies, seeds,
                                 args.jobs)
            else:
                with quiet() if args.quiet else nullcontext():  # no per-epoch tables
                    simulate.run_grid(out, grown, strategies, seeds, progress=not args.quiet)
        if args.extend_random and args.jobs > 1:
            run_in_processes([*argv, "--rounds", str(grown.rounds)], ["random"], seeds,
                             args.jobs, phase="--extension-only")
        elif args.extend_random:
            with quiet() if args.quiet else nullcontext():
                for seed in seeds:
                    simulate.extend_random(out, grown, seed, progress=not args.quiet)
    if args.no_report:
        _log(out, f"finished  {command}  ({time.perf_counter() - started:.0f} s)")
        return 0
    summary = simulate.write_report(
        out, cost_model=CostModel(args.seconds_per_image, args.seconds_per_box))
    print(simulate.format_summary(summary))
    seconds = time.perf_counter() - started
    _log(out, f"finished  {command}  ({seconds:.0f} s)")
    print(f"report: {out / 'summary.md'}, {out / 'learning_curves.png'} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
