"""Running ``calibrated``, ``typiclust`` and ``auto`` over a pool's scores.

:func:`alkit.core.selection.select_from_scores` hands these three strategies here: they read
more of the scores than one table column (every candidate with its class scores, the expected
boxes, the embeddings) and the model's class quality on labeled images.
"""

from __future__ import annotations

import numpy as np

from alkit.core.calibrated import (
    AUTO_LIFT_THRESHOLD,
    LiftCheck,
    auto_choice,
    calibrated_selection,
    uncertainty_lift,
)
from alkit.core.ccms import ccms_similarity
from alkit.core.difficulty import (
    WEIGHT_ALPHA,
    WEIGHT_UPPER,
    difficulty_weights,
    gain_weights,
)
from alkit.core.selection import Selection
from alkit.core.typicality import typiclust_selection


def base_measure(measure: str) -> str:
    """The per-box measure of a candidate column: ``candidate_entropy`` -> ``entropy``."""
    if not measure.startswith("candidate_"):
        raise ValueError(f"calibrated and auto read a candidate measure (candidate_entropy, "
                         f"candidate_least_confidence, ...), not {measure!r}")
    return measure.removeprefix("candidate_")


#: How ``calibrated`` weighs classes (its ``weights`` parameter).
WEIGHTINGS = ("difficulty", "gain")


def calibrated_uncertainty(scores, measure: str, class_quality=None, *,
                           weighting: str = "difficulty", class_counts=None,
                           weight_alpha: float = WEIGHT_ALPHA,
                           weight_upper: float = WEIGHT_UPPER) -> tuple[np.ndarray, np.ndarray]:
    """``(uncertainty_N, weights_C)``: candidate-level ``measure`` of every image of
    ``scores`` (:class:`alkit.PoolScores`) with class weights from ``class_quality`` (C,)
    (all weights 1 when it is ``None``).

    Args:
        scores: the pool's scores.
        measure: a ``candidate_<measure>`` column name.
        class_quality: (C,) class qualities, or ``None``.
        weighting: ``"difficulty"``: PPAL's weights
            (:func:`alkit.core.difficulty.difficulty_weights`); ``"gain"``: the expected mAP
            gain of one more object of each class (:func:`alkit.core.difficulty.
            gain_weights`, which also reads ``class_counts``).
        class_counts: (C,) labeled objects per class, for ``"gain"`` (``None``: no class
            has any, so the weights follow the quality alone).
        weight_alpha: ``a`` of :func:`alkit.core.difficulty.difficulty_weights`.
        weight_upper: ``u`` of :func:`alkit.core.difficulty.difficulty_weights`.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weights must be one of {WEIGHTINGS}, got {weighting!r}")
    if class_quality is None:
        weights = np.ones(scores.n_classes)
    elif weighting == "gain":
        counts = np.zeros(len(class_quality)) if class_counts is None else class_counts
        weights = gain_weights(class_quality, counts)
    else:
        weights = difficulty_weights(class_quality, alpha=weight_alpha, upper=weight_upper)
    if len(weights) != scores.n_classes:
        raise ValueError(f"class_quality has {len(weights)} classes, the scores "
                         f"{scores.n_classes}")
    return scores.candidate_scores(base_measure(measure), class_weights=weights), weights


def lift_weighting(params) -> str:
    """The class weighting ``auto``'s switch measures the lift with (:func:`measure_lift`):
    ``params["lift_weights"]`` when set, else the calibrated rounds' ``params["weights"]``
    (default ``"difficulty"``). ``auto_cm_gain`` ranks its calibrated rounds with gain weights
    but switches on the difficulty-weighted lift, as ``auto_cm`` does."""
    key = "lift_weights" if "lift_weights" in params else "weights"
    weighting = params.get(key, "difficulty")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"{key} must be one of {WEIGHTINGS}, got {weighting!r}")
    return weighting


def measure_lift(scores, labels_by_path, measure: str, class_quality, cost_model,
                 box_count_fit=None, *, weighting: str = "difficulty", class_counts=None
                 ) -> LiftCheck | None:
    """How well the model's calibrated uncertainty finds its error on checked images
    (:func:`alkit.core.calibrated.uncertainty_lift`): ``scores`` (:class:`alkit.PoolScores`)
    of images with ground truth ``labels_by_path`` are ranked as ``calibrated`` ranks a pool
    (``measure`` with the weights of ``class_quality``, per second of expected annotation by
    ``cost_model`` with the expected boxes of ``box_count_fit``; ``weighting`` and
    ``class_counts`` as in :func:`calibrated_uncertainty`) and their annotation seconds come
    from their real boxes. ``None`` when too few images can be checked."""
    rows, errors, boxes = scores.image_errors(labels_by_path)
    if not len(rows):
        return None
    uncertainty, _ = calibrated_uncertainty(scores, measure, class_quality, weighting=weighting,
                                            class_counts=class_counts)
    expected = (scores.expected_boxes if box_count_fit is None
                else np.maximum(box_count_fit.predict(scores.box_count_features), 0.0))
    rank = uncertainty / np.maximum(cost_model.cost(expected), 1e-9)
    return uncertainty_lift(rank[rows], errors, cost_model.cost(boxes))


def run_new_strategy(strategy, scores, measure, budget, mask, cost, expected_cost,
                     class_quality, random_state, params, lift=None, class_counts=None
                     ) -> Selection:
    """Run ``calibrated``, ``typiclust`` or ``auto`` over ``scores`` (:class:`alkit.PoolScores`).

    ``strategy``, ``measure`` (a candidate column), ``budget``, ``class_quality`` and
    ``random_state`` are as in :func:`alkit.core.selection.select_from_scores`; ``mask`` is
    the (N,) labeled rows, ``cost`` the per-image cost the budget counts in (``None``:
    images), ``expected_cost`` the (N,) expected annotation seconds per image (cost-aware
    ranking), ``params`` the strategy's parameters
    (:data:`alkit.core.selection.STRATEGY_PARAMS`) and ``lift`` the :class:`alkit.core.
    calibrated.LiftCheck` ``auto`` switches on (:func:`measure_lift`; ``None``: TypiClust);
    ``class_counts`` (C,) the labeled objects per class (the ``"gain"`` weights)."""
    params = dict(params)
    typiclust_params = {k: params.pop(k) for k in ("n_neighbors", "min_cluster_size")
                        if k in params}
    threshold = params.pop("threshold", AUTO_LIFT_THRESHOLD)
    params.pop("lift_weights", None)  # read where the lift is measured (lift_weighting)
    quality = None if class_quality is None else np.asarray(class_quality, dtype=np.float64)
    extra = {}
    if strategy == "auto":
        strategy = auto_choice(lift, threshold=threshold)
        extra = {"auto": strategy, "threshold": threshold,
                 "model_quality": None if quality is None else round(float(quality.mean()), 4)}
    if lift is not None:
        extra["uncertainty_lift"] = lift.to_dict()
    if strategy == "typiclust":
        picked = typiclust_selection(scores.embeddings, budget, labeled=mask, cost_N=cost,
                                     random_state=random_state, **typiclust_params)
    else:
        picked = _calibrated(scores, measure, budget, mask, cost, expected_cost, quality,
                             random_state, params, class_counts)
    if quality is not None:
        extra["class_quality"] = [round(float(q), 4) for q in quality]
    return Selection(picked.indices, picked.scores, picked.reasons, picked.strategy,
                     {**picked.params, **extra})


def _calibrated(scores, measure, budget, mask, cost, expected_cost, quality, random_state,
                params, class_counts=None):
    u, weights = calibrated_uncertainty(
        scores, measure, quality, weighting=params.pop("weights", "difficulty"),
        class_counts=class_counts, weight_alpha=params.pop("weight_alpha", WEIGHT_ALPHA),
        weight_upper=params.pop("weight_upper", WEIGHT_UPPER))
    cost_aware = params.pop("cost_aware", True)
    expected = expected_cost if cost_aware else None
    fallback = params.get("diversity") == "ccms" and scores.box_features is None
    if fallback:  # scores made before per-box features: the image embeddings spread instead
        params["diversity"] = "kcenter"
    picked = calibrated_selection(u, scores.embeddings, budget, labeled=mask, cost_N=cost,
                                  expected_cost_N=expected, distances=_ccms_distances(scores),
                                  random_state=random_state, **params)
    picked.params["class_weights"] = [round(float(w), 4) for w in weights]
    if fallback:
        picked.params["ccms_fallback"] = "no per-box features in these scores: kcenter"
    return picked


def _ccms_distances(scores):
    """``(candidates, centres) -> (C, L + C)`` distances ``1 - sim`` of PPAL's
    category-conditioned similarity over ``scores`` (:mod:`alkit.core.ccms`)."""
    if scores.box_features is None:
        return None

    def distances(candidates, centres):
        columns = np.concatenate([centres, candidates])
        return 1.0 - ccms_similarity(scores.box_features, scores.box_class,
                                     scores.box_confidence, scores.box_offsets, candidates,
                                     columns, conf_threshold=scores.conf_threshold)

    return distances
