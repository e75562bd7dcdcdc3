"""The ledger, the simulated annotator, staging and whole rounds (real training, tiny preset)."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from alkit.annotate.simulated import NoiseModel, Oracle, apply_noise
from alkit.data import datasets
from alkit.data.datasets import DatasetError, Labels
from alkit.loop.ledger import Ledger, LedgerError
from alkit.loop.project import TRAIN_PRESETS, Project, RoundConfig

ALKIT = Path(sys.executable).parent / "alkit"


# --------------------------------------------------------------------------- ledger


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger.create(tmp_path / "p", dataset_yaml=tmp_path / "d.yaml", names=["a", "b"])
    ledger.add_images([(f"/pool/{i}.jpg", f"h{i}") for i in range(5)])
    yield ledger
    ledger.close()


def test_schema_and_no_overwrite(ledger, tmp_path):
    query = "SELECT name FROM sqlite_master WHERE type='table'"
    tables = {r[0] for r in ledger.conn.execute(query)}
    assert tables == {"meta", "images", "rounds", "queries", "labels", "decisions"}
    assert ledger.meta()["schema_version"] == "1" and ledger.names == ["a", "b"]
    with pytest.raises(LedgerError, match="already exists"):
        Ledger.create(tmp_path / "p", dataset_yaml="x", names=["a"])
    with pytest.raises(LedgerError, match="no ledger here"):
        Ledger(tmp_path / "elsewhere")


def test_an_image_is_never_queried_twice(ledger):
    ledger.start_round(1, strategy="random", params={}, model_before=None, model_before_hash=None,
                       metrics_before=None)
    ledger.record_queries(1, [1, 2], [0.5, 0.4], ["a", "b"])
    assert ledger.counts()["queried"] == 2 and ledger.last_round().status == "staged"
    ledger.start_round(2, strategy="random", params={}, model_before=None, model_before_hash=None,
                       metrics_before=None)
    with pytest.raises(LedgerError, match="cannot be queried"):
        ledger.record_queries(2, [3, 2], [0.9, 0.8], ["c", "d"])
    assert ledger.queries(2) == [] and ledger.counts()["queried"] == 2  # nothing half-written


def test_a_label_is_never_imported_twice(ledger):
    kwargs = dict(round_number=1, source="oracle", label_path="/l/1.txt", label_hash="x",
                  n_objects=2)
    assert ledger.record_label(1, **kwargs) is True
    assert ledger.record_label(1, **kwargs) is False
    assert len(ledger.labeled()) == 1 and ledger.counts()["labeled"] == 1
    with pytest.raises(LedgerError, match="unknown label source"):
        ledger.record_label(2, **{**kwargs, "source": "magic"})


def test_decisions_are_recorded_and_keep_skipped_images_out(ledger):
    ledger.record_decision(4, "skip", note="duplicate")
    ledger.record_decision(5, "flag", note="broken")
    assert ledger.counts()["skipped"] == 1 and ledger.counts()["flagged"] == 1
    assert {r["id"] for r in ledger.images(state="unlabeled")} == {1, 2, 3}


def test_a_reopened_ledger_is_unchanged(ledger):
    ledger.record_label(3, round_number=0, source="seed", label_path="/l", label_hash="h",
                        n_objects=1)
    before = (ledger.images(), ledger.labeled(), ledger.counts())
    reopened = Ledger(ledger.project_dir)
    assert (reopened.images(), reopened.labeled(), reopened.counts()) == before
    reopened.close()


# --------------------------------------------------------------------------- oracle


def test_oracle_without_noise_returns_the_hidden_labels(tiny_dataset):
    oracle = Oracle(tiny_dataset / "dataset.yaml")
    image = tiny_dataset / "images/pool/pool_00003.jpg"
    hidden = datasets.read_labels(tiny_dataset / "oracle/labels/pool/pool_00003.txt")
    answer = oracle.answer(image)
    np.testing.assert_array_equal(answer.class_ids, hidden.class_ids)
    np.testing.assert_allclose(answer.xywhn, hidden.xywhn)


def test_noise_model_rates_and_determinism():
    rng = np.random.default_rng(0)
    labels = Labels(rng.integers(0, 5, 2000), np.tile([0.5, 0.5, 0.2, 0.2], (2000, 1)))
    missed = apply_noise(labels, NoiseModel(miss_rate=0.3), 5, 1)
    assert 0.65 < len(missed) / 2000 < 0.75
    relabeled = apply_noise(labels, NoiseModel(wrong_class_rate=1.0), 5, 1)
    assert np.all(relabeled.class_ids != labels.class_ids)
    shifted = apply_noise(labels, NoiseModel(shift_rate=1.0, shift_scale=0.5), 5, 1)
    assert not np.allclose(shifted.xywhn, labels.xywhn)
    edges = datasets.xywhn_to_xyxy(shifted.xywhn, 1, 1)
    assert edges.min() >= -1e-9 and edges.max() <= 1 + 1e-9
    again = apply_noise(labels, NoiseModel(shift_rate=1.0, shift_scale=0.5), 5, 1)
    np.testing.assert_array_equal(shifted.xywhn, again.xywhn)
    assert NoiseModel.with_accuracy(0.85).accuracy == pytest.approx(0.85)


def test_oracle_needs_hidden_labels(tmp_path):
    (tmp_path / "d.yaml").write_text("train: t\nval: v\nnames: [a]\n")
    with pytest.raises(DatasetError, match="needs a 'pool' split"):
        Oracle(tmp_path / "d.yaml")


# --------------------------------------------------------------------------- rounds


TINY = RoundConfig(budget=8, **TRAIN_PRESETS["tiny"])


@pytest.fixture
def project(tiny_dataset, tmp_path):
    project = Project.init(tmp_path / "project", tiny_dataset / "dataset.yaml")
    yield project
    project.close()


def test_init_registers_pool_and_seed(project):
    assert project.ledger.counts()["unlabeled"] == 60
    assert project.ledger.counts()["labeled"] == 24
    labeled = project.ledger.labeled()
    assert all(Path(r["label_path"]).is_file() for r in labeled)
    assert {r["source"] for r in labeled} == {"seed"}


@pytest.mark.slow
def test_two_rounds_with_the_oracle(project):
    seed = project.run_round(TINY, progress=False)
    assert seed.number == 0 and seed.status == "done" and seed.n_labeled_after == 24
    first = project.run_round(TINY, progress=False)
    assert (first.number, first.status, first.n_labeled_after) == (1, "done", 32)
    assert first.metrics_before == seed.metrics_after
    manifest = json.loads((project.round_dir(1) / "manifest.json").read_text())
    assert manifest["round"] == 1 and manifest["query_count"] == 8
    assert manifest["map50_before"] == seed.metrics_after["map50"]
    assert len(list((project.round_dir(1) / "images").iterdir())) == 8
    second = project.run_round(TINY, progress=False)
    assert second.n_labeled_after == 40
    queried = [q["path"] for r in (1, 2) for q in project.ledger.queries(r)]
    assert len(queried) == len(set(queried)) == 16
    train_list = (project.dir / "train" / "labeled.txt").read_text().splitlines()
    assert len(train_list) == 40
    status = project.status()
    assert "      2  done        two_stage        40" in status
    assert "waiting for labels" not in status and "recommendation:" in status


@pytest.mark.slow
def test_folder_annotations_wait_validate_and_import(project):
    project.run_round(TINY, progress=False)
    record = project.run_round(TINY, annotator="folder", progress=False)
    assert record.status == "annotating"
    assert "8 image(s) waiting for labels" in project.status()
    queries = project.ledger.queries(1)
    folder = project.round_dir(1) / "labels"
    good = f"{queries[0]['image_id']:06d}_{Path(queries[0]['path']).stem}.txt"
    bad = f"{queries[1]['image_id']:06d}_{Path(queries[1]['path']).stem}.txt"
    (folder / good).write_text("0 0.5 0.5 0.2 0.2\n")
    (folder / bad).write_text("0 0.5 0.5 0.2 0.2\n1 1.7 0.5 0.2 0.2\n9 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError) as error:
        project.run_round(TINY, annotator="folder", progress=False)
    assert f"{bad}:2:" in str(error.value) and f"{bad}:3:" in str(error.value)
    assert project.ledger.counts()["labeled"] == 24  # nothing imported half-way
    (folder / bad).write_text("1 0.4 0.4 0.2 0.2\n")
    for q in queries[2:]:
        (folder / f"{q['image_id']:06d}_{Path(q['path']).stem}.txt").write_text("")
    done = project.run_round(TINY, annotator="folder", progress=False)
    assert done.status == "done" and done.n_labeled_after == 32
    assert project.import_folder(1) == 0  # importing again changes nothing


@pytest.mark.slow
def test_a_round_killed_with_sigkill_resumes_with_nothing_lost_or_duplicated(project):
    project.run_round(TINY, progress=False)
    project.close()
    command = [str(ALKIT), "round", str(project.dir), "--preset", "tiny", "--budget", "8",
               "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    status = None
    while time.time() < deadline and process.poll() is None:
        with sqlite3.connect(project.dir / "project.db") as conn:
            row = conn.execute("SELECT status FROM rounds WHERE number = 1").fetchone()
        status = row[0] if row else None
        if status in ("annotating", "training"):
            break
        time.sleep(0.02)
    assert process.poll() is None, "the round finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    resumed = Project(project.dir)
    record = resumed.run_round(TINY, progress=False)
    assert (record.number, record.status, record.n_labeled_after) == (1, "done", 32)
    queries = resumed.ledger.queries(1)
    assert len(queries) == 8 and all(q["state"] == "labeled" for q in queries)
    labels = resumed.ledger.conn.execute("SELECT COUNT(*), COUNT(DISTINCT image_id) FROM labels")
    assert tuple(labels.fetchone()) == (32, 32)
    resumed.close()


@pytest.mark.slow
def test_cli_init_round_status(tiny_dataset, tmp_path):
    init = subprocess.run([str(ALKIT), "init", str(tmp_path / "p"), "--dataset",
                           str(tiny_dataset / "dataset.yaml")], capture_output=True, text=True,
                          timeout=120)
    assert init.returncode == 0 and "60 pool images, 24 labeled seed images" in init.stdout
    rounds = subprocess.run([str(ALKIT), "round", str(tmp_path / "p"), "--rounds", "2",
                             "--preset", "tiny", "--budget", "6", "--quiet"],
                            capture_output=True, text=True, timeout=600)
    assert rounds.returncode == 0, rounds.stderr[-2000:]
    status = subprocess.run([str(ALKIT), "status", str(tmp_path / "p")], capture_output=True,
                            text=True, timeout=120)
    assert "      1  done        two_stage        30" in status.stdout
    assert "recommendation:" in status.stdout
    again = subprocess.run([str(ALKIT), "init", str(tmp_path / "p"), "--dataset",
                            str(tiny_dataset / "dataset.yaml")], capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 1 and "already exists" in again.stderr
