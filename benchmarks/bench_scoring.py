"""Pool scoring cost against the model's own inference, side by side in one run.

For each image size (320 and 640 px), on the same images with the same model:
  (a) plain   ultralytics predict over the pool in batches: the floor (pure inference);
  (b) classic predict for confidences, then a separate per-image backbone pass at 224 px for
              the embedding (the common two-pass recipe);
  (c) alkit   score_pool: boxes, full class-score vectors and embeddings in one pass, cached;
  (d) cached  score_pool again on the unchanged pool (no inference).
Each is timed --repeats times (3), interleaved, and the fastest is kept. Targets: (c) within 1.10x
of (a), (c) at least 1.3x faster than (b) at 320 px, (d) under 5% of (a).

Usage: .venv/bin/python benchmarks/bench_scoring.py [--images 256] [--batch 16]
"""

import argparse
import tempfile
import time
from pathlib import Path

from alkit.data import samples
from alkit.model import scoring, yolo


def plain(weights, images, imgsz, batch):
    model = yolo.YOLO(weights)
    for i in range(0, len(images), batch):
        model.predict(images[i : i + batch], imgsz=imgsz, conf=0.05, iou=0.7, max_det=100,
                      verbose=False)


def classic(weights, images, imgsz, batch):
    plain(weights, images, imgsz, batch)
    model = yolo.YOLO(weights)
    layer = yolo.default_embedding_layer(model)
    for image in images:
        model.predict(image, imgsz=224, embed=[layer], verbose=False)


def alkit_scoring(weights, images, imgsz, batch, cache):
    scoring.score_pool(weights, images, imgsz=imgsz, batch=batch, cache_dir=cache,
                       progress=False)


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 640])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    built = samples.build_samples("full", work / "data", progress=False)
    images = [str(p) for p in sorted((built.out / "images" / "pool").glob("*.jpg"))]
    images = images[: args.images]
    weights = yolo.default_start_weights()
    print(f"{len(images)} images, model {Path(weights).name}, batch {args.batch}, "
          f"{yolo.torch_threads()} threads")
    plain(weights, images[:32], 320, args.batch)  # warm-up: imports, allocator, first call
    for imgsz in args.sizes:
        best = {"plain": [], "classic": [], "alkit": [], "cached": []}
        for repeat in range(args.repeats):
            cache = work / f"cache-{imgsz}-{repeat}"
            best["plain"].append(timed(plain, weights, images, imgsz, args.batch))
            best["classic"].append(timed(classic, weights, images, imgsz, args.batch))
            best["alkit"].append(timed(alkit_scoring, weights, images, imgsz, args.batch, cache))
            best["cached"].append(timed(alkit_scoring, weights, images, imgsz, args.batch, cache))
        t = {k: min(v) for k, v in best.items()}
        print(f"\n{imgsz} px: " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))
        print(f"  (c)/(a) alkit vs plain predict : {t['alkit'] / t['plain']:.3f}x  "
              "(target <= 1.10)")
        print(f"  (b)/(c) classic vs alkit       : {t['classic'] / t['alkit']:.2f}x  "
              "(target >= 1.3 at 320 px)")
        print(f"  (b)/(a) classic vs plain       : {t['classic'] / t['plain']:.2f}x")
        print(f"  (d)/(a) cached re-run vs plain : {t['cached'] / t['plain']:.3f}  (target < 0.05)")


if __name__ == "__main__":
    main()
