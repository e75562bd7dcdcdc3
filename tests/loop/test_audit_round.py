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
from audit_fixtures import N_AUDITED, audited_project
from audit_fixtures import finish_round as _finish

from alkit import Project, round_config
from alkit.cli import main
from alkit.core.detections import Labels
from alkit.data import datasets
from alkit.data.datasets import DatasetError
from alkit.loop.ledger import LedgerError

matplotlib.use("Agg")


@pytest.fixture
def audited(tiny_dataset, tmp_path, monkeypatch):
    project, truth, kinds, calls = audited_project(tiny_dataset, tmp_path, monkeypatch)
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
    # the threshold for overlooked boxes and swaps: where the model is 95% precise (the
    # fixture's boxes are all 0.97: cleanlab's 0.95 stays) and the notes say which
    assert report.settings["high_probability_rule"] == "precise"
    assert any("confidence >= 0.950 (cleanlab's 0.95" in n for n in report.notes)
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
    assert main(["audit", str(project.dir), "--quiet", "--send-back", "3"]) == 0
    assert "sent back for relabeling: the 3 most likely" in capsys.readouterr().out
    requests = project.ledger.relabels(open_only=True)
    assert {r["path"] for r in requests} == set(audited[2]) and {r["audit"] for r in requests} \
        == {1}
    assert main(["audit", str(project.dir), "--quiet", "--high-threshold", "0.9"]) == 0
    assert "confidence >= 0.900" in capsys.readouterr().out
    assert project.audit_report().settings["high_probability_threshold"] == 0.9
    with pytest.raises(SystemExit):
        main(["audit", str(project.dir), "--high-threshold", "high"])
    assert "expected 'precise' or a confidence in (0, 1]" in capsys.readouterr().err
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


# ---- relabeling: accept, fix, send back (the suspects' outcomes)


def _stage_round_2(project, n_picks=2):
    """Round 2 opened and staged by hand with the first ``n_picks`` unlabeled pool images."""
    ledger = project.ledger
    ledger.start_round(2, strategy="random", params={}, model_before="round1.pt",
                       model_before_hash="h-round1.pt", metrics_before={"map50": 0.5})
    picks = [r["id"] for r in ledger.images(state="unlabeled", split="pool")[:n_picks]]
    ledger.record_queries(2, picks, [0.5] * n_picks, ["random"] * n_picks)
    project._stage(2)
    return picks


def test_a_fixed_label_replaces_the_old_one_and_the_audit_sees_it(audited):
    project, truth, kinds, _ = audited
    report = project.audit()
    swapped = list(kinds)[1]
    image_id = int(report.table.set_index("path").loc[swapped, "image_id"])
    before = float(report.table.set_index("path").loc[swapped, "score"])
    old_row = project.ledger.label_of(image_id)
    old_text = Path(old_row["label_path"]).read_text()
    label_file = project.replace_label(swapped, truth[swapped], reason="swap fixed",
                                       annotator="ann", audit=report.number)
    assert label_file == Path(old_row["label_path"])
    assert datasets.read_labels(label_file).class_ids.tolist() == truth[swapped].class_ids.tolist()
    (history,) = project.ledger.label_history(image_id)
    assert history["text"] == old_text and history["source"] == "oracle"
    assert project.ledger.audit_decisions(report.number)[image_id]["decision"] == "fix"
    again = project.audit().table.set_index("path")
    assert float(again.loc[swapped, "score"]) > before + 0.3
    assert project.ledger.labeled_totals() == (
        len(project.ledger.labeled()), sum(r["n_objects"] for r in _label_rows(project)))


def _label_rows(project):
    return [project.ledger.label_of(r["image_id"]) for r in project.ledger.labeled()]


def test_a_replacement_killed_before_its_file_is_written_completes_when_repeated(
        audited, monkeypatch):
    project, truth, kinds, _ = audited
    shifted = list(kinds)[2]
    import alkit.loop.project as project_module

    def killed(path, text):
        raise KeyboardInterrupt("killed between the ledger and the file")

    monkeypatch.setattr(project_module.files, "write_text_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        project.replace_label(shifted, truth[shifted], reason="badloc fixed")
    monkeypatch.undo()
    image_id = project.ledger.image_ids([shifted])[0]
    stale = Path(project.ledger.label_of(image_id)["label_path"]).read_text()
    assert datasets.format_labels(truth[shifted]) != stale  # the file still has the old boxes
    project.replace_label(shifted, truth[shifted], reason="badloc fixed")
    assert Path(project.ledger.label_of(image_id)["label_path"]).read_text() == \
        datasets.format_labels(truth[shifted])
    assert len(project.ledger.label_history(image_id)) == 1


def test_a_sent_back_image_joins_the_next_rounds_job_and_its_new_label_replaces_the_old(
        audited):
    from alkit.annotate.folder import FolderAnnotator

    project, truth, kinds, _ = audited
    report = project.audit()
    dropped = next(iter(kinds))
    image_id = project.ledger.image_ids([dropped])[0]
    accepted = project.ledger.image_ids([list(truth)[4]])[0]
    project.accept_label(accepted, audit=report.number, note="looks right")
    project.send_back(dropped, "overlooked: a box is missing", audit=report.number)
    assert project.ledger.relabels()[0]["round"] is None  # no round waits for labels yet
    assert "1 image(s) sent back for relabeling" in project.status()
    picks = _stage_round_2(project)
    job = project.annotation_job(2)
    assert [item.image_id for item in job.items] == [*picks, image_id]
    relabel = job.items[-1]
    assert relabel.relabel and relabel.reason == "relabel: overlooked: a box is missing"
    assert (job.round_dir / "images" / relabel.staged).exists()
    manifest = project.round_dir(2) / "manifest.json"
    assert [e["path"] for e in datasets_json(manifest)["relabel"]] == [dropped]
    decisions = project.ledger.audit_decisions(report.number)
    assert {decisions[accepted]["decision"], decisions[image_id]["decision"]} == {
        "accept", "send_back"}
    # the label files dropped into round 2's folder: the picks' and the corrected one
    for item in job.items:
        labels = truth.get(item.path) or Labels(np.array([0]), np.array([[0.5, 0.5, 0.2, 0.2]]))
        (job.round_dir / "labels" / f"{Path(item.staged).stem}.txt").write_text(
            datasets.format_labels(labels))
    assert project.annotate(2, FolderAnnotator()) == 3
    assert project.waiting(2) == [] and project.ledger.relabels(open_only=True) == []
    label = project.ledger.label_of(image_id)
    assert label["round"] == 1 and label["source"] == "folder"
    assert label["n_objects"] == len(truth[dropped])
    (history,) = project.ledger.label_history(image_id)
    assert history["replaced_in_round"] == 2 and history["n_objects"] == len(truth[dropped]) - 1


def datasets_json(path):
    import json

    return json.loads(Path(path).read_text())


def test_sending_back_what_cannot_be_sent_back(audited):
    project, truth, _, _ = audited
    report = project.audit()
    unlabeled = project.ledger.images(state="unlabeled", split="pool")[0]
    with pytest.raises(LedgerError, match="has no label to send back"):
        project.send_back(unlabeled["path"], "why")
    with pytest.raises(LedgerError, match="needs a reason"):
        project.send_back(next(iter(truth)), "")
    with pytest.raises(LedgerError, match="no label to replace"):
        project.replace_label(unlabeled["path"], truth[next(iter(truth))], reason="r")
    bad = Labels(np.array([99]), np.array([[0.5, 0.5, 0.2, 0.2]]))
    with pytest.raises(DatasetError, match="label rejected, nothing written"):
        project.replace_label(next(iter(truth)), bad, reason="r", audit=report.number)
    assert project.ledger.relabels() == [] and project.ledger.label_history() == []
    assert project.ledger.audit_decisions(report.number) == {}
