"""Query-by-committee: disagreement on hand-built member predictions, and a real committee."""

import numpy as np
import pytest

from alkit.model import committee
from alkit.model.scoring import PoolScores

BOX = np.array([[10.0, 10, 30, 30]])
OTHER = np.array([[60.0, 60, 90, 90]])


def member(boxes, classes, conf=0.9):
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    return boxes, np.full(len(boxes), conf), np.asarray(classes)


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
    iou = committee.box_iou(BOX, shifted)[0, 0]
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


def test_bootstrap_lists_are_resamples_of_the_labeled_set():
    lists = committee.bootstrap_lists([f"{i}.jpg" for i in range(20)], 3, random_state=0)
    assert len(lists) == 3 and all(len(x) == 20 for x in lists)
    assert all(set(x) <= {f"{i}.jpg" for i in range(20)} for x in lists)
    assert lists[0] != lists[1]
    assert lists == committee.bootstrap_lists([f"{i}.jpg" for i in range(20)], 3, random_state=0)


@pytest.mark.slow
def test_a_real_committee_trains_scores_and_disagrees(tiny_dataset, tmp_path):
    members = committee.train_committee(tiny_dataset / "dataset.yaml", n_members=2, epochs=1,
                                        imgsz=64, batch=8, workers=0, runs_dir=tmp_path / "runs")
    assert len(members) == 2 and all(m.is_file() for m in members)
    lists = sorted((tmp_path / "runs").glob("member*_train.txt"))
    assert [len(p.read_text().splitlines()) for p in lists] == [24, 24]
    scored = committee.score_committee(members, tiny_dataset / "images" / "pool", imgsz=64,
                                       conf=0.001, conf_threshold=0.001,
                                       cache_dir=tmp_path / "cache", progress=False)
    d = committee.committee_disagreement(scored)
    assert d.shape == (60,) and np.all((d >= 0) & (d <= 1)) and d.max() > 0
