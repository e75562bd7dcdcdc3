"""TypiClust: typicality, clusters, and picks that cover the uncovered clusters."""

import numpy as np
import pytest

from alkit.core.typicality import cluster_embeddings, typicality, typiclust_selection


def blobs(sizes, *, spread=0.05, seed=0):
    """Well separated gaussian blobs on the unit sphere in 8 dimensions."""
    rng = np.random.default_rng(seed)
    centres = np.eye(8)[: len(sizes)]
    x = np.concatenate([c + spread * rng.normal(size=(n, 8))
                        for c, n in zip(centres, sizes, strict=True)])
    return x, np.repeat(np.arange(len(sizes)), sizes)


def test_typicality_is_highest_in_the_dense_middle():
    x = np.array([[0.0], [0.1], [-0.1], [0.2], [-0.2], [3.0]])
    typ = typicality(x, n_neighbors=2)
    assert typ.argmax() == 0 and typ.argmin() == 5
    assert typicality(x[:1]).tolist() == [1.0]
    assert np.all(np.isfinite(typicality(np.zeros((4, 2)))))


def test_clusters_find_the_blobs():
    x, truth = blobs([30, 30, 30])
    found = cluster_embeddings(x, 3, random_state=0)
    for blob in range(3):
        assert len(set(found[truth == blob])) == 1


def test_picks_cover_the_largest_uncovered_clusters_first():
    x, truth = blobs([60, 40, 20, 3])
    labeled = np.flatnonzero(truth == 1)[:1]
    picked = typiclust_selection(x, 2, labeled=labeled, random_state=0)
    assert sorted(truth[picked.indices]) == [0, 2]
    assert picked.strategy == "typiclust" and len(picked.reasons) == 2


def test_budget_in_cost_and_more_budget_than_pool():
    x, truth = blobs([10, 10])
    cost = np.where(truth == 0, 10.0, 1.0)
    picked = typiclust_selection(x, 12, cost_N=cost, random_state=0)
    assert cost[picked.indices].sum() <= 12
    everything = typiclust_selection(x, 100, random_state=0)
    assert sorted(everything.indices.tolist()) == list(range(20))


def test_deterministic_for_a_seed():
    x, _ = blobs([25, 25, 25], seed=3)
    a = typiclust_selection(x, 5, random_state=7).indices
    b = typiclust_selection(x, 5, random_state=7).indices
    assert a.tolist() == b.tolist()


def test_bad_embeddings_are_refused():
    with pytest.raises(ValueError):
        typiclust_selection(np.zeros(5), 2)
