"""Whole active-learning experiments with a simulated annotator: queries compared on equal
terms, several seeds each, resumable, results in JSON. The benchmark and the starter both run
through here, and every round of every cell is a round of :class:`alkit.Project`.

An :class:`Experiment` is a dataset, one :class:`alkit.Recipe`, named queries (cells' names ->
:class:`alkit.Query`), a number of rounds and the seeds. A *cell* is one (query name, seed): a
project directory whose round 0 is the seed model and whose rounds 1..R each select with the
query, get labels from the annotator (default: the simulated annotator over the dataset's
hidden labels), retrain and evaluate on the dataset's fixed test split.

Equal terms:

* the seed model is trained once per seed (``<out>/work/seed-s<seed>/``; or once for all seeds
  with ``shared_seed_model``) and adopted as round 0 by every cell of that seed, so every query
  starts round 1 from the same model;
* every round of every cell uses the same recipe and the same test split;
* a cell's seed is its :class:`alkit.RoundConfig` ``random_state``: it derives the seeds of the
  round's selection and training (:func:`alkit.core.randomness.derive_seed`), so two queries
  of the same seed train with the same seed;
* cells share one scoring cache (``<out>/work/scores``): a model scores an image once.

Layout of an experiment folder::

    <out>/config.json                the experiment (a rerun with another recipe refuses);
                                     its dataset and pool paths relative to <out>, so a
                                     clone of the repository can re-report it
    <out>/machine.json               where it ran (platform, CPUs, GPU, versions)
    <out>/cells/<name>-s<seed>.json  the cell's rounds, rewritten after each round
    <out>/work/seed-s<seed>/         the shared seed project (round 0 only)
    <out>/work/<name>-s<seed>/       one cell's project (ledger, runs)
    <out>/work/scores/               the scoring cache of every cell

Every round is committed to the ledger step by step (:mod:`alkit.loop.project`), so an
interrupted experiment continues where it stopped when run again; a finished round is never
retrained. Per round a cell records: labeled images and boxes, test mAP50, mAP50-95, per-class
AP50 and the round's wall time (``seconds``; ``resumed`` when the round was interrupted).

The report (:func:`summarize`) reads the cell files: mean and spread over seeds per query, the
labels each needed to reach random's final mAP50 (linear interpolation on the mean curve),
rare-class AP50 next to random's, and the first-round gain per 100 labels.
"""

from __future__ import annotations

import os
import platform
import shutil
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path

import numpy as np

from alkit.annotate.base import Annotator
from alkit.core.cost import CostModel
from alkit.core.curves import labels_to_reach
from alkit.core.query import Query
from alkit.core.strategy import strategy as named_strategy
from alkit.data import datasets, files, samples
from alkit.loop.config import RoundConfig
from alkit.loop.ledger import Ledger
from alkit.loop.project import Project
from alkit.model.recipe import Recipe

#: The projects (ledgers, training runs, score caches) live under ``<out>/work``: large, not
#: results; everything else under ``<out>`` is small and meant to be kept.
WORK = "work"

#: A class is "rare" when it has less than this share of the labeled splits' instances
#: (train, val and test: what a user knows before buying labels).
RARE_SHARE = 0.05
#: Scene kinds of the sample benchmark (its generation metadata), for the composition report.
SCENE_KINDS = tuple(kind for kind, _ in samples.CONFIG.condition_rates)


@dataclass(frozen=True)
class Experiment:
    """What every cell of an experiment shares.

    Attributes:
        dataset_yaml: the dataset (``train`` = the seed set, ``val``, ``test``, a pool with
            hidden ``oracle_labels`` for the simulated annotator).
        recipe: the training recipe of every round of every cell.
        queries: cell name -> :class:`alkit.Query` (see :func:`experiment` to build them from
            strategies).
        rounds: rounds after the seed round.
        rare_classes: class names the report treats as rare (only the report reads them).
        shared_seed_model: None: one seed model per seed; an int: one seed model for every
            seed, trained with this ``random_state``.
        pool: the pool's folder or list file, when not the yaml's ``pool``.
        extension_cap: :func:`extend_random` continues random's cells up to this multiple of
            their labeled images at the horizon (round ``rounds``).
        extension_step: images per extension round (``None``: half of random's labeled
            images at the horizon, so that 3x takes 4 rounds).
    """

    dataset_yaml: str
    recipe: Recipe = field(default_factory=Recipe)
    queries: Mapping[str, Query] = field(default_factory=dict)
    rounds: int = 5
    rare_classes: tuple[str, ...] = ()
    shared_seed_model: int | None = None
    pool: str | None = None
    extension_cap: float = 3.0
    extension_step: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "dataset_yaml", str(self.dataset_yaml))
        object.__setattr__(self, "queries", dict(self.queries))
        object.__setattr__(self, "rare_classes", tuple(self.rare_classes))
        if self.pool is not None:
            object.__setattr__(self, "pool", str(self.pool))
        if self.rounds < 1:
            raise ValueError(f"an experiment needs at least 1 round, got {self.rounds}")
        if self.extension_cap < 1 or (self.extension_step is not None
                                      and self.extension_step <= 0):
            raise ValueError(f"extension_cap must be >= 1 and extension_step > 0, got "
                             f"{self.extension_cap} and {self.extension_step}")

    def round_config(self, name: str, seed: int) -> RoundConfig:
        """The :class:`alkit.RoundConfig` of cell (``name``, ``seed``)."""
        if name not in self.queries:
            raise ValueError(f"unknown cell {name!r}; this experiment runs {sorted(self.queries)}")
        return RoundConfig(self.queries[name], self.recipe, seed)

    def to_dict(self) -> dict:
        """JSON-able: what ``config.json`` holds."""
        return {"dataset_yaml": self.dataset_yaml, "recipe": self.recipe.to_dict(),
                "queries": {k: q.to_dict() for k, q in sorted(self.queries.items())},
                "rounds": self.rounds, "rare_classes": list(self.rare_classes),
                "shared_seed_model": self.shared_seed_model, "pool": self.pool,
                "extension_cap": self.extension_cap, "extension_step": self.extension_step}


def experiment(dataset_yaml: str | os.PathLike, names, *, budget: float = 100,
               budget_unit: str = "images", recipe: Recipe = Recipe(), **fields_) -> Experiment:
    """An :class:`Experiment` on ``dataset_yaml`` whose cells are the strategies ``names``
    (names in :data:`alkit.STRATEGIES`, or strategy objects, each cell named after its
    strategy), each with this ``budget`` in ``budget_unit``, trained with ``recipe``;
    ``fields_``: the other :class:`Experiment` fields (rounds, rare_classes, ...)."""
    chosen = [named_strategy(n) for n in names]
    queries = {s.name: Query(s, budget=budget, budget_unit=budget_unit) for s in chosen}
    return Experiment(str(dataset_yaml), recipe, queries, **fields_)


def cell_name(strategy: str, seed: int) -> str:
    """``"<strategy>-s<seed>"``: the cell's folder and JSON name."""
    return f"{strategy}-s{seed}"


def check_config(out: Path, exp: Experiment) -> None:
    """Write ``<out>/config.json`` for experiment ``exp`` (before cells run in parallel, so
    that they do not race to write it); refuse to mix cells of two recipes, datasets or seed-model
    policies in one folder, or two different queries under one cell name. The number of
    rounds (more rounds extend the cells), new cells and the rare classes (they only matter to
    the report) are merged into the stored file."""
    path = out / "config.json"
    current = _absolute_paths(exp.to_dict(), out)
    stored = raw = files.read_json(path)
    if stored is not None and "recipe" not in stored:
        raise ValueError(f"{path} holds an experiment run before the loop was consolidated "
                         "(its config has no recipe): its results can be re-reported "
                         "(write_report, bench_al.py --report-only) but not extended; use "
                         "another output folder")
    if stored is not None:
        stored = _fill_new_fields(_absolute_paths(stored, out))
        fixed = ("dataset_yaml", "recipe", "shared_seed_model", "pool")
        changed = sorted(k for k in fixed if stored.get(k) != current[k])
        changed += sorted(f"queries.{k}" for k, q in current["queries"].items()
                          if stored.get("queries", {}).get(k, q) != q)
        if changed:
            raise ValueError(f"{path} holds another experiment (differs in {changed}); use "
                             "another output folder or delete it")
        current["queries"] = {**stored.get("queries", {}), **current["queries"]}
        current["rounds"] = max(current["rounds"], stored.get("rounds", 0))
        current["rare_classes"] = current["rare_classes"] or stored.get("rare_classes", [])
    portable = _relative_paths(current, out)
    if portable != raw:
        files.write_json(path, portable, sort_keys=True)


#: The fields of ``config.json`` that hold paths (stored relative to the experiment folder).
PATH_FIELDS = ("dataset_yaml", "pool")
#: Set in a ``config.json`` whose paths are relative to its folder; without it (folders
#: written before) a relative path was given from the working directory and is read so.
RELATIVE_KEY = "paths_relative_to_folder"


def _absolute_paths(config: dict, out: Path) -> dict:
    """``config`` with its :data:`PATH_FIELDS` absolute and without :data:`RELATIVE_KEY`: a
    relative path is taken from the experiment folder ``out`` when the config says so
    (:data:`RELATIVE_KEY`), else from the working directory (a new experiment's paths, and
    folders written before); ``None`` stays ``None``."""
    base = os.path.abspath(out if config.get(RELATIVE_KEY) else os.curdir)
    plain = {k: v for k, v in config.items() if k != RELATIVE_KEY}
    return {**plain, **{k: os.path.normpath(os.path.join(base, config[k]))
                        for k in PATH_FIELDS if config.get(k) is not None}}


def _relative_paths(config: dict, out: Path) -> dict:
    """``config`` (absolute paths) with its :data:`PATH_FIELDS` relative to ``out``, marked
    with :data:`RELATIVE_KEY`."""
    out = os.path.abspath(out)
    return {**config, RELATIVE_KEY: True, **{k: os.path.relpath(config[k], out)
                                              for k in PATH_FIELDS if config.get(k) is not None}}


def _fill_new_fields(stored: dict) -> dict:
    """``stored`` (a config.json) with the recipe and query fields added to alkit since it was
    written set to their defaults: a field that did not exist then had its default's effect,
    so adding one does not make an old folder "another experiment"."""
    recipe_defaults, query_defaults = Recipe().to_dict(), Query().to_dict()
    filled = dict(stored)
    if isinstance(stored.get("recipe"), dict):
        filled["recipe"] = {**recipe_defaults, **stored["recipe"]}
    filled["queries"] = {k: {**query_defaults, **q} if isinstance(q, dict) else q
                         for k, q in stored.get("queries", {}).items()}
    return filled


def machine_info() -> dict:
    """Where the experiment ran: platform, CPU count, library versions, accelerator."""
    import torch

    versions = {}
    for package in ("alkit", "ultralytics", "torch", "torchvision", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "gpu": gpu, "versions": versions}


# --------------------------------------------------------------------------- running


def _project(directory: Path, exp: Experiment, out: Path) -> Project:
    """The project at ``directory``, created if needed (a crash before its ledger existed
    leaves nothing worth keeping)."""
    if not (directory / "project.db").exists():
        shutil.rmtree(directory, ignore_errors=True)
        Project.init(directory, exp.dataset_yaml, pool=exp.pool,
                     scores_dir=out / WORK / "scores").close()
    return Project(directory)


def seed_model(out: str | os.PathLike, exp: Experiment, seed: int, *,
               progress: bool = True):
    """Train (or load) the seed model that cells of ``seed`` of experiment ``exp`` start from:
    round 0 of ``<out>/work/seed-s<seed>`` (``seed-shared`` with ``shared_seed_model``);
    ``progress`` shows bars while training. Returns that round's record."""
    out = Path(out)
    shared = exp.shared_seed_model
    name = "seed-shared" if shared is not None else f"seed-s{seed}"
    with _project(out / WORK / name, exp, out) as project:
        record = project.ledger.last_round()
        if record is None or record.status != "done":
            config = RoundConfig(Query(budget=0), exp.recipe, seed if shared is None else shared)
            record = project.run_round(config, progress=progress)
        return record


def _round_entry(project: Project, record, seconds: float | None, resumed: bool) -> dict:
    images, boxes = project.ledger.labeled_totals(through_round=record.number)
    metrics = record.metrics_after
    chosen = {k: record.params[k] for k in ("class_quality", "class_weights", "box_count_fit",
                                           "constant_utility", "ccms_fallback")
              if k in (record.params or {})}
    return {"round": record.number, "labeled_images": images, "labeled_boxes": boxes,
            "selection": chosen,
            "map50": metrics["map50"], "map50_95": metrics["map50_95"],
            "ap50_per_class": metrics["ap50_per_class"],
            "train_seconds": metrics.get("train_seconds"), "seconds": seconds,
            "resumed": resumed}


def cell_path(out: str | os.PathLike, name: str, seed: int) -> Path:
    """``<out>/cells/<name>-s<seed>.json``."""
    return Path(out) / "cells" / f"{cell_name(name, seed)}.json"


def run_cell(out: str | os.PathLike, exp: Experiment, name: str, seed: int, *,
             annotator: Annotator | None = None, progress: bool = True, echo=print) -> dict:
    """Run (or continue) cell (``name``, ``seed``) of experiment ``exp`` in the folder ``out``
    up to ``exp.rounds`` rounds, labeled by ``annotator`` (default: the simulated one);
    ``progress`` shows bars, ``echo`` gets one line per finished round. Returns its JSON
    record. When the annotator has not answered every pick of a round, the cell stops there
    with ``"waiting"``: the picks still waiting for labels (run it again later)."""
    out = Path(out)
    round_config = exp.round_config(name, seed)
    check_config(out, exp)
    cell = _load_cell(out, name, seed)
    extended = [r["round"] for r in cell["rounds"] if r.get("extension")]
    if extended and min(extended) <= exp.rounds:
        raise ValueError(f"{cell_path(out, name, seed)}: random was extended from round "
                         f"{min(extended)} on, so the grid cannot run {exp.rounds} rounds in "
                         "this folder; reset random's cells (bench_al.py --reset --strategies "
                         "random) to run more rounds")
    seed_record = seed_model(out, exp, seed, progress=progress)
    with _cell_project(out, exp, name, seed, seed_record, cell) as project:
        while len(cell["rounds"]) <= exp.rounds:
            if not _next_round(out, project, cell, round_config, annotator, progress, echo):
                break
    return cell


def extend_random(out: str | os.PathLike, exp: Experiment, seed: int, *,
                  annotator: Annotator | None = None, progress: bool = True,
                  echo=print) -> dict:
    """Continue random's cell of ``seed`` of experiment ``exp`` in the folder ``out`` past
    the horizon (round ``exp.rounds``) until it
    matches the final mAP50 and rare-class AP50 of every finished strategy cell of the same
    seed, or its labeled images reach ``exp.extension_cap`` times its images at the horizon:
    the seed's measure (random's labels to match active learning's final) needs random's curve
    beyond the strategies' budget. Extension rounds buy ``exp.extension_step`` images each
    (the last one stops at the cap, or when the pool is all labeled) and are marked
    ``"extension": true`` in the cell; the
    report never compares strategies with them at equal budgets. Rerun after a strategy cell
    finished with a higher final: random continues. ``annotator``, ``progress`` and ``echo``
    as in :func:`run_cell`. Returns random's cell record.

    The extension answers a fair question only when a round's model does not depend on the
    rounds before it (``Recipe.warm_start=False``: every round trains from the start
    weights); under warm start it is refused."""
    if exp.recipe.warm_start:
        raise ValueError("extend_random needs rounds trained from the start weights "
                         "(Recipe.warm_start=False, bench_al.py --fixed-start): under warm "
                         "start random's model at a budget depends on its earlier rounds")
    out = Path(out)
    cell = run_cell(out, exp, "random", seed, annotator=annotator, progress=progress,
                    echo=echo)
    if "waiting" in cell:
        return cell
    targets = _extension_targets(out, exp, seed)
    if targets is None:
        echo(f"random-s{seed}: no finished strategy cell of seed {seed} to match yet")
        return cell
    horizon = cell["rounds"][exp.rounds]["labeled_images"]
    cap = exp.extension_cap * horizon
    step = exp.extension_step or horizon / 2
    seed_record = seed_model(out, exp, seed, progress=progress)
    with _cell_project(out, exp, "random", seed, seed_record, cell) as project:
        while not _matches(cell["rounds"][-1], targets, exp.rare_classes):
            images = cell["rounds"][-1]["labeled_images"]
            left = project.ledger.counts()["unlabeled"]
            if images >= cap - 0.5 or not left:  # the cap, or the whole pool labeled
                break
            query = replace(exp.queries["random"],
                            budget=float(min(round(min(step, cap - images)), left)))
            config = RoundConfig(query, exp.recipe, seed)
            if not _next_round(out, project, cell, config, annotator, progress, echo,
                               extension=True):
                break
    return cell


def _extension_targets(out: Path, exp: Experiment, seed: int) -> tuple[float, float] | None:
    """(highest final mAP50, highest final rare-class AP50) over the strategy cells of
    ``seed`` that finished ``exp.rounds`` rounds; None when there is none."""
    finals = [c["rounds"][exp.rounds] for c in load_cells(out)
              if c["seed"] == seed and c["strategy"] != "random"
              and len(c["rounds"]) > exp.rounds]
    if not finals:
        return None
    rare = list(exp.rare_classes)
    return (max(r["map50"] for r in finals),
            max(_rare_mean(r, rare) for r in finals) if rare else float("nan"))


def _matches(entry: dict, targets: tuple[float, float], rare) -> bool:
    """Whether a round ``entry`` reaches both ``targets`` (mAP50, rare AP50)."""
    return entry["map50"] >= targets[0] and (
        not rare or _rare_mean(entry, list(rare)) >= targets[1])


def _load_cell(out: Path, name: str, seed: int) -> dict:
    cell = files.read_json(cell_path(out, name, seed)) or {"strategy": name, "seed": seed,
                                                           "rounds": []}
    cell.pop("waiting", None)
    return cell


@contextmanager
def _cell_project(out: Path, exp: Experiment, name: str, seed: int, seed_record, cell: dict):
    """The cell's project with the shared seed round adopted and round 0 in ``cell``."""
    with _project(out / WORK / cell_name(name, seed), exp, out) as project:
        project.adopt_seed_round(seed_record)
        if not cell["rounds"]:
            cell["rounds"].append(_round_entry(project, project.ledger.rounds()[0],
                                               seed_record.metrics_after["train_seconds"],
                                               False))
        yield project


def _next_round(out: Path, project: Project, cell: dict, config: RoundConfig, annotator,
                progress: bool, echo, *, extension: bool = False) -> bool:
    """Run (or resume) the cell's next round and write the cell file; False when the round
    waits for labels (``cell["waiting"]`` lists them)."""
    name, seed = cell["strategy"], cell["seed"]
    resumed = project.ledger.last_round().status != "done"
    started = time.perf_counter()
    record = project.run_round(config, annotator=annotator, progress=progress)
    if record.status != "done":
        cell["waiting"] = [q["path"] for q in project.waiting(record.number)]
        return False
    entry = _round_entry(project, record, time.perf_counter() - started, resumed)
    if extension:
        entry["extension"] = True
    cell["rounds"] = [r for r in cell["rounds"] if r["round"] < record.number] + [entry]
    files.write_json(cell_path(out, name, seed), cell, sort_keys=True)
    echo(f"{cell_name(name, seed)} round {record.number}{' (extension)' if extension else ''}"
         f": {entry['labeled_images']} images, mAP50 {entry['map50']:.3f} "
         f"({entry['seconds']:.0f} s)")
    return True


def run_grid(out: str | os.PathLike, exp: Experiment, names=None, seeds=(0,), *,
             annotator: Annotator | None = None, progress: bool = True,
             echo=print) -> list[dict]:
    """Run every (name, seed) cell of experiment ``exp`` in the folder ``out``, for every seed
    of ``seeds``, seed by seed (each seed model is trained once); ``names`` default to every
    query of the experiment. ``annotator``, ``progress`` and ``echo`` as in :func:`run_cell`.
    Returns the cells' records."""
    names = list(exp.queries) if names is None else list(names)
    for name in names:
        exp.round_config(name, 0)  # unknown names fail before any training
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    check_config(out, exp)
    if not (out / "machine.json").exists():
        files.write_json(out / "machine.json", machine_info(), sort_keys=True)
    return [run_cell(out, exp, name, seed, annotator=annotator, progress=progress, echo=echo)
            for seed in seeds for name in names]


def horizon_reached(cells: list[dict], rounds: int, *, min_gain: float,
                    max_labels: float) -> str | None:
    """Why a grid grown round by round (its ``cells``, records of :func:`run_cell`) stops
    after ``rounds`` rounds, in words, or None to go on: the best strategy (highest mean
    mAP50 at round ``rounds``) gained less than ``min_gain`` mean mAP50 in that round (the
    curves flatten), or the labels reached ``max_labels``. Only strategies whose every seed
    finished round ``rounds`` count; None while none has."""
    finished = {n: c for n, c in curves(cells, []).items() if c["images"].shape[1] > rounds}
    if not finished or rounds < 1:
        return None
    best = max(finished, key=lambda n: finished[n]["map50"][:, rounds].mean())
    gain = float(finished[best]["map50"][:, rounds].mean()
                 - finished[best]["map50"][:, rounds - 1].mean())
    if gain < min_gain:
        return (f"the best strategy, {best}, gained {gain:+.4f} mAP50 in round {rounds} "
                f"(< {min_gain:g}): the curves flatten")
    labels = max(float(c["images"][:, rounds].mean()) for c in finished.values())
    if labels >= max_labels - 0.5:
        return f"the labels reached {labels:,.0f} (the cap: {max_labels:,.0f})"
    return None


def reset_cell(out: str | os.PathLike, name: str, seed: int) -> None:
    """Delete cell (``name``, ``seed``) of the experiment in ``out`` (its project and JSON) so
    that the next run recomputes it."""
    out = Path(out)
    shutil.rmtree(out / WORK / cell_name(name, seed), ignore_errors=True)
    cell_path(out, name, seed).unlink(missing_ok=True)


# --------------------------------------------------------------------------- report


def load_cells(out: str | os.PathLike) -> list[dict]:
    """Every cell record under ``<out>/cells``, sorted by strategy then seed."""
    folder = Path(out) / "cells"
    cells = [files.read_json(p) for p in sorted(folder.glob("*.json"))]
    return sorted(cells, key=lambda c: (c["strategy"], c["seed"]))


def load_config(out: str | os.PathLike) -> dict:
    """The ``config.json`` of the experiment folder ``out``, its dataset and pool paths made
    absolute (they are stored relative to ``out``); ``FileNotFoundError`` naming the file when
    ``out`` is not a benchmark folder."""
    path = Path(out) / "config.json"
    config = files.read_json(path)
    if config is None:
        raise FileNotFoundError(f"{path} not found: not a benchmark folder (bench_al.py --out)")
    return _absolute_paths(config, Path(out))


def rare_classes(dataset_yaml: str | os.PathLike, share: float = RARE_SHARE) -> list[str]:
    """Classes of ``dataset_yaml`` with less than ``share`` of the instances of its labeled
    splits (train, val, test: what a user knows before buying labels), or none."""
    spec = datasets.read_dataset_yaml(dataset_yaml)
    counts = sum(datasets.class_counts(spec, split) for split in ("train", "val", "test")
                 if split in spec.splits)
    total = max(int(np.sum(counts)), 1)
    return [name for name, n in zip(spec.names, counts, strict=True) if n / total < share]


def curves(cells: list[dict], rare: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Per strategy of ``cells`` (records of :func:`run_cell`), arrays of shape (S seeds, R+1
    rounds): ``images``, ``boxes``, ``map50``, ``map50_95``, ``rare_ap50`` (mean AP50 over the
    rare classes; NaN without rare classes), ``seconds`` (wall time). Only rounds that every
    seed of the strategy has finished are kept, and never random's extension rounds
    (:func:`extend_random`; :func:`random_extension` reads them)."""
    grouped: dict[str, list[dict]] = {}
    for cell in cells:
        grouped.setdefault(cell["strategy"], []).append(cell)
    result = {}
    for strategy, group in grouped.items():
        common = [[r for r in c["rounds"] if not r.get("extension")] for c in group]
        n = min(len(rs) for rs in common)
        result[strategy] = {"seeds": np.array([c["seed"] for c in group]),
                            **_arrays([rs[:n] for rs in common], rare)}
    return result


def random_extension(cells: list[dict], rare: list[str]) -> dict[int, dict[str, np.ndarray]]:
    """Random's whole curve per seed in ``cells`` (records of :func:`run_cell`), extension
    rounds included: seed -> 1-D arrays ``images``, ``boxes``, ``map50``, ``rare_ap50`` (the
    mean AP50 of the ``rare`` classes) and the rest of :func:`curves`' keys, over its rounds."""
    return {c["seed"]: {k: v[0] for k, v in _arrays([c["rounds"]], rare).items()}
            for c in cells if c["strategy"] == "random"}


def _arrays(rows: list[list[dict]], rare: list[str]) -> dict[str, np.ndarray]:
    def column(read):
        return np.array([[read(r) for r in rs] for rs in rows], float)

    return {"images": column(lambda r: r["labeled_images"]),
            "boxes": column(lambda r: r["labeled_boxes"]),
            "map50": column(lambda r: r["map50"]), "map50_95": column(lambda r: r["map50_95"]),
            "rare_ap50": column(lambda r: _rare_mean(r, rare)),
            "seconds": column(lambda r: r["seconds"] or 0.0)}


def _rare_mean(entry: dict, rare: list[str]) -> float:
    values = [entry["ap50_per_class"].get(name, 0.0) for name in rare]
    return float(np.mean(values)) if values else float("nan")


def _mean_std(values) -> tuple[float, float | None]:
    """(mean, sample standard deviation) of ``values``; the deviation is None for one value
    (a spread needs two seeds)."""
    values = np.asarray(values, dtype=np.float64)
    spread = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return float(np.mean(values)), spread


def _saving(curve_images, curve_map, target: float, reference_images: float, seed_images: float):
    """(labels needed, saving of all labels, saving of the labels bought after the seed)."""
    needed = labels_to_reach(curve_images, curve_map, target)
    if needed is None:
        return None, None, None
    return (needed, 1.0 - needed / reference_images,
            1.0 - (needed - seed_images) / max(reference_images - seed_images, 1e-9))


#: The units a saving is counted in: labeled images, labeled boxes, annotation seconds.
UNITS = ("images", "boxes", "seconds")


def _units(curve: dict, cost_model: CostModel, row: int | None = None) -> dict[str, np.ndarray]:
    """The x axes of a curve (one seed's ``row`` of :func:`curves`' arrays, or a 1-D curve of
    :func:`random_extension`) in each of :data:`UNITS`; seconds = the cost model's
    ``seconds_per_image * images + seconds_per_box * boxes``."""
    images = curve["images"] if row is None else curve["images"][row]
    boxes = curve["boxes"] if row is None else curve["boxes"][row]
    return {"images": images, "boxes": boxes,
            "seconds": cost_model.seconds_per_image * images
            + cost_model.seconds_per_box * boxes}


def _seed_stat(per_seed: dict[int, float | None], short_of: dict[int, float]) -> dict:
    """Per-seed values -> ``{"per_seed", "mean_sd", "not_reached"}``: ``mean_sd`` (mean,
    sample sd) only when every seed has a value; ``not_reached``: seed -> the labels its curve
    ended at without reaching the target."""
    missing = {k: short_of[k] for k, v in per_seed.items() if v is None}
    values = [v for v in per_seed.values() if v is not None]
    return {"per_seed": per_seed, "not_reached": missing,
            "mean_sd": _mean_std(values) if values and not missing else None}


def _paired(c: dict, ref: dict, extension: dict, rare: list[str],
            cost_model: CostModel) -> dict:
    """Both directions of the saving of strategy ``c`` against random, seed by seed (each
    seed against random's run of the same seed, which started from the same seed model), in
    images, boxes and annotation seconds:

    * ``to_reach_random[unit]``: 1 - (s's labels to reach random's mAP50 at the horizon) /
      random's labels at the horizon;
    * ``random_to_match[unit]`` (the seed's measure): s's labels at its final round / the
      labels random's curve, extension included, needs to reach s's final mAP50 (so 0.4 means
      "the strategy needs 40% of random's labels");
    * ``random_to_match_rare[unit]``: the same for the mean rare-class AP50 (None without
      rare classes).

    Each is :func:`_seed_stat`; a seed that random lacks is left out."""
    ref_seeds = ref["seeds"].tolist()
    pairs = [(i, ref_seeds.index(s), s) for i, s in enumerate(c["seeds"].tolist())
             if s in ref_seeds]
    result = {"to_reach_random": {}, "random_to_match": {}, "random_to_match_rare": {}}
    for unit in UNITS:
        reach, match, match_rare, short, short_ext = {}, {}, {}, {}, {}
        for i, r, seed in pairs:
            own, theirs = _units(c, cost_model, i)[unit], _units(ref, cost_model, r)[unit]
            needed = labels_to_reach(own, c["map50"][i], ref["map50"][r, -1])
            reach[seed] = None if needed is None else 1.0 - needed / theirs[-1]
            short[seed] = float(own[-1])
            whole = extension.get(seed, {k: v[r] for k, v in ref.items() if k != "seeds"})
            x = _units(whole, cost_model)[unit]
            short_ext[seed] = float(x[-1])
            found = labels_to_reach(x, whole["map50"], c["map50"][i, -1])
            match[seed] = None if found is None else float(own[-1]) / max(found, 1e-9)
            if rare:
                found = labels_to_reach(x, whole["rare_ap50"], c["rare_ap50"][i, -1])
                match_rare[seed] = None if found is None else float(own[-1]) / max(found, 1e-9)
        result["to_reach_random"][unit] = _seed_stat(reach, short)
        result["random_to_match"][unit] = _seed_stat(match, short_ext)
        result["random_to_match_rare"][unit] = _seed_stat(match_rare, short_ext) if rare else None
    return result


def summarize(cells: list[dict], rare: list[str], cost_model: CostModel | None = None,
              config: dict | None = None) -> dict:
    """The report's numbers for ``cells`` (records of :func:`run_cell`), per strategy, against
    ``random`` (which must be in the grid); ``rare`` names the rare classes; ``cost_model``
    prices the labeled images and their real boxes (:mod:`alkit.core.cost`; ``None``: the
    documented defaults); ``config`` (the folder's ``config.json``) says the protocol.

    Spreads are sample standard deviations over seeds (None with one seed). For strategy s
    (arrays over seeds at the last round all its seeds finished; random's extension rounds
    never count as its horizon):
    ``final_map50`` mean and sd; ``final_rare_ap50`` (mean AP50 of the rare classes) and its
    ratio to random's mean; ``labels_to_reach_random``: labeled images at which s's mean curve
    reaches random's final mean mAP50 (None when it never does), ``saving`` = 1 - that /
    random's final labeled images, ``saving_after_seed`` the same counting only labels bought
    after the seed set; ``boxes_to_reach_random`` and ``box_saving`` the same in labeled boxes
    (what drawing costs: uncertain images tend to hold more objects); ``cost_to_reach_random``
    and ``cost_saving`` the same in annotation seconds (``cost_model`` over the labeled images
    and boxes); ``labels_to_reach_random_rare`` and ``rare_saving``: labeled images at which
    the mean rare-class AP50 curve reaches random's final one, and 1 - that / random's
    images; ``paired``: both directions seed by seed (:func:`_paired`), the seed's measure
    among them; ``first_gain_ratio``: the mean first-round gain over random's;
    ``saving_per_seed``: the saving in images seed by seed (``paired``'s);
    ``first_gain_per_100``: (mAP50 after round 1 - seed mAP50) / labels bought in round 1 *
    100, mean and sd over seeds; ``per_round``: see :func:`_per_round`. ``notes``: missing
    seeds and unfinished cells, in words; ``protocol``: see :func:`describe_protocol`.
    """
    data = curves(cells, rare)
    if "random" not in data:
        raise ValueError("the report compares with 'random': run it in the grid too")
    ref = data["random"]
    extension = random_extension(cells, rare)
    ref_images = float(np.mean(ref["images"][:, -1]))
    ref_map = float(np.mean(ref["map50"][:, -1]))
    ref_rare = float(np.mean(ref["rare_ap50"][:, -1]))
    ref_boxes = float(np.mean(ref["boxes"][:, -1]))
    cost_model = cost_model or CostModel()
    ref_cost = cost_model.total(ref_images, ref_boxes)
    seed_images = float(np.mean(ref["images"][:, 0]))
    ref_gain = float(np.mean(_first_gains(ref))) if ref["images"].shape[1] > 1 else None
    rows = {}
    for strategy, c in data.items():
        mean_images = c["images"].mean(axis=0)
        mean_map = c["map50"].mean(axis=0)
        needed, saving, saving_after_seed = _saving(mean_images, mean_map, ref_map, ref_images,
                                                    seed_images)
        boxes_needed = labels_to_reach(c["boxes"].mean(axis=0), mean_map, ref_map)
        cost_curve = _units({k: c[k].mean(axis=0) for k in ("images", "boxes")},
                            cost_model)["seconds"]
        cost_needed = labels_to_reach(cost_curve, mean_map, ref_map)
        rare_needed = (labels_to_reach(mean_images, c["rare_ap50"].mean(axis=0), ref_rare)
                       if ref_rare > 0 else None)
        gains = _first_gains(c) if c["images"].shape[1] > 1 else None
        paired = _paired(c, ref, extension, rare, cost_model)
        rows[strategy] = {
            "seeds": c["seeds"].tolist(), "rounds": int(c["images"].shape[1] - 1),
            "final_images": float(mean_images[-1]),
            "final_boxes": float(c["boxes"][:, -1].mean()),
            "final_map50": _mean_std(c["map50"][:, -1]),
            "final_map50_95": _mean_std(c["map50_95"][:, -1]),
            "final_rare_ap50": _mean_std(c["rare_ap50"][:, -1]),
            "rare_ratio_vs_random": (float(np.mean(c["rare_ap50"][:, -1])) / ref_rare
                                     if ref_rare > 0 else None),
            "labels_to_reach_random": needed, "saving": saving,
            "saving_after_seed": saving_after_seed,
            "boxes_to_reach_random": boxes_needed,
            "box_saving": None if boxes_needed is None else 1.0 - boxes_needed / ref_boxes,
            "final_cost": float(cost_curve[-1]),
            "cost_to_reach_random": cost_needed,
            "cost_saving": None if cost_needed is None else 1.0 - cost_needed / ref_cost,
            "labels_to_reach_random_rare": rare_needed,
            "rare_saving": None if rare_needed is None else 1.0 - rare_needed / ref_images,
            "first_gain_ratio": (float(np.mean(gains)) / ref_gain
                                 if gains is not None and ref_gain else None),
            "saving_per_seed": paired["to_reach_random"]["images"]["per_seed"],
            "paired": paired,
            "first_gain_per_100": (_mean_std(_first_gains(c)) if c["images"].shape[1] > 1
                                   else None),
            "seconds_per_run": _mean_std(c["seconds"].sum(axis=1)),
            "per_round": _per_round(c, ref),
        }
    return {"rare_classes": rare, "random_final_map50": ref_map,
            "random_final_images": ref_images, "random_final_rare_ap50": ref_rare,
            "random_final_boxes": ref_boxes, "random_final_cost": ref_cost,
            "random_extended_to": {s: float(e["images"][-1]) for s, e in extension.items()},
            "cost_model": cost_model.describe(), "spread": "sample standard deviation",
            "seed_images": seed_images, "strategies": rows, "notes": _notes(cells, data),
            "protocol": describe_protocol(config or {}, cells)}


def _notes(cells: list[dict], data: dict) -> list[str]:
    """What a reader must know before comparing rows: seeds a strategy lacks, strategies that
    stop before the horizon (their final is at fewer labels)."""
    every = sorted({c["seed"] for c in cells})
    horizon = max(int(c["images"].shape[1]) - 1 for c in data.values())
    notes = []
    for name, c in sorted(data.items()):
        missing = sorted(set(every) - set(c["seeds"].tolist()))
        if missing:
            notes.append(f"{name}: seed(s) {', '.join(map(str, missing))} missing (no cell "
                         f"file): its numbers are over seeds "
                         f"{', '.join(map(str, c['seeds'].tolist()))} only")
        rounds = int(c["images"].shape[1]) - 1
        if rounds < horizon:
            notes.append(f"{name}: {rounds} of {horizon} rounds finished by every seed: its "
                         f"final is at {c['images'][:, -1].mean():.0f} labeled images, not at "
                         "the horizon (run the grid again to finish it)")
    return notes


def describe_protocol(config: dict, cells: list[dict]) -> dict:
    """How the cells were trained, from ``config`` (a ``config.json``): ``{"fixed_start",
    "extended", "text"}``. Under a fixed start (every round from the start weights) random at
    any budget needs no earlier rounds, so :func:`extend_random` can continue it; a folder
    trained with warm start (the protocol before the seed's measure, or before the loop was
    consolidated) says that it does not measure random's labels to match a strategy."""
    recipe = config.get("recipe")
    extended = any(r.get("extension") for c in cells if c["strategy"] == "random"
                   for r in c["rounds"])
    if not recipe:
        return {"fixed_start": False, "extended": extended, "text": (
            "run before the loop was consolidated (no training recipe recorded): not "
            "comparable with today's folders, and random was not extended, so the labels "
            "random needs to match a strategy's final are not measured here")}
    epochs = recipe.get("epochs")
    if recipe.get("warm_start", True):
        return {"fixed_start": False, "extended": extended, "text": (
            f"each round fine-tunes the previous round's model for {epochs} epochs (warm "
            "start): random's model at a budget depends on its earlier rounds, random was "
            "not extended past the horizon, so the labels random needs to match a strategy's "
            "final are measured only where random's curve reaches it")}
    cap = config.get("extension_cap", 3.0)
    return {"fixed_start": True, "extended": extended, "text": (
        f"every round trains from the start weights for {epochs} epochs on every label so far "
        "(fixed start), so random at any budget needs no earlier rounds; "
        + (f"random continues past the horizon until it matches each strategy's final, up to "
           f"{cap:g}x its labels at the horizon" if extended else
           "random has not been extended past the horizon yet (bench_al.py --extend-random)"))}


def _per_round(c: dict, ref: dict) -> list[dict]:
    """Round by round (equal budgets): mean labeled images and boxes, mAP50 and rare-class
    AP50 (mean, sd over seeds), and the rare AP50 ratio to random's mean at the same round
    (None where random has not reached that round or its rare AP50 is 0)."""
    rows = []
    for r in range(c["images"].shape[1]):
        ref_rare = (float(np.mean(ref["rare_ap50"][:, r])) if r < ref["images"].shape[1]
                    else 0.0)
        rare = _mean_std(c["rare_ap50"][:, r])
        rows.append({"round": r, "images": float(c["images"][:, r].mean()),
                     "boxes": float(c["boxes"][:, r].mean()),
                     "map50": _mean_std(c["map50"][:, r]), "rare_ap50": rare,
                     "rare_ratio_vs_random": rare[0] / ref_rare if ref_rare > 0 else None})
    return rows


def _first_gains(c: dict) -> np.ndarray:
    return (c["map50"][:, 1] - c["map50"][:, 0]) / (c["images"][:, 1] - c["images"][:, 0]) * 100


def recommend(summary: dict) -> str:
    """The answer of a ``summary`` (:func:`summarize`) in words: which strategy, if any, pays
    on this pool, counted in images, boxes and annotation seconds, with the seed-to-seed
    spread. A strategy is recommended only when it reaches random's final mAP50 with less
    annotation cost than random (buying denser images is not a saving)."""
    rows = {k: v for k, v in summary["strategies"].items() if k != "random"}
    paying = {k: v for k, v in rows.items() if (v.get("cost_saving") or 0) > 0}
    if not paying:
        return ("No strategy reached random's final mAP50 "
                f"({summary['random_final_map50']:.3f}) for less annotation cost than random "
                "in this run: on this pool, with these budgets, label a random sample (it is "
                "the cheapest to run), or try more rounds or seeds before concluding.")
    name, row = max(paying.items(), key=lambda kv: kv[1]["cost_saving"])
    per_seed = [v for v in row["saving_per_seed"].values() if v is not None]
    spread = (f" (per seed: {', '.join(f'{v:.0%}' for v in per_seed)})" if per_seed else "")
    rare = (f"; it reaches random's final rare-class AP50 with {row['rare_saving']:.0%} fewer "
            "images" if row.get("rare_saving") is not None else "")
    match = row.get("paired", {}).get("random_to_match", {}).get("images")
    seeds_measure = (f" Counted the other way, it needs {_stat_text(match, 'share')} of the "
                     "images random needs to match its final mAP50." if match else "")
    return (f"{name} pays: it reaches random's final mAP50 ({summary['random_final_map50']:.3f})"
            f" with {_num(row['saving'], '%')} fewer images{spread}, "
            f"{_num(row['box_saving'], '%')} fewer boxes and {row['cost_saving']:.0%} less "
            f"annotation time ({summary.get('cost_model', CostModel().describe())}){rare}."
            f"{seeds_measure} Seeds: {len(row['seeds'])}; a saving smaller than the spread "
            "between seeds is not yet a result.")


def format_summary(summary: dict) -> str:
    """The ``summary`` (:func:`summarize`) in Markdown: the protocol and notes, the finals,
    the savings both ways (paired by seed, mean ± sample sd) and the budgets table."""
    head = ("| strategy | seeds | final mAP50 | rare AP50 | rare vs random | "
            "1st-round gain / 100 labels | vs random |\n|---|---|---|---|---|---|---|\n")
    order = sorted(summary["strategies"].items(), key=lambda kv: -kv[1]["final_map50"][0])
    lines = []
    for name, row in order:
        gain = row["first_gain_per_100"]
        lines.append(
            f"| {name} | {len(row['seeds'])} | {_pm(row['final_map50'])} | "
            f"{_pm(row['final_rare_ap50'])} | {_num(row['rare_ratio_vs_random'], 'x')} | "
            f"{_pm(gain, 4) if gain else '-'} | {_num(row.get('first_gain_ratio'), 'x')} |")
    rare = ", ".join(summary["rare_classes"]) or "none"
    protocol = summary.get("protocol", {}).get("text")
    notes = "".join(f"- {n}\n" for n in summary.get("notes", []))
    return ((f"Protocol: {protocol}.\n\n" if protocol else "")
            + (f"Read first:\n{notes}\n" if notes else "")
            + head + "\n".join(lines) + f"\n\nRandom's final mAP50: "
            f"{summary['random_final_map50']:.3f} at {summary['random_final_images']:.0f} "
            f"labeled images (seed set {summary['seed_images']:.0f}). Rare classes: {rare}. "
            f"Cost: {summary.get('cost_model', CostModel().describe())} over the labeled "
            "images and their real boxes. ± is the sample standard deviation over seeds.\n"
            + format_savings(summary) + format_budgets(summary))


def format_savings(summary: dict) -> str:
    """The savings of a ``summary`` both ways, paired by seed (mean ± sample sd), in images,
    boxes and annotation seconds: labels saved to reach random's final, and the strategy's
    share of the labels random needs to match its final mAP50 (and rare-class AP50)."""
    rare = bool(summary["rare_classes"])
    head = ("\nSavings against random, seed by seed (mean ± sample sd over seeds). Left: "
            "labels saved to reach random's final mAP50. Right (the seed's measure): the "
            "strategy's labels as a share of what random needs to match its final"
            + (" mAP50, then rare-class AP50" if rare else " mAP50") + ":\n\n"
            "| strategy | saved: images | boxes | seconds | share of random's: images | "
            "boxes | seconds |" + (" rare: images | seconds |" if rare else "") + "\n"
            + "|---" * (9 if rare else 7) + "|\n")
    lines = []
    for name, row in sorted(summary["strategies"].items()):
        if name == "random" or "paired" not in row:
            continue
        p = row["paired"]
        cells = [_stat_text(p["to_reach_random"][u], "saving") for u in UNITS]
        cells += [_stat_text(p["random_to_match"][u], "share") for u in UNITS]
        if rare:
            cells += [_stat_text(p["random_to_match_rare"][u], "share")
                      for u in ("images", "seconds")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def _stat_text(stat: dict | None, kind: str) -> str:
    """``38% ± 6%``; or ``not reached by 2,400 (seeds 1, 2)`` with the labels the curve
    ended at (the cap for a random extension)."""
    if stat is None:
        return "-"
    if stat["not_reached"]:
        seeds = sorted(stat["not_reached"], key=int)
        by = max(stat["not_reached"].values())
        return (f"not reached by {by:,.0f} (seed{'s' if len(seeds) > 1 else ''} "
                f"{', '.join(map(str, seeds))})")
    mean, sd = stat["mean_sd"]
    return f"{mean:.0%}" + ("" if sd is None else f" ± {sd:.0%}")


def format_budgets(summary: dict) -> str:
    """A Markdown table of a ``summary`` (:func:`summarize`) round by round: each strategy's
    mean mAP50 and mean rare-class AP50
    (with its ratio to random's at the same round) at equal labeled-image budgets."""
    rows = summary["strategies"]
    names = sorted(rows, key=lambda n: (n != "random", n))
    n_rounds = max(len(rows[n]["per_round"]) for n in names)
    head = ("\nAt equal budgets (mean over seeds; mAP50 / rare-class AP50, ratio to random):\n\n"
            "| round | labeled images | " + " | ".join(names) + " |\n|---|---|"
            + "---|" * len(names) + "\n")
    lines = []
    for r in range(n_rounds):
        cells = [rows[n]["per_round"][r] if r < len(rows[n]["per_round"]) else None
                 for n in names]
        images = next(c["images"] for c in cells if c is not None)
        lines.append(f"| {r} | {images:.0f} | " + " | ".join(_budget_cell(c) for c in cells)
                     + " |")
    return head + "\n".join(lines) + "\n"


def _budget_cell(entry: dict | None) -> str:
    if entry is None:
        return "-"
    ratio = entry["rare_ratio_vs_random"]
    return (f"{entry['map50'][0]:.3f} / {entry['rare_ap50'][0]:.2f}"
            + (f" ({ratio:.2f}x)" if ratio is not None else ""))


def _pm(pair, digits: int = 3) -> str:
    mean, sd = pair
    if not np.isfinite(mean):  # e.g. the rare-class AP50 of a dataset without rare classes
        return "-"
    return f"{mean:.{digits}f} ± " + ("n/a" if sd is None else f"{sd:.{digits}f}")


def _num(value, unit: str, digits: int = 2) -> str:
    if value is None:
        return "not reached" if unit != "x" else "-"
    if unit == "%":
        return f"{value:.0%}"
    return f"{value:.{digits}f}{unit}"


# --------------------------------------------------------------------------- what was picked


def export_picks(out: str | os.PathLike) -> dict[str, dict[str, list[str]]]:
    """Copy every cell's picks out of its project into ``<out>/picks/<cell>.json``.

    Each file maps a finished round (>= 1, as a string) to the picked pool images in rank order,
    as paths relative to the dataset's pool folder. The projects under ``<out>/work`` are not
    committed; the picks files are, so the composition analysis survives a fresh checkout.
    Returns every cell's picks (files left by earlier exports included).
    """
    out = Path(out)
    folder = out / "picks"
    for directory in sorted((out / WORK).glob("*-s*")):
        if directory.name.startswith("seed-s") or not (directory / "project.db").exists():
            continue
        with Ledger(directory) as ledger:
            pool = datasets.read_dataset_yaml(ledger.meta()["dataset_yaml"]).splits["pool"]
            picks = {str(r.number): [os.path.relpath(q["path"], pool)
                                     for q in ledger.queries(r.number)]
                     for r in ledger.rounds() if r.number >= 1 and r.status == "done"}
        folder.mkdir(exist_ok=True)
        files.write_json(folder / f"{directory.name}.json", picks, sort_keys=True)
    return {p.stem: files.read_json(p) for p in sorted(folder.glob("*.json"))}


def pick_composition(out: str | os.PathLike, dataset_yaml: str | os.PathLike,
                     rare: list[str]) -> dict[str, dict]:
    """What each strategy of the experiment in ``out`` (on ``dataset_yaml``, with the ``rare``
    classes) sent to the annotators, round by round, mean over its seeds.

    Per round: ``objects`` (boxes per picked image), ``rare_per_100`` (rare-class boxes per 100
    picked images) and, on the sample benchmark (``generation_metadata.csv`` beside the yaml),
    ``hard`` (share of picks whose scene is not "easy") and ``redundant`` (share of picks from a
    near-duplicate group that the same run had already picked). Key ``"pool"`` holds the whole
    pool's values (what random picks on average; redundancy does not apply).
    """
    from alkit.annotate.simulated import Oracle

    spec = datasets.read_dataset_yaml(dataset_yaml)
    oracle = Oracle(dataset_yaml)
    rare_ids = [spec.names.index(name) for name in rare]
    meta = _generation_metadata(spec)

    def describe(name: str) -> tuple[int, int, str | None, int]:
        classes = oracle.answer(spec.splits["pool"] / name).class_ids
        row = meta.get(Path(name).name, {})
        return (len(classes), int(np.isin(classes, rare_ids).sum()), row.get("condition"),
                int(row.get("duplicate_group") or -1))

    cache: dict[str, tuple] = {}

    def fact(name: str) -> tuple:
        if name not in cache:
            cache[name] = describe(name)
        return cache[name]

    per_strategy: dict[str, list[list[dict]]] = {}
    for cell, rounds in export_picks(out).items():
        seen: set[int] = set()
        rows = [_composition([fact(n) for n in rounds[number]], seen)
                for number in sorted(rounds, key=int)]
        if rows:  # a cell without a finished round says nothing yet
            per_strategy.setdefault(cell.rsplit("-s", 1)[0], []).append(rows)
    result = {name: _mean_rows(runs) for name, runs in per_strategy.items()}
    pool = spec.splits["pool"]
    result["pool"] = [_composition([fact(os.path.relpath(p, pool))
                                    for p in datasets.list_images(pool)], None)]
    return result


def _generation_metadata(spec) -> dict[str, dict]:
    """Pool rows of the sample benchmark's metadata by image file name ({} for other data)."""
    if not (spec.root / samples.METADATA_FILE).is_file():
        return {}
    return {Path(row["image"]).name: row for row in samples.read_generation_metadata(spec.root)
            if row["split"] == "pool"}


def _composition(facts: list[tuple], seen: set[int] | None) -> dict:
    """Averages over one round's picks; ``seen`` (duplicate groups picked before) is updated."""
    n = max(len(facts), 1)
    row = {"images": len(facts), "objects": sum(f[0] for f in facts) / n,
           "rare_per_100": 100 * sum(f[1] for f in facts) / n, "hard": None, "redundant": None}
    if not any(f[2] is not None for f in facts):  # no generation metadata: no scene facts
        return row
    redundant = 0
    for *_, group in facts:
        if seen is not None and group >= 0:
            redundant += group in seen
            seen.add(group)
    row["hard"] = sum(f[2] != "easy" for f in facts) / n
    row["redundant"] = redundant / n if seen is not None else None
    return row | {f"scene:{kind}": sum(f[2] == kind for f in facts) / n for kind in SCENE_KINDS}


def _mean_rows(runs: list[list[dict]]) -> list[dict]:
    """Round-by-round means over seeds (only rounds every seed has)."""
    n = min(len(rows) for rows in runs)
    return [{key: (None if runs[0][r][key] is None else
                   float(np.mean([rows[r][key] for rows in runs])))
             for key in runs[0][r]} for r in range(n)]


def format_composition(composition: dict[str, list[dict]]) -> str:
    """A Markdown table of a ``composition`` (:func:`pick_composition`): per strategy, the
    picks of all rounds together and of round 1."""
    keys = ("objects", "rare_per_100", "rare_share", "hard", "redundant")
    lines = ["| picks of | rounds | boxes / image | rare boxes / 100 images | rare share of boxes "
             "| hard scenes | already-picked near-duplicates |", "|---|---|---|---|---|---|---|"]
    for name, rows in sorted(composition.items(), key=lambda kv: (kv[0] == "pool", kv[0])):
        total = sum(r["images"] for r in rows) or 1
        mean = {key: (None if rows[0][key] is None else
                      sum(r[key] * r["images"] for r in rows) / total)
                for key in ("objects", "rare_per_100", "hard", "redundant")}
        first = {**rows[0], "rare_share": _rare_share(rows[0])}
        mean["rare_share"] = _rare_share(mean)
        label = "the whole pool" if name == "pool" else name
        lines.append(f"| {label} | {len(rows) if name != 'pool' else '-'} | "
                     + " | ".join(_both(mean[k], first[k], k, name == "pool") for k in keys)
                     + " |")
    return ("\nWhat the strategies sent to the annotators (all rounds; round 1 in brackets):\n\n"
            + "\n".join(lines) + "\n" + _format_scenes(composition))


def _format_scenes(composition: dict[str, list[dict]]) -> str:
    """Share of each scene kind among all picks (sample benchmark only)."""
    if not any("scene:easy" in rows[0] for rows in composition.values()):
        return ""
    lines = ["| picks of | " + " | ".join(SCENE_KINDS) + " |",
             "|---|" + "---|" * len(SCENE_KINDS)]
    for name, rows in sorted(composition.items(), key=lambda kv: (kv[0] == "pool", kv[0])):
        if "scene:easy" not in rows[0]:
            continue
        total = sum(r["images"] for r in rows) or 1
        lines.append(f"| {'the whole pool' if name == 'pool' else name} | " + " | ".join(
            f"{sum(r[f'scene:{k}'] * r['images'] for r in rows) / total:.0%}"
            for k in SCENE_KINDS) + " |")
    return "\nScene kinds among the picks (all rounds):\n\n" + "\n".join(lines) + "\n"


def _rare_share(row: dict) -> float | None:
    """Rare boxes per box bought: whether a strategy targets the rare classes or only buys
    more boxes (``None`` without boxes)."""
    return row["rare_per_100"] / 100 / row["objects"] if row["objects"] else None


def _both(all_rounds, round_1, key: str, single: bool) -> str:
    if all_rounds is None:
        return "-"
    fmt = {"objects": "{:.2f}", "rare_per_100": "{:.1f}", "rare_share": "{:.1%}"}.get(
        key, "{:.0%}").format
    if round_1 is None:
        return fmt(all_rounds) if single else f"{fmt(all_rounds)} (-)"
    return fmt(all_rounds) if single else f"{fmt(all_rounds)} ({fmt(round_1)})"


def plot_curves(cells: list[dict], rare: list[str], path: str | os.PathLike | None = None):
    """Test mAP50 and rare-class AP50 (the ``rare`` classes) of ``cells`` against labeled
    images and labeled boxes: the mean over seeds per strategy, with the min-max band over
    seeds. Returns the figure (saved when ``path`` is given)."""
    import matplotlib.pyplot as plt

    data = curves(cells, rare)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), constrained_layout=True)
    for row, (metric, label) in enumerate((("map50", "test mAP50"),
                                           ("rare_ap50", "rare-class AP50"))):
        for col, (x_key, x_label) in enumerate((("images", "labeled images"),
                                                ("boxes", "labeled boxes"))):
            ax = axes[row, col]
            for strategy, c in sorted(data.items()):
                x, y = c[x_key].mean(axis=0), c[metric]
                style = {"color": "black", "ls": "--", "lw": 2} if strategy == "random" else {}
                line, = ax.plot(x, y.mean(axis=0), marker="o", ms=3,
                                label=f"{strategy} ({len(c['seeds'])})", **style)
                ax.fill_between(x, y.min(axis=0), y.max(axis=0), alpha=0.12,
                                color=line.get_color())
            _plot_extension(ax, random_extension(cells, rare), x_key, metric)
            ax.set(xlabel=x_label, ylabel=label)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, title="strategy (seeds)")
    fig.suptitle(f"Active learning vs random: mean over seeds, band = min-max "
                 f"(rare: {', '.join(rare) or 'none'})")
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def _plot_extension(ax, extension: dict[int, dict[str, np.ndarray]], x_key: str,
                    metric: str) -> None:
    """Random's rounds past the horizon (:func:`extend_random`), one dotted line per seed."""
    for i, (_seed, curve) in enumerate(sorted(extension.items())):
        ax.plot(curve[x_key], curve[metric], color="black", ls=":", lw=1, alpha=0.6,
                label="random, extended (per seed)" if i == 0 else None)


def write_report(out: str | os.PathLike, dataset_yaml: str | os.PathLike | None = None,
                 rare: list[str] | None = None, cost_model: CostModel | None = None) -> dict:
    """Summarize ``<out>/cells`` into ``summary.json``, ``summary.md`` and
    ``learning_curves.png`` under ``out`` (with what each strategy picked, from
    :func:`pick_composition`, which also refreshes ``<out>/picks``); returns the summary.
    ``dataset_yaml`` and ``rare`` default to what ``config.json`` says (the rare classes: else
    those under 5% of the labeled splits' instances); ``cost_model`` prices the labels
    (:func:`summarize`)."""
    import matplotlib.pyplot as plt

    out = Path(out)
    config = _absolute_paths(files.read_json(out / "config.json", {}), out)
    if rare is None:
        rare = list(config.get("rare_classes") or ()) or rare_classes(
            dataset_yaml or config["dataset_yaml"])
    cells = load_cells(out)
    summary = summarize(cells, rare, cost_model, config)
    summary["picks"] = pick_composition(out, dataset_yaml or config["dataset_yaml"], rare)
    files.write_json(out / "summary.json", summary, sort_keys=True)
    files.write_text_atomic(out / "summary.md", format_summary(summary)
                               + format_composition(summary["picks"]))
    plt.close(plot_curves(cells, rare, out / "learning_curves.png"))
    return summary
