"""alkit.uncertainty: formulas, ranges and invariances (Hypothesis property tests)."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from alkit.core import uncertainty as unc


@st.composite
def score_matrices(draw, min_boxes=0, max_boxes=12, max_classes=10):
    n_boxes = draw(st.integers(min_boxes, max_boxes))
    n_classes = draw(st.integers(1, max_classes))
    return draw(arrays(np.float64, (n_boxes, n_classes), elements=st.floats(0.0, 1.0)))


@st.composite
def pools(draw, max_images=8):
    sizes = draw(st.lists(st.integers(0, 6), min_size=1, max_size=max_images))
    n_classes = draw(st.integers(1, 6))
    scores = draw(arrays(np.float64, (sum(sizes), n_classes), elements=st.floats(0.0, 1.0)))
    return scores, np.concatenate([[0], np.cumsum(sizes)])


@given(score_matrices())
def test_every_measure_stays_in_its_range(scores):
    n_classes = scores.shape[1]
    for measure in unc.MEASURES:
        u = unc.box_uncertainty(scores, measure)
        assert u.shape == (len(scores),)
        assert np.all(u >= 0) and np.all(u <= unc.measure_upper_bound(measure, n_classes) + 1e-12)
    assert np.all(unc.entropy(scores) <= np.log(n_classes) + 1e-12)
    assert np.all((unc.margin(scores) >= 0) & (unc.margin(scores) <= 1))


def test_formulas_on_known_vectors():
    p = np.array([[0.9, 0.05, 0.05], [0.4, 0.4, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(unc.least_confidence(p), [0.1, 0.6, 1.0])
    np.testing.assert_allclose(unc.margin(p), [0.85, 0.0, 0.0])
    np.testing.assert_allclose(unc.margin_uncertainty(p), [0.15, 1.0, 1.0])
    q = np.array([0.9, 0.05, 0.05])
    np.testing.assert_allclose(unc.entropy(p)[0], -(q * np.log(q)).sum())
    np.testing.assert_allclose(unc.entropy(p)[1:], [np.log(2), np.log(3)])  # all-zero: uniform
    h = lambda x: -(x * np.log(x) + (1 - x) * np.log(1 - x))  # noqa: E731
    np.testing.assert_allclose(unc.binary_entropy(p)[0], (h(0.9) + 2 * h(0.05)) / 3)
    assert unc.binary_entropy([[0.5, 0.5]])[0] > unc.binary_entropy([[0.05, 0.05]])[0]


def test_one_hot_is_certain_and_uniform_is_maximal():
    eye = np.eye(4)
    for measure in unc.MEASURES:
        assert np.allclose(unc.box_uncertainty(eye, measure), 0.0, atol=1e-9)
    np.testing.assert_allclose(unc.entropy(np.full((1, 4), 0.3)), np.log(4))
    np.testing.assert_allclose(unc.binary_entropy(np.full((1, 4), 0.5)), np.log(2))


@given(pools(), st.sampled_from(unc.MEASURES), st.sampled_from(unc.REDUCTIONS), st.data())
def test_image_scores_do_not_depend_on_box_order(pool, measure, reduction, data):
    scores, offsets = pool
    confidence = scores.max(axis=1)
    permuted = scores.copy()
    for lo, hi in itertools.pairwise(offsets):
        order = data.draw(st.permutations(range(hi - lo)))
        permuted[lo:hi] = scores[lo:hi][list(order)]
    kwargs = dict(measure=measure, reduction=reduction, conf_threshold=0.3)
    a = unc.image_scores(scores, confidence, offsets, **kwargs)
    b = unc.image_scores(permuted, permuted.max(axis=1), offsets, **kwargs)
    np.testing.assert_allclose(a, b)


@given(pools(), st.sampled_from(unc.MEASURES), st.sampled_from(unc.REDUCTIONS),
       st.integers(1, 4), st.floats(0.0, 1.0))
def test_vectorized_reductions_match_the_per_image_definition(pool, measure, reduction, n, thr):
    scores, offsets = pool
    confidence = scores.max(axis=1)
    fast = unc.image_scores(scores, confidence, offsets, measure=measure, reduction=reduction,
                            n=n, conf_threshold=thr)
    empty = unc.measure_upper_bound(measure, scores.shape[1])
    slow = []
    for lo, hi in itertools.pairwise(offsets):
        keep = confidence[lo:hi] >= thr
        u = unc.box_uncertainty(scores[lo:hi][keep], measure)
        slow.append(unc.reduce_boxes(u, reduction, n=n, empty_score=empty))
    np.testing.assert_allclose(fast, slow, atol=1e-12)
    via_callable = unc.image_scores(scores, confidence, offsets, measure=measure,
                                    reduction=lambda u: float(np.median(u)), conf_threshold=thr)
    for value, lo, hi in zip(via_callable, offsets[:-1], offsets[1:], strict=True):
        keep = confidence[lo:hi] >= thr
        expected = (np.median(unc.box_uncertainty(scores[lo:hi][keep], measure))
                    if keep.any() else empty)
        assert value == pytest.approx(expected)


@given(score_matrices(min_boxes=1), st.sampled_from(["max", "mean_n", "mean", "sum", "min"]),
       st.data())
def test_lowering_a_box_confidence_never_lowers_least_confidence(scores, reduction, data):
    box = data.draw(st.integers(0, len(scores) - 1))
    factor = data.draw(st.floats(0.0, 1.0))
    lowered = scores.copy()
    lowered[box] *= factor  # every class score of that box shrinks, so its max does too
    before, after = (unc.image_scores(s, s.max(axis=1), [0, len(s)], reduction=reduction,
                                      conf_threshold=0.0)[0] for s in (scores, lowered))
    assert after >= before - 1e-12


@given(st.integers(1, 9), st.sampled_from(unc.MEASURES), st.sampled_from(unc.REDUCTIONS))
def test_images_without_boxes_are_maximally_uncertain_by_default(n_classes, measure, reduction):
    no_boxes = np.zeros((0, n_classes))
    score = unc.image_scores(no_boxes, np.zeros(0), [0, 0], measure=measure, reduction=reduction)
    assert score[0] == unc.measure_upper_bound(measure, n_classes)
    custom = unc.image_scores(no_boxes, np.zeros(0), [0, 0], measure=measure, empty_score=0.25)
    assert custom[0] == 0.25


def test_boxes_below_the_threshold_do_not_count():
    scores = np.array([[0.9, 0.0], [0.1, 0.05]])
    offsets = [0, 2]
    conf = scores.max(axis=1)
    assert unc.image_scores(scores, conf, offsets, conf_threshold=0.25)[0] == pytest.approx(0.1)
    assert unc.image_scores(scores, conf, offsets, conf_threshold=0.0)[0] == pytest.approx(0.9)
    assert unc.image_scores(scores, conf, offsets, conf_threshold=0.95)[0] == 1.0


def test_mean_of_the_n_least_confident():
    u = np.array([0.1, 0.9, 0.5, 0.7])
    assert unc.reduce_boxes(u, "mean_n", n=2) == pytest.approx(0.8)
    assert unc.reduce_boxes(u, "mean_n", n=10) == pytest.approx(u.mean())


def test_flag_rule():
    scores = np.array([[0.95, 0.0], [0.5, 0.1], [0.59, 0.0]])
    best = unc.max_confidence(scores.max(axis=1), [0, 1, 1, 3])
    np.testing.assert_allclose(best, [0.95, 0.0, 0.59])
    assert unc.flag_low_confidence(best).tolist() == [False, True, True]
    assert unc.flag_low_confidence(best, threshold=0.5).tolist() == [False, True, False]


def test_class_breakdown_points_at_the_uncertain_classes():
    scores = np.array([[0.95, 0.02, 0.0], [0.3, 0.0, 0.25], [0.0, 0.0, 0.4]])
    hard = unc.class_breakdown(scores)
    np.testing.assert_allclose(hard, [0.7, 0.0, 0.6])
    soft = unc.class_breakdown(scores, soft=True)
    assert soft.sum() == pytest.approx(unc.least_confidence(scores).sum())
    assert soft[2] > soft[1]
    only_confident = unc.class_breakdown(scores, scores.max(axis=1), conf_threshold=0.35)
    np.testing.assert_allclose(only_confident, [0.05, 0.0, 0.6])


@pytest.mark.parametrize("bad, message", [
    (np.ones(3), "expected class scores of shape"),
    (np.array([[1.5, 0.0]]), "sigmoid outputs in"),
])
def test_bad_inputs_are_refused_with_the_expected_shape(bad, message):
    with pytest.raises(ValueError, match=message):
        unc.least_confidence(bad)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown measure 'confusion'"):
        unc.box_uncertainty(np.eye(2), "confusion")
    with pytest.raises(ValueError, match="unknown reduction 'median'"):
        unc.reduce_boxes([0.1], "median")
    with pytest.raises(ValueError, match="unknown reduction 'median'"):
        unc.segment_reduce([0.1], [0], 1, "median")


@given(arrays(np.float64, st.integers(0, 30), elements=st.floats(0, 1)), st.integers(1, 5),
       st.sampled_from(unc.REDUCTIONS))
def test_segment_reduce_of_one_segment_is_reduce_boxes(u, n, reduction):
    got = unc.segment_reduce(u, np.zeros(len(u), int), 1, reduction, n=n, empty_score=7.0)[0]
    assert got == pytest.approx(unc.reduce_boxes(u, reduction, n=n, empty_score=7.0))
