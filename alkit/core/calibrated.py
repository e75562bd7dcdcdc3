"""Calibrated uncertainty plus diversity, and ``auto`` (numpy and scikit-learn only).

**calibrated** (:func:`calibrated_selection`), after PPAL (Yang et al., "Plug and Play Active
Learning for Object Detection", CVPR 2024): score every pool image by its candidate-level
uncertainty with difficulty-calibrated class weights (:func:`alkit.core.uncertainty.
candidate_scores` with :func:`alkit.core.difficulty.difficulty_weights`), optionally per
second of expected annotation cost (``cost_aware``: the score over ``seconds_per_image +
seconds_per_box * E[boxes]``, :mod:`alkit.core.cost`), shortlist the best ``m_factor`` times
the budget, and spread the picks over the shortlist by k-center greedy on the embeddings,
starting from the labeled set (PPAL spreads its shortlist with a category-conditioned
similarity of box features: ``diversity="ccms"``, :mod:`alkit.core.ccms`).

``diversity="clusters"`` spreads the shortlist as Cluster-Margin does (Citovsky et al., "Batch
Active Learning at Scale", NeurIPS 2021): the pool's embeddings are clustered (k-means, as
many clusters as the budget buys images), the shortlist's rows are grouped by cluster, and
the picks go round-robin over the clusters, those with the fewest shortlisted rows first, the
best-ranked row of each. No mode of the pool (one scene type the model finds hard) can fill
the batch while other clusters hold shortlisted rows. The paper clusters once by
agglomerative clustering and shortlists 10x the budget; alkit reuses TypiClust's k-means
(:func:`alkit.core.typicality.cluster_embeddings`) every round.

**auto** (:func:`auto_choice`): typicality first, uncertainty once it is worth following.
TypiClust (ICML 2022) shows that uncertainty picks lose to typical picks while the model is
weak and win once it is not. Whether the model's uncertainty is worth following is measured
on images with ground truth the round can check (the val split): :func:`uncertainty_lift`
ranks them as ``calibrated`` ranks the pool (calibrated uncertainty per expected second) and
asks how much of the model's error (:func:`alkit.core.difficulty.image_error`) the first
tenth holds per second of annotation, against the whole set's error per second, which is what
a random pick buys on average. ``auto`` runs ``calibrated`` once that lift is above 1 with
90% confidence (the 10th percentile of a bootstrap over the checked images,
:data:`AUTO_LIFT_THRESHOLD`), and :func:`alkit.core.typicality.typiclust_selection` before.
The rule and the measurements behind it are in docs/selection.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from alkit.core.kcenter import k_center_greedy
from alkit.core.selection import (
    Selection,
    _check_pool,
    _ranked,
    labeled_mask,
    take_within_budget,
)
from alkit.core.typicality import budget_images, cluster_embeddings

#: ``auto`` follows the model's uncertainty once the lower bound of its lift reaches this
#: (1: the error per annotation second of a random pick).
AUTO_LIFT_THRESHOLD = 1.0
#: The lift is measured on the checked images this share would pick first ...
LIFT_TOP_SHARE = 0.1
#: ... its lower bound is this quantile of a bootstrap over the checked images ...
LIFT_QUANTILE = 0.1
LIFT_BOOTSTRAP = 400
#: ... and it is not measured on fewer checked images than this.
MIN_LIFT_IMAGES = 20
#: The shortlist of ``calibrated`` holds this many times the budget (PPAL's 4x).
M_FACTOR = 4.0
#: How ``calibrated`` spreads its shortlist (``diversity``; ``True`` = kcenter, ``False`` =
#: none).
DIVERSITY = ("kcenter", "ccms", "clusters", "none")


def shortlist(rank_N, budget: float, *, labeled=None, cost_N=None, m_factor: float = M_FACTOR
              ) -> np.ndarray:
    """The best unlabeled rows by ``rank_N`` (higher first) worth ``m_factor * budget``:
    that many images, or with ``cost_N`` that much cost (at least one row when any is free).

    Args:
        rank_N: (N,) float ranking score, higher = better.
        budget: images (or, with ``cost_N``, total cost) of the final selection.
        labeled: rows never shortlisted (mask or indices).
        cost_N: (N,) per-row cost, or ``None`` to count rows.
        m_factor: the shortlist's size as a multiple of the budget (>= 1).
    """
    if m_factor < 1:
        raise ValueError(f"m_factor must be >= 1, got {m_factor}")
    order = _ranked(rank_N, labeled_mask(labeled, len(rank_N)))
    if cost_N is None:
        return order[: int(np.ceil(m_factor * budget))]
    spent = np.cumsum(np.asarray(cost_N, dtype=np.float64)[order])
    return order[: max(int(np.searchsorted(spent, m_factor * budget, side="right")),
                       min(1, len(order)))]


def calibrated_selection(uncertainty_N, embeddings_N_D, budget: float, *, labeled=None,
                         cost_N=None, expected_cost_N=None, m_factor: float = M_FACTOR,
                         diversity: bool | str = True, distances=None,
                         random_state=None) -> Selection:
    """Calibrated uncertainty, per unit of expected cost, spread by k-center (module docstring).

    Args:
        uncertainty_N: (N,) calibrated candidate uncertainty per pool image (>= 0).
        embeddings_N_D: (N, D) image embeddings (the k-center spread).
        budget: images to pick (or, with ``cost_N``, the total cost).
        labeled: pool rows already labeled: never picked; the k-center's first centres.
        cost_N: (N,) per-image cost the budget counts in (``None``: images).
        expected_cost_N: (N,) expected annotation seconds per image; given, images rank by
            ``uncertainty / expected_cost`` (cost-aware), else by uncertainty.
        m_factor: shortlist size as a multiple of the budget.
        diversity: how the shortlist is spread: ``True`` / ``"kcenter"`` (k-center greedy on
            the image embeddings), ``"ccms"`` (k-center on ``distances``, PPAL's
            category-conditioned similarity), ``"clusters"`` (Cluster-Margin's round-robin
            over k-means clusters of the embeddings, :func:`cluster_round_robin`),
            ``False`` / ``"none"`` (rank order).
        distances: for ``"ccms"``: a function ``(candidate_rows, centre_rows) -> (C, L + C)``
            distances of the candidates to the centres and to each other
            (:func:`alkit.core.ccms.k_center_on_distances`).
        random_state: ``None``, an int seed or a ``numpy.random.Generator`` (k-center's
            first pick when nothing is labeled; the k-means of ``"clusters"``).
    Returns:
        a :class:`Selection` whose scores are the ranking values.
    """
    n = _check_pool(uncertainty_N, embeddings_N_D)
    mask = labeled_mask(labeled, n)
    u = np.asarray(uncertainty_N, dtype=np.float64)
    rank = u if expected_cost_N is None else u / np.maximum(
        np.asarray(expected_cost_N, dtype=np.float64), 1e-9)
    short = shortlist(rank, budget, labeled=mask, cost_N=cost_N, m_factor=m_factor)
    method = {True: "kcenter", False: "none"}.get(diversity, diversity)
    if method not in DIVERSITY:
        raise ValueError(f"diversity must be one of {DIVERSITY}, got {diversity!r}")
    if method == "ccms" and distances is None:
        raise ValueError("diversity 'ccms' needs the distances function")
    if method == "kcenter" and len(short) > 1:
        order, _ = k_center_greedy(embeddings_N_D, len(short), labeled=mask, candidates=short,
                                   random_state=random_state)
    elif method == "ccms" and len(short) > 1:
        from alkit.core.ccms import k_center_on_distances

        order = short[k_center_on_distances(distances(short, np.flatnonzero(mask)), len(short),
                                            random_state=random_state)]
    elif method == "clusters" and len(short) > 1:
        n_clusters = max(budget_images(budget, cost_N, mask), 1)
        order = cluster_round_robin(short, cluster_embeddings(
            embeddings_N_D, min(n_clusters, n), random_state=random_state))
    else:
        order = short
    picks = take_within_budget(order, budget, cost_N)
    position = {int(i): p for p, i in enumerate(short)}
    per = "per second" if expected_cost_N is not None else "uncertainty"
    reasons = [f"calibrated {per} {rank[i]:.3g} (rank {position[int(i)] + 1} of "
               f"{len(short)} shortlisted){'' if method == 'none' else ', spread by ' + method}"
               for i in picks]
    return Selection(picks, rank[picks], reasons, "calibrated",
                     {"budget": budget, "m_factor": m_factor, "diversity": method,
                      "cost_aware": expected_cost_N is not None, "n_shortlist": len(short)})


def cluster_round_robin(rows_R, clusters_N) -> np.ndarray:
    """(R,) ``rows_R`` (pool rows, best first) reordered round-robin over their clusters
    (``clusters_N``: (N,) int cluster of every pool row): the clusters holding the fewest of
    ``rows_R`` first (ties: the lower cluster id), each giving its best remaining row in turn
    (Cluster-Margin's order, Citovsky et al. 2021)."""
    rows = np.asarray(rows_R, dtype=np.int64)
    cluster = np.asarray(clusters_N, dtype=np.int64)[rows]
    ids, inverse, counts = np.unique(cluster, return_inverse=True, return_counts=True)
    # the row's turn: its rank inside its cluster; within a turn, smaller clusters first
    turn = np.empty(len(rows), dtype=np.int64)
    for c in range(len(ids)):
        members = np.flatnonzero(inverse == c)
        turn[members] = np.arange(len(members))
    return rows[np.lexsort((ids[inverse], counts[inverse], turn))]


@dataclass(frozen=True)
class LiftCheck:
    """How much of the model's error its uncertainty finds (:func:`uncertainty_lift`).

    Attributes:
        lift: error per second of the first ``n_top`` checked images by rank over the error
            per second of all ``n_images`` (1: what a random pick buys on average).
        lower: the bootstrap lower bound of ``lift`` (its :data:`LIFT_QUANTILE` quantile).
        n_images, n_top: checked images, and how many of them the lift's share holds.
    """

    lift: float
    lower: float
    n_images: int
    n_top: int

    def to_dict(self) -> dict:
        """Plain JSON-able dict (rounded)."""
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def uncertainty_lift(rank_V, error_V, seconds_V, *, share: float = LIFT_TOP_SHARE,
                     quantile: float = LIFT_QUANTILE, reps: int = LIFT_BOOTSTRAP,
                     random_state=0) -> LiftCheck | None:
    """Whether ranking checked images by ``rank_V`` finds the model's error per second.

    ``lift = (sum_top e / sum_top s) / (sum_all e / sum_all s)`` over the first
    ``k = round(share * V)`` (at least 1) images by ``rank_V``, and its lower bound: the
    ``quantile`` of the same ratio over ``reps`` bootstrap resamples of the V images.

    Args:
        rank_V: (V,) the ranking score of each checked image (higher = picked first), as the
            strategy would rank pool images (calibrated uncertainty per expected second).
        error_V: (V,) the model's error on each (>= 0; :func:`alkit.core.difficulty.
            image_error`).
        seconds_V: (V,) the annotation seconds of each, from its real boxes (> 0).
        share: the share of images the lift is measured on.
        quantile, reps: the bootstrap's lower quantile and resamples.
        random_state: seed of the resampling (the check is deterministic for one seed).
    Returns:
        a :class:`LiftCheck`, or ``None`` with fewer than :data:`MIN_LIFT_IMAGES` images or
        no error at all (nothing to find).
    """
    rank, error, seconds = (np.asarray(a, dtype=np.float64).reshape(-1)
                            for a in (rank_V, error_V, seconds_V))
    if not len(rank) == len(error) == len(seconds):
        raise ValueError(f"rank_V, error_V and seconds_V differ in length: {len(rank)}, "
                         f"{len(error)}, {len(seconds)}")
    if np.any(seconds <= 0) or np.any(error < 0) or not np.all(np.isfinite(rank)):
        raise ValueError("seconds must be > 0, errors >= 0 and ranks finite")
    if len(rank) < MIN_LIFT_IMAGES or error.sum() <= 0:
        return None
    k = max(1, round(share * len(rank)))
    rng = np.random.default_rng(random_state)
    draws = rng.integers(0, len(rank), (reps, len(rank)))
    ratios = [r for r in (_lift(rank[d], error[d], seconds[d], k) for d in draws)
              if np.isfinite(r)]
    lower = float(np.quantile(ratios, quantile)) if ratios else float("nan")
    return LiftCheck(_lift(rank, error, seconds, k), lower, len(rank), k)


def _lift(rank, error, seconds, k) -> float:
    if error.sum() <= 0:
        return float("nan")
    top = np.argsort(-rank, kind="stable")[:k]
    return float(error[top].sum() / seconds[top].sum() / (error.sum() / seconds.sum()))


def auto_choice(check: LiftCheck | None, *, threshold: float = AUTO_LIFT_THRESHOLD) -> str:
    """Which strategy ``auto`` runs: ``"calibrated"`` once the lower bound of the
    uncertainty's lift ``check`` (:func:`uncertainty_lift`) reaches ``threshold``, else
    ``"typiclust"`` (also when unmeasured: ``check`` is ``None`` or its bound nan)."""
    if check is None or not np.isfinite(check.lower):
        return "typiclust"
    return "calibrated" if check.lower >= threshold else "typiclust"
