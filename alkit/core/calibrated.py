"""Calibrated uncertainty plus diversity, and ``auto`` (numpy and scikit-learn only).

**calibrated** (:func:`calibrated_selection`), after PPAL (Yang et al., "Plug and Play Active
Learning for Object Detection", CVPR 2024): score every pool image by its candidate-level
uncertainty with difficulty-calibrated class weights (:func:`alkit.core.uncertainty.
candidate_scores` with :func:`alkit.core.difficulty.difficulty_weights`), optionally per
second of expected annotation cost (``cost_aware``: the score over ``seconds_per_image +
seconds_per_box * E[boxes]``, :mod:`alkit.core.cost`), shortlist the best ``m_factor`` times
the budget, and spread the picks over the shortlist by k-center greedy on the embeddings,
starting from the labeled set (PPAL spreads its shortlist with a category-conditioned
similarity of box features; alkit uses the image embeddings, which it already has, and keeps
the category conditioning for later).

**auto** (:func:`auto_choice`): typicality first, uncertainty once it is worth following.
TypiClust (ICML 2022) shows that uncertainty picks lose to typical picks while the model is
weak and win once it is not. The model's own measurement is its mean class quality ``q`` on
labeled images the round can check it on (:func:`alkit.core.difficulty.class_quality`, mean
over every class, unseen classes counting 0): the share of labeled objects the model both
finds and names, discounted by how sure and how tight it is. ``auto`` runs
:func:`alkit.core.typicality.typiclust_selection` while ``q < threshold`` and ``calibrated``
from then on. The threshold (:data:`AUTO_QUALITY_THRESHOLD`) and the measurement behind it are
in docs/selection.md.
"""

from __future__ import annotations

import numpy as np

from alkit.core.selection import (
    Selection,
    _check_pool,
    _ranked,
    k_center_greedy,
    labeled_mask,
    take_within_budget,
)

#: ``auto`` follows the model's uncertainty once its mean class quality reaches this.
AUTO_QUALITY_THRESHOLD = 0.5
#: The shortlist of ``calibrated`` holds this many times the budget (PPAL's 4x).
M_FACTOR = 4.0


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
            category-conditioned similarity), ``False`` / ``"none"`` (rank order).
        distances: for ``"ccms"``: a function ``(candidate_rows, centre_rows) -> (C, L + C)``
            distances of the candidates to the centres and to each other
            (:func:`alkit.core.ccms.k_center_on_distances`).
        random_state: ``None``, an int seed or a ``numpy.random.Generator`` (k-center's
            first pick when nothing is labeled).
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
    if method not in ("kcenter", "ccms", "none"):
        raise ValueError(f"diversity must be kcenter, ccms or none, got {diversity!r}")
    if method == "ccms" and distances is None:
        raise ValueError("diversity 'ccms' needs the distances function")
    if method == "kcenter" and len(short) > 1:
        order, _ = k_center_greedy(embeddings_N_D, len(short), labeled=mask, candidates=short,
                                   random_state=random_state)
    elif method == "ccms" and len(short) > 1:
        from alkit.core.ccms import k_center_on_distances

        order = short[k_center_on_distances(distances(short, np.flatnonzero(mask)), len(short),
                                            random_state=random_state)]
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


def auto_choice(class_quality_C, *, threshold: float = AUTO_QUALITY_THRESHOLD
                ) -> tuple[str, float | None]:
    """Which strategy ``auto`` runs: ``("typiclust", q)`` while the mean class quality ``q``
    is below ``threshold`` (or unmeasured: ``None``), else ``("calibrated", q)``.

    ``class_quality_C`` is the (C,) per-class quality (:func:`alkit.core.difficulty.
    class_quality`; unseen classes 0), or ``None`` when no labeled image could be checked.
    """
    if class_quality_C is None or len(class_quality_C) == 0:
        return "typiclust", None
    quality = float(np.mean(class_quality_C))
    return ("calibrated" if quality >= threshold else "typiclust"), quality
