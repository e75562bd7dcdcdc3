"""Pool scoring on Ray against local scoring, on the same images in one run.

Measures, on ``--images`` distinct sample images (two seeds of the ``small`` preset when more
than one preset's 640 are asked for) with the pretrained start at ``--imgsz``:
  (a) local   score_pool in this process, torch on ``--threads`` threads (default 2);
  (b) ray-2   score_pool(engine="ray"), 2 actors x 1 CPU, on a Ray node of 2 CPUs started here
              (tests/ray_cluster.py: 127.0.0.1, no dashboard); Ray's fixed start-up (connecting,
              starting the actors, the first batch back) is reported apart from the throughput
              after it;
  (c) ray-1   the same with 1 actor: the scaling from 1 to 2 actors;
  (a') local   again after (c), since other jobs on a shared machine change its load; the
              faster of the two local runs is the reference;
  (d) resume  a driver (a subprocess) killed with SIGKILL once half the blocks are written, then
              a rerun: finished blocks must be skipped, not recomputed.
Every run starts from an empty cache. Target: (b)'s throughput >= 0.9x (a)'s.

Usage: .venv/bin/python benchmarks/bench_distributed.py [--images 1280] [--imgsz 320]
       [--out benchmarks/results/distributed]
"""

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from ray_cluster import LocalCluster

from alkit.data import datasets, samples
from alkit.model import scoring, yolo

_DRIVER = """
import sys
from alkit.model import scoring
scoring.score_pool(sys.argv[1], open(sys.argv[2]).read().split("\\n"), cache_dir=sys.argv[3],
                   engine="ray", address=sys.argv[4], actors=2, block_size=int(sys.argv[5]),
                   imgsz=int(sys.argv[6]), batch=int(sys.argv[7]), progress=False)
"""


def pool_images(n: int, workdir: Path) -> list[str]:
    images: list[str] = []
    seed = 0
    while len(images) < n:
        out = workdir / f"small-{seed}"
        if not (out / "dataset.yaml").exists():
            samples.build_samples("small", out, random_state=seed, progress=False)
        images += [str(p) for p in datasets.list_images(out / "images")]
        seed += 1
    return images[:n]


def run(weights, images, cache, **kwargs) -> dict:
    started = time.perf_counter()
    scores = scoring.score_pool(weights, images, cache_dir=cache, progress=False, **kwargs)
    seconds = time.perf_counter() - started
    info = dict(scores.meta["run"])
    info["wall_seconds"] = seconds
    info["images_per_second"] = info["n_inferred"] / seconds
    info["load_average_after"] = os.getloadavg()
    return info


def killed_driver(weights, images, cluster, cache: Path, args) -> dict:
    cache.mkdir(parents=True, exist_ok=True)
    listing = cache.parent / "pool.txt"
    listing.write_text("\n".join(images))
    n_blocks = -(-len(images) // args.block_size)
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, weights, str(listing), str(cache),
                               cluster.address, str(args.block_size), str(args.imgsz),
                               str(args.batch)], stderr=subprocess.DEVNULL)
    while len(list(cache.glob("*/shard-block-*.npz"))) < n_blocks // 2:
        if driver.poll() is not None:
            raise RuntimeError("the driver ended before half of the blocks were written")
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    finished = list(cache.glob("*/shard-block-*.npz"))
    stamps = {p: p.stat().st_mtime_ns for p in finished}
    rerun = run(weights, images, cache, engine="ray", address=cluster.address, actors=2,
                block_size=args.block_size, imgsz=args.imgsz, batch=args.batch)
    rewritten = sum(p.stat().st_mtime_ns != t for p, t in stamps.items())
    return {"n_blocks": n_blocks, "finished_when_killed": len(finished),
            "skipped_on_rerun": rerun["n_blocks_skipped"], "rewritten": rewritten,
            "rerun_inferred": rerun["n_inferred"], "rerun_seconds": rerun["wall_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=1280)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--block-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("data_samples/generated"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    os.environ["ALKIT_TORCH_THREADS"] = str(args.threads)
    yolo.set_torch_threads(args.threads)
    weights = str(yolo.pretrained_checkpoint())
    images = pool_images(args.images, args.workdir)
    common = {"imgsz": args.imgsz, "batch": args.batch}
    rows = {}
    with tempfile.TemporaryDirectory(prefix="alkit-bench-dist-") as tmp, \
            LocalCluster(1, cpus_per_node=2, object_store_bytes=500_000_000) as cluster:
        tmp = Path(tmp)
        rows["local"] = run(weights, images, tmp / "local", **common)
        print(f"local  {rows['local']['images_per_second']:6.1f} img/s", flush=True)
        for actors in (2, 1):
            key = f"ray-{actors}"
            rows[key] = run(weights, images, tmp / key, engine="ray", address=cluster.address,
                            actors=actors, block_size=args.block_size, **common)
            print(f"{key}  {rows[key]['steady_images_per_second']:6.1f} img/s after a "
                  f"{rows[key]['startup_seconds']:.1f} s start-up ({rows[key]['wall_seconds']:.1f}"
                  f" s in all)", flush=True)
        # local again, after: the machine's load drifts (other jobs share it)
        rows["local-again"] = run(weights, images, tmp / "local-again", **common)
        print(f"local again {rows['local-again']['images_per_second']:6.1f} img/s", flush=True)
        rows["resume"] = killed_driver(weights, images, cluster, tmp / "resume" / "cache", args)
        print(f"resume {rows['resume']}")
    local = max(rows["local"]["images_per_second"], rows["local-again"]["images_per_second"])
    ratio = rows["ray-2"]["steady_images_per_second"] / local
    scaling = (rows["ray-2"]["steady_images_per_second"]
               / rows["ray-1"]["steady_images_per_second"])
    print(f"ray 2 actors / local {args.threads} threads: {ratio:.2f}x (target >= 0.9x); "
          f"2 actors / 1 actor: {scaling:.2f}x")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        summary = {"command": " ".join(["benchmarks/bench_distributed.py", *sys.argv[1:]]),
                   "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                               "python": platform.python_version(),
                               "load_average_at_end": os.getloadavg()},
                   "images": len(images), **vars(args) | {"workdir": str(args.workdir),
                                                          "out": str(args.out)},
                   "runs": rows, "ray2_over_local": ratio, "ray2_over_ray1": scaling}
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
