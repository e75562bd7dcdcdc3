"""Query-by-committee disagreement for detection (numpy only).

For one image, take every member's boxes at or above ``conf_threshold`` and group them across
members (:func:`alkit.core.boxes.match_boxes`). For a group g found by the set S_g of the M
members:

* presence  P_g = 1 - |S_g| / M            (boxes found by some members and not others)
* votes     V_g = H(classes voted by S_g) / log M    (class vote entropy, in [0, 1])
* location  L_g = 1 - mean pairwise IoU of the boxes in g   (0 for a single box)

and ``d_g = w_P * P_g + w_V * V_g + w_L * L_g`` with weights summing to 1 (default 1/3 each).
The image's disagreement is the ``reduction`` (default ``"max"``) of its d_g, and 0 when no
member finds anything (they agree the image is empty). Members that agree exactly score 0; the
score is at most 1. Training and scoring the members is :mod:`alkit.model.committee`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alkit.core.boxes import box_iou, match_boxes
from alkit.core.detections import Detections
from alkit.core.uncertainty import reduce_boxes

EQUAL_WEIGHTS = (1 / 3, 1 / 3, 1 / 3)


def group_disagreement(members: Sequence[Detections], group, n_members: int,
                       weights=EQUAL_WEIGHTS) -> float:
    """``d_g`` of one matched group of ``(member, box index)`` pairs (module docstring).

    Args:
        members: one :class:`Detections` per committee member, for the same image; ``group``
            indexes into them.
        group: one group of :func:`alkit.core.boxes.match_boxes`, a list of
            ``(member, box index)`` with at most one box per member.
        n_members: M, the committee size (the denominator of the presence term and the base of
            the vote-entropy normalization ``log M``).
        weights: ``(w_P, w_V, w_L)``, the weights of the presence, votes and location terms
            (not checked here; :func:`image_disagreement` requires them >= 0 summing to 1).
    Returns:
        ``d_g``, a float in [0, 1] for valid weights.
    """
    w_presence, w_votes, w_location = weights
    presence = 1.0 - len(group) / n_members
    votes = np.array([members[m].class_id[b] for m, b in group])
    _, counts = np.unique(votes, return_counts=True)
    p = counts / counts.sum()
    vote_entropy = float(-(p * np.log(p)).sum() / np.log(n_members)) if n_members > 1 else 0.0
    boxes = np.stack([members[m].xyxy[b] for m, b in group])
    if len(boxes) > 1:
        iou = box_iou(boxes, boxes)
        location = 1.0 - float(iou[np.triu_indices(len(boxes), 1)].mean())
    else:
        location = 0.0
    return w_presence * presence + w_votes * vote_entropy + w_location * location


def image_disagreement(members: Sequence[Detections], *, conf_threshold: float = 0.25,
                       iou_threshold: float = 0.5, weights=EQUAL_WEIGHTS,
                       reduction="max") -> float:
    """Disagreement of M members (one :class:`Detections` each) on one image, in [0, 1].

    Args:
        members: M :class:`Detections`, one per committee member, for the same image.
        conf_threshold: only boxes with confidence at or above it count.
        iou_threshold: the IoU at or above which boxes of different members are matched into
            one group (:func:`alkit.core.boxes.match_boxes`).
        weights: ``(w_P, w_V, w_L)`` of the presence, votes and location terms; each >= 0,
            summing to 1 (``ValueError`` otherwise). Default 1/3 each.
        reduction: how the groups' ``d_g`` combine into the image's score: ``"max"``,
            ``"mean_n"`` (mean of the 3 largest), ``"min"``, ``"mean"``, ``"sum"`` or a
            callable (:func:`alkit.core.uncertainty.reduce_boxes`). No group at all gives 0.
    """
    if abs(sum(weights) - 1.0) > 1e-9 or min(weights) < 0:
        raise ValueError(f"weights must be >= 0 and sum to 1, got {weights}")
    kept = [d[d.confidence >= conf_threshold] for d in members]
    groups = match_boxes(kept, iou_threshold=iou_threshold)
    scores = [group_disagreement(kept, g, len(members), weights) for g in groups]
    return reduce_boxes(scores, reduction, empty_score=0.0)


def committee_disagreement(member_scores: Sequence, *, conf_threshold: float | None = None,
                           iou_threshold: float = 0.5, weights=EQUAL_WEIGHTS,
                           reduction="max") -> np.ndarray:
    """(N,) disagreement per pool image from the members' :class:`alkit.PoolScores` (same
    images in the same order); usable as the uncertainty term of any selector.

    Args:
        member_scores: one :class:`alkit.PoolScores` per committee member, all of the same N
            pool images in the same order (checked by image hash; ``ValueError`` otherwise).
        conf_threshold: boxes at or above it count; ``None`` uses the first member's
            ``conf_threshold``.
        iou_threshold, weights, reduction: as in :func:`image_disagreement`, for every image.
    Returns:
        (N,) float64 scores in [0, 1], one per pool image (:func:`image_disagreement`).
    """
    first = member_scores[0]
    for other in member_scores[1:]:
        if list(other.hashes) != list(first.hashes):
            raise ValueError("committee members scored different images; score the same pool")
    threshold = first.conf_threshold if conf_threshold is None else conf_threshold
    return np.array([
        image_disagreement([s.detections(i) for s in member_scores], conf_threshold=threshold,
                           iou_threshold=iou_threshold, weights=weights, reduction=reduction)
        for i in range(len(first))])
