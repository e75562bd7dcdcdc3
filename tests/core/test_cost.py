"""The annotation cost model and the expected boxes of an image."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alkit.core.cost import CostModel, expected_boxes


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
