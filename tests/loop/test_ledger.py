"""The project ledger: its rules (never queried or labeled twice), decisions, reopening, the
migration of a version-1 file, and that the ledger is the only module with SQL."""

import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alkit.loop import ledger as ledger_module
from alkit.loop.ledger import Ledger, LedgerError

ROOT = Path(__file__).resolve().parents[2]


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
    assert ledger.meta()["schema_version"] == "2" and ledger.names == ["a", "b"]
    with pytest.raises(LedgerError, match="already exists"):
        Ledger.create(tmp_path / "p", dataset_yaml="x", names=["a"])
    with pytest.raises(LedgerError, match="no ledger here"):
        Ledger(tmp_path / "elsewhere")


def test_extra_meta_is_kept(tmp_path):
    with Ledger.create(tmp_path / "q", dataset_yaml="d.yaml", names=["a"], pool="/p") as ledger:
        assert ledger.meta()["pool"] == "/p"


def _open(ledger, number):
    ledger.start_round(number, strategy="random", params={}, model_before=None,
                       model_before_hash=None, metrics_before=None)


def test_an_image_is_never_queried_twice(ledger):
    _open(ledger, 1)
    ledger.record_queries(1, [1, 2], [0.5, 0.4], ["a", "b"], params={"budget": 2})
    assert ledger.counts()["queried"] == 2 and ledger.last_round().status == "staged"
    assert ledger.last_round().params == {"budget": 2}
    _open(ledger, 2)
    with pytest.raises(LedgerError, match="cannot be queried"):
        ledger.record_queries(2, [3, 2], [0.9, 0.8], ["c", "d"], params={"x": 1})
    assert ledger.queries(2) == [] and ledger.counts()["queried"] == 2  # nothing half-written
    assert ledger.last_round().params == {}


def test_a_label_is_never_imported_twice_and_any_annotator_names_its_source(ledger):
    kwargs = dict(round_number=1, source="cvat-files", label_path="/l/1.txt", label_hash="x",
                  n_objects=2)
    assert ledger.record_label(1, **kwargs) is True
    assert ledger.record_label(1, **kwargs) is False
    assert len(ledger.labeled()) == 1 and ledger.counts()["labeled"] == 1
    assert ledger.labeled_totals() == (1, 2)
    with pytest.raises(LedgerError, match="needs a source"):
        ledger.record_label(2, **{**kwargs, "source": " "})


def test_decisions_are_recorded_and_keep_skipped_images_out(ledger):
    ledger.record_decision(4, "skip", round_number=1, note="duplicate")
    ledger.record_decision(5, "flag", round_number=1, note="broken")
    assert ledger.counts()["skipped"] == 1 and ledger.counts()["flagged"] == 1
    assert {r["id"] for r in ledger.images(state="unlabeled")} == {1, 2, 3}
    assert [d["decision"] for d in ledger.decisions(1)] == ["skip", "flag"]
    ledger.requeue([4])
    assert ledger.image_state(4) == "queried" and ledger.image_state(5) == "flagged"
    with pytest.raises(LedgerError, match="not in the ledger"):
        ledger.image_state(99)
    with pytest.raises(LedgerError, match="unknown decision 'maybe'"):
        ledger.record_decision(1, "maybe", round_number=1)
    assert len(ledger.decisions(1)) == 2


def test_a_finished_round_is_recorded_in_one_step(ledger):
    ledger.record_finished_round(0, strategy=None, params={"shared_seed_model": True},
                                 model_before="a.pt", model_before_hash="h", model_after="b.pt",
                                 model_after_hash="g", metrics_after={"map50": 0.5})
    record = ledger.last_round()
    assert (record.number, record.status, record.model_after) == (0, "done", "b.pt")
    assert record.metrics_after == {"map50": 0.5} and record.finished_at


@given(st.lists(st.integers(1, 5), unique=True, max_size=5),
       st.lists(st.integers(1, 5), unique=True, max_size=5))
def test_a_reopened_ledger_is_unchanged(tmp_path_factory, labeled, skipped):
    directory = tmp_path_factory.mktemp("ledger")
    with Ledger.create(directory, dataset_yaml="d.yaml", names=["a"]) as ledger:
        ledger.add_images([(f"/pool/{i}.jpg", f"h{i}") for i in range(5)])
        for image_id in labeled:
            ledger.record_label(image_id, round_number=0, source="seed", label_path="/l",
                                label_hash="h", n_objects=image_id)
        for image_id in skipped:
            ledger.record_decision(image_id, "skip", round_number=0)
        before = (ledger.images(), ledger.labeled(), ledger.counts(), ledger.decisions(0))
    with Ledger(directory) as reopened:
        assert (reopened.images(), reopened.labeled(), reopened.counts(),
                reopened.decisions(0)) == before


def test_a_version_1_ledger_is_migrated_with_its_labels(tmp_path):
    v1_labels = ledger_module._LABELS_TABLE.replace(
        "CHECK (length(source) > 0)",
        "CHECK (source IN ('seed', 'oracle', 'widget', 'labelstudio', 'folder'))")
    schema = ledger_module._SCHEMA.replace(ledger_module._LABELS_TABLE, v1_labels)
    (tmp_path / "old").mkdir()
    conn = sqlite3.connect(tmp_path / "old" / "project.db")
    conn.executescript(schema)
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [
        ("schema_version", "1"), ("dataset_yaml", "d.yaml"), ("names", '["a"]'),
        ("created", "2026-01-01")])
    conn.execute("INSERT INTO images VALUES (1, '/p/1.jpg', 'h', 'pool', 'labeled', 'now')")
    conn.execute("INSERT INTO labels VALUES (1, 1, 'oracle', 'oracle', 'now', '/l', 'x', 3)")
    conn.commit()
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO images VALUES (2, '/p/2.jpg', 'h', 'pool', 'labeled', 'n')")
        conn.execute("INSERT INTO labels VALUES (2, 1, 'cvat-files', NULL, 'n', '/l', 'x', 1)")
    conn.rollback()
    conn.close()
    with Ledger(tmp_path / "old") as ledger:
        assert ledger.meta()["schema_version"] == "2"
        assert ledger.labeled()[0]["source"] == "oracle" and ledger.labeled_totals() == (1, 3)
        ledger.add_images([("/p/2.jpg", "h2")])
        assert ledger.record_label(2, round_number=1, source="cvat-files", label_path="/l",
                                   label_hash="y", n_objects=1)


def test_only_the_ledger_speaks_sql():
    sql = re.compile(r"\.conn\b|\bsqlite3\b|\bSELECT\b|\bUPDATE\b|\bINSERT\b")
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for path in sorted((ROOT / "alkit").rglob("*.py"))
                 if path.name != "ledger.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if sql.search(line)]
    assert offenders == []
