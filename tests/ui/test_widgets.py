"""The widgets (alkit.ui.widgets) over the review states, driven without a browser: through
their buttons (``button.click()``) and synced traits. Every decision is checked in a freshly
opened ledger (what a restarted kernel would see)."""

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from review_fixtures import N_PICKS, decisions_on_disk, fresh, state_on_disk

from alkit.data import datasets
from alkit.data.datasets import Labels
from alkit.loop.config import round_config
from alkit.loop.ledger import LedgerError
from alkit.loop.project import Project
from alkit.ui.review import (
    BoxEditorState,
    EmbeddingMapState,
    ReviewState,
    ScoreExplorerState,
    detections_to_bboxes,
)
from alkit.ui.widgets import (
    BUTTONS,
    BoxEditor,
    EmbeddingMap,
    ReviewGrid,
    ScatterPlot,
    ScoreExplorer,
)

# --------------------------------------------------------------------------- score explorer


def test_score_explorer_widget_follows_dropdown_and_slider(scores):
    explorer = ScoreExplorer(ScoreExplorerState(scores, n_strip=4))
    assert "alkit-score-explorer" in explorer._dom_classes
    assert bytes(explorer.histogram.value).startswith(b"\x89PNG")
    assert len(explorer.strip.children) == 4
    explorer.threshold.value = 0.9
    assert explorer.state.threshold == 0.9
    assert explorer.summary.value == f"<b>{html.escape(explorer.state.summary())}</b>"
    assert str(int((scores.max_confidence < 0.9).sum())) in explorer.summary.value
    explorer.measure.value = "margin_mean3"
    low, high = explorer.state.value_range
    assert (explorer.threshold.min, explorer.threshold.max) == (low, high)
    assert explorer.threshold.value == pytest.approx(explorer.state.threshold)
    assert "margin_mean3 >=" in html.unescape(explorer.summary.value)
    assert explorer.message.value == ""


# --------------------------------------------------------------------------- review grid


def card_buttons(grid, slot):
    return grid.cards[slot].buttons


def test_review_grid_buttons_write_the_ledger_at_once(project, scores):
    grid = ReviewGrid(ReviewState(project, 1, scores, page_size=3))
    assert "alkit-review-grid" in grid._dom_classes
    assert [b.description for b in card_buttons(grid, 0).values()] == [
        "Send to labeling", "Skip", "Flag"]
    assert grid.counts.value == "<b>label 0 · skip 0 · flag 0 · undecided 8</b>"
    ids = [item.image_id for item in grid.state.page_items()]
    card_buttons(grid, 0)["label"].click()
    card_buttons(grid, 1)["skip"].click()
    card_buttons(grid, 2)["flag"].click()
    assert decisions_on_disk(project) == [(ids[0], "label"), (ids[1], "skip"), (ids[2], "flag")]
    assert [state_on_disk(project, i) for i in ids] == ["queried", "skipped", "flagged"]
    assert grid.counts.value == "<b>label 1 · skip 1 · flag 1 · undecided 5</b>"
    assert "alkit-decision-skip" in grid.cards[1].box._dom_classes
    assert grid.cards[1].box.layout.border == "3px solid #ff7f0e"
    assert card_buttons(grid, 1)["skip"].button_style == "warning"
    assert "skipped" in grid.cards[1].caption.value and grid.message.value == ""
    card_buttons(grid, 1)["label"].click()  # a change of mind: queried again
    assert state_on_disk(project, ids[1]) == "queried"
    assert ReviewState(Project(project.dir), 1).counts() == {  # resumes from the ledger
        "label": 2, "skip": 0, "flag": 1, "undecided": 5}


def test_review_grid_pages(project, scores):
    grid = ReviewGrid(ReviewState(project, 1, scores, page_size=3))
    assert grid.page_label.value == "&nbsp;page 1 / 3&nbsp;" and grid.prev_button.disabled
    grid.next_button.click()
    grid.next_button.click()
    assert grid.state.page_text() == "page 3 / 3" and grid.next_button.disabled
    assert grid.grid.children == (grid.cards[0].box, grid.cards[1].box)
    assert [i.rank for i in grid.state.page_items()] == [7, 8]
    card_buttons(grid, 1)["flag"].click()
    assert decisions_on_disk(project)[-1][1] == "flag"
    grid.prev_button.click()
    assert grid.state.page == 1 and "page 2 / 3" in grid.page_label.value


def test_finish_review_writes_the_final_list_to_staging(project, scores):
    grid = ReviewGrid(ReviewState(project, 1, scores))
    items = grid.state.items
    for slot, decision in enumerate(["label", "skip", "flag", "label"]):
        card_buttons(grid, slot)[decision].click()
    grid.finish_button.click()
    assert "Review finished: 2 to label, 1 skipped, 1 flagged, 4 undecided" in grid.message.value
    folder = project.round_dir(1)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [e["rank"] for e in manifest["reviewed"]] == [1, 4]
    assert [e["decision"] for e in manifest["review"]["removed"]] == ["skip", "flag"]
    assert len(manifest["images"]) == 6 and manifest["query_count"] == 8
    staged = {p.name for p in (folder / "images").iterdir()}
    assert len(staged) == 6 and not {e["staged"] for e in manifest["review"]["removed"]} & staged
    with fresh(project) as ledger:  # skipped and flagged stay out of future picks
        unlabeled = {r["id"] for r in ledger.images(state="unlabeled")}
        assert not {items[1].image_id, items[2].image_id} & unlabeled
    assert project.finish_review(1)["reviewed"] == manifest["reviewed"]  # idempotent


def test_review_grid_shows_errors_and_closes_labeled_images(project, scores):
    state = ReviewState(project, 1, scores)
    first = state.items[0]
    project.store_label(first.path, Labels.empty(), round_number=1)
    grid = ReviewGrid(state)
    grid.state.reload()
    grid.refresh()
    assert all(b.disabled for b in card_buttons(grid, 0).values())
    assert "labeled" in grid.cards[0].caption.value
    grid.decide_slot(1, "skip")
    with pytest.raises(LedgerError, match="already labeled"):
        state.decide(first.image_id, "skip")
    card_buttons(grid, 0)["skip"].click()  # a disabled button in a browser; here it runs
    assert "LedgerError" in grid.message.value and "already labeled" in grid.message.value
    assert [d for _, d in decisions_on_disk(project)] == ["skip"]
    with pytest.raises(ValueError, match="unknown decision 'maybe'"):
        project.record_review(first.image_id, "maybe", round_number=1)


# --------------------------------------------------------------------------- box editor


def test_box_editor_submit_skip_and_progress(project, scores):
    review = ReviewState(project, 1, scores)
    for item in review.items[:3]:
        review.decide(item.image_id, "label")
    review.decide(review.items[3].image_id, "skip")
    editor = BoxEditor(BoxEditorState.from_project(project, 1, scores, annotator="me"))
    assert "alkit-box-editor" in editor._dom_classes
    assert [b.description for b in (editor.submit_button, editor.skip_button)] == [
        "Submit", "Skip"]
    first = editor.state.current
    assert [i.image_id for i in editor.state.items] == [i.image_id for i in review.items[:3]]
    assert editor.canvas.classes == list(project.spec.names) and editor.canvas.hide_buttons
    assert editor.canvas.image == first.path and editor.canvas.image_bytes
    assert editor.canvas.bboxes == detections_to_bboxes(first.detections, project.spec.names,
                                                        128, 128)
    assert editor.progress.value == "<b>0 / 3</b>&nbsp;"
    editor.canvas.bboxes = [*editor.canvas.bboxes[:1],
                            {"x": 5, "y": 6, "width": 20, "height": 30, "label": "seven"}]
    editor.submit_button.click()
    assert editor.progress.value == "<b>1 / 3</b>&nbsp;" and "wrote" in editor.message.value
    with fresh(project) as ledger:
        row = next(r for r in ledger.labeled() if r["image_id"] == first.image_id)
    assert row["source"] == "widget"
    labels = datasets.read_labels(row["label_path"], len(project.spec.names))
    assert labels.class_ids.tolist()[1] == 5
    np.testing.assert_allclose(labels.xywhn[1], [15 / 128, 21 / 128, 20 / 128, 30 / 128],
                               atol=1e-6)  # 6 decimals in the file
    assert editor.canvas.image == editor.state.current.path != first.path
    editor.skip_button.click()
    assert state_on_disk(project, editor.state.items[1].image_id) == "skipped"
    assert editor.progress.value == "<b>2 / 3</b>&nbsp;"
    resumed = BoxEditorState.from_project(Project(project.dir), 1, scores)
    assert resumed.progress_text() == "2 / 3" and resumed.current.image_id == \
        editor.state.current.image_id
    editor.submit()
    assert editor.state.current is None and editor.submit_button.disabled
    assert editor.title.value == "every image is done"


def test_box_editor_refuses_bad_boxes_and_writes_nothing(project, scores):
    editor = BoxEditor(BoxEditorState.from_project(project, 1, scores))
    assert len(editor.state.items) == N_PICKS  # no review yet: every pick
    current = editor.state.current
    _, label_file = project._train_paths(current.image_id, Path(current.path))
    for bad, expected in [
            ({"x": 1, "y": 1, "width": 5, "height": 5, "label": "cat"}, "unknown class 'cat'"),
            ({"x": 100, "y": 1, "width": 40, "height": 5, "label": "one"}, "outside the")]:
        editor.canvas.bboxes = [bad]
        editor.submit_button.click()
        assert "ValueError" in editor.message.value and expected in editor.message.value
        assert editor.state.current is current and editor.progress.value.startswith("<b>0 /")
    assert not label_file.exists()
    with fresh(project) as ledger:
        assert {r["source"] for r in ledger.labeled()} == {"seed"}


# --------------------------------------------------------------------------- embedding map


def test_embedding_map_widget_syncs_the_selection(project, scores):
    view = EmbeddingMap(EmbeddingMapState.from_project(project, 1, scores), max_thumbnails=3)
    assert "alkit-embedding-map" in view._dom_classes
    assert len(view.scatter.points) == 84 and view.scatter.selected == []
    view.scatter.selected = [5, 2]  # what a click or a rectangle in the browser sends
    assert view.state.selected == [2, 5] and len(view.thumbnails.children) == 2
    assert bytes(view.thumbnails.children[0].value).startswith(b"\x89PNG")
    rows = view.select_rect(0, 0, 1, 1)
    assert view.scatter.selected == rows and len(view.thumbnails.children) == 3
    assert f"({len(rows) - 3} more)" in view.info.value.replace("showing 3, ", "")
    # nothing external: no imports, and the one URL is the SVG namespace (never fetched)
    assert "import" not in ScatterPlot._esm
    assert re.findall(r"https?://[^\"]*", ScatterPlot._esm) == ["http://www.w3.org/2000/svg"]


def test_button_texts_are_the_documented_ones():
    assert BUTTONS == {"label": "Send to labeling", "skip": "Skip", "flag": "Flag"}


# --------------------------------------------------------------------------- real model


@pytest.mark.slow
def test_stage_round_then_review_with_real_scores(tiny_dataset, tmp_path):
    project = Project.init(tmp_path / "project", tiny_dataset / "dataset.yaml")
    config = round_config("least_confidence", "tiny", budget=N_PICKS, epochs=1)
    project.run_round(config, progress=False)
    record = project.stage_round(config, progress=False)
    assert (record.number, record.status) == (1, "staged")
    assert project.stage_round(config, progress=False) == record  # staged already: unchanged
    assert project.ledger.counts()["labeled"] == 24 and len(project.ledger.queries(1)) == N_PICKS
    scores = project.round_scores(1)
    assert len(scores) == 84 and not scores.skipped
    grid = ReviewGrid(ReviewState(project, 1, scores))
    assert grid.state.items[0].detections.image_size == (128, 128)
    card_buttons(grid, 0)["label"].click()
    editor = BoxEditor(BoxEditorState.from_project(project, 1, scores))
    assert editor.submit() is not None and editor.state.progress_text() == "1 / 1"
    view = EmbeddingMap(EmbeddingMapState.from_project(project, 1, scores))
    assert view.state.counts()["labeled"] == 25 and view.state.counts()["picked"] == N_PICKS - 1

    # The reviewed round goes on to the annotator: skipped and flagged picks are not labeled,
    # the review kept in the manifest survives the resume, and the round trains.
    project.record_review(project.ledger.queries(1)[1]["image_id"], "skip", round_number=1)
    project.record_review(project.ledger.queries(1)[2]["image_id"], "flag", round_number=1)
    project.finish_review(1)
    assert len(project.waiting(1)) == N_PICKS - 3
    done = project.run_round(config, progress=False)
    assert done.status == "done" and done.n_labeled_after == 24 + N_PICKS - 2
    manifest = json.loads((project.round_dir(1) / "manifest.json").read_text())
    assert manifest["review"]["skip"] == 1 and manifest["review"]["flag"] == 1
    assert project.ledger.counts()["skipped"] == 1 and project.ledger.counts()["flagged"] == 1
    project.close()
