"""The end-to-end pass behind ``make demo`` / ``alkit demo``, until the starter experiment exists.

Steps: build the sample benchmark, validate it, fine-tune a detector on the labeled seed split
(from the optional pretrained start when installed, else from ``yolov8n.yaml``), measure it on
the held-out test split, predict on the unlabeled pool, and report what the model is unsure
about (images whose most confident box is below 0.6, the simple flag rule).

The per-condition breakdown at the end reads the generator's metadata: that is analysis of the
benchmark, shown so a user can see that the flagged images are the hard ones. No selection
code reads that file.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from alkit import samples, validation

FLAG_THRESHOLD = 0.6


@dataclass(frozen=True)
class DemoReport:
    """What the demo measured (also written as JSON next to the run)."""

    dataset_yaml: str
    weights_start: str
    epochs: int
    imgsz: int
    n_seed_images: int
    train_seconds: float
    test_map50: float
    test_map50_95: float
    test_ap50_per_class: dict[str, float]
    n_pool_images: int
    n_pool_boxes: int
    n_flagged: int
    flagged_share_by_condition: dict[str, float]
    best_weights: str


def run_demo(
    *,
    preset: str = "small",
    workdir: str | os.PathLike = "data_samples/generated",
    weights: str | None = None,
    epochs: int = 10,
    imgsz: int = 128,
    batch: int = 16,
    seed: int = 0,
    progress: bool = True,
    echo=print,
) -> DemoReport:
    """Run the demo (see the module docstring) and return its report."""
    from alkit import yolo

    workdir = Path(workdir)
    echo(f"1/5 building the '{preset}' sample benchmark in {workdir / preset}")
    built = samples.build_samples(preset, workdir / preset, random_state=seed, progress=progress)
    echo(f"    {built.n_images} images, {built.n_objects} objects, {built.seconds:.1f} s")
    report = validation.validate_dataset(built.dataset_yaml)
    echo(f"2/5 validation: {len(report.errors)} errors, {len(report.warnings)} warnings")
    if report.fatal:
        raise RuntimeError("the sample dataset failed validation:\n" + report.format())
    start = weights or yolo.default_start_weights()
    echo(f"3/5 training {epochs} epochs at {imgsz} px on the seed split from {start}")
    trained = yolo.train(built.dataset_yaml, weights=start, epochs=epochs, imgsz=imgsz,
                         batch=batch, seed=seed, runs_dir=workdir / "runs", name=f"demo-{preset}")
    test = yolo.evaluate(trained.best, built.dataset_yaml, split="test", imgsz=imgsz,
                         runs_dir=workdir / "runs")
    echo(f"4/5 test mAP50 {test.map50:.3f} (mAP50-95 {test.map50_95:.3f})")
    pool_images = sorted((built.out / "images" / "pool").glob("*.jpg"))
    echo(f"5/5 predicting on {len(pool_images)} pool images")
    detections = yolo.predict(trained.best, pool_images, imgsz=imgsz, batch=32, progress=progress)
    max_conf = np.array([d.max_confidence for d in detections])
    flagged = max_conf < FLAG_THRESHOLD
    result = DemoReport(
        dataset_yaml=str(built.dataset_yaml), weights_start=str(start), epochs=epochs,
        imgsz=imgsz, n_seed_images=built.n_images["seed"], train_seconds=trained.seconds,
        test_map50=test.map50, test_map50_95=test.map50_95,
        test_ap50_per_class=test.ap50_per_class, n_pool_images=len(pool_images),
        n_pool_boxes=int(sum(len(d) for d in detections)), n_flagged=int(flagged.sum()),
        flagged_share_by_condition=_flagged_by_condition(built.out, pool_images, flagged),
        best_weights=str(trained.best),
    )
    path = trained.run_dir / "demo_report.json"
    path.write_text(json.dumps(asdict(result), indent=2) + "\n")
    echo(format_report(result))
    echo(f"report written to {path}")
    return result


def _flagged_by_condition(root: Path, images: list[Path], flagged: np.ndarray) -> dict:
    """Share of pool images flagged, per generation condition (analysis only)."""
    rows = samples.read_generation_metadata(root)
    condition = {r["image"]: r["condition"] for r in rows if r["split"] == "pool"}
    names = [condition[f"images/pool/{p.name}"] for p in images]
    totals = Counter(names)
    hits = Counter(n for n, f in zip(names, flagged, strict=True) if f)
    return {c: hits[c] / totals[c] for c in sorted(totals)}


def _start_label(weights: str) -> str:
    from alkit import yolo

    pretrained = yolo.pretrained_checkpoint()
    if pretrained is not None and Path(weights) == pretrained:
        return "the pretrained start"
    return Path(weights).name


def format_report(r: DemoReport) -> str:
    """The demo report as the few lines printed at the end of ``make demo``."""
    per_class = ", ".join(f"{k} {v:.2f}" for k, v in r.test_ap50_per_class.items())
    lines = [
        "",
        "alkit demo report",
        f"  trained on {r.n_seed_images} labeled seed images, {r.epochs} epochs at {r.imgsz} px "
        f"in {r.train_seconds:.0f} s (start: {_start_label(r.weights_start)})",
        f"  test mAP50 {r.test_map50:.3f}, mAP50-95 {r.test_map50_95:.3f}",
        f"  test AP50 per class: {per_class}",
        f"  pool: {r.n_pool_images} unlabeled images, {r.n_pool_boxes} predicted boxes",
        f"  flagged (most confident box < {FLAG_THRESHOLD}): {r.n_flagged} images "
        f"({r.n_flagged / max(1, r.n_pool_images):.0%} of the pool)",
        "  share flagged by scene condition (generator metadata, analysis only):",
    ]
    lines += [f"    {c:<13} {s:.0%}" for c, s in r.flagged_share_by_condition.items()]
    return "\n".join(lines)
