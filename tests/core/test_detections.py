"""The two box forms: validation of Detections, masks, and conversions to and from Labels."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alkit.core.detections import Detections, Labels


def test_shapes_are_checked_with_the_expected_shape_named():
    with pytest.raises(ValueError, match=r"expected shape \(n, 4\)"):
        Detections(np.zeros((2, 3)), [0.5, 0.5], [0, 1])
    with pytest.raises(ValueError, match=r"expected confidence and class_id of shape \(2,\)"):
        Detections(np.zeros((2, 4)), [0.5], [0, 1])
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        Detections(np.zeros((1, 4)), [1.5], [0])
    with pytest.raises(ValueError, match="one class id per"):
        Labels([0, 1], [[0.5, 0.5, 0.1, 0.1]])


def test_masks_keep_the_image_size_and_empty_is_empty():
    d = Detections([[0, 0, 10, 10], [5, 5, 20, 20]], [0.9, 0.2], [1, 0], (64, 32))
    kept = d[d.confidence > 0.5]
    assert len(kept) == 1 and kept.image_size == (64, 32) and kept.max_confidence == 0.9
    assert len(Detections.empty()) == 0 and Detections.empty().max_confidence == 0.0


@given(st.lists(st.tuples(st.floats(0.1, 0.9), st.floats(0.1, 0.9), st.floats(0.01, 0.2),
                          st.floats(0.01, 0.2), st.integers(0, 5)), max_size=8),
       st.integers(16, 640), st.integers(16, 640))
def test_labels_and_detections_convert_both_ways(boxes, height, width):
    labels = Labels([b[4] for b in boxes], [b[:4] for b in boxes])
    detections = labels.to_detections((height, width))
    assert detections.image_size == (height, width)
    assert np.all(detections.xyxy[:, 2] <= width * 1.2) and np.all(detections.confidence == 1)
    back = detections.to_labels()
    np.testing.assert_array_equal(back.class_ids, labels.class_ids)
    np.testing.assert_allclose(back.xywhn, labels.xywhn, atol=1e-9)


def test_to_labels_needs_the_image_size():
    with pytest.raises(ValueError, match="needs the image_size"):
        Detections([[0, 0, 1, 1]], [0.5], [0]).to_labels()
