"""What a round's picks would hold under each class weighting, from a grid's own checkpoints.

For a checkpoint a benchmark grid trained (``<cell>:<round>``), its labeled set as that round
ended and its pool, this script runs, with no training: the named strategies ``random``,
``least_confidence``, ``typiclust``, ``ppal`` and ``calibrated`` (gain weights), and
``calibrated`` with PPAL's difficulty weights, with the entropy over classes and with the
joint entropy instead of the detection entropy, and reports from the hidden labels what each
bought: boxes per image, the rare classes' share of
the boxes, rare boxes per annotation hour (the cost model's defaults) and hours. It measures
what the weights aim at (rare objects per second of annotation), not the mAP they buy: that
needs the grid's cells.

Two more columns count rare boxes: all of them, and the *novel* ones (in images of a
near-duplicate group neither labeled nor picked earlier in the batch: a copy of a labeled
rare object teaches little). Two more selections bound what a ranking could gain: the gain
ranking with no spread (rank order), and ``calibrated``'s picks with every pool copy of a
labeled image removed first (an ideal near-duplicate filter). The novel count and the filter
read the sample's generation metadata (near-duplicate groups) for this measurement only; no
strategy reads it.
A last one searches for the rare classes directly: the images whose candidate boxes come
nearest, in the model's per-box features, to the labeled rare objects (:func:`exemplar_rank`).

    .venv/bin/python benchmarks/bench_weights.py --out benchmarks/results/al-full-v2 \\
        random-s0:1 rare_class-s0:1 typiclust-s0:1 random-s0:2 random-s0:3
    .venv/bin/python benchmarks/bench_weights.py --out benchmarks/results/al-longtail \
        --budget 150 random-s0:0 random-s1:0 random-s2:0
    .venv/bin/python benchmarks/bench_weights.py --out benchmarks/results/al-longtail \
        --budget 150 --json weights-clusters.json auto_cm-s0:1 auto_cm-s0:2 ...
    .venv/bin/python benchmarks/bench_weights.py --out benchmarks/results/al-longtail \
        --budget 150 --json weights-novel.json auto_cm_gain-s0:1 auto_cm_gain-s0:2 ...
"""

from __future__ import annotations

import argparse
import functools
import sqlite3
import sys
from pathlib import Path

import numpy as np

from alkit.core.boxes import box_iou
from alkit.core.context import RoundContext
from alkit.core.cost import CostModel
from alkit.core.query import query, run_query
from alkit.core.selectors import Shortlist, TopK
from alkit.core.strategy import STRATEGIES, Strategy
from alkit.core.utility import Uncertainty
from alkit.data import datasets, files, samples
from alkit.loop import simulate

#: Images picked per checkpoint (``--budget``).
BUDGET = 100


def bought(paths, picks, classes_of, rare, cost_model, groups=None, labeled_groups=()
           ) -> dict:
    """Boxes per image, rare share of boxes, rare boxes per hour, hours, rare boxes and novel
    rare boxes of ``picks`` (those in images whose near-duplicate group, ``groups``: (N,) int,
    -1 for none, is not in ``labeled_groups`` nor picked earlier; ``None`` without groups)."""
    classes = [classes_of(paths[i]) for i in picks]
    boxes = sum(len(c) for c in classes)
    rare_per_pick = [int(np.isin(c, rare).sum()) for c in classes]
    rare_boxes = sum(rare_per_pick)
    hours = cost_model.total(len(picks), boxes) / 3600
    return {"boxes_per_image": boxes / len(picks), "rare_share": rare_boxes / max(boxes, 1),
            "rare_per_hour": rare_boxes / hours, "hours": hours, "rare_boxes": rare_boxes,
            "novel_rare_boxes": None if groups is None else novel_count(
                [groups[i] for i in picks], rare_per_pick, labeled_groups)}


def novel_count(groups_P, counts_P, labeled_groups) -> int:
    """Sum of ``counts_P`` over the picks whose group (``groups_P``, -1: none) is neither in
    ``labeled_groups`` nor an earlier pick's."""
    seen, total = set(labeled_groups), 0
    for group, count in zip(groups_P, counts_P, strict=True):
        if group < 0 or group not in seen:
            total += count
        if group >= 0:
            seen.add(group)
    return total


def duplicate_groups(config: dict, paths) -> np.ndarray | None:
    """(N,) the near-duplicate group of each of ``paths`` from the sample's generation
    metadata (-1: none), or ``None`` for a dataset without it. For measurement only."""
    root = Path(config["dataset_yaml"]).parent
    if not (root / samples.METADATA_FILE).exists():
        return None
    group = _group_table(str(root))
    return np.array([group.get((Path(p).parent.name, Path(p).name), -1) for p in paths])


@functools.lru_cache(maxsize=2)
def _group_table(root: str) -> dict:
    """``(split, image name) -> near-duplicate group`` of a sample dataset (read once)."""
    return {(row["split"], Path(row["image"]).name): int(row["duplicate_group"] or -1)
            for row in samples.read_generation_metadata(root)}


def exemplar_rank(scores, mask, labels_of, rare) -> np.ndarray | None:
    """(N,) each image's largest cosine similarity between one of its candidate boxes' features
    and an *exemplar*: the candidate of a labeled image that best covers (IoU >= 0.5) one of
    its labeled boxes of a ``rare`` class (a search for more objects like the few labeled
    ones, in the spirit of Talisman, Kothawade et al. 2022). ``None`` without box features or
    exemplars; labeled rows get -inf."""
    if scores.box_features is None:
        return None
    offsets = scores.box_offsets
    exemplars = []
    for i in np.flatnonzero(mask):
        labels, lo, hi = labels_of(scores.paths[i]), offsets[i], offsets[i + 1]
        keep = np.isin(labels.class_ids, rare)
        if not keep.any() or hi == lo:
            continue
        rare_xyxy = labels.xyxy(scores.widths[i], scores.heights[i])[keep]
        iou = box_iou(rare_xyxy, scores.box_xyxy[lo:hi])
        exemplars += [lo + int(j) for j, best in zip(iou.argmax(1), iou.max(1), strict=True)
                      if best >= 0.5]
    if not exemplars:
        return None
    features = scores.box_features.astype(np.float32)
    features /= np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-6)
    similarity = (features @ features[exemplars].T).max(1)
    rank = np.full(len(scores), -np.inf)
    np.maximum.at(rank, np.repeat(np.arange(len(scores)), np.diff(offsets)), similarity)
    rank[mask] = -np.inf
    return rank


def checkpoint_picks(out: Path, config: dict, cell: str, number: int, labels_of,
                     budget: int = BUDGET, *, rare=()) -> tuple[list, dict, np.ndarray]:
    """The pool's paths, ``name -> picked rows`` of the selections of ``budget`` images from
    ``cell``'s round ``number`` model, and the (N,) labeled mask. ``labels_of``: path ->
    :class:`alkit.Labels`; with ``rare`` class ids, also the images nearest the labeled rare
    objects (:func:`exemplar_rank`)."""
    from alkit.model.scoring import score_pool

    work = out / "work"
    db = sqlite3.connect(work / cell / "project.db")
    labeled = {row[0] for row in db.execute(
        "SELECT i.path FROM labels l JOIN images i ON i.id = l.image_id WHERE l.round <= ?",
        (number,))}
    paths = [row[0] for row in db.execute("SELECT path FROM images ORDER BY id")]
    paths = [p for p in paths if p in labeled] + [p for p in paths if p not in labeled]
    db.close()
    weights = work / cell / "runs" / f"round_{number:03d}" / "weights" / "best.pt"
    if number == 0:
        weights = work / f"seed-{cell.rsplit('-', 1)[1]}" / "runs" / "round_000" / "weights"
        weights = weights / "best.pt"
    spec = datasets.read_dataset_yaml(config["dataset_yaml"])
    truth = {str(p): labels for p, labels in datasets.read_split(spec, "val")}
    imgsz, cache = config["recipe"]["imgsz"], work / "scores"
    scores = score_pool(str(weights), paths, imgsz=imgsz, cache_dir=cache, progress=False)
    val = score_pool(str(weights), list(truth), imgsz=imgsz, cache_dir=cache, progress=False)
    quality, _ = val.class_quality(truth)
    fit = val.fit_box_counts(truth)
    mask = np.array([p in labeled for p in scores.paths])
    counts = sum(np.bincount(labels_of(p).class_ids, minlength=len(quality))
                 for p in scores.paths if p in labeled)
    context = RoundContext.of(scores, labeled=mask, class_counts=counts, class_quality=quality,
                              box_count_fit=fit)
    groups = duplicate_groups(config, scores.paths)
    gain = STRATEGIES["calibrated"].utility
    named = ("random", "least_confidence", "typiclust", "ppal", "calibrated")
    strategies = {name: STRATEGIES[name] for name in named} | {
        "calibrated, difficulty weights": Strategy(
            "calibrated_difficulty", Shortlist(10.0, "clusters"),
            Uncertainty("detection_entropy", "expected", weights="difficulty",
                        per_second=True)),
        "calibrated, rank order": Strategy("calibrated_rank_order", TopK(), gain),
        **{f"calibrated, {m}": STRATEGIES["calibrated"].with_measure(m)
           for m in ("entropy", "joint_entropy")}}
    picks = {name: run_query(query(chosen, budget=budget), scores, context,
                             random_state=0).indices for name, chosen in strategies.items()}
    if groups is not None:  # an ideal near-duplicate filter: pool copies of labeled images out
        copies = np.isin(groups, list(set(groups[mask]) - {-1})) & ~mask
        picks["calibrated, labeled copies removed"] = run_query(
            query("calibrated", budget=budget), scores, context.with_labeled(mask | copies),
            random_state=0).indices
    exemplar = exemplar_rank(scores, mask, labels_of, rare) if len(rare) else None
    if exemplar is not None:
        picks["nearest labeled rare objects"] = np.argsort(-exemplar, kind="stable")[:budget]
    return scores.paths, picks, mask


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", help="<cell>:<round>, e.g. random-s0:1")
    p.add_argument("--out", default="benchmarks/results/al-full-v2", help="a grid folder")
    p.add_argument("--budget", type=int, default=BUDGET, help="images picked per checkpoint")
    p.add_argument("--json", default="weights.json", help="the file written in --out")
    args = p.parse_args(argv)
    out = Path(args.out)
    try:
        config = simulate.load_config(out)
    except FileNotFoundError as error:
        sys.exit(str(error))
    spec = datasets.read_dataset_yaml(config["dataset_yaml"])
    rare = [spec.names.index(name) for name in config["rare_classes"]]
    oracle = Path(config["dataset_yaml"]).parent / "oracle" / "labels" / "pool"

    def labels_of(path: str):
        label = oracle / (Path(path).stem + ".txt")
        if not label.exists():
            label = datasets.label_path_for(path)
        return datasets.read_labels(label, len(spec.names))

    def classes_of(path: str) -> np.ndarray:
        return labels_of(path).class_ids

    rows = []
    print("| checkpoint | picks | boxes / image | rare share of boxes | rare boxes / hour | "
          "hours | rare boxes | novel rare boxes |\n|---|---|---|---|---|---|---|---|")
    for item in args.checkpoints:
        cell, number = item.rsplit(":", 1)
        paths, picks, mask = checkpoint_picks(out, config, cell, int(number), labels_of,
                                              args.budget, rare=rare)
        groups = duplicate_groups(config, paths)
        labeled_groups = () if groups is None else set(groups[mask]) - {-1}
        for name, rows_picked in picks.items():
            row = {"checkpoint": item, "picks": name,
                   **bought(paths, rows_picked, classes_of, rare, CostModel(), groups,
                            labeled_groups)}
            rows.append(row)
            novel = "-" if row["novel_rare_boxes"] is None else row["novel_rare_boxes"]
            print(f"| {item} | {name} | {row['boxes_per_image']:.2f} | {row['rare_share']:.1%} "
                  f"| {row['rare_per_hour']:.1f} | {row['hours']:.2f} | {row['rare_boxes']} "
                  f"| {novel} |")
    files.write_json(out / args.json, {"budget": args.budget, "rows": rows})
    print(f"\nwritten: {out / args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
