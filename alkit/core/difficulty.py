"""How hard each class is for the current model, and the weights that follow (numpy only).

The idea of PPAL's difficulty-calibrated uncertainty sampling (DCUS; Yang, Huang, Wang, Huang,
Wang, "Plug and Play Active Learning for Object Detection", CVPR 2024; public code
github.com/ChenhongyiYang/PPAL): spend more of the budget on classes the model finds hard, as
measured on labeled images, not on classes that are merely rare in the label counts.

**Class quality** (:func:`class_quality`). For every ground-truth box g of class c on a
labeled image (the val split, or the labeled set), over the model's candidates b on that image
(confidence down to 0.05, each with its full class-score vector ``s_b``)::

    quality(g) = max_b  s_b[c] ** alpha * IoU(b, g) ** (1 - alpha)      (alpha = 0.6)

0 when no candidate overlaps g. It is high only when the model both finds the object (IoU)
and names it (score of the right class, even when another class wins). The class quality
``q_c`` is the mean over the class's ground-truth boxes; a class with no labeled box gets
``q_c = 0`` (the hardest: the model has never been shown it finds it).

**Weights** (:func:`difficulty_weights`), PPAL's eq. 4 with its published defaults::

    w_c = 1 + a * u * log(b * (1 - q_c) + 1),   b = exp(1 / a) - 1      (a = 0.3, u = 0.2)

so ``w_c`` runs from 1 (q_c = 1: the model masters the class) to ``1 + u`` (q_c = 0).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from alkit.core.boxes import box_iou

#: PPAL's mix of score and IoU in a box's quality: ``score ** 0.6 * IoU ** 0.4``.
QUALITY_ALPHA = 0.6
#: PPAL's weight shape ``a`` and upper bound ``u`` (class_weight_alpha, class_weight_ub).
WEIGHT_ALPHA = 0.3
WEIGHT_UPPER = 0.2


def box_quality(gt_xyxy_G_4, gt_class_G, cand_xyxy_B_4, cand_scores_B_C, *,
                alpha: float = QUALITY_ALPHA) -> np.ndarray:
    """(G,) quality of each ground-truth box: ``max_b s_b[c_g]**alpha * IoU(b, g)**(1-alpha)``.

    Args:
        gt_xyxy_G_4: (G, 4) ground-truth boxes in pixels.
        gt_class_G: (G,) their class ids (each < C).
        cand_xyxy_B_4: (B, 4) the model's candidates on the same image, same pixel frame.
        cand_scores_B_C: (B, C) the candidates' sigmoid class scores.
        alpha: weight of the score against the IoU, in [0, 1].
    Returns:
        float64 values in [0, 1]; 0 for a box no candidate overlaps (or with no candidates).
    """
    gt_class = np.asarray(gt_class_G, dtype=np.int64).reshape(-1)
    scores = np.asarray(cand_scores_B_C, dtype=np.float64)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if len(gt_class) == 0 or scores.size == 0:
        return np.zeros(len(gt_class))
    if gt_class.max() >= scores.shape[1] or gt_class.min() < 0:
        raise ValueError(f"ground-truth class ids must lie in [0, {scores.shape[1]}), got "
                         f"{sorted(set(gt_class.tolist()))}")
    iou = box_iou(gt_xyxy_G_4, cand_xyxy_B_4)                      # (G, B)
    score = np.clip(scores[:, gt_class].T, 0.0, 1.0)               # (G, B)
    return (score ** alpha * iou ** (1.0 - alpha)).max(axis=1)


def class_quality(images: Iterable[tuple], n_classes: int, *, alpha: float = QUALITY_ALPHA
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per-class quality ``q_c`` (module docstring) over labeled images.

    Args:
        images: one ``(gt_xyxy_G_4, gt_class_G, cand_xyxy_B_4, cand_scores_B_C)`` tuple per
            labeled image (see :func:`box_quality`).
        n_classes: C.
        alpha: as in :func:`box_quality`.
    Returns:
        ``(quality_C, count_C)``: mean quality per class (0 for a class with no ground-truth
        box) and the number of ground-truth boxes it is the mean of.
    """
    total = np.zeros(n_classes)
    count = np.zeros(n_classes, dtype=np.int64)
    for gt_xyxy, gt_class, cand_xyxy, cand_scores in images:
        gt_class = np.asarray(gt_class, dtype=np.int64).reshape(-1)
        if len(gt_class) == 0:
            continue
        cand_scores = np.asarray(cand_scores, dtype=np.float64).reshape(-1, n_classes)
        quality = box_quality(gt_xyxy, gt_class, cand_xyxy, cand_scores, alpha=alpha)
        np.add.at(total, gt_class, quality)
        count += np.bincount(gt_class, minlength=n_classes)
    return np.divide(total, count, out=np.zeros(n_classes), where=count > 0), count


def difficulty_weights(quality_C, *, alpha: float = WEIGHT_ALPHA, upper: float = WEIGHT_UPPER
                       ) -> np.ndarray:
    """(C,) PPAL's ``w_c = 1 + a * u * log(b * (1 - q_c) + 1)``, ``b = exp(1 / a) - 1``.

    Args:
        quality_C: (C,) class qualities in [0, 1] (:func:`class_quality`).
        alpha: the curve's shape ``a`` (> 0; small = weights rise fast as quality drops).
        upper: ``u``, the extra weight of a class of quality 0 (>= 0).
    """
    quality = np.asarray(quality_C, dtype=np.float64).reshape(-1)
    if len(quality) == 0 or np.any(~np.isfinite(quality)):
        raise ValueError("class qualities must be a non-empty array of finite values")
    if not (alpha > 0 and upper >= 0):
        raise ValueError(f"need alpha > 0 and upper >= 0, got {alpha} and {upper}")
    b = np.expm1(1.0 / alpha)
    return 1.0 + alpha * upper * np.log(b * (1.0 - np.clip(quality, 0.0, 1.0)) + 1.0)


#: Candidates at or above this confidence that overlap no ground-truth box count as errors.
ERROR_CONFIDENCE = 0.25
#: ... where "overlap" means IoU at least this.
ERROR_IOU = 0.5


def image_error(gt_xyxy_G_4, gt_class_G, cand_xyxy_B_4, cand_scores_B_C, cand_confidence_B,
                *, alpha: float = QUALITY_ALPHA) -> float:
    """What a label of one image would teach the model: its missed and its false detections.

    ``error = sum_g (1 - quality(g)) + sum_{b false} confidence(b)``: the missed mass of the
    ground-truth boxes (:func:`box_quality`) plus the confidence of every candidate at or
    above :data:`ERROR_CONFIDENCE` that overlaps no ground-truth box (IoU below
    :data:`ERROR_IOU`). 0 for an image the model gets exactly right.

    Args:
        gt_xyxy_G_4, gt_class_G: (G, 4) ground-truth boxes in pixels and their class ids.
        cand_xyxy_B_4, cand_scores_B_C: (B, 4) candidates in the same frame and their (B, C)
            class scores. cand_confidence_B: (B,) their confidences.
        alpha: as in :func:`box_quality`.
    """
    missed = float(np.sum(1.0 - box_quality(gt_xyxy_G_4, gt_class_G, cand_xyxy_B_4,
                                            cand_scores_B_C, alpha=alpha)))
    confidence = np.asarray(cand_confidence_B, dtype=np.float64).reshape(-1)
    confident = confidence >= ERROR_CONFIDENCE
    if not confident.any():
        return missed
    if len(np.asarray(gt_class_G).reshape(-1)) == 0:
        return missed + float(confidence[confident].sum())
    overlap = box_iou(np.asarray(cand_xyxy_B_4)[confident], gt_xyxy_G_4).max(axis=1)
    return missed + float(confidence[confident][overlap < ERROR_IOU].sum())


def gain_weights(quality_C, counts_C) -> np.ndarray:
    """(C,) class weights by the expected mAP gain of one more labeled object of each class.

    mAP is the mean of the per-class APs, and a class's AP grows with its labeled objects
    ``n`` along a power-law learning curve, ``AP_c(n) = 1 - a * n ** -b`` (the shape measured
    for deep networks' error against data size: Hestness et al., "Deep Learning Scaling is
    Predictable, Empirically", 2017). Its slope, ``dAP_c/dn = b * (1 - AP_c) / n``, is the
    value of one more object of class c::

        w_c = (1 - q_c) / max(n_c, 1),   divided by its largest value

    with the class quality ``q_c`` (:func:`class_quality`) standing in for ``AP_c`` and
    ``n_c`` the labeled objects of the class; ``a`` and ``b`` are shared by the classes and
    cancel. A class the model masters weighs little however rare it is; a hard class weighs
    more the fewer labels it has. Unlike PPAL's weights (:func:`difficulty_weights`, 1 to 1.2)
    the ratio between classes is not bounded. All weights are 1 when every class is mastered.

    Args:
        quality_C: (C,) class qualities in [0, 1].
        counts_C: (C,) labeled objects per class (>= 0).
    """
    quality = np.asarray(quality_C, dtype=np.float64).reshape(-1)
    counts = np.asarray(counts_C, dtype=np.float64).reshape(-1)
    if len(quality) == 0 or len(quality) != len(counts):
        raise ValueError(f"need one quality and one count per class, got {len(quality)} and "
                         f"{len(counts)}")
    if np.any(~np.isfinite(quality)) or np.any(~np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("class qualities must be finite and class counts finite and >= 0")
    gain = (1.0 - np.clip(quality, 0.0, 1.0)) / np.maximum(counts, 1.0)
    return gain / gain.max() if gain.max() > 0 else np.ones_like(gain)
