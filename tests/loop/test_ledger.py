"""The project ledger: its rules (never queried or labeled twice), decisions, reopening, the
migration of version-1, -2 and -3 files, label audits written in one transaction, and that the
ledger is the only module with SQL."""

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
    assert tables == {"meta", "images", "rounds", "queries", "labels", "decisions",
                      "monitor_batches", "monitor_images", "audits", "audit_images",
                      "audit_boxes", "audit_decisions", "relabels", "label_history"}
    assert ledger.meta()["schema_version"] == "5" and ledger.names == ["a", "b"]
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
    assert ledger.record_label(2, **{**kwargs, "round_number": 2, "n_objects": 5}) is True
    assert ledger.labeled_totals() == (2, 7)
    assert ledger.labeled_totals(through_round=1) == (1, 2)  # as round 1 ended
    assert ledger.labeled_totals(through_round=0) == (0, 0)
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
    schema = _version_2_schema().replace(ledger_module._LABELS_TABLE, v1_labels)
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
        assert ledger.meta()["schema_version"] == "5"
        assert ledger.labeled()[0]["source"] == "oracle" and ledger.labeled_totals() == (1, 3)
        ledger.add_images([("/p/2.jpg", "h2")])
        assert ledger.record_label(2, round_number=1, source="cvat-files", label_path="/l",
                                   label_hash="y", n_objects=1)


def _version_4_schema() -> str:
    """The version-4 schema: no relabeling tables."""
    return ledger_module._SCHEMA.replace(ledger_module._RELABEL_TABLES, "")


def _version_3_schema() -> str:
    """The version-3 schema: no audit tables."""
    return _version_4_schema().replace(ledger_module._AUDIT_TABLES, "")


def _version_2_schema() -> str:
    """The version-2 schema: no production split, no monitor tables, no audit tables."""
    schema = _version_3_schema().replace(ledger_module._MONITOR_TABLES, "")
    return schema.replace("'seed', 'pool', 'production'", "'seed', 'pool'")


def test_a_version_2_ledger_is_migrated_with_every_row_and_reference(tmp_path):
    (tmp_path / "v2").mkdir()
    conn = sqlite3.connect(tmp_path / "v2" / "project.db")
    conn.executescript(_version_2_schema())
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [
        ("schema_version", "2"), ("dataset_yaml", "d.yaml"), ("names", '["a"]'),
        ("created", "2026-01-01")])
    conn.execute("INSERT INTO images VALUES (1, '/p/1.jpg', 'h1', 'seed', 'labeled', 'now')")
    conn.execute("INSERT INTO images VALUES (2, '/p/2.jpg', 'h2', 'pool', 'queried', 'now')")
    conn.execute("INSERT INTO rounds (number, status, started_at) VALUES (1, 'staged', 'n')")
    conn.execute("INSERT INTO queries VALUES (2, 1, 1, 0.5, 'top')")
    conn.execute("INSERT INTO labels VALUES (1, 0, 'seed', NULL, 'now', '/l', 'x', 3)")
    conn.commit()
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO images VALUES (3, '/p/3.jpg', 'h', 'production', "
                     "'unlabeled', 'n')")
    conn.rollback()
    conn.close()
    with Ledger(tmp_path / "v2") as ledger:
        assert ledger.meta()["schema_version"] == "5"
        assert [(r["id"], r["split"], r["state"]) for r in ledger.images()] == [
            (1, "seed", "labeled"), (2, "pool", "queried")]
        assert ledger.queries(1)[0]["path"] == "/p/2.jpg" and ledger.labeled_totals() == (1, 3)
        assert ledger.add_images([("/prod/1.jpg", "h3")], split="production") == 1
        assert [r["path"] for r in ledger.images(split=("pool", "production"))] == [
            "/p/2.jpg", "/prod/1.jpg"]
        assert ledger.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert ledger.conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_a_version_3_ledger_is_migrated_with_every_row_and_can_record_audits(tmp_path):
    (tmp_path / "v3").mkdir()
    conn = sqlite3.connect(tmp_path / "v3" / "project.db")
    conn.executescript(_version_3_schema())
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [
        ("schema_version", "3"), ("dataset_yaml", "d.yaml"), ("names", '["a", "b"]'),
        ("created", "2026-01-01")])
    conn.execute("INSERT INTO images VALUES (1, '/p/1.jpg', 'h1', 'seed', 'labeled', 'now')")
    conn.execute("INSERT INTO images VALUES (2, '/p/2.jpg', 'h2', 'pool', 'labeled', 'now')")
    conn.execute("INSERT INTO rounds (number, status, started_at) VALUES (1, 'done', 'n')")
    conn.execute("INSERT INTO labels VALUES (2, 1, 'oracle', NULL, 'now', '/l', 'x', 3)")
    conn.commit()
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'audits'").fetchall() == []
    conn.close()
    with Ledger(tmp_path / "v3") as ledger:
        assert ledger.meta()["schema_version"] == "5"
        assert [(r["id"], r["state"]) for r in ledger.images()] == [(1, "labeled"),
                                                                    (2, "labeled")]
        assert ledger.labeled()[0]["label_hash"] == "x" and ledger.audits() == []
        assert ledger.record_audit(_audit(), [_audit_image(2)], [_audit_box(2)]) == 0
        assert ledger.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    with Ledger(tmp_path / "v3") as reopened:  # opening a version-5 ledger migrates nothing
        assert [a["number"] for a in reopened.audits()] == [0]


def _audit(**overrides):
    return {"round": 1, "model": "r0.pt", "model_hash": "abc", "n_inferred": 0,
            "settings": {"cleanlab": "2.9.0", "notes": []}, **overrides}


def _audit_image(image_id, **overrides):
    return {"image_id": image_id, "rank": 1, "score": 0.2, "overlooked": 0.1, "swap": 1.0,
            "badloc": 0.9, "flagged": True, "n_labels": 2, "n_predictions": 3,
            "label_hash": "x", **overrides}


def _audit_box(image_id, **overrides):
    return {"image_id": image_id, "kind": "overlooked", "score": 0.01, "flagged": True,
            "label_index": -1, "label_class": -1, "label_xyxy": (float("nan"),) * 4,
            "pred_class": 1, "pred_confidence": 0.97, "pred_xyxy": (1.0, 2.0, 30.0, 40.0),
            **overrides}


def test_an_audit_is_one_transaction(ledger):
    ledger.record_finished_round(1, strategy="random", params={}, model_before="r0.pt",
                                 model_before_hash="abc", model_after="r1.pt",
                                 model_after_hash="def", metrics_after={"map50": 0.5})
    boxes = [_audit_box(1), _audit_box(1, kind="swap", label_index=0, label_class=0,
                                       label_xyxy=(0, 0, 10, 10), score=0.3, flagged=False)]
    images = [_audit_image(1), _audit_image(2, rank=2, score=0.9, flagged=False)]
    assert ledger.record_audit(_audit(), images, boxes) == 0
    (audit,) = ledger.audits()
    assert (audit["n_images"], audit["n_flagged"], audit["settings"]["cleanlab"]) == (2, 1, "2.9.0")
    recorded = ledger.audit_images(0)
    assert [(r["image_id"], r["rank"], r["flagged"], r["path"]) for r in recorded] == [
        (1, 1, True, "/pool/0.jpg"), (2, 2, False, "/pool/1.jpg")]
    found = ledger.audit_boxes(0)
    assert [(b["kind"], b["position"], b["label_index"], b["label_class"]) for b in found] == [
        ("overlooked", 0, None, None), ("swap", 1, 0, 0)]  # NaN / -1 stored as NULL
    assert found[0]["pred_x2"] == 30.0 and found[0]["label_x1"] is None
    assert ledger.audit_boxes(0, image_id=2) == []
    before = (ledger.audits(), ledger.audit_images(0), ledger.audit_boxes(0),
              ledger.audit_images(1))
    # a failure in the last statement of the transaction leaves nothing of the audit
    with pytest.raises(sqlite3.IntegrityError):  # kind outside overlooked / swap / badloc
        ledger.record_audit(_audit(), images, [*boxes, _audit_box(2, kind="bogus")])
    with pytest.raises(sqlite3.IntegrityError):  # a box of an image not in the audit
        ledger.record_audit(_audit(), images[:1], [_audit_box(2)])
    with pytest.raises(sqlite3.IntegrityError):  # a score outside [0, 1]
        ledger.record_audit(_audit(), [_audit_image(1, score=1.5)], [])
    with pytest.raises(KeyError):  # a broken record fails before anything is kept
        ledger.record_audit({"round": 1}, images, boxes)
    assert (ledger.audits(), ledger.audit_images(0), ledger.audit_boxes(0),
            ledger.audit_images(1)) == before
    assert ledger.record_audit(_audit(), images[1:], []) == 1  # numbering goes on


def _batch(name, **overrides):
    return {"name": name, "content_key": "k", "model": "m.pt", "model_hash": "abc",
            "first_timestamp": None, "last_timestamp": None, "n_images": 2, "n_scored": 1,
            "n_skipped": 1, "n_flagged": 1, "n_sent": 1, "flag_threshold": 0.6,
            "stats": {"flagged_rate": 1.0}, **overrides}


_ROWS = [{"path": "/prod/a.jpg", "hash": "ha", "timestamp": "2026-12-01T00:00:00+00:00",
          "status": "scored", "reason": None, "max_confidence": 0.3, "flagged": True},
         {"path": "/prod/b.jpg", "hash": None, "timestamp": None, "status": "skipped",
          "reason": "image file is empty (0 bytes)", "max_confidence": None, "flagged": None}]


def test_a_monitored_batch_is_one_transaction(ledger):
    assert ledger.record_monitor_batch(_batch("day1"), _ROWS, [0]) == 0
    (record,) = ledger.monitor_batches()
    assert record["name"] == "day1" and record["stats"] == {"flagged_rate": 1.0}
    images = ledger.monitor_images(0)
    assert [i["status"] for i in images] == ["scored", "skipped"]
    assert images[0]["flagged"] is True and images[1]["reason"].startswith("image file is empty")
    sent = ledger.images(split="production")
    assert [(r["path"], r["state"]) for r in sent] == [("/prod/a.jpg", "unlabeled")]
    assert images[0]["image_id"] == sent[0]["id"] and ledger.known_hashes(["ha", "zz"]) == {"ha"}
    before = (ledger.monitor_batches(), ledger.images(), ledger.monitor_images(1))
    with pytest.raises(LedgerError, match="already recorded"):
        ledger.record_monitor_batch(_batch("day1"), _ROWS, [])
    with pytest.raises(LedgerError, match="not sent twice"):  # fails after the batch row
        ledger.record_monitor_batch(_batch("day2"), _ROWS, [0])
    with pytest.raises(KeyError):  # a broken record fails before anything is kept
        ledger.record_monitor_batch({"name": "day3"}, _ROWS, [])
    assert (ledger.monitor_batches(), ledger.images(), ledger.monitor_images(1)) == before


def test_only_the_ledger_speaks_sql():
    sql = re.compile(r"\.conn\b|\bsqlite3\b|\bSELECT\b|\bUPDATE\b|\bINSERT\b")
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for path in sorted((ROOT / "alkit").rglob("*.py"))
                 if path.name != "ledger.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if sql.search(line)]
    assert offenders == []


def _audited_ledger(tmp_path) -> Ledger:
    """Rounds 0-2 done, image 2 labeled in round 1 and audited (audit 0 of round 1), image 3
    labeled in round 2 and audited (audit 1 of round 2)."""
    ledger = Ledger.create(tmp_path / "p", dataset_yaml="d.yaml", names=["a", "b"])
    ledger.add_images([(f"/p/{i}.jpg", f"h{i}") for i in (1, 2, 3, 4)])
    for number in (0, 1, 2):
        ledger.record_finished_round(number, strategy=None, params={}, model_before=None,
                                     model_before_hash=None, model_after=f"r{number}.pt",
                                     model_after_hash=f"h{number}", metrics_after={})
    for image_id, number in ((2, 1), (3, 2)):
        ledger.record_label(image_id, round_number=number, source="oracle",
                            label_path=f"/l/{image_id}", label_hash=f"old{image_id}",
                            n_objects=2)
        ledger.record_audit(_audit(round=number), [_audit_image(image_id)],
                            [_audit_box(image_id)])
    return ledger


def test_a_version_4_ledger_is_migrated_and_can_send_labels_back(tmp_path):
    (tmp_path / "v4").mkdir()
    conn = sqlite3.connect(tmp_path / "v4" / "project.db")
    conn.executescript(_version_4_schema())
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [
        ("schema_version", "4"), ("dataset_yaml", "d.yaml"), ("names", '["a"]'),
        ("created", "2026-01-01")])
    conn.execute("INSERT INTO images VALUES (1, '/p/1.jpg', 'h1', 'pool', 'labeled', 'now')")
    conn.execute("INSERT INTO labels VALUES (1, 1, 'oracle', NULL, 'now', '/l', 'x', 3)")
    conn.commit()
    conn.close()
    with Ledger(tmp_path / "v4") as ledger:
        assert ledger.meta()["schema_version"] == "5"
        assert ledger.request_relabel(1, "looks swapped") == 1
        assert ledger.relabels()[0]["reason"] == "looks swapped"
        assert ledger.conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_a_relabel_request_waits_for_a_round_after_the_audited_one(tmp_path):
    with _audited_ledger(tmp_path) as ledger:
        first = ledger.request_relabel(2, "swap: 'a' looks like 'b'", audit=0)
        assert ledger.request_relabel(2, "again", audit=0) == first  # one open request
        ledger.request_relabel(3, "badloc", audit=1)
        assert ledger.audit_decisions(0)[2]["decision"] == "send_back"
        # round 2's job may carry the request from round 1's audit, not from its own audit
        assert ledger.assign_relabels(2) == 1
        assert [(r["image_id"], r["round"]) for r in ledger.relabels()] == [(2, 2), (3, None)]
        ledger.start_round(3, strategy="random", params={}, model_before="r2.pt",
                           model_before_hash="h2", metrics_before={})
        assert ledger.assign_relabels(3) == 1
        assert [r["round"] for r in ledger.relabels(open_only=True)] == [2, 3]


def test_replacing_a_label_keeps_the_old_one_as_history_in_one_step(tmp_path):
    with _audited_ledger(tmp_path) as ledger:
        ledger.request_relabel(2, "swap", audit=0)
        assert ledger.replace_label(2, old_text="0 0.5 0.5 0.1 0.1\n", source="widget",
                                    label_hash="new2", n_objects=1, reason="fixed",
                                    annotator="ann", audit=0)
        label = ledger.label_of(2)
        assert (label["label_hash"], label["n_objects"], label["source"], label["round"]) == (
            "new2", 1, "widget", 1)
        history = ledger.label_history(2)
        assert [(h["label_hash"], h["text"], h["reason"]) for h in history] == [
            ("old2", "0 0.5 0.5 0.1 0.1\n", "fixed")]
        assert ledger.relabels(open_only=True) == []
        assert ledger.audit_decisions(0)[2]["decision"] == "fix"
        assert ledger.labeled_totals() == (2, 3)
        # the same replacement again changes nothing
        assert not ledger.replace_label(2, old_text="", source="widget", label_hash="new2",
                                        n_objects=1, reason="fixed")
        assert len(ledger.label_history()) == 1
        # an annotator who sends the label back unchanged confirms it: the request is resolved
        ledger.request_relabel(3, "badloc", audit=1)
        assert not ledger.replace_label(3, old_text="", source="oracle", label_hash="old3",
                                        n_objects=2, reason="relabeled")
        assert ledger.relabels(open_only=True) == [] and ledger.label_of(3)["source"] == "oracle"
        assert len(ledger.label_history()) == 1


def test_relabeling_refuses_what_it_cannot_do_and_writes_nothing(tmp_path):
    with _audited_ledger(tmp_path) as ledger:
        with pytest.raises(LedgerError, match="no label to send back"):
            ledger.request_relabel(4, "why")
        with pytest.raises(LedgerError, match="needs a reason"):
            ledger.request_relabel(2, " ")
        with pytest.raises(LedgerError, match="not in audit 1"):
            ledger.request_relabel(2, "swap", audit=1)
        with pytest.raises(LedgerError, match="no label to replace"):
            ledger.replace_label(4, old_text="", source="w", label_hash="n", n_objects=0,
                                 reason="r")
        with pytest.raises(LedgerError, match="not in audit 1"):  # the whole step rolls back
            ledger.replace_label(2, old_text="", source="w", label_hash="n", n_objects=0,
                                 reason="r", audit=1)
        with pytest.raises(LedgerError, match="unknown audit decision"):
            ledger.record_audit_decision(0, 2, "maybe")
        assert ledger.relabels() == [] and ledger.label_history() == []
        assert ledger.label_of(2)["label_hash"] == "old2" and ledger.audit_decisions(0) == {}
