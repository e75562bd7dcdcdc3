"""Uncertainty of detections: per box, per image, per class (numpy only).

Shapes: ``scores_B_C`` is the class-score matrix of B boxes over C classes; ``u_B`` a per-box
uncertainty; ``box_offsets`` (N + 1,) split a pool's concatenated boxes into N images (image i
owns rows ``box_offsets[i]:box_offsets[i + 1]``).

**From sigmoid scores to a distribution.** YOLOv8/11 heads give each class an independent
sigmoid score p_c in (0, 1); they need not sum to 1 (a background box has all p_c small). The box
confidence Ultralytics reports is max_c p_c. Measures that need a distribution use the
renormalized vector q_c = p_c / sum_k p_k (so a box torn between two classes has high entropy
whatever its absolute level, and a background-like box with flat small scores counts as
uncertain). The per-class binary entropy treats each p_c as its own Bernoulli variable instead
and needs no renormalization.

Every per-box measure is oriented so that **higher means more uncertain**:

==================  ==========================================  ================
measure             formula                                      range
==================  ==========================================  ================
least_confidence    1 - max_c p_c                                 [0, 1]
margin              1 - (p_(1) - p_(2)), top two sorted scores    [0, 1]
entropy             -sum_c q_c log q_c                            [0, log C]
binary_entropy      -sum_c [p_c log p_c + (1-p_c) log(1-p_c)] / C [0, log 2]
detection_entropy   -[p log p + (1-p) log(1-p)], p = max_c p_c    [0, log 2]
joint_entropy       detection_entropy + p * entropy              [0, log(C + 1)]
==================  ==========================================  ================

(The raw margin p_(1) - p_(2), where small is uncertain, is :func:`margin`; the ``margin``
measure is its complement.) ``detection_entropy`` is the binary entropy of the box's
detection score, the per-box uncertainty of PPAL (Yang et al., CVPR 2024; public code
github.com/ChenhongyiYang/PPAL, ``mmdet/ppal/models/retinanet_al/al_retinanet_feat_head.py``,
``cls_uncertainties``): it peaks at p = 0.5, whether the box is a half-seen object or a
likely false positive. ``joint_entropy`` is the entropy of the box's distribution over "no
object" and the C classes, ``(1 - p, p q_1, ..., p q_C)``, which splits into the two:
``H_b(p) + p H(q)``. It sees both doubts, whether the box is an object and which class it is,
and with one class it is ``detection_entropy``.

**One class.** With C = 1 the renormalized vector is q = (1) for every box, so ``entropy`` is
0 everywhere and cannot rank: :func:`check_ranks` refuses it with a message that names the
class count and the measures to use instead. ``margin`` against nothing is p itself, so it
ranks as ``least_confidence`` does; ``binary_entropy``, ``detection_entropy`` and
``joint_entropy`` are the same measure there.

**Per image**, box uncertainties are combined with an explicit ``reduction``:

* ``"max"``: the most uncertain box, i.e. the weakest link (for least confidence:
  1 - the minimum box confidence);
* ``"mean_n"``: the mean of the ``n`` most uncertain boxes (the N least confident);
* ``"min"``: the least uncertain box (for least confidence: 1 - the maximum box confidence,
  the quantity behind the "most confident detection below 0.6" flag rule);
* ``"mean"``, ``"sum"``; or any callable ``f(u_B) -> float``.

Only boxes with confidence >= ``conf_threshold`` count. An image with no such box gets
``empty_score`` (default ``"max"``: the measure's upper bound, i.e. maximally uncertain).

**Candidate-level uncertainty** (:func:`candidate_scores`, table columns ``candidate_<measure>``)
looks below that threshold: every candidate the scorer kept (confidence down to 0.05, from the
same forward pass) counts, with two ways to add them up:

* ``"expected"`` (alkit's): ``U(image) = sum_b p_b * u_b * w_{c_b}``, each candidate weighted by
  how likely it is to be an object (``p_b = max_c p_bc``, the box confidence), so that a crowd
  of faint clutter counts little;
* ``"sum"`` (PPAL's difficulty-calibrated uncertainty, Yang et al., CVPR 2024; public code
  ``mmdet/ppal/sampler/difficulty_calibrated_uncertainty_sampler.py``):
  ``U(image) = sum_b u_b * w_{c_b}`` over the candidates at or above 0.05, unweighted.

``w_{c_b}`` is an optional weight of the box's predicted class (1 without; see
:mod:`alkit.core.difficulty`), PPAL's choice; with ``soft_weights`` a box weighs
``sum_c q_bc * w_c`` instead (its renormalized class scores ``q``), so a box read as a common
class with some score on a rare one counts partly rare: a weak model rarely *predicts* the
classes it has hardly seen, and hard weights would never reach them. An image with three
half-seen objects (p = 0.3 each) outranks an empty one (no candidate: U = 0) and one with a
single sure object (p = 0.95: u small).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_EPS = 1e-12
MEASURES = ("least_confidence", "margin", "entropy", "binary_entropy", "detection_entropy",
            "joint_entropy")
#: How candidate-level uncertainty adds up an image's candidates (:func:`candidate_scores`).
CANDIDATE_MODES = ("expected", "sum")
REDUCTIONS = ("max", "mean_n", "min", "mean", "sum")
#: The per-image columns of a score table (:attr:`alkit.PoolScores.table`): suffix, reduction.
TABLE_REDUCTIONS = (("max", "max"), ("mean3", "mean_n"), ("mean", "mean"), ("sum", "sum"))
#: The lowest candidate confidence the candidate-level measures read (the scorer keeps 0.05).
MIN_CANDIDATE_CONFIDENCE = 0.05
#: Candidate-level columns of a score table: ``candidate_<measure>`` (:func:`candidate_scores`).
CANDIDATE_MEASURES = tuple(f"candidate_{m}" for m in MEASURES)
#: Every score-table measure column: the values a query's ``measure`` may take.
TABLE_MEASURES = (*(f"{m}_{suffix}" for m in MEASURES for suffix, _ in TABLE_REDUCTIONS),
                  *CANDIDATE_MEASURES)


def _as_scores(scores_B_C) -> np.ndarray:
    scores = np.asarray(scores_B_C, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"expected class scores of shape (n_boxes, n_classes), got {scores.shape}")
    if scores.size and (np.nanmin(scores) < 0 or np.nanmax(scores) > 1):
        raise ValueError("class scores must be sigmoid outputs in [0, 1]")
    return scores


def least_confidence(scores_B_C) -> np.ndarray:
    """(B,) ``1 - max_c p_c``: 0 for a certain box, 1 when every class score is 0.

    ``scores_B_C`` is (B, C) sigmoid class scores in [0, 1] (B boxes, C classes).
    """
    scores = _as_scores(scores_B_C)
    if scores.shape[1] == 0:
        return np.ones(len(scores))
    return 1.0 - scores.max(axis=1)


def margin(scores_B_C) -> np.ndarray:
    """(B,) raw margin ``p_(1) - p_(2)`` between the two highest class scores.

    Small means uncertain. With one class the margin is ``p_(1)`` (against nothing); with
    none it is 0. ``scores_B_C`` is (B, C) sigmoid class scores in [0, 1] (B boxes, C classes).
    """
    scores = _as_scores(scores_B_C)
    if scores.shape[1] == 0:
        return np.zeros(len(scores))
    if scores.shape[1] == 1:
        return scores[:, 0].copy()
    top2 = -np.partition(-scores, 1, axis=1)[:, :2]
    return top2[:, 0] - top2[:, 1]


def margin_uncertainty(scores_B_C) -> np.ndarray:
    """(B,) ``1 - (p_(1) - p_(2))`` in [0, 1]: the margin turned so that high is uncertain.

    ``scores_B_C`` is (B, C) sigmoid class scores in [0, 1] (B boxes, C classes).
    """
    return 1.0 - margin(scores_B_C)


def normalized_distribution(scores_B_C) -> np.ndarray:
    """(B, C) ``q_c = p_c / sum_k p_k``; a box whose scores are all 0 becomes uniform.

    ``scores_B_C`` is (B, C) sigmoid class scores in [0, 1] (B boxes, C classes). Each row
    of the result sums to 1.
    """
    scores = _as_scores(scores_B_C)
    totals = scores.sum(axis=1, keepdims=True)
    uniform = np.full_like(scores, 1.0 / max(1, scores.shape[1]))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > _EPS, scores / np.maximum(totals, _EPS), uniform)


def entropy(scores_B_C) -> np.ndarray:
    """(B,) Shannon entropy (nats) of the renormalized scores ``q``: in [0, log C].

    ``scores_B_C`` is (B, C) sigmoid class scores in [0, 1] (B boxes, C classes).
    """
    q = normalized_distribution(scores_B_C)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, q * np.log(np.maximum(q, _EPS)), 0.0)
    return np.clip(-terms.sum(axis=1), 0.0, np.log(max(1, q.shape[1])))


def binary_entropy(scores_B_C) -> np.ndarray:
    """(B,) mean over classes of the Bernoulli entropy of each sigmoid score: in [0, log 2].

    ``-(1/C) sum_c [p_c log p_c + (1 - p_c) log(1 - p_c)]``. Unlike :func:`entropy` it sees the
    absolute level of the scores: a box with p = (0.5, 0.5) is more uncertain than one with
    p = (0.05, 0.05), which renormalization would call identical.

    ``scores_B_C`` is (B, C) sigmoid class scores in [0, 1] (B boxes, C classes).
    """
    p = np.clip(_as_scores(scores_B_C), _EPS, 1 - _EPS)
    if p.shape[1] == 0:
        return np.zeros(len(p))
    h = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    return np.clip(h.mean(axis=1), 0.0, np.log(2))


def detection_entropy(scores_B_C) -> np.ndarray:
    """(B,) binary entropy of each box's detection score ``p = max_c p_c``: in [0, log 2].

    ``-(p log p + (1 - p) log(1 - p))``, PPAL's per-box uncertainty (module docstring); it
    needs no second class, so it ranks a one-class detector's boxes.
    ``scores_B_C`` is (B, C) sigmoid class scores in [0, 1] (B boxes, C classes).
    """
    scores = _as_scores(scores_B_C)
    if scores.shape[1] == 0:
        return np.zeros(len(scores))
    p = np.clip(scores.max(axis=1), _EPS, 1 - _EPS)
    return np.clip(-(p * np.log(p) + (1 - p) * np.log(1 - p)), 0.0, np.log(2))


def joint_entropy(scores_B_C) -> np.ndarray:
    """(B,) entropy of the distribution ``(1 - p, p q_1, ..., p q_C)`` over "no object" and
    the classes, ``H_b(p) + p * H(q)`` with ``p = max_c p_c`` and ``q`` the renormalized
    class scores: in [0, log(C + 1)]; with one class it is :func:`detection_entropy`.

    ``scores_B_C`` is (B, C) sigmoid class scores in [0, 1] (B boxes, C classes).
    """
    scores = _as_scores(scores_B_C)
    if scores.shape[1] == 0:
        return np.zeros(len(scores))
    return detection_entropy(scores) + scores.max(axis=1) * entropy(scores)


_BOX_MEASURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "least_confidence": least_confidence,
    "margin": margin_uncertainty,
    "entropy": entropy,
    "binary_entropy": binary_entropy,
    "detection_entropy": detection_entropy,
    "joint_entropy": joint_entropy,
}


def check_ranks(measure: str, n_classes: int) -> None:
    """Refuse a measure that gives every box of a ``n_classes``-class model the same value.

    Only ``entropy`` over renormalized class scores does, with one class (module docstring):
    ``ValueError`` naming the class count and the measures that rank instead. ``measure`` is
    one of :data:`MEASURES` (others raise ``ValueError`` too).
    """
    if measure not in _BOX_MEASURES:
        raise ValueError(f"unknown measure {measure!r}; expected one of {MEASURES}")
    if measure == "entropy" and n_classes < 2:
        raise ValueError(f"the entropy over classes is 0 for every box of a model with "
                         f"{n_classes} class(es), so it cannot rank images: use "
                         "detection_entropy (the binary entropy of the detection score) or "
                         "least_confidence")


def box_uncertainty(scores_B_C, measure: str = "least_confidence") -> np.ndarray:
    """(B,) per-box uncertainty by name: one of :data:`MEASURES` (higher = more uncertain).

    ``scores_B_C`` is (B, C) sigmoid class scores in [0, 1]; ``measure`` is
    ``"least_confidence"`` (default), ``"margin"`` (:func:`margin_uncertainty`),
    ``"entropy"`` or ``"binary_entropy"``; any other name raises ``ValueError``.
    """
    if measure not in _BOX_MEASURES:
        raise ValueError(f"unknown measure {measure!r}; expected one of {MEASURES}")
    return _BOX_MEASURES[measure](scores_B_C)


def measure_upper_bound(measure: str, n_classes: int) -> float:
    """The largest value a box can get under ``measure`` (used for images without boxes).

    ``n_classes`` is C, the number of classes; only ``"entropy"`` depends on it (``log C``).
    """
    bounds = {"least_confidence": 1.0, "margin": 1.0,
              "entropy": float(np.log(max(1, n_classes))), "binary_entropy": float(np.log(2)),
              "detection_entropy": float(np.log(2)),
              "joint_entropy": float(np.log(n_classes + 1))}
    if measure not in bounds:
        raise ValueError(f"unknown measure {measure!r}; expected one of {MEASURES}")
    return bounds[measure]


def reduce_boxes(u_B, reduction: str | Callable = "max", *, n: int = 3,
                 empty_score: float = 1.0) -> float:
    """Combine one image's box uncertainties into one score (see the module docstring).

    Args:
        u_B: (B,) per-box uncertainties of the boxes that count.
        reduction: ``"max"``, ``"mean_n"``, ``"min"``, ``"mean"``, ``"sum"`` or a callable.
        n: how many of the most uncertain boxes ``"mean_n"`` averages.
        empty_score: the score of an image with no box.
    """
    u = np.asarray(u_B, dtype=np.float64).reshape(-1)
    if len(u) == 0:
        return float(empty_score)
    if callable(reduction):
        return float(reduction(u))
    if reduction == "max":
        return float(u.max())
    if reduction == "min":
        return float(u.min())
    if reduction == "mean":
        return float(u.mean())
    if reduction == "sum":
        return float(u.sum())
    if reduction == "mean_n":
        if n < 1:
            raise ValueError(f"mean_n needs n >= 1, got {n}")
        k = min(n, len(u))
        return float(np.partition(u, len(u) - k)[len(u) - k :].mean())
    raise ValueError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS} or a callable")


def image_scores(
    scores_M_C, confidence_M, box_offsets, *, measure: str = "least_confidence",
    reduction: str | Callable = "max", n: int = 3, conf_threshold: float = 0.25,
    empty_score: float | str = "max",
) -> np.ndarray:
    """(N,) one uncertainty score per image for a whole pool.

    Args:
        scores_M_C: (M, C) class scores of all boxes of all images, concatenated.
        confidence_M: (M,) box confidences (``max_c p_c`` for Ultralytics detections).
        box_offsets: (N + 1,) image i owns boxes ``box_offsets[i]:box_offsets[i + 1]``.
        measure, reduction, n: see :func:`box_uncertainty` and :func:`reduce_boxes`.
        conf_threshold: boxes below this confidence are ignored.
        empty_score: score of an image without boxes; ``"max"`` = the measure's upper bound.
    """
    scores = _as_scores(scores_M_C)
    confidence = np.asarray(confidence_M, dtype=np.float64).reshape(-1)
    offsets = np.asarray(box_offsets, dtype=np.int64)
    if len(confidence) != len(scores) or offsets[-1] != len(scores):
        raise ValueError(
            f"expected {offsets[-1]} boxes (box_offsets[-1]) in both scores {scores.shape} and "
            f"confidence {confidence.shape}"
        )
    empty = (measure_upper_bound(measure, scores.shape[1]) if empty_score == "max"
             else float(empty_score))
    keep = confidence >= conf_threshold
    u = box_uncertainty(scores[keep], measure)
    image_of_box = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))[keep]
    return segment_reduce(u, image_of_box, len(offsets) - 1, reduction, n=n, empty_score=empty)


def segment_reduce(u_M, segment_M, n_segments: int, reduction: str | Callable = "max", *,
                   n: int = 3, empty_score: float = 1.0) -> np.ndarray:
    """(n_segments,) :func:`reduce_boxes` applied to every group of ``u_M`` at once.

    ``segment_M`` gives each value's group (image) index in [0, n_segments); groups need not be
    contiguous. Vectorized for the named reductions; a callable runs once per group.

    Args:
        u_M: (M,) float values (per-box uncertainties or confidences).
        segment_M: (M,) int group index of each value.
        n_segments: the number of groups N (the length of the result).
        reduction: ``"max"``, ``"mean_n"``, ``"min"``, ``"mean"``, ``"sum"`` or a callable
            ``f(u) -> float``, as in :func:`reduce_boxes`.
        n: how many of the largest values ``"mean_n"`` averages (>= 1).
        empty_score: the value of a group with no entry.
    """
    u = np.asarray(u_M, dtype=np.float64).reshape(-1)
    seg = np.asarray(segment_M, dtype=np.int64).reshape(-1)
    counts = np.bincount(seg, minlength=n_segments)
    out = np.full(n_segments, float(empty_score))
    has = counts > 0
    if callable(reduction):
        order = np.argsort(seg, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(counts)])
        for i in np.flatnonzero(has):
            out[i] = float(reduction(u[order[bounds[i] : bounds[i + 1]]]))
        return out
    if reduction in ("sum", "mean"):
        total = np.bincount(seg, weights=u, minlength=n_segments)
        out[has] = total[has] if reduction == "sum" else total[has] / counts[has]
    elif reduction in ("max", "min"):
        extreme = np.full(n_segments, -np.inf if reduction == "max" else np.inf)
        (np.maximum if reduction == "max" else np.minimum).at(extreme, seg, u)
        out[has] = extreme[has]
    elif reduction == "mean_n":
        if n < 1:
            raise ValueError(f"mean_n needs n >= 1, got {n}")
        order = np.lexsort((-u, seg))  # by segment, most uncertain first
        starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
        rank = np.arange(len(u)) - starts[seg[order]]
        top = order[rank < n]
        total = np.bincount(seg[top], weights=u[top], minlength=n_segments)
        out[has] = total[has] / np.minimum(counts[has], n)
    else:
        raise ValueError(
            f"unknown reduction {reduction!r}; expected one of {REDUCTIONS} or a callable")
    return out


def max_confidence(confidence_M, box_offsets) -> np.ndarray:
    """(N,) the most confident box of each image, 0.0 for an image without boxes.

    ``confidence_M`` is the (M,) box confidences of all images, concatenated; ``box_offsets``
    (N + 1,) gives image i the boxes ``box_offsets[i]:box_offsets[i + 1]``.
    """
    offsets = np.asarray(box_offsets, dtype=np.int64)
    image_of_box = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    return segment_reduce(confidence_M, image_of_box, len(offsets) - 1, "max", empty_score=0.0)


def flag_low_confidence(max_confidence_N, threshold: float = 0.6) -> np.ndarray:
    """(N,) bool: images whose most confident detection is below ``threshold`` (empty: True).

    ``max_confidence_N`` is the (N,) per-image maximum box confidence, as from
    :func:`max_confidence` (0.0 for an image without boxes, hence flagged).
    """
    return np.asarray(max_confidence_N, dtype=np.float64) < threshold


def class_breakdown(
    scores_B_C, confidence_B=None, *, measure: str = "least_confidence",
    reduction: str | Callable = "max", conf_threshold: float = 0.0, soft: bool = False,
) -> np.ndarray:
    """(C,) how much each class makes one image uncertain.

    Hard (default): class c gets the ``reduction`` of the uncertainties of the boxes whose top
    class is c (0 where it has none). Soft: every box spreads its uncertainty over classes by
    its renormalized scores, ``sum_b q_bc * u_b`` (so a box read as "one" with a strong "seven"
    score also points at "seven").

    Args:
        scores_B_C: (B, C) sigmoid class scores of the image's boxes.
        confidence_B: (B,) box confidences; with ``None`` every box counts.
        measure: the per-box measure (:func:`box_uncertainty`).
        reduction: how the hard breakdown combines a class's boxes (:func:`reduce_boxes`,
            ``"mean_n"`` averaging 3); unused when ``soft``.
        conf_threshold: boxes below this confidence are dropped (only with ``confidence_B``).
        soft: spread each box over classes by its renormalized scores instead of giving it
            all to its top class.
    """
    scores = _as_scores(scores_B_C)
    n_classes = scores.shape[1]
    if confidence_B is not None:
        keep = np.asarray(confidence_B, dtype=np.float64) >= conf_threshold
        scores = scores[keep]
    u = box_uncertainty(scores, measure)
    if soft:
        return (normalized_distribution(scores) * u[:, None]).sum(axis=0)
    top = scores.argmax(axis=1) if len(scores) else np.zeros(0, int)
    return np.array([reduce_boxes(u[top == c], reduction, empty_score=0.0)
                     for c in range(n_classes)])


def candidate_scores(scores_M_C, confidence_M, box_offsets, *, measure: str = "entropy",
                     mode: str = "expected", min_confidence: float = MIN_CANDIDATE_CONFIDENCE,
                     class_weights_C=None, soft_weights: bool = False,
                     calibration=None) -> np.ndarray:
    """(N,) candidate-level uncertainty of every image (module docstring).

    ``"expected"``: ``U = sum_b p_b * u_b * w_{c_b}``; ``"sum"`` (PPAL):
    ``U = sum_b u_b * w_{c_b}``; both over the candidates at or above ``min_confidence``.

    Args:
        scores_M_C: (M, C) sigmoid class scores of all candidates, concatenated.
        confidence_M: (M,) candidate confidences ``p_b``.
        box_offsets: (N + 1,) image i owns candidates ``box_offsets[i]:box_offsets[i + 1]``.
        measure: the per-box measure ``u_b`` (:data:`MEASURES`).
        mode: ``"expected"`` or ``"sum"`` (:data:`CANDIDATE_MODES`).
        min_confidence: candidates below it are ignored.
        class_weights_C: (C,) per-class weights ``w_c`` (``None``: all 1); a box weighs as
            its predicted class ``c_b = argmax_c p_bc``, or with ``soft_weights`` as
            ``sum_c q_bc * w_c`` (``q``: its renormalized class scores).
        soft_weights: spread each box's weight over its class scores (module docstring).
        calibration: a :class:`alkit.core.calibration.ConfidenceCalibration` ``g``: the
            measure and the ``expected`` weight read ``g(p_b)`` instead of ``p_b``, the class
            scores scaled to match (:func:`alkit.core.calibration.calibrate_class_scores`);
            ``None``: the raw scores. ``min_confidence`` applies to the raw confidence.
    Returns:
        float64 scores, 0.0 for an image without candidates.
    """
    if mode not in CANDIDATE_MODES:
        raise ValueError(f"mode must be one of {CANDIDATE_MODES}, got {mode!r}")
    scores = _as_scores(scores_M_C)
    confidence = np.asarray(confidence_M, dtype=np.float64).reshape(-1)
    offsets = np.asarray(box_offsets, dtype=np.int64)
    if len(confidence) != len(scores) or offsets[-1] != len(scores):
        raise ValueError(f"expected {offsets[-1]} candidates (box_offsets[-1]) in both scores "
                         f"{scores.shape} and confidence {confidence.shape}")
    keep = confidence >= min_confidence
    if calibration is not None:
        from alkit.core.calibration import calibrate_class_scores

        scores, confidence = calibrate_class_scores(scores, confidence, calibration)
    per_box = box_uncertainty(scores[keep], measure)
    if mode == "expected":
        per_box = per_box * confidence[keep]
    if class_weights_C is not None:
        weights = np.asarray(class_weights_C, dtype=np.float64).reshape(-1)
        if len(weights) != scores.shape[1]:
            raise ValueError(f"class_weights has {len(weights)} entries for "
                             f"{scores.shape[1]} classes")
        if keep.any():
            per_box = per_box * (normalized_distribution(scores[keep]) @ weights if soft_weights
                                 else weights[scores[keep].argmax(axis=1)])
    image_of_box = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))[keep]
    return np.bincount(image_of_box, weights=per_box, minlength=len(offsets) - 1)
