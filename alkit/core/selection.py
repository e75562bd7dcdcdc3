"""Picks and the helpers every selector shares (numpy and scikit-learn only).

A :class:`Selection` is what a strategy returns (:mod:`alkit.core.strategy`): the picked pool
rows in pick order, the value that ranked each pick and a short reason per pick, the
strategy's name and what it reported. The helpers: :func:`labeled_mask` (a mask from a mask
or row indices), :func:`take_within_budget` (the prefix of a ranking that a budget in images
or in cost buys), :func:`near_duplicate_filter` (walk a ranking, skip images too similar to a
kept or labeled one) and :func:`embedding_map_2d` (a PCA map of the pool).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from alkit.core.randomness import check_random_state

#: What a budget counts: images, the model's predicted boxes, or annotation seconds.
BUDGET_UNITS = ("images", "boxes", "cost")


@dataclass(frozen=True)
class Selection:
    """The outcome of a strategy.

    Attributes:
        indices: (K,) int64 pool rows, in pick order.
        scores: (K,) float64 the value that ranked each pick (strategy-specific).
        reasons: K short strings, which term drove each pick.
        strategy: the strategy's name.
        params: the strategy's parameters, for the ledger.
    """

    indices: np.ndarray
    scores: np.ndarray
    reasons: list[str]
    strategy: str
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        indices = np.asarray(self.indices, dtype=np.int64).reshape(-1)
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if len(scores) != len(indices) or len(self.reasons) != len(indices):
            raise ValueError("Selection: indices, scores and reasons must have one entry per pick")
        if len(np.unique(indices)) != len(indices):
            raise ValueError("Selection: an image was picked twice")
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "scores", scores)

    def __len__(self) -> int:
        return len(self.indices)

    def table(self, paths: Sequence[str] | None = None):
        """A pandas DataFrame: rank, index, (path), score, reason.

        ``paths`` are the pool's image paths, indexed by pool row; given, a ``path`` column
        holds each pick's path; ``None`` leaves the column out.
        """
        import pandas as pd

        columns = {"rank": np.arange(1, len(self) + 1), "index": self.indices}
        if paths is not None:
            columns["path"] = [paths[i] for i in self.indices]
        columns.update(score=self.scores, reason=self.reasons)
        return pd.DataFrame(columns)


def labeled_mask(labeled, n_pool: int) -> np.ndarray:
    """(N,) bool from a mask, an index array or ``None``.

    ``labeled`` is a bool mask of shape (``n_pool``,) (copied), int row indices in
    ``0..n_pool - 1``, or ``None`` (nothing labeled); ``n_pool`` is N, the pool size. A mask of
    another shape or an index out of range raises ``ValueError``.
    """
    if labeled is None:
        return np.zeros(n_pool, bool)
    labeled = np.asarray(labeled)
    if labeled.dtype == bool:
        if labeled.shape != (n_pool,):
            raise ValueError(f"labeled mask must have shape ({n_pool},), got {labeled.shape}")
        return labeled.copy()
    mask = np.zeros(n_pool, bool)
    if labeled.size:
        if labeled.min() < 0 or labeled.max() >= n_pool:
            raise ValueError(f"labeled indices must lie in 0..{n_pool - 1}")
        mask[labeled.astype(np.int64)] = True
    return mask


def take_within_budget(order, budget: float, cost_N=None) -> np.ndarray:
    """The prefix of ``order`` that fits: ``budget`` images, or total ``cost`` <= ``budget``
    (an item that does not fit is passed over for a cheaper one later in the order).

    Args:
        order: int pool rows in rank order (best first).
        budget: how many rows to keep (truncated to an int), or with ``cost_N`` the total cost
            allowed; must be >= 0.
        cost_N: (N,) cost of every pool row, indexed by row (not by position in ``order``),
            each >= 0; ``None`` counts rows.
    Returns:
        the kept rows as int64, in ``order``'s order.
    """
    order = np.asarray(order, dtype=np.int64)
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    if cost_N is None:
        return order[: int(budget)]
    cost = np.asarray(cost_N, dtype=np.float64)[order]
    if np.any(cost < 0):
        raise ValueError("costs must be >= 0")
    picked, spent = [], 0.0
    for index, c in zip(order, cost, strict=True):
        if spent + c <= budget:
            picked.append(index)
            spent += c
    return np.array(picked, dtype=np.int64)


def _check_pool(uncertainty_N=None, embeddings_N_D=None) -> int:
    sizes = set()
    if uncertainty_N is not None:
        u = np.asarray(uncertainty_N)
        if u.ndim != 1:
            raise ValueError(f"uncertainty must have shape (n_images,), got {u.shape}")
        if np.isnan(u.astype(float)).any():
            raise ValueError("uncertainty contains NaN")
        sizes.add(len(u))
    if embeddings_N_D is not None:
        e = np.asarray(embeddings_N_D)
        if e.ndim != 2:
            raise ValueError(f"embeddings must have shape (n_images, dim), got {e.shape}")
        sizes.add(len(e))
    if len(sizes) > 1:
        raise ValueError(f"uncertainty and embeddings disagree on the pool size: {sorted(sizes)}")
    return sizes.pop() if sizes else 0


def near_duplicate_filter(order, embeddings_N_D, budget: float, *, threshold: float = 0.95,
                          labeled=None, cost_N=None) -> tuple[np.ndarray, dict[int, int]]:
    """Walk a ranking and keep images whose cosine similarity to every image kept so far (and
    to every labeled row) is below ``threshold``, until the budget is spent.

    Args:
        order: int pool rows in ranking order (labeled rows in it are skipped).
        embeddings_N_D: (N, D) float embeddings; similarity is the cosine of two rows.
        budget: images to keep (or, with ``cost_N``, the total cost).
        threshold: the cosine similarity at or above which a row counts as a duplicate.
        labeled: pool rows already labeled (mask or indices): anchors, never kept.
        cost_N: (N,) per-row cost; a row that does not fit the remaining budget is passed over.
    Returns:
        ``(kept, dropped)``: kept rows in ranking order, and ``{dropped row: the kept or
        labeled row it duplicates}``.
    """
    x = np.asarray(embeddings_N_D, dtype=np.float32)
    n = _check_pool(None, x)
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    mask = labeled_mask(labeled, n)
    anchors = list(np.flatnonzero(mask))
    kept, dropped, spent = [], {}, 0.0
    for i in np.asarray(order, dtype=np.int64):
        if mask[i]:
            continue
        if cost_N is None and len(kept) >= budget:
            break
        c = 0.0 if cost_N is None else float(cost_N[i])
        if cost_N is not None and spent + c > budget:
            continue
        if anchors:
            similarity = unit[anchors] @ unit[i]
            j = int(np.argmax(similarity))
            if similarity[j] >= threshold:
                dropped[int(i)] = int(anchors[j])
                continue
        kept.append(int(i))
        anchors.append(int(i))
        spent += c
    return np.array(kept, dtype=np.int64), dropped


def embedding_map_2d(embeddings_N_D, *, random_state=0) -> np.ndarray:
    """(N, 2) PCA projection of embeddings (for maps of the pool; scikit-learn's PCA).

    ``embeddings_N_D`` is (N, D) float embeddings (fewer than 2 rows give zeros);
    ``random_state`` (None, an int or a Generator) seeds PCA's randomized solver, the only part
    that draws.
    """
    from sklearn.decomposition import PCA

    embeddings = np.asarray(embeddings_N_D, dtype=np.float32)
    if len(embeddings) < 2:
        return np.zeros((len(embeddings), 2))
    seed = (random_state if isinstance(random_state, int)
            else int(check_random_state(random_state).integers(2**31)))
    return PCA(n_components=2, random_state=seed).fit_transform(embeddings)
