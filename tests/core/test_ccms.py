"""PPAL's category-conditioned matching similarity and k-center on a distance matrix."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alkit.core.ccms import ccms_similarity, k_center_on_distances
from alkit.core.pool import PoolScores
from alkit.core.query import query, run_query
from alkit.data.scorefile import load_scores, save_scores


def boxes(per_image):
    """(features, classes, confidences, offsets) from per-image lists of (feature, class)."""
    flat = [b for image in per_image for b in image]
    features = np.array([f for f, _ in flat], float).reshape(-1, 2)
    classes = np.array([c for _, c in flat], int)
    offsets = np.concatenate([[0], np.cumsum([len(i) for i in per_image])])
    return features, classes, np.full(len(flat), 0.9), offsets


def test_only_boxes_of_the_same_class_make_images_alike():
    f, c, p, off = boxes([[([1, 0], 0)], [([1, 0], 1)], [([0.9, 0.1], 0)], []])
    sim = ccms_similarity(f, c, p, off, range(4), range(4))
    assert sim[0, 2] > 0.9  # same class, alike features
    assert sim[0, 1] == -1  # identical features, other class: not alike
    assert sim[3, 3] == 1 and sim[3, 0] == -1  # no box: alike only to no box
    assert np.allclose(sim, sim.T)


def test_low_confidence_boxes_do_not_count():
    f, c, _, off = boxes([[([1, 0], 0)], [([1, 0], 0)]])
    sim = ccms_similarity(f, c, np.array([0.9, 0.1]), off, [0, 1], [0, 1], conf_threshold=0.25)
    assert sim[0, 1] == -1


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.tuples(st.tuples(st.floats(-1, 1), st.floats(-1, 1)),
                                   st.integers(0, 2)), max_size=4), min_size=1, max_size=6))
def test_similarity_is_symmetric_bounded_and_one_on_the_diagonal(per_image):
    f, c, p, off = boxes(per_image)
    f = f + 1e-3  # no zero vectors
    n = len(per_image)
    sim = ccms_similarity(f, c, p, off, range(n), range(n))
    assert np.allclose(sim, sim.T) and np.all((-1 <= sim) & (sim <= 1))
    assert np.allclose(np.diag(sim), 1.0, atol=1e-9)


def test_k_center_on_distances_starts_from_the_centres():
    # candidates 0, 1 near the centre, 2 far from it
    d = np.array([[0.1, 0.0, 0.2, 1.0], [0.1, 0.2, 0.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    assert k_center_on_distances(d, 2).tolist() == [2, 0]
    assert k_center_on_distances(d, 3, cost_C=[1, 1, 5], budget=2).tolist() == [0, 1]
    assert len(k_center_on_distances(d[:, 1:], 3, random_state=0)) == 3  # no initial centre


def test_the_ppal_query_spreads_by_category(tmp_path):
    rng = np.random.default_rng(0)
    n = 30
    conf = np.full(2 * n, 0.5, np.float32)
    cls = rng.integers(0, 3, 2 * n)
    class_scores = np.full((2 * n, 3), 0.01, np.float32)
    class_scores[np.arange(2 * n), cls] = conf
    scores = PoolScores(
        paths=[f"{i}.jpg" for i in range(n)], hashes=np.array([str(i) for i in range(n)]),
        heights=np.full(n, 64), widths=np.full(n, 64),
        box_offsets=np.arange(0, 2 * n + 1, 2), box_xyxy=np.tile([1.0, 1, 9, 9], (2 * n, 1)),
        box_confidence=conf, box_class=cls, box_class_scores=class_scores,
        embeddings=rng.normal(size=(n, 4)).astype(np.float32), names=("a", "b", "c"),
        box_features=rng.normal(size=(2 * n, 32)).astype(np.float16))
    picked = run_query(query("ppal", budget=5), scores, labeled=[0, 1], random_state=0)
    assert len(picked.indices) == 5 and picked.params["diversity"] == "ccms"
    assert "spread by ccms" in picked.reasons[0]
    path = save_scores(scores, tmp_path / "s.npz")
    assert np.array_equal(load_scores(path).box_features, scores.box_features)
    without = load_scores(path)
    object.__setattr__(without, "box_features", None)
    fallback = run_query(query("ppal", budget=5), without, random_state=0)
    assert fallback.params["diversity"] == "kcenter" and "ccms_fallback" in fallback.params
    with pytest.raises(ValueError, match="diversity must be"):
        run_query(query("calibrated", budget=5, params={"diversity": "x"}), scores)
