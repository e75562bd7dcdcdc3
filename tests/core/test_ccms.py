"""PPAL's category-conditioned matching similarity, score-weighted as its code computes it, and
the ppal strategy's k-medoids spread over it."""

import numpy as np
import pytest
from core_fixtures import make_scores
from hypothesis import given, settings
from hypothesis import strategies as st

from alkit.core.ccms import ccms_similarity
from alkit.core.context import RoundContext
from alkit.core.query import query, run_query
from alkit.data.scorefile import load_scores, save_scores


def boxes(per_image, confidence=0.9):
    """(features, classes, confidences, offsets) from per-image lists of (feature, class)."""
    flat = [b for image in per_image for b in image]
    features = np.array([f for f, _ in flat], float).reshape(-1, 2)
    classes = np.array([c for _, c in flat], int)
    offsets = np.concatenate([[0], np.cumsum([len(i) for i in per_image])])
    return features, classes, np.full(len(flat), confidence), offsets


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


def _ppal_distance(features, classes, scores, offsets, threshold):
    """PPAL's get_img_score_distance_matrix_slow (mmdet/ppal/models/utils.py, metric
    'cosine', same_label=True) in numpy, for images that each hold a box above the threshold,
    without its line that zeroes the distance between the k-th boxes of any two images (a
    self-distance guard applied across images; docs/selection.md)."""
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    n = len(offsets) - 1
    distance = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            a = np.arange(offsets[i], offsets[i + 1])
            b = np.arange(offsets[j], offsets[j + 1])
            a, b = a[scores[a] > threshold], b[scores[b] > threshold]
            d = 1 - unit[a] @ unit[b].T
            d[classes[a][:, None] != classes[b][None, :]] = 2.0
            distance[i, j] = (scores[a] * d.min(axis=1)).sum() / (scores[a].sum() + 1e-5)
    return 0.5 * (distance + distance.T)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 7), st.integers(0, 2**16))
def test_the_distance_is_ppals_score_weighted_one(n, seed):
    """Yang et al., CVPR 2024, PPAL's CCMS: a confident box weighs more than a faint one."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 4, n)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    m = offsets[-1]
    features = rng.normal(size=(m, 5))
    classes = rng.integers(0, 2, m)
    scores = rng.uniform(0.3, 1.0, m)
    sim = ccms_similarity(features, classes, scores, offsets, range(n), range(n),
                          conf_threshold=0.05)
    np.testing.assert_allclose(1 - sim, _ppal_distance(features, classes, scores, offsets,
                                                       0.05), atol=1e-4)


def test_a_confident_box_decides_more_than_a_faint_one():
    # image 0: a sure box like image 1's and a faint box unlike anything in image 1
    f, c, _, off = boxes([[([1, 0], 0), ([0, 1], 0)], [([1, 0], 0)]])
    sure_first = ccms_similarity(f, c, np.array([0.9, 0.1, 0.9]), off, [0, 1], [0, 1],
                                 conf_threshold=0.05)
    faint_first = ccms_similarity(f, c, np.array([0.1, 0.9, 0.9]), off, [0, 1], [0, 1],
                                  conf_threshold=0.05)
    assert sure_first[0, 1] > faint_first[0, 1]


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


def test_the_ppal_strategy_spreads_by_medoids_of_the_category_similarity(tmp_path):
    rng = np.random.default_rng(0)
    per_image = [[(0.5, int(rng.integers(3))), (0.5, int(rng.integers(3)))] for _ in range(30)]
    scores = make_scores(per_image, box_features=rng.normal(size=(60, 32)))
    context = RoundContext.of(scores, labeled=[0, 1], class_quality=[0.5, 0.2, 0.9])
    picked = run_query(query("ppal", budget=5), scores, context, random_state=0)
    assert len(picked) == 5 and not {0, 1} & set(picked.indices.tolist())
    assert "spread by medoids" in picked.reasons[0] and picked.params["n_shortlist"] == 20
    assert "ccms_fallback" not in picked.params
    path = save_scores(scores, tmp_path / "s.npz")
    assert np.array_equal(load_scores(path).box_features, scores.box_features)
    without = load_scores(path)
    object.__setattr__(without, "box_features", None)
    fallback = run_query(query("ppal", budget=5), without, context, random_state=0)
    assert len(fallback) == 5 and "cosine distance" in fallback.params["ccms_fallback"]
    with pytest.raises(ValueError, match="needs the model's class quality"):
        run_query(query("ppal", budget=5), scores, random_state=0)
