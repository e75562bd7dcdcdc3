"""The before/after table of this folder's lab note: final mAP50 and rare-class AP50 as mean ± the
sample standard deviation (ddof 1) over the seeds of each cell, boxes bought, and the savings
the grid's own report computed (summary.json of each side).

    .venv/bin/python benchmarks/results/al-demo-fixes/table.py
"""

import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
RARE = ("four", "seven")


def _cells(side: str) -> dict[str, list[dict]]:
    cells: dict[str, list[dict]] = {}
    for path in sorted((HERE / side / "cells").glob("*.json")):
        cell = json.loads(path.read_text())
        cells.setdefault(cell["strategy"], []).append(cell)
    return cells


def _spread(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def _saving(summary: dict, key: str) -> str:
    value = summary.get(key)
    return "not reached" if value is None else f"{100 * value:.0f}%"


def rows(side: str) -> list[str]:
    """One markdown row per strategy of ``side`` ("before" or "after")."""
    summary = json.loads((HERE / side / "summary.json").read_text())["strategies"]
    out = []
    for name, cells in sorted(_cells(side).items()):
        last = [c["rounds"][-1] for c in cells]
        rare = [statistics.mean(r["ap50_per_class"][k] for k in RARE) for r in last]
        s = summary.get(name, {})
        out.append(
            f"| {side} | `{name}` | {len(cells)} | {_spread([r['map50'] for r in last])} | "
            f"{_spread(rare)} | {statistics.mean(r['labeled_boxes'] for r in last):.0f} | "
            f"{_saving(s, 'saving')} / {_saving(s, 'box_saving')} / "
            f"{_saving(s, 'cost_saving')} | {s.get('first_gain_ratio', float('nan')):.2f}x |")
    return out


if __name__ == "__main__":
    print("| grid | strategy | seeds | mAP50 at 260 | rare AP50 at 260 | boxes bought | saving "
          "images / boxes / seconds | 1st-round gain vs random |")
    print("|---|---|---|---|---|---|---|---|")
    for side in ("before", "after"):
        print("\n".join(rows(side)))
