"""The label audit: which labeled images are most likely mislabeled, and what is wrong in them
(ObjectLab, through cleanlab; numpy and cleanlab only, no model, no file).

ObjectLab (Tkachenko, Thyagarajan, Mueller, "ObjectLab: Automated Diagnosis of Mislabeled Images
in Object Detection Data", 2023, arXiv:2309.00832) compares each image's given labels with the
predictions of a detector that did not train on that image, and scores three kinds of label
error. alkit calls cleanlab 2.9's implementation (``cleanlab/object_detection/rank.py`` and
``filter.py``); this module converts alkit's boxes to cleanlab's formats and back, and reads out
which predicted box each score came from.

Per image i there are L labeled boxes ``l`` (pixel x1, y1, x2, y2 and a class) and M predicted
boxes ``m`` (pixel box, predicted class ``c_m`` and its probability ``p_m``, alkit's box
confidence). cleanlab's similarity of a label and a prediction::

    S(l, m) = alpha * IoU(l, m) + (1 - alpha) * exp(-0.1 * |centre(l) - centre(m)|)

(alpha = 0.9; the distance in pixels). ``s_min`` is the smallest non-zero S over the whole
audited set. Per-box scores, each in [0, 1], lower = more likely wrong:

* **overlooked**, per prediction m with ``p_m >= t_high`` (0.95) overlapping no label (IoU 0
  with each): the largest S(l, m) over the labels of class ``c_m``, or ``s_min * (1 - p_m)``
  when the image has no label of that class. Other predictions get no score. An object the
  annotator missed that the model finds confidently scores near 0.
* **swap**, per label l of class k: ``max(s_min, 1 - S(l, m*))``, m* the most similar
  prediction of another class with ``p > t_high``; 1 when there is none; ``s_min`` when another
  label of a different class covers the same box (IoU >= 0.95). A label whose box the model
  confidently calls another class scores near 0; that class is where the label should be
  swapped to.
* **badloc**, per label l of class k: the largest S(l, m) over predictions of class k with
  ``p > t_low`` (0.5) that overlap it (IoU > 0); 1 when there is none. A box drawn beside the
  object the model finds scores low; the predicted box shows where the object is.

Per image, the box scores of one kind pool by softmin (temperature T = 0.1)::

    q = sum_b s_b exp(-s_b / T) / sum_b exp(-s_b / T)         (1 with no box scores)

and the image's label-quality score is their weighted geometric mean (weights 1/3 each)::

    score = exp(sum_kind w_kind * log(1e-100 + q_kind))

An image is *flagged* (cleanlab's ``find_label_issues`` rule) when one of its boxes scores at or
below ``0.8 * 0.25 * AP_c``, ``AP_c`` the average precision (IoU 0.5:0.95) of the predictions
against the labels for the box's class (the predicted class for overlooked boxes, the label's
for swap and badloc).

Where alkit differs from calling cleanlab's two public functions, and why:

* The three parts come from cleanlab's public ``compute_overlooked_box_scores``,
  ``compute_swap_box_scores``, ``compute_badloc_box_scores`` and ``pool_box_scores_per_image``
  on one set of cleanlab's auxiliary inputs, and the overall score from cleanlab's formula above
  (the last lines of ``rank._get_subtype_label_quality_scores``): ``get_label_quality_scores``
  returns only the overall score and would compute every similarity again. With the default
  settings the two agree (tests/core/test_audit.py).
* Which box is wrong: cleanlab's ``find_label_issues`` returns one flag per image; alkit applies
  the same per-box rule with cleanlab's own helpers (``filter._get_per_class_ap``,
  ``filter._find_label_issues_per_box``) and keeps the flag per box. Their union per image
  equals ``find_label_issues`` (tested).
* The predicted box beside each score (the swapped-to class, the box a badly located label
  should have had) is read from cleanlab's similarity matrix with cleanlab's candidate rules;
  cleanlab returns the score only.
* Ranking: ``find_label_issues(return_indices_ranked_by_score=True)`` calls ``np.in1d``, which
  NumPy 2.4 removed; alkit ranks images by its scores itself (lowest first, ties by position).
* Each part and the score are clipped to [0, 1]: softmin's weights can sum to 1 + 1e-16.

Facts to keep in mind: ObjectLab reads one class and one probability per predicted box (alkit's
full class-score vectors are not used); ``s_min`` and the per-class AP make an image's scores
depend a little on the other images audited with it; the 0.95 threshold means an overlooked
object is only seen by a model that is very sure of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from alkit.core.detections import Detections

#: The three kinds of label error ObjectLab scores.
ISSUE_KINDS = ("overlooked", "swap", "badloc")

#: cleanlab 2.9's defaults (``cleanlab.internal.constants``; pinned by the tests).
DEFAULTS = {"alpha": 0.9, "low_probability_threshold": 0.5, "high_probability_threshold": 0.95,
            "temperature": 0.1,
            "aggregation_weights": {"overlooked": 1 / 3, "swap": 1 / 3, "badloc": 1 / 3}}

_TINY = 1e-100  # cleanlab's TINY_VALUE: keeps log() finite for a part that pools to 0


def to_cleanlab_labels(labels: Detections) -> dict:
    """One image's given labels in cleanlab's form.

    Args:
        labels: the image's labeled boxes (``xyxy`` (L, 4) pixels, ``class_id`` (L,); the
            confidence is ignored). YOLO :class:`~alkit.core.detections.Labels` convert with
            ``labels.to_detections((height, width))``.

    Returns:
        ``{"bboxes": (L, 4) float64 x1, y1, x2, y2, "labels": (L,) int64}``.
    """
    return {"bboxes": np.asarray(labels.xyxy, np.float64).reshape(-1, 4),
            "labels": np.asarray(labels.class_id, np.int64).reshape(-1)}


def to_cleanlab_predictions(predictions: Detections, n_classes: int
                            ) -> tuple[list[np.ndarray], np.ndarray]:
    """One image's predicted boxes in cleanlab's form, and where each went.

    Args:
        predictions: the image's predicted boxes (``xyxy`` (M, 4) pixels, ``confidence`` (M,)
            the predicted class's probability, ``class_id`` (M,) the predicted class).
        n_classes: K, the model's number of classes; every ``class_id`` must lie in [0, K).

    Returns:
        ``(per_class, order_M)``: ``per_class`` is K arrays, ``per_class[k]`` of shape (M_k, 5)
        with rows ``(x1, y1, x2, y2, p)`` of the boxes predicted as class k ((0, 5) when none);
        cleanlab numbers boxes class by class, and its box j is ``predictions[order_M[j]]``.
    """
    class_M = np.asarray(predictions.class_id, np.int64)
    if len(class_M) and (class_M.min() < 0 or class_M.max() >= n_classes):
        raise ValueError(f"predicted class ids must lie in [0, {n_classes}), got "
                         f"{sorted(set(class_M.tolist()))}")
    order_M = np.argsort(class_M, kind="stable")
    rows_M_5 = np.column_stack([np.asarray(predictions.xyxy, np.float64).reshape(-1, 4),
                                np.asarray(predictions.confidence, np.float64)])[order_M]
    sorted_class = class_M[order_M]
    return [rows_M_5[sorted_class == k] for k in range(n_classes)], order_M


def from_cleanlab_predictions(per_class: Sequence[np.ndarray]) -> Detections:
    """cleanlab's per-class prediction arrays back as :class:`Detections` (in cleanlab's
    order: class 0's boxes first).

    Args:
        per_class: K arrays of shape (M_k, 5), rows ``(x1, y1, x2, y2, p)``.
    """
    rows = [np.asarray(a, np.float64).reshape(-1, 5) for a in per_class]
    joined = np.concatenate(rows) if rows else np.zeros((0, 5))
    classes = np.concatenate([np.full(len(a), k, np.int64) for k, a in enumerate(rows)]) \
        if rows else np.zeros(0, np.int64)
    return Detections(joined[:, :4], joined[:, 4], classes)


@dataclass(frozen=True)
class BoxIssues:
    """Per-box findings of an audit, one row per box score that points at a box (B rows).

    Rows kept: every overlooked score (a confident prediction overlapping no label), every
    swap score whose most similar other-class prediction overlaps the label (or whose label
    overlaps a label of another class), every badloc score with an overlapping prediction of
    the label's class. Scores of 1 with no such box say nothing and are left out.

    Attributes:
        image: (B,) int64 image index (0-based, into the audited images).
        kind: (B,) str, one of :data:`ISSUE_KINDS`.
        score: (B,) float64 the box's score in [0, 1] (lower = more likely wrong).
        flagged: (B,) bool, cleanlab's per-box issue rule (see the module docstring).
        label_index: (B,) int64 the label's index in the image's labels; -1 for overlooked.
        label_class: (B,) int64 the label's class; -1 for overlooked.
        label_xyxy: (B, 4) float64 the label's pixel box; NaN for overlooked.
        pred_index: (B,) int64 the prediction's index in the image's predictions (the order
            given); -1 when none (a swap score of two overlapping labels).
        pred_class: (B,) int64 the predicted class (for swap: the class the label should be
            swapped to); -1 when none.
        pred_confidence: (B,) float64 its probability; NaN when none.
        pred_xyxy: (B, 4) float64 its pixel box; NaN when none.
    """

    image: np.ndarray
    kind: np.ndarray
    score: np.ndarray
    flagged: np.ndarray
    label_index: np.ndarray
    label_class: np.ndarray
    label_xyxy: np.ndarray
    pred_index: np.ndarray
    pred_class: np.ndarray
    pred_confidence: np.ndarray
    pred_xyxy: np.ndarray

    def __len__(self) -> int:
        return len(self.score)

    def __getitem__(self, index) -> BoxIssues:
        return BoxIssues(**{name: getattr(self, name)[index] for name in _BOX_FIELDS})

    @classmethod
    def from_rows(cls, rows: Sequence[dict]) -> BoxIssues:
        """Rows (dicts with the attribute names as keys, boxes as 4-sequences) as arrays;
        ``rows`` may be empty."""
        def column(name, dtype, shape=()):
            values = [r[name] for r in rows]
            return np.asarray(values, dtype).reshape((len(rows), *shape))

        return cls(image=column("image", np.int64), kind=column("kind", "<U10"),
                   score=column("score", np.float64), flagged=column("flagged", bool),
                   label_index=column("label_index", np.int64),
                   label_class=column("label_class", np.int64),
                   label_xyxy=column("label_xyxy", np.float64, (4,)),
                   pred_index=column("pred_index", np.int64),
                   pred_class=column("pred_class", np.int64),
                   pred_confidence=column("pred_confidence", np.float64),
                   pred_xyxy=column("pred_xyxy", np.float64, (4,)))

    def to_rows(self) -> list[dict]:
        """One dict per row, plain Python values (boxes as 4-tuples, NaN kept)."""
        out = []
        for b in range(len(self)):
            out.append({"image": int(self.image[b]), "kind": str(self.kind[b]),
                        "score": float(self.score[b]), "flagged": bool(self.flagged[b]),
                        "label_index": int(self.label_index[b]),
                        "label_class": int(self.label_class[b]),
                        "label_xyxy": tuple(float(v) for v in self.label_xyxy[b]),
                        "pred_index": int(self.pred_index[b]),
                        "pred_class": int(self.pred_class[b]),
                        "pred_confidence": float(self.pred_confidence[b]),
                        "pred_xyxy": tuple(float(v) for v in self.pred_xyxy[b])})
        return out


_BOX_FIELDS = ("image", "kind", "score", "flagged", "label_index", "label_class", "label_xyxy",
               "pred_index", "pred_class", "pred_confidence", "pred_xyxy")


@dataclass(frozen=True)
class LabelAudit:
    """The audit of N labeled images (see the module docstring for every formula).

    Attributes:
        score: (N,) float64 label-quality score in [0, 1]; lower = more likely mislabeled.
        overlooked, swap, badloc: (N,) float64 its three parts (each 1 when the image has no
            box score of that kind).
        flagged: (N,) bool, cleanlab's ``find_label_issues`` decision (some box is an issue).
        n_labels: (N,) int64 labeled boxes per image.
        n_predictions: (N,) int64 predicted boxes per image given to cleanlab.
        boxes: the per-box findings (:class:`BoxIssues`).
        settings: the parameters used (alpha, thresholds, temperature, weights) and the
            cleanlab version.
    """

    score: np.ndarray
    overlooked: np.ndarray
    swap: np.ndarray
    badloc: np.ndarray
    flagged: np.ndarray
    n_labels: np.ndarray
    n_predictions: np.ndarray
    boxes: BoxIssues
    settings: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.score)

    def ranking(self) -> np.ndarray:
        """(N,) image indices, most likely mislabeled first (ascending score, ties by index)."""
        return np.argsort(self.score, kind="stable")

    def image_boxes(self, i: int) -> BoxIssues:
        """The rows of :attr:`boxes` for image ``i`` (0-based), lowest score first."""
        rows = np.flatnonzero(self.boxes.image == i)
        return self.boxes[rows[np.argsort(self.boxes.score[rows], kind="stable")]]


def audit_labels(labels: Sequence[Detections], predictions: Sequence[Detections],
                 n_classes: int, *, image_names: Sequence[str] | None = None,
                 alpha: float | None = None, low_probability_threshold: float | None = None,
                 high_probability_threshold: float | str | None = None,
                 temperature: float | None = None, aggregation_weights: dict | None = None,
                 overlapping_label_check: bool = True) -> LabelAudit:
    """Audit N images' labels against out-of-sample predictions (ObjectLab, cleanlab 2.9).

    Args:
        labels: N :class:`Detections`, the given labels of each image (pixel ``xyxy`` (L, 4),
            ``class_id`` (L,); confidence ignored).
        predictions: N :class:`Detections`, each image's predicted boxes in the same pixels
            (``confidence``: the predicted class's probability). Give every candidate the
            model kept (alkit stores them down to 0.05): cleanlab's thresholds choose among
            them, and the per-class AP needs the low ones.
        n_classes: K, the model's classes; label and predicted class ids must lie in [0, K).
        image_names: names used in error messages (default: ``image <index>``).
        alpha: weight of IoU against centre distance in the similarity (default 0.9).
        low_probability_threshold: predictions above it may locate a label (badloc; 0.5).
        high_probability_threshold: predictions at or above it may reveal an overlooked box,
            above it a swapped class (0.95); ``"precise"``: the lowest confidence at which the
            model's predictions on these images match their labels 95% of the time
            (:func:`precise_confidence`), at most 0.95 (0.95 when no confidence is that
            precise). cleanlab's 0.95 reads the confidence as a probability; a detector's
            confidences are not calibrated (YOLO's rarely pass 0.95 even when right), and
            with 0.95 they would reveal almost no overlooked box or swapped class.
        temperature: softmin temperature of the per-image pooling (0.1).
        aggregation_weights: ``{"overlooked", "swap", "badloc"}`` weights summing to 1 (1/3
            each).
        overlapping_label_check: two labels of different classes on one box (IoU >= 0.95)
            score as a swap (cleanlab's default, True).

    Returns:
        :class:`LabelAudit` (``settings["high_probability_threshold"]``: the threshold used).
        With every default, ``score`` equals cleanlab's ``get_label_quality_scores`` and
        ``flagged`` its ``find_label_issues``.

    Raises:
        ValueError: lengths differ, or a class id lies outside [0, K) (naming the image and the
            object: object j is line j of an alkit-written label file).
    """
    import cleanlab
    from cleanlab.object_detection import filter as cl_filter
    from cleanlab.object_detection import rank

    if len(labels) != len(predictions):
        raise ValueError(f"audit_labels: {len(labels)} images of labels but "
                         f"{len(predictions)} of predictions; expected one of each per image")
    names = list(image_names) if image_names is not None else [
        f"image {i}" for i in range(len(labels))]
    _check_classes(labels, predictions, n_classes, names)
    rule = high_probability_threshold if isinstance(high_probability_threshold, str) else None
    if rule not in (None, "precise"):
        raise ValueError("high_probability_threshold: expected a number, None or 'precise', "
                         f"got {high_probability_threshold!r}")
    if rule == "precise":
        precise = precise_confidence(labels, predictions)
        high_probability_threshold = DEFAULTS["high_probability_threshold"] if precise is None \
            else min(DEFAULTS["high_probability_threshold"], precise)
    params = {key: DEFAULTS[key] if value is None else value for key, value in (
        ("alpha", alpha), ("low_probability_threshold", low_probability_threshold),
        ("high_probability_threshold", high_probability_threshold),
        ("temperature", temperature))}
    weights = dict(DEFAULTS["aggregation_weights"] if aggregation_weights is None
                   else aggregation_weights)
    if sorted(weights) != sorted(ISSUE_KINDS) or min(weights.values()) < 0 or \
            not np.isclose(sum(weights.values()), 1.0):
        raise ValueError("aggregation_weights: expected non-negative 'overlooked', 'swap' and "
                         f"'badloc' weights summing to 1, got {weights}")
    settings = {**params, "high_probability_rule": rule or "given",
                "aggregation_weights": weights,
                "overlapping_label_check": overlapping_label_check,
                "cleanlab": cleanlab.__version__}
    n = len(labels)
    if n == 0:
        empty = np.zeros(0)
        return LabelAudit(empty, empty, empty, empty, np.zeros(0, bool), np.zeros(0, np.int64),
                          np.zeros(0, np.int64), BoxIssues.from_rows([]), settings)

    cl_labels = [to_cleanlab_labels(d) for d in labels]
    converted = [to_cleanlab_predictions(d, n_classes) for d in predictions]
    cl_predictions = [per_class for per_class, _ in converted]
    aux = rank._get_valid_inputs_for_compute_scores(params["alpha"], cl_labels, cl_predictions)
    per_box = {
        "overlooked": rank.compute_overlooked_box_scores(
            alpha=params["alpha"], auxiliary_inputs=aux,
            high_probability_threshold=params["high_probability_threshold"]),
        "swap": rank.compute_swap_box_scores(
            alpha=params["alpha"], auxiliary_inputs=aux,
            high_probability_threshold=params["high_probability_threshold"],
            overlapping_label_check=overlapping_label_check),
        "badloc": rank.compute_badloc_box_scores(
            alpha=params["alpha"], auxiliary_inputs=aux,
            low_probability_threshold=params["low_probability_threshold"]),
    }
    # softmin's weights can sum to 1 + 1e-16: clipped so that a score stays in [0, 1]
    parts = {kind: np.clip(rank.pool_box_scores_per_image(
        scores, temperature=params["temperature"]), 0.0, 1.0) for kind, scores in per_box.items()}
    score = np.clip(np.exp(sum(weights[kind] * np.log(_TINY + parts[kind])
                               for kind in ISSUE_KINDS)), 0.0, 1.0)
    flags = _box_flags(cl_filter, cl_labels, cl_predictions, per_box)
    rows = []
    for i in range(n):
        rows += _box_rows(i, aux[i], converted[i][1], {k: per_box[k][i] for k in ISSUE_KINDS},
                          {k: flags[k][i] for k in ISSUE_KINDS}, params,
                          overlapping_label_check)
    image_flagged = np.array([any(flags[k][i].any() for k in ISSUE_KINDS) for i in range(n)])
    return LabelAudit(
        score=np.asarray(score, np.float64), overlooked=np.asarray(parts["overlooked"]),
        swap=np.asarray(parts["swap"]), badloc=np.asarray(parts["badloc"]),
        flagged=image_flagged, n_labels=np.array([len(d) for d in labels], np.int64),
        n_predictions=np.array([len(d) for d in predictions], np.int64),
        boxes=BoxIssues.from_rows(rows), settings=settings)


def precise_confidence(labels: Sequence[Detections], predictions: Sequence[Detections], *,
                       precision: float = 0.95, iou_threshold: float = 0.5,
                       min_predictions: int = 10) -> float | None:
    """The lowest confidence c at which the predictions with confidence >= c match a label of
    their class at least ``precision`` of the time, or None when no c with at least
    ``min_predictions`` predictions does.

    Matching per image: predictions most confident first, each takes the unmatched label of
    its class it overlaps most, when IoU >= ``iou_threshold``. With P predictions sorted by
    confidence c_1 >= ... >= c_P and tp_j in {0, 1}: precision(i) = sum_{j <= i} tp_j / i, and
    the answer is c_i for the largest i >= ``min_predictions`` with precision(i) >=
    ``precision`` and c_{i+1} < c_i (ties stay together).

    Args:
        labels: N :class:`Detections`, each image's labels (``xyxy``, ``class_id``).
        predictions: N :class:`Detections` in the same pixels, with ``confidence``.
        precision: the share of matched predictions wanted, in (0, 1].
        iou_threshold: the IoU from which a prediction matches a label.
        min_predictions: the fewest predictions a cut may keep.
    """
    from alkit.core.calibration import match_candidates

    confidences, hits = [], []
    for given, predicted in zip(labels, predictions, strict=True):
        hits += match_candidates(given.xyxy, given.class_id, predicted.xyxy,
                                 predicted.confidence, predicted.class_id,
                                 iou_threshold=iou_threshold).tolist()
        confidences += np.asarray(predicted.confidence, np.float64).reshape(-1).tolist()
    if len(confidences) < min_predictions:
        return None
    order = np.argsort(-np.asarray(confidences), kind="stable")
    conf = np.asarray(confidences)[order]
    cumulative = np.cumsum(np.asarray(hits, np.float64)[order]) / np.arange(1, len(conf) + 1)
    # a cut keeps every prediction tied with its last one: only the end of a tie is a cut
    cut = np.append(conf[1:] < conf[:-1], True) & (np.arange(len(conf)) >= min_predictions - 1)
    good = np.flatnonzero(cut & (cumulative >= precision))
    return None if not len(good) else float(conf[good[-1]])


def _check_classes(labels, predictions, n_classes: int, names: list[str]) -> None:
    problems = []
    for name, given, predicted in zip(names, labels, predictions, strict=True):
        for j, c in enumerate(np.asarray(given.class_id).tolist(), start=1):
            if not 0 <= c < n_classes:
                problems.append(f"{name}: object {j} has class {c}, which the model does not "
                                f"know (its classes are 0..{n_classes - 1})")
        bad = sorted({c for c in np.asarray(predicted.class_id).tolist()
                      if not 0 <= c < n_classes})
        if bad:
            problems.append(f"{name}: predicted class ids {bad} outside 0..{n_classes - 1}")
    if problems:
        raise ValueError("audit_labels: " + "; ".join(problems[:20]) +
                         (f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""))


def _box_flags(cl_filter, cl_labels, cl_predictions, per_box) -> dict[str, list[np.ndarray]]:
    """Per kind, per image, a bool per box score: cleanlab's ``find_label_issues`` rule
    (score <= factor * 0.25 * AP of the box's class), through cleanlab's own helpers."""
    from cleanlab.internal import constants

    per_class_ap = cl_filter._get_per_class_ap(cl_labels, cl_predictions)
    label_classes = [label["labels"] for label in cl_labels]
    pred_classes = [np.concatenate([np.full(len(a), k) for k, a in enumerate(pred)])
                    for pred in cl_predictions]
    thresholds = {
        "overlooked": (cl_filter._process_class_list(pred_classes, per_class_ap),
                       constants.OVERLOOKED_THRESHOLD_FACTOR),
        "swap": (cl_filter._process_class_list(label_classes, per_class_ap),
                 constants.SWAP_THRESHOLD_FACTOR),
        "badloc": (cl_filter._process_class_list(label_classes, per_class_ap),
                   constants.BADLOC_THRESHOLD_FACTOR),
    }
    flags = {}
    for kind, (per_image, factor) in thresholds.items():
        # the helper turns NaN into 1 in place and answers [False] for an image without boxes
        copies = [np.array(s, np.float64, copy=True) for s in per_box[kind]]
        found = cl_filter._find_label_issues_per_box(copies, per_image, factor)
        flags[kind] = [f if len(s) else np.zeros(0, bool)
                       for f, s in zip(found, per_box[kind], strict=True)]
    return flags


def _box_rows(i: int, aux: dict, order_M: np.ndarray, scores: dict, flags: dict, params: dict,
              overlapping_label_check: bool) -> list[dict]:
    """The :class:`BoxIssues` rows of image ``i``: each box score with the box it points at,
    chosen by cleanlab's own candidate rules (rank._compute_*_box_scores_for_image)."""
    from cleanlab.object_detection import rank

    sim_L_M, iou_L_M = aux["similarity_matrix"], aux["iou_matrix"]
    pred_class, pred_prob = aux["pred_labels"], aux["pred_label_probs"]
    pred_xyxy = np.asarray(aux["pred_bboxes"], np.float64).reshape(-1, 4)
    lab_class = aux["lab_labels"]
    lab_xyxy = np.asarray(aux["lab_bboxes"], np.float64).reshape(-1, 4)
    nan4 = (np.nan,) * 4
    rows = []

    def row(kind, score, flagged, label, pred):
        rows.append({"image": i, "kind": kind, "score": float(score), "flagged": bool(flagged),
                     "label_index": -1 if label is None else int(label),
                     "label_class": -1 if label is None else int(lab_class[label]),
                     "label_xyxy": nan4 if label is None else tuple(lab_xyxy[label]),
                     "pred_index": -1 if pred is None else int(order_M[pred]),
                     "pred_class": -1 if pred is None else int(pred_class[pred]),
                     "pred_confidence": np.nan if pred is None else float(pred_prob[pred]),
                     "pred_xyxy": nan4 if pred is None else tuple(pred_xyxy[pred])})

    for j, s in enumerate(scores["overlooked"]):
        if not np.isnan(s):
            row("overlooked", s, flags["overlooked"][j], None, j)
    overlapping = (rank._has_overlap(lab_xyxy, lab_class) if overlapping_label_check and
                   len(lab_class) else np.zeros(len(lab_class), bool))
    high, low = params["high_probability_threshold"], params["low_probability_threshold"]
    for l_index, k in enumerate(lab_class):
        if overlapping[l_index]:
            row("swap", scores["swap"][l_index], flags["swap"][l_index], l_index, None)
        else:
            others = np.flatnonzero((pred_class != k) & (pred_prob > high))
            if len(others):
                best = others[np.argmax(sim_L_M[l_index, others])]
                if iou_L_M[l_index, best] > 0:
                    row("swap", scores["swap"][l_index], flags["swap"][l_index], l_index,
                        best)
        same = np.flatnonzero((pred_class == k) & (pred_prob > low) & (iou_L_M[l_index] > 0))
        if len(same):
            best = same[np.argmax(sim_L_M[l_index, same])]
            row("badloc", scores["badloc"][l_index], flags["badloc"][l_index], l_index,
                best)
    return rows
