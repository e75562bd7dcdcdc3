"""The query: what a round asks the pool for (one object, one table of named queries).

A :class:`Query` names a selection strategy (:data:`alkit.core.selection.STRATEGIES`), the
uncertainty measure it reads (a column of the score table, for example
``least_confidence_mean3`` or ``candidate_entropy``), the budget and its unit (``images``;
``boxes``: the model's own predicted boxes per image, at least 1; or ``cost``: seconds of
annotation by the query's cost model, :mod:`alkit.core.cost`), the strategy's parameters, an
optional near-duplicate
filter (cosine similarity of embeddings), the confidence at or above which a predicted box
counts, and, for query-by-committee, the number of members whose disagreement replaces the
measure. :func:`run_query` runs it over a pool's scores; :data:`QUERIES` are the named queries
of the command line and the benchmark.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

from alkit.core import selection
from alkit.core.cost import SECONDS_PER_BOX, SECONDS_PER_IMAGE, CostModel
from alkit.core.settings import replace_settings
from alkit.core.strategies import lift_weighting
from alkit.core.uncertainty import TABLE_MEASURES

BUDGET_UNITS = selection.BUDGET_UNITS


@dataclass(frozen=True)
class Query:
    """What a round selects.

    Attributes:
        strategy: one of :data:`alkit.core.selection.STRATEGIES`.
        measure: the score-table column used as uncertainty (higher = more uncertain), one of
            :data:`alkit.core.uncertainty.TABLE_MEASURES`.
        budget: how much to pick per round, in ``budget_unit``.
        budget_unit: ``"images"``, ``"boxes"`` (the model's predicted boxes per image at
            ``conf_threshold``, at least 1: annotators are paid per box) or ``"cost"``
            (seconds: ``seconds_per_image + seconds_per_box * expected boxes``).
        params: the strategy's parameters (:data:`alkit.core.selection.STRATEGY_PARAMS`).
        committee_members: > 0: query-by-committee; this many members are trained each round
            and their disagreement replaces ``measure``.
        dedupe_threshold: if set, picks whose embedding has cosine similarity at or above it to
            an earlier pick or a labeled image are passed over.
        conf_threshold: predicted boxes at or above it count in the measures and box budgets.
        seconds_per_image: annotation seconds per image of the cost model.
        seconds_per_box: annotation seconds per box of the cost model.
    """

    strategy: str = "two_stage"
    measure: str = "least_confidence_mean3"
    budget: float = 100
    budget_unit: str = "images"
    params: Mapping = field(default_factory=dict)
    committee_members: int = 0
    dedupe_threshold: float | None = None
    conf_threshold: float = 0.25
    seconds_per_image: float = SECONDS_PER_IMAGE
    seconds_per_box: float = SECONDS_PER_BOX

    def __post_init__(self):
        object.__setattr__(self, "params", dict(self.params))
        if self.strategy not in selection.STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; expected one of "
                             f"{selection.STRATEGIES}")
        if self.measure not in TABLE_MEASURES:
            raise ValueError(f"unknown measure {self.measure!r}; expected one of "
                             f"{TABLE_MEASURES}")
        if self.budget_unit not in BUDGET_UNITS:
            raise ValueError(f"budget_unit must be one of {BUDGET_UNITS}, got "
                             f"{self.budget_unit!r}")
        if not self.budget >= 0:
            raise ValueError(f"budget must be >= 0, got {self.budget}")
        allowed = selection.STRATEGY_PARAMS[self.strategy]
        unknown = sorted(set(self.params) - set(allowed))
        if unknown:
            raise ValueError(f"strategy {self.strategy!r} takes the parameters {allowed}, not "
                             f"{unknown}")
        if self.committee_members < 0 or self.committee_members == 1:
            raise ValueError("committee_members must be 0 (no committee) or at least 2, got "
                             f"{self.committee_members}")
        if self.dedupe_threshold is not None and not 0 < self.dedupe_threshold <= 1:
            raise ValueError(f"dedupe_threshold must lie in (0, 1], got {self.dedupe_threshold}")
        if not 0.0 <= self.conf_threshold <= 1.0:
            raise ValueError(f"conf_threshold must lie in [0, 1], got {self.conf_threshold}")
        CostModel(self.seconds_per_image, self.seconds_per_box)  # checks the seconds
        self._check_candidate_strategy()

    def _check_candidate_strategy(self) -> None:
        if self.strategy not in ("calibrated", "typiclust", "auto"):
            return
        if self.strategy != "typiclust" and not self.measure.startswith("candidate_"):
            raise ValueError(f"strategy {self.strategy!r} reads a candidate measure "
                             f"(candidate_entropy, ...), not {self.measure!r}")
        if self.dedupe_threshold is not None or self.committee_members:
            raise ValueError(f"strategy {self.strategy!r} spreads its picks itself: it takes "
                             "no dedupe_threshold and no committee")
        lift_weighting(self.params)  # a bad lift_weights / weights fails here, not in a round

    @property
    def cost_model(self) -> CostModel:
        """The :class:`alkit.core.cost.CostModel` of this query's seconds."""
        return CostModel(self.seconds_per_image, self.seconds_per_box)

    def to_dict(self) -> dict:
        """Plain JSON-able dict of the fields (what the ledger records for a round)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> Query:
        """The query a :meth:`to_dict` wrote: ``data`` maps field names to values; missing
        fields keep the defaults, ``None`` values leave the default too, and unknown keys raise
        ``TypeError``."""
        return replace_settings(cls(), dict(data), "query")


#: Named queries: the strategies of ``alkit round --strategy``, ``alkit select`` and the
#: benchmark. Each fixes a strategy, a measure and parameters; budgets are set per use.
QUERIES: dict[str, Query] = {
    "random": Query("random", "least_confidence_max"),
    "uncertainty": Query("uncertainty", "least_confidence_mean3"),
    "least_confidence": Query("uncertainty", "least_confidence_max"),
    "mean3": Query("uncertainty", "least_confidence_mean3"),
    "entropy": Query("uncertainty", "entropy_max"),
    "margin": Query("uncertainty", "margin_max"),
    "diversity": Query("diversity", "least_confidence_max"),
    "coreset": Query("coreset", "least_confidence_max"),
    "hybrid": Query("hybrid", "least_confidence_mean3", params={"alpha": 0.7, "beta": 0.3}),
    "two_stage": Query("two_stage", "least_confidence_mean3"),
    "rare_class": Query("rare_class", "least_confidence_mean3"),
    # candidate-level: every candidate down to confidence 0.05, weighted by its confidence
    "candidate": Query("uncertainty", "candidate_entropy"),
    # PPAL-style: difficulty-calibrated candidate entropy per second of expected annotation
    # cost, a 4x shortlist spread by k-center from the labeled set
    "calibrated": Query("calibrated", "candidate_entropy"),
    # the same shortlist spread by PPAL's category-conditioned similarity of per-box features
    "ppal": Query("calibrated", "candidate_entropy", params={"diversity": "ccms"}),
    "typiclust": Query("typiclust", "candidate_entropy"),
    # TypiClust until the model's uncertainty is measured to find its error faster than
    # random picks (the lift on the val split), calibrated from then on
    "auto": Query("auto", "candidate_entropy"),
    # the same, calibrated with classes weighted by the expected mAP gain of one more object
    "auto_gain": Query("auto", "candidate_entropy", params={"weights": "gain"}),
    # the same switch, the calibrated rounds spread as Cluster-Margin spreads its batch: a 10x
    # shortlist taken round-robin over k-means clusters of the pool, smallest first
    "auto_cm": Query("auto", "candidate_entropy",
                     params={"diversity": "clusters", "m_factor": 10.0}),
    # auto_cm's switch (the lift with PPAL's weights) and spread, the calibrated rounds ranked
    # with gain weights (the expected mAP gain of one more object of each class)
    "auto_cm_gain": Query("auto", "candidate_entropy",
                          params={"diversity": "clusters", "m_factor": 10.0, "weights": "gain",
                                  "lift_weights": "difficulty"}),
    # auto_cm_gain's calibrated rounds from the first round on (no TypiClust, no switch)
    "calibrated_cm_gain": Query("calibrated", "candidate_entropy",
                                params={"diversity": "clusters", "m_factor": 10.0,
                                        "weights": "gain"}),
    # the disagreement of 3 members replaces the measure: 4 trainings a round
    "committee": Query("uncertainty", "least_confidence_max", committee_members=3),
}


def query_name(recorded: Mapping) -> str | None:
    """The name in :data:`QUERIES` of the query a round recorded (``recorded``: a
    :meth:`Query.to_dict`, possibly with what the strategy reported added): the first named
    query with the same strategy, measure, parameters and committee; ``None`` for a query no
    name fixes (for example one with its own parameters)."""
    for name, named in QUERIES.items():
        if (recorded.get("strategy"), recorded.get("measure"), recorded.get("params"),
                recorded.get("committee_members", 0)) == (
                named.strategy, named.measure, named.params, named.committee_members):
            return name
    return None


def query(name: str = "two_stage", **overrides) -> Query:
    """The named query ``name`` of :data:`QUERIES` with ``overrides`` (field names) applied; a
    ``None`` override leaves the named value (handy for optional command-line flags)."""
    if name not in QUERIES:
        raise ValueError(f"unknown query {name!r}; expected one of {sorted(QUERIES)}")
    return replace_settings(QUERIES[name], overrides, "query")


def run_query(query: Query, scores, *, labeled=None, class_counts=None, class_quality=None,
              box_count_fit=None, uncertainty_lift=None, uncertainty_N=None,
              random_state=None) -> selection.Selection:
    """Run ``query`` over a pool's :class:`alkit.PoolScores` (scored at the query's
    ``conf_threshold``); see :func:`alkit.core.selection.select_from_scores`.

    Args:
        query: the :class:`Query` to run (strategy, measure, budget, parameters).
        scores: the pool's :class:`alkit.PoolScores`; its ``conf_threshold`` must equal the
            query's (``ValueError`` otherwise).
        labeled: pool rows already labeled (mask or indices): never picked, and the initial
            centres of k-center and the anchors of the near-duplicate filter.
        class_counts: (C,) labeled-set instance counts (the ``rare_class`` strategy).
        class_quality: (C,) the model's class quality on labeled images
            (:func:`alkit.core.difficulty.class_quality`; ``calibrated`` and ``auto``).
        box_count_fit: expected boxes calibrated on checked images
            (:class:`alkit.core.cost.BoxCountFit`) for cost budgets and cost-aware ranking.
        uncertainty_lift: how well the model's uncertainty finds its error on checked images
            (:func:`alkit.core.strategies.measure_lift`), the switch of ``auto``.
        uncertainty_N: (N,) an uncertainty that replaces the measure (a committee's
            disagreement).
        random_state: ``None``, an int seed or a ``numpy.random.Generator`` for the
            strategy's random draws (:func:`alkit.core.randomness.check_random_state`).
    Returns:
        the :class:`alkit.Selection`; its ``params`` hold the query and what the strategy
        reported (for the ledger).
    """
    if abs(scores.conf_threshold - query.conf_threshold) > 1e-12:
        raise ValueError(f"the scores count boxes at confidence >= {scores.conf_threshold}, the "
                         f"query at >= {query.conf_threshold}: score with the query's threshold")
    picked = selection.select_from_scores(
        scores, query.strategy, query.budget, measure=query.measure, labeled=labeled,
        budget_unit=query.budget_unit, class_counts=class_counts, class_quality=class_quality,
        cost_model=query.cost_model, box_count_fit=box_count_fit,
        uncertainty_lift=uncertainty_lift, dedupe_threshold=query.dedupe_threshold,
        uncertainty_N=uncertainty_N, random_state=random_state, **query.params)
    return replace(picked, params={**query.to_dict(), **picked.params})
