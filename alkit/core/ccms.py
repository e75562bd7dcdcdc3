"""Category-conditioned matching similarity between images (numpy only).

PPAL's diversity step (CCMS; Yang et al., "Plug and Play Active Learning for Object
Detection", CVPR 2024): two images are alike when, for each object of one, the other holds an
object **of the same predicted class** that looks alike. With ``f`` the boxes' feature
vectors (cosine similarity) and ``c`` their predicted classes::

    s(A -> B) = mean_{a in A}  max_{b in B, c_b = c_a} cos(f_a, f_b)     (-1 when B has none)
    sim(A, B) = (s(A -> B) + s(B -> A)) / 2

An image without a counted box is like another image without one (similarity 1) and unlike
every image with boxes (-1). Only boxes at or above a confidence threshold count. The distance
``1 - sim`` drives k-center greedy over a shortlist (:func:`k_center_on_distances`).
"""

from __future__ import annotations

import numpy as np


def _image_boxes(features_M_F, class_M, confidence_M, offsets, rows, conf_threshold):
    """The counted boxes of the images ``rows``: (features normalized, class, image position)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    spans = [np.arange(offsets[r], offsets[r + 1]) for r in rows]
    boxes = np.concatenate(spans) if spans else np.zeros(0, np.int64)
    owner = np.repeat(np.arange(len(rows)), [len(s) for s in spans])
    keep = np.asarray(confidence_M)[boxes] >= conf_threshold
    boxes, owner = boxes[keep], owner[keep]
    f = np.asarray(features_M_F, dtype=np.float64)[boxes]
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    return f, np.asarray(class_M)[boxes], owner


def directed_similarity(a, b, n_a: int, n_b: int) -> np.ndarray:
    """(n_a, n_b) ``s(A -> B)`` from the counted boxes ``a`` and ``b`` (each ``(features,
    classes, owner image)`` as :func:`_image_boxes` gives); NaN for an image of A without
    boxes."""
    fa, ca, oa = a
    fb, cb, ob = b
    total = np.zeros((n_a, n_b))
    for cls in np.unique(ca):
        in_a, in_b = np.flatnonzero(ca == cls), np.flatnonzero(cb == cls)
        best = np.full((len(in_a), n_b), -1.0)
        if len(in_b):
            cos = fa[in_a] @ fb[in_b].T                                  # (boxes a, boxes b)
            np.maximum.at(best.T, ob[in_b], cos.T)  # best[i, image j] = max over j's boxes
        np.add.at(total, oa[in_a], best)
    counts = np.bincount(oa, minlength=n_a).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / counts[:, None]


def ccms_similarity(features_M_F, class_M, confidence_M, box_offsets, rows_a, rows_b, *,
                    conf_threshold: float = 0.25) -> np.ndarray:
    """(len(rows_a), len(rows_b)) symmetric category-conditioned similarity (module docstring).

    Args:
        features_M_F: (M, F) per-box features of the whole pool (any scale; cosine is used).
        class_M: (M,) predicted class of every box.
        confidence_M: (M,) box confidences; boxes below ``conf_threshold`` do not count.
        box_offsets: (N + 1,) image i owns boxes ``box_offsets[i]:box_offsets[i + 1]``.
        rows_a: the images of the rows (pool indices).
        rows_b: the images of the columns (pool indices).
        conf_threshold: the lowest confidence that counts.
    Returns:
        float64 values in [-1, 1].
    """
    a = _image_boxes(features_M_F, class_M, confidence_M, box_offsets, rows_a, conf_threshold)
    b = _image_boxes(features_M_F, class_M, confidence_M, box_offsets, rows_b, conf_threshold)
    n_a, n_b = len(rows_a), len(rows_b)
    sim = (directed_similarity(a, b, n_a, n_b) + directed_similarity(b, a, n_b, n_a).T) / 2
    empty_a = np.bincount(a[2], minlength=n_a) == 0
    empty_b = np.bincount(b[2], minlength=n_b) == 0
    sim[empty_a[:, None] | empty_b[None, :]] = -1.0
    sim[empty_a[:, None] & empty_b[None, :]] = 1.0
    return np.clip(sim, -1.0, 1.0)


def k_center_on_distances(distance_C_K, n_select: int, *, cost_C=None, budget=None,
                          random_state=None) -> np.ndarray:
    """k-center greedy over a precomputed distance matrix: candidates (rows) against the
    initial centres (the first columns) and the candidates themselves (the last C columns, in
    row order): repeatedly the candidate farthest from every centre so far.

    Args:
        distance_C_K: (C, L + C) distances, columns = L initial centres then the C candidates.
        n_select: how many to pick (ignored with ``cost_C``: then ``budget`` bounds the cost).
        cost_C: (C,) per-candidate cost, or ``None``.
        budget: the total cost allowed with ``cost_C``.
        random_state: the first pick's draw when there is no initial centre (``None``, an int
            or a ``numpy.random.Generator``).
    Returns:
        (K,) int64 candidate positions (rows), in pick order.
    """
    from alkit.core.randomness import check_random_state

    d = np.asarray(distance_C_K, dtype=np.float64)
    n_cand = d.shape[0]
    n_init = d.shape[1] - n_cand
    nearest = d[:, :n_init].min(axis=1) if n_init else np.full(n_cand, np.inf)
    taken = np.zeros(n_cand, bool)
    cost = None if cost_C is None else np.asarray(cost_C, dtype=np.float64)
    picks, spent = [], 0.0
    while len(picks) < n_cand and (cost is not None or len(picks) < n_select):
        score = np.where(taken, -np.inf, nearest)
        if cost is not None:
            score = np.where(spent + cost > budget, -np.inf, score)
        open_rows = np.flatnonzero(score > -np.inf)
        if not len(open_rows):
            break
        if not n_init and not picks:
            j = int(check_random_state(random_state).choice(open_rows))
        else:
            j = int(np.argmax(score))
        picks.append(j)
        taken[j] = True
        spent += 0.0 if cost is None else cost[j]
        np.minimum(nearest, d[:, n_init + j], out=nearest)
    return np.array(picks, dtype=np.int64)
