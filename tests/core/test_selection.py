"""Query strategies: property tests, and near-duplicates on the real sample pool."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alkit.core import selection as sel


@st.composite
def pools(draw, min_size=2, max_size=60):
    n = draw(st.integers(min_size, max_size))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    if draw(st.booleans()):
        u = np.round(u, 1)  # ties
    embeddings = rng.standard_normal((n, draw(st.integers(2, 8)))).astype(np.float32)
    labeled = rng.random(n) < draw(st.floats(0.0, 0.5))
    budget = draw(st.integers(0, n))
    return u, embeddings, labeled, budget


def _all_selections(u, embeddings, labeled, budget, seed):
    kw = dict(labeled=labeled, random_state=seed)
    return [
        sel.random_selection(len(u), budget, **kw),
        sel.uncertainty_selection(u, budget, **kw),
        sel.diversity_selection(embeddings, budget, n_clusters=5, **kw),
        sel.coreset_selection(embeddings, budget, **kw),
        sel.hybrid_selection(u, embeddings, budget, n_clusters=5, **kw),
        sel.two_stage_selection(u, embeddings, budget, **kw),
        sel.two_stage_selection(u, embeddings, budget, method="cluster", **kw),
        sel.rare_class_selection(u, 1 + np.arange(len(u)) % 3, budget, **kw),
    ]


@settings(max_examples=40, deadline=None)
@given(pools(), st.integers(0, 1000))
def test_no_image_twice_no_labeled_image_and_the_budget_is_kept(pool, seed):
    u, embeddings, labeled, budget = pool
    n_unlabeled = int((~labeled).sum())
    for s in _all_selections(u, embeddings, labeled, budget, seed):
        assert len(np.unique(s.indices)) == len(s.indices), s.strategy
        assert not labeled[s.indices].any(), s.strategy
        assert len(s) <= budget, s.strategy
        if s.strategy != "two_stage" or s.params["method"] == "kcenter":
            assert len(s) == min(budget, n_unlabeled), s.strategy
        assert len(s.reasons) == len(s) and all(s.reasons)


@settings(max_examples=25, deadline=None)
@given(pools(), st.integers(0, 1000))
def test_the_same_random_state_gives_the_same_picks(pool, seed):
    u, embeddings, labeled, budget = pool
    first = _all_selections(u, embeddings, labeled, budget, seed)
    again = _all_selections(u, embeddings, labeled, budget, seed)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.indices, b.indices)


@settings(max_examples=30, deadline=None)
@given(pools(), st.integers(0, 1000))
def test_alpha_one_is_the_pure_uncertainty_ranking(pool, seed):
    u, embeddings, labeled, budget = pool
    hybrid = sel.hybrid_selection(u, embeddings, budget, alpha=1.0, beta=0.0, labeled=labeled,
                                  n_clusters=5, random_state=seed)
    pure = sel.uncertainty_selection(u, budget, labeled=labeled)
    np.testing.assert_array_equal(hybrid.indices, pure.indices)


@settings(max_examples=30, deadline=None)
@given(pools(), st.integers(0, 1000), st.floats(1.0, 5.0))
def test_two_stage_picks_come_from_the_top_m(pool, seed, m_factor):
    u, embeddings, labeled, budget = pool
    for method in ("kcenter", "cluster"):
        s = sel.two_stage_selection(u, embeddings, budget, m_factor=m_factor, labeled=labeled,
                                    method=method, random_state=seed)
        top_m = sel._ranked(u, labeled)[: max(1, int(np.ceil(m_factor * max(budget, 1))))]
        assert set(s.indices) <= set(top_m)


def test_diversity_scores_are_normalized_distances_to_centroids():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [20, 20]], float)
    x = np.concatenate([c + rng.normal(0, 0.5, (50, 2)) for c in centers]).astype(np.float32)
    x[0] = [3, 3]  # far from its cluster
    d = sel.diversity_scores(x, n_clusters=2, random_state=0)
    assert d.min() == 0.0 and d.max() == 1.0 and np.argmax(d) == 0


def test_budget_in_boxes_passes_over_expensive_images():
    u = np.array([0.9, 0.8, 0.7, 0.6])
    cost = np.array([5, 3, 1, 1])
    s = sel.uncertainty_selection(u, 4, cost_N=cost)
    assert s.indices.tolist() == [1, 2]
    r = sel.random_selection(4, 2, cost_N=cost, random_state=0)
    assert cost[r.indices].sum() <= 2
    k, _ = sel.k_center_greedy(np.eye(4, dtype=np.float32), 2, cost_N=cost, random_state=0)
    assert cost[k].sum() <= 2


def test_near_duplicate_filter_drops_near_copies_of_kept_and_labeled_images():
    x = np.array([[1, 0], [0.999, 0.01], [0, 1], [0.01, 1], [1, 1]], np.float32)
    kept, dropped = sel.near_duplicate_filter([0, 1, 2, 3, 4], x, 3, threshold=0.99)
    assert kept.tolist() == [0, 2, 4] and dropped == {1: 0, 3: 2}
    kept, dropped = sel.near_duplicate_filter([1, 3, 4], x, 3, threshold=0.99, labeled=[0])
    assert kept.tolist() == [3, 4] and dropped == {1: 0}


def test_rare_class_weights_and_boost():
    weights = sel.rare_class_weights([100, 100, 4, 0])
    np.testing.assert_allclose(weights, [1, 1, 5, 10])
    scores = np.array([[0.9, 0.0, 0.0, 0.0], [0.1, 0.0, 0.8, 0.0], [0.3, 0.0, 0.0, 0.3]])
    boost = sel.rare_class_boost(scores, scores.max(axis=1), [0, 1, 2, 3, 3], weights)
    np.testing.assert_allclose(boost, [1.0, (0.1 + 0.8 * 5) / 0.9, 5.5, 1.0])
    u = np.array([0.5, 0.3, 0.3, 0.5])
    s = sel.rare_class_selection(u, boost, 2)
    assert s.indices.tolist() == [2, 1] and s.reasons[0].startswith("rare class")


def test_selection_table_and_validation():
    s = sel.uncertainty_selection(np.array([0.2, 0.9]), 1)
    assert s.table(["a.jpg", "b.jpg"]).to_dict("records") == [
        {"rank": 1, "index": 1, "path": "b.jpg", "score": 0.9, "reason": "uncertainty 0.900"}]
    with pytest.raises(ValueError, match="disagree on the pool size"):
        sel.hybrid_selection(np.zeros(3), np.zeros((4, 2)), 1)
    with pytest.raises(ValueError, match="contains NaN"):
        sel.uncertainty_selection(np.array([np.nan, 1.0]), 1)
    with pytest.raises(ValueError, match="picked twice"):
        sel.Selection([1, 1], [0, 0], ["a", "b"], "x")


@pytest.mark.slow
def test_two_stage_picks_fewer_near_duplicates_than_uncertainty_on_the_sample_pool(tmp_path):
    """The generator's duplicate groups are used here, to judge; never by the strategies."""
    from alkit.data import samples
    from alkit.model import scoring, yolo

    built = samples.build_samples("small", tmp_path / "small", progress=False)
    scores = scoring.score_pool(yolo.pretrained_checkpoint(), built.out / "images" / "pool",
                                imgsz=128, batch=32, conf=0.001, conf_threshold=0.01,
                                cache_dir=tmp_path / "cache", progress=False)
    group = {r["image"].split("/")[-1]: r["duplicate_group"]
             for r in samples.read_generation_metadata(built.out) if r["split"] == "pool"}

    def repeats(selection):
        groups = [group[scores.paths[i].split("/")[-1]] for i in selection.indices]
        return sum(n - 1 for g, n in Counter(groups).items() if g != "")

    u = scores.table["least_confidence_mean3"].to_numpy()
    budget = 40
    pure = sel.uncertainty_selection(u, budget)
    two_stage = sel.two_stage_selection(u, scores.embeddings, budget, random_state=0)
    assert repeats(pure) > 0
    assert repeats(two_stage) < repeats(pure), (repeats(two_stage), repeats(pure))


def _fake_scores(n=30, seed=0):
    from alkit.core.pool import PoolScores

    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 4, n)
    m = int(sizes.sum())
    class_scores = rng.random((m, 3)).astype(np.float32)
    return PoolScores(
        paths=[f"img{i}.jpg" for i in range(n)], hashes=np.array([f"h{i}" for i in range(n)]),
        heights=np.full(n, 64), widths=np.full(n, 64),
        box_offsets=np.concatenate([[0], np.cumsum(sizes)]),
        box_xyxy=np.tile([[1.0, 1, 10, 10]], (m, 1)), box_confidence=class_scores.max(axis=1),
        box_class=class_scores.argmax(axis=1), box_class_scores=class_scores,
        embeddings=rng.standard_normal((n, 8)).astype(np.float32), names=("a", "b", "c"))


@pytest.mark.parametrize("strategy", sel.STRATEGIES)
def test_select_from_scores_runs_every_strategy(strategy):
    scores = _fake_scores()
    measure = ("candidate_entropy" if strategy in sel.CANDIDATE_STRATEGIES
               else "least_confidence_mean3")
    s = sel.select_from_scores(scores, strategy, 5, labeled=[0, 1], class_counts=[50, 5, 1],
                               measure=measure, random_state=0)
    assert len(s) <= 5 and not {0, 1} & set(s.indices.tolist())
    boxes = sel.select_from_scores(scores, strategy, 6, budget_unit="boxes", measure=measure,
                                   class_counts=[50, 5, 1], random_state=0)
    assert np.maximum(scores.n_boxes, 1)[boxes.indices].sum() <= 6
    seconds = sel.select_from_scores(scores, strategy, 200, budget_unit="cost", measure=measure,
                                     class_counts=[50, 5, 1], random_state=0)
    assert (4 + 25.5 * scores.expected_boxes)[seconds.indices].sum() <= 200


def test_pool_scores_fit_box_counts_on_the_images_with_labels():
    """PoolScores.fit_box_counts reads the real counts of the labeled rows only."""
    from alkit.core.detections import Labels

    scores = _fake_scores(n=40)
    features = scores.box_count_features
    truth = np.rint(1 + 2 * features.sum(axis=1)).astype(int)
    labels = {p: Labels(np.zeros(k, dtype=np.int64), np.full((k, 4), 0.5))
              for p, k in zip(scores.paths[:30], truth[:30], strict=True)}
    fit = scores.fit_box_counts(labels)
    assert fit.n_images == 30 and fit.error_fit < fit.error_raw
    assert scores.fit_box_counts(dict(list(labels.items())[:10])) is None


@pytest.mark.parametrize("strategy", ["random", "calibrated", "typiclust"])
def test_a_box_count_fit_prices_cost_budgets_and_is_recorded(strategy):
    """Calibrated expected boxes (twice the raw sum, plus one) make every image dearer: the
    same seconds buy fewer images, spent within the fitted prices, and the fit is recorded."""
    from alkit.core.cost import BoxCountFit

    scores = _fake_scores()
    fit = BoxCountFit(1.0, (2.0, 2.0, 2.0), 30, 1.5, 0.5)
    measure = "candidate_entropy" if strategy == "calibrated" else "least_confidence_mean3"
    raw = sel.select_from_scores(scores, strategy, 300, budget_unit="cost", measure=measure,
                                 random_state=0)
    fitted = sel.select_from_scores(scores, strategy, 300, budget_unit="cost", measure=measure,
                                    box_count_fit=fit, random_state=0)
    price = 4 + 25.5 * (1 + 2 * scores.expected_boxes)
    assert price[fitted.indices].sum() <= 300 < price[raw.indices].sum()
    assert fitted.params["box_count_fit"]["slopes"] == [2.0, 2.0, 2.0]
    assert "box_count_fit" not in raw.params


def test_select_with_dedupe_and_a_committee_term():
    scores = _fake_scores()
    scores.embeddings[3] = scores.embeddings[2] * 1.01  # a near copy
    u = np.zeros(len(scores))
    u[[2, 3, 4]] = [0.9, 0.8, 0.7]
    s = sel.select_from_scores(scores, "uncertainty", 2, uncertainty_N=u, dedupe_threshold=0.99)
    assert s.indices.tolist() == [2, 4] and s.params["n_dropped_duplicates"] == 1
    with pytest.raises(ValueError, match="needs class_counts"):
        sel.select_from_scores(scores, "rare_class", 2)


def test_cli_select(tmp_path):
    import subprocess
    import sys

    scores = _fake_scores()
    from alkit.data.scorefile import save_scores

    save_scores(scores, tmp_path / "s.npz")
    (tmp_path / "labeled.txt").write_text("img0.jpg\nimg1.jpg\n")
    out = subprocess.run([sys.executable, "-m", "alkit.cli", "select", str(tmp_path / "s.npz"),
                          "--strategy", "hybrid", "--budget", "4", "--labeled",
                          str(tmp_path / "labeled.txt"), "--out", str(tmp_path / "sel.csv")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "hybrid: picked 4 images" in out.stdout
    rows = (tmp_path / "sel.csv").read_text().splitlines()
    assert rows[0] == "rank,index,path,score,reason" and len(rows) == 5
    assert not any(",img0.jpg," in r or ",img1.jpg," in r for r in rows)
