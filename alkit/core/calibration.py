"""What a detector's confidence means: a map from raw confidence to the share of boxes that are
right, fitted on images with ground truth (numpy, and scikit-learn's isotonic regression).

A YOLO box confidence is not a probability. On the one-class ``defects`` preset the seed
models' boxes at confidence 0.5 match a true object 84% of the time and the 50/50 point sits
near 0.2 (benchmarks/results/al-defects/README.md); uncertainty read from the raw number
(``detection_entropy`` peaks at 0.5) then looks at boxes the model already gets right. The
fix is old (Platt, 1999; Zadrozny and Elkan, "Transforming classifier scores into accurate
multiclass probability estimates", KDD 2002, isotonic regression) and has been applied to
detectors (Kueppers, Kronenberger, Shantia, Haselhoff, "Multivariate Confidence Calibration
for Object Detection", CVPR Workshops 2020; public code ``EFS-OpenSource/calibration-framework``,
``netcal``): fit, on held-out images, ``g(p) = P(the box is right | confidence p)`` and read
every measure from ``g(p)`` instead of ``p``.

Here (M candidates of V checked images, their confidences ``p_m``)::

    hit_m = 1  if candidate m matches a ground-truth box of its predicted class
               (IoU >= 0.5; candidates most confident first, each ground-truth box once)
    g = argmin over non-decreasing g of  sum_m (g(p_m) - hit_m)^2        (isotonic regression)

pooled over the classes (one map; a class with few checked boxes would get a noisy map of its
own). ``g`` is stored as its knots and applied by linear interpolation, clipped to the fitted
range. netcal's detection calibration also conditions on the box position and size; alkit
conditions on the confidence only (the position terms need many more checked boxes than a
round's val split holds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The fewest checked candidates, and of hits and of misses each, worth a calibration.
MIN_CALIBRATION_BOXES = 100
MIN_CALIBRATION_EACH = 10


def match_candidates(true_xyxy, true_class, pred_xyxy, pred_confidence, pred_class, *,
                     iou_threshold: float = 0.5) -> np.ndarray:
    """(P,) bool: which predicted boxes of one image match a ground-truth box.

    Predictions most confident first (ties in the given order); each takes the unmatched
    ground-truth box of its class that it overlaps most, when that IoU is at least
    ``iou_threshold``.

    Args:
        true_xyxy: (L, 4) ground-truth boxes in pixels; true_class: (L,) their classes.
        pred_xyxy: (P, 4) predicted boxes in the same pixels; pred_confidence: (P,);
            pred_class: (P,) predicted classes.
        iou_threshold: the IoU from which a prediction matches.
    """
    from alkit.core.boxes import box_iou

    confidence = np.asarray(pred_confidence, np.float64).reshape(-1)
    order = np.argsort(-confidence, kind="stable")
    iou = box_iou(np.asarray(pred_xyxy, np.float64).reshape(-1, 4)[order],
                  np.asarray(true_xyxy, np.float64).reshape(-1, 4))
    same = (np.asarray(pred_class).reshape(-1)[order][:, None]
            == np.asarray(true_class).reshape(-1)[None, :])
    free = np.ones(iou.shape[1], bool)
    hits = np.zeros(len(order), bool)
    for row in range(len(order)):
        candidates = np.where(same[row] & free & (iou[row] >= iou_threshold), iou[row], -1.0)
        if candidates.size and candidates.max() >= 0:
            free[int(np.argmax(candidates))] = False
            hits[order[row]] = True
    return hits


@dataclass(frozen=True)
class ConfidenceCalibration:
    """``g(p)``, the share of boxes of confidence ``p`` that are right (module docstring).

    Attributes:
        knots: (K,) confidences where ``g`` steps (increasing).
        values: (K,) ``g`` at the knots (non-decreasing, in [0, 1]).
        n_boxes: the checked candidates it was fitted on.
        brier_raw: mean squared error of the raw confidence against the hits on them.
        brier_fit: the same for ``g``.
    """

    knots: tuple[float, ...]
    values: tuple[float, ...]
    n_boxes: int = 0
    brier_raw: float | None = None
    brier_fit: float | None = None

    def __call__(self, confidence) -> np.ndarray:
        """``g`` of an array of confidences (same shape, float64, in [0, 1])."""
        p = np.asarray(confidence, dtype=np.float64)
        return np.interp(p, np.asarray(self.knots), np.asarray(self.values))

    def to_dict(self) -> dict:
        """The fit in a few numbers (what a round's report records): the boxes, both errors
        and ``g`` at 0.1, 0.25, 0.5, 0.75 and 0.9."""
        grid = (0.1, 0.25, 0.5, 0.75, 0.9)
        return {"n_boxes": self.n_boxes, "brier_raw": self.brier_raw,
                "brier_fit": self.brier_fit,
                "g": {str(p): round(float(v), 4) for p, v in zip(grid, self(grid), strict=True)}}


def fit_confidence_calibration(confidence_M, hit_M, *, min_boxes: int = MIN_CALIBRATION_BOXES,
                               min_each: int = MIN_CALIBRATION_EACH
                               ) -> ConfidenceCalibration | None:
    """Fit ``g`` by isotonic regression of the hits on the confidences (scikit-learn's
    ``IsotonicRegression``, increasing, bounded to [0, 1]).

    ``None`` (read the raw confidence) with fewer than ``min_boxes`` candidates, or fewer than
    ``min_each`` hits or misses: too little to say what a confidence means.

    Args:
        confidence_M: (M,) candidate confidences of the checked images.
        hit_M: (M,) bool, whether each matches a ground-truth box (:func:`match_candidates`).
        min_boxes: the fewest candidates worth a fit.
        min_each: the fewest hits and misses worth a fit.
    """
    from sklearn.isotonic import IsotonicRegression

    p = np.asarray(confidence_M, dtype=np.float64).reshape(-1)
    hit = np.asarray(hit_M, dtype=bool).reshape(-1)
    if len(p) != len(hit):
        raise ValueError(f"confidence has {len(p)} entries, hit {len(hit)}")
    if len(p) < min_boxes or hit.sum() < min_each or (~hit).sum() < min_each:
        return None
    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit(p, hit.astype(np.float64))
    return ConfidenceCalibration(tuple(float(x) for x in model.X_thresholds_),
                                 tuple(float(y) for y in model.y_thresholds_), len(p),
                                 float(np.mean((p - hit) ** 2)),
                                 float(np.mean((model.predict(p) - hit) ** 2)))


def calibrate_class_scores(scores_M_C, confidence_M, calibration: ConfidenceCalibration
                           ) -> tuple[np.ndarray, np.ndarray]:
    """``(scores', confidence')``: each candidate's class scores scaled so that their maximum
    becomes ``g(p)`` (``s'_mc = s_mc * g(p_m) / p_m``; the classes keep their proportions) and
    its confidence ``g(p_m)``, both kept in [1e-6, 1 - 1e-6].

    Args:
        scores_M_C: (M, C) class scores; confidence_M: (M,) their maxima (box confidences).
        calibration: the :class:`ConfidenceCalibration`.
    """
    scores = np.asarray(scores_M_C, dtype=np.float64)
    p = np.asarray(confidence_M, dtype=np.float64).reshape(-1)
    calibrated = np.clip(calibration(p), 1e-6, 1 - 1e-6)
    scale = calibrated / np.maximum(p, 1e-12)
    return np.clip(scores * scale[:, None], 0.0, 1 - 1e-6), calibrated
