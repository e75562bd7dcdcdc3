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

``--trainings T`` trains every cell T times (training seeds 0 .. T-1; the picks, the noise and
the relabeling stay the seed's): the first training uses the seed itself (the cells of a grid
run without the option), the others ``1000 * t + seed``. The report then gives each seed's mean
over its trainings, the spread between trainings of one seed (pooled sample sd), and for the
two relabeling arms their difference per seed with a 95% t-interval over the seeds.

Usage: .venv/bin/python benchmarks/bench_label_noise.py [--preset small] [--recipe bench]
       [--seed-epochs 30] [--epochs N] [--budget 300] [--seeds 0,1,2] [--low 0.85] [--high 0.99]
       [--relabel 0.2] [--arms high,low,low+audit,low+random] [--trainings 1]
       [--model SEED.pt] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import replace
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
    parser.add_argument("--trainings", type=int, default=1,
                        help="trainings per cell, each with its own training seed (1)")
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
    for t in range(args.trainings):
        for s in (int(x) for x in args.seeds.split(",")):
            for arm in arms:
                _run_cell(args, yaml, seed, arm, s, t, quiet)
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


def _run_cell(args, yaml, seed, arm: str, s: int, t: int, quiet) -> None:
    """One cell, unless its file exists (the grid resumes): ``<arm>-s<seed>.json`` for the
    first training, ``<arm>-s<seed>-t<t>.json`` for the others."""
    path = args.out / "cells" / (f"{arm}-s{s}.json" if t == 0 else f"{arm}-s{s}-t{t}.json")
    if path.exists():
        return
    with quiet():
        cell = _cell(args, yaml, seed, arm, s, t)
    path.write_text(json.dumps(cell, indent=1) + "\n")
    print(f"{arm:>10} seed {s} training {t}: mAP50 {cell['map50']:.3f}, wrong images "
          f"{cell['wrong_before']} -> {cell['wrong_after']}, relabeled "
          f"{cell['n_relabeled']} ({cell['relabel_seconds'] / 3600:.2f} h); "
          f"{cell['seconds']:.0f} s", flush=True)


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


def _cell(args, yaml, seed, arm: str, s: int, t: int = 0) -> dict:
    """One arm of one seed: label round 1 (relabel for the audit arms), train (training
    ``t``: seed ``s`` for 0, else ``1000 * t + s``), evaluate."""
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
        train_config = config if t == 0 else replace(config, random_state=1000 * t + s)
        done = project.run_round(train_config, annotator=annotator, progress=False)
    labeling = cost.total(len(rows), sum(len(annotator.answer(r["path"])) for r in rows))
    relabel_seconds = cost.total(len(relabeled), sum(boxes[i] for i in relabeled))
    metrics = done.metrics_after
    return {
        "arm": arm, "seed": s, "training": t, "accuracy": accuracy, "n_labeled": len(rows),
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
    """Per arm over the seeds found: mAP50 mean, sample sd between the seeds' means (each seed's
    mean over its trainings) and per seed; the spread between trainings of one seed (pooled
    sample sd; ``None`` with one training); label errors before and after; relabeling seconds;
    per seed the gains over ``low``; and ``audit_vs_random``: the per-seed difference of the two
    relabeling arms with its mean and a 95% t-interval over the seeds."""
    cells = [json.loads(p.read_text()) for p in sorted(cells_dir.glob("*.json"))]
    by_arm: dict[str, dict[int, list[dict]]] = {}
    for cell in cells:
        by_arm.setdefault(cell["arm"], {}).setdefault(cell["seed"], []).append(cell)
    means = {arm: {s: float(np.mean([c["map50"] for c in runs])) for s, runs in per.items()}
             for arm, per in by_arm.items()}
    arms = {}
    for arm, per_seed in by_arm.items():
        seeds = sorted(per_seed)
        first = {s: min(per_seed[s], key=lambda c: c.get("training", 0)) for s in seeds}
        values = np.array([means[arm][s] for s in seeds])
        low = means.get("low", {})
        arms[arm] = {
            "seeds": seeds, "map50_per_seed": values.tolist(),
            "trainings_per_seed": [len(per_seed[s]) for s in seeds],
            "map50_mean": float(values.mean()),
            "map50_sd": float(values.std(ddof=1)) if len(values) > 1 else None,
            "training_sd": _pooled_sd([[c["map50"] for c in per_seed[s]] for s in seeds]),
            "gain_over_low_per_seed": [means[arm][s] - low[s] for s in seeds if s in low],
            "wrong_before": [first[s]["wrong_before"] for s in seeds],
            "wrong_after": [first[s]["wrong_after"] for s in seeds],
            "n_relabeled": [first[s]["n_relabeled"] for s in seeds],
            "relabeled_wrong": [first[s]["relabeled_wrong"] for s in seeds],
            "relabel_hours": [first[s]["relabel_seconds"] / 3600 for s in seeds],
            "relabel_share_of_labeling": [first[s]["relabel_seconds"]
                                          / first[s]["labeling_seconds"] for s in seeds],
        }
    return {"arms": arms, "audit_vs_random": _difference(means, "low+audit", "low+random")}


def _pooled_sd(groups: list[list[float]]) -> float | None:
    """sqrt(sum_g sum_i (x_gi - mean_g)^2 / sum_g (n_g - 1)); ``None`` without a group of 2."""
    dof = sum(len(g) - 1 for g in groups)
    if dof == 0:
        return None
    return float(np.sqrt(sum(((np.asarray(g) - np.mean(g)) ** 2).sum() for g in groups) / dof))


def _difference(means: dict, a: str, b: str) -> dict | None:
    """Per seed ``a - b`` (means over trainings), their mean, sample sd and 95% t-interval."""
    from scipy import stats

    seeds = sorted(set(means.get(a, {})) & set(means.get(b, {})))
    if len(seeds) < 2:
        return None
    diffs = np.array([means[a][s] - means[b][s] for s in seeds])
    half = stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))
    return {"arms": [a, b], "seeds": seeds, "per_seed": diffs.tolist(),
            "mean": float(diffs.mean()), "sd": float(diffs.std(ddof=1)),
            "ci95": [float(diffs.mean() - half), float(diffs.mean() + half)]}


def table(summary: dict) -> str:
    """The summary as a Markdown table."""
    lines = ["| arm | mAP50 (mean ± sd) | per seed | vs low, per seed | wrong images before "
             "-> after | relabeled (wrong among them) | relabeling, h (share of labeling) |",
             "|---|---|---|---|---|---|---|"]  # relabeled: n (how many of them were wrong)
    notes = []
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
        if max(a["trainings_per_seed"]) > 1:
            notes.append(f"{arm}: {min(a['trainings_per_seed'])}-{max(a['trainings_per_seed'])}"
                         f" trainings per seed (per seed: their mean); between trainings of "
                         f"one seed sd {a['training_sd']:.3f}")
    d = summary.get("audit_vs_random")
    if d is not None:
        notes.append("low+audit - low+random per seed: " + " / ".join(
            f"{v:+.3f}" for v in d["per_seed"]) + f"; mean {d['mean']:+.3f}, 95% interval "
            f"[{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]")
    return "\n".join([*lines, "", *notes] if notes else lines)


if __name__ == "__main__":
    sys.exit(main())
