"""Annotation cost: seconds per image plus seconds per box (numpy only).

Annotators are paid for time, and time grows with the boxes they draw. alkit counts a labeled
image as ``cost = seconds_per_image + seconds_per_box * boxes``:

* ``seconds_per_box`` = 25.5 s by default: the median time to draw one tight box and check it,
  measured by Su, Deng and Fei-Fei, "Crowdsourcing Annotations for Visual Object Detection"
  (AAAI 2012 workshops; 10.2 s drawing plus quality and coverage checks), the figure
  Papadopoulos et al. ("Extreme clicking", ICCV 2017) quote as the cost of a box.
* ``seconds_per_image`` = 4 s by default: opening an image, scanning it for objects and
  confirming there is nothing more to draw; a few seconds in the same studies (an image-level
  yes/no check is 1.6 s in Papadopoulos et al., CVPR 2016; an empty image still costs a look).

Both are settable (``Query.seconds_per_image`` / ``seconds_per_box``, ``--seconds-per-box``).

Before labeling, the boxes of a pool image are not known. Selection uses the model's own
candidates: the expected number of objects is the sum of the candidate confidences,
``E[boxes] = sum_b p_b`` over candidates at or above ``min_confidence`` (0.05), which counts a
half-seen object as half a box rather than as nothing (the 0.25 threshold) or a full box.
After labeling, benchmarks count the real boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

#: Median seconds to draw and check one box (Su, Deng and Fei-Fei 2012).
SECONDS_PER_BOX = 25.5
#: Seconds to open, scan and confirm an image (a few seconds; see the module docstring).
SECONDS_PER_IMAGE = 4.0
#: Candidates at or above this confidence count as possible objects.
MIN_CANDIDATE_CONFIDENCE = 0.05


@dataclass(frozen=True)
class CostModel:
    """Seconds an annotator spends on one image: ``seconds_per_image + seconds_per_box * boxes``.

    Attributes:
        seconds_per_image: fixed time per image (>= 0), boxes or not.
        seconds_per_box: time per drawn box (>= 0).
    """

    seconds_per_image: float = SECONDS_PER_IMAGE
    seconds_per_box: float = SECONDS_PER_BOX

    def __post_init__(self):
        if not (self.seconds_per_image >= 0 and self.seconds_per_box >= 0):
            raise ValueError("seconds_per_image and seconds_per_box must be >= 0, got "
                             f"{self.seconds_per_image} and {self.seconds_per_box}")
        if self.seconds_per_image + self.seconds_per_box == 0:
            raise ValueError("a cost model needs seconds_per_image or seconds_per_box > 0")

    def cost(self, boxes) -> np.ndarray:
        """Seconds for images with ``boxes`` objects each (array-like of counts >= 0, or
        expected counts); same shape as ``boxes``, float64."""
        boxes = np.asarray(boxes, dtype=np.float64)
        return self.seconds_per_image + self.seconds_per_box * boxes

    def total(self, images: float, boxes: float) -> float:
        """Seconds for ``images`` images holding ``boxes`` boxes in all."""
        return float(self.seconds_per_image * images + self.seconds_per_box * boxes)

    def describe(self) -> str:
        """One line for reports: ``4 s / image + 25.5 s / box``."""
        return f"{self.seconds_per_image:g} s / image + {self.seconds_per_box:g} s / box"


def expected_boxes(confidence_M, box_offsets, *,
                   min_confidence: float = MIN_CANDIDATE_CONFIDENCE) -> np.ndarray:
    """(N,) expected objects per image: ``sum_b p_b`` over its candidates with ``p_b >=
    min_confidence``.

    Args:
        confidence_M: (M,) candidate confidences of all images, concatenated.
        box_offsets: (N + 1,) image i owns candidates ``box_offsets[i]:box_offsets[i + 1]``.
        min_confidence: candidates below it are not counted.
    """
    confidence = np.asarray(confidence_M, dtype=np.float64).reshape(-1)
    offsets = np.asarray(box_offsets, dtype=np.int64)
    if offsets[-1] != len(confidence):
        raise ValueError(f"box_offsets end at {offsets[-1]} but there are {len(confidence)} "
                         "confidences")
    image_of_box = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    keep = confidence >= min_confidence
    return np.bincount(image_of_box[keep], weights=confidence[keep], minlength=len(offsets) - 1)


#: Edges of the confidence bins of :func:`box_count_features`: ``[0.05, 0.25)``,
#: ``[0.25, 0.5)``, ``[0.5, 1]``.
COUNT_BIN_EDGES = (MIN_CANDIDATE_CONFIDENCE, 0.25, 0.5)
#: :func:`fit_box_counts` needs at least this many checked images to replace the raw sum.
MIN_FIT_IMAGES = 20


def box_count_features(confidence_M, box_offsets) -> np.ndarray:
    """(N, 3) per image, the sum of its candidates' confidences in each bin of
    :data:`COUNT_BIN_EDGES` (the three columns add up to :func:`expected_boxes`).

    Args:
        confidence_M: (M,) candidate confidences of all images, concatenated.
        box_offsets: (N + 1,) image i owns candidates ``box_offsets[i]:box_offsets[i + 1]``.
    """
    confidence = np.asarray(confidence_M, dtype=np.float64).reshape(-1)
    offsets = np.asarray(box_offsets, dtype=np.int64)
    if offsets[-1] != len(confidence):
        raise ValueError(f"box_offsets end at {offsets[-1]} but there are {len(confidence)} "
                         "confidences")
    n = len(offsets) - 1
    image_of_box = np.repeat(np.arange(n), np.diff(offsets))
    edges = (*COUNT_BIN_EDGES, np.inf)
    columns = []
    for lo, hi in pairwise(edges):
        keep = (confidence >= lo) & (confidence < hi)
        columns.append(np.bincount(image_of_box[keep], weights=confidence[keep], minlength=n))
    return np.stack(columns, axis=1) if n else np.zeros((0, len(COUNT_BIN_EDGES)))


@dataclass(frozen=True)
class BoxCountFit:
    """Expected boxes of an image calibrated on images with ground truth::

        E[boxes] = intercept + sum_k slope_k * f_k        (f = box_count_features, 3 bins)

    fitted by non-negative least squares (every coefficient >= 0, so more confident candidates
    never lower the estimate). The raw estimate is ``intercept = 0``, every slope 1.

    Attributes:
        intercept: boxes an image holds whatever the model sees (>= 0).
        slopes: (3,) boxes per unit of candidate confidence in each bin (>= 0).
        n_images: images the fit was made on.
        error_raw: mean absolute error of the raw sum on those images (boxes per image).
        error_fit: the same for the fit.
    """

    intercept: float = 0.0
    slopes: tuple[float, ...] = (1.0, 1.0, 1.0)
    n_images: int = 0
    error_raw: float | None = None
    error_fit: float | None = None

    def predict(self, features_N_K) -> np.ndarray:
        """(N,) expected boxes of images.

        Args:
            features_N_K: (N, 3) their :func:`box_count_features`.
        """
        features = np.asarray(features_N_K, dtype=np.float64).reshape(-1, len(self.slopes))
        return self.intercept + features @ np.asarray(self.slopes, dtype=np.float64)

    def to_dict(self) -> dict:
        """Plain values for the ledger and reports (rounded)."""
        return {"intercept": round(self.intercept, 4),
                "slopes": [round(s, 4) for s in self.slopes], "n_images": self.n_images,
                "error_raw": None if self.error_raw is None else round(self.error_raw, 4),
                "error_fit": None if self.error_fit is None else round(self.error_fit, 4)}


def fit_box_counts(features_N_K, true_counts_N, *, min_images: int = MIN_FIT_IMAGES
                   ) -> BoxCountFit | None:
    """Calibrate expected boxes on checked images: non-negative least squares of the true
    box counts on ``[1, f_1, f_2, f_3]`` (:class:`BoxCountFit`).

    The raw sum of confidences undercounts dense images (a weak model sees a crowd as a few
    half-sure boxes) and overcounts images of confident false alarms; the fit learns both from
    the model's own errors. ``None`` (keep the raw sum) with fewer than ``min_images`` images
    or when the fit is no better than the raw sum on them.

    Args:
        features_N_K: (N, 3) :func:`box_count_features` of the checked images.
        true_counts_N: (N,) their ground-truth box counts.
        min_images: the fewest images worth a fit.
    """
    from scipy.optimize import nnls

    features = np.asarray(features_N_K, dtype=np.float64).reshape(len(true_counts_N), -1)
    truth = np.asarray(true_counts_N, dtype=np.float64)
    if len(truth) < min_images:
        return None
    coef, _ = nnls(np.column_stack([np.ones(len(truth)), features]), truth)
    fit = BoxCountFit(float(coef[0]), tuple(float(c) for c in coef[1:]), len(truth))
    raw = float(np.mean(np.abs(features.sum(axis=1) - truth)))
    error = float(np.mean(np.abs(fit.predict(features) - truth)))
    if error >= raw:
        return None
    return BoxCountFit(fit.intercept, fit.slopes, len(truth), raw, error)
