"""The pool's scores: what one scoring pass keeps of every image, and every measure read from it.

:class:`PoolScores` is the currency between scoring and selection. Scoring
(:func:`alkit.score_pool`, :mod:`alkit.model.scoring`) produces and caches it; selection
(:mod:`alkit.core.strategy`) and review read it; :func:`alkit.data.scorefile.save_scores`
and :func:`~alkit.data.scorefile.load_scores` write and read it as one ``.npz``. Nothing here
touches a file or a model.

N images, M boxes in all (candidates down to the scorer's confidence 0.05), C classes, D
embedding dimensions:

=================  ============  ======================================================
array              shape/dtype   meaning
=================  ============  ======================================================
paths              (N,) str      image paths, in the order given (skipped ones left out)
hashes             (N,) str      SHA-256 of each image file's bytes
heights, widths    (N,) int32    original image size
box_offsets        (N+1,) int64  image i owns boxes box_offsets[i]:box_offsets[i+1]
box_xyxy           (M, 4) f4     boxes in original pixels
box_confidence     (M,) f4       Ultralytics' boxes.conf (= max of the class scores)
box_class          (M,) int64    Ultralytics' boxes.cls (= argmax of the class scores)
box_class_scores   (M, C) f4     sigmoid score of every class for every box
embeddings         (N, D) f4     mean-pooled backbone features
box_features       (M, F) f2     per-box neck features at the box's anchor, projected to F = 32
                                 (:func:`alkit.model.yolo.box_features_at`; optional)
skipped            (S, 2) str    (path, reason) of every image not scored
=================  ============  ======================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from alkit.core import uncertainty
from alkit.core.cost import box_count_features, expected_boxes, fit_box_counts
from alkit.core.detections import Detections
from alkit.core.difficulty import class_quality, image_error


@dataclass(frozen=True)
class PoolScores:
    """Scores of a pool (see the module docstring for the arrays and their shapes).

    N images, M boxes in all, C classes, D embedding dimensions.

    Attributes:
        paths: (N,) image paths, in the order given (skipped images left out).
        hashes: (N,) str SHA-256 of each image file's bytes.
        heights: (N,) int32 original image heights in pixels.
        widths: (N,) int32 original image widths in pixels.
        box_offsets: (N + 1,) int64; image i owns boxes ``box_offsets[i]:box_offsets[i + 1]``.
        box_xyxy: (M, 4) float32 pixel boxes (x1, y1, x2, y2) in the original image.
        box_confidence: (M,) float32 box confidence (= max of the class scores).
        box_class: (M,) int64 predicted class (= argmax of the class scores).
        box_class_scores: (M, C) float32 sigmoid score of every class for every box.
        embeddings: (N, D) float32 mean-pooled backbone features.
        names: the model's class names, index = class id.
        box_features: (M, F) float16 per-box features (the neck read at each box's anchor,
            randomly projected), or ``None`` (scores made without them).
        skipped: ``(path, reason)`` of every image not scored.
        meta: free-form information: from :func:`score_pool`, ``model_hash``, ``settings``
            and ``run`` (the :class:`ScoringRun` as a dict).
        conf_threshold: boxes at or above this confidence count in measures, ``n_boxes`` and
            :meth:`detections` (default 0.25; changeable without inference).
    """

    paths: list[str]
    hashes: np.ndarray
    heights: np.ndarray
    widths: np.ndarray
    box_offsets: np.ndarray
    box_xyxy: np.ndarray
    box_confidence: np.ndarray
    box_class: np.ndarray
    box_class_scores: np.ndarray
    embeddings: np.ndarray
    names: tuple[str, ...]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    conf_threshold: float = 0.25
    box_features: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.paths)
        if self.box_features is not None and len(self.box_features) != len(self.box_confidence):
            raise ValueError(f"PoolScores.box_features: expected {len(self.box_confidence)} "
                             "rows, one per box")
        if len(self.box_offsets) != n + 1 or self.box_offsets[-1] != len(self.box_confidence):
            raise ValueError(f"PoolScores: box_offsets must have {n + 1} entries ending at "
                             f"{len(self.box_confidence)}")
        for name in ("hashes", "heights", "widths", "embeddings"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"PoolScores.{name}: expected {n} rows, one per image")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def n_classes(self) -> int:
        return len(self.names)

    @cached_property
    def n_boxes(self) -> np.ndarray:
        """(N,) boxes per image at or above ``conf_threshold``."""
        image_of_box = np.repeat(np.arange(len(self)), np.diff(self.box_offsets))
        keep = self.box_confidence >= self.conf_threshold
        return np.bincount(image_of_box[keep], minlength=len(self))

    @cached_property
    def max_confidence(self) -> np.ndarray:
        """(N,) the most confident box per image (0.0 without boxes)."""
        return uncertainty.max_confidence(self.box_confidence, self.box_offsets)

    def image_scores(self, measure: str = "least_confidence", reduction: str | Callable = "max",
                     *, n: int = 3, conf_threshold: float | None = None,
                     empty_score: float | str = "max") -> np.ndarray:
        """(N,) one uncertainty per image (see :func:`alkit.core.uncertainty.image_scores`).

        Args:
            measure: the per-box measure, one of ``least_confidence``, ``margin``, ``entropy``,
                ``binary_entropy`` (higher = more uncertain).
            reduction: how an image's box uncertainties combine: ``"max"``, ``"mean_n"``,
                ``"min"``, ``"mean"``, ``"sum"`` or a callable ``f(u) -> float``.
            n: how many of the largest values ``"mean_n"`` averages.
            conf_threshold: boxes below it are ignored; ``None`` uses
                :attr:`conf_threshold`.
            empty_score: the score of an image without boxes; ``"max"`` is the measure's upper
                bound (an image where nothing is found counts as most uncertain).
        """
        return uncertainty.image_scores(
            self.box_class_scores, self.box_confidence, self.box_offsets, measure=measure,
            reduction=reduction, n=n, empty_score=empty_score,
            conf_threshold=self.conf_threshold if conf_threshold is None else conf_threshold,
        )

    def flagged(self, threshold: float = 0.6) -> np.ndarray:
        """(N,) bool: the simple rule, most confident detection below ``threshold``."""
        return uncertainty.flag_low_confidence(self.max_confidence, threshold)

    def class_breakdown(self, measure: str = "least_confidence", *, soft: bool = False,
                        conf_threshold: float | None = None) -> np.ndarray:
        """(N, C) per image, how much each class makes it uncertain
        (:func:`alkit.core.uncertainty.class_breakdown`).

        Args:
            measure: the per-box measure (as in :meth:`image_scores`).
            soft: ``False``: each box counts for its top class only (the max over a class's
                boxes); ``True``: each box spreads its uncertainty over the classes by its
                renormalized class scores.
            conf_threshold: boxes below it are dropped; ``None`` uses :attr:`conf_threshold`.
        """
        threshold = self.conf_threshold if conf_threshold is None else conf_threshold
        return np.stack([
            uncertainty.class_breakdown(self.box_class_scores[lo:hi], self.box_confidence[lo:hi],
                                        measure=measure, conf_threshold=threshold, soft=soft)
            for lo, hi in zip(self.box_offsets[:-1], self.box_offsets[1:], strict=True)
        ]) if len(self) else np.zeros((0, self.n_classes))

    def detections(self, i: int, *, conf_threshold: float | None = None) -> Detections:
        """The boxes of image ``i`` (0-based index into :attr:`paths`) at or above
        ``conf_threshold`` (``None``: the object's :attr:`conf_threshold`), as
        :class:`~alkit.core.detections.Detections` in original-image pixels."""
        lo, hi = self.box_offsets[i], self.box_offsets[i + 1]
        threshold = self.conf_threshold if conf_threshold is None else conf_threshold
        keep = self.box_confidence[lo:hi] >= threshold
        return Detections(self.box_xyxy[lo:hi][keep], self.box_confidence[lo:hi][keep],
                          self.box_class[lo:hi][keep],
                          (int(self.heights[i]), int(self.widths[i])))

    @cached_property
    def table(self):
        """A pandas DataFrame, one row per image: path, hash, height, width, n_boxes,
        max_confidence, flagged, every measure as ``<measure>_<reduction>`` with reductions
        max (weakest link), mean3 (mean of the 3 most uncertain), mean and sum, the
        candidate-level ``candidate_<measure>`` (:meth:`candidate_scores`) and
        ``expected_boxes``. Higher = more uncertain in every measure column."""
        import pandas as pd

        columns = {
            "path": self.paths, "hash": self.hashes, "height": self.heights,
            "width": self.widths, "n_boxes": self.n_boxes,
            "max_confidence": self.max_confidence, "flagged": self.flagged(),
        }
        for measure in uncertainty.MEASURES:
            for suffix, reduction in uncertainty.TABLE_REDUCTIONS:
                columns[f"{measure}_{suffix}"] = self.image_scores(measure, reduction, n=3)
        for measure in uncertainty.MEASURES:
            columns[f"candidate_{measure}"] = self.candidate_scores(measure)
        columns["expected_boxes"] = self.expected_boxes
        return pd.DataFrame(columns)

    def candidate_scores(self, measure: str = "detection_entropy", *, mode: str = "expected",
                         class_weights=None, soft_weights: bool = False,
                         calibration=None) -> np.ndarray:
        """(N,) candidate-level uncertainty over every stored candidate (confidence down to
        0.05): ``sum_b p_b * u_b * w_{c_b}`` (``mode="expected"``) or PPAL's
        ``sum_b u_b * w_{c_b}`` (``mode="sum"``); :func:`alkit.core.uncertainty.
        candidate_scores`.

        Args:
            measure: the per-box measure (one of :data:`alkit.core.uncertainty.MEASURES`).
            mode: ``"expected"`` or ``"sum"``.
            class_weights: (C,) per-class weights (``None``: 1 for every class).
            soft_weights: a box weighs ``sum_c q_bc * w_c`` instead of its predicted class's
                weight.
            calibration: a :class:`alkit.core.calibration.ConfidenceCalibration` to read the
                confidences through (``None``: raw).
        """
        return uncertainty.candidate_scores(self.box_class_scores, self.box_confidence,
                                            self.box_offsets, measure=measure, mode=mode,
                                            class_weights_C=class_weights,
                                            soft_weights=soft_weights, calibration=calibration)

    def class_quality(self, labels_by_path) -> tuple[np.ndarray, np.ndarray]:
        """``(quality_C, count_C)``: how well the model finds and names each class on the
        scored images that have ground truth (:func:`alkit.core.difficulty.class_quality`,
        every stored candidate counts).

        Args:
            labels_by_path: image path (as in :attr:`paths`) -> its ground-truth
                :class:`~alkit.core.detections.Labels`; scored images it lacks are left out.
        """
        def rows():
            for i, path in enumerate(self.paths):
                labels = labels_by_path.get(path)
                if labels is None:
                    continue
                lo, hi = self.box_offsets[i], self.box_offsets[i + 1]
                yield (labels.xyxy(int(self.widths[i]), int(self.heights[i])),
                       labels.class_ids, self.box_xyxy[lo:hi], self.box_class_scores[lo:hi])

        return class_quality(rows(), self.n_classes)

    def image_errors(self, labels_by_path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows_V, error_V, boxes_V)``: the scored images with ground truth (their rows),
        the model's error on each (:func:`alkit.core.difficulty.image_error`, every stored
        candidate counts) and its number of ground-truth boxes.

        Args:
            labels_by_path: as in :meth:`class_quality`.
        """
        rows, errors, boxes = [], [], []
        for i, path in enumerate(self.paths):
            labels = labels_by_path.get(path)
            if labels is None:
                continue
            lo, hi = self.box_offsets[i], self.box_offsets[i + 1]
            errors.append(image_error(labels.xyxy(int(self.widths[i]), int(self.heights[i])),
                                      labels.class_ids, self.box_xyxy[lo:hi],
                                      self.box_class_scores[lo:hi], self.box_confidence[lo:hi]))
            rows.append(i)
            boxes.append(len(labels.class_ids))
        return (np.array(rows, dtype=np.int64), np.array(errors, dtype=np.float64),
                np.array(boxes, dtype=np.int64))

    @cached_property
    def expected_boxes(self) -> np.ndarray:
        """(N,) expected objects per image, the sum of its candidates' confidences
        (:func:`alkit.core.cost.expected_boxes`)."""
        return expected_boxes(self.box_confidence, self.box_offsets)

    @cached_property
    def box_count_features(self) -> np.ndarray:
        """(N, 3) candidate confidence summed per confidence bin
        (:func:`alkit.core.cost.box_count_features`), the inputs of a box-count fit."""
        return box_count_features(self.box_confidence, self.box_offsets)

    def fit_confidence_calibration(self, labels_by_path):
        """What the confidences mean on the scored images with ground truth: every stored
        candidate matched to the labels (:func:`alkit.core.calibration.match_candidates`) and
        the hits fitted on the confidences (:func:`alkit.core.calibration.
        fit_confidence_calibration`); ``None`` when too few candidates, hits or misses.

        Args:
            labels_by_path: image path (as in :attr:`paths`) -> its ground-truth
                :class:`~alkit.core.detections.Labels`; scored images it lacks are left out.
        """
        from alkit.core.calibration import fit_confidence_calibration, match_candidates

        confidences, hits = [], []
        for i, path in enumerate(self.paths):
            labels = labels_by_path.get(path)
            if labels is None:
                continue
            lo, hi = self.box_offsets[i], self.box_offsets[i + 1]
            hits.append(match_candidates(
                labels.xyxy(int(self.widths[i]), int(self.heights[i])), labels.class_ids,
                self.box_xyxy[lo:hi], self.box_confidence[lo:hi], self.box_class[lo:hi]))
            confidences.append(self.box_confidence[lo:hi])
        if not hits:
            return None
        return fit_confidence_calibration(np.concatenate(confidences), np.concatenate(hits))

    def fit_box_counts(self, labels_by_path):
        """Calibrate :attr:`expected_boxes` on the scored images with ground truth
        (:func:`alkit.core.cost.fit_box_counts`): a :class:`alkit.core.cost.BoxCountFit`, or
        ``None`` when too few images have labels or the fit does no better than the raw sum.

        Args:
            labels_by_path: image path (as in :attr:`paths`) -> its ground-truth
                :class:`~alkit.core.detections.Labels`; scored images it lacks are left out.
        """
        rows = [i for i, path in enumerate(self.paths) if path in labels_by_path]
        counts = [len(labels_by_path[self.paths[i]]) for i in rows]
        return fit_box_counts(self.box_count_features[rows], counts)
