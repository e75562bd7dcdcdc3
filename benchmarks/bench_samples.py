"""Sample benchmark build time (target: the full preset in under a minute) and validation time.

The build is timed against a baseline measured in the same run: writing the same number of
128 x 128 JPEGs of noise with no composition, so a slow machine shows as a slow baseline too.
Usage: .venv/bin/python benchmarks/bench_samples.py [--preset full]
"""

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from alkit.data import samples, validation


def _baseline(n: int, out: Path) -> float:
    out.mkdir(parents=True)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for i in range(n):
        buffer = io.BytesIO()
        array = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
        Image.fromarray(array).save(buffer, format="JPEG", quality=92)
        (out / f"{i}.jpg").write_bytes(buffer.getvalue())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="full")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-samples-"))
    n_images = sum(samples.PRESETS[args.preset].n_images.values())
    baseline = _baseline(n_images, work / "baseline")
    report = samples.build_samples(args.preset, work / "data", progress=False)
    started = time.perf_counter()
    checked = validation.validate_dataset(report.dataset_yaml)
    validate_seconds = time.perf_counter() - started
    print(f"preset {args.preset}: {n_images} images, {sum(report.n_objects.values())} objects")
    print(f"build    {report.seconds:6.1f} s  (target < 60 s)")
    print(f"baseline {baseline:6.1f} s  (write {n_images} noise JPEGs)")
    print(f"build / baseline: {report.seconds / baseline:.1f}x")
    print(f"validate {validate_seconds:6.1f} s  ({len(checked.problems)} problems)")


if __name__ == "__main__":
    main()
