"""Category-conditioned matching similarity between images (numpy only).

PPAL's diversity step (CCMS; Yang et al., "Plug and Play Active Learning for Object
Detection", CVPR 2024; public code github.com/ChenhongyiYang/PPAL,
``mmdet/ppal/models/utils.py``, ``get_img_score_distance_matrix_slow``): two images are alike
when, for each object of one, the other holds an object **of the same predicted class** that
looks alike. With ``f`` the boxes' feature vectors (cosine similarity), ``c`` their predicted
classes and ``p`` their confidences::

    s(A -> B) = sum_{a in A} p_a * max_{b in B, c_b = c_a} cos(f_a, f_b) / sum_{a in A} p_a
                (the max is -1 when B has no box of class c_a)
    sim(A, B) = (s(A -> B) + s(B -> A)) / 2

so a confident object weighs more than a faint one in how alike two images are. Only boxes at
or above a confidence threshold count (PPAL: 0.05). The distance ``1 - sim`` (PPAL's
``1 - cos``, 2 for another class) is what its k-medoids spreads a shortlist over
(:func:`alkit.core.clusters.k_medoids`).

Two deliberate differences from the code (the paper's formula is followed in both): in PPAL's
code an image without a counted box is at distance 0 from every image (its comment calls this
a potential bug), while here it is like another image without one (similarity 1) and unlike
every image with boxes (-1); and the code zeroes the distance between the k-th boxes of *any*
two images (``feat_distances_i[:, dets_indices, dets_indices] = 0``, a guard meant for an
image against itself, applied across images), which alkit does not.
"""

from __future__ import annotations

import numpy as np


def _image_boxes(features_M_F, class_M, confidence_M, offsets, rows, conf_threshold):
    """The counted boxes of the images ``rows``: (features normalized, class, confidence,
    image position)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    spans = [np.arange(offsets[r], offsets[r + 1]) for r in rows]
    boxes = np.concatenate(spans) if spans else np.zeros(0, np.int64)
    owner = np.repeat(np.arange(len(rows)), [len(s) for s in spans])
    keep = np.asarray(confidence_M)[boxes] >= conf_threshold
    boxes, owner = boxes[keep], owner[keep]
    f = np.asarray(features_M_F, dtype=np.float64)[boxes]
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    confidence = np.asarray(confidence_M, dtype=np.float64)[boxes]
    return f, np.asarray(class_M)[boxes], confidence, owner


def directed_similarity(a, b, n_a: int, n_b: int) -> np.ndarray:
    """(n_a, n_b) ``s(A -> B)`` from the counted boxes ``a`` and ``b`` (each ``(features,
    classes, confidences, owner image)`` as :func:`_image_boxes` gives): the
    confidence-weighted mean over A's boxes of the best same-class cosine in B (-1 when B
    has no box of that class); NaN for an image of A without boxes."""
    fa, ca, pa, oa = a
    fb, cb, _, ob = b
    total = np.zeros((n_a, n_b))
    for cls in np.unique(ca):
        in_a, in_b = np.flatnonzero(ca == cls), np.flatnonzero(cb == cls)
        best = np.full((len(in_a), n_b), -1.0)
        if len(in_b):
            cos = fa[in_a] @ fb[in_b].T                                  # (boxes a, boxes b)
            np.maximum.at(best.T, ob[in_b], cos.T)  # best[i, image j] = max over j's boxes
        np.add.at(total, oa[in_a], pa[in_a, None] * best)
    weight = np.bincount(oa, weights=pa, minlength=n_a)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / weight[:, None]


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
    empty_a = np.bincount(a[3], minlength=n_a) == 0
    empty_b = np.bincount(b[3], minlength=n_b) == 0
    sim[empty_a[:, None] | empty_b[None, :]] = -1.0
    sim[empty_a[:, None] & empty_b[None, :]] = 1.0
    return np.clip(sim, -1.0, 1.0)
