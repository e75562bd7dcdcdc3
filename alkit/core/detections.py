"""Detections of one image: a small validated container (numpy only).

Shapes: ``xyxy`` (n, 4) float pixel boxes (x1, y1, x2, y2); ``confidence`` (n,) float in
[0, 1]; ``class_id`` (n,) int. Boolean-mask or index selection returns a new object.
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
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), image_size)

    @property
    def max_confidence(self) -> float:
        """The most confident box's score, or 0.0 for an image without boxes."""
        return float(self.confidence.max()) if len(self) else 0.0
