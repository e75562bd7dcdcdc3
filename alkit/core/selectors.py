"""Selectors: how a strategy turns per-image utilities into picks (numpy and scikit-learn only).

A selector is the second half of a strategy (:mod:`alkit.core.strategy`). It is called as
``selector.pick(utility_N, scores, context, budget, cost_N, random_state)`` and returns
``(rows, values, reasons, params)``: the picked pool rows in pick order, the value that ranked
each, a short reason per pick and what it reports for the ledger. ``utility_N`` is ``None``
for a selector that reads no utility (``uses_utility`` is False). Every selector:

* never picks a labeled row (``context.labeled``) and never picks a row twice;
* counts ``budget`` in images, or with ``cost_N`` (N,) in cost: rows are taken in order while
  they fit, and a row that does not fit is passed over for a cheaper one;
* breaks ties at random (``random_state``), never by pool order, so that a model that gives
  many images the same value (no box anywhere, say) does not hand the budget to the first
  files of the folder.

The selectors: :class:`RandomOrder`, :class:`TopK`, :class:`KCenter` (core-set),
:class:`Hybrid` (uncertainty plus distance to the labeled set), :class:`Shortlist` (the best
``m_factor`` times the budget by utility, spread by k-center, PPAL's k-medoids or
Cluster-Margin's clusters) and :class:`Typical` (TypiClust).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from alkit.core.ccms import ccms_similarity
from alkit.core.clusters import (
    MAX_CLUSTERS,
    MIN_CLUSTER_SIZE,
    N_NEIGHBORS,
    budget_images,
    cluster_embeddings,
    cluster_round_robin,
    k_medoids,
    normalized,
    typiclust_order,
)
from alkit.core.context import RoundContext
from alkit.core.kcenter import k_center_greedy, sq_distance_to_nearest
from alkit.core.pool import PoolScores
from alkit.core.randomness import check_random_state
from alkit.core.selection import take_within_budget
from alkit.core.uncertainty import MIN_CANDIDATE_CONFIDENCE

#: How :class:`Shortlist` spreads its shortlist.
SPREADS = ("kcenter", "medoids", "clusters", "none")


def ranked(utility_N, labeled_N, random_state=None) -> np.ndarray:
    """Unlabeled rows by decreasing ``utility_N`` (N,), ties in a random order drawn from
    ``random_state``; ``labeled_N`` (N,) bool rows are left out."""
    u = np.asarray(utility_N, dtype=np.float64)
    rows = np.flatnonzero(~np.asarray(labeled_N, dtype=bool))
    tie = check_random_state(random_state).permutation(len(rows))
    return rows[np.lexsort((tie, -u[rows]))]


class _Selector:
    uses_utility = True
    spreads = False
    needs_embeddings = False

    def pick(self, utility_N, scores: PoolScores, context: RoundContext, budget: float,
             cost_N, random_state) -> tuple[np.ndarray, np.ndarray, list[str], dict]:
        """The picks (module docstring): ``(rows, values, reasons, report)``.

        Args:
            utility_N: (N,) float utility of every pool row (``None`` when the selector
                reads none).
            scores: the pool's :class:`alkit.PoolScores` (embeddings, per-box features).
            context: the round's :class:`alkit.core.context.RoundContext` (``labeled`` rows
                are never picked).
            budget: images to pick, or with ``cost_N`` the total cost.
            cost_N: (N,) per-row cost in the budget's unit, or ``None`` to count images.
            random_state: ``None``, an int seed or a ``numpy.random.Generator``.
        """
        raise NotImplementedError

    def to_dict(self) -> dict:
        """The fields as a plain dict (``kind`` names the class)."""
        return {"kind": type(self).__name__.lower(), **asdict(self)}


@dataclass(frozen=True)
class RandomOrder(_Selector):
    """A uniform random sample of the unlabeled rows: the baseline."""

    uses_utility = False

    def pick(self, utility_N, scores: PoolScores, context: RoundContext, budget: float,
             cost_N, random_state):
        order = check_random_state(random_state).permutation(np.flatnonzero(~context.labeled))
        rows = take_within_budget(order, budget, cost_N)
        return rows, np.zeros(len(rows)), ["random"] * len(rows), {}


@dataclass(frozen=True)
class TopK(_Selector):
    """The highest utilities (ties at random)."""

    def pick(self, utility_N, scores, context, budget, cost_N, random_state):
        rows = take_within_budget(ranked(utility_N, context.labeled, random_state), budget,
                                  cost_N)
        return rows, utility_N[rows], [f"utility {utility_N[i]:.4g}" for i in rows], {}


@dataclass(frozen=True)
class KCenter(_Selector):
    """Core-set by k-center greedy (:func:`alkit.core.kcenter.k_center_greedy`) from the
    labeled rows: each pick is the image farthest from every labeled or picked image."""

    uses_utility = False
    spreads = True
    needs_embeddings = True

    def pick(self, utility_N, scores, context, budget, cost_N, random_state):
        rows, radii = k_center_greedy(scores.embeddings, budget, labeled=context.labeled,
                                      cost_N=cost_N, random_state=random_state)
        return rows, radii, [f"farthest from labeled/picked ({r:.3g})" for r in radii], {}


@dataclass(frozen=True)
class Hybrid(_Selector):
    """``alpha * u + beta * d``, greedily: ``u`` is the utility min-max normalized over the
    unlabeled rows, ``d`` an image's distance to the nearest labeled **or already picked**
    image (what "not covered yet" means), divided by its largest value over the unlabeled
    rows before the first pick; ``d`` is updated after every pick. With nothing labeled the
    first pick is the highest utility.

    Attributes:
        alpha, beta: weights of the two terms (0.7 / 0.3, the usual start).
    """

    alpha: float = 0.7
    beta: float = 0.3
    spreads = True
    needs_embeddings = True

    def pick(self, utility_N, scores, context, budget, cost_N, random_state):
        x = np.ascontiguousarray(scores.embeddings, dtype=np.float32)
        free = ~context.labeled
        u = np.zeros(len(x))
        if free.any():
            lo, hi = utility_N[free].min(), utility_N[free].max()
            u[free] = (utility_N[free] - lo) / (hi - lo) if hi > lo else 0.0
        u += check_random_state(random_state).random(len(x)) * 1e-12  # ties at random
        cost = None if cost_N is None else np.asarray(cost_N, dtype=np.float64)
        d = (np.sqrt(sq_distance_to_nearest(x, x[context.labeled])).astype(np.float64)
             if context.labeled.any() else None)
        rows, values, reasons = _lazy_hybrid(x, u, d, free, budget, cost, self.alpha,
                                             self.beta)
        return np.array(rows, dtype=np.int64), np.array(values), reasons, {}


def _lazy_hybrid(x, u, d, free, budget, cost, alpha, beta):
    """The greedy ``argmax alpha * u + beta * d / scale`` of :class:`Hybrid`, exact, with lazy
    distance updates: ``d`` (distance to the nearest labeled or picked row) only shrinks as
    picks join, so a row's stale value bounds it from above; rows are popped from a max-heap
    until the top one is up to date with every pick (as :func:`alkit.core.kcenter.
    k_center_greedy` does), which costs a few rows per pick instead of the whole pool.
    ``d`` is ``None`` without labeled rows: the first pick is then the highest ``u`` and
    ``d`` its distances. Returns ``(rows, values, reasons)``."""
    import heapq

    norms = np.einsum("ij,ij->i", x, x)
    rows, values, reasons, spent = [], [], [], 0.0

    def take(i, term):
        nonlocal spent
        rows.append(int(i))
        values.append(float(alpha * u[i] + beta * term))
        major = "uncertainty" if alpha * u[i] >= beta * term else "diversity"
        reasons.append(f"{major}: {alpha:g}*{u[i]:.2f} + {beta:g}*{term:.2f}")
        free[i] = False
        spent += 0.0 if cost is None else cost[i]

    def fits(i):
        return cost is None or spent + cost[i] <= budget

    if not free.any() or (cost is None and budget < 1):
        return rows, values, reasons
    if d is None:
        open_ = np.flatnonzero(free & (True if cost is None else cost <= budget))
        if not len(open_):
            return rows, values, reasons
        first = int(open_[np.argmax(u[open_])])
        d = np.sqrt(np.maximum(norms - 2.0 * (x @ x[first]) + norms[first], 0.0))
        d = d.astype(np.float64)
        take(first, 0.0)
    scale = _finite_max(d[free]) or 1.0
    seen = np.full(len(x), len(rows), dtype=np.int64)  # picks each row's d accounts for
    heap = [(-(alpha * u[i] + beta * d[i] / scale), int(i)) for i in np.flatnonzero(free)]
    heapq.heapify(heap)
    while heap and (cost is not None or len(rows) < int(budget)):
        _, i = heap[0]
        if not fits(i):
            heapq.heappop(heap)  # never fits again: spending only grows
            continue
        if seen[i] < len(rows):
            new = np.array(rows[seen[i]:])
            to_new = norms[new] - 2.0 * (x[new] @ x[i]) + norms[i]
            d[i] = min(d[i], float(np.sqrt(np.maximum(to_new, 0.0).min())))
            seen[i] = len(rows)
            heapq.heapreplace(heap, (-(alpha * u[i] + beta * d[i] / scale), i))
            continue
        heapq.heappop(heap)
        take(i, d[i] / scale)
    return rows, values, reasons


def _finite_max(values) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if len(finite) and finite.max() > 0 else 0.0


@dataclass(frozen=True)
class Shortlist(_Selector):
    """The best ``m_factor`` times the budget by utility (in images, or in cost with a cost
    budget), then spread:

    * ``"kcenter"``: k-center greedy over the shortlist from the labeled rows;
    * ``"medoids"``: PPAL's k-medoids (:func:`alkit.core.clusters.k_medoids`) on the
      category-conditioned matching distance of per-box features
      (:func:`alkit.core.ccms.ccms_similarity`, candidates down to confidence 0.05), as many
      medoids as the budget buys images, taken in utility order; scores made without per-box
      features spread on the cosine distance of the image embeddings instead (reported as
      ``ccms_fallback``);
    * ``"clusters"``: Cluster-Margin's round-robin over k-means clusters of the pool, as many
      clusters as the budget buys images (fitted on a sample of a large pool,
      :func:`alkit.core.clusters.cluster_embeddings`), the clusters with the fewest
      shortlisted rows first (:func:`alkit.core.clusters.cluster_round_robin`);
    * ``"none"``: the shortlist in utility order.

    Attributes:
        m_factor: the shortlist's size as a multiple of the budget (>= 1; PPAL's 4).
        spread: one of :data:`SPREADS`.
    """

    m_factor: float = 4.0
    spread: str = "kcenter"
    spreads = True
    needs_embeddings = True

    def __post_init__(self):
        if self.m_factor < 1:
            raise ValueError(f"m_factor must be >= 1, got {self.m_factor}")
        if self.spread not in SPREADS:
            raise ValueError(f"spread must be one of {SPREADS}, got {self.spread!r}")

    def pick(self, utility_N, scores, context, budget, cost_N, random_state):
        order = ranked(utility_N, context.labeled, random_state)
        short = _head(order, self.m_factor * budget, cost_N)
        report = {"n_shortlist": len(short)}
        n_images = max(budget_images(budget, cost_N, context.labeled), 1)
        if len(short) <= 1 or self.spread == "none":
            spread = short
        elif self.spread == "kcenter":
            spread, _ = k_center_greedy(scores.embeddings, len(short), labeled=context.labeled,
                                        candidates=short, random_state=random_state)
        elif self.spread == "clusters":
            clusters = np.zeros(len(scores), dtype=np.int64)
            clusters[short] = cluster_embeddings(scores.embeddings, n_images, rows=short,
                                                 random_state=random_state)
            spread = cluster_round_robin(short, clusters)
        else:
            distance, fallback = _distances(scores, short)
            medoids = short[k_medoids(distance, n_images, random_state=random_state)]
            position = {int(r): p for p, r in enumerate(short)}
            spread = np.array(sorted(medoids, key=lambda r: position[int(r)]), dtype=np.int64)
            report.update(fallback)
        rows = take_within_budget(spread, budget, cost_N)
        position = {int(r): p + 1 for p, r in enumerate(short)}
        reasons = [f"utility {utility_N[i]:.4g} (#{position[int(i)]} of {len(short)} "
                   f"shortlisted), spread by {self.spread}" for i in rows]
        return rows, utility_N[rows], reasons, report


def _head(order, amount: float, cost_N) -> np.ndarray:
    """The first rows of ``order`` worth ``amount`` images, or ``amount`` cost with
    ``cost_N`` (at least one row when any)."""
    if cost_N is None:
        return order[: int(np.ceil(amount))]
    spent = np.cumsum(np.asarray(cost_N, dtype=np.float64)[order])
    return order[: max(int(np.searchsorted(spent, amount, side="right")), min(1, len(order)))]


def _distances(scores: PoolScores, rows) -> tuple[np.ndarray, dict]:
    """(R, R) distances among ``rows``: ``1 - CCMS`` on per-box features, or the cosine
    distance of the embeddings when the scores have no per-box features."""
    if scores.box_features is None:
        x = normalized(scores.embeddings[rows])
        return 1.0 - x @ x.T, {"ccms_fallback": "no per-box features in these scores: "
                                                "cosine distance of the image embeddings"}
    similarity = ccms_similarity(scores.box_features, scores.box_class, scores.box_confidence,
                                 scores.box_offsets, rows, rows,
                                 conf_threshold=MIN_CANDIDATE_CONFIDENCE)
    return 1.0 - similarity, {}


@dataclass(frozen=True)
class Typical(_Selector):
    """TypiClust (:func:`alkit.core.clusters.typiclust_order`): the most typical unlabeled
    image of the cluster with the fewest labeled images, the largest first, among clusters
    of more than ``min_cluster_size`` images while any has room.

    Attributes:
        n_neighbors: neighbours of the typicality estimate (20).
        min_cluster_size: clusters this small or smaller wait (5).
        max_clusters: the most clusters (500).
    """

    n_neighbors: int = N_NEIGHBORS
    min_cluster_size: int = MIN_CLUSTER_SIZE
    max_clusters: int = MAX_CLUSTERS
    uses_utility = False
    spreads = True
    needs_embeddings = True

    def pick(self, utility_N, scores, context, budget, cost_N, random_state):
        rows, values, reasons, n_clusters = typiclust_order(
            scores.embeddings, budget, labeled=context.labeled, cost_N=cost_N,
            n_neighbors=self.n_neighbors, min_cluster_size=self.min_cluster_size,
            max_clusters=self.max_clusters, random_state=random_state)
        return (np.array(rows, dtype=np.int64), np.array(values), reasons,
                {"n_clusters": n_clusters})
