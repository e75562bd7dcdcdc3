"""The label audit on injected noise: how much of it does ObjectLab put at the top of the list?

On the sample data (``alkit.ensure_samples``), a seed model is trained on the seed split (round 0
of a project, the recipe given; by default from the pretrained start when installed). Then, per
condition (an image noise rate and a noise seed), a fresh project adopts that seed model, stages
round 1 (``--budget`` pool images, random picks: the selection scores the pool with the seed
model, which fills the scoring cache) and imports their labels from an annotator that answers the
true labels except on a known share of the images (the rate), where it makes ONE mistake with
``alkit.NoiseModel`` at rate 1 on one box: a missing box, a wrong class or a shifted box
(``--shift-scale``), in equal numbers. ``Project.audit(round=1)`` then scores every label of the
round with the seed model's predictions: the model that selected the round and never trained on
its images (the audit reads them from the cache: no forward pass).

Reported per rate (pooled over the noise seeds): the share of the injected images found in the
top 5%, 10% and 20% of the audited images (most likely mislabeled first), the same for a random
review (the expected share: the fraction reviewed), per kind of mistake, and ObjectLab's own
flags (recall and precision). The target of issue 31: at least 80% of the injected images in the
top 20%.

Usage: .venv/bin/python benchmarks/bench_audit.py [--preset small] [--epochs 30] [--imgsz 128]
       [--budget 300] [--rates 0.05,0.1] [--seeds 0,1,2] [--model SEED.pt] [--out FILE]
       [--high-threshold precise|0.95]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import sys
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from alkit import Annotator, NoiseModel, Project, ensure_samples, round_config
from alkit.annotate.simulated import apply_noise
from alkit.data import datasets
from alkit.data.datasets import Labels

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "audit"
KINDS = ("missing", "wrong_class", "shifted")
CUTS = (0.05, 0.10, 0.20)


class InjectingOracle(Annotator):
    """The true labels, except on ``rate`` of the job's images: one mistake each (a missing
    box, a wrong class or a shifted box, in turn), made by :func:`alkit.annotate.simulated.
    apply_noise` with a :class:`NoiseModel` at rate 1 on one randomly chosen box.

    Args:
        spec: the benchmark's dataset spec (pool with hidden ``oracle_labels``).
        rate: the share of images to corrupt.
        shift_scale: the NoiseModel's shift scale for shifted boxes.
        random_state: seeds which images, which boxes and the mistakes.
        kinds: the mistakes made, in turn (a one-class dataset has no wrong class).
    """

    source = "oracle"

    def __init__(self, spec, rate: float, *, shift_scale: float, random_state: int,
                 kinds: tuple[str, ...] = KINDS):
        self.spec, self.rate, self.shift_scale, self.kinds = spec, rate, shift_scale, kinds
        self.random_state = random_state
        self.injected: dict[str, dict] = {}

    def _truth(self, path: str) -> Labels:
        return datasets.read_labels(datasets.split_label_path(self.spec, "pool", Path(path)),
                                    self.spec.n_classes)

    def request(self, job) -> None:
        """Choose the images to corrupt among the job's (only images with a box)."""
        rng = np.random.default_rng([self.random_state, 31])
        candidates = [p for p in job.paths if len(self._truth(p))]
        n = round(self.rate * len(job.paths))
        chosen = rng.choice(len(candidates), size=n, replace=False)
        for order, index in enumerate(sorted(chosen)):
            self.injected[candidates[index]] = {"kind": self.kinds[order % len(self.kinds)]}

    def answer(self, path: str) -> Labels:
        """The true labels of ``path``, with its one mistake when it was chosen."""
        truth = self._truth(path)
        if path not in self.injected:
            return truth
        record = self.injected[path]
        rng = np.random.default_rng([self.random_state, zlib.crc32(Path(path).name.encode())])
        box = int(rng.integers(len(truth)))
        noise = {"missing": NoiseModel(miss_rate=1.0),
                 "wrong_class": NoiseModel(wrong_class_rate=1.0),
                 "shifted": NoiseModel(shift_rate=1.0, shift_scale=self.shift_scale)}[
                     record["kind"]]
        one = Labels(truth.class_ids[[box]], truth.xywhn[[box]])
        changed = apply_noise(one, noise, self.spec.n_classes, rng)
        keep = np.arange(len(truth)) != box
        record.update(box=box, n_labels=len(truth), true_class=int(truth.class_ids[box]),
                      true_xywhn=[float(v) for v in truth.xywhn[box]])
        if record["kind"] == "shifted":
            from alkit.core.boxes import box_iou

            record["iou"] = float(box_iou(one.xyxy(1, 1), changed.xyxy(1, 1))[0, 0])
        return Labels(np.concatenate([truth.class_ids[keep], changed.class_ids]),
                      np.concatenate([truth.xywhn[keep], changed.xywhn]))

    def annotated_by(self, path: str) -> str:
        """``"oracle"`` for every ``path``."""
        return "oracle"

    def describe(self) -> str:
        """The annotator in one line."""
        return f"the hidden labels with one mistake on {self.rate:.0%} of the images"


def parse_args(argv=None):
    """The command line (see the module docstring); ``argv`` default ``sys.argv[1:]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="small", help="sample preset (small: 400 pool)")
    parser.add_argument("--recipe", default="cpu", help="recipe of the seed model (cpu)")
    parser.add_argument("--epochs", type=int, default=30, help="seed model epochs (30)")
    parser.add_argument("--imgsz", type=int, default=128, help="train / predict size (128)")
    parser.add_argument("--model", type=Path, default=None,
                        help="an existing seed checkpoint of the preset's classes (no training)")
    parser.add_argument("--budget", type=int, default=300, help="images audited per project")
    parser.add_argument("--rates", default="0.05,0.1", help="shares of images corrupted")
    parser.add_argument("--seeds", default="0,1,2", help="noise seeds per rate")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help="mistakes injected, in turn (missing,wrong_class,shifted; a "
                             "one-class preset such as defects: missing,shifted)")
    parser.add_argument("--high-threshold", default="precise",
                        help="the audit's confidence for overlooked boxes and swaps: 'precise' "
                             "(alkit's default) or a number (0.95: cleanlab's own)")
    parser.add_argument("--shift-scale", type=float, default=0.2,
                        help="NoiseModel shift scale of shifted boxes (0.2, its default)")
    parser.add_argument("--work", type=Path, default=RESULTS / "work",
                        help="projects and the seed model (kept: a rerun reuses the model)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default benchmarks/results/audit/<preset>.json)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Run the benchmark (see the module docstring); ``argv`` as in :func:`parse_args`."""
    args = parse_args(argv)
    from alkit.model.yolo import quiet

    started = time.perf_counter()
    yaml = ensure_samples(args.preset, ROOT / "data_samples" / "generated" / args.preset,
                          progress=False)
    args.work.mkdir(parents=True, exist_ok=True)
    overrides = {"epochs": args.epochs, "imgsz": args.imgsz}
    if args.model is not None:
        overrides.update(seed_epochs=0, initial_weights=str(args.model.resolve()))
    config = round_config("random", args.recipe, budget=args.budget, **overrides)
    seed_dir = args.work / f"seed-{args.preset}-e{args.epochs}-{args.imgsz}"
    if args.model is not None:
        shutil.rmtree(seed_dir, ignore_errors=True)
    seconds = {}
    with (Project(seed_dir) if (seed_dir / "project.db").exists()
          else Project.init(seed_dir, yaml)) as project, quiet():
        t = time.perf_counter()
        done = [r for r in project.ledger.rounds() if r.number == 0 and r.status == "done"]
        seed = done[0] if done else project.run_round(config, progress=False)
        seconds["seed_model"] = round(time.perf_counter() - t, 1)  # ~0 when reused
    print(f"seed model {seed.model_after}: test mAP50 {seed.metrics_after['map50']:.3f} "
          f"({seconds['seed_model']:.0f} s)", flush=True)
    spec = datasets.read_dataset_yaml(yaml)
    rows = []
    for rate in (float(r) for r in args.rates.split(",")):
        for noise_seed in (int(s) for s in args.seeds.split(",")):
            rows.append(_condition(args, yaml, spec, seed, config, rate, noise_seed, seconds))
            r = rows[-1]
            print(f"rate {rate:.0%} seed {noise_seed}: {r['n_injected']} injected of "
                  f"{r['n_audited']}; top 5/10/20%: " + " / ".join(
                      f"{r['found'][str(c)]}" for c in CUTS) + f" (threshold "
                  f"{r['high_probability_threshold']:.3f}); audit {r['seconds']:.1f} s, "
                  f"{r['n_inferred']} images inferred", flush=True)
    summary = _summary(rows)
    print(_table(summary))
    seconds["total"] = round(time.perf_counter() - started, 1)
    out = args.out or RESULTS / f"{args.preset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "args": {k: str(v) for k, v in vars(args).items()},
        "machine": _machine(), "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": seconds,
        "seed_model": {"path": seed.model_after, "map50": seed.metrics_after["map50"],
                       "map50_95": seed.metrics_after["map50_95"],
                       "ap50_per_class": seed.metrics_after["ap50_per_class"],
                       "train_seconds": seed.metrics_after["train_seconds"]},
        "summary": summary, "runs": rows}, indent=1) + "\n")
    print(f"results: {out} ({seconds['total']:.0f} s in all)")
    return 0


def _condition(args, yaml, spec, seed, config, rate, noise_seed, seconds) -> dict:
    """One project: adopt the seed model, stage round 1, import noisy labels, audit."""
    directory = args.work / f"rate{rate:g}-seed{noise_seed}"
    shutil.rmtree(directory, ignore_errors=True)
    annotator = InjectingOracle(spec, rate, shift_scale=args.shift_scale,
                                random_state=noise_seed, kinds=_kinds(args))
    with Project.init(directory, yaml, scores_dir=args.work / "scores") as project:
        project.adopt_seed_round(seed)
        t = time.perf_counter()
        project.stage_round(config, progress=False)
        seconds.setdefault("first_selection", round(time.perf_counter() - t, 1))
        project.annotate(1, annotator, config)
        t = time.perf_counter()
        threshold = args.high_threshold
        report = project.audit(round=1, high_probability_threshold=(
            threshold if threshold == "precise" else float(threshold)))
        audit_seconds = time.perf_counter() - t
        seen = _seen_by_model(project, report, annotator.injected)
    table = report.table
    n = len(table)
    injected = table["path"].isin(list(annotator.injected)).to_numpy()
    kinds = np.array([annotator.injected.get(p, {}).get("kind", "") for p in table["path"]])
    found, by_kind = {}, {k: {} for k in _kinds(args)}
    for cut in CUTS:
        top = np.arange(n) < math.ceil(cut * n)
        found[str(cut)] = int((injected & top).sum())
        for kind in _kinds(args):
            by_kind[kind][str(cut)] = int(((kinds == kind) & top).sum())
    in_top = dict(zip(table["path"], np.arange(n) < math.ceil(0.2 * n), strict=True))
    flagged = table["flagged"].to_numpy(bool)
    # what puts clean images into the top 20%: the kind and class of their worst box
    false_alarms: dict[str, int] = {}
    for image_id in table["image_id"][~injected & (np.arange(n) < math.ceil(0.2 * n))]:
        worst = report.suspects(int(image_id)).head(1)
        for _, box in worst.iterrows():
            name = box["label_name"] if isinstance(box["label_name"], str) else box["pred_name"]
            key = f"{box['kind']} {name}"
            false_alarms[key] = false_alarms.get(key, 0) + 1
    return {"rate": rate, "noise_seed": noise_seed, "n_audited": n,
            "n_injected": int(injected.sum()),
            "n_injected_by_kind": {k: int((kinds == k).sum()) for k in _kinds(args)},
            "found": found, "found_by_kind": by_kind,
            "ranks_of_injected": {p: int(r) for p, r in zip(table["path"], table["rank"],
                                                             strict=True)
                                  if p in annotator.injected},
            "injected": annotator.injected,
            "seen": {"n": int(sum(seen.values())),
                     "found_top20": int(sum(in_top[p] for p, s in seen.items() if s)),
                     "n_unseen": int(sum(not s for s in seen.values())),
                     "found_top20_unseen": int(sum(in_top[p] for p, s in seen.items()
                                                   if not s))},
            "false_alarms_top20": dict(sorted(false_alarms.items(), key=lambda kv: -kv[1])),
            "n_flagged": int(flagged.sum()), "flagged_injected": int((flagged & injected).sum()),
            "n_inferred": report.n_inferred, "seconds": round(audit_seconds, 1),
            "high_probability_threshold": report.settings["high_probability_threshold"],
            "notes": report.notes}


def _seen_by_model(project, report, injected) -> dict[str, bool]:
    """Per injected image: whether the audit's model finds the object the mistake is about (a
    prediction of its true class at IoU >= 0.5 with its true box, with confidence at or above
    the audit's threshold): what the audit can see at all. Read from the scoring cache."""
    from alkit.core.boxes import box_iou
    from alkit.loop.audit import audit_predictions

    threshold = report.settings["high_probability_threshold"]
    scores = audit_predictions(project, report.number, list(injected))
    seen = {}
    for i, path in enumerate(scores.paths):
        record = injected[path]
        found = scores.detections(i, conf_threshold=threshold)
        true = Labels(np.array([record["true_class"]]), np.array([record["true_xywhn"]]))
        iou = box_iou(true.xyxy(int(scores.widths[i]), int(scores.heights[i])), found.xyxy)[0]
        seen[path] = bool(np.any((iou >= 0.5) & (found.class_id == record["true_class"])))
    return seen


def _kinds(args) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise SystemExit(f"--kinds: expected some of {', '.join(KINDS)}, got {args.kinds!r}")
    return kinds


def _summary(rows) -> list[dict]:
    out = []
    for rate in sorted({r["rate"] for r in rows}):
        group = [r for r in rows if r["rate"] == rate]
        n_injected = sum(r["n_injected"] for r in group)
        n_audited = sum(r["n_audited"] for r in group)
        entry = {"rate": rate, "n_runs": len(group), "n_audited": n_audited,
                 "n_injected": n_injected,
                 "recall": {str(c): sum(r["found"][str(c)] for r in group) / n_injected
                            for c in CUTS},
                 "random": {str(c): sum(math.ceil(c * r["n_audited"]) for r in group) /
                            n_audited for c in CUTS},
                 "recall_by_kind": {}, "n_by_kind": {},
                 "false_alarms_top20": _add([r["false_alarms_top20"] for r in group]),
                 "flag_recall": sum(r["flagged_injected"] for r in group) / n_injected,
                 "seen": {key: sum(r["seen"][key] for r in group) for key in group[0]["seen"]},
                 "flag_precision": (sum(r["flagged_injected"] for r in group) /
                                    max(1, sum(r["n_flagged"] for r in group)))}
        for kind in group[0]["n_injected_by_kind"]:
            total = sum(r["n_injected_by_kind"][kind] for r in group)
            entry["n_by_kind"][kind] = total
            entry["recall_by_kind"][kind] = {
                str(c): sum(r["found_by_kind"][kind][str(c)] for r in group) / max(1, total)
                for c in CUTS}
        out.append(entry)
    return out


def _add(counts: list[dict]) -> dict:
    total: dict[str, int] = {}
    for c in counts:
        for key, value in c.items():
            total[key] = total.get(key, 0) + value
    return dict(sorted(total.items(), key=lambda kv: -kv[1]))


def _table(summary) -> str:
    lines = ["", "share of the injected images found in the top of the audit (random review "
                 "in brackets)",
             "  rate  injected   top 5%         top 10%        top 20%      flags: recall "
             "precision"]
    for e in summary:
        cells = [f"{e['recall'][str(c)]:>5.0%} ({e['random'][str(c)]:.0%})" for c in CUTS]
        lines.append(f"  {e['rate']:>4.0%}  {e['n_injected']:>4} of {e['n_audited']:<5} "
                     + "   ".join(f"{c:<12}" for c in cells)
                     + f"  {e['flag_recall']:>5.0%}  {e['flag_precision']:>5.0%}")
        for kind in e["n_by_kind"]:
            cells = [f"{e['recall_by_kind'][kind][str(c)]:>5.0%}" for c in CUTS]
            lines.append(f"        {kind:<12} {e['n_by_kind'][kind]:>3}   "
                         + "          ".join(cells))
        seen = e["seen"]
        lines.append(f"        the model finds the object at the threshold in {seen['n']} of "
                     f"{e['n_injected']}: {seen['found_top20']} of them in the top 20%; of "
                     f"the other {seen['n_unseen']}, {seen['found_top20_unseen']}")
        alarms = ", ".join(f"{k} {v}" for k, v in list(e["false_alarms_top20"].items())[:4])
        lines.append(f"        clean images in the top 20%, by their worst box: {alarms}")
    met = all(e["recall"]["0.2"] >= 0.8 for e in summary)
    lines.append(f"target (>= 80% of the injected images in the top 20%): "
                 f"{'met' if met else 'NOT met'}")
    return "\n".join(lines)


def _machine() -> dict:
    import os

    import cleanlab
    import torch
    import ultralytics

    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "load_average": list(os.getloadavg()),
            "torch": torch.__version__, "ultralytics": ultralytics.__version__,
            "cleanlab": cleanlab.__version__, "numpy": np.__version__}


if __name__ == "__main__":
    sys.exit(main())
