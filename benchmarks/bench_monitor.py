"""Production monitoring on the simulated stream: when is the drift reported, per seed?

A seed model is trained once on a sample preset (the recipe, epochs and image size given); then,
for each stream seed, a fresh project adopts that model, monitors every batch of a simulated
stream (alkit.build_stream: night scenes from --drift-start on) and the report's change rule
marks the changed batches. Printed per seed: the first changed batch, the delay after the
drift's start (a batch marked before the start is a false alarm), and the far share and flagged
rate before and after the start. The target of issue 17: reported within 2 batches of the start,
never before it, on every seed.

Usage: .venv/bin/python benchmarks/bench_monitor.py [--preset tiny] [--recipe tiny]
       [--seeds 100,101,102,103,104] [--batches 7] [--batch-size 24] [--drift-start 4]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from alkit import Project, build_samples, build_stream, round_config
from alkit.model.yolo import quiet


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="tiny", help="sample preset of the project (tiny)")
    parser.add_argument("--recipe", default="tiny", help="recipe of the seed model (tiny)")
    parser.add_argument("--epochs", type=int, default=None, help="the recipe's epochs")
    parser.add_argument("--imgsz", type=int, default=None, help="the recipe's image size")
    parser.add_argument("--seeds", default="100,101,102,103,104", help="stream seeds")
    parser.add_argument("--batches", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--drift-start", type=int, default=4)
    parser.add_argument("--drift", default="night", choices=("night", "class"))
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="alkit-bench-monitor-"))
    data = build_samples(args.preset, work / "samples", random_state=0, progress=False).out
    config = round_config("least_confidence", args.recipe, budget=8, epochs=args.epochs,
                          imgsz=args.imgsz)
    with Project.init(work / "seed", data / "dataset.yaml") as project, quiet():
        seed = project.run_round(config, progress=False)
    print(f"seed model: mAP50 {seed.metrics_after['map50']:.3f} "
          f"({time.perf_counter() - started:.0f} s)")
    rows = []
    for stream_seed in (int(s) for s in args.seeds.split(",")):
        stream = build_stream(work / f"stream{stream_seed}", n_batches=args.batches,
                              batch_size=args.batch_size, drift_start=args.drift_start,
                              drift=args.drift, random_state=stream_seed)
        with Project.init(work / f"p{stream_seed}", data / "dataset.yaml",
                          scores_dir=work / "scores") as project:
            project.adopt_seed_round(seed)
            for manifest in stream.manifests:
                project.monitor(manifest)
            report = project.monitor_report()
        table, start = report.table, args.drift_start
        changed = report.changed
        before, after = table[table.batch < start], table[table.batch >= start]
        row = {"seed": stream_seed, "changed": changed,
               "first": min(changed) if changed else None,
               "delay": min(changed) - start if changed else None,
               "false_alarm": any(b < start for b in changed),
               "far_before": [round(float(before.far_share.min()), 3),
                              round(float(before.far_share.max()), 3)],
               "far_after": [round(float(after.far_share.min()), 3),
                             round(float(after.far_share.max()), 3)],
               "flagged_before": round(float(before.flagged_rate.mean()), 3),
               "flagged_after": round(float(after.flagged_rate.mean()), 3)}
        rows.append(row)
        print(f"seed {stream_seed}: changed {changed}, delay {row['delay']}, far share "
              f"{row['far_before']} before, {row['far_after']} after; flagged "
              f"{row['flagged_before']:.0%} -> {row['flagged_after']:.0%}")
    met = all(r["delay"] is not None and 0 <= r["delay"] <= 2 and not r["false_alarm"]
              for r in rows)
    print(f"target (reported within 2 batches, never before, every seed): "
          f"{'met' if met else 'NOT met'}; {time.perf_counter() - started:.0f} s")
    if args.out:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                        "rows": rows, "met": met}, indent=1))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
