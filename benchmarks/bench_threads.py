"""CPU training speed: Ultralytics' own thread count (cpu_count - 1) against alkit's (all cores).

Trains the same model on the same data twice in one run, side by side, and prints the ratio.
Usage: .venv/bin/python benchmarks/bench_threads.py [--epochs 4] [--preset small]
"""

import argparse
import os
import tempfile
from pathlib import Path

from alkit.data import samples
from alkit.model import yolo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--imgsz", type=int, default=128)
    args = parser.parse_args()
    from ultralytics.utils import torch_utils

    work = Path(tempfile.mkdtemp(prefix="bench-threads-"))
    data = samples.build_samples(args.preset, work / "data", progress=False).dataset_yaml
    cores = os.cpu_count() or 1
    seconds = {}
    for label, threads in (("ultralytics default", max(1, cores - 1)), ("alkit", cores)) * 2:
        torch_utils.NUM_THREADS = threads
        result = yolo.train(data, epochs=args.epochs, imgsz=args.imgsz, runs_dir=work / "runs",
                            name=f"threads-{threads}")
        seconds.setdefault(label, []).append(result.seconds)
        print(f"{label:<20} {threads} threads: {result.seconds:6.1f} s")
    best = {k: min(v) for k, v in seconds.items()}
    print(f"speed-up (best of 2 each): {best['ultralytics default'] / best['alkit']:.2f}x "
          f"on {cores} cores, {args.epochs} epochs, preset {args.preset}")


if __name__ == "__main__":
    main()
