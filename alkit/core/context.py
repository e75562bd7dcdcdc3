"""What a round knows besides the pool's scores: one :class:`RoundContext`, computed once.

The loop (:meth:`alkit.Project.run_round`, ``alkit select``, monitoring) builds the context
and hands it whole to the strategy (:mod:`alkit.core.strategy`); a strategy reads what it
needs (:attr:`alkit.core.strategy.Strategy.needs`) and is refused with a message naming what
is missing when the context lacks it, never run with a silent substitute.

Fields (N pool rows, C classes):

* ``labeled`` (N,) bool: rows already labeled, never picked, and where diversity starts;
* ``class_counts`` (C,): labeled objects per class (label files);
* ``class_quality`` (C,): how well the model finds and names each class on images with ground
  truth (:func:`alkit.core.difficulty.class_quality`; the val split in a round);
* ``box_count_fit``: the model's expected boxes calibrated on those images
  (:class:`alkit.core.cost.BoxCountFit`; ``None``: the raw sum of candidate confidences);
* ``confidence_calibration``: what the model's confidences mean on those images
  (:class:`alkit.core.calibration.ConfidenceCalibration`; ``None``: read them raw);
* ``cost_model``: the seconds of annotation per image and per box;
* ``disagreement`` (N,): a committee's disagreement per pool row (query-by-committee).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from alkit.core.calibration import ConfidenceCalibration
from alkit.core.cost import BoxCountFit, CostModel
from alkit.core.pool import PoolScores
from alkit.core.selection import labeled_mask

#: What a context can hold for a strategy (the names of :attr:`Strategy.needs`).
CONTEXT_FIELDS = ("class_counts", "class_quality", "box_count_fit", "confidence_calibration",
                  "disagreement")


@dataclass(frozen=True)
class RoundContext:
    """Everything a strategy may read besides the scores (module docstring).

    Build it with :meth:`of`, which checks every array against the scores.

    Attributes:
        labeled: (N,) bool rows already labeled.
        class_counts: (C,) labeled objects per class, or ``None``.
        class_quality: (C,) the model's class quality, or ``None``.
        box_count_fit: the :class:`alkit.core.cost.BoxCountFit` of the expected boxes, or
            ``None`` (the raw sum of candidate confidences).
        cost_model: the :class:`alkit.core.cost.CostModel` of annotation seconds.
        disagreement: (N,) a committee's disagreement, or ``None``.
        confidence_calibration: the :class:`alkit.core.calibration.ConfidenceCalibration`
            of the model's confidences, or ``None``.
    """

    labeled: np.ndarray
    class_counts: np.ndarray | None = None
    class_quality: np.ndarray | None = None
    box_count_fit: BoxCountFit | None = None
    cost_model: CostModel = field(default_factory=CostModel)
    disagreement: np.ndarray | None = None
    confidence_calibration: ConfidenceCalibration | None = None

    @classmethod
    def of(cls, scores: PoolScores, *, labeled=None, class_counts=None, class_quality=None,
           box_count_fit: BoxCountFit | None = None, cost_model: CostModel | None = None,
           disagreement=None, confidence_calibration: ConfidenceCalibration | None = None
           ) -> RoundContext:
        """A context for ``scores`` (:class:`alkit.PoolScores`), every array checked.

        ``labeled``: a bool mask of shape (N,) or row indices (``None``: nothing labeled);
        ``class_counts`` and ``class_quality``: (C,) arrays (C = the scores' classes);
        ``box_count_fit``: a :class:`alkit.core.cost.BoxCountFit` or ``None``;
        ``cost_model``: the seconds (default :class:`alkit.core.cost.CostModel`'s);
        ``disagreement``: (N,) finite values; ``confidence_calibration``: a
        :class:`alkit.core.calibration.ConfidenceCalibration` or ``None``. A wrong shape
        raises ``ValueError`` naming it.
        """
        n, c = len(scores), scores.n_classes
        counts = _per_class(class_counts, c, "class_counts")
        quality = _per_class(class_quality, c, "class_quality")
        if counts is not None and np.any(counts < 0):
            raise ValueError("class_counts must be >= 0")
        if disagreement is not None:
            disagreement = np.asarray(disagreement, dtype=np.float64).reshape(-1)
            if len(disagreement) != n or not np.all(np.isfinite(disagreement)):
                raise ValueError(f"disagreement must hold {n} finite values, one per scored "
                                 f"image; got {len(disagreement)}")
        return cls(labeled_mask(labeled, n), counts, quality, box_count_fit,
                   cost_model or CostModel(), disagreement, confidence_calibration)

    def with_labeled(self, labeled) -> RoundContext:
        """The same context with another ``labeled`` mask (same length)."""
        return replace(self, labeled=labeled_mask(labeled, len(self.labeled)))

    def expected_boxes(self, scores: PoolScores) -> np.ndarray:
        """(N,) expected objects per image of ``scores``: the box-count fit's prediction when
        there is one, else the raw sum of candidate confidences
        (:attr:`alkit.PoolScores.expected_boxes`)."""
        if self.box_count_fit is None:
            return scores.expected_boxes
        return np.maximum(self.box_count_fit.predict(scores.box_count_features), 0.0)

    def expected_seconds(self, scores: PoolScores) -> np.ndarray:
        """(N,) expected annotation seconds per image of ``scores``: the cost model over
        :meth:`expected_boxes`."""
        return self.cost_model.cost(self.expected_boxes(scores))


def _per_class(values, n_classes: int, name: str):
    if values is None:
        return None
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(values) != n_classes or not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must hold {n_classes} finite values, one per class of the "
                         f"scores; got {len(values)}")
    return values
