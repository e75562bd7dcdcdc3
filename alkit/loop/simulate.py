"""Whole active-learning experiments with the simulated annotator: strategies compared on
equal terms, several seeds each, resumable, results in JSON.

A *cell* of the grid is one (strategy, seed): a project directory (:class:`alkit.Project`)
whose round 0 is the seed model and whose rounds 1..R each select ``budget`` pool images with
the strategy, label them with the :class:`alkit.oracle.Oracle` (the benchmark's hidden
labels), retrain and evaluate on the dataset's fixed test split.

Equal terms:

* the seed model of a seed is trained once (``<out>/seed-s<seed>/``) and shared by every
  strategy of that seed, so all of them start round 1 from the same model;
* every round of every strategy uses the same recipe (:class:`SimulationConfig`: epochs,
  image size, batch, warm start or not) and the same test split;
* the seed changes the training seed and the random draws (``random_state = seed + round``).

Layout of an experiment folder::

    <out>/config.json                the SimulationConfig (a rerun with another one refuses)
    <out>/machine.json               where it ran (platform, CPUs, GPU, versions)
    <out>/cells/<strategy>-s<seed>.json   the cell's rounds, rewritten after each round
    <out>/work/seed-s<seed>/         the shared seed project (round 0 only)
    <out>/work/<strategy>-s<seed>/   one cell's project (ledger, runs, scores cache)

Every round is committed to the ledger step by step (see :mod:`alkit.rounds`), so an
interrupted experiment continues where it stopped when run again; a finished round is never
retrained. Per round a cell records: labeled images and boxes, test mAP50, mAP50-95, per-class
AP50 and the round's wall time (``seconds``; ``resumed`` when the round was interrupted).

The report (:func:`summarize`) reads the cell files: mean and spread over seeds per strategy,
the labels each strategy needed to reach random's final mAP50 (linear interpolation on the
mean curve), rare-class AP50 next to random's, and the first-round gain per 100 labels.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from alkit.data import datasets, samples
from alkit.loop.ledger import Ledger
from alkit.loop.project import Project, RoundConfig

#: Benchmark strategy name -> (alkit.selection strategy, uncertainty measure, parameters).
STRATEGY_SPECS: dict[str, tuple[str, str, dict]] = {
    "random": ("random", "least_confidence_max", {}),
    "least_confidence": ("uncertainty", "least_confidence_max", {}),
    "mean3": ("uncertainty", "least_confidence_mean3", {}),
    "entropy": ("uncertainty", "entropy_max", {}),
    "margin": ("uncertainty", "margin_max", {}),
    "coreset": ("coreset", "least_confidence_max", {}),
    "hybrid": ("hybrid", "least_confidence_mean3", {"alpha": 0.7, "beta": 0.3}),
    "two_stage": ("two_stage", "least_confidence_mean3", {}),
    "rare_class": ("rare_class", "least_confidence_mean3", {}),
    # the uncertainty is the disagreement of 3 members (measure unused): 4 trainings a round
    "committee": ("uncertainty", "least_confidence_max", {"committee_members": 3}),
}

#: The projects (ledgers, training runs, score caches) live under ``<out>/work``: large, not
#: results; everything else under ``<out>`` is small and meant to be kept.
WORK = "work"

#: A class is "rare" when it has less than this share of the seed split's instances.
RARE_SHARE = 0.05
#: Scene kinds of the sample benchmark (its generation metadata), for the composition report.
SCENE_KINDS = tuple(kind for kind, _ in samples.CONFIG.condition_rates)


@dataclass(frozen=True)
class SimulationConfig:
    """The recipe shared by every cell of an experiment."""

    dataset_yaml: str
    rounds: int = 5
    budget: int = 100
    epochs: int = 30
    imgsz: int = 128
    batch: int = 16
    warm_start: bool = True
    initial_weights: str | None = None
    workers: int = 2
    close_mosaic: int = 10
    rare_classes: tuple[str, ...] = field(default=())

    def round_config(self, strategy: str, seed: int) -> RoundConfig:
        """The :class:`RoundConfig` of one cell."""
        name, measure, params = STRATEGY_SPECS[strategy]
        params = dict(params)
        members = params.pop("committee_members", 0)
        return RoundConfig(strategy=name, budget=self.budget, measure=measure,
                           committee_members=members,
                           epochs=self.epochs, imgsz=self.imgsz, batch=self.batch,
                           warm_start=self.warm_start, initial_weights=self.initial_weights,
                           seed=seed, workers=self.workers, close_mosaic=self.close_mosaic,
                           strategy_params=dict(params))


def cell_name(strategy: str, seed: int) -> str:
    """``"<strategy>-s<seed>"``: the cell's folder and JSON name."""
    return f"{strategy}-s{seed}"


def check_strategies(strategies) -> list[str]:
    """The strategy names, validated against :data:`STRATEGY_SPECS`."""
    unknown = [s for s in strategies if s not in STRATEGY_SPECS]
    if unknown:
        raise ValueError(f"unknown strategies {unknown}; expected some of "
                         f"{sorted(STRATEGY_SPECS)}")
    return list(strategies)


def _write_json(path: Path, payload) -> None:
    datasets.write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def _check_config(out: Path, config: SimulationConfig) -> None:
    """Write ``config.json``; refuse to mix cells of two recipes in one folder. Neither the
    number of rounds (more rounds extend the cells, fewer stop early) nor the rare classes
    (they only matter to the report) are part of the recipe: the stored values are replaced
    by a larger round count and by a non-empty rare-class list."""
    path = out / "config.json"
    current = json.loads(json.dumps(asdict(config)))
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in current if k not in ("rare_classes", "rounds")
                         and stored.get(k) != current[k])
        if changed:
            raise ValueError(f"{path} holds another recipe (differs in {changed}); use "
                             "another output folder or delete it")
        current["rounds"] = max(current["rounds"], stored.get("rounds", 0))
        current["rare_classes"] = current["rare_classes"] or stored.get("rare_classes", [])
        if current == stored:
            return
    _write_json(path, current)


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


def seed_model(out: Path, config: SimulationConfig, seed: int, *, progress: bool = True):
    """Train (or load) the seed model of ``seed``: round 0 of ``<out>/seed-s<seed>``."""
    directory = out / WORK / f"seed-s{seed}"
    if not (directory / "project.db").exists():
        shutil.rmtree(directory, ignore_errors=True)  # a crash before the ledger existed
        Project.init(directory, config.dataset_yaml).close()
    project = Project(directory)
    try:
        record = project.ledger.last_round()
        if record is None or record.status != "done":
            record = project.run_round(config.round_config("random", seed), progress=progress)
        return record
    finally:
        project.close()


def _open_cell(out: Path, config: SimulationConfig, strategy: str, seed: int, seed_record):
    """The cell's project, created with the shared seed model as its round 0."""
    directory = out / WORK / cell_name(strategy, seed)
    if not (directory / "project.db").exists():
        shutil.rmtree(directory, ignore_errors=True)
        Project.init(directory, config.dataset_yaml).close()
    project = Project(directory)
    ledger = project.ledger
    last = ledger.last_round()
    if last is None:
        ledger.start_round(0, strategy=None, params={"shared_seed_model": True},
                           model_before=seed_record.model_before,
                           model_before_hash=seed_record.model_before_hash,
                           metrics_before=None)
    if last is None or (last.number == 0 and last.status != "done"):  # or killed in between
        ledger.finish_round(0, model_after=seed_record.model_after,
                            model_after_hash=seed_record.model_after_hash,
                            metrics_after=seed_record.metrics_after)
    return project


def _labeled_totals(project: Project) -> tuple[int, int]:
    """(labeled images, labeled boxes) in the project's ledger."""
    row = project.ledger.conn.execute("SELECT COUNT(*), COALESCE(SUM(n_objects), 0) "
                                      "FROM labels").fetchone()
    return int(row[0]), int(row[1])


def _round_entry(project: Project, record, seconds: float | None, resumed: bool) -> dict:
    images, boxes = _labeled_totals(project)
    metrics = record.metrics_after
    return {"round": record.number, "labeled_images": images, "labeled_boxes": boxes,
            "map50": metrics["map50"], "map50_95": metrics["map50_95"],
            "ap50_per_class": metrics["ap50_per_class"],
            "train_seconds": metrics.get("train_seconds"), "seconds": seconds,
            "resumed": resumed}


def run_cell(out: str | os.PathLike, config: SimulationConfig, strategy: str, seed: int, *,
             progress: bool = True, echo=print) -> dict:
    """Run (or continue) one cell up to ``config.rounds`` rounds; returns its JSON record."""
    out = Path(out)
    check_strategies([strategy])
    _check_config(out, config)
    seed_record = seed_model(out, config, seed, progress=progress)
    path = out / "cells" / f"{cell_name(strategy, seed)}.json"
    cell = (json.loads(path.read_text(encoding="utf-8")) if path.exists() else
            {"strategy": strategy, "seed": seed, "rounds": []})
    project = _open_cell(out, config, strategy, seed, seed_record)
    try:
        if not cell["rounds"]:
            cell["rounds"].append(_round_entry(project, project.ledger.rounds()[0],
                                               seed_record.metrics_after["train_seconds"],
                                               False))
        round_config = config.round_config(strategy, seed)
        oracle = _oracle(config)
        while len(cell["rounds"]) <= config.rounds:
            resumed = project.ledger.last_round().status != "done"
            started = time.perf_counter()
            record = project.run_round(round_config, oracle=oracle, progress=progress)
            entry = _round_entry(project, record, time.perf_counter() - started, resumed)
            cell["rounds"] = [r for r in cell["rounds"] if r["round"] < record.number] + [entry]
            _write_json(path, cell)
            echo(f"{cell_name(strategy, seed)} round {record.number}: "
                 f"{entry['labeled_images']} images, mAP50 {entry['map50']:.3f} "
                 f"({entry['seconds']:.0f} s)")
    finally:
        project.close()
    return cell


def _oracle(config: SimulationConfig):
    from alkit.annotate.simulated import Oracle

    return Oracle(config.dataset_yaml)


def run_grid(out: str | os.PathLike, config: SimulationConfig, strategies, seeds, *,
             progress: bool = True, echo=print) -> list[dict]:
    """Run every (strategy, seed) cell, seed by seed (each seed model is trained once)."""
    strategies = check_strategies(strategies)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_config(out, config)
    machine = out / "machine.json"
    if not machine.exists():
        _write_json(machine, machine_info())
    return [run_cell(out, config, strategy, seed, progress=progress, echo=echo)
            for seed in seeds for strategy in strategies]


def reset_cell(out: str | os.PathLike, strategy: str, seed: int) -> None:
    """Delete one cell (its project and JSON) so that the next run recomputes it."""
    out = Path(out)
    shutil.rmtree(out / WORK / cell_name(strategy, seed), ignore_errors=True)
    (out / "cells" / f"{cell_name(strategy, seed)}.json").unlink(missing_ok=True)


# --------------------------------------------------------------------------- report


def load_cells(out: str | os.PathLike) -> list[dict]:
    """Every cell record under ``<out>/cells``, sorted by strategy then seed."""
    folder = Path(out) / "cells"
    cells = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
    return sorted(cells, key=lambda c: (c["strategy"], c["seed"]))


def rare_classes(dataset_yaml: str | os.PathLike, share: float = RARE_SHARE) -> list[str]:
    """Classes with less than ``share`` of the instances of the labeled splits (train, val,
    test: what a user knows before buying labels), or none."""
    spec = datasets.read_dataset_yaml(dataset_yaml)
    counts = sum(datasets.class_counts(spec, split) for split in ("train", "val", "test")
                 if split in spec.splits)
    total = max(int(np.sum(counts)), 1)
    return [name for name, n in zip(spec.names, counts, strict=True) if n / total < share]


def labels_to_reach(x_R, y_R, target: float) -> float | None:
    """The smallest x at which the piecewise-linear curve (x_R, y_R) reaches ``target``.

    x must be increasing. Returns ``x[0]`` when the curve starts at or above the target,
    ``None`` when it never reaches it; otherwise interpolates linearly inside the first
    segment [x[i-1], x[i]] with ``y[i-1] < target <= y[i]``:
    ``x = x[i-1] + (target - y[i-1]) * (x[i] - x[i-1]) / (y[i] - y[i-1])``.
    """
    x = np.asarray(x_R, dtype=np.float64)
    y = np.asarray(y_R, dtype=np.float64)
    if len(x) == 0:
        return None
    reached = np.flatnonzero(y >= target)
    if len(reached) == 0:
        return None
    i = int(reached[0])
    if i == 0:
        return float(x[0])
    return float(x[i - 1] + (target - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1]))


def curves(cells: list[dict], rare: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Per strategy, arrays of shape (S seeds, R+1 rounds): ``images``, ``boxes``, ``map50``,
    ``map50_95``, ``rare_ap50`` (mean AP50 over the rare classes; NaN without rare classes).
    Only rounds that every seed of the strategy has finished are kept."""
    grouped: dict[str, list[dict]] = {}
    for cell in cells:
        grouped.setdefault(cell["strategy"], []).append(cell)
    result = {}
    for strategy, group in grouped.items():
        n = min(len(c["rounds"]) for c in group)
        rows = [c["rounds"][:n] for c in group]
        result[strategy] = {
            "seeds": np.array([c["seed"] for c in group]),
            "images": np.array([[r["labeled_images"] for r in rs] for rs in rows], float),
            "boxes": np.array([[r["labeled_boxes"] for r in rs] for rs in rows], float),
            "map50": np.array([[r["map50"] for r in rs] for rs in rows], float),
            "map50_95": np.array([[r["map50_95"] for r in rs] for rs in rows], float),
            "rare_ap50": np.array([[_rare_mean(r, rare) for r in rs] for rs in rows], float),
            "seconds": np.array([[r["seconds"] or 0.0 for r in rs] for rs in rows], float),
        }
    return result


def _rare_mean(entry: dict, rare: list[str]) -> float:
    values = [entry["ap50_per_class"].get(name, 0.0) for name in rare]
    return float(np.mean(values)) if values else float("nan")


def _mean_std(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    return float(np.mean(values)), float(np.std(values))


def _saving(curve_images, curve_map, target: float, reference_images: float, seed_images: float):
    """(labels needed, saving of all labels, saving of the labels bought after the seed)."""
    needed = labels_to_reach(curve_images, curve_map, target)
    if needed is None:
        return None, None, None
    return (needed, 1.0 - needed / reference_images,
            1.0 - (needed - seed_images) / max(reference_images - seed_images, 1e-9))


def summarize(cells: list[dict], rare: list[str]) -> dict:
    """The report's numbers, per strategy, against ``random`` (which must be in the grid).

    For strategy s (arrays over seeds at the last round all its seeds finished):
    ``final_map50`` mean and std; ``final_rare_ap50`` (mean AP50 of the rare classes) and its
    ratio to random's mean; ``labels_to_reach_random``: labeled images at which s's mean curve
    reaches random's final mean mAP50 (None when it never does), ``saving`` = 1 - that /
    random's final labeled images, ``saving_after_seed`` the same counting only labels bought
    after the seed set; ``boxes_to_reach_random`` and ``box_saving`` the same in labeled boxes
    (what drawing costs: uncertain images tend to hold more objects); ``saving_per_seed``:
    the saving computed seed by seed against the same seed's random run (for the spread);
    ``first_gain_per_100``: (mAP50 after round 1 - seed mAP50) / labels bought in round 1 * 100,
    mean and std over seeds; ``per_round``: see :func:`_per_round`.
    """
    data = curves(cells, rare)
    if "random" not in data:
        raise ValueError("the report compares with 'random': run it in the grid too")
    ref = data["random"]
    ref_images = float(np.mean(ref["images"][:, -1]))
    ref_map = float(np.mean(ref["map50"][:, -1]))
    ref_rare = float(np.mean(ref["rare_ap50"][:, -1]))
    ref_boxes = float(np.mean(ref["boxes"][:, -1]))
    seed_images = float(np.mean(ref["images"][:, 0]))
    rows = {}
    for strategy, c in data.items():
        mean_images = c["images"].mean(axis=0)
        needed, saving, saving_after_seed = _saving(mean_images, c["map50"].mean(axis=0),
                                                    ref_map, ref_images, seed_images)
        boxes_needed = labels_to_reach(c["boxes"].mean(axis=0), c["map50"].mean(axis=0), ref_map)
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
            "saving_per_seed": _per_seed_savings(c, ref, seed_images),
            "first_gain_per_100": (_mean_std(_first_gains(c)) if c["images"].shape[1] > 1
                                   else None),
            "seconds_per_run": _mean_std(c["seconds"].sum(axis=1)),
            "per_round": _per_round(c, ref),
        }
    return {"rare_classes": rare, "random_final_map50": ref_map,
            "random_final_images": ref_images, "random_final_rare_ap50": ref_rare,
            "seed_images": seed_images, "strategies": rows}


def _per_round(c: dict, ref: dict) -> list[dict]:
    """Round by round (equal budgets): mean labeled images and boxes, mAP50 and rare-class
    AP50 (mean, std over seeds), and the rare AP50 ratio to random's mean at the same round
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


def _per_seed_savings(c: dict, ref: dict, seed_images: float) -> dict[int, float | None]:
    savings = {}
    ref_seeds = ref["seeds"].tolist()
    for row, seed in enumerate(c["seeds"].tolist()):
        if seed not in ref_seeds:
            continue
        r = ref_seeds.index(seed)
        savings[seed] = _saving(c["images"][row], c["map50"][row], ref["map50"][r, -1],
                                ref["images"][r, -1], seed_images)[1]
    return savings


def format_summary(summary: dict) -> str:
    """The summary as a Markdown table plus a line on the rare classes."""
    head = ("| strategy | seeds | final mAP50 | rare AP50 | rare vs random | labels to reach "
            "random's final | saving (all labels) | saving per seed | saving in boxes | "
            "1st-round gain / 100 labels |\n|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for name, row in sorted(summary["strategies"].items(),
                            key=lambda kv: -kv[1]["final_map50"][0]):
        per_seed = ", ".join("-" if v is None else f"{v:.0%}"
                             for v in row["saving_per_seed"].values())
        gain = row["first_gain_per_100"]
        lines.append(
            f"| {name} | {len(row['seeds'])} | {_pm(row['final_map50'])} | "
            f"{_pm(row['final_rare_ap50'])} | {_num(row['rare_ratio_vs_random'], 'x')} | "
            f"{_num(row['labels_to_reach_random'], '', 0)} | {_num(row['saving'], '%')} | "
            f"{per_seed} | {_num(row['box_saving'], '%')} | {_pm(gain, 4) if gain else '-'} |")
    rare = ", ".join(summary["rare_classes"]) or "none"
    return (head + "\n".join(lines) + f"\n\nRandom's final mAP50: "
            f"{summary['random_final_map50']:.3f} at {summary['random_final_images']:.0f} "
            f"labeled images (seed set {summary['seed_images']:.0f}). Rare classes: {rare}.\n"
            + format_budgets(summary))


def format_budgets(summary: dict) -> str:
    """A Markdown table round by round: each strategy's mean mAP50 and mean rare-class AP50
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
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


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
        _write_json(folder / f"{directory.name}.json", picks)
    return {p.stem: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(folder.glob("*.json"))}


def pick_composition(out: str | os.PathLike, dataset_yaml: str | os.PathLike,
                     rare: list[str]) -> dict[str, dict]:
    """What each strategy sent to the annotators, round by round, mean over its seeds.

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
    """A Markdown table: per strategy, the picks of all rounds together and of round 1."""
    lines = ["| picks of | rounds | boxes / image | rare boxes / 100 images | hard scenes | "
             "already-picked near-duplicates |", "|---|---|---|---|---|---|"]
    for name, rows in sorted(composition.items(), key=lambda kv: (kv[0] == "pool", kv[0])):
        total = sum(r["images"] for r in rows) or 1
        mean = {key: (None if rows[0][key] is None else
                      sum(r[key] * r["images"] for r in rows) / total)
                for key in ("objects", "rare_per_100", "hard", "redundant")}
        first = rows[0]
        label = "the whole pool" if name == "pool" else name
        lines.append(f"| {label} | {len(rows) if name != 'pool' else '-'} | "
                     + " | ".join(_both(mean[k], first[k], k, name == "pool")
                                  for k in ("objects", "rare_per_100", "hard", "redundant"))
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


def _both(all_rounds, round_1, key: str, single: bool) -> str:
    if all_rounds is None:
        return "-"
    fmt = {"objects": "{:.2f}", "rare_per_100": "{:.1f}"}.get(key, "{:.0%}").format
    return fmt(all_rounds) if single else f"{fmt(all_rounds)} ({fmt(round_1)})"


def plot_curves(cells: list[dict], rare: list[str], path: str | os.PathLike | None = None):
    """Test mAP50 and rare-class AP50 against labeled images and labeled boxes: the mean over
    seeds per strategy, with the min-max band over seeds. Returns the figure (saved when
    ``path`` is given)."""
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
            ax.set(xlabel=x_label, ylabel=label)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, title="strategy (seeds)")
    fig.suptitle(f"Active learning vs random: mean over seeds, band = min-max "
                 f"(rare: {', '.join(rare) or 'none'})")
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def write_report(out: str | os.PathLike, dataset_yaml: str | os.PathLike | None = None,
                 rare: list[str] | None = None) -> dict:
    """Summarize ``<out>/cells`` into ``summary.json``, ``summary.md`` and
    ``learning_curves.png`` under ``out`` (with what each strategy picked, from
    :func:`pick_composition`, which also refreshes ``<out>/picks``); returns the summary."""
    import matplotlib.pyplot as plt

    out = Path(out)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    if rare is None:
        rare = list(config.get("rare_classes") or ()) or rare_classes(
            dataset_yaml or config["dataset_yaml"])
    cells = load_cells(out)
    summary = summarize(cells, rare)
    summary["picks"] = pick_composition(out, dataset_yaml or config["dataset_yaml"], rare)
    _write_json(out / "summary.json", summary)
    datasets.write_text_atomic(out / "summary.md", format_summary(summary)
                               + format_composition(summary["picks"]))
    plt.close(plot_curves(cells, rare, out / "learning_curves.png"))
    return summary
