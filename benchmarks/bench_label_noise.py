"""The seed's claim on label noise, measured: 99% against 85% accurate labels at the same budget,
and the 85% labels after an audit sent its worst suspects back for relabeling.

Protocol (per seed, every arm from the same start): on the sample data a seed model is trained
once on the seed split (round 0; reused from ``--work`` on a rerun, or ``--model``). A fresh
project adopts it and stages round 1: ``--budget`` pool images picked at random with the seed's
``random_state``, so every arm of a seed labels the same images. The simulated annotator
(:class:`alkit.Oracle`, the benchmark's hidden labels) answers them through
``alkit.NoiseModel.with_accuracy(a)``: each box is dropped, shifted or given another class at
equal rates, a share ``a`` of the boxes exactly right. Arms:

* ``high``: ``--high`` accurate labels (0.99).
* ``low``: ``--low`` accurate labels (0.85).
* ``low+audit``: the ``low`` labels, audited (``Project.audit``: the seed model's predictions,
  which never saw them); the ``--relabel`` share of the round's images ranked worst are sent
  back (``Project.send_back``) and relabeled by a careful annotator (``--high`` accuracy, its own
  noise seed); the answers replace the old labels (``Project.replace_label``).
* ``low+random``: the same number of images of the ``low`` round, chosen at random, relabeled
  the same way: what a review of the same size finds without the audit.

Then the round trains (the recipe's epochs, warm start from the seed model) and its model is
evaluated on the test split. Reported per arm over the seeds: mAP50 (mean, sample sd, per seed),
the images whose label differs from the truth before and after relabeling, and the relabeling's
cost in annotator seconds (:class:`alkit.core.cost.CostModel`: per image plus per box of the
corrected labels), also as a share of what labeling the round cost. Every finished cell is a
JSON file under ``--out`` (a rerun skips it: the grid resumes).

Usage: .venv/bin/python benchmarks/bench_label_noise.py [--preset small] [--recipe bench]
       [--seed-epochs 30] [--epochs N] [--budget 300] [--seeds 0,1,2] [--low 0.85] [--high 0.99]
       [--relabel 0.2] [--arms high,low,low+audit,low+random] [--model SEED.pt] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run from anywhere, or imported
from bench_audit import _machine  # the same machine record as the audit benchmark

from alkit import NoiseModel, Oracle, Project, ensure_samples, round_config
from alkit.core.cost import CostModel
from alkit.data import datasets

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "label-noise"
ARMS = ("high", "low", "low+audit", "low+random")


def parse_args(argv=None):
    """The command line (see the module docstring); ``argv`` default ``sys.argv[1:]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="small", help="sample preset (small)")
    parser.add_argument("--recipe", default="bench", help="round recipe (bench: 15 epochs)")
    parser.add_argument("--seed-epochs", type=int, default=30, help="seed model epochs (30)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="round 1's epochs (default: the recipe's)")
    parser.add_argument("--imgsz", type=int, default=128, help="train / predict size (128)")
    parser.add_argument("--model", type=Path, default=None,
                        help="an existing seed checkpoint of the preset's classes (no training)")
    parser.add_argument("--budget", type=int, default=300, help="images labeled in round 1")
    parser.add_argument("--seeds", default="0,1,2", help="seeds (picks and noise)")
    parser.add_argument("--low", type=float, default=0.85, help="box accuracy of 'low' (0.85)")
    parser.add_argument("--high", type=float, default=0.99, help="box accuracy of 'high' and "
                        "of the relabeling (0.99)")
    parser.add_argument("--relabel", type=float, default=0.2,
                        help="share of the round's images relabeled (0.2)")
    parser.add_argument("--arms", default=",".join(ARMS), help="arms to run")
    parser.add_argument("--work", type=Path, default=RESULTS / "work",
                        help="projects and the seed model (git-ignored)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="cells and summary.json")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Run the grid, then summarize every cell found under ``--out``."""
    args = parse_args(argv)
    from alkit.model.yolo import quiet

    started = time.perf_counter()
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        raise SystemExit(f"bench_label_noise: unknown arm(s) {unknown}; expected {ARMS}")
    yaml = ensure_samples(args.preset, ROOT / "data_samples" / "generated" / args.preset,
                          progress=False)
    args.work.mkdir(parents=True, exist_ok=True)
    (args.out / "cells").mkdir(parents=True, exist_ok=True)
    with quiet():
        seed = _seed_round(args, yaml)
    print(f"seed model {seed.model_after}: test mAP50 {seed.metrics_after['map50']:.3f}",
          flush=True)
    for s in (int(x) for x in args.seeds.split(",")):
        for arm in arms:
            path = args.out / "cells" / f"{arm}-s{s}.json"
            if path.exists():
                continue
            with quiet():
                cell = _cell(args, yaml, seed, arm, s)
            path.write_text(json.dumps(cell, indent=1) + "\n")
            print(f"{arm:>10} seed {s}: mAP50 {cell['map50']:.3f}, wrong images "
                  f"{cell['wrong_before']} -> {cell['wrong_after']}, relabeled "
                  f"{cell['n_relabeled']} ({cell['relabel_seconds'] / 3600:.2f} h); "
                  f"{cell['seconds']:.0f} s", flush=True)
    summary = summarize(args.out / "cells")
    (args.out / "summary.json").write_text(json.dumps({
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "args": {k: str(v) for k, v in vars(args).items()}, "machine": _machine(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "seed_model": {"map50": seed.metrics_after["map50"],
                       "train_seconds": seed.metrics_after.get("train_seconds")},
        **summary}, indent=1) + "\n")
    print(table(summary))
    return 0


def _seed_round(args, yaml):
    overrides = {"epochs": args.seed_epochs, "imgsz": args.imgsz}
    if args.model is not None:
        overrides.update(seed_epochs=0, initial_weights=str(args.model.resolve()))
    config = round_config("random", "cpu", budget=args.budget, **overrides)
    directory = args.work / f"seed-{args.preset}-e{args.seed_epochs}-{args.imgsz}"
    with (Project(directory) if (directory / "project.db").exists()
          else Project.init(directory, yaml)) as project:
        done = [r for r in project.ledger.rounds() if r.number == 0 and r.status == "done"]
        return done[0] if done else project.run_round(config, progress=False)


def _cell(args, yaml, seed, arm: str, s: int) -> dict:
    """One arm of one seed: label round 1 (relabel for the audit arms), train, evaluate."""
    started = time.perf_counter()
    directory = args.work / f"{arm}-s{s}"
    shutil.rmtree(directory, ignore_errors=True)
    config = round_config("random", args.recipe, budget=args.budget, imgsz=args.imgsz,
                          epochs=args.epochs, random_state=s)
    accuracy = args.high if arm == "high" else args.low
    annotator = Oracle(yaml, noise=NoiseModel.with_accuracy(accuracy), random_state=s)
    truth, careful = Oracle(yaml), Oracle(yaml, noise=NoiseModel.with_accuracy(args.high),
                                          random_state=10_000 + s)
    cost = CostModel()
    with Project.init(directory, yaml, scores_dir=args.work / "scores") as project:
        project.adopt_seed_round(seed)
        project.stage_round(config, progress=False)
        project.annotate(1, annotator, config)
        rows = [r for r in project.ledger.labeled() if r["round"] == 1]
        wrong_before = _wrong(rows, truth)
        relabeled, audit = _relabel(project, arm, rows, careful, args.relabel, s)
        wrong_after = _wrong([r for r in project.ledger.labeled() if r["round"] == 1], truth)
        boxes = {r["image_id"]: project.ledger.label_of(r["image_id"])["n_objects"]
                 for r in rows}
        done = project.run_round(config, annotator=annotator, progress=False)
    labeling = cost.total(len(rows), sum(len(annotator.answer(r["path"])) for r in rows))
    relabel_seconds = cost.total(len(relabeled), sum(boxes[i] for i in relabeled))
    metrics = done.metrics_after
    return {
        "arm": arm, "seed": s, "accuracy": accuracy, "n_labeled": len(rows),
        "map50": metrics["map50"], "map50_95": metrics["map50_95"],
        "ap50_per_class": metrics["ap50_per_class"],
        "wrong_before": len(wrong_before), "wrong_after": len(wrong_after),
        "n_relabeled": len(relabeled),
        "relabeled_wrong": len(set(relabeled) & wrong_before),
        "relabel_seconds": relabel_seconds, "labeling_seconds": labeling,
        "audit": audit, "cost_model": cost.describe(),
        "train_seconds": metrics.get("train_seconds"),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _relabel(project, arm: str, rows, careful, share: float, s: int):
    """Send back and relabel ``share`` of the round's images: the audit's worst (``low+audit``)
    or a random choice (``low+random``); nothing for the other arms."""
    if arm not in ("low+audit", "low+random"):
        return [], None
    k = round(share * len(rows))
    report = project.audit(round=1)
    if arm == "low+audit":
        chosen = [int(i) for i in report.table["image_id"].head(k)]
    else:
        rng = np.random.default_rng([s, 7])
        chosen = [int(rows[i]["image_id"]) for i in rng.choice(len(rows), k, replace=False)]
    for image_id in chosen:
        project.send_back(image_id, f"{arm}: relabel", audit=report.number)
        path = project.ledger.image_path(image_id)
        project.replace_label(path, careful.answer(path), source="oracle-careful",
                              reason=f"{arm}: relabeled", audit=report.number)
    return chosen, {"number": report.number, "n_audited": len(report.table),
                    "n_flagged": int(report.table["flagged"].sum())}


def _wrong(rows, truth) -> set[int]:
    """Image ids whose label file differs from the hidden label."""
    wrong = set()
    for r in rows:
        given = datasets.read_labels(r["label_path"])
        if datasets.format_labels(given) != datasets.format_labels(truth.answer(r["path"])):
            wrong.add(int(r["image_id"]))
    return wrong


def summarize(cells_dir: Path) -> dict:
    """Per arm over the seeds found: mAP50 mean, sample sd and per seed; label errors before
    and after; relabeling seconds; and per seed the gains over ``low``."""
    cells = [json.loads(p.read_text()) for p in sorted(cells_dir.glob("*.json"))]
    by_arm: dict[str, dict[int, dict]] = {}
    for cell in cells:
        by_arm.setdefault(cell["arm"], {})[cell["seed"]] = cell
    arms = {}
    for arm, per_seed in by_arm.items():
        seeds = sorted(per_seed)
        values = np.array([per_seed[s]["map50"] for s in seeds])
        low = by_arm.get("low", {})
        gains = [per_seed[s]["map50"] - low[s]["map50"] for s in seeds if s in low]
        arms[arm] = {
            "seeds": seeds, "map50_per_seed": values.tolist(),
            "map50_mean": float(values.mean()),
            "map50_sd": float(values.std(ddof=1)) if len(values) > 1 else None,
            "gain_over_low_per_seed": gains,
            "wrong_before": [per_seed[s]["wrong_before"] for s in seeds],
            "wrong_after": [per_seed[s]["wrong_after"] for s in seeds],
            "n_relabeled": [per_seed[s]["n_relabeled"] for s in seeds],
            "relabeled_wrong": [per_seed[s]["relabeled_wrong"] for s in seeds],
            "relabel_hours": [per_seed[s]["relabel_seconds"] / 3600 for s in seeds],
            "relabel_share_of_labeling": [per_seed[s]["relabel_seconds"]
                                          / per_seed[s]["labeling_seconds"] for s in seeds],
        }
    return {"arms": arms}


def table(summary: dict) -> str:
    """The summary as a Markdown table."""
    lines = ["| arm | mAP50 (mean ± sd) | per seed | vs low, per seed | wrong images before "
             "-> after | relabeled (wrong among them) | relabeling, h (share of labeling) |",
             "|---|---|---|---|---|---|---|"]  # relabeled: n (how many of them were wrong)
    for arm in ARMS:
        a = summary["arms"].get(arm)
        if a is None:
            continue
        sd = "n/a" if a["map50_sd"] is None else f"{a['map50_sd']:.3f}"
        hours = np.mean(a["relabel_hours"])
        share = np.mean(a["relabel_share_of_labeling"])
        lines.append(
            f"| {arm} | {a['map50_mean']:.3f} ± {sd} | "
            + " / ".join(f"{v:.3f}" for v in a["map50_per_seed"]) + " | "
            + " / ".join(f"{g:+.3f}" for g in a["gain_over_low_per_seed"]) + " | "
            + " / ".join(f"{b} -> {c}" for b, c in zip(a["wrong_before"], a["wrong_after"],
                                                      strict=True)) + " | "
            + " / ".join(f"{n} ({w})" for n, w in zip(a["n_relabeled"], a["relabeled_wrong"],
                                                       strict=True))
            + f" | {hours:.2f} ({share:.0%}) |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
