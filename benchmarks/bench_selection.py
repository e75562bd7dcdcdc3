"""Selection at scale: random 256-d embeddings and scores at 10k, 100k and 1M images, and a
project from a million-line manifest.

Each (size, selector) runs in its own process so that its peak memory (max RSS, including the
embeddings themselves: 1M x 256 float32 is 1 GB) is measured alone. The selectors of
:mod:`alkit.core.selectors` pick 1,000 images with 500 pool rows already labeled (initial
centers for k-center), from a random utility: ``kcenter`` (coreset), ``hybrid``,
``clusters`` (calibrated's 10x shortlist over k-means clusters of the pool), ``medoids``
(ppal's 4x shortlist, k-medoids on the embeddings' cosine distance: these scores have no
per-box features) and ``typiclust``. Targets on a 2-core machine: k-center 1,000 of 1M under
15 s with and without labeled rows; 1M completes under 4 GB. Times exclude importing
scikit-learn (about 1.8 s, once per process).

``--manifest N`` (default 1,000,000; 0 skips it) also times ``alkit init --manifest`` on an
N-line manifest of synthetic paths (``--no-check``: the files do not exist) against the sample
``tiny`` dataset yaml, then ``alkit status`` on that project, each as its own process (targets:
under 60 s and under 2 s). ``--out DIR`` writes ``summary.json`` there.

``--compare`` instead times k-center greedy alone, the previous implementation (a copy below:
a heap of every row, each lazy update gathering its centres' rows) against
``alkit.core.kcenter.k_center_greedy``: 1,000 picks of N x 256 for each ``--sizes`` N, with
each ``--labeled`` count of labeled rows (500, and 0: the first pick is random), ``--repeat``
times each, every run in its own process, the implementations alternating within a repeat
(the machine is shared: compare the two in the same run). It prints min and median seconds
and peak MB per case, the ratio previous / new, and whether the picks and radii are the
previous ones bit for bit. ``--dense-centers K ...`` adds the new code with
``kcenter.DENSE_CENTERS = K`` (the dense-update switch point) per K, in the cases with fewer
than K labeled rows. With ``--out DIR`` it
writes ``kcenter.json`` (every run, the command, the machine, the date) and ``kcenter.txt``
(the printed table) there.

Usage: .venv/bin/python benchmarks/bench_selection.py [--sizes 10000 100000 1000000]
       [--manifest 1000000] [--out benchmarks/results/selection]
       .venv/bin/python benchmarks/bench_selection.py --compare --sizes 100000 1000000
       [--labeled 500 0] [--repeat 3] [--dense-centers 4 8] [--out benchmarks/results/selection]
"""

import argparse
import datetime
import hashlib
import heapq
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

STRATEGIES = ("kcenter", "hybrid", "clusters", "medoids", "typiclust")


def run_one(size: int, strategy: str) -> dict:
    import sklearn.cluster  # noqa: F401  (imported before the clock starts: about 1.8 s here)

    from alkit.core.context import RoundContext
    from alkit.core.pool import PoolScores
    from alkit.core.selectors import Hybrid, KCenter, Shortlist, Typical

    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((size, 256), dtype=np.float32)
    utility = rng.random(size)
    scores = PoolScores(  # embeddings only: no box anywhere
        paths=[f"{i}.jpg" for i in range(size)], hashes=np.zeros(size, "U1"),
        heights=np.zeros(size, np.int32), widths=np.zeros(size, np.int32),
        box_offsets=np.zeros(size + 1, np.int64), box_xyxy=np.zeros((0, 4), np.float32),
        box_confidence=np.zeros(0, np.float32), box_class=np.zeros(0, np.int64),
        box_class_scores=np.zeros((0, 1), np.float32), embeddings=embeddings, names=("a",))
    context = RoundContext.of(scores, labeled=np.arange(500))
    selector = {"kcenter": KCenter(), "hybrid": Hybrid(), "clusters": Shortlist(10, "clusters"),
                "medoids": Shortlist(4, "medoids"), "typiclust": Typical()}[strategy]
    started = time.perf_counter()
    picks, *_ = selector.pick(utility, scores, context, 1000, None, 0)
    seconds = time.perf_counter() - started
    assert len(picks) == 1000 and len(set(picks.tolist())) == 1000
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"size": size, "strategy": strategy, "seconds": seconds, "peak_mb": peak_mb}


def _previous_k_center_greedy(embeddings_N_D, n_select, *, labeled=None, random_state=None,
                              chunk=65_536):
    """``k_center_greedy`` as it was before the centres' buffer and the block-fed heap (commit
    ab679f4), the baseline of ``--compare``: no ``candidates``, ``cost_N`` or
    ``labeled_embeddings`` (the comparison uses none)."""
    from alkit.core import kcenter

    x = np.ascontiguousarray(embeddings_N_D, dtype=np.float32)
    n = kcenter._check_pool(None, x)
    mask = kcenter.labeled_mask(labeled, n)
    rows = np.flatnonzero(~mask)
    nearest = (kcenter.sq_distance_to_nearest(x, x[mask], chunk) if mask.any()
               else np.full(n, np.inf, dtype=np.float32))
    norms = np.einsum("ij,ij->i", x, x)
    picked: list[tuple[int, float]] = []
    centers: list[int] = []
    seen = np.zeros(n, dtype=np.int64)
    if not mask.any() and random_state is not None and len(rows):
        j = int(rows[int(kcenter.check_random_state(random_state).choice(len(rows)))])
        picked.append((j, float(nearest[j])))
        centers.append(j)
        to_new = norms - 2.0 * (x @ x[j]) + norms[j]
        np.minimum(nearest, np.maximum(to_new, 0.0), out=nearest)
        seen[:] = 1
    first = {j for j, _ in picked}
    heap = [(-v, i) for i, v in zip(rows.tolist(), nearest[rows].tolist(), strict=True)
            if i not in first]
    heapq.heapify(heap)
    while heap and len(picked) < n_select:
        _, i = heap[0]
        if seen[i] < len(centers):
            new = np.asarray(centers[seen[i]:])
            to_new = norms[i] - 2.0 * (x[new] @ x[i]) + norms[new]
            nearest[i] = min(float(nearest[i]), float(np.maximum(to_new, 0.0).min()))
            seen[i] = len(centers)
            heapq.heapreplace(heap, (-float(nearest[i]), i))
            continue
        heapq.heappop(heap)
        picked.append((i, float(nearest[i])))
        centers.append(i)
        seen[i] = len(centers)
    radii = [float(np.sqrt(np.float32(r))) if np.isfinite(r) else np.inf for _, r in picked]
    return np.array([j for j, _ in picked], dtype=np.int64), np.array(radii)


def run_kcenter(size: int, n_labeled: int, implementation: str, result_path: str) -> dict:
    """One ``--compare`` run: ``previous``, ``new`` or ``new@K`` (``DENSE_CENTERS = K``)."""
    from alkit.core import kcenter

    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((size, 256), dtype=np.float32)
    labeled = np.arange(n_labeled) if n_labeled else None
    if implementation == "previous":
        select = _previous_k_center_greedy
    else:
        if "@" in implementation:
            kcenter.DENSE_CENTERS = int(implementation.split("@")[1])
        select = kcenter.k_center_greedy
    started = time.perf_counter()
    picks, radii = select(embeddings, 1000, labeled=labeled, random_state=0)
    seconds = time.perf_counter() - started
    assert len(picks) == 1000 and len(set(picks.tolist())) == 1000
    np.savez(result_path, picks=picks, radii=radii)
    return {"size": size, "labeled": n_labeled, "implementation": implementation,
            "seconds": seconds,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "sha256": hashlib.sha256(picks.tobytes() + radii.tobytes()).hexdigest()[:16]}


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                  .splitlines() if line.startswith("model name")), platform.processor())
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_model": model,
            "platform": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "memory_gb": round(os.sysconf("SC_PAGE_SIZE")
                                                         * os.sysconf("SC_PHYS_PAGES") / 2**30)}


def compare_kcenter(args) -> None:
    implementations = ["previous", "new", *(f"new@{k}" for k in args.dense_centers)]

    def implementations_for(n_labeled: int) -> list[str]:  # new@K is new from K centres on
        return [i for i in implementations if "@" not in i or n_labeled < int(i.split("@")[1])]

    cases = [(size, n_labeled) for size in args.sizes for n_labeled in args.labeled]
    command = " ".join([".venv/bin/python", "benchmarks/bench_selection.py", *sys.argv[1:]])
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    runs = []
    results = {}
    with tempfile.TemporaryDirectory(prefix="alkit-bench-kcenter-") as tmp:
        for size, n_labeled in cases:
            for repeat in range(args.repeat):
                for implementation in implementations_for(n_labeled):
                    path = f"{tmp}/{size}-{n_labeled}-{implementation}-{repeat}.npz"
                    load = os.getloadavg()[0]
                    out = subprocess.run([sys.executable, __file__, "--one-kcenter", str(size),
                                          str(n_labeled), implementation, path],
                                         capture_output=True, text=True, check=True)
                    row = json.loads(out.stdout.strip().splitlines()[-1])
                    row.update(repeat=repeat, load_average_before=round(load, 2))
                    runs.append(row)
                    with np.load(path) as f:
                        results[(size, n_labeled, implementation, repeat)] = (f["picks"],
                                                                              f["radii"])
                    print(f"  {size:>9} images, {n_labeled:>3} labeled, {implementation:<9} "
                          f"#{repeat}: {row['seconds']:7.2f} s  (load {load:.1f})", flush=True)
    finished_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    lines = [f"k-center greedy, 1,000 picks of N x 256 float32 (standard normal, seed 0), "
             f"random_state=0, {args.repeat} runs each, one process per run",
             f"command: {command}",
             f"machine: nproc {machine()['nproc']}, {machine()['cpu_model']}, "
             f"{machine()['memory_gb']} GB, Python {platform.python_version()}, "
             f"numpy {np.__version__}",
             f"date: {started_at} to {finished_at} (UTC); load average "
             f"{min(r['load_average_before'] for r in runs):.1f} to "
             f"{max(r['load_average_before'] for r in runs):.1f} before the runs",
             "",
             f"{'images':>9} {'labeled':>7} {'implementation':<14} {'min s':>7} {'median s':>8} "
             f"{'peak MB':>7} {'previous/new (min, median)':>26}  same picks, radii as previous"]
    summary = []
    for size, n_labeled in cases:
        base = [r["seconds"] for r in runs if (r["size"], r["labeled"], r["implementation"])
                == (size, n_labeled, "previous")]
        for implementation in implementations_for(n_labeled):
            mine = [r for r in runs if (r["size"], r["labeled"], r["implementation"])
                    == (size, n_labeled, implementation)]
            seconds = [r["seconds"] for r in mine]
            row = {"size": size, "labeled": n_labeled, "implementation": implementation,
                   "min_s": min(seconds), "median_s": float(np.median(seconds)),
                   "peak_mb": max(r["peak_mb"] for r in mine)}
            ratio = ""
            same = ""
            if implementation != "previous":
                row["ratio_min"] = min(base) / row["min_s"]
                row["ratio_median"] = float(np.median(base)) / row["median_s"]
                ratio = f"{row['ratio_min']:.2f}x, {row['ratio_median']:.2f}x"
                ref_picks, ref_radii = results[(size, n_labeled, "previous", 0)]
                picks_same = all(np.array_equal(results[(size, n_labeled, implementation, k)][0],
                                                ref_picks) for k in range(args.repeat))
                radii = [results[(size, n_labeled, implementation, k)][1]
                         for k in range(args.repeat)]
                differ = max(int((r != ref_radii).sum()) for r in radii)
                finite = np.isfinite(ref_radii)
                rel = max(float(np.max(np.abs(r[finite] - ref_radii[finite]) / ref_radii[finite],
                                       initial=0.0)) for r in radii)
                row.update(same_picks=picks_same, radii_differing=differ, radii_max_rel_diff=rel)
                same = (f"{'yes' if picks_same else 'NO'}, "
                        + ("bit for bit" if not differ else f"{differ} differ (<= {rel:.1e})"))
            summary.append(row)
            lines.append(f"{size:>9} {n_labeled:>7} {implementation:<14} {row['min_s']:>7.2f} "
                         f"{row['median_s']:>8.2f} {row['peak_mb']:>7.0f} {ratio:>26}  {same}")
    print("\n" + "\n".join(lines))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "kcenter.txt").write_text("\n".join(lines) + "\n")
        (args.out / "kcenter.json").write_text(json.dumps({
            "command": command, "machine": machine(), "started": started_at,
            "finished": finished_at, "summary": summary, "runs": runs}, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--manifest", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--compare", action="store_true",
                        help="time the previous k-center against the new one (only that)")
    parser.add_argument("--labeled", type=int, nargs="+", default=[500, 0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dense-centers", type=int, nargs="*", default=[])
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--one-kcenter", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(int(args.one[0]), args.one[1])))
        return
    if args.one_kcenter:
        size, n_labeled, implementation, path = args.one_kcenter
        print(json.dumps(run_kcenter(int(size), int(n_labeled), implementation, path)))
        return
    if args.compare:
        compare_kcenter(args)
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
