"""The query: what a round asks the pool for, and :func:`run_query`, the one way to run it.

A :class:`Query` holds a strategy (:mod:`alkit.core.strategy`: a named one or any strategy
object), the budget and its unit (``images``; ``boxes``: the model's own predicted boxes per
image, at least 1; ``cost``: seconds of annotation by the query's cost model,
:mod:`alkit.core.cost`), an optional near-duplicate filter (cosine similarity of embeddings),
the confidence at or above which a predicted box counts, and the cost model's seconds.
:func:`run_query` runs it over a pool's scores with the round's
:class:`alkit.core.context.RoundContext`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

import numpy as np

from alkit.core.context import RoundContext
from alkit.core.cost import SECONDS_PER_BOX, SECONDS_PER_IMAGE, CostModel
from alkit.core.pool import PoolScores
from alkit.core.selection import BUDGET_UNITS, Selection, near_duplicate_filter
from alkit.core.strategy import DEFAULT, Strategy, strategy


@dataclass(frozen=True)
class Query:
    """What a round selects.

    Attributes:
        strategy: a name in :data:`alkit.STRATEGIES` (resolved to the object) or a strategy
            object (:class:`alkit.Strategy`, or anything with its methods).
        budget: how much to pick per round, in ``budget_unit`` (>= 0).
        budget_unit: ``"images"``, ``"boxes"`` (the model's predicted boxes per image at
            ``conf_threshold``, at least 1: annotators are paid per box) or ``"cost"``
            (seconds: ``seconds_per_image + seconds_per_box * expected boxes``).
        dedupe_threshold: if set, picks whose embedding has cosine similarity at or above it to
            an earlier pick or a labeled image are passed over (strategies that rank; one that
            spreads its picks itself refuses it).
        conf_threshold: predicted boxes at or above it count in the measures and box budgets.
        seconds_per_image: annotation seconds per image of the cost model.
        seconds_per_box: annotation seconds per box of the cost model.
    """

    strategy: Strategy | str = DEFAULT
    budget: float = 100
    budget_unit: str = "images"
    dedupe_threshold: float | None = None
    conf_threshold: float = 0.25
    seconds_per_image: float = SECONDS_PER_IMAGE
    seconds_per_box: float = SECONDS_PER_BOX

    def __post_init__(self):
        object.__setattr__(self, "strategy", strategy(self.strategy))
        if self.budget_unit not in BUDGET_UNITS:
            raise ValueError(f"budget_unit must be one of {BUDGET_UNITS}, got "
                             f"{self.budget_unit!r}")
        if not self.budget >= 0:
            raise ValueError(f"budget must be >= 0, got {self.budget}")
        if self.dedupe_threshold is not None and not 0 < self.dedupe_threshold <= 1:
            raise ValueError(f"dedupe_threshold must lie in (0, 1], got {self.dedupe_threshold}")
        if self.dedupe_threshold is not None and self.strategy.spreads:
            raise ValueError(f"strategy {self.strategy.name!r} spreads its picks itself: it "
                             "takes no dedupe_threshold")
        if not 0.0 <= self.conf_threshold <= 1.0:
            raise ValueError(f"conf_threshold must lie in [0, 1], got {self.conf_threshold}")
        CostModel(self.seconds_per_image, self.seconds_per_box)  # checks the seconds

    @property
    def cost_model(self) -> CostModel:
        """The :class:`alkit.core.cost.CostModel` of this query's seconds."""
        return CostModel(self.seconds_per_image, self.seconds_per_box)

    def to_dict(self) -> dict:
        """Plain JSON-able dict (what the ledger records for a round): the fields, the
        strategy as its name and, under ``strategy_parts``, its utility and selector."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "strategy"}
        return {"strategy": self.strategy.name, "strategy_parts": self.strategy.to_dict(),
                **data}

    @classmethod
    def from_dict(cls, data: Mapping) -> Query:
        """The query a :meth:`to_dict` wrote (``data``: that dict). The strategy is looked up
        by name; a record of a
        strategy whose parts differ from the named one (a custom strategy) raises
        ``ValueError``: pass that strategy object instead. Missing fields keep the defaults;
        unknown keys raise ``TypeError``."""
        data = dict(data)
        parts = data.pop("strategy_parts", None)
        named = strategy(data.pop("strategy", DEFAULT))
        if parts is not None and parts != named.to_dict():
            raise ValueError(f"the recorded strategy {parts.get('name')!r} is not the named one "
                             "of this alkit version: build it and pass the object")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(f"unknown query field(s) {unknown}")
        return cls(named, **{k: v for k, v in data.items() if v is not None})


def query(name: str | Strategy = DEFAULT, *, measure: str | None = None, **overrides) -> Query:
    """A :class:`Query` of the named strategy ``name`` (:data:`alkit.STRATEGIES`, or a
    strategy object) with ``overrides`` (its fields); ``measure`` replaces the utility's
    per-box measure (:meth:`alkit.Strategy.with_measure`). A ``None`` value leaves the
    default (handy for optional command-line flags)."""
    chosen = strategy(name)
    if measure is not None:
        chosen = chosen.with_measure(measure)
    unknown = sorted(set(overrides) - {f.name for f in fields(Query)} - {"strategy"})
    if unknown:
        raise TypeError(f"unknown query setting(s) {unknown}; a query takes "
                        f"{sorted(f.name for f in fields(Query))}")
    return Query(chosen, **{k: v for k, v in overrides.items() if v is not None})


def budget_costs(query: Query, scores: PoolScores, context: RoundContext) -> np.ndarray | None:
    """(N,) what each row of ``scores`` costs in the ``query``'s budget unit (``None`` for
    images), priced with ``context``: ``boxes``, the predicted boxes at the threshold (at
    least 1); ``cost``, the expected annotation seconds
    (:meth:`alkit.core.context.RoundContext.expected_seconds`)."""
    if query.budget_unit == "boxes":
        return np.maximum(scores.n_boxes, 1).astype(np.float64)
    if query.budget_unit == "cost":
        return context.expected_seconds(scores)
    return None


def run_query(query: Query, scores: PoolScores, context: RoundContext | None = None, *,
              random_state=None) -> Selection:
    """Run ``query`` over a pool's :class:`alkit.PoolScores` (scored at the query's
    ``conf_threshold``) with the round's ``context``.

    Args:
        query: the :class:`Query` (strategy, budget and unit, near-duplicate filter).
        scores: the pool's scores, labeled rows included (they are k-center's first centres,
            TypiClust's covered clusters and the near-duplicate filter's anchors).
        context: the :class:`alkit.core.context.RoundContext` (``None``: nothing labeled,
            nothing measured, the query's cost model); its ``cost_model`` is replaced by the
            query's.
        random_state: ``None``, an int seed or a ``numpy.random.Generator`` for the
            strategy's random draws (:func:`alkit.core.randomness.check_random_state`).
    Returns:
        the :class:`alkit.Selection`; its ``params`` hold the query and what the strategy
        reported (for the ledger).
    Raises:
        ValueError: an empty pool, scores made at another confidence threshold, a positive
            budget that buys no image, a strategy whose needs the context lacks.
    """
    if not len(scores):
        raise ValueError("the pool is empty: no scored image to select from")
    if abs(scores.conf_threshold - query.conf_threshold) > 1e-12:
        raise ValueError(f"the scores count boxes at confidence >= {scores.conf_threshold}, the "
                         f"query at >= {query.conf_threshold}: score with the query's threshold")
    context = replace(context or RoundContext.of(scores), cost_model=query.cost_model)
    cost = budget_costs(query, scores, context)
    _check_budget_buys_an_image(query.budget, query.budget_unit, cost, context.labeled)
    chosen = query.strategy
    if query.dedupe_threshold is None:
        picked = chosen.select(scores, context, query.budget, cost_N=cost,
                               random_state=random_state)
        report = {}
    else:  # the whole ranking, walked by the filter
        wide = chosen.select(scores, context, len(scores), random_state=random_state)
        kept, dropped = near_duplicate_filter(wide.indices, scores.embeddings, query.budget,
                                              threshold=query.dedupe_threshold,
                                              labeled=context.labeled, cost_N=cost)
        at = {int(i): p for p, i in enumerate(wide.indices)}
        picked = Selection(kept, wide.scores[[at[int(i)] for i in kept]],
                           [wide.reasons[at[int(i)]] for i in kept], wide.strategy, wide.params)
        report = {"n_dropped_duplicates": len(dropped)}
    if query.budget_unit == "cost" and context.box_count_fit is not None:
        report["box_count_fit"] = context.box_count_fit.to_dict()
    return replace(picked, params={**query.to_dict(), **picked.params, **report})


def _check_budget_buys_an_image(budget, unit, cost, labeled) -> None:
    """A positive budget smaller than the cheapest unlabeled image would silently pick
    nothing: say so instead."""
    if cost is None or budget <= 0 or labeled.all():
        return
    cheapest = float(np.min(cost[~labeled]))
    if cheapest > budget:
        raise ValueError(f"a budget of {budget:g} {unit} buys no image: the cheapest unlabeled "
                         f"image costs {cheapest:.3g} {unit}"
                         + (" (1 box at least)" if unit == "boxes" else ""))

