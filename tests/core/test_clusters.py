"""Clusters: TypiClust as its paper's code does it, PPAL's k-medoids, Cluster-Margin's
round-robin."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alkit.core.clusters import (
    cluster_embeddings,
    cluster_round_robin,
    k_medoids,
    typicality,
    typiclust_order,
)


def blobs(sizes, *, spread=0.05, seed=0):
    """Well separated gaussian blobs around orthogonal unit vectors (one per blob)."""
    rng = np.random.default_rng(seed)
    centres = np.eye(len(sizes))
    x = np.concatenate([c + spread * rng.normal(size=(n, len(sizes)))
                        for c, n in zip(centres, sizes, strict=True)])
    return x, np.repeat(np.arange(len(sizes)), sizes)


def test_typiclust_spends_no_budget_on_tiny_clusters_while_big_ones_have_room():
    """Hacohen et al., ICML 2022; public code github.com/avihu111/TypiClust,
    deep-al/pycls/al/typiclust.py (``MIN_CLUSTER_SIZE = 5``: clusters of 5 images or fewer are
    dropped; the rest sorted by fewest labeled, then largest). Five blobs of 200 images and five
    far pairs, a budget of 10: two typical images of every blob, no outlier. (alkit before this
    fix ordered tiny clusters after the large ones only within a "fewest labeled" tie, so the
    same budget bought all five pairs.)"""
    x, truth = blobs([200] * 5 + [2] * 5)
    rows, _, reasons, n_clusters = typiclust_order(x, 10, random_state=0)
    assert n_clusters == 10 and len(rows) == 10
    assert sorted(np.bincount(truth[rows], minlength=10).tolist()) == [0] * 5 + [2] * 5
    assert set(truth[rows]) == {0, 1, 2, 3, 4}
    sizes = [int(r.split("(")[1].split(" images")[0]) for r in reasons]
    assert min(sizes) > 5  # k-means may split a blob; it never picks from a tiny cluster


def test_tiny_clusters_are_used_once_no_larger_one_has_room():
    x, truth = blobs([8, 8, 2, 2])
    rows, *_ = typiclust_order(x, 18, max_clusters=4, random_state=0)
    assert len(rows) == 18 and set(truth[rows[:16]]) == {0, 1}
    assert set(truth[rows[16:]]) <= {2, 3}


def test_fewest_labeled_first_then_the_largest():
    x, truth = blobs([60, 40, 20, 30])
    labeled = np.flatnonzero(truth == 1)[:1]
    rows, *_ = typiclust_order(x, 3, labeled=labeled, random_state=0)
    assert truth[rows].tolist() == [0, 3, 2]  # the labeled blob 1 waits


def test_typicality_uses_half_the_cluster_at_most_and_the_dense_middle_wins():
    x = np.array([[0.0], [0.1], [-0.1], [0.2], [-0.2], [3.0]])
    typ = typicality(x, n_neighbors=20)  # k = min(20, 6 // 2) = 3
    d = np.abs(x - x.T) + np.diag(np.full(6, np.inf))
    np.testing.assert_allclose(typ, 1 / np.sort(d, axis=1)[:, :3].mean(axis=1))
    assert typ.argmax() == 0 and typ.argmin() == 5
    assert typicality(x[:1]).tolist() == [1.0]
    assert np.all(np.isfinite(typicality(np.zeros((4, 2)))))


def test_budget_in_cost_and_more_budget_than_pool():
    x, truth = blobs([10, 10])
    cost = np.where(truth == 0, 10.0, 1.0)
    rows, *_ = typiclust_order(x, 12, cost_N=cost, random_state=0)
    assert cost[rows].sum() <= 12
    everything, *_ = typiclust_order(x, 100, random_state=0)
    assert sorted(everything) == list(range(20))


def test_clusters_find_the_blobs():
    x, truth = blobs([30, 30, 30])
    found = cluster_embeddings(x, 3, random_state=0)
    for blob in range(3):
        assert len(set(found[truth == blob])) == 1


def _ppal_kmedoids(dis_matrix, k, first, n_iter=100):
    """PPAL's DiversitySampler.kmeans (mmdet/ppal/sampler/diversity_sampler.py) as published,
    with the random first centroid passed in: the reference of the fidelity test."""
    n = dis_matrix.shape[0]
    centroids = [first]
    while len(centroids) < k:
        diss = dis_matrix[:, centroids].min(axis=1)
        diss[centroids] = -1
        centroids.append(int(np.argmax(diss)))
    indices = np.arange(n)
    for _ in range(n_iter):
        assign = np.argmin(dis_matrix[:, centroids], axis=1)
        new = []
        for i in range(k):
            members = indices[assign == i]
            new.append(members[np.argmin(dis_matrix[members][:, members].sum(axis=1))])
        centroids = new
    return np.array(centroids)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 30), st.integers(1, 8), st.integers(0, 2**16))
def test_k_medoids_equals_ppals_code(n, k, seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, 3))
    d = np.linalg.norm(points[:, None] - points[None], axis=2)
    k = min(k, n)
    first = int(np.random.default_rng(seed).integers(n))
    np.testing.assert_array_equal(k_medoids(d, k, random_state=seed),
                                  _ppal_kmedoids(d, k, first))


def test_medoid_updates_move_from_the_outliers_to_the_middles():
    """The greedy start picks far points; the updates make each cluster's middle its medoid
    (what PPAL sends to annotators: representative images, not outlying ones)."""
    x, truth = blobs([9, 9, 9], spread=0.1, seed=1)
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    medoids = k_medoids(d, 3, random_state=0)
    assert sorted(truth[medoids]) == [0, 1, 2]
    for m in medoids:
        members = np.flatnonzero(truth == truth[m])
        assert m == members[np.argmin(d[np.ix_(members, members)].sum(axis=1))]
    start = k_medoids(d, 3, n_iter=0, random_state=0)
    assert not np.array_equal(np.sort(start), np.sort(medoids))
    with pytest.raises(ValueError, match="square"):
        k_medoids(np.zeros((2, 3)), 1)
    assert k_medoids(d, 0).tolist() == []


def test_round_robin_over_clusters_takes_the_smallest_clusters_first():
    clusters = np.array([0, 0, 0, 1, 1, 2, 9])  # row 6 is not in the shortlist
    rows = np.array([0, 1, 3, 5, 2, 4])  # best first
    assert cluster_round_robin(rows, clusters).tolist() == [5, 3, 0, 4, 1, 2]
    assert cluster_round_robin(np.array([], dtype=int), clusters).tolist() == []
