"""Selectors: the properties every one keeps (no image twice, no labeled image, the budget, the
same picks for the same seed), and what each is for."""

from collections import Counter

import numpy as np
import pytest
from core_fixtures import make_scores
from hypothesis import given, settings
from hypothesis import strategies as st

from alkit.core.context import RoundContext
from alkit.core.selectors import (
    Hybrid,
    KCenter,
    RandomOrder,
    Shortlist,
    TopK,
    Typical,
    ranked,
)

SELECTORS = (RandomOrder(), TopK(), KCenter(), Hybrid(), Shortlist(4.0, "kcenter"),
             Shortlist(3.0, "medoids"), Shortlist(10.0, "clusters"), Shortlist(2.0, "none"),
             Typical())


@st.composite
def pools(draw, min_size=2, max_size=40):
    n = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    utility = rng.random(n)
    if draw(st.booleans()):
        utility = np.round(utility, 1)  # ties
    scores = make_scores([[(0.5, 0)]] * n, embeddings=rng.standard_normal((n, 4)))
    labeled = rng.random(n) < draw(st.floats(0.0, 0.5))
    cost = rng.integers(1, 4, n).astype(float) if draw(st.booleans()) else None
    return scores, utility, labeled, draw(st.integers(0, n)), cost


def _pick(selector, scores, utility, labeled, budget, cost, seed):
    return selector.pick(utility, scores, RoundContext.of(scores, labeled=labeled), budget,
                         cost, seed)


@settings(max_examples=25, deadline=None)
@given(pools(), st.integers(0, 1000))
def test_no_image_twice_no_labeled_image_and_the_budget_is_kept(pool, seed):
    scores, utility, labeled, budget, cost = pool
    free = int((~labeled).sum())
    for selector in SELECTORS:
        rows, values, reasons, _ = _pick(selector, scores, utility, labeled, budget, cost, seed)
        assert len(set(rows.tolist())) == len(rows) and not labeled[rows].any(), selector
        assert len(values) == len(reasons) == len(rows) and all(reasons)
        if cost is None:
            full = isinstance(selector, Shortlist) and selector.spread == "medoids"
            assert len(rows) == min(budget, free) or (full and len(rows) <= budget), selector
        else:
            assert cost[rows].sum() <= budget, selector


@settings(max_examples=15, deadline=None)
@given(pools(), st.integers(0, 1000))
def test_the_same_random_state_gives_the_same_picks(pool, seed):
    scores, utility, labeled, budget, cost = pool
    for selector in SELECTORS:
        a = _pick(selector, scores, utility, labeled, budget, cost, seed)[0]
        b = _pick(selector, scores, utility, labeled, budget, cost, seed)[0]
        assert a.tolist() == b.tolist(), selector


def test_ties_go_in_a_random_order_not_the_pool_order():
    """90 of 200 least-confident picks of a weak model were images without a box, all tied at
    1.0: a tie must not hand the budget to the first files of the folder."""
    utility = np.ones(1000)
    firsts = {tuple(ranked(utility, np.zeros(1000, bool), seed)[:10]) for seed in range(5)}
    assert len(firsts) == 5
    assert ranked(np.array([0.1, 0.9, 0.5]), np.zeros(3, bool), 0).tolist() == [1, 2, 0]


@settings(max_examples=20, deadline=None)
@given(pools(min_size=3), st.integers(0, 1000), st.floats(1.0, 5.0))
def test_a_shortlist_picks_only_from_its_top_m(pool, seed, m_factor):
    scores, utility, labeled, budget, _ = pool
    for spread in ("kcenter", "medoids", "clusters", "none"):
        rows, *_ = _pick(Shortlist(m_factor, spread), scores, utility, labeled, budget, None,
                         seed)
        top = ranked(utility, labeled, seed)[: int(np.ceil(m_factor * budget))]
        assert set(rows.tolist()) <= set(top.tolist())


def test_hybrid_is_relative_to_the_labeled_set():
    """diversity = distance to the nearest labeled or picked image ("not covered yet"), not
    distance to a k-means centroid: an image next to a labeled one gains nothing."""
    x = np.array([[0.0, 0], [0.1, 0], [5, 0], [5.1, 0], [10, 0]])
    scores = make_scores([[(0.5, 0)]] * 5, embeddings=x)
    utility = np.array([0.0, 1.0, 0.9, 0.85, 0.0])
    context = RoundContext.of(scores, labeled=[0])
    rows, *_ = Hybrid(0.3, 0.7).pick(utility, scores, context, 2, None, 0)
    assert rows.tolist() == [4, 2]  # 1, the most uncertain, sits on the labeled 0; 3 on 2
    pure, *_ = Hybrid(1.0, 0.0).pick(utility, scores, context, 3, None, 0)
    assert pure.tolist() == [1, 2, 3]  # alpha 1: the uncertainty ranking
    spread, *_ = Hybrid(0.0, 1.0).pick(utility, scores, context, 2, None, 0)
    assert spread.tolist() == KCenter().pick(None, scores, context, 2, None, 0)[0].tolist()


def test_hybrid_normalizes_over_the_unlabeled_rows_only():
    x = np.array([[0.0], [1], [2], [3]])
    scores = make_scores([[(0.5, 0)]] * 4, embeddings=np.c_[x, np.zeros(4)])
    utility = np.array([100.0, 0.2, 0.1, 0.0])  # the labeled row's utility must not squash
    context = RoundContext.of(scores, labeled=[0])
    _, values, reasons, _ = Hybrid(1.0, 0.0).pick(utility, scores, context, 1, None, 0)
    assert values[0] == pytest.approx(1.0) and "1*1.00" in reasons[0]


def test_k_center_starts_from_the_labeled_set():
    x = np.array([[0.0, 0], [0.1, 0], [5, 0], [10, 0], [10.1, 0]])
    scores = make_scores([[(0.5, 0)]] * 5, embeddings=x)
    rows, *_ = KCenter().pick(None, scores, RoundContext.of(scores, labeled=[0]), 2, None, 0)
    assert rows.tolist() == [4, 2]


def test_the_cluster_spread_keeps_one_mode_from_filling_the_batch():
    # 40 near-identical hard images (one mode) outrank 60 images of 3 other modes
    rng = np.random.default_rng(0)
    mode = np.r_[np.zeros(40, int), np.repeat([1, 2, 3], 20)]
    scores = make_scores([[(0.5, 0)]] * 100,
                         embeddings=np.eye(4)[mode] * 10 + rng.normal(scale=0.1, size=(100, 4)))
    utility = np.where(mode == 0, 5.0, 1.0) + rng.uniform(0, 0.1, 100)
    context = RoundContext.of(scores)
    plain, *_ = Shortlist(10, "none").pick(utility, scores, context, 8, None, 0)
    spread, _, reasons, _ = Shortlist(10, "clusters").pick(utility, scores, context, 8, None, 0)
    assert (mode[plain] == 0).all()
    assert set(mode[spread]) == {0, 1, 2, 3} and (mode[spread] == 0).sum() <= 4
    assert "spread by clusters" in reasons[0]
    with pytest.raises(ValueError, match="spread must be one of"):
        Shortlist(4, "kmeans")
    with pytest.raises(ValueError, match="m_factor must be >= 1"):
        Shortlist(0.5)


@pytest.mark.slow
def test_a_spread_shortlist_picks_fewer_near_duplicates_than_uncertainty_on_the_sample_pool(
        tmp_path):
    """The generator's duplicate groups are used here, to judge; never by the strategies."""
    from alkit.core.utility import Uncertainty
    from alkit.data import samples
    from alkit.model import scoring, yolo

    built = samples.build_samples("small", tmp_path / "small", progress=False)
    scores = scoring.score_pool(yolo.pretrained_checkpoint(), built.out / "images" / "pool",
                                imgsz=128, batch=32, conf=0.001, conf_threshold=0.01,
                                cache_dir=tmp_path / "cache", progress=False)
    group = {r["image"].split("/")[-1]: r["duplicate_group"]
             for r in samples.read_generation_metadata(built.out) if r["split"] == "pool"}

    def repeats(rows):
        groups = [group[scores.paths[i].split("/")[-1]] for i in rows]
        return sum(n - 1 for g, n in Counter(groups).items() if g != "")

    context = RoundContext.of(scores)
    utility = Uncertainty("least_confidence", "mean3")(scores, context)
    pure, *_ = TopK().pick(utility, scores, context, 40, None, 0)
    spread, *_ = Shortlist(4, "kcenter").pick(utility, scores, context, 40, None, 0)
    assert repeats(pure) > 0
    assert repeats(spread) < repeats(pure), (repeats(spread), repeats(pure))


def _dense_hybrid(x, utility, labeled, budget, alpha, beta, seed):
    """The hybrid greedy with every distance updated after every pick (the reference)."""
    free = ~labeled
    u = np.zeros(len(x))
    lo, hi = utility[free].min(), utility[free].max()
    u[free] = (utility[free] - lo) / (hi - lo) if hi > lo else 0.0
    u += np.random.default_rng(seed).random(len(x)) * 1e-12
    distance = np.linalg.norm(x[:, None] - x[None], axis=2)
    d = distance[:, labeled].min(axis=1) if labeled.any() else None
    picks = []
    if budget < 1:
        return picks
    if d is None:
        picks.append(int(np.flatnonzero(free)[np.argmax(u[free])]))
        d, free = distance[:, picks[0]].copy(), free & (np.arange(len(x)) != picks[0])
    scale = d[free].max() if free.any() and d[free].max() > 0 else 1.0
    while free.any() and len(picks) < budget:
        value = np.where(free, alpha * u + beta * d / scale, -np.inf)
        i = int(np.argmax(value))
        picks.append(i)
        free[i] = False
        d = np.minimum(d, distance[:, i])
    return picks


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 40), st.integers(0, 2**16), st.integers(0, 40), st.booleans(),
       st.floats(0.0, 1.0))
def test_the_lazy_hybrid_equals_the_dense_greedy(n, seed, budget, with_labeled, alpha):
    """Small integer coordinates, so that every distance is exact in float32 as in float64."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, (n, 3)).astype(np.float32)
    utility = rng.random(n)
    labeled = (rng.random(n) < 0.3) if with_labeled else np.zeros(n, bool)
    if labeled.all():
        labeled[0] = False
    scores = make_scores([[(0.5, 0)]] * n, embeddings=x)
    rows, *_ = Hybrid(alpha, 1 - alpha).pick(utility, scores,
                                            RoundContext.of(scores, labeled=labeled), budget,
                                            None, seed)
    assert rows.tolist() == _dense_hybrid(x.astype(np.float64), utility, labeled, budget,
                                          alpha, 1 - alpha, seed)
