"""The starter experiment: are the model's least confident images worth more labels than a
random sample, and is alkit's default strategy? (``alkit starter``, ``make demo``, notebook 06.)

It is an experiment of :mod:`alkit.loop.simulate` with one round and three or four cells per
seed, all starting from one shared seed model:

* **bottom-K**: the strategy ``least_confidence``: per image the weakest box (1 - the minimum
  confidence over boxes at or above ``conf_threshold``); an image with no such box counts as
  maximally uncertain (score 1.0, picked first; ties in a random order drawn from the seed);
* **random-K**: K random images, drawn anew for each seed;
* **default-K**: the K images alkit's default strategy (:data:`alkit.core.strategy.DEFAULT`,
  ``calibrated``; named by it, ``calibrated-200``) picks, with the seed's random state;
* **seed only** (``control=True``): the same retraining without new labels, which says how much
  of a gain the extra epochs alone give.

K counts images by default. With ``budget_unit="boxes"`` or ``"cost"`` every arm spends the same
K in the model's predicted boxes or in annotation seconds (``seconds_per_image +
seconds_per_box * expected boxes``, :mod:`alkit.core.cost`, the expected boxes calibrated on the
val split), so an arm that buys crowded images buys fewer of them; the report prices what each
arm really bought in images, boxes and hours either way.

Steps: (1) the data: the sample benchmark of ``samples`` (built once) or your dataset yaml
(``train`` = the labeled seed set, ``val``, ``test`` required) with a pool; (2) the seed
model: your checkpoint when it already knows the dataset's classes (used as is), else the start
weights fine-tuned on the seed split for ``recipe.seed_epochs``; (3) the pool scored once with
it (cached); (4) the labels: the simulated annotator, or your label files (``labels=``, one
YOLO ``.txt`` per pool image named like the image relative to the pool folder; images without
one are listed in ``<out>/to_label.txt`` and the run stops: label them and run again); (5) each
arm retrained **from the seed model** with the recipe (``starter``: 5 epochs), the same training
seed for every arm of a seed, and measured on the test split. The verdict answers the seed's
question: it compares the bottom-K minus random-K difference of each seed with the
seed-to-seed spread (:func:`alkit.loop.starter_report.verdict`); alkit's answer, default-K
minus random-K, goes through the same rule.

Everything is a project round under ``<out>/experiment-<key>/`` (the key names the dataset,
pool, recipe and seed model): an interrupted run continues where it stopped, and a finished one
reprints its report without training. Results: ``<out>/starter_report.json`` and
``<out>/starter.png``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from alkit.annotate.base import Annotator
from alkit.core.cost import CostModel
from alkit.core.query import Query
from alkit.core.strategy import DEFAULT
from alkit.data import datasets, samples
from alkit.data.datasets import DatasetError
from alkit.data.scorefile import save_scores
from alkit.loop import simulate
from alkit.loop.project import Project
from alkit.loop.starter_report import (
    PLOT_FILE,
    ArmResult,
    StarterReport,
    budget_label,
    budget_words,
    default_picks,
    verdict,
)
from alkit.model.recipe import Recipe, as_recipe


class MissingLabelError(DatasetError):
    """Picked pool images have no label file yet (they are listed in ``to_label.txt``)."""


def run_starter(
    data: str | os.PathLike | None = None, *,
    pool: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
    sample_preset: str = "starter",
    recipe: Recipe | str = "starter",
    budget: float = 200,
    budget_unit: str = "images",
    cost_model: CostModel | None = None,
    n_seeds: int = 3,
    control: bool = False,
    conf_threshold: float = 0.25,
    out: str | os.PathLike | None = None,
    workdir: str | os.PathLike = "data_samples/generated",
    random_state: int = 0,
    annotator: Annotator | None = None,
    progress: bool = True,
    jobs: int = 1,
    echo=print,
) -> StarterReport:
    """Run the starter experiment (see the module docstring); returns its report.

    Args:
        data: your dataset yaml (train = seed set, val, test; names); ``None``: the sample
            benchmark of ``sample_preset`` (:data:`alkit.PRESETS`), built in
            ``workdir/<preset>``.
        pool: the pool's image folder or list file (default: the yaml's ``pool``).
        weights: your seed model (a checkpoint with the dataset's classes: used as is) or
            start weights to fine-tune (default: the recipe's, else the pretrained start).
        labels: a folder of YOLO label files for the pool (default: the dataset's hidden
            ``oracle_labels``, through the simulated annotator).
        recipe: a :class:`alkit.Recipe` or the name of one in :data:`alkit.RECIPES`.
        budget: K, what each arm (bottom, random and default) spends on labels, in
            ``budget_unit``.
        budget_unit: ``"images"``, ``"boxes"`` (the model's predicted boxes, at least one per
            image) or ``"cost"`` (annotation seconds by ``cost_model``).
        cost_model: the :class:`alkit.core.cost.CostModel` that prices ``"cost"`` budgets and
            the report's hours (default: 4 s per image + 25.5 s per box).
        n_seeds: repetitions. control: add the seed-only arm (the same retraining without
            new labels: what the epochs alone give; 1 more training per seed).
        conf_threshold: boxes at or above it count when finding an image's weakest box.
        out: results folder (default ``workdir/starter-<preset>``; for your own data
            ``starter-<yaml stem>`` in the current directory).
        random_state: seed i draws its random picks, runs the default strategy and trains
            with ``random_state + i``; the shared seed model trains with ``random_state``.
        annotator: any :class:`alkit.Annotator`; overrides ``labels``.
        progress: progress bars while scoring and training (the seed model and arms run in
            this process).
        jobs: arms trained at once, in worker processes with ``1 / jobs`` of the CPU
            threads each (``make demo``: 2). An annotator that cannot be pickled (a live
            server client) runs its arms one after the other here.
        echo: where the step-by-step lines and the report go (``print``).
    """
    started = time.perf_counter()
    if jobs < 1:
        raise ValueError(f"jobs (arms trained at once) must be >= 1, got {jobs}")
    # 200 and 200.0 (the command line's float) name the same experiment and its cache
    budget = int(budget) if float(budget).is_integer() else float(budget)
    the_recipe = as_recipe(recipe)
    data, samples_root = _dataset(data, sample_preset, Path(workdir), echo)
    spec, pool_images = _check_inputs(data, pool, budget, budget_unit, n_seeds)
    annotator = annotator or _annotator(spec, labels, pool)
    out = Path(out) if out is not None else (
        Path(workdir) / f"starter-{sample_preset}" if samples_root else
        Path(f"starter-{Path(data).stem}"))
    the_recipe = _seed_recipe(the_recipe, weights, spec, echo)
    seeds = [random_state + i for i in range(n_seeds)]
    exp = _experiment(spec, pool, the_recipe, _bottom_query(budget, budget_unit, cost_model,
                                                            conf_threshold),
                      control, random_state)
    where = out / f"experiment-{_key(exp.to_dict())}"
    share = (f"{budget / len(pool_images):.0%} of the pool" if budget_unit == "images" else
             f"per arm, in {'predicted boxes' if budget_unit == 'boxes' else 'seconds'}")
    echo(f"    {len(datasets.read_split(spec, 'train'))} labeled seed images, "
         f"{len(pool_images)} pool images, K = {budget_words(budget, budget_unit)} ({share})")
    from alkit.model.yolo import quiet

    with quiet():
        seed_record = _seed_model(where, exp, random_state, progress, echo)
        scores = _score_pool(where, exp, seed_record, pool_images, progress, echo)
        echo(f"4/5 labels from {annotator.describe()}")
        cells = _arms(where, exp, seeds, annotator, out, progress, echo, jobs)
    report = _report(where, exp, spec, pool, samples_root, seeds, control, seed_record, scores,
                     cells, out)
    report.seconds = time.perf_counter() - started
    report.save(out)
    figure = report.plot()
    figure.savefig(out / PLOT_FILE, dpi=120, bbox_inches="tight")
    _close(figure)
    echo(report.format())
    return report


# ---- 1. data and inputs


def _dataset(data, preset: str, workdir: Path, echo) -> tuple[Path, Path | None]:
    if data is not None:
        echo(f"1/5 dataset {data}")
        return Path(data), None
    root = workdir / preset
    if samples.is_built(root, preset, random_state=0):
        echo(f"1/5 the '{preset}' sample benchmark in {root} (already built)")
    else:
        echo(f"1/5 building the '{preset}' sample benchmark in {root}")
        samples.build_samples(preset, root, random_state=0, progress=False)
    return root / "dataset.yaml", root


def _check_inputs(data: Path, pool, budget: float, budget_unit: str, n_seeds: int):
    """Everything that can be wrong before any training, with the file named."""
    from alkit.core.selection import BUDGET_UNITS
    from alkit.data import validation

    if budget_unit not in BUDGET_UNITS:
        raise ValueError(f"budget_unit must be one of {BUDGET_UNITS}, got {budget_unit!r}")
    if budget < 1 or n_seeds < 1:
        raise ValueError(f"budget and n_seeds must be >= 1, got {budget} and {n_seeds}")
    if budget_unit == "images" and not isinstance(budget, int):
        raise ValueError(f"K = {budget} images: a budget in images must be a whole number")
    spec = datasets.read_dataset_yaml(data)
    if "test" not in spec.splits:
        raise DatasetError(spec.yaml_path, "the starter needs a 'test' split (the fixed "
                           "yardstick both arms are measured on); add test: to the yaml")
    pool_root = Path(pool) if pool is not None else spec.splits.get("pool")
    if pool_root is None:
        raise DatasetError(spec.yaml_path, "no pool: give pool= (--pool DIR) or a 'pool' key "
                           "in the yaml (the unlabeled images to choose from)")
    pool_images = datasets.list_images(pool_root)
    if budget_unit == "images":
        _check_budget(budget, len(pool_images), pool_root)
    report = validation.validate_dataset(spec.yaml_path, check_duplicates=False, progress=False)
    if report.fatal:
        raise DatasetError(spec.yaml_path, "fix the dataset first:\n"
                           + report.format(max_problems=20))
    return spec, pool_images


def _check_budget(budget: int, n_pool: int, pool_root) -> None:
    if budget >= n_pool:
        raise ValueError(f"K = {budget} images per arm, but the pool ({pool_root}) has "
                         f"{n_pool}: K must be smaller than the pool, or both arms label the "
                         "same images")


def _annotator(spec, labels, pool) -> Annotator:
    if labels is not None:
        from alkit.annotate.folder import FolderAnnotator

        return FolderAnnotator(labels, pool_root=pool or spec.splits.get("pool"))
    if spec.oracle_labels is not None:
        from alkit.annotate.simulated import Oracle

        return Oracle(spec.yaml_path)
    raise DatasetError(spec.yaml_path, "no labels for the pool: give labels= (--labels DIR, "
                       "one YOLO .txt per pool image) or a benchmark yaml with oracle_labels")


# ---- 2-3. the shared seed model and the pool's scores


def _seed_recipe(the_recipe: Recipe, weights, spec, echo) -> Recipe:
    """Weights that know the dataset's classes are the seed model as they are
    (``seed_epochs = 0``); any other start is fine-tuned on the seed split."""
    if weights is None:
        return the_recipe
    from alkit.model import yolo

    weights = str(weights)
    knows = weights.endswith(".pt") and yolo.class_names(weights) == tuple(spec.names)
    if knows:
        echo(f"2/5 seed model: {weights} (knows the dataset's classes; used as is)")
        return replace(the_recipe, initial_weights=weights, seed_epochs=0)
    if the_recipe.seed_epochs == 0:
        raise ValueError(f"{weights}: its classes are not the dataset's {list(spec.names)}, so "
                         "it is no seed model; give seed_epochs > 0 (--seed-epochs) to "
                         "fine-tune it on the seed split first")
    return replace(the_recipe, initial_weights=weights)


def _bottom_query(budget, budget_unit, cost_model, conf_threshold) -> Query:
    """The bottom-K query (``least_confidence``) with K in ``budget_unit``."""
    cost_model = cost_model or CostModel()
    return Query("least_confidence", budget, budget_unit=budget_unit,
                 conf_threshold=conf_threshold, seconds_per_image=cost_model.seconds_per_image,
                 seconds_per_box=cost_model.seconds_per_box)


def _arm_names(query: Query) -> tuple[str, str, str]:
    """The cell names of the bottom, random and default arms, K in the query's unit
    (``bottom-200``, ``random-200``, ``calibrated-200``)."""
    k = budget_label(query.budget, query.budget_unit)
    return f"bottom-{k}", f"random-{k}", f"{DEFAULT}-{k}"


def _experiment(spec, pool, the_recipe, bottom: Query, control, random_state):
    """One round, the cells of every arm: same K, unit, threshold and cost model; the default
    arm differs from the bottom one in its strategy only."""
    bottom_name, random_name, default_name = _arm_names(bottom)
    queries = {bottom_name: bottom, random_name: replace(bottom, strategy="random"),
               default_name: replace(bottom, strategy=DEFAULT)}
    if control:
        queries["control"] = replace(bottom, strategy="random", budget=0)
    return simulate.Experiment(str(spec.yaml_path), the_recipe, queries, rounds=1,
                               shared_seed_model=random_state,
                               pool=None if pool is None else str(Path(pool).resolve()))


def _seed_model(where: Path, exp, random_state: int, progress: bool, echo):
    cached = (where / simulate.WORK / "seed-shared" / "project.db").exists()
    if not cached and exp.recipe.seed_epochs != 0:
        start = exp.recipe.initial_weights or "the pretrained start"
        echo(f"2/5 seed model: fine-tuning {Path(start).name} on the seed split, "
             f"{exp.recipe.epochs_of(0)} epochs at {exp.recipe.imgsz} px")
    record = simulate.seed_model(where, exp, random_state, progress=progress)
    echo(f"    {'cached; ' if cached else ''}seed model test mAP50 "
         f"{record.metrics_after['map50']:.3f}")
    return record


def _score_pool(where: Path, exp, seed_record, pool_images, progress, echo):
    from alkit.model.scoring import score_pool

    bottom = next(iter(exp.queries.values()))
    echo(f"3/5 scoring {len(pool_images)} pool images with the seed model")
    scores = score_pool(seed_record.model_after, pool_images, imgsz=exp.recipe.imgsz,
                        conf_threshold=bottom.conf_threshold,
                        device=exp.recipe.device, cache_dir=where / simulate.WORK / "scores",
                        progress=progress)
    for path, reason in scores.skipped[:10]:
        echo(f"    skipped {path}: {reason}")
    if scores.skipped:
        echo(f"    {len(scores.skipped)} pool images skipped (they cannot be picked)")
    if bottom.budget_unit == "images":
        _check_budget(bottom.budget, len(scores), exp.pool or "the pool")
    else:
        _check_budget_of_pool(bottom, scores, exp.pool or "the pool")
    return scores


def _check_budget_of_pool(query: Query, scores, pool_root) -> None:
    """K in boxes or seconds must leave part of the pool unbought (uncalibrated prices:
    the raw expected boxes, a rough but early check)."""
    import numpy as np

    per_image = (np.maximum(scores.n_boxes, 1) if query.budget_unit == "boxes" else
                 query.cost_model.cost(scores.expected_boxes))
    total = float(per_image.sum())
    if query.budget >= total:
        raise ValueError(f"K = {budget_words(query.budget, query.budget_unit)} per arm, but the "
                         f"whole pool ({pool_root}) is worth about {total:.0f} "
                         f"{'boxes' if query.budget_unit == 'boxes' else 's'}: K must buy part "
                         "of the pool, or both arms label the same images")


# ---- 4-5. the arms: one round of a project each


def _arms(where: Path, exp, seeds: list[int], annotator, out: Path, progress, echo,
          jobs: int = 1) -> dict:
    jobs_list = [(name, seed) for seed in seeds for name in exp.queries]
    echo(f"5/5 {len(jobs_list)} arms: pick, label, retrain from the seed model "
         f"({exp.recipe.epochs} epochs at {exp.recipe.imgsz} px each"
         f"{f', {jobs} at once' if jobs > 1 else ''})")
    done = {job: simulate.cell_path(where, *job).exists() for job in jobs_list}
    cells, waiting = {}, []
    for i, (job, cell) in enumerate(_run_arms(where, exp, jobs_list, annotator, progress, jobs),
                                    1):
        cell["cached"] = done[job] and "waiting" not in cell
        cells[job] = cell
        waiting += cell.get("waiting", [])
        if "waiting" not in cell:
            echo(f"    [{i}/{len(jobs_list)}] {job[0]}-s{job[1]}: "
                 f"{'cached, ' if cell['cached'] else ''}test mAP50 "
                 f"{cell['rounds'][-1]['map50']:.3f}")
    listing = out / "to_label.txt"
    if waiting:
        listing.parent.mkdir(parents=True, exist_ok=True)
        datasets.write_text_atomic(listing, "".join(f"{p}\n" for p in sorted(set(waiting))))
        raise MissingLabelError(listing, f"{len(set(waiting))} picked pool images have no label "
                                "file yet (listed here); label them and run again")
    listing.unlink(missing_ok=True)
    return {job: cells[job] for job in jobs_list}


def _run_arms(where: Path, exp, jobs_list: list, annotator, progress: bool, jobs: int):
    """Yield ``((name, seed), cell)`` as each arm finishes: in this process one after the
    other, or ``jobs`` at once in worker processes (spawned, each with its share of the CPU
    threads: on 2 cores two 1-thread trainings finish about 1.4x sooner than one after the
    other with 2 threads, ``benchmarks/results/starter/README.md``). Arms already done are
    read from their cell files either way."""
    todo = [job for job in jobs_list if not simulate.cell_path(where, *job).exists()]
    if jobs <= 1 or len(todo) <= 1 or not _picklable(annotator):
        for name, seed in jobs_list:
            yield (name, seed), simulate.run_cell(where, exp, name, seed, annotator=annotator,
                                                  progress=progress, echo=_silent)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from alkit.model.yolo import torch_threads

    for job in jobs_list:  # the cached arms first, without a worker
        if job not in todo:
            yield job, simulate.run_cell(where, exp, *job, annotator=annotator,
                                         progress=False, echo=_silent)
    threads = max(1, torch_threads() // jobs)
    with ProcessPoolExecutor(min(jobs, len(todo)), multiprocessing.get_context("spawn"),
                             initializer=_worker_threads, initargs=(threads,)) as workers:
        futures = {workers.submit(_run_arm, where, exp, job, annotator): job for job in todo}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _picklable(annotator) -> bool:
    """Worker processes get the annotator by pickling; one that holds a connection or a
    lock (a live server client) runs its arms in this process instead."""
    import pickle

    try:
        pickle.dumps(annotator)
    except Exception:  # any reason it cannot travel
        return False
    return True


def _worker_threads(threads: int) -> None:
    os.environ["ALKIT_TORCH_THREADS"] = str(threads)
    from alkit.model import yolo

    yolo.set_torch_threads(threads)


def _run_arm(where: Path, exp, job: tuple[str, int], annotator) -> dict:
    from alkit.model.yolo import quiet

    with quiet():
        return simulate.run_cell(where, exp, *job, annotator=annotator, progress=False,
                                 echo=_silent)


def _silent(*_) -> None:
    """An ``echo`` that says nothing (picklable, unlike a lambda)."""


def _report(where, exp, spec, pool, samples_root, seeds, control, seed_record, scores,
            cells, out) -> StarterReport:
    bottom_query = next(iter(exp.queries.values()))
    bottom_name, random_name, default_name = _arm_names(bottom_query)
    picks = {"bottom": _picks(where, bottom_name, seeds[0])}
    picks.update({f"random-s{s}": _picks(where, random_name, s) for s in seeds})
    picks.update({f"default-s{s}": _picks(where, default_name, s) for s in seeds})
    row = {p: i for i, p in enumerate(scores.paths)}
    bottom_rows = [row[p] for p in picks["bottom"]]
    least = scores.table["least_confidence_max"].to_numpy()
    arms = [_arm(arm, name, seed, cells[(name, seed)], seed_record, where)
            for seed in seeds
            for arm, name in (("bottom", bottom_name), ("random", random_name),
                              ("default", default_name),
                              *((("control", "control"),) if control else ()))]
    metrics = seed_record.metrics_after
    config = {"recipe": exp.recipe.to_dict(), "budget": bottom_query.budget,
              "n_seeds": len(seeds), "control": control,
              "conf_threshold": bottom_query.conf_threshold,
              "strategies": {arm: exp.queries[name].strategy.name for arm, name in (
                  ("bottom", bottom_name), ("random", random_name),
                  ("default", default_name))}}
    if bottom_query.budget_unit != "images":
        config.update(budget_unit=bottom_query.budget_unit,
                      seconds_per_image=bottom_query.seconds_per_image,
                      seconds_per_box=bottom_query.seconds_per_box)
    report = StarterReport(
        dataset=str(spec.yaml_path), pool=str(pool or spec.splits["pool"]), n_pool=len(scores),
        n_skipped=len(scores.skipped), budget=bottom_query.budget, seeds=seeds, config=config,
        start=_start(exp.recipe), seed_weights=seed_record.model_after,
        n_seed_images=cells[(bottom_name, seeds[0])]["rounds"][0]["labeled_images"],
        seed_test={k: metrics[k] for k in ("map50", "map50_95", "ap50_per_class")},
        n_empty_picks=int((scores.n_boxes[bottom_rows] == 0).sum()),
        overlap=[len(set(picks["bottom"]) & set(picks[f"random-s{s}"])) for s in seeds],
        overlap_default=[[len(set(picks[f"default-s{s}"]) & set(picks[other])) for other in
                          ("bottom", f"random-s{s}")] for s in seeds],
        picks=picks, bottom_scores=[float(least[i]) for i in bottom_rows], arms=arms,
        condition_mix=_condition_mix(samples_root, scores, picks), out_dir=str(out),
        scores_path=str(save_scores(scores, out / "scores.npz")),
        budget_unit=bottom_query.budget_unit, default_strategy=DEFAULT)
    random_map50 = [report._map50("random", s) for s in seeds]
    report.verdict = verdict([report._map50("bottom", s) for s in seeds], random_map50,
                             budget=report.k)
    report.default_verdict = verdict([report._map50("default", s) for s in seeds],
                                     random_map50, budget=report.k, name=DEFAULT,
                                     picks=default_picks(DEFAULT))
    if len(seeds) > 1:
        report.caveat = ("Every arm starts from one seed model, so the spreads above leave out "
                         "that model's own training noise: another seed model can rank the "
                         "arms differently.")
    return report


def _picks(where: Path, name: str, seed: int) -> list[str]:
    with Project(where / simulate.WORK / simulate.cell_name(name, seed)) as project:
        return [q["path"] for q in project.ledger.queries(1)]


def _arm(arm: str, name: str, seed: int, cell: dict, seed_record, where: Path) -> ArmResult:
    before, after = cell["rounds"][0], cell["rounds"][-1]
    new = after["labeled_images"] - before["labeled_images"]
    gain = after["map50"] - seed_record.metrics_after["map50"]
    with Project(where / simulate.WORK / simulate.cell_name(name, seed)) as project:
        weights = project.ledger.last_round().model_after
    return ArmResult(arm, seed, new, after["labeled_boxes"] - before["labeled_boxes"],
                     after["map50"], after["map50_95"], dict(after["ap50_per_class"]), gain,
                     100 * gain / new if new else None, after["train_seconds"] or 0.0,
                     str(weights), cell["cached"])


def _start(the_recipe: Recipe) -> str:
    from alkit.model import yolo

    start = the_recipe.initial_weights or yolo.default_start_weights()
    pretrained = yolo.pretrained_checkpoint()
    name = ("the pretrained start" if pretrained is not None and Path(start) == pretrained
            else Path(start).name)
    if the_recipe.seed_epochs == 0:
        return f"your checkpoint {name}, used as the seed model"
    return f"{name} fine-tuned {the_recipe.epochs_of(0)} epochs on the seed split"


def _condition_mix(samples_root: Path | None, scores, picks: dict) -> dict | None:
    """Share of each scene condition in the pool and the picks (sample benchmark only; the
    generator's metadata, read for analysis, never for picking)."""
    if samples_root is None:
        return None
    rows = samples.read_generation_metadata(samples_root)
    condition = {r["image"]: r["condition"] for r in rows if r["split"] == "pool"}
    of = {p: condition.get(f"images/pool/{Path(p).name}", "?") for p in scores.paths}

    def pooled(arm: str) -> list[str]:
        return [p for k, v in picks.items() if k.startswith(f"{arm}-s") for p in v]

    groups = {"pool": list(scores.paths), "bottom": picks["bottom"], "random": pooled("random"),
              "default": pooled("default")}
    kinds = sorted(set(of.values()))
    return {name: {c: Counter(of[p] for p in members)[c] / max(1, len(members)) for c in kinds}
            for name, members in groups.items()}


# ---- helpers


def _key(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def _close(figure) -> None:
    import matplotlib.pyplot as plt

    plt.close(figure)
