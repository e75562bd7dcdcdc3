"""Utilities: how much a label of each pool image is worth, as one number per image (numpy only).

A utility is the first half of a strategy (:mod:`alkit.core.strategy`; the second half, the
selector, turns utilities into picks). It is called as ``utility(scores, context) -> (N,)``
(higher = more worth labeling) and says which :class:`alkit.core.context.RoundContext` fields
it needs (``needs``). Two kinds:

* :class:`Uncertainty`: ``measure x reduction x class weights x cost per image``. The measure
  scores each box (:data:`alkit.core.uncertainty.MEASURES`); the reduction combines an image's
  boxes: ``max`` / ``mean3`` / ``mean`` / ``sum`` over the boxes at the scores' confidence
  threshold (an image without one is maximally uncertain), or over every candidate down to
  confidence 0.05: ``expected`` (``sum_b p_b u_b``, each candidate weighted by its
  confidence) or ``candidate_sum`` (PPAL's ``sum_b u_b``); the class weights scale each
  candidate by its predicted class (``difficulty``: PPAL's difficulty-calibrated weights;
  ``gain``: the expected mAP gain of one more object of the class; :mod:`alkit.core.
  difficulty`), or spread over its class scores (``soft_weights``); ``per_second`` divides by
  the image's expected annotation seconds.
* :class:`Disagreement`: a committee's disagreement (query-by-committee), computed by the
  loop from ``members`` models and handed over in the context.

A measure that cannot rank the model's classes (``entropy`` over one class) is refused when
the utility is called, with a message naming the class count and what to use instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from alkit.core.context import RoundContext
from alkit.core.difficulty import WEIGHT_ALPHA, WEIGHT_UPPER, difficulty_weights, gain_weights
from alkit.core.pool import PoolScores
from alkit.core.uncertainty import MEASURES, TABLE_REDUCTIONS, check_ranks

#: Reductions over the boxes at the confidence threshold (the score table's suffixes).
BOX_REDUCTIONS = tuple(suffix for suffix, _ in TABLE_REDUCTIONS)
#: Reductions over every candidate down to confidence 0.05 (:func:`alkit.core.uncertainty.
#: candidate_scores`: ``expected`` and PPAL's ``sum``).
CANDIDATE_REDUCTIONS = ("expected", "candidate_sum")
#: Class weightings (``None``: every class weighs 1).
WEIGHTINGS = ("difficulty", "gain")


@dataclass(frozen=True)
class Uncertainty:
    """``measure x reduction x class weights x cost per image`` (module docstring).

    Attributes:
        measure: the per-box measure, one of :data:`alkit.core.uncertainty.MEASURES`.
        reduction: one of :data:`BOX_REDUCTIONS` or :data:`CANDIDATE_REDUCTIONS`.
        weights: ``None``, ``"difficulty"`` or ``"gain"`` (candidate reductions only).
        soft_weights: a candidate weighs ``sum_c q_c * w_c`` over its renormalized class
            scores ``q`` instead of its predicted class's weight (PPAL's), so that classes a
            weak model hardly ever predicts still count (:func:`alkit.core.uncertainty.
            candidate_scores`).
        per_second: divide by the image's expected annotation seconds
            (:meth:`alkit.core.context.RoundContext.expected_seconds`).
        calibrated: read each candidate's confidence through the round's confidence
            calibration (:mod:`alkit.core.calibration`: the share of boxes of that confidence
            that are right on images with ground truth) before the measure and the
            ``expected`` weight; candidate reductions only.
    """

    measure: str = "least_confidence"
    reduction: str = "max"
    weights: str | None = None
    soft_weights: bool = False
    per_second: bool = False
    calibrated: bool = False

    def __post_init__(self):
        if self.measure not in MEASURES:
            raise ValueError(f"unknown measure {self.measure!r}; expected one of {MEASURES}")
        reductions = (*BOX_REDUCTIONS, *CANDIDATE_REDUCTIONS)
        if self.reduction not in reductions:
            raise ValueError(f"unknown reduction {self.reduction!r}; expected one of "
                             f"{reductions}")
        if self.weights is not None and self.weights not in WEIGHTINGS:
            raise ValueError(f"weights must be None or one of {WEIGHTINGS}, got "
                             f"{self.weights!r}")
        if self.weights is not None and self.reduction not in CANDIDATE_REDUCTIONS:
            raise ValueError(f"class weights scale candidates: use a reduction of "
                             f"{CANDIDATE_REDUCTIONS}, not {self.reduction!r}")
        if self.calibrated and self.reduction not in CANDIDATE_REDUCTIONS:
            raise ValueError(f"calibrated confidences are read by the candidate reductions "
                             f"{CANDIDATE_REDUCTIONS}, not {self.reduction!r}")

    @property
    def needs(self) -> tuple[str, ...]:
        """The context fields this utility reads: the class quality for weights, the class
        counts too for gain weights, the confidence calibration when ``calibrated``."""
        weights = {None: (), "difficulty": ("class_quality",),
                   "gain": ("class_quality", "class_counts")}[self.weights]
        return (*weights, "confidence_calibration") if self.calibrated else weights

    @property
    def column(self) -> str | None:
        """The score-table column holding this utility without weights and cost, if any."""
        if self.reduction in BOX_REDUCTIONS:
            return f"{self.measure}_{self.reduction}"
        if self.calibrated or self.reduction != "expected":
            return None
        return f"candidate_{self.measure}"

    def class_weights(self, context: RoundContext) -> np.ndarray | None:
        """(C,) the class weights of ``context`` (``None`` without a weighting)."""
        if self.weights == "difficulty":
            return difficulty_weights(context.class_quality, alpha=WEIGHT_ALPHA,
                                      upper=WEIGHT_UPPER)
        if self.weights == "gain":
            return gain_weights(context.class_quality, context.class_counts)
        return None

    def __call__(self, scores: PoolScores, context: RoundContext) -> np.ndarray:
        """(N,) the utility of every row of ``scores`` (float64, >= 0)."""
        check_ranks(self.measure, scores.n_classes)
        if self.reduction in BOX_REDUCTIONS:
            reduction = dict(TABLE_REDUCTIONS)[self.reduction]
            u = scores.image_scores(self.measure, reduction, n=3)
        else:
            mode = "expected" if self.reduction == "expected" else "sum"
            u = scores.candidate_scores(self.measure, mode=mode,
                                        class_weights=self.class_weights(context),
                                        soft_weights=self.soft_weights,
                                        calibration=(context.confidence_calibration
                                                     if self.calibrated else None))
        if self.per_second:
            u = u / np.maximum(context.expected_seconds(scores), 1e-9)
        return np.asarray(u, dtype=np.float64)

    def to_dict(self) -> dict:
        """The fields as a plain dict (``kind`` names the class; ``calibrated`` only when set,
        so that the records of grids made before it still match)."""
        fields = asdict(self)
        if not self.calibrated:
            del fields["calibrated"]
        return {"kind": "uncertainty", **fields}


@dataclass(frozen=True)
class Disagreement:
    """A committee's disagreement per image (:func:`alkit.core.disagreement.
    committee_disagreement`): the loop trains ``members`` models on resamples of the labeled
    set, scores the pool with each and puts the disagreement in the context.

    Attributes:
        members: committee size (>= 2).
    """

    members: int = 3
    needs = ("disagreement",)
    column = None

    def __post_init__(self):
        if self.members < 2:
            raise ValueError(f"a committee needs at least 2 members, got {self.members}")

    def __call__(self, scores: PoolScores, context: RoundContext) -> np.ndarray:
        """(N,) the context's disagreement."""
        return np.asarray(context.disagreement, dtype=np.float64)

    def to_dict(self) -> dict:
        """The fields as a plain dict (``kind`` names the class)."""
        return {"kind": "disagreement", "members": self.members}
