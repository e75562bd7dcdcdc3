"""A cold start that works: TypiClust (numpy and scikit-learn only).

Hacohen, Dekel and Weinshall, "Active Learning on a Budget: Opposite Strategies Suit High and
Low Budgets", ICML 2022 (public code github.com/avihu111/TypiClust). With few labels a model's
uncertainty is mostly noise, and the images that help most are the *typical* ones of regions
the labeled set does not cover yet. alkit's implementation:

1. L2-normalize the embeddings and cluster the pool (labeled rows included) into
   ``K = labeled + budget`` clusters (k-means; MiniBatchKMeans above 50 clusters, as in the
   paper's code), at most one cluster per 2 images.
2. Typicality of an image inside its cluster: the inverse mean Euclidean distance to its
   ``k = min(20, cluster size - 1)`` nearest neighbours in that cluster,
   ``typ(x) = 1 / mean_{x' in kNN(x)} ||x - x'||``.
3. Pick one image at a time: among clusters of at least ``min_cluster_size`` images, the one
   with the fewest labeled (and already picked) images, the largest first; take its most
   typical unlabeled image. Clusters smaller than ``min_cluster_size`` are used only once the
   others run out.

With a cost budget (``cost_N``), an image that does not fit is passed over for the next
cluster's.
"""

from __future__ import annotations

import numpy as np

from alkit.core.randomness import check_random_state
from alkit.core.selection import Selection, _check_pool, labeled_mask

#: Neighbours of the typicality estimate (the paper's 20).
N_NEIGHBORS = 20
#: Clusters smaller than this are used last (the paper drops clusters under 5 images).
MIN_CLUSTER_SIZE = 5


def cluster_embeddings(embeddings_N_D, n_clusters: int, *, random_state=None) -> np.ndarray:
    """(N,) k-means cluster of each row of the L2-normalized ``embeddings_N_D`` (N, D).

    ``n_clusters`` is clipped to [1, N]; KMeans up to 50 clusters, MiniBatchKMeans above.
    ``random_state``: ``None``, an int seed or a ``numpy.random.Generator``.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    x = _normalized(embeddings_N_D)
    k = int(np.clip(n_clusters, 1, len(x)))
    seed = int(check_random_state(random_state).integers(2**31 - 1))
    if k == 1:
        return np.zeros(len(x), dtype=np.int64)
    model = (KMeans(k, n_init=1, random_state=seed) if k <= 50 else
             MiniBatchKMeans(k, n_init=3, batch_size=max(1024, 3 * k), random_state=seed))
    return model.fit_predict(x).astype(np.int64)


def typicality(embeddings_N_D, *, n_neighbors: int = N_NEIGHBORS) -> np.ndarray:
    """(N,) ``1 / mean distance to the n_neighbors nearest other rows`` of the (N, D)
    ``embeddings_N_D``.

    ``n_neighbors`` is clipped to N - 1; a single row (no neighbour) gets typicality 1.0, and
    rows identical to all their neighbours get a large finite value (distance floor 1e-12).
    """
    x = np.asarray(embeddings_N_D, dtype=np.float64)
    n = len(x)
    k = min(int(n_neighbors), n - 1)
    if k < 1:
        return np.ones(n)
    sq = (x * x).sum(axis=1)
    d = np.sqrt(np.maximum(sq[:, None] - 2.0 * x @ x.T + sq[None, :], 0.0))
    np.fill_diagonal(d, np.inf)
    nearest = np.partition(d, k - 1, axis=1)[:, :k]
    return 1.0 / np.maximum(nearest.mean(axis=1), 1e-12)


def typiclust_selection(embeddings_N_D, budget: float, *, labeled=None, cost_N=None,
                        n_budget_images: int | None = None, n_neighbors: int = N_NEIGHBORS,
                        min_cluster_size: int = MIN_CLUSTER_SIZE, random_state=None
                        ) -> Selection:
    """TypiClust (module docstring): the most typical image of each uncovered cluster.

    Args:
        embeddings_N_D: (N, D) image embeddings of the pool (labeled rows included).
        budget: images to pick (or, with ``cost_N``, the total cost).
        labeled: pool rows already labeled (mask or indices); they cover their clusters.
        cost_N: (N,) per-image cost; ``budget`` is then a total cost.
        n_budget_images: images the budget buys, for the number of clusters (default:
            ``budget`` without ``cost_N``; with it, ``budget`` over the median cost).
        n_neighbors: neighbours of the typicality estimate.
        min_cluster_size: smaller clusters are used last.
        random_state: ``None``, an int seed or a ``numpy.random.Generator`` (k-means).
    Returns:
        a :class:`Selection` whose scores are the picks' typicality and whose reasons name
        the cluster and its size.
    """
    n = _check_pool(None, embeddings_N_D)
    mask = labeled_mask(labeled, n)
    cost = None if cost_N is None else np.asarray(cost_N, dtype=np.float64)
    if n_budget_images is None:
        n_budget_images = budget_images(budget, cost, mask)
    n_clusters = min(int(mask.sum()) + max(n_budget_images, 1), max(n // 2, 1))
    cluster = cluster_embeddings(embeddings_N_D, n_clusters, random_state=random_state)
    picks, scores, reasons = _pick_typical(_normalized(embeddings_N_D), cluster, mask, budget,
                                           cost, n_neighbors, min_cluster_size)
    return Selection(np.array(picks, dtype=np.int64), np.array(scores), reasons, "typiclust",
                     {"budget": budget, "n_clusters": int(cluster.max()) + 1,
                      "n_neighbors": n_neighbors})


def budget_images(budget: float, cost_N=None, labeled=None) -> int:
    """Images a budget buys: ``budget`` itself, or with a (N,) ``cost_N`` the budget over the
    median cost of the unlabeled rows (``labeled``: mask or indices; 1.0 when none is free)."""
    if cost_N is None:
        return int(budget)
    cost = np.asarray(cost_N, dtype=np.float64)
    free = ~labeled_mask(labeled, len(cost))
    return int(budget / max(float(np.median(cost[free])) if free.any() else 1.0, 1e-9))


def _pick_typical(x, cluster, mask, budget, cost, n_neighbors, min_cluster_size):
    n_clusters = int(cluster.max()) + 1
    size = np.bincount(cluster, minlength=n_clusters)
    covered = np.bincount(cluster[mask], minlength=n_clusters).astype(np.int64)
    remaining = np.bincount(cluster[~mask], minlength=n_clusters)
    taken = mask.copy()
    ranked: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # cluster -> rows, typicality
    picks, scores, reasons, spent = [], [], [], 0.0
    while cost is not None or len(picks) < int(budget):
        open_ = np.flatnonzero(remaining > 0)
        if not len(open_):
            break
        # fewest labeled first, then clusters of min_cluster_size or more, then the largest
        c = int(open_[np.lexsort((-size[open_], size[open_] < min_cluster_size,
                                  covered[open_]))[0]])
        if c not in ranked:
            members = np.flatnonzero(cluster == c)
            typ = typicality(x[members], n_neighbors=n_neighbors)
            order = np.argsort(-typ, kind="stable")
            ranked[c] = members[order], typ[order]
        rows, typ = ranked[c]
        free = ~taken[rows]
        if cost is not None:
            free &= spent + cost[rows] <= budget
        if not free.any():
            remaining[c] = 0  # nothing left here that fits
            continue
        j = int(np.argmax(free))
        i = int(rows[j])
        picks.append(i)
        scores.append(float(typ[j]))
        reasons.append(f"typical of cluster {c} ({size[c]} images, {covered[c]} labeled)")
        taken[i] = True
        covered[c] += 1
        remaining[c] -= 1
        spent += 0.0 if cost is None else cost[i]
    return picks, scores, reasons


def _normalized(embeddings_N_D) -> np.ndarray:
    x = np.asarray(embeddings_N_D, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
