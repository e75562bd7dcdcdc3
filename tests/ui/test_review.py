"""The review states under the widgets (plain objects, no browser): the score explorer, the
box conversions and the box editor as an annotator, labels stored at once, the embedding map."""

import numpy as np
import pytest
from review_fixtures import N_PICKS, fresh

from alkit.annotate.base import Annotator
from alkit.core.detections import Detections
from alkit.data.datasets import DatasetError, Labels
from alkit.loop.ledger import LedgerError
from alkit.ui.review import (
    BoxEditorState,
    EmbeddingMapState,
    ScoreExplorerState,
    bboxes_to_labels,
    detections_to_bboxes,
    image_size,
)


def test_score_explorer_state_counts_the_classic_rule(scores):
    state = ScoreExplorerState(scores)
    assert state.column == "max_confidence" and state.threshold == 0.6
    assert state.n_flagged == int((scores.max_confidence < 0.6).sum())
    assert state.summary().startswith(f"{state.n_flagged} of {len(scores)} images")
    assert state.summary().endswith("flagged: max_confidence < 0.60")
    near = state.nearest(5)
    gaps = np.abs(state.values - 0.6)
    assert sorted(gaps[near]) == sorted(np.sort(gaps)[:5]).copy()
    assert list(state.values[near]) == sorted(state.values[near])
    state.set_column("entropy_max")
    assert state.threshold == pytest.approx(np.quantile(scores.table["entropy_max"], 0.75))
    assert state.n_flagged == int((scores.table["entropy_max"] >= state.threshold).sum())
    assert "n_boxes" not in state.columns and "path" not in state.columns
    with pytest.raises(ValueError, match="unknown score column 'nope'"):
        state.set_column("nope")


def test_bbox_conversion_round_trip_and_errors():
    names = ("zero", "one")
    detections = Detections([[10, 20, 50, 60], [-3, 100, 40, 140]], [0.9, 0.4], [1, 0])
    bboxes = detections_to_bboxes(detections, names, 128, 128)
    assert bboxes[0] == {"x": 10.0, "y": 20.0, "width": 40.0, "height": 40.0, "label": "one"}
    assert bboxes[1]["x"] == 0.0 and bboxes[1]["y"] + bboxes[1]["height"] == 128.0  # clipped
    labels = bboxes_to_labels(bboxes, names, 128, 128)
    assert labels.class_ids.tolist() == [1, 0]
    np.testing.assert_allclose(labels.xywhn[0], [30 / 128, 40 / 128, 40 / 128, 40 / 128])
    backwards = bboxes_to_labels([{"x": 50, "y": 60, "width": -40, "height": -40,
                                   "label": "one"}], names, 128, 128)
    np.testing.assert_allclose(backwards.xywhn, labels.xywhn[:1])
    bad = [{"x": 1, "y": 1, "width": 5, "height": 5, "label": "cat"},
           {"x": 100, "y": 1, "width": 40, "height": 5, "label": "one"},
           {"x": 3, "y": 3, "width": 0, "height": 5, "label": ""}]
    with pytest.raises(ValueError) as error:
        bboxes_to_labels(bad, names, 128, 128)
    message = str(error.value)
    assert "box 1: unknown class 'cat'; expected one of zero, one" in message
    assert "box 2: (100, 1, 140, 6) lies outside the 128 x 128 image" in message
    assert "box 3: unknown class ''" in message and "box 3: zero size" in message


def test_store_label_validates_and_never_imports_twice(project):
    path = project.ledger.queries(1)[0]["path"]
    with pytest.raises(DatasetError) as error:
        project.store_label(path, Labels([9, 0], [[0.5, 0.5, 0.1, 0.1], [1.5, 0.5, 0.1, 0.1]]),
                            round_number=1)
    assert "label rejected, nothing written" in str(error.value)
    assert "object 1: class id 9 is outside the dataset's names" in str(error.value)
    assert "object 2: coordinates must be normalized to [0, 1]" in str(error.value)
    assert project.ledger.counts()["labeled"] == 24
    label_file = project.store_label(path, Labels([0], [[0.5, 0.5, 0.1, 0.1]]), round_number=1)
    assert label_file.read_text() == "0 0.500000 0.500000 0.100000 0.100000\n"
    with pytest.raises(LedgerError, match="already labeled"):
        project.store_label(path, Labels.empty(), round_number=1)
    assert label_file.read_text().startswith("0 0.5")


def test_embedding_map_state_groups_and_selection(project, scores):
    project.record_review(project.ledger.queries(1)[0]["image_id"], "flag", round_number=1)
    state = EmbeddingMapState.from_project(project, 1, scores)
    assert state.counts() == {"labeled": 24, "picked": N_PICKS - 1, "remaining": 60 - N_PICKS,
                              "set aside": 1}
    assert state.xy.shape == (84, 2) and state.unit.min() == 0.0 and state.unit.max() == 1.0
    rows = state.in_rect(1.0, 1.0, 0.0, 0.0)
    assert rows == list(range(84))
    left = state.select_rect(0, 0, 0.5, 1)
    assert left == np.flatnonzero(state.unit[:, 0] <= 0.5).tolist() == state.selected
    x, y = state.unit[7]
    assert state.nearest(x + 0.001, y) == [7] and state.nearest(5, 5) == []
    assert state.selection_text().startswith(f"{len(left)} selected: ")
    with pytest.raises(IndexError):
        state.select([84])
    with pytest.raises(ValueError, match="one path and one group per embedding row"):
        EmbeddingMapState(np.zeros((3, 2)), ["a", "b"], ["labeled"] * 3)


def test_image_sizes_are_height_then_width(project):
    path = project.ledger.queries(1)[0]["path"]
    assert image_size(path) == (128, 128)


def test_the_box_editor_is_an_annotator_whose_labels_are_in_at_once(project, scores):
    state = BoxEditorState.from_project(project, 1, scores, annotator="me")
    assert isinstance(state, Annotator) and state.source == "widget"
    first = state.current
    state.submit([{"x": 5, "y": 6, "width": 20, "height": 30, "label": "one"}])
    assert state.answer(first.path) is None and state.annotated_by(first.path) == "me"
    assert project.annotate(1, state) == 0  # nothing left to hand over: it is in already
    with fresh(project) as ledger:
        assert ledger.image_state(first.image_id) == "labeled"
    assert len(project.waiting(1)) == N_PICKS - 1
