"""The boxes of one image, in two forms (numpy only).

* :class:`Detections`, the currency of box math (what a model predicts, what matching,
  disagreement and agreement take): ``xyxy`` (n, 4) float pixel boxes (x1, y1, x2, y2);
  ``confidence`` (n,) float in [0, 1]; ``class_id`` (n,) int; ``image_size`` (height, width).
  Boolean-mask or index selection returns a new object.
* :class:`Labels`, the form of a YOLO label file (ground truth): ``class_ids`` (n,) and
  ``xywhn`` (n, 4) normalized centre and size.

:meth:`Labels.to_detections` and :meth:`Detections.to_labels` convert between them. Image sizes
are always ``(height, width)``, the order of ``image.shape[:2]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Boxes predicted for one image.

    Attributes:
        xyxy: (n, 4) float64 boxes in pixels of the original image.
        confidence: (n,) float64 scores in [0, 1].
        class_id: (n,) int64 class indices.
        image_size: (height, width) of the original image, when known.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    image_size: tuple[int, int] | None = None

    def __post_init__(self):
        xyxy = np.asarray(self.xyxy, dtype=np.float64)
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"Detections.xyxy: expected shape (n, 4), got {xyxy.shape}")
        n = len(xyxy)
        confidence = np.asarray(self.confidence, dtype=np.float64).reshape(-1)
        class_id = np.asarray(self.class_id).reshape(-1)
        if confidence.shape != (n,) or class_id.shape != (n,):
            raise ValueError(
                f"Detections: expected confidence and class_id of shape ({n},) to match xyxy, "
                f"got {confidence.shape} and {class_id.shape}"
            )
        if n and (np.nanmin(confidence) < 0 or np.nanmax(confidence) > 1):
            raise ValueError("Detections.confidence: expected values in [0, 1]")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "class_id", class_id.astype(np.int64))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index) -> Detections:
        return Detections(
            self.xyxy[index], self.confidence[index], self.class_id[index], self.image_size
        )

    @classmethod
    def empty(cls, image_size: tuple[int, int] | None = None) -> Detections:
        """No boxes: (0, 4) ``xyxy``, empty ``confidence`` and ``class_id``, for an image of
        ``image_size`` (height, width), or of unknown size with ``None``."""
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), image_size)

    @property
    def max_confidence(self) -> float:
        """The most confident box's score, or 0.0 for an image without boxes."""
        return float(self.confidence.max()) if len(self) else 0.0

    def to_labels(self) -> Labels:
        """These boxes as YOLO :class:`Labels` (needs ``image_size``; confidences dropped)."""
        if self.image_size is None:
            raise ValueError("Detections.to_labels needs the image_size (height, width)")
        height, width = self.image_size
        return Labels(self.class_id, xyxy_to_xywhn(self.xyxy, width, height))


@dataclass(frozen=True)
class Labels:
    """The objects of one image.

    Attributes:
        class_ids: (n,) int64 class indices.
        xywhn: (n, 4) float64 boxes as normalized (x_center, y_center, width, height).
    """

    class_ids: np.ndarray
    xywhn: np.ndarray

    def __post_init__(self):
        class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        xywhn = np.asarray(self.xywhn, dtype=np.float64).reshape(-1, 4)
        if len(class_ids) != len(xywhn):
            raise ValueError(
                f"Labels: class_ids has {len(class_ids)} entries but xywhn has {len(xywhn)} rows; "
                "expected one class id per (x, y, w, h) row"
            )
        object.__setattr__(self, "class_ids", class_ids)
        object.__setattr__(self, "xywhn", xywhn)

    def __len__(self) -> int:
        return len(self.class_ids)

    @classmethod
    def empty(cls) -> Labels:
        """No objects: empty ``class_ids`` and (0, 4) ``xywhn`` (an image with no labels)."""
        return cls(np.zeros(0, np.int64), np.zeros((0, 4)))

    def xyxy(self, width: int, height: int) -> np.ndarray:
        """(n, 4) boxes in pixels as (x1, y1, x2, y2) for an image of ``width`` x ``height``."""
        return xywhn_to_xyxy(self.xywhn, width, height)

    def to_detections(self, image_size: tuple[int, int]) -> Detections:
        """These boxes in pixels of an image of ``image_size`` (height, width), confidence 1."""
        height, width = image_size
        return Detections(self.xyxy(width, height), np.ones(len(self)), self.class_ids,
                          (int(height), int(width)))


def xywhn_to_xyxy(xywhn: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalized (xc, yc, w, h) (n, 4) -> pixel (x1, y1, x2, y2) (n, 4).

    ``xywhn`` holds (n, 4) float boxes as fractions of the image (YOLO label rows); ``width``
    and ``height`` are the image's size in pixels that they are scaled by.
    """
    xywhn = np.asarray(xywhn, dtype=np.float64).reshape(-1, 4)
    xc, yc = xywhn[:, 0] * width, xywhn[:, 1] * height
    half_w, half_h = xywhn[:, 2] * width / 2, xywhn[:, 3] * height / 2
    return np.stack([xc - half_w, yc - half_h, xc + half_w, yc + half_h], axis=1)


def xyxy_to_xywhn(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel (x1, y1, x2, y2) (n, 4) -> normalized (xc, yc, w, h) (n, 4).

    ``xyxy`` holds (n, 4) float boxes in pixels; ``width`` and ``height`` are the image's size in
    pixels, which the result is a fraction of (no clipping to [0, 1]).
    """
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    w, h = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
    return np.stack(
        [(xyxy[:, 0] + w / 2) / width, (xyxy[:, 1] + h / 2) / height, w / width, h / height],
        axis=1,
    )
