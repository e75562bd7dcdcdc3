"""Query-by-committee disagreement and box matching, on hand-built member predictions."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alkit.core import disagreement as committee
from alkit.core.boxes import box_iou, match_boxes
from alkit.core.detections import Detections
from alkit.core.pool import PoolScores

BOX = np.array([[10.0, 10, 30, 30]])
OTHER = np.array([[60.0, 60, 90, 90]])


def member(boxes, classes, conf=0.9) -> Detections:
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    return Detections(boxes, np.full(len(boxes), conf), np.asarray(classes, int))


def test_members_that_agree_score_zero():
    agreeing = [member(np.vstack([BOX, OTHER]), [1, 2]) for _ in range(3)]
    assert committee.image_disagreement(agreeing) == 0.0
    assert committee.image_disagreement([member([], []) for _ in range(3)]) == 0.0


def test_a_box_found_by_some_members_only():
    members = [member(BOX, [1]), member(BOX, [1]), member([], [])]
    assert committee.image_disagreement(members) == pytest.approx((1 / 3) * (1 / 3))
    alone = [member(BOX, [1]), member([], []), member([], [])]
    assert committee.image_disagreement(alone) == pytest.approx((1 / 3) * (2 / 3))


def test_class_votes_that_split():
    split = [member(BOX, [0]), member(BOX, [1]), member(BOX, [2])]
    assert committee.image_disagreement(split) == pytest.approx(1 / 3)
    two_to_one = [member(BOX, [0]), member(BOX, [0]), member(BOX, [2])]
    p = np.array([2 / 3, 1 / 3])
    expected = -(p * np.log(p)).sum() / np.log(3) / 3
    assert committee.image_disagreement(two_to_one) == pytest.approx(expected)


def test_localization_spread():
    shifted = BOX + np.array([4, 0, 4, 0])
    members = [member(BOX, [1]), member(BOX, [1]), member(shifted, [1])]
    iou = box_iou(BOX, shifted)[0, 0]
    expected = (1 - np.mean([1.0, iou, iou])) / 3
    assert committee.image_disagreement(members) == pytest.approx(expected)


def test_the_worst_group_decides_and_weights_apply():
    members = [member(np.vstack([BOX, OTHER]), [1, 2]), member(np.vstack([BOX, OTHER]), [1, 0]),
               member(np.vstack([BOX, OTHER]), [1, 1])]
    assert committee.image_disagreement(members) == pytest.approx(1 / 3)
    votes_only = committee.image_disagreement(members, weights=(0, 1, 0))
    assert votes_only == pytest.approx(1.0)
    mean = committee.image_disagreement(members, reduction="mean")
    assert mean == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="sum to 1"):
        committee.image_disagreement(members, weights=(1, 1, 1))


def test_low_confidence_boxes_do_not_count():
    members = [member(BOX, [1]), member(BOX, [1]), member(BOX, [1], conf=0.1)]
    assert committee.image_disagreement(members, conf_threshold=0.25) > 0
    assert committee.image_disagreement(members, conf_threshold=0.05) == 0


def _pool_scores(per_image):
    """A hand-built PoolScores from per-image (xyxy, conf, cls)."""
    n_classes = 3
    xyxy = [np.asarray(b, float).reshape(-1, 4) for b, _, _ in per_image]
    conf = [np.asarray(c, float) for _, c, _ in per_image]
    cls = [np.asarray(k, int) for _, _, k in per_image]
    scores = [np.eye(n_classes)[k] * c[:, None] for c, k in zip(conf, cls, strict=True)]
    n = len(per_image)
    return PoolScores(
        paths=[f"{i}.jpg" for i in range(n)], hashes=np.array([str(i) for i in range(n)]),
        heights=np.full(n, 100), widths=np.full(n, 100),
        box_offsets=np.concatenate([[0], np.cumsum([len(c) for c in conf])]),
        box_xyxy=np.concatenate(xyxy), box_confidence=np.concatenate(conf),
        box_class=np.concatenate(cls), box_class_scores=np.concatenate(scores).reshape(-1, 3),
        embeddings=np.zeros((n, 2)), names=("a", "b", "c"),
    )


def test_committee_disagreement_over_a_pool():
    a = _pool_scores([(BOX, [0.9], [1]), (BOX, [0.9], [0]), ([], [], [])])
    b = _pool_scores([(BOX, [0.9], [1]), (BOX, [0.9], [2]), ([], [], [])])
    c = _pool_scores([(BOX, [0.9], [1]), (BOX, [0.9], [1]), (OTHER, [0.9], [2])])
    d = committee.committee_disagreement([a, b, c])
    np.testing.assert_allclose(d, [0.0, 1 / 3, (1 / 3) * (2 / 3)])
    other_pool = _pool_scores([(BOX, [0.9], [1])])
    with pytest.raises(ValueError, match="scored different images"):
        committee.committee_disagreement([a, other_pool])




boxes_st = st.lists(st.tuples(st.floats(0, 50), st.floats(0, 50), st.floats(1, 30),
                              st.floats(1, 30), st.floats(0.01, 1), st.integers(0, 2)),
                    max_size=6)


@given(st.lists(boxes_st, min_size=2, max_size=4))
def test_matching_keeps_every_box_once_and_one_per_member(per_member):
    members = [Detections([[x, y, x + w, y + h] for x, y, w, h, _, _ in boxes],
                          [c for *_, c, _ in boxes], [k for *_, k in boxes])
               for boxes in per_member]
    groups = match_boxes(members)
    seen = [pair for group in groups for pair in group]
    assert sorted(seen) == sorted((m, b) for m, d in enumerate(members) for b in range(len(d)))
    assert all(len({m for m, _ in group}) == len(group) for group in groups)
    d = committee.image_disagreement(members, conf_threshold=0.0)
    assert 0.0 <= d <= 1.0 + 1e-12
    assert committee.image_disagreement([members[0]] * 3, conf_threshold=0.0) == 0.0
