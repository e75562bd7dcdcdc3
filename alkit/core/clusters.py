"""Clusters of the pool, and the spreads built on them (numpy and scikit-learn only).

* :func:`cluster_embeddings`: k-means of the L2-normalized embeddings (KMeans up to 50
  clusters, MiniBatchKMeans above, as TypiClust's code does).
* :func:`typicality` and :func:`typiclust_order`: TypiClust's cold start. Hacohen, Dekel and
  Weinshall, "Active Learning on a Budget: Opposite Strategies Suit High and Low Budgets",
  ICML 2022; public code github.com/avihu111/TypiClust, ``deep-al/pycls/al/typiclust.py``.
  With few labels the images that help most are the *typical* ones of regions the labeled
  set does not cover yet:

  1. cluster the pool (labeled rows included) into ``K = min(labeled + budget, 500)``
     clusters (the code's ``MAX_NUM_CLUSTERS``), at most one per image;
  2. pick one image at a time from the cluster with the fewest labeled (and already picked)
     images, the largest first, **among clusters of more than** ``min_cluster_size`` = 5
     images (the code drops the others; alkit turns to them only once no larger cluster has
     an unlabeled image left, so a budget larger than the big clusters still buys images);
  3. in that cluster, take the most typical of its still unlabeled images,
     ``typ(x) = 1 / mean_{x' in kNN(x)} ||x - x'||`` over its ``k = min(20, m // 2)``
     nearest unlabeled neighbours in the cluster (m of them; the code's choice of k), the
     paper's formula (its code feeds faiss' squared distances to the same mean: the order
     inside a cluster can differ where distances vary a lot; alkit follows the paper).

  alkit counts a pick as covering its cluster at once ("fewest labeled first" after every
  pick); the code goes round-robin over the clusters in their first order, which gives the
  same picks until every large cluster holds as many labeled images as the others.
* :func:`cluster_round_robin`: Cluster-Margin's spread of a ranked shortlist (Citovsky et al.,
  "Batch Active Learning at Scale", NeurIPS 2021).
* :func:`k_medoids`: PPAL's spread of its shortlist (Yang et al., CVPR 2024; public code
  github.com/ChenhongyiYang/PPAL, ``mmdet/ppal/sampler/diversity_sampler.py``): k-medoids on a
  distance matrix, initialized greedily (a random first medoid, then the point farthest from
  the medoids so far) and refined by medoid updates.

With a cost budget (``cost_N``), an image that does not fit is passed over for the next
cluster's.
"""

from __future__ import annotations

import numpy as np

from alkit.core.randomness import check_random_state
from alkit.core.selection import labeled_mask

#: TypiClust's neighbours of the typicality estimate (the code's ``K_NN``).
N_NEIGHBORS = 20
#: TypiClust's clusters of this many images or fewer are not used while larger ones have room.
MIN_CLUSTER_SIZE = 5
#: TypiClust's largest number of clusters (the code's ``MAX_NUM_CLUSTERS``).
MAX_CLUSTERS = 500
#: PPAL's medoid updates (its ``n_iter``); the updates stop earlier once nothing moves.
MEDOID_ITERATIONS = 100


#: :func:`cluster_embeddings` fits on at most this many rows per cluster (a random sample of
#: the pool; at least :data:`MIN_FIT_ROWS`), so that its cost does not grow with the pool.
FIT_ROWS_PER_CLUSTER = 20
MIN_FIT_ROWS = 10_000
#: Above this many clusters MiniBatchKMeans starts from random rows, not k-means++: for 1,000
#: clusters of 20,000 x 256 random unit rows k-means++ took 69 s against 8.4 s, for an inertia
#: within 0.3% (a loaded 2-core CPU; on structured embeddings the gap in inertia is not measured);
#: up to 200 clusters it costs no more than the fit.
KMEANS_PP_MAX_CLUSTERS = 200


def cluster_embeddings(embeddings_N_D, n_clusters: int, *, rows=None, random_state=None
                       ) -> np.ndarray:
    """The k-means cluster of rows of the L2-normalized ``embeddings_N_D`` (N, D).

    ``n_clusters`` is clipped to [1, N]; KMeans up to 50 clusters, MiniBatchKMeans above
    (k-means++ starts up to :data:`KMEANS_PP_MAX_CLUSTERS` clusters, random ones above). The
    clusters are fitted on all rows, or on a random sample of ``max(20 * k, 10,000)`` rows of a
    larger pool (:data:`FIT_ROWS_PER_CLUSTER`, :data:`MIN_FIT_ROWS`), and ``rows`` (default:
    all) are assigned to them: (len(rows),) int64. ``random_state``: ``None``, an int seed or
    a ``numpy.random.Generator`` (the sample and the k-means).
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    x = normalized(embeddings_N_D)
    rows = np.arange(len(x)) if rows is None else np.asarray(rows, dtype=np.int64)
    k = int(np.clip(n_clusters, 1, len(x)))
    rng = check_random_state(random_state)
    seed = int(rng.integers(2**31 - 1))
    if k == 1:
        return np.zeros(len(rows), dtype=np.int64)
    init = "k-means++" if k <= KMEANS_PP_MAX_CLUSTERS else "random"
    model = (KMeans(k, n_init=1, random_state=seed) if k <= 50 else
             MiniBatchKMeans(k, init=init, n_init=3, batch_size=max(1024, 3 * k),
                             random_state=seed))
    n_fit = max(FIT_ROWS_PER_CLUSTER * k, MIN_FIT_ROWS)
    if n_fit >= len(x):
        return model.fit_predict(x)[rows].astype(np.int64)
    model.fit(x[np.sort(rng.choice(len(x), n_fit, replace=False))])
    return model.predict(x[rows]).astype(np.int64)


def typicality(embeddings_N_D, *, n_neighbors: int = N_NEIGHBORS) -> np.ndarray:
    """(N,) ``1 / mean distance to the k nearest other rows`` of the (N, D) ``embeddings_N_D``,
    ``k = min(n_neighbors, N // 2)`` (at least 1).

    A single row (no neighbour) gets typicality 1.0; rows identical to all their neighbours
    get a large finite value (distance floor 1e-12).
    """
    x = np.asarray(embeddings_N_D, dtype=np.float64)
    n = len(x)
    k = max(1, min(int(n_neighbors), n // 2))
    if n < 2:
        return np.ones(n)
    sq = (x * x).sum(axis=1)
    d = np.sqrt(np.maximum(sq[:, None] - 2.0 * x @ x.T + sq[None, :], 0.0))
    np.fill_diagonal(d, np.inf)
    nearest = np.partition(d, k - 1, axis=1)[:, :k]
    return 1.0 / np.maximum(nearest.mean(axis=1), 1e-12)


def typiclust_order(embeddings_N_D, budget: float, *, labeled=None, cost_N=None,
                    n_budget_images: int | None = None, n_neighbors: int = N_NEIGHBORS,
                    min_cluster_size: int = MIN_CLUSTER_SIZE, max_clusters: int = MAX_CLUSTERS,
                    random_state=None) -> tuple[list[int], list[float], list[str], int]:
    """TypiClust's picks (module docstring): ``(rows, typicality, reasons, n_clusters)``.

    Args:
        embeddings_N_D: (N, D) image embeddings of the pool (labeled rows included).
        budget: images to pick (or, with ``cost_N``, the total cost).
        labeled: pool rows already labeled (mask or indices); they cover their clusters.
        cost_N: (N,) per-image cost; ``budget`` is then a total cost.
        n_budget_images: images the budget buys, for the number of clusters (default:
            :func:`budget_images`).
        n_neighbors: neighbours of the typicality estimate.
        min_cluster_size: clusters of this many images or fewer wait until no larger one has
            an unlabeled image left.
        max_clusters: the most clusters.
        random_state: ``None``, an int seed or a ``numpy.random.Generator`` (k-means).
    """
    x = normalized(embeddings_N_D)
    n = len(x)
    mask = labeled_mask(labeled, n)
    cost = None if cost_N is None else np.asarray(cost_N, dtype=np.float64)
    if n_budget_images is None:
        n_budget_images = budget_images(budget, cost, mask)
    n_clusters = min(int(mask.sum()) + max(n_budget_images, 1), max_clusters, n)
    cluster = cluster_embeddings(x, n_clusters, random_state=random_state)
    size = np.bincount(cluster, minlength=n_clusters)
    covered = np.bincount(cluster[mask], minlength=n_clusters)
    free = ~mask
    picks, values, reasons, spent = [], [], [], 0.0
    open_ = np.bincount(cluster[free], minlength=n_clusters) > 0
    while open_.any() and (cost is not None or len(picks) < int(budget)):
        large = open_ & (size > min_cluster_size)
        candidates = np.flatnonzero(large if large.any() else open_)
        c = int(candidates[np.lexsort((-size[candidates], covered[candidates]))[0]])
        members = np.flatnonzero((cluster == c) & free)
        typ = typicality(x[members], n_neighbors=n_neighbors)
        fits = np.ones(len(members), bool) if cost is None else spent + cost[members] <= budget
        if not fits.any():
            open_[c] = False  # nothing left here that fits
            continue
        j = int(np.argmax(np.where(fits, typ, -np.inf)))
        i = int(members[j])
        picks.append(i)
        values.append(float(typ[j]))
        reasons.append(f"typical of cluster {c} ({size[c]} images, {covered[c]} labeled)")
        free[i] = False
        covered[c] += 1
        open_[c] = bool(np.any(free[cluster == c]))
        spent += 0.0 if cost is None else cost[i]
    return picks, values, reasons, int(n_clusters)


def budget_images(budget: float, cost_N=None, labeled=None) -> int:
    """Images a budget buys: ``budget`` itself, or with a (N,) ``cost_N`` the budget over the
    median cost of the unlabeled rows (``labeled``: mask or indices; 1.0 when none is free)."""
    if cost_N is None:
        return int(budget)
    cost = np.asarray(cost_N, dtype=np.float64)
    free = ~labeled_mask(labeled, len(cost))
    return int(budget / max(float(np.median(cost[free])) if free.any() else 1.0, 1e-9))


def cluster_round_robin(rows_R, clusters_N) -> np.ndarray:
    """(R,) ``rows_R`` (pool rows, best first) reordered round-robin over their clusters
    (``clusters_N``: (N,) int cluster of every pool row): the clusters holding the fewest of
    ``rows_R`` first (ties: the lower cluster id), each giving its best remaining row in turn
    (Cluster-Margin's order, Citovsky et al. 2021)."""
    rows = np.asarray(rows_R, dtype=np.int64)
    cluster = np.asarray(clusters_N, dtype=np.int64)[rows]
    ids, inverse, counts = np.unique(cluster, return_inverse=True, return_counts=True)
    # the row's turn: its rank inside its cluster; within a turn, smaller clusters first
    turn = np.empty(len(rows), dtype=np.int64)
    for c in range(len(ids)):
        members = np.flatnonzero(inverse == c)
        turn[members] = np.arange(len(members))
    return rows[np.lexsort((ids[inverse], counts[inverse], turn))]


def k_medoids(distance_R_R, k: int, *, n_iter: int = MEDOID_ITERATIONS, random_state=None
              ) -> np.ndarray:
    """(k,) positions of the medoids of ``distance_R_R``, a (R, R) symmetric distance matrix:
    PPAL's k-medoids
    (module docstring): greedy farthest-point initialization from a random first point, then
    up to ``n_iter`` rounds of "assign every point to its nearest medoid, make each cluster's
    point with the least summed distance to the others its medoid", until nothing moves.

    ``k`` is clipped to [0, R]; ``random_state``: ``None``, an int or a Generator (the first
    medoid). Returns int64 positions in initialization order of the clusters.
    """
    d = np.asarray(distance_R_R, dtype=np.float64)
    n = len(d)
    if d.shape != (n, n):
        raise ValueError(f"k_medoids needs a square distance matrix, got {d.shape}")
    k = int(np.clip(k, 0, n))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    medoids = [int(check_random_state(random_state).integers(n))]
    nearest = d[:, medoids[0]].copy()
    while len(medoids) < k:
        gap = nearest.copy()
        gap[medoids] = -1.0
        medoids.append(int(np.argmax(gap)))
        np.minimum(nearest, d[:, medoids[-1]], out=nearest)
    medoids = np.array(medoids, dtype=np.int64)
    for _ in range(n_iter):
        assign = np.argmin(d[:, medoids], axis=1)
        assign[medoids] = np.arange(k)  # a medoid stays in its own cluster (ties)
        updated = medoids.copy()
        for c in range(k):
            members = np.flatnonzero(assign == c)
            updated[c] = members[np.argmin(d[np.ix_(members, members)].sum(axis=1))]
        if np.array_equal(updated, medoids):
            break
        medoids = updated
    return medoids


def normalized(embeddings_N_D) -> np.ndarray:
    """The (N, D) ``embeddings_N_D`` as float64 rows of unit L2 norm (a zero row stays zero)."""
    x = np.asarray(embeddings_N_D, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must have shape (n_images, dim), got {x.shape}")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
