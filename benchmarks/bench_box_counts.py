"""How well selection knows an image's boxes before labeling: raw sum against the fit.

Cost-aware selection prices an unlabeled image at ``seconds_per_image + seconds_per_box *
E[boxes]``. The raw estimate is the sum of the model's candidate confidences (>= 0.05); the fit
(:func:`alkit.core.cost.fit_box_counts`) calibrates it on the val split, where the real boxes
are known. For each given checkpoint, on the same pool images (whose real labels the sample
data keeps), this prints the mean absolute error per image of both estimates, their bias, and
how each ranks the densest decile of the pool (share of the real top-10% densest images the
estimate also puts in its top 10%).

Usage: .venv/bin/python benchmarks/bench_box_counts.py DATASET_YAML WEIGHTS [WEIGHTS ...]
           [--imgsz 320] [--pool 1000] [--out results.json]
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from alkit.data import datasets
from alkit.model.scoring import score_pool


def errors(estimate, truth) -> dict:
    """Mean absolute error, bias and top-decile overlap of ``estimate`` against ``truth``."""
    k = max(1, len(truth) // 10)
    top_true = set(np.argsort(-truth, kind="stable")[:k].tolist())
    top_est = set(np.argsort(-estimate, kind="stable")[:k].tolist())
    return {"mae": round(float(np.mean(np.abs(estimate - truth))), 3),
            "bias": round(float(np.mean(estimate - truth)), 3),
            "top_decile_overlap": round(len(top_true & top_est) / k, 3)}


def measure(weights: str, spec, pool, imgsz: int, cache: Path | None) -> dict:
    """Fit on the val split, evaluate raw and fitted estimates on ``pool``."""
    val = datasets.read_split(spec, "val")
    val_scores = score_pool(weights, [str(p) for p, _ in val], imgsz=imgsz, cache_dir=cache,
                            progress=False)
    fit = val_scores.fit_box_counts({str(p): labels for p, labels in val})
    scores = score_pool(weights, [str(p) for p, _ in pool], imgsz=imgsz, cache_dir=cache,
                        progress=False)
    truth_of = {str(p): len(labels) for p, labels in pool}
    truth = np.array([truth_of[p] for p in scores.paths], dtype=np.float64)
    raw = scores.expected_boxes
    row = {"weights": weights, "val_images": len(val), "pool_images": len(truth),
           "real_boxes_per_image": round(float(truth.mean()), 3), "raw": errors(raw, truth)}
    if fit is not None:
        row["fit"] = fit.to_dict()
        row["fitted"] = errors(np.maximum(fit.predict(scores.box_count_features), 0), truth)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset_yaml")
    parser.add_argument("weights", nargs="+")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--pool", type=int, default=1000, help="pool images to check")
    parser.add_argument("--cache", default=None,
                        help="score cache folder (default: alkit's own, shared with rounds)")
    parser.add_argument("--out", default=None, help="write the rows here as JSON")
    args = parser.parse_args()
    spec = datasets.read_dataset_yaml(args.dataset_yaml)
    pool = datasets.read_split(spec, "pool")
    pool = [pool[i] for i in np.random.default_rng(0).permutation(len(pool))[: args.pool]]
    started = time.perf_counter()
    cache = Path(args.cache) if args.cache else None
    rows = [measure(w, spec, pool, args.imgsz, cache) for w in args.weights]
    for row in rows:
        fitted = row.get("fitted", {"mae": "-", "bias": "-", "top_decile_overlap": "-"})
        print(f"{row['weights']}: real {row['real_boxes_per_image']} boxes/image; "
              f"raw mae {row['raw']['mae']} bias {row['raw']['bias']} top10% "
              f"{row['raw']['top_decile_overlap']}; fitted mae {fitted['mae']} bias "
              f"{fitted['bias']} top10% {fitted['top_decile_overlap']}; fit {row.get('fit')}")
    if args.out:
        Path(args.out).write_text(json.dumps(
            {"command": "benchmarks/bench_box_counts.py " + " ".join(
                [args.dataset_yaml, *args.weights, "--imgsz", str(args.imgsz), "--pool",
                 str(args.pool)]),
             "machine": f"{platform.node()} {platform.processor() or platform.machine()}",
             "seconds": round(time.perf_counter() - started, 1), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
