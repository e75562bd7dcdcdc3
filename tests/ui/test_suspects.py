"""The suspects view of a label audit: its state (order, label and prediction, accept / fix /
send back in the ledger at once, resuming), the widget driven by its buttons without a
browser, and the box editor correcting a label and carrying a relabel request in the next
round. The audit runs on a project whose round 1 has three known mistakes and a scorer that
sees the truth (tests/audit_fixtures.py); nothing is trained."""

import pytest
from audit_fixtures import audited_project

from alkit.data import datasets
from alkit.loop.project import Project
from alkit.ui.review import BoxEditorState, SuspectsState, detections_to_bboxes
from alkit.ui.widgets import Suspects


@pytest.fixture
def audited(tiny_dataset, tmp_path, monkeypatch):
    project, truth, kinds, _ = audited_project(tiny_dataset, tmp_path, monkeypatch)
    project.audit()
    yield project, truth, kinds
    project.close()


def _bboxes(project, truth, path):
    height, width = 128, 128
    return detections_to_bboxes(truth[path].to_detections((height, width)),
                                project.spec.names, width, height)


def test_suspects_are_ordered_by_label_quality_with_label_and_prediction(audited):
    project, truth, kinds = audited
    state = SuspectsState(project, page_size=3)
    assert [i.rank for i in state.items] == list(range(1, len(truth) + 1))
    assert {i.path for i in state.page_items()} == set(kinds)  # the three mistakes first
    dropped = state.items[[i.path for i in state.items].index(next(iter(kinds)))]
    assert len(dropped.label) == len(truth[dropped.path]) - 1  # the label as it is
    assert len(dropped.prediction) == len(truth[dropped.path])  # the model sees them all
    assert dropped.issues.startswith("overlooked") and dropped.decision is None
    assert "#" in dropped.headline() and "overlooked" in dropped.headline()
    assert state.n_pages == 3 and state.counts()["undecided"] == len(truth)


def test_accept_send_back_and_fix_go_to_the_ledger_and_resume(audited):
    project, truth, kinds = audited
    dropped, swapped, shifted = kinds
    state = SuspectsState(project)
    ids = {i.path: i.image_id for i in state.items}
    state.accept(ids[shifted], note="the box is fine")
    item = state.send_back(ids[dropped])
    assert item.relabel_open and item.decision == "send_back"
    (request,) = project.ledger.relabels()
    assert request["reason"].startswith("overlooked") and request["audit"] == state.number
    path = state.fix(ids[swapped], _bboxes(project, truth, swapped))
    assert datasets.read_labels(path).class_ids.tolist() == truth[swapped].class_ids.tolist()
    fixed = state.item(ids[swapped])
    assert fixed.changed and fixed.decision == "fix"
    resumed = SuspectsState(Project(project.dir))
    assert resumed.counts() == {"accept": 1, "fix": 1, "send_back": 1,
                                "undecided": len(truth) - 3}
    assert resumed.item(ids[dropped]).relabel_open and resumed.item(ids[swapped]).changed
    with pytest.raises(ValueError, match="outside the"):
        state.fix(ids[shifted], [{"x": 100, "y": 1, "width": 40, "height": 5, "label": "one"}])
    with pytest.raises(KeyError, match="not in audit"):
        state.item(10**6)


def test_the_widget_buttons_and_the_box_editor_fix_a_label(audited):
    project, truth, kinds = audited
    dropped, swapped, shifted = kinds
    view = Suspects(SuspectsState(project, page_size=3))
    assert "alkit-suspects" in view._dom_classes and len(view.grid.children) == 3
    card_paths = [i.path for i in view.state.page_items()]
    cards = dict(zip(card_paths, view.cards, strict=True))
    assert [b.description for b in cards[shifted].buttons.values()] == [
        "Accept", "Fix", "Send back"]
    cards[shifted].buttons["accept"].click()
    assert "label accepted" in cards[shifted].caption.value
    cards[dropped].buttons["send_back"].click()
    assert "sent back" in cards[dropped].caption.value and view.message.value == ""
    cards[swapped].buttons["fix"].click()
    editor = view.editor
    assert editor is not None and editor.canvas.image == swapped
    assert len(editor.canvas.bboxes) == len(truth[swapped])  # prefilled with the label
    editor.canvas.bboxes = [{**editor.canvas.bboxes[0], "label": "nine"}]
    editor.submit_button.click()
    assert "unknown class 'nine'" in editor.message.value  # nothing written
    assert project.ledger.label_history() == []
    editor.canvas.bboxes = _bboxes(project, truth, swapped)
    editor.submit_button.click()
    assert "label replaced since the audit" in cards[swapped].caption.value
    assert "accept 1 · fix 1 · send_back 1" in view.counts.value
    image_id = project.ledger.image_ids([swapped])[0]
    assert project.ledger.label_history(image_id)[0]["reason"].startswith("audit 0: fixed")


def test_the_box_editor_labels_a_sent_back_image_in_the_next_round(audited):
    project, truth, kinds = audited
    dropped = next(iter(kinds))
    project.send_back(dropped, "a box is missing", audit=0)
    ledger = project.ledger
    ledger.start_round(2, strategy="random", params={}, model_before="round1.pt",
                       model_before_hash="h", metrics_before={})
    pick = ledger.images(state="unlabeled", split="pool")[0]
    ledger.record_queries(2, [pick["id"]], [0.5], ["random"])
    project._stage(2)
    editor = BoxEditorState.from_project(project, 2)
    assert [i.path for i in editor.items] == [pick["path"], dropped]
    relabel = editor.items[1]
    assert relabel.replace and relabel.reason == "relabel: a box is missing"
    assert len(relabel.detections) == len(truth[dropped]) - 1  # starts from the old label
    editor.submit([{"x": 1, "y": 1, "width": 10, "height": 10, "label": "one"}])
    editor.submit(_bboxes(project, truth, dropped))
    assert project.waiting(2) == [] and ledger.relabels(open_only=True) == []
    history = ledger.label_history(ledger.image_ids([dropped])[0])
    assert history[0]["replaced_in_round"] == 2 and history[0]["reason"].startswith("relabel")
    label = ledger.label_of(ledger.image_ids([dropped])[0])
    assert label["source"] == "widget" and label["n_objects"] == len(truth[dropped])
