"""k-center greedy (core-set) over image embeddings (numpy only).

Sener and Savarese, "Active Learning for Convolutional Neural Networks: A Core-Set Approach",
ICLR 2018: repeatedly pick the candidate farthest from every centre so far,
``argmax_i min_c ||x_i - x_c||``, and make it a centre. The labeled rows are the initial
centres, so the picks cover what the labeled set does not.
"""

from __future__ import annotations

import numpy as np

from alkit.core.randomness import check_random_state
from alkit.core.selection import _check_pool, labeled_mask

DEFAULT_CHUNK = 65_536


def _sq_distances_to(points_N_D: np.ndarray, centers_C_D: np.ndarray, chunk: int) -> np.ndarray:
    """(N,) squared distance of each point to its nearest center, in row chunks (float32).

    ``|x|^2 - 2 x.c + |c|^2`` per (row, center), built in place in one (rows, centers) buffer
    (8,192 rows at most, so that it stays in cache), clipped at 0."""
    best = np.full(len(points_N_D), np.inf, dtype=np.float32)
    center_norms = (centers_C_D * centers_C_D).sum(axis=1)
    step = max(1, min(chunk, 8192))
    for lo in range(0, len(points_N_D), step):
        block = points_N_D[lo : lo + step]
        block_norms = (block * block).sum(axis=1)[:, None]
        for c_lo in range(0, len(centers_C_D), 1024):
            d = block @ centers_C_D[c_lo : c_lo + 1024].T
            d *= -2.0
            d += block_norms
            d += center_norms[c_lo : c_lo + 1024][None, :]
            np.minimum(best[lo : lo + step], d.min(axis=1), out=best[lo : lo + step])
    return np.maximum(best, 0.0)


def k_center_greedy(embeddings_N_D, n_select: int, *, labeled=None, labeled_embeddings=None,
                    candidates=None, cost_N=None, random_state=None, chunk: int = DEFAULT_CHUNK
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Core-set selection by k-center greedy.

    Repeatedly picks the candidate farthest from every center so far, then makes it a center:
    ``argmax_i min_c ||x_i - x_c||``. The labeled pool rows and ``labeled_embeddings`` (for
    example the seed set's) are the initial centers; with none, the first pick is random.

    Args:
        embeddings_N_D: (N, D) pool embeddings (float32 internally; distances in chunks of
            ``chunk`` rows, so memory stays O(N)).
        n_select: picks to make (or, with ``cost_N``, the cost budget).
        labeled: pool rows already labeled (initial centers, never picked).
        labeled_embeddings: (L, D) more initial centers from outside the pool.
        candidates: rows that may be picked (default: every unlabeled row).
        cost_N: (N,) per-row cost; with it ``n_select`` is a total cost and a candidate that no
            longer fits is passed over.
        random_state: ``None``, an int seed or a ``numpy.random.Generator``; used only for the
            first pick when there is no initial center.
        chunk: rows per block of the distance computation.
    Returns:
        ``(indices, radii)``: picks in order and, for each, its distance to the nearest earlier
        center when picked (non-increasing: the covering radius of the candidates so far).
    """
    x = np.ascontiguousarray(embeddings_N_D, dtype=np.float32)
    n = _check_pool(None, x)
    mask = labeled_mask(labeled, n)
    allowed = ~mask if candidates is None else (np.isin(np.arange(n), candidates) & ~mask)
    pool_idx = np.flatnonzero(allowed)
    # most rows are candidates: work on x itself (no copy of a 1 GB matrix), heap over pool_idx
    whole = len(pool_idx) >= n // 2
    points = x if whole else x[pool_idx]
    rows = pool_idx if whole else np.arange(len(pool_idx))
    centers = [x[mask]]
    if labeled_embeddings is not None and len(labeled_embeddings):
        centers.append(np.asarray(labeled_embeddings, dtype=np.float32).reshape(-1, x.shape[1]))
    centers = np.concatenate(centers) if sum(len(c) for c in centers) else None
    if centers is not None:
        nearest = _sq_distances_to(points, centers, chunk)
    else:
        nearest = np.full(len(points), np.inf, dtype=np.float32)
    cost = None
    if cost_N is not None:
        cost = np.asarray(cost_N, dtype=np.float64)
        cost = cost if whole else cost[pool_idx]
    norms = np.einsum("ij,ij->i", points, points)
    picks = _lazy_k_center(points, norms, nearest, rows, n_select, cost,
                           None if centers is not None else random_state)
    radii = [float(np.sqrt(np.float32(r))) if np.isfinite(r) else np.inf for _, r in picks]
    chosen = [j for j, _ in picks]
    return (np.array(chosen if whole else pool_idx[chosen], dtype=np.int64).reshape(-1),
            np.array(radii))


def _lazy_k_center(points_N_D, norms_N, nearest_N, rows, budget, cost_N, random_state):
    """Greedy farthest-point picks among ``rows`` (ascending indices into ``points_N_D``)
    with lazy distance updates.

    ``nearest_N`` (float32 squared distances to the initial centers, ``inf`` without any) only
    ever decreases as centers join, so a stale value is an upper bound of the true one. A
    max-heap keyed by ``(-bound, row)`` is popped until its top row is up to date with every
    center (updated only then, against the centers it has not seen): that row is the exact
    ``argmax`` with NumPy's tie-break (the lowest row), as if every row had been updated after
    every pick, at a fraction of the N x D work per pick. Each row's update uses the same
    float32 arithmetic as a dense update, ``|x|^2 - 2 x.c + |c|^2`` clipped at 0.

    Returns ``[(row, squared distance when picked), ...]`` in pick order. With ``cost_N``,
    ``budget`` is a total cost and a row that no longer fits is dropped (spending only grows).
    With ``random_state`` (no initial center), the first pick is drawn at random among the
    rows that fit; every row is then updated densely against it.
    """
    import heapq

    picked: list[tuple[int, float]] = []
    centers: list[int] = []  # rows picked, in order
    seen = np.zeros(len(points_N_D), dtype=np.int64)  # centers each row's bound accounts for
    spent = 0.0
    if random_state is not None and len(rows):
        fits = np.ones(len(rows), bool) if cost_N is None else cost_N[rows] <= budget
        open_rows = np.flatnonzero(fits)
        if not len(open_rows) or (cost_N is None and budget <= 0):
            return picked
        j = int(rows[int(check_random_state(random_state).choice(open_rows))])
        picked.append((j, float(nearest_N[j])))
        spent += 0.0 if cost_N is None else cost_N[j]
        centers.append(j)
        to_new = norms_N - 2.0 * (points_N_D @ points_N_D[j]) + norms_N[j]
        np.minimum(nearest_N, np.maximum(to_new, 0.0), out=nearest_N)
        seen[:] = 1
    first = {j for j, _ in picked}
    heap = [(-v, i) for i, v in zip(rows.tolist(), nearest_N[rows].tolist(), strict=True)
            if i not in first]
    heapq.heapify(heap)
    while heap:
        if cost_N is None and len(picked) >= budget:
            break
        _, i = heap[0]
        if cost_N is not None and spent + cost_N[i] > budget:
            heapq.heappop(heap)  # never fits again: spending only grows
            continue
        if seen[i] < len(centers):
            new = np.asarray(centers[seen[i]:])
            to_new = norms_N[i] - 2.0 * (points_N_D[new] @ points_N_D[i]) + norms_N[new]
            value = min(float(nearest_N[i]), float(np.maximum(to_new, 0.0).min()))
            nearest_N[i] = value
            seen[i] = len(centers)
            heapq.heapreplace(heap, (-float(nearest_N[i]), i))
            continue
        heapq.heappop(heap)
        picked.append((i, float(nearest_N[i])))
        spent += 0.0 if cost_N is None else cost_N[i]
        centers.append(i)
        seen[i] = len(centers)
    return picked
