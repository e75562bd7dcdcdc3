"""The label audit of a project round: the previous model's predictions from the scoring cache,
the faulty labels ranked first with what is wrong, the audit in the ledger, the report, the
command line, and bad input (no model yet, a round without labels, unknown classes, a corrupt
label file, unreadable images, images without predictions) named with nothing half-written.

Most tests replace scoring with a hand-made pool (the model's boxes are the true objects), so
they need no training; one slow test runs two real tiny rounds and checks that the audit reads
the round's cached scores without a forward pass."""

from pathlib import Path

import matplotlib
import numpy as np
import pytest

from alkit import Project, round_config
from alkit.cli import main
from alkit.core.detections import Labels
from alkit.core.pool import PoolScores
from alkit.data import datasets
from alkit.data.datasets import DatasetError
from alkit.loop.ledger import LedgerError

matplotlib.use("Agg")

CONFIG = {"recipe": {"imgsz": 64, "device": "cpu"}, "query": {"conf_threshold": 0.25}}
N_AUDITED = 8


def _finish(ledger, number, model_before, model_after):
    ledger.record_finished_round(number, strategy=None if number == 0 else "random", params={},
                                 model_before=model_before, model_before_hash=f"h-{model_before}",
                                 model_after=model_after, model_after_hash=f"h-{model_after}",
                                 metrics_after={"map50": 0.5, "config": CONFIG})


def _faulty(truth: Labels, kind: str, n_classes: int) -> Labels:
    """The true labels with one mistake on the first object."""
    ids, boxes = truth.class_ids.copy(), truth.xywhn.copy()
    if kind == "dropped":
        return Labels(ids[1:], boxes[1:])
    if kind == "swapped":
        ids[0] = (ids[0] + 1) % n_classes
    else:  # shifted by 80% of the box: the label lies beside its object
        boxes[0, :2] += 0.8 * boxes[0, 2:]
        boxes[0, :2] = np.clip(boxes[0, :2], boxes[0, 2:] / 2, 1 - boxes[0, 2:] / 2)
    return Labels(ids, boxes)


@pytest.fixture
def audited(tiny_dataset, tmp_path, monkeypatch):
    """A project whose round 1 imported 8 pool labels, 3 of them faulty (a dropped box, a
    swapped class, a shifted box), with scoring replaced by the true objects at confidence
    0.97 (none for the last image). Yields ``(project, truth, calls)``."""
    project = Project.init(tmp_path / "p", tiny_dataset / "dataset.yaml")
    _finish(project.ledger, 0, "start.pt", "seed.pt")
    _finish(project.ledger, 1, "seed.pt", "round1.pt")
    spec, n_classes = project.spec, len(project.spec.names)
    pool = [r["path"] for r in project.ledger.images(split="pool")]
    truth = {}
    for path in pool:  # images with at least two objects
        labels = datasets.read_labels(datasets.split_label_path(spec, "pool", Path(path)),
                                      n_classes)
        if len(labels) >= 2:
            truth[path] = labels
        if len(truth) == N_AUDITED:
            break
    kinds = dict(zip(list(truth)[:3], ("dropped", "swapped", "shifted"), strict=True))
    for path, labels in truth.items():
        given = _faulty(labels, kinds[path], n_classes) if path in kinds else labels
        project._store_label(path, given, round_number=1, source="oracle")
    calls = []
    no_predictions = list(truth)[-1]

    def fake_score_pool(model, paths, **kwargs):
        calls.append({"model": model, "paths": list(paths), **kwargs})
        good = [p for p in paths if p not in kwargs.get("_skip", ())]
        per_image = [truth[p].to_detections((128, 128)) if p != no_predictions else None
                     for p in good]
        counts = [0 if d is None else len(d) for d in per_image]
        xyxy = np.concatenate([np.zeros((0, 4)), *(d.xyxy for d in per_image if d is not None)]
                              ).astype(np.float32)
        classes = np.concatenate([np.zeros(0, np.int64),
                                  *(d.class_id for d in per_image if d is not None)])
        class_scores = np.full((len(classes), n_classes), 0.01, np.float32)
        class_scores[np.arange(len(classes)), classes] = 0.97
        n = len(good)
        return PoolScores(
            paths=good, hashes=np.array(good), heights=np.full(n, 128),
            widths=np.full(n, 128), box_offsets=np.concatenate([[0], np.cumsum(counts)]),
            box_xyxy=xyxy, box_confidence=class_scores.max(axis=1), box_class=classes,
            box_class_scores=class_scores, embeddings=np.zeros((n, 2), np.float32),
            names=tuple(spec.names), skipped=[(p, "unreadable") for p in paths if p not in good],
            meta={"run": {"n_inferred": 0}})

    monkeypatch.setattr("alkit.model.scoring.score_pool", fake_score_pool)
    monkeypatch.setattr("alkit.model.yolo.class_names", lambda model: tuple(spec.names))
    yield project, truth, kinds, calls
    project.close()


def test_the_faulty_labels_rank_first_with_what_is_wrong(audited):
    project, truth, kinds, calls = audited
    report = project.audit(top=5)
    # the predictions of the model before round 1, at the image size the round used
    assert [(c["model"], c["imgsz"], c["cache_dir"]) for c in calls] == [
        ("seed.pt", 64, project.scores_dir)]
    assert report.round == 1 and report.model == "seed.pt" and report.n_inferred == 0
    table = report.table
    assert len(table) == N_AUDITED and list(table["rank"]) == list(range(1, N_AUDITED + 1))
    assert set(table["path"].head(3)) == set(kinds)
    by_path = table.set_index("path")
    names = project.spec.names
    dropped, swapped, shifted = kinds
    assert by_path.loc[dropped, "issues"].startswith("overlooked: the model sees a")
    swap_to = names[int(truth[swapped].class_ids[0])]
    assert f"looks like a {swap_to!r}" in by_path.loc[swapped, "issues"]
    assert "badloc" in by_path.loc[shifted, "issues"]
    assert by_path.loc[shifted, "badloc"] < by_path.loc[shifted, "swap"]
    # the box table: the predicted box beside the shifted label
    boxes = report.suspects(int(by_path.loc[shifted, "image_id"]))
    first = boxes.iloc[0]
    assert first["kind"] == "badloc" and first["label_index"] == 0 and first["iou"] < 0.5
    expected = truth[shifted].to_detections((128, 128)).xyxy[0]
    np.testing.assert_allclose(first[["pred_x1", "pred_y1", "pred_x2", "pred_y2"]].to_numpy(
        float), expected, atol=1e-3)
    # the image without any prediction is audited and named in the notes
    no_predictions = list(truth)[-1]
    assert by_path.loc[no_predictions, "n_predictions"] == 0
    assert any("without any prediction" in n and no_predictions in n for n in report.notes)
    assert any("no forward pass" in n for n in report.notes)
    # recorded: one audit, every image, the same report when read back
    (audit,) = project.ledger.audits()
    assert audit["round"] == 1 and audit["n_images"] == N_AUDITED and audit["n_inferred"] == 0
    again = project.audit_report(top=5)
    assert again.table.equals(report.table) and again.boxes.equals(report.boxes)
    text = report.summary()
    assert "the 5 most likely mislabeled" in text and dropped in text
    figure = report.plot()
    assert len(figure.axes) == 2


def test_an_image_the_scorer_cannot_read_is_left_out_and_listed(audited, monkeypatch):
    project, truth, _, _ = audited
    import alkit.model.scoring as scoring

    unreadable = list(truth)[3]
    fake = scoring.score_pool
    monkeypatch.setattr(scoring, "score_pool",
                        lambda model, paths, **kw: fake(model, paths, _skip=(unreadable,), **kw))
    report = project.audit()
    assert unreadable not in set(report.table["path"]) and len(report.table) == N_AUDITED - 1
    assert report.skipped == [(unreadable, "unreadable")]
    assert f"skipped {unreadable}: unreadable" in report.summary()
    monkeypatch.setattr(scoring, "score_pool",
                        lambda model, paths, **kw: fake(model, paths, _skip=tuple(paths), **kw))
    with pytest.raises(LedgerError, match="no labeled image could be read"):
        project.audit()
    assert len(project.ledger.audits()) == 1  # the failed audit left nothing


def test_a_corrupt_label_file_names_the_file_the_line_and_the_image(audited):
    project, _, _, calls = audited
    rows = [r for r in project.ledger.labeled() if r["round"] == 1]
    Path(rows[2]["label_path"]).write_text("0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2\n")
    with pytest.raises(DatasetError) as error:
        project.audit()
    assert error.value.path == Path(rows[2]["label_path"]) and error.value.line == 2
    assert rows[2]["path"] in str(error.value) and "expected 5 fields" in str(error.value)
    assert calls == [] and project.ledger.audits() == []  # nothing scored, nothing written


def test_labels_with_classes_the_model_does_not_know(audited, monkeypatch):
    project, _, _, calls = audited
    names = tuple(project.spec.names)
    rows = [r for r in project.ledger.labeled() if r["round"] == 1]
    c = int(datasets.read_labels(rows[0]["label_path"]).class_ids[0])
    renamed = tuple(f"other-{n}" if i == c else n for i, n in enumerate(names))
    monkeypatch.setattr("alkit.model.yolo.class_names", lambda model: renamed)
    with pytest.raises(DatasetError, match="classes the model does not know") as error:
        project.audit()
    assert error.value.path == Path(rows[0]["label_path"]) and error.value.line == 1
    assert f"class {c} ({names[c]!r}) is unknown to the model seed.pt (image " \
        f"{rows[0]['path']})" in str(error.value)
    monkeypatch.setattr("alkit.model.yolo.class_names", lambda model: names[:1])
    with pytest.raises(DatasetError, match="classes the model does not know"):
        project.audit()  # a model with fewer classes
    with pytest.raises(LedgerError, match="round 0's labels are the seed labels"):
        project.audit(round=0)  # start weights of other classes
    assert calls == [] and project.ledger.audits() == []


def test_no_model_yet_and_a_round_without_labels(tiny_dataset, tmp_path, audited):
    with Project.init(tmp_path / "fresh", tiny_dataset / "dataset.yaml") as fresh:
        with pytest.raises(LedgerError, match="no model yet"):
            fresh.audit()
        _finish(fresh.ledger, 0, "start.pt", "seed.pt")
        with pytest.raises(LedgerError, match="no finished round after the seed round"):
            fresh.audit()
        with pytest.raises(LedgerError, match="no round 3"):
            fresh.audit(round=3)
        with pytest.raises(LedgerError, match="no audit recorded yet"):
            fresh.audit_report()
    project = audited[0]
    _finish(project.ledger, 2, "round1.pt", "round2.pt")
    with pytest.raises(LedgerError, match="round 2 imported no labels"):
        project.audit()  # the default: the last finished round
    assert project.audit(round=1).round == 1  # an earlier round on request
    assert [a["round"] for a in project.ledger.audits()] == [1]


def test_the_command_line(audited, tiny_dataset, tmp_path, capsys):
    project = audited[0]
    assert main(["audit", str(project.dir), "--top", "2", "--quiet",
                 "--plot", str(tmp_path / "audit.png")]) == 0
    out = capsys.readouterr().out
    assert "audit 0: round 1, 8 image(s)" in out and "the 2 most likely mislabeled" in out
    assert (tmp_path / "audit.png").stat().st_size > 0
    with Project.init(tmp_path / "fresh", tiny_dataset / "dataset.yaml"):
        pass
    assert main(["audit", str(tmp_path / "fresh")]) == 1
    assert "alkit audit: error: no model yet" in capsys.readouterr().err


@pytest.mark.slow
def test_a_real_round_is_audited_from_the_cached_scores(tiny_dataset, tmp_path):
    config = round_config("random", "tiny", budget=8, epochs=1)
    with Project.init(tmp_path / "real", tiny_dataset / "dataset.yaml") as project:
        project.run_round(config, progress=False)
        record = project.run_round(config, progress=False)
        assert record.number == 1 and record.status == "done"
        report = project.audit()
        assert report.round == 1 and report.model == record.model_before
        assert report.n_inferred == 0 and "no forward pass" in report.notes[0]
        assert len(report.table) == 8 and report.table["score"].between(0, 1).all()
        assert project.ledger.audits()[0]["settings"]["cleanlab"].startswith("2.9.")
