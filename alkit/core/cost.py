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
