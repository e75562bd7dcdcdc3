"""A round's configuration: the query (what to pick), the recipe (how to train) and the run's
``random_state``, from which every round derives its own seeds.

``RoundConfig`` holds the two objects and restates none of their fields; :func:`round_config`
builds one from a strategy and a recipe preset with field overrides routed to whichever
object has the field::

    round_config("least_confidence", "tiny", budget=8)   # Query budget 8, the tiny recipe
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from alkit.core.query import Query, query
from alkit.core.randomness import derive_seed
from alkit.core.strategy import DEFAULT
from alkit.model.recipe import Recipe, recipe


@dataclass(frozen=True)
class RoundConfig:
    """What every round of a project does.

    Attributes:
        query: the :class:`alkit.Query` (strategy, measure, budget, ...).
        recipe: the :class:`alkit.Recipe` (epochs, image size, warm start, ...).
        random_state: the run's seed. Round ``r`` selects with
            ``derive_seed(random_state, "select", r)`` and trains with
            ``derive_seed(random_state, "train", r)`` (committee members:
            ``"committee"``), so runs with the same seed repeat exactly and two seeds never
            share a stream.
    """

    query: Query = field(default_factory=Query)
    recipe: Recipe = field(default_factory=Recipe)
    random_state: int = 0

    def __post_init__(self):
        if not isinstance(self.query, Query) or not isinstance(self.recipe, Recipe):
            raise TypeError("RoundConfig(query=Query(...), recipe=Recipe(...)): build the two "
                            "objects, or use alkit.round_config(name, recipe, **fields)")
        if not isinstance(self.random_state, int) or self.random_state < 0:
            raise ValueError(f"random_state must be an int >= 0, got {self.random_state!r}")

    def seed_for(self, purpose: str, round_number: int) -> int:
        """The seed of one ``purpose`` (``"select"``, ``"train"``, ``"committee"``) of round
        ``round_number``: ``derive_seed(random_state, purpose, round_number)``."""
        return derive_seed(self.random_state, purpose, round_number)

    def to_dict(self) -> dict:
        """``{"query": {...}, "recipe": {...}, "random_state": n}`` (JSON-able)."""
        return {"query": self.query.to_dict(), "recipe": self.recipe.to_dict(),
                "random_state": self.random_state}

    @classmethod
    def from_dict(cls, data: Mapping) -> RoundConfig:
        """The config a :meth:`to_dict` wrote (``data``: its dict, as read from JSON)."""
        return cls(Query.from_dict(data["query"]), Recipe(**data["recipe"]),
                   int(data.get("random_state", 0)))


_QUERY_FIELDS = {f.name for f in fields(Query)} | {"measure"}
_RECIPE_FIELDS = {f.name for f in fields(Recipe)}


def round_config(strategy=DEFAULT, recipe_name: str = "cpu", *,
                 random_state: int = 0, **overrides) -> RoundConfig:
    """A :class:`RoundConfig` from a strategy and a recipe preset.

    Args:
        strategy: a name in :data:`alkit.STRATEGIES` (default ``calibrated``, as
            ``alkit round``'s) or a strategy object.
        recipe_name: a name in :data:`alkit.RECIPES`.
        random_state: the run's seed (see :class:`RoundConfig`).
        overrides: fields of :class:`alkit.Query` (and ``measure``, the utility's per-box
            measure) or :class:`alkit.Recipe`; each goes to the object that has it, and a
            ``None`` value leaves the preset's.
    """
    unknown = sorted(set(overrides) - _QUERY_FIELDS - _RECIPE_FIELDS)
    if unknown:
        raise TypeError(f"unknown round setting(s) {unknown}; the query takes "
                        f"{sorted(_QUERY_FIELDS)}, the recipe {sorted(_RECIPE_FIELDS)}")
    return RoundConfig(
        query(strategy, **{k: v for k, v in overrides.items() if k in _QUERY_FIELDS}),
        recipe(recipe_name, **{k: v for k, v in overrides.items() if k in _RECIPE_FIELDS}),
        random_state)
