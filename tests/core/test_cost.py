"""The annotation cost model and the expected boxes of an image."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alkit.core.cost import (
    BoxCountFit,
    CostModel,
    box_count_features,
    expected_boxes,
    fit_box_counts,
)


def test_cost_is_seconds_per_image_plus_seconds_per_box():
    model = CostModel(seconds_per_image=4, seconds_per_box=25.5)
    assert model.cost([0, 1, 3]).tolist() == [4.0, 29.5, 80.5]
    assert model.total(images=10, boxes=20) == 4 * 10 + 25.5 * 20
    assert model.describe() == "4 s / image + 25.5 s / box"


@pytest.mark.parametrize("image, box", [(-1, 25), (4, -0.5), (0, 0), (float("nan"), 1)])
def test_bad_cost_models_are_refused(image, box):
    with pytest.raises(ValueError, match="seconds"):
        CostModel(image, box)


def test_expected_boxes_sum_candidate_confidences_above_the_floor():
    conf = np.array([0.9, 0.5, 0.04, 0.3, 0.3, 0.3])
    assert expected_boxes(conf, [0, 3, 3, 6]) == pytest.approx([1.4, 0.0, 0.9])
    with pytest.raises(ValueError, match="box_offsets"):
        expected_boxes(conf, [0, 3])


@given(st.lists(st.floats(0, 1), max_size=30), st.floats(0, 1))
def test_expected_boxes_never_exceed_the_candidates(conf, floor):
    value = expected_boxes(np.array(conf), [0, len(conf)], min_confidence=floor)[0]
    assert 0 <= value <= sum(c >= floor for c in conf) + 1e-9


@given(st.lists(st.lists(st.floats(0, 1), max_size=8), min_size=1, max_size=6))
def test_box_count_features_split_the_expected_boxes_by_confidence(images):
    conf = np.array([c for image in images for c in image])
    offsets = np.cumsum([0, *map(len, images)])
    features = box_count_features(conf, offsets)
    assert features.shape == (len(images), 3) and np.all(features >= 0)
    assert features.sum(axis=1) == pytest.approx(expected_boxes(conf, offsets), abs=1e-9)


def test_box_count_features_bins():
    features = box_count_features(np.array([0.04, 0.1, 0.3, 0.9, 0.5]), [0, 3, 5])
    np.testing.assert_allclose(features, [[0.1, 0.3, 0.0], [0.0, 0.0, 1.4]])


def test_a_fit_learns_that_a_weak_model_undercounts_dense_images():
    """Images whose real count is 1 + 3 x the faint candidates + 1 x the sure ones: the raw
    sum undercounts them; the fit recovers the relation and beats the raw sum."""
    rng = np.random.default_rng(0)
    features = rng.uniform(0, 2, size=(60, 3))
    truth = 1 + 3 * features[:, 0] + 1 * features[:, 2]
    fit = fit_box_counts(features, truth)
    assert fit.intercept == pytest.approx(1, abs=1e-6)
    assert fit.slopes == pytest.approx((3, 0, 1), abs=1e-6)
    assert fit.n_images == 60 and fit.error_fit < 1e-6 < fit.error_raw
    assert fit.predict(features) == pytest.approx(truth)
    assert set(fit.to_dict()) == {"intercept", "slopes", "n_images", "error_raw", "error_fit"}


def test_no_fit_from_too_few_images_or_when_the_raw_sum_is_already_right():
    features = np.random.default_rng(1).uniform(0, 2, size=(60, 3))
    assert fit_box_counts(features[:5], features[:5].sum(axis=1) * 2) is None
    assert fit_box_counts(features, features.sum(axis=1)) is None


@given(st.lists(st.tuples(st.floats(0, 3), st.floats(0, 3), st.floats(0, 3),
                          st.integers(0, 12)), min_size=20, max_size=40))
def test_a_fit_never_lowers_the_estimate_for_more_confident_candidates(rows):
    data = np.array(rows, dtype=np.float64)
    fit = fit_box_counts(data[:, :3], data[:, 3]) or BoxCountFit()
    assert fit.intercept >= 0 and min(fit.slopes) >= 0
    more = data[:, :3] + np.array([0.0, 0.0, 0.5])
    assert np.all(fit.predict(more) >= fit.predict(data[:, :3]) - 1e-12)
