"""Is the model's uncertainty worth following? Measured on every round's model of a grid.

``auto`` runs TypiClust while the model is weak and calibrated uncertainty once it is not
(docs/selection.md). This script measures, for every checkpoint a benchmark grid trained
(each cell's rounds and the seed models), on the dataset's val split:

- ``quality``: the mean class quality ``auto`` switches on (:func:`alkit.core.difficulty.
  class_quality`, unseen classes 0);
- ``error``: per val image, what a label would teach the model: the missed mass of its
  ground-truth boxes, ``sum_g (1 - quality(g))``, plus the confidence of every candidate at or
  above 0.25 that overlaps no ground-truth box (IoU < 0.5);
- ``rho``: Spearman's rank correlation between the calibrated uncertainty (the query's
  candidate measure with the difficulty weights the round would use) and that error;
- ``lift``: the error per annotation second of the val tenth ``calibrated`` would rank first
  (uncertainty per expected second, the box-count fit of the round), over the error per second
  of the whole split: 1 is what a random tenth buys on average, 2 twice as much;

and joins them with the next round's mAP50 gain of the cell. Cells of ``typiclust`` and
``auto`` on the same seeds then say at which measured quality and lift the calibrated rounds
of ``auto`` stopped losing to TypiClust's. Scores go through the grid's cache (a checkpoint
already scored on val costs nothing).

    .venv/bin/python benchmarks/bench_switch.py --out benchmarks/results/al-full-v2
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from alkit.core.calibrated import LIFT_TOP_SHARE, auto_choice
from alkit.core.cost import CostModel
from alkit.core.strategies import calibrated_uncertainty, measure_lift
from alkit.data import datasets, files
from alkit.loop import simulate

ROUND_DIR = re.compile(r"round_(\d{3})$")


def spearman(a, b) -> float:
    """Spearman's rho (average ranks for ties); nan when either side is constant."""
    ra, rb = (_average_ranks(np.asarray(x, dtype=np.float64)) for x in (a, b))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=np.float64)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def measure_checkpoint(weights: Path, pairs, query: dict, imgsz: int, cache: Path) -> dict:
    """The module docstring's measurements of one checkpoint on the val ``pairs``."""
    from alkit.model.scoring import score_pool

    scores = score_pool(str(weights), [str(p) for p, _ in pairs], imgsz=imgsz, cache_dir=cache,
                        progress=False)
    truth = {str(p): labels for p, labels in pairs}
    quality, _ = scores.class_quality(truth)
    cost_model = CostModel(query["seconds_per_image"], query["seconds_per_box"])
    lift = measure_lift(scores, truth, query["measure"], quality, cost_model,
                        scores.fit_box_counts(truth))
    rows, errors, _ = scores.image_errors(truth)
    uncertainty, _ = calibrated_uncertainty(scores, query["measure"], quality)
    return {"quality": float(np.mean(quality)), "rho": spearman(uncertainty[rows], errors),
            "lift": lift.lift if lift else float("nan"),
            "lift_p10": lift.lower if lift else float("nan"),
            "auto": auto_choice(lift), "mean_error": float(errors.mean()),
            "n_images": len(errors)}


def checkpoints(work: Path, cell: str, seed: int) -> dict[int, Path]:
    """Round number -> best.pt of a cell (round 0: the seed model of its seed)."""
    found = {0: work / f"seed-s{seed}" / "runs" / "round_000" / "weights" / "best.pt"}
    for folder in sorted((work / cell / "runs").glob("round_*")):
        match = ROUND_DIR.search(folder.name)
        if match and int(match.group(1)) > 0 and (folder / "weights" / "best.pt").is_file():
            found[int(match.group(1))] = folder / "weights" / "best.pt"
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="benchmarks/results/al-full-v2", help="a grid folder")
    p.add_argument("--strategies", default=None, help="comma list (default: every cell)")
    p.add_argument("--measure", default="candidate_entropy",
                   help="the candidate measure calibrated uncertainty reads (as auto's query)")
    args = p.parse_args(argv)
    out = Path(args.out)
    try:
        config = simulate.load_config(out)
    except FileNotFoundError as error:
        sys.exit(str(error))
    spec = datasets.read_dataset_yaml(config["dataset_yaml"])
    pairs = datasets.read_split(spec, "val")
    wanted = set(args.strategies.split(",")) if args.strategies else None
    measured, rows = {}, []
    for cell_file in sorted((out / "cells").glob("*.json")):
        cell = files.read_json(cell_file)
        name, seed = cell["strategy"], int(cell["seed"])
        if (wanted and name not in wanted) or name not in config["queries"]:
            continue
        maps = {r["round"]: r["map50"] for r in cell["rounds"]}
        labels = {r["round"]: r["labeled_images"] for r in cell["rounds"]}
        for number, weights in checkpoints(out / "work", cell_file.stem, seed).items():
            if number not in maps:
                continue
            if weights not in measured:
                query = {**config["queries"][name], "measure": args.measure}
                measured[weights] = measure_checkpoint(
                    weights, pairs, query, config["recipe"]["imgsz"], out / "work" / "scores")
            gain = maps[number + 1] - maps[number] if number + 1 in maps else None
            rows.append({"strategy": name, "seed": seed, "round": number,
                         "labeled_images": labels[number], "map50": maps[number],
                         "next_gain": gain, **measured[weights]})
    files.write_json(out / "switch.json", {"top_share": LIFT_TOP_SHARE, "rows": rows})
    print("| strategy | seed | round | labels | mAP50 | next gain | quality | rho | lift | "
          "lift p10 | auto would run |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        gain = "-" if r["next_gain"] is None else f"{r['next_gain']:+.3f}"
        print(f"| {r['strategy']} | {r['seed']} | {r['round']} | {r['labeled_images']} | "
              f"{r['map50']:.3f} | {gain} | {r['quality']:.3f} | {r['rho']:.2f} | "
              f"{r['lift']:.2f} | {r['lift_p10']:.2f} | {r['auto']} |")
    print(f"\nwritten: {out / 'switch.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
