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


def sq_distance_to_nearest(points_N_D: np.ndarray, centers_C_D: np.ndarray,
                           chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """(N,) squared distance of each of the (N, D) ``points_N_D`` to its nearest row of the
    (C, D) ``centers_C_D`` (float32; ``inf`` without centres).

    ``|x|^2 - 2 x.c + |c|^2`` per (row, center), built in place in one (rows, centers) buffer
    (``chunk`` rows, 8,192 at most, so that it stays in cache), clipped at 0."""
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
        nearest = sq_distance_to_nearest(points, centers, chunk)
    else:
        nearest = np.full(len(points), np.inf, dtype=np.float32)
    cost = None
    if cost_N is not None:
        cost = np.asarray(cost_N, dtype=np.float64)
        cost = cost if whole else cost[pool_idx]
    norms = np.einsum("ij,ij->i", points, points)
    picks = _lazy_k_center(points, norms, nearest, rows, n_select, cost,
                           None if centers is not None else check_random_state(random_state),
                           n_initial=0 if centers is None else len(centers), chunk=chunk)
    radii = [float(np.sqrt(np.float32(r))) if np.isfinite(r) else np.inf for _, r in picks]
    chosen = [j for j, _ in picks]
    return (np.array(chosen if whole else pool_idx[chosen], dtype=np.int64).reshape(-1),
            np.array(radii))


DENSE_CENTERS = 1
"""While there are fewer centres than this (initial ones included), every open row is updated
densely after each pick (one chunked matrix-vector product over the pool) and the next pick is
the ``argmax``; from then on the updates are lazy. At 1 only a pool with no centre at all gets
its first centre densely, as before (against it every bound is ``inf``). A larger value
tightens the bounds before the heap starts: measured with ``benchmarks/bench_selection.py
--compare --dense-centers`` (1,000 of 1M x 256, no labeled row, 2 cores), 4 was 8-10% faster,
8 and more no faster or slower, and each changed the last bit of 2 or 3 radii of 1,000 (BLAS
rounds a product against 1 to 3 centres unlike the pool-wide one; never a pick). At 1 the picks
and radii are the lazy heap's bit for bit."""

_HEAP_BLOCK = 4096  # rows moved at a time from the sorted bounds into the heap


def _dense_update(points_N_D, norms_N, nearest_N, center_D, center_norm, chunk):
    """``nearest_N = min(nearest_N, max(|x|^2 - 2 x.c + |c|^2, 0))`` for every row, ``chunk``
    rows at a time (float32, the lazy update's arithmetic; a closed row, at -1, stays -1)."""
    step = max(1, chunk)
    buffer = np.empty(min(step, len(points_N_D)), dtype=np.float32)
    for lo in range(0, len(points_N_D), step):
        hi = min(lo + step, len(points_N_D))
        d = np.matmul(points_N_D[lo:hi], center_D, out=buffer[: hi - lo])
        d *= -2.0
        d += norms_N[lo:hi]
        d += center_norm
        np.maximum(d, 0.0, out=d)
        np.minimum(nearest_N[lo:hi], d, out=nearest_N[lo:hi])


def _lazy_k_center(points_N_D, norms_N, nearest_N, rows, budget, cost_N, random_state, *,
                   n_initial=0, chunk=DEFAULT_CHUNK):
    """Greedy farthest-point picks among ``rows`` (ascending indices into ``points_N_D``)
    with lazy distance updates.

    ``nearest_N`` (float32 squared distances to the ``n_initial`` initial centers, ``inf``
    without any; overwritten) only ever decreases as centers join, so a stale value is an upper
    bound of the true one. A max-heap keyed by ``(-bound, row)`` is popped until its top row is
    up to date with every center (updated only then, against the centers it has not seen): that
    row is the exact ``argmax`` with NumPy's tie-break (the lowest row), as if every row had
    been updated after every pick, at a fraction of the N x D work per pick. Each row's update
    uses the same float32 arithmetic as a dense update, ``|x|^2 - 2 x.c + |c|^2`` clipped at 0,
    against the picks' rows kept in one contiguous buffer (no gather of the centers' rows per
    update). The heap starts empty and takes the rows, sorted once by ``(-bound, row)``, a
    block at a time as its top reaches them (only the rows whose bounds come near the top are
    ever pushed). While there are fewer than ``DENSE_CENTERS`` centers, every open row is updated
    densely after each pick instead and the pick is the ``argmax`` over the open rows that fit.

    Returns ``[(row, squared distance when picked), ...]`` in pick order. With ``cost_N``,
    ``budget`` is a total cost and a row that no longer fits is dropped (spending only grows).
    With ``random_state`` (no initial center), the first pick is drawn at random among the
    rows that fit; every row is then updated densely against it.
    """
    import heapq

    n, dim = points_N_D.shape
    max_picks = budget if cost_N is None else np.inf
    picked: list[tuple[int, float]] = []
    spent = 0.0
    # the picks' rows and squared norms in pick order (doubled when full)
    capacity = min(len(rows), 1024) if cost_N is not None else min(len(rows), max(budget, 0))
    centers = np.empty((max(1, int(capacity)), dim), dtype=np.float32)
    center_norms = np.empty(len(centers), dtype=np.float32)

    def take(j: int) -> None:
        nonlocal centers, center_norms, spent
        t = len(picked)
        if t == len(centers):
            centers = np.concatenate([centers, np.empty_like(centers)])
            center_norms = np.concatenate([center_norms, np.empty_like(center_norms)])
        picked.append((j, float(nearest_N[j])))
        centers[t] = points_N_D[j]
        center_norms[t] = norms_N[j]
        spent += 0.0 if cost_N is None else cost_N[j]

    # dense phase: the rows that cannot be picked (not candidates, picked, no longer fitting)
    # sit at -1, below any distance
    closed = np.ones(n, dtype=bool)
    closed[rows] = False
    nearest_N[closed] = -1.0
    del closed
    if random_state is not None and len(rows):
        fits = np.ones(len(rows), bool) if cost_N is None else cost_N[rows] <= budget
        open_rows = np.flatnonzero(fits)
        if not len(open_rows) or (cost_N is None and budget <= 0):
            return picked
        take(int(rows[int(check_random_state(random_state).choice(open_rows))]))
    dense = 0  # picks that every row has been updated against
    while len(picked) < max_picks:
        if dense < len(picked):
            _dense_update(points_N_D, norms_N, nearest_N, centers[dense], center_norms[dense],
                          chunk)
            nearest_N[picked[dense][0]] = -1.0
            dense += 1
        if n_initial + len(picked) >= DENSE_CENTERS:
            break
        if cost_N is not None:
            nearest_N[spent + cost_N > budget] = -1.0
        j = int(np.argmax(nearest_N)) if n else 0
        if not n or nearest_N[j] < 0:
            return picked
        take(j)
    if len(picked) >= max_picks:
        return picked

    # lazy phase
    seen = np.full(n, len(picked), dtype=np.int64)  # centers each row's bound accounts for
    open_rows = rows[nearest_N[rows] >= 0]
    order = open_rows[np.argsort(-nearest_N[open_rows], kind="stable")]  # by (-bound, row)
    moved = 0  # rows of ``order`` in the heap so far
    cold = (-float(nearest_N[order[0]]), int(order[0])) if len(order) else None
    heap: list[tuple[float, int]] = []
    heappush, heappop, heapreplace = heapq.heappush, heapq.heappop, heapq.heapreplace
    while len(picked) < max_picks:
        if cold is not None and (not heap or cold < heap[0]):  # the next sorted rows first
            block = order[moved : moved + _HEAP_BLOCK]
            for item in zip((-nearest_N[block]).tolist(), block.tolist(), strict=True):
                heappush(heap, item)
            moved += len(block)
            cold = ((-float(nearest_N[order[moved]]), int(order[moved]))
                    if moved < len(order) else None)
            continue
        if not heap:
            break
        _, i = heap[0]
        if cost_N is not None and spent + cost_N[i] > budget:
            heappop(heap)  # never fits again: spending only grows
            continue
        t = len(picked)
        s = int(seen[i])
        if s < t:
            d = centers[s:t] @ points_N_D[i]
            d *= -2.0  # |x|^2 - 2 x.c + |c|^2, in that order
            d += norms_N[i]
            d += center_norms[s:t]
            nearest_N[i] = min(float(nearest_N[i]), max(float(d.min()), 0.0))
            seen[i] = t
            heapreplace(heap, (-float(nearest_N[i]), i))
            continue
        heappop(heap)
        take(i)
        seen[i] = t + 1
    return picked
