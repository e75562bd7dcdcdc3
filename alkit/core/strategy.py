"""Strategies: a utility (what an image is worth) and a selector (how the picks are made).

A :class:`Strategy` composes one utility of :mod:`alkit.core.utility` (or none) with one
selector of :mod:`alkit.core.selectors`, after modAL's utility + selector split and baal's
small one-question objects. ``strategy.select(scores, context, budget)`` runs it over a pool's
:class:`alkit.PoolScores` with the round's :class:`alkit.core.context.RoundContext` and returns
an :class:`alkit.Selection`. A strategy that needs something the context lacks (class quality,
class counts, a committee's disagreement) is refused with a message that names it, never run
with a silent substitute; embeddings with NaN are refused naming the images.

A new strategy is one object: ``Strategy("mine", TopK(), Uncertainty("margin", "mean3"))``,
or any object with ``name``, ``needs``, ``select(...)`` and ``to_dict()``; a
:class:`alkit.Query` takes it as it takes a name.

The named strategies (:data:`STRATEGIES`; which to use when: docs/selection.md):

==================  ==========================================================================
``calibrated``      the default: candidate-level detection entropy, weighted by the expected
                    mAP gain of one more object of each class, per second of expected
                    annotation; a 10x shortlist spread over k-means clusters (Cluster-Margin)
``random``          the baseline
``least_confidence`` the image's least confident box (1 - min confidence), top K: the seed's
                    starter rule; any other measure and reduction via ``with_measure``
``coreset``         k-center greedy from the labeled set (diversity)
``hybrid``          0.7 * uncertainty + 0.3 * distance to the nearest labeled or picked image
``typiclust``       TypiClust's cold start (typical images of uncovered clusters)
``ppal``            PPAL as published: difficulty-calibrated detection entropy, a 4x
                    shortlist spread by k-medoids on category-conditioned similarity
``committee``       query-by-committee: the disagreement of 3 models, top K
==================  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from alkit.core.context import RoundContext
from alkit.core.pool import PoolScores
from alkit.core.selection import Selection
from alkit.core.selectors import Hybrid, KCenter, RandomOrder, Shortlist, TopK, Typical
from alkit.core.utility import Disagreement, Uncertainty

#: What a context field is, for the message that refuses a strategy without it.
_NEEDS = {
    "class_quality": "the model's class quality on images with ground truth (a round measures "
                     "it on the dataset's val split, else on the labeled set; alkit select: "
                     "--checks DATASET_YAML --model WEIGHTS)",
    "class_counts": "the labeled objects per class (a round counts its labels; alkit select: "
                    "--checks DATASET_YAML, counted from its train labels)",
    "disagreement": "a committee's disagreement (alkit round trains the committee; alkit "
                    "select cannot)",
    "confidence_calibration": "what the model's confidences mean, fitted on images with "
                              "ground truth (a round fits it on the dataset's val split, else "
                              "on the labeled set; alkit select: --checks DATASET_YAML --model "
                              "WEIGHTS), and enough checked boxes for a fit (at least 100, "
                              "10 right and 10 wrong)",
}


@dataclass(frozen=True)
class Strategy:
    """A named utility + selector (module docstring).

    Attributes:
        name: what the ledger and reports call it.
        selector: a selector of :mod:`alkit.core.selectors`.
        utility: a utility of :mod:`alkit.core.utility`, or ``None`` for a selector that
            reads none (random, k-center, TypiClust).
    """

    name: str
    selector: object
    utility: object | None = None

    def __post_init__(self):
        if self.selector.uses_utility and self.utility is None:
            raise ValueError(f"strategy {self.name!r}: its selector ranks by a utility; give "
                             "one (alkit.core.utility)")

    @property
    def needs(self) -> tuple[str, ...]:
        """The :class:`alkit.core.context.RoundContext` fields the strategy reads."""
        return tuple(getattr(self.utility, "needs", ()))

    @property
    def spreads(self) -> bool:
        """Whether the selector spreads its picks itself (then a near-duplicate filter has
        nothing to add)."""
        return self.selector.spreads

    @property
    def committee_members(self) -> int:
        """Models the loop trains for the disagreement (0: no committee)."""
        return getattr(self.utility, "members", 0) if "disagreement" in self.needs else 0

    @property
    def uses_seconds(self) -> bool:
        """Whether the utility divides by expected annotation seconds (so the loop calibrates
        the expected boxes)."""
        return bool(getattr(self.utility, "per_second", False))

    @property
    def table_column(self) -> str:
        """The score-table column closest to the utility (``least_confidence_max`` when there
        is none): what an annotation tool shows as the model's uncertainty."""
        return getattr(self.utility, "column", None) or "least_confidence_max"

    def with_measure(self, measure: str) -> Strategy:
        """The same strategy with the utility's per-box measure replaced (``ValueError`` for a
        strategy whose utility has no measure)."""
        if not isinstance(self.utility, Uncertainty):
            raise ValueError(f"strategy {self.name!r} reads no uncertainty measure")
        return replace(self, utility=replace(self.utility, measure=measure))

    def select(self, scores: PoolScores, context: RoundContext, budget: float, *,
               cost_N=None, random_state=None) -> Selection:
        """Pick from ``scores`` with ``context`` (its ``labeled`` rows are never picked):
        ``budget`` images, or with ``cost_N`` (N,) that much cost; ``random_state`` (``None``,
        an int or a Generator) draws ties and the selector's random choices."""
        self.check(scores, context)
        utility = None if self.utility is None else self.utility(scores, context)
        if utility is not None and not np.all(np.isfinite(utility)):
            raise ValueError(f"strategy {self.name!r}: the utility is not finite for "
                             f"{int((~np.isfinite(utility)).sum())} image(s)")
        rows, values, reasons, report = self.selector.pick(
            utility, scores, context, budget, cost_N, random_state)
        if utility is not None and len(np.unique(utility[~context.labeled])) == 1:
            report = {**report, "constant_utility": "every unlabeled image has the same "
                      "utility (a model that finds nothing?): ties went in a random order"}
        return Selection(rows, values, list(reasons), self.name,
                         {**report, **self._report(context)})

    def check(self, scores: PoolScores, context: RoundContext) -> None:
        """Refuse what this strategy cannot run on with ``scores`` and ``context``: a missing
        context field (named, with where it comes from), embeddings with NaN (the images
        named)."""
        if len(context.labeled) != len(scores):
            raise ValueError(f"the context has {len(context.labeled)} rows, the scores "
                             f"{len(scores)}")
        for need in self.needs:
            if getattr(context, need) is None:
                raise ValueError(f"strategy {self.name!r} needs {_NEEDS[need]}")
        if self.selector.needs_embeddings:
            bad = np.flatnonzero(~np.all(np.isfinite(scores.embeddings), axis=1))
            if len(bad):
                named = ", ".join(scores.paths[i] for i in bad[:5])
                raise ValueError(f"strategy {self.name!r} spreads picks over the embeddings, "
                                 f"and {len(bad)} image(s) have NaN or inf in theirs: {named}"
                                 f"{', ...' if len(bad) > 5 else ''} (rescore them)")

    def _report(self, context: RoundContext) -> dict:
        report = {}
        weights = getattr(self.utility, "class_weights", None)
        if weights is not None and self.utility.weights is not None:
            report["class_quality"] = [round(float(q), 4) for q in context.class_quality]
            report["class_weights"] = [round(float(w), 4) for w in weights(context)]
        if self.uses_seconds and context.box_count_fit is not None:
            report["box_count_fit"] = context.box_count_fit.to_dict()
        if "confidence_calibration" in self.needs:
            report["confidence_calibration"] = context.confidence_calibration.to_dict()
        return report

    def to_dict(self) -> dict:
        """``{"name", "selector", "utility"}`` as plain dicts (what the ledger records)."""
        return {"name": self.name, "selector": self.selector.to_dict(),
                "utility": None if self.utility is None else self.utility.to_dict()}


#: The default strategy of :class:`alkit.Query`, ``alkit round``, ``alkit select``, the
#: starter's third arm and the notebooks.
DEFAULT = "calibrated"

#: The named strategies (module docstring; docs/selection.md says which to use when).
STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("calibrated", Shortlist(m_factor=10.0, spread="clusters"),
             Uncertainty("detection_entropy", "expected", weights="gain", soft_weights=True,
                         per_second=True)),
    Strategy("random", RandomOrder()),
    Strategy("least_confidence", TopK(), Uncertainty("least_confidence", "max")),
    Strategy("coreset", KCenter()),
    Strategy("hybrid", Hybrid(alpha=0.7, beta=0.3), Uncertainty("least_confidence", "mean3")),
    Strategy("typiclust", Typical()),
    Strategy("ppal", Shortlist(m_factor=4.0, spread="medoids"),
             Uncertainty("detection_entropy", "candidate_sum", weights="difficulty")),
    Strategy("committee", TopK(), Disagreement(members=3)),
)}

#: Names that existed before the short list, and what to use instead.
REMOVED = {
    "uncertainty": "least_confidence (with --measure / with_measure for another measure)",
    "mean3": "least_confidence with the mean3 reduction: Strategy('mean3', TopK(), "
             "Uncertainty('least_confidence', 'mean3'))",
    "entropy": "least_confidence with --measure entropy (or detection_entropy)",
    "margin": "least_confidence with --measure margin",
    "candidate": "calibrated",
    "diversity": "coreset (distance to the labeled set) or typiclust",
    "two_stage": "calibrated (an uncertainty shortlist spread over clusters)",
    "rare_class": "calibrated (its gain weights favour hard classes with few labels)",
    "auto": "calibrated", "auto_gain": "calibrated", "auto_cm": "calibrated",
    "auto_cm_gain": "calibrated (the same ranking, without the switch)",
    "calibrated_cm_gain": "calibrated",
}


def strategy(name_or_strategy) -> Strategy:
    """The strategy ``name_or_strategy`` names in :data:`STRATEGIES` (a :class:`Strategy` or
    any strategy object passes through); a removed name raises ``ValueError`` naming its
    replacement, an unknown one the names."""
    if not isinstance(name_or_strategy, str):
        return name_or_strategy
    if name_or_strategy in STRATEGIES:
        return STRATEGIES[name_or_strategy]
    if name_or_strategy in REMOVED:
        raise ValueError(f"strategy {name_or_strategy!r} was removed: use "
                         f"{REMOVED[name_or_strategy]}")
    raise ValueError(f"unknown strategy {name_or_strategy!r}; expected one of "
                     f"{sorted(STRATEGIES)}")
