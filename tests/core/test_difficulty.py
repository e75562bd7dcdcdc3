"""Class quality (PPAL's score ** 0.6 * IoU ** 0.4) and the difficulty weights."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alkit.core.difficulty import (
    box_quality,
    class_quality,
    difficulty_weights,
    gain_weights,
    image_error,
)

BOX = [10, 10, 50, 50]


def scores(*rows):
    return np.array(rows, dtype=float)


def test_a_perfect_candidate_has_quality_one_and_a_missed_box_zero():
    q = box_quality([BOX, [60, 60, 90, 90]], [0, 1], [BOX], scores([1.0, 0.0]))
    assert q == pytest.approx([1.0, 0.0])


def test_quality_reads_the_score_of_the_ground_truth_class_even_when_another_wins():
    # the candidate says class 0 (0.8) but gives the true class 1 a score of 0.2
    q = box_quality([BOX], [1], [BOX], scores([0.8, 0.2]))
    assert q == pytest.approx([0.2 ** 0.6])


def test_quality_takes_the_best_candidate():
    half = [10, 10, 50, 30]  # IoU 0.5 with BOX
    q = box_quality([BOX], [0], [half, BOX], scores([0.9, 0], [0.5, 0]))
    assert q == pytest.approx([max(0.9 ** 0.6 * 0.5 ** 0.4, 0.5 ** 0.6)])


def test_no_candidate_and_no_ground_truth():
    assert box_quality([BOX], [0], np.zeros((0, 4)), np.zeros((0, 2))).tolist() == [0.0]
    assert box_quality(np.zeros((0, 4)), [], [BOX], scores([1, 0])).tolist() == []
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 2\)"):
        box_quality([BOX], [2], [BOX], scores([1, 0]))


def test_class_quality_averages_per_class_and_unseen_classes_get_zero():
    images = [([BOX], [0], [BOX], scores([1, 0, 0])),
              ([BOX, [60, 60, 90, 90]], [0, 1], [BOX], scores([0.25, 0, 0]))]
    quality, count = class_quality(images, 3)
    assert count.tolist() == [2, 1, 0]
    assert quality == pytest.approx([(1 + 0.25 ** 0.6) / 2, 0.0, 0.0])


def test_weights_follow_ppal():
    w = difficulty_weights([1.0, 0.0, 0.5], alpha=0.3, upper=0.2)
    b = np.exp(1 / 0.3) - 1
    assert w == pytest.approx([1.0, 1.2, 1 + 0.3 * 0.2 * np.log(b * 0.5 + 1)])
    with pytest.raises(ValueError, match="non-empty"):
        difficulty_weights([])
    with pytest.raises(ValueError, match="alpha > 0"):
        difficulty_weights([0.5], alpha=0)


@given(st.lists(st.floats(0, 1), min_size=2, max_size=8), st.floats(0.05, 5), st.floats(0, 5))
def test_weights_are_bounded_and_fall_as_quality_rises(quality, alpha, upper):
    w = difficulty_weights(quality, alpha=alpha, upper=upper)
    assert np.all(w >= 1 - 1e-9) and np.all(w <= 1 + upper + 1e-9)
    order = np.argsort(quality)
    assert np.all(np.diff(w[order]) <= 1e-9)


def test_image_error_counts_missed_mass_and_confident_false_boxes():
    far = [60, 60, 90, 90]
    assert image_error([BOX], [0], [BOX], scores([1.0, 0.0]), [1.0]) == pytest.approx(0.0)
    # a missed box costs 1; a confident candidate on nothing costs its confidence
    assert image_error([BOX], [0], [far], scores([0.7, 0.0]), [0.7]) == pytest.approx(1.7)
    # an unconfident stray candidate (< 0.25) costs nothing
    assert image_error([BOX], [0], [BOX, far], scores([1, 0], [0.2, 0]), [1, 0.2]) == 0.0
    assert image_error(np.zeros((0, 4)), [], [far], scores([0.5, 0]), [0.5]) == 0.5
    assert image_error([BOX], [1], np.zeros((0, 4)), np.zeros((0, 2)), []) == 1.0


@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_a_more_confident_right_answer_never_has_more_error(low, high):
    low, high = sorted((low, high))
    err = [image_error([BOX], [0], [BOX], scores([c, 0.0]), [c]) for c in (low, high)]
    assert err[1] <= err[0] + 1e-12


def test_gain_weights_follow_headroom_per_labeled_object():
    w = gain_weights([0.9, 0.5, 0.5, 1.0], [100, 100, 10, 1])
    # (1 - q) / n: 0.001, 0.005, 0.05, 0 -> divided by the largest
    assert w == pytest.approx([0.02, 0.1, 1.0, 0.0])
    assert gain_weights([1.0, 1.0], [5, 0]).tolist() == [1.0, 1.0]  # nothing left to gain
    assert gain_weights([0.2, 0.2], [0, 1]).tolist() == [1.0, 1.0]  # 0 labels count as 1
    with pytest.raises(ValueError, match="one quality and one count per class"):
        gain_weights([0.5], [1, 2])
    with pytest.raises(ValueError, match=">= 0"):
        gain_weights([0.5], [-1])


@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 10_000)), min_size=1, max_size=8))
def test_gain_weights_lie_in_0_1_and_fall_with_quality_and_counts(classes):
    quality, counts = (np.array(x, dtype=float) for x in zip(*classes, strict=True))
    w = gain_weights(quality, counts)
    assert np.all((w >= 0) & (w <= 1)) and np.isclose(w.max(), 1.0)
    better = gain_weights(np.r_[quality, np.clip(quality[0] + 0.1, 0, 1)],
                          np.r_[counts, counts[0]])
    assert better[-1] <= better[0] + 1e-12  # a better-mastered copy never weighs more
