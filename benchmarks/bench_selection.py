"""Selection at scale: random 256-d embeddings and scores at 10k, 100k and 1M images, and a
project from a million-line manifest.

Each (size, strategy) runs in its own process so that its peak memory (max RSS, including the
embeddings themselves: 1M x 256 float32 is 1 GB) is measured alone. Strategies pick 1,000
images with 500 pool rows already labeled (initial centers for k-center). Targets on a 2-core
machine: k-center 1,000 of 100k under 10 s; hybrid (50-cluster MiniBatchKMeans) on 100k under
5 s; 1M completes under 4 GB; k-center 1,000 of 1M under 15 s. Times exclude importing
scikit-learn (about 1.8 s, once per process).

``--manifest N`` (default 1,000,000; 0 skips it) also times ``alkit init --manifest`` on an
N-line manifest of synthetic paths (``--no-check``: the files do not exist) against the sample
``tiny`` dataset yaml, then ``alkit status`` on that project, each as its own process (targets:
under 60 s and under 2 s). ``--out DIR`` writes ``summary.json`` there.

Usage: .venv/bin/python benchmarks/bench_selection.py [--sizes 10000 100000 1000000]
       [--manifest 1000000] [--out benchmarks/results/selection]
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STRATEGIES = ("kcenter", "hybrid", "two_stage")


def run_one(size: int, strategy: str) -> dict:
    import sklearn.cluster  # noqa: F401  (imported before the clock starts: about 1.8 s here)

    from alkit.core import selection

    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((size, 256), dtype=np.float32)
    uncertainty = rng.random(size)
    labeled = np.arange(500)
    started = time.perf_counter()
    if strategy == "kcenter":
        picks, _ = selection.k_center_greedy(embeddings, 1000, labeled=labeled, random_state=0)
    elif strategy == "hybrid":
        picks = selection.hybrid_selection(uncertainty, embeddings, 1000, labeled=labeled,
                                           random_state=0).indices
    else:
        picks = selection.two_stage_selection(uncertainty, embeddings, 1000, labeled=labeled,
                                              random_state=0).indices
    seconds = time.perf_counter() - started
    assert len(picks) == 1000 and len(set(picks.tolist())) == 1000
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"size": size, "strategy": strategy, "seconds": seconds, "peak_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--manifest", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(int(args.one[0]), args.one[1])))
        return
    rows = []
    print(f"{'images':>9} {'strategy':<10} {'seconds':>8} {'peak MB':>8}")
    for size in args.sizes:
        for strategy in STRATEGIES:
            out = subprocess.run([sys.executable, __file__, "--one", str(size), strategy],
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{size:>9} {strategy:<10} {row['seconds']:>8.2f} {row['peak_mb']:>8.0f}")
    by = {(r["size"], r["strategy"]): r for r in rows}
    lo, hi = min(args.sizes), max(args.sizes)
    for strategy in STRATEGIES:
        growth = by[(hi, strategy)]["seconds"] / by[(lo, strategy)]["seconds"]
        print(f"{strategy}: {hi // lo}x more images -> {growth:.0f}x the time")
    manifest = manifest_project(args.manifest) if args.manifest else None
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "summary.json").write_text(json.dumps({
            "command": " ".join(["benchmarks/bench_selection.py", *sys.argv[1:]]),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                        "python": platform.python_version(),
                        "load_average_at_end": os.getloadavg()},
            "selection": rows, "manifest_project": manifest}, indent=2))


def manifest_project(n_lines: int) -> dict:
    """Seconds of ``alkit init --manifest`` (n_lines synthetic paths) and ``alkit status``."""
    from alkit.data.samples import build_samples

    alkit = [sys.executable, "-m", "alkit.cli"]
    with tempfile.TemporaryDirectory(prefix="alkit-bench-manifest-") as tmp:
        tmp = Path(tmp)
        tiny = build_samples("tiny", tmp / "tiny", random_state=0, progress=False)
        manifest = tmp / "pool.txt"
        with open(manifest, "w") as f:
            f.writelines(f"/data/pool/{i // 1000:04d}/img_{i:07d}.jpg\n"
                         for i in range(n_lines))
        timings = {"lines": n_lines}
        for name, command in (
                ("init_seconds", [*alkit, "init", str(tmp / "project"), "--dataset",
                                  str(tiny.dataset_yaml), "--manifest", str(manifest),
                                  "--no-check"]),
                ("status_seconds", [*alkit, "status", str(tmp / "project")])):
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            timings[name] = time.perf_counter() - started
        timings["ledger_mb"] = (tmp / "project" / "project.db").stat().st_size / 2**20
    print(f"manifest of {n_lines} lines: alkit init {timings['init_seconds']:.1f} s, "
          f"alkit status {timings['status_seconds']:.2f} s, ledger {timings['ledger_mb']:.0f} MB")
    return timings


if __name__ == "__main__":
    main()
