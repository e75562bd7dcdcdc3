"""The label-noise benchmark's report (benchmarks/bench_label_noise.py), from hand-made cells."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_label_noise", ROOT / "benchmarks" / "bench_label_noise.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell(arm, seed, training, map50):
    return {"arm": arm, "seed": seed, "training": training, "map50": map50,
            "wrong_before": 10, "wrong_after": 5 if "+" in arm else 10,
            "n_relabeled": 6 if "+" in arm else 0, "relabeled_wrong": 5 if "audit" in arm else 1,
            "relabel_seconds": 3600.0, "labeling_seconds": 36000.0}


def test_repeated_trainings_average_per_seed_and_the_relabeling_arms_get_an_interval(tmp_path):
    """Two trainings per seed: each seed's mAP50 is their mean, the spread between trainings
    is their pooled sd, and audit - random is taken per seed with a t-interval."""
    bench = _bench()
    audit = {0: (0.70, 0.72), 1: (0.68, 0.70), 2: (0.71, 0.71)}
    random = {0: (0.69, 0.69), 1: (0.66, 0.68), 2: (0.70, 0.70)}
    for arm, values in (("low+audit", audit), ("low+random", random)):
        for seed, pair in values.items():
            for t, m in enumerate(pair):
                name = f"{arm}-s{seed}.json" if t == 0 else f"{arm}-s{seed}-t{t}.json"
                (tmp_path / name).write_text(json.dumps(_cell(arm, seed, t, m)))
    summary = bench.summarize(tmp_path)
    a = summary["arms"]["low+audit"]
    assert a["map50_per_seed"] == pytest.approx([0.71, 0.69, 0.71])
    assert a["trainings_per_seed"] == [2, 2, 2]
    # deviations 0.01, 0.01 (seeds 0 and 1), 0 (seed 2): sqrt(4 * 0.0001 / 3)
    assert a["training_sd"] == pytest.approx(np.sqrt(4e-4 / 3))
    d = summary["audit_vs_random"]
    assert d["per_seed"] == pytest.approx([0.02, 0.02, 0.01])
    assert d["ci95"][0] < d["mean"] < d["ci95"][1]
    assert d["ci95"][1] - d["mean"] == pytest.approx(4.303 * d["sd"] / np.sqrt(3), rel=1e-3)
    text = bench.table(summary)
    assert "2-2 trainings per seed" in text and "95% interval" in text


def test_one_training_per_seed_has_no_training_spread(tmp_path):
    bench = _bench()
    for seed in (0, 1):
        (tmp_path / f"low-s{seed}.json").write_text(json.dumps(_cell("low", seed, 0, 0.7)))
    summary = bench.summarize(tmp_path)
    assert summary["arms"]["low"]["training_sd"] is None
    assert summary["audit_vs_random"] is None
    assert "trainings per seed" not in bench.table(summary)
