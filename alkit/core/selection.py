"""Query strategies: which pool images to label next (numpy and scikit-learn only).

Every strategy takes per-image arrays of the pool (an uncertainty ``uncertainty_N``, higher =
more uncertain, for example a :class:`alkit.PoolScores` table column or a committee
disagreement; embeddings ``embeddings_N_D``), the already-labeled pool rows ``labeled`` (a
boolean mask or indices; never picked), a budget and a keyword-only ``random_state``, and
returns a :class:`Selection`: the picked row indices in pick order, the score that ranked each
pick and a short reason per pick.

The budget counts images by default. With ``cost_N`` (for example predicted boxes per image,
since annotation cost is per box) it counts cost instead: picks are taken in rank order while
they fit, and an image that does not fit is passed over for a cheaper one further down.

Strategies:

* :func:`random_selection`: the baseline every experiment compares against.
* :func:`uncertainty_selection`: top-K by an uncertainty measure.
* :func:`diversity_scores` / :func:`diversity_selection`: the classic diversity score, the
  distance of each image to its MiniBatchKMeans centroid (50 clusters), min-max normalized.
* :func:`k_center_greedy` / :func:`coreset_selection`: core-set by k-center greedy, with the
  labeled set as the initial centers, so the picks cover what the labeled set does not.
* :func:`hybrid_selection`: ``alpha * minmax(uncertainty) + beta * diversity`` (0.7 / 0.3).
* :func:`two_stage_selection`: the top ``M = m_factor * K`` by uncertainty, then K of them by
  k-center (or one per cluster), which removes near-duplicates from an uncertainty list.
* :func:`near_duplicate_filter`: walk any ranking and skip images whose cosine similarity to an
  accepted (or labeled) image is at or above a threshold.
* :func:`rare_class_weights` / :func:`rare_class_boost`: per-image weights favouring images
  whose predicted boxes belong to classes rare in the labeled set (from label counts);
  :func:`rare_class_selection` ranks by ``uncertainty * boost``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from alkit.core.randomness import check_random_state

DEFAULT_CHUNK = 65_536


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


# --------------------------------------------------------------------------- helpers


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


def minmax(values_N) -> np.ndarray:
    """(N,) values scaled to [0, 1] (all equal -> all 0).

    ``values_N`` is any (N,) float array; NaNs are ignored when finding the range.
    """
    values = np.asarray(values_N, dtype=np.float64)
    if values.size == 0:
        return values
    low, high = np.nanmin(values), np.nanmax(values)
    return np.zeros_like(values) if high <= low else (values - low) / (high - low)


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


def _ranked(score_N, mask_N) -> np.ndarray:
    """Unlabeled rows by decreasing score (ties: lower index first)."""
    candidates = np.flatnonzero(~mask_N)
    return candidates[np.argsort(-np.asarray(score_N)[candidates], kind="stable")]


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


# --------------------------------------------------------------------------- strategies


def random_selection(n_pool: int, budget: float, *, labeled=None, cost_N=None,
                     random_state=None) -> Selection:
    """A uniform random sample of the unlabeled rows.

    Args:
        n_pool: N, the number of pool images.
        budget: images to pick (or, with ``cost_N``, the total cost).
        labeled: pool rows already labeled (bool mask of shape (N,) or int indices; ``None``:
            none); never picked.
        cost_N: (N,) per-image cost (for example predicted boxes); with it ``budget`` is a total
            cost, and an image that does not fit is passed over for a cheaper one.
        random_state: ``None``, an int seed or a ``numpy.random.Generator`` for the shuffle.
    Returns:
        a :class:`Selection` with score 0 and reason ``"random"`` for every pick.
    """
    mask = labeled_mask(labeled, n_pool)
    order = check_random_state(random_state).permutation(np.flatnonzero(~mask))
    picks = take_within_budget(order, budget, cost_N)
    return Selection(picks, np.zeros(len(picks)), ["random"] * len(picks), "random",
                     {"budget": budget})


def uncertainty_selection(uncertainty_N, budget: float, *, labeled=None, cost_N=None,
                          measure: str = "uncertainty", random_state=None) -> Selection:
    """The ``budget`` most uncertain unlabeled images (``random_state`` is unused: the ranking
    is deterministic, ties broken by pool order).

    Args:
        uncertainty_N: (N,) float uncertainty per pool image, higher = more uncertain (no NaN).
        budget: images to pick (or, with ``cost_N``, the total cost).
        labeled: pool rows already labeled (bool mask of shape (N,) or int indices; ``None``:
            none); never picked.
        cost_N: (N,) per-image cost (for example predicted boxes); with it ``budget`` is a total
            cost, and an image that does not fit is passed over for a cheaper one.
        measure: the uncertainty's name, used only in the reasons and ``params``.
    Returns:
        a :class:`Selection` whose scores are the picks' uncertainties.
    """
    n = _check_pool(uncertainty_N)
    u = np.asarray(uncertainty_N, dtype=np.float64)
    picks = take_within_budget(_ranked(u, labeled_mask(labeled, n)), budget, cost_N)
    return Selection(picks, u[picks], [f"{measure} {u[i]:.3f}" for i in picks], "uncertainty",
                     {"budget": budget, "measure": measure})


def diversity_scores(embeddings_N_D, *, n_clusters: int = 50, random_state=None,
                     batch_size: int = 4096) -> np.ndarray:
    """(N,) distance of each image to its MiniBatchKMeans centroid, min-max normalized to [0, 1].

    High = atypical for its cluster. ``n_clusters`` is capped at the number of images.

    Args:
        embeddings_N_D: (N, D) float embeddings of the pool (float32 internally).
        n_clusters: the number of MiniBatchKMeans clusters (default 50).
        random_state: ``None``, an int seed or a ``numpy.random.Generator``; one seed for the
            clustering is drawn from it.
        batch_size: MiniBatchKMeans' mini-batch size.
    """
    from sklearn.cluster import MiniBatchKMeans

    embeddings = np.asarray(embeddings_N_D, dtype=np.float32)
    if len(embeddings) == 0:
        return np.zeros(0)
    k = max(1, min(n_clusters, len(embeddings)))
    seed = int(check_random_state(random_state).integers(2**31))
    kmeans = MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=batch_size, n_init=1)
    labels = kmeans.fit_predict(embeddings)
    centers = kmeans.cluster_centers_.astype(np.float32)
    chunks = [slice(lo, lo + DEFAULT_CHUNK) for lo in range(0, len(embeddings), DEFAULT_CHUNK)]
    distance = np.concatenate([  # in chunks: no second N x D array in memory
        np.linalg.norm(embeddings[c] - centers[labels[c]], axis=1) for c in chunks
    ])
    return minmax(distance)


def diversity_selection(embeddings_N_D, budget: float, *, labeled=None, cost_N=None,
                        n_clusters: int = 50, random_state=None) -> Selection:
    """The ``budget`` unlabeled images farthest from their cluster centroid.

    Args:
        embeddings_N_D: (N, D) float embeddings of the pool (labeled rows included in the
            clustering).
        budget: images to pick (or, with ``cost_N``, the total cost).
        labeled: pool rows already labeled (bool mask of shape (N,) or int indices; ``None``:
            none); never picked.
        cost_N: (N,) per-image cost (for example predicted boxes); with it ``budget`` is a total
            cost, and an image that does not fit is passed over for a cheaper one.
        n_clusters: clusters of :func:`diversity_scores`.
        random_state: ``None``, an int seed or a ``numpy.random.Generator`` for the clustering.
    Returns:
        a :class:`Selection` whose scores are the picks' :func:`diversity_scores`.
    """
    n = _check_pool(None, embeddings_N_D)
    d = diversity_scores(embeddings_N_D, n_clusters=n_clusters, random_state=random_state)
    picks = take_within_budget(_ranked(d, labeled_mask(labeled, n)), budget, cost_N)
    return Selection(picks, d[picks], [f"diversity {d[i]:.3f}" for i in picks], "diversity",
                     {"budget": budget, "n_clusters": n_clusters})


def coreset_selection(embeddings_N_D, budget: float, *, labeled=None, labeled_embeddings=None,
                      cost_N=None, random_state=None) -> Selection:
    """:func:`k_center_greedy` as a :class:`Selection`; the score is the distance covered.

    Args:
        embeddings_N_D: (N, D) float embeddings of the pool.
        budget: images to pick (or, with ``cost_N``, the total cost).
        labeled: pool rows already labeled (bool mask of shape (N,) or int indices; ``None``:
            none); never picked, and initial centers.
        labeled_embeddings: (L, D) embeddings of labeled images outside the pool (for example
            the seed set), more initial centers; ``None`` for none.
        cost_N: (N,) per-image cost (for example predicted boxes); with it ``budget`` is a total
            cost, and an image that does not fit is passed over for a cheaper one.
        random_state: ``None``, an int seed or a ``numpy.random.Generator``; used only for the
            first pick when there is no center at all.
    Returns:
        a :class:`Selection` whose scores are each pick's distance to the nearest earlier
        center (``inf`` for a random first pick).
    """
    from alkit.core.kcenter import k_center_greedy

    picks, radii = k_center_greedy(embeddings_N_D, budget, labeled=labeled,
                                   labeled_embeddings=labeled_embeddings, cost_N=cost_N,
                                   random_state=random_state)
    return Selection(picks, radii, [f"farthest from labeled/picked ({r:.3g})" for r in radii],
                     "coreset", {"budget": budget})


def hybrid_selection(uncertainty_N, embeddings_N_D, budget: float, *, alpha: float = 0.7,
                     beta: float = 0.3, n_clusters: int = 50, labeled=None, cost_N=None,
                     random_state=None) -> Selection:
    """Rank by ``alpha * minmax(uncertainty) + beta * diversity``, both normalized over the
    same pool; each reason names the term that contributed more.

    Args:
        uncertainty_N: (N,) float uncertainty per pool image, higher = more uncertain.
        embeddings_N_D: (N, D) float embeddings of the same images.
        budget: images to pick (or, with ``cost_N``, the total cost).
        alpha, beta: the weights of the uncertainty and diversity terms (0.7 / 0.3).
        n_clusters: clusters of :func:`diversity_scores`.
        labeled: pool rows already labeled (bool mask of shape (N,) or int indices; ``None``:
            none); never picked.
        cost_N: (N,) per-image cost (for example predicted boxes); with it ``budget`` is a total
            cost, and an image that does not fit is passed over for a cheaper one.
        random_state: ``None``, an int seed or a ``numpy.random.Generator`` for the clustering.
    Returns:
        a :class:`Selection` whose scores are the combined values.
    """
    n = _check_pool(uncertainty_N, embeddings_N_D)
    u = minmax(uncertainty_N)
    d = diversity_scores(embeddings_N_D, n_clusters=n_clusters, random_state=random_state)
    score = alpha * u + beta * d
    picks = take_within_budget(_ranked(score, labeled_mask(labeled, n)), budget, cost_N)
    reasons = [
        f"{'uncertainty' if alpha * u[i] >= beta * d[i] else 'diversity'}: "
        f"{alpha:g}*{u[i]:.2f} + {beta:g}*{d[i]:.2f}" for i in picks
    ]
    return Selection(picks, score[picks], reasons, "hybrid",
                     {"budget": budget, "alpha": alpha, "beta": beta, "n_clusters": n_clusters})


def two_stage_selection(uncertainty_N, embeddings_N_D, budget: float, *, m_factor: float = 4.0,
                        method: str = "kcenter", labeled=None, labeled_embeddings=None,
                        cost_N=None, random_state=None) -> Selection:
    """Top ``M = m_factor * budget`` unlabeled images by uncertainty, then ``budget`` of them:
    by k-center greedy (``"kcenter"``, labeled rows as initial centers) or by KMeans into
    ``budget`` clusters and the most uncertain image of each (``"cluster"``).

    Args:
        uncertainty_N: (N,) float uncertainty per pool image, higher = more uncertain.
        embeddings_N_D: (N, D) float embeddings of the same images.
        budget: images to pick (or, with ``cost_N``, the total cost; the shortlist then holds
            ``m_factor`` times the images the mean unlabeled cost buys).
        m_factor: the shortlist's size as a multiple of the images picked (at least 1 row).
        method: ``"kcenter"`` or ``"cluster"``, how the shortlist is spread.
        labeled: pool rows already labeled (bool mask of shape (N,) or int indices; ``None``:
            none); never picked.
        labeled_embeddings: (L, D) more initial centers from outside the pool (``"kcenter"``
            only).
        cost_N: (N,) per-image cost (for example predicted boxes); with it ``budget`` is a total
            cost, and an image that does not fit is passed over for a cheaper one.
        random_state: ``None``, an int seed or a ``numpy.random.Generator`` for k-center's
            first pick or the KMeans seed.
    Returns:
        a :class:`Selection` whose scores are the picks' uncertainties.
    """
    n = _check_pool(uncertainty_N, embeddings_N_D)
    u = np.asarray(uncertainty_N, dtype=np.float64)
    mask = labeled_mask(labeled, n)
    n_images = int(budget) if cost_N is None else int(np.ceil(
        budget / max(np.mean(np.asarray(cost_N)[~mask]) if (~mask).any() else 1.0, 1e-9)))
    shortlist = _ranked(u, mask)[: max(1, int(np.ceil(m_factor * max(n_images, 1))))]
    if method == "kcenter":
        from alkit.core.kcenter import k_center_greedy

        picks, _ = k_center_greedy(embeddings_N_D, budget, labeled=mask, candidates=shortlist,
                                   labeled_embeddings=labeled_embeddings, cost_N=cost_N,
                                   random_state=random_state)
    elif method == "cluster":
        picks = _best_per_cluster(u, np.asarray(embeddings_N_D, np.float32), shortlist,
                                  n_images, random_state)
        picks = take_within_budget(picks, budget, cost_N)
    else:
        raise ValueError(f"unknown method {method!r}; expected 'kcenter' or 'cluster'")
    rank = {int(i): r for r, i in enumerate(shortlist, start=1)}
    reasons = [f"uncertainty {u[i]:.3f} (#{rank[int(i)]} of {len(shortlist)}), spread by {method}"
               for i in picks]
    return Selection(picks, u[picks], reasons, "two_stage",
                     {"budget": budget, "m_factor": m_factor, "method": method})


def _best_per_cluster(u, embeddings, shortlist, k, random_state) -> np.ndarray:
    from sklearn.cluster import KMeans

    if len(shortlist) == 0:
        return np.zeros(0, dtype=np.int64)
    k = max(1, min(k, len(shortlist)))
    seed = int(check_random_state(random_state).integers(2**31))
    labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(embeddings[shortlist])
    best = [shortlist[labels == c][np.argmax(u[shortlist[labels == c]])] for c in range(k)
            if (labels == c).any()]
    return np.array(sorted(best, key=lambda i: -u[i]), dtype=np.int64)


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


def rare_class_weights(class_counts_C, *, power: float = 0.5, max_weight: float = 10.0
                       ) -> np.ndarray:
    """(C,) ``w_c = min(max_weight, (n_max / max(n_c, 1)) ** power)``: 1 for the most frequent
    class of the labeled set, larger for rare ones. Counts come from label files.

    ``class_counts_C`` is the (C,) labeled-set instance count of each class (>= 0, non-empty;
    ``ValueError`` otherwise); ``power`` flattens (< 1) or sharpens the ratio, and
    ``max_weight`` caps it.
    """
    counts = np.asarray(class_counts_C, dtype=np.float64)
    if counts.ndim != 1 or len(counts) == 0 or np.any(counts < 0):
        raise ValueError("class_counts must be a non-empty (n_classes,) array of counts >= 0")
    top = max(counts.max(), 1.0)
    return np.minimum(max_weight, (top / np.maximum(counts, 1.0)) ** power)


def rare_class_boost(box_class_scores_M_C, box_confidence_M, box_offsets, class_weights_C, *,
                     conf_threshold: float = 0.25) -> np.ndarray:
    """(N,) per image, the largest class-weighted box: ``max_b sum_c q_bc * w_c`` over boxes at
    or above ``conf_threshold`` (``q`` = renormalized class scores, so a box torn between a
    common and a rare class counts partly rare); 1.0 for an image without such boxes.

    Args:
        box_class_scores_M_C: (M, C) sigmoid class scores of all the pool's boxes, concatenated.
        box_confidence_M: (M,) the boxes' confidences.
        box_offsets: (N + 1,) image i owns boxes ``box_offsets[i]:box_offsets[i + 1]``.
        class_weights_C: (C,) per-class weights, from :func:`rare_class_weights`.
        conf_threshold: boxes below this confidence are ignored.
    """
    from alkit.core.uncertainty import normalized_distribution, segment_reduce

    weights = np.asarray(class_weights_C, dtype=np.float64)
    scores = np.asarray(box_class_scores_M_C, dtype=np.float64)
    keep = np.asarray(box_confidence_M) >= conf_threshold
    offsets = np.asarray(box_offsets, dtype=np.int64)
    image_of_box = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))[keep]
    per_box = normalized_distribution(scores[keep]) @ weights if keep.any() else np.zeros(0)
    return segment_reduce(per_box, image_of_box, len(offsets) - 1, "max", empty_score=1.0)


def rare_class_selection(uncertainty_N, boost_N, budget: float, *, labeled=None, cost_N=None,
                         random_state=None) -> Selection:
    """Rank by ``uncertainty * boost`` (see :func:`rare_class_boost`).

    Args:
        uncertainty_N: (N,) float uncertainty per pool image, higher = more uncertain.
        boost_N: (N,) rare-class boost per image (:func:`rare_class_boost`; 1.0 for an image
            without counted boxes).
        budget: images to pick (or, with ``cost_N``, the total cost).
        labeled: pool rows already labeled (bool mask of shape (N,) or int indices; ``None``:
            none); never picked.
        cost_N: (N,) per-image cost (for example predicted boxes); with it ``budget`` is a total
            cost, and an image that does not fit is passed over for a cheaper one.
        random_state: unused (the ranking is deterministic, ties broken by pool order).
    Returns:
        a :class:`Selection` whose scores are ``uncertainty * boost``.
    """
    n = _check_pool(uncertainty_N)
    u = np.asarray(uncertainty_N, dtype=np.float64)
    boost = np.asarray(boost_N, dtype=np.float64)
    score = u * boost
    picks = take_within_budget(_ranked(score, labeled_mask(labeled, n)), budget, cost_N)
    reasons = [f"{'rare class' if boost[i] > 1.5 else 'uncertainty'}: {u[i]:.2f} x {boost[i]:.2f}"
               for i in picks]
    return Selection(picks, score[picks], reasons, "rare_class", {"budget": budget})


STRATEGIES = ("random", "uncertainty", "diversity", "coreset", "hybrid", "two_stage",
              "rare_class", "calibrated", "typiclust", "auto")
#: Strategies that read candidate-level measures (a query's measure ``candidate_<measure>``).
CANDIDATE_STRATEGIES = ("calibrated", "auto")
BUDGET_UNITS = ("images", "boxes", "cost")
_CALIBRATED = ("m_factor", "diversity", "weights", "weight_alpha", "weight_upper",
               "cost_aware")
_TYPICLUST = ("n_neighbors", "min_cluster_size")
#: The parameters each strategy takes through :func:`select_from_scores` (``**params``).
STRATEGY_PARAMS: dict[str, tuple[str, ...]] = {
    "random": (), "uncertainty": (), "coreset": (), "diversity": ("n_clusters",),
    "hybrid": ("alpha", "beta", "n_clusters"), "two_stage": ("m_factor", "method"),
    "rare_class": ("power", "max_weight"), "calibrated": _CALIBRATED, "typiclust": _TYPICLUST,
    "auto": ("threshold", "lift_weights", *_CALIBRATED, *_TYPICLUST),
}


def select_from_scores(scores, strategy: str, budget: float, *,
                       measure: str = "least_confidence_mean3", labeled=None,
                       budget_unit: str = "images", class_counts=None, class_quality=None,
                       cost_model=None, box_count_fit=None, uncertainty_lift=None,
                       dedupe_threshold: float | None = None, uncertainty_N=None,
                       random_state=None, **params) -> Selection:
    """Run a strategy over a :class:`alkit.PoolScores`.

    Args:
        scores: the pool's scores (table, embeddings, per-box arrays).
        strategy: one of :data:`STRATEGIES`.
        budget: images to pick, or boxes when ``budget_unit`` is ``"boxes"``.
        measure: the ``scores.table`` column used as uncertainty (higher = more uncertain),
            unless ``uncertainty_N`` is given (for example a committee disagreement).
        labeled: pool rows already labeled (mask or indices).
        budget_unit: ``"images"``, ``"boxes"`` (predicted boxes at the scores' threshold,
            at least 1 per image) or ``"cost"`` (seconds of annotation by ``cost_model`` for
            the expected boxes, :mod:`alkit.core.cost`).
        class_counts: (C,) labeled-set instance counts, for ``"rare_class"`` and the
            ``"gain"`` weights of ``"calibrated"`` / ``"auto"``.
        class_quality: (C,) the model's class quality on labeled images
            (:func:`alkit.core.difficulty.class_quality`), for ``"calibrated"`` and
            ``"auto"`` (weights; without it every class weighs 1).
        cost_model: the :class:`alkit.core.cost.CostModel` of ``"cost"`` budgets and
            cost-aware ranking (default: the documented defaults).
        box_count_fit: a :class:`alkit.core.cost.BoxCountFit` calibrated on checked images
            (:meth:`alkit.PoolScores.fit_box_counts`); the expected boxes of ``"cost"``
            budgets and cost-aware ranking come from it (``None``: the raw sum of candidate
            confidences, :attr:`alkit.PoolScores.expected_boxes`).
        uncertainty_lift: the :class:`alkit.core.calibrated.LiftCheck` of the model on checked
            images (:func:`alkit.core.strategies.measure_lift`), the switch of ``"auto"``
            (without it ``auto`` runs TypiClust).
        dedupe_threshold: if set, the ranking passes through :func:`near_duplicate_filter`
            (cosine similarity) before the budget is taken.
        uncertainty_N: (N,) float uncertainty that replaces the ``measure`` column.
        random_state: ``None``, an int seed or a ``numpy.random.Generator`` for the
            strategy's random draws.
        params: strategy parameters (alpha, beta, n_clusters, m_factor, method, ...).
    """
    from alkit.core.cost import CostModel

    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
    if budget_unit not in BUDGET_UNITS:
        raise ValueError(f"budget_unit must be one of {BUDGET_UNITS}, got {budget_unit!r}")
    if not len(scores):
        raise ValueError("the pool is empty: no scored image to select from")
    u = (np.asarray(uncertainty_N, dtype=np.float64) if uncertainty_N is not None
         else scores.table[measure].to_numpy(dtype=np.float64))
    cost_model = cost_model or CostModel()
    expected_boxes = (scores.expected_boxes if box_count_fit is None
                      else np.maximum(box_count_fit.predict(scores.box_count_features), 0.0))
    cost = {"images": None, "boxes": lambda: np.maximum(scores.n_boxes, 1),
            "cost": lambda: cost_model.cost(expected_boxes)}[budget_unit]
    cost = cost() if cost else None
    mask = labeled_mask(labeled, len(scores))
    _check_budget_buys_an_image(budget, budget_unit, cost, mask)
    common = {"labeled": mask, "random_state": random_state}
    if strategy in ("calibrated", "typiclust", "auto"):
        from alkit.core.strategies import run_new_strategy

        return _with_fit(run_new_strategy(strategy, scores, measure, budget, mask, cost,
                                          cost_model.cost(expected_boxes), class_quality,
                                          random_state, params, uncertainty_lift,
                                          class_counts), box_count_fit)
    if dedupe_threshold is not None:
        wide = _run_strategy(strategy, scores, u, len(scores), mask, None, class_counts,
                             common, params)
        ranking = np.concatenate([wide.indices, _ranked(u, mask)])
        kept, dropped = near_duplicate_filter(list(dict.fromkeys(ranking.tolist())),
                                              scores.embeddings, budget,
                                              threshold=dedupe_threshold, labeled=mask,
                                              cost_N=cost)
        score_of = dict(zip(wide.indices.tolist(), wide.scores, strict=True))
        reason_of = dict(zip(wide.indices.tolist(), wide.reasons, strict=True))
        return Selection(kept, [score_of.get(i, u[i]) for i in kept],
                         [reason_of.get(i, f"uncertainty {u[i]:.3f}") for i in kept],
                         wide.strategy, {**wide.params, "budget": budget,
                                         "dedupe_threshold": dedupe_threshold,
                                         "n_dropped_duplicates": len(dropped)})
    picked = _run_strategy(strategy, scores, u, budget, mask, cost, class_counts, common, params)
    return _with_fit(picked, box_count_fit if budget_unit == "cost" else None)


def _with_fit(picked: Selection, box_count_fit) -> Selection:
    """``picked`` with the box-count fit its costs came from in its params (if any)."""
    if box_count_fit is not None:
        picked.params["box_count_fit"] = box_count_fit.to_dict()
    return picked


def _check_budget_buys_an_image(budget, unit, cost, mask) -> None:
    """A positive budget smaller than the cheapest unlabeled image would silently pick
    nothing: say so instead."""
    if cost is None or budget <= 0 or mask.all():
        return
    cheapest = float(np.min(cost[~mask]))
    if cheapest > budget:
        raise ValueError(f"a budget of {budget:g} {unit} buys no image: the cheapest unlabeled "
                         f"image costs {cheapest:.3g} {unit}"
                         + (" (1 box at least)" if unit == "boxes" else ""))


def _run_strategy(strategy, scores, u, budget, mask, cost, class_counts, common, params):
    common = {**common, "cost_N": cost}
    if strategy == "random":
        return random_selection(len(scores), budget, **common)
    if strategy == "uncertainty":
        return uncertainty_selection(u, budget, **common)
    if strategy == "diversity":
        return diversity_selection(scores.embeddings, budget, **common, **params)
    if strategy == "coreset":
        return coreset_selection(scores.embeddings, budget, **common, **params)
    if strategy == "hybrid":
        return hybrid_selection(u, scores.embeddings, budget, **common, **params)
    if strategy == "two_stage":
        return two_stage_selection(u, scores.embeddings, budget, **common, **params)
    if class_counts is None:
        raise ValueError("the rare_class strategy needs class_counts from the labeled set")
    boost = rare_class_boost(scores.box_class_scores, scores.box_confidence, scores.box_offsets,
                             rare_class_weights(class_counts, **params),
                             conf_threshold=scores.conf_threshold)
    return rare_class_selection(u, boost, budget, **common)
