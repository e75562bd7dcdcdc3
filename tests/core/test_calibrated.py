"""Candidate-level uncertainty, calibrated selection and auto, through select_from_scores."""

import numpy as np
import pytest

from alkit.core.calibrated import (
    LiftCheck,
    auto_choice,
    calibrated_selection,
    cluster_round_robin,
    shortlist,
    uncertainty_lift,
)
from alkit.core.cost import CostModel
from alkit.core.detections import Labels
from alkit.core.pool import PoolScores
from alkit.core.query import Query, query, run_query
from alkit.core.selection import select_from_scores
from alkit.core.strategies import lift_weighting, measure_lift
from alkit.core.uncertainty import candidate_scores

N_CLASSES = 3


def pool(per_image, *, seed=0):
    """PoolScores from per-image lists of (confidence, class) candidates, random embeddings."""
    conf = np.array([c for image in per_image for c, _ in image], dtype=np.float32)
    cls = np.array([k for image in per_image for _, k in image], dtype=np.int64)
    class_scores = np.full((len(conf), N_CLASSES), 0.01, np.float32)
    class_scores[np.arange(len(conf)), cls] = conf
    n = len(per_image)
    return PoolScores(
        paths=[f"{i}.jpg" for i in range(n)], hashes=np.array([str(i) for i in range(n)]),
        heights=np.full(n, 100), widths=np.full(n, 100),
        box_offsets=np.concatenate([[0], np.cumsum([len(i) for i in per_image])]),
        box_xyxy=np.tile([10, 10, 50, 50], (len(conf), 1)).astype(np.float32),
        box_confidence=conf, box_class=cls, box_class_scores=class_scores,
        embeddings=np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32),
        names=("a", "b", "c"))


def test_half_seen_objects_outrank_an_empty_image_and_a_sure_one():
    scores = pool([[(0.3, 0), (0.3, 1), (0.3, 2)], [], [(0.95, 0)], [(0.04, 0)]])
    u = scores.candidate_scores("least_confidence")
    assert u[0] == pytest.approx(3 * 0.3 * 0.7, rel=1e-5)
    assert u[0] > u[2] > u[1] == u[3] == 0.0
    assert "candidate_entropy" in scores.table and "expected_boxes" in scores.table


def test_class_weights_scale_the_boxes_of_their_class():
    scores = pool([[(0.5, 0)], [(0.5, 1)]])
    plain = scores.candidate_scores("least_confidence")
    weighted = scores.candidate_scores("least_confidence", class_weights=[1.0, 2.0, 1.0])
    assert plain[0] == pytest.approx(plain[1])
    assert weighted[1] / weighted[0] == pytest.approx(2.0, rel=0.05)
    with pytest.raises(ValueError, match="3 classes"):
        candidate_scores(np.ones((1, 3)), [0.5], [0, 1], class_weights_C=[1, 2])


def test_gain_weights_send_the_budget_to_the_class_with_most_to_gain_per_label():
    # equally unsure candidates of class 0 (well labeled) and class 2 (hardly labeled)
    scores = pool([[(0.4, 0)]] * 10 + [[(0.4, 2)]] * 10)
    quality, counts = [0.5, 0.5, 0.5], [200, 200, 5]
    args = dict(class_quality=quality, class_counts=counts, random_state=0)
    gain = run_query(query("calibrated", budget=5, params={"weights": "gain", "m_factor": 1}),
                     scores, **args)
    assert set(gain.indices.tolist()) <= set(range(10, 20))
    assert gain.params["class_weights"] == pytest.approx([0.025, 0.025, 1.0])
    ppal = run_query(query("calibrated", budget=5, params={"m_factor": 1}), scores, **args)
    assert ppal.params["class_weights"][0] == ppal.params["class_weights"][2]  # same quality
    with pytest.raises(ValueError, match="weights must be one of"):
        run_query(query("calibrated", budget=5, params={"weights": "counts"}), scores, **args)


def test_shortlist_counts_images_or_cost():
    rank = np.array([5.0, 4, 3, 2, 1])
    assert shortlist(rank, 1, m_factor=2).tolist() == [0, 1]
    assert shortlist(rank, 1, labeled=[0], m_factor=2).tolist() == [1, 2]
    assert shortlist(rank, 10, cost_N=np.full(5, 7.0), m_factor=2).tolist() == [0, 1]
    with pytest.raises(ValueError, match="m_factor"):
        shortlist(rank, 1, m_factor=0.5)


def test_cost_aware_ranking_prefers_information_per_second():
    u = np.array([10.0, 6.0, 1.0])
    seconds = np.array([100.0, 30.0, 30.0])
    plain = calibrated_selection(u, np.eye(3), 1, diversity=False)
    per_second = calibrated_selection(u, np.eye(3), 1, expected_cost_N=seconds, diversity=False)
    assert plain.indices.tolist() == [0] and per_second.indices.tolist() == [1]


def test_calibrated_spreads_the_shortlist_away_from_the_labeled_set():
    emb = np.array([[0, 0], [0.1, 0], [5, 5], [0, 0.1], [9, 9]], dtype=float)
    u = np.array([0.0, 9, 8, 7, 1])
    picked = calibrated_selection(u, emb, 2, labeled=[0], m_factor=1.5)
    assert sorted(picked.indices.tolist()) == [1, 2]  # shortlist 1,2,3; 3 is next to 1 and 0


def test_round_robin_over_clusters_takes_the_smallest_clusters_first():
    clusters = np.array([0, 0, 0, 1, 1, 2, 9])  # row 6 is not in the shortlist
    rows = np.array([0, 1, 3, 5, 2, 4])  # best first
    assert cluster_round_robin(rows, clusters).tolist() == [5, 3, 0, 4, 1, 2]
    assert cluster_round_robin(np.array([], dtype=int), clusters).tolist() == []


def test_cluster_spread_keeps_one_mode_from_filling_the_batch():
    # 40 near-identical hard images (one mode) outrank 60 images of 3 other modes
    rng = np.random.default_rng(0)
    centres = np.eye(4) * 10
    mode = np.r_[np.zeros(40, int), np.repeat([1, 2, 3], 20)]
    emb = centres[mode] + rng.normal(scale=0.1, size=(100, 4))
    u = np.where(mode == 0, 5.0, 1.0) + rng.uniform(0, 0.1, 100)
    plain = calibrated_selection(u, emb, 8, diversity="none", m_factor=10)
    spread = calibrated_selection(u, emb, 8, diversity="clusters", m_factor=10, random_state=0)
    assert (mode[plain.indices] == 0).all()
    # k-means gives the big mode more clusters (40% of the pool), but not the whole batch
    assert set(mode[spread.indices]) == {0, 1, 2, 3} and (mode[spread.indices] == 0).sum() <= 4
    assert "spread by clusters" in spread.reasons[0] and spread.params["diversity"] == "clusters"
    with pytest.raises(ValueError, match="diversity must be one of"):
        calibrated_selection(u, emb, 8, diversity="kmeans")


def test_lift_is_one_for_a_blind_ranking_and_high_when_it_finds_the_error():
    rng = np.random.default_rng(0)
    error = np.r_[np.full(10, 5.0), np.full(90, 0.5)]
    seconds = np.full(100, 30.0)
    found = uncertainty_lift(-np.arange(100.0), error, seconds)  # the erring tenth first
    assert found.lift == pytest.approx(5.0 / error.mean()) and found.n_top == 10
    assert 1 < found.lower <= found.lift
    blind = [uncertainty_lift(rng.random(100), error, seconds).lift for _ in range(200)]
    assert np.mean(blind) == pytest.approx(1.0, abs=0.15)
    wrong = uncertainty_lift(np.arange(100.0), error, seconds)  # the easy ones first
    assert wrong.lift < 1 and wrong.lower < 1


def test_lift_counts_error_per_second_not_per_image():
    # the ranking finds the images with the most error, but they cost ten times as long
    error, seconds = np.r_[np.full(10, 2.0), np.full(90, 1.0)], np.r_[np.full(10, 200.0),
                                                                      np.full(90, 20.0)]
    assert uncertainty_lift(-np.arange(100.0), error, seconds).lift < 1


def test_lift_needs_enough_images_and_some_error():
    assert uncertainty_lift(np.arange(10.0), np.ones(10), np.ones(10)) is None
    assert uncertainty_lift(np.arange(50.0), np.zeros(50), np.ones(50)) is None
    with pytest.raises(ValueError, match="differ in length"):
        uncertainty_lift(np.arange(50.0), np.ones(49), np.ones(50))
    with pytest.raises(ValueError, match="seconds must be > 0"):
        uncertainty_lift(np.arange(50.0), np.ones(50), np.zeros(50))


def test_auto_switches_once_the_lift_is_above_one_with_confidence():
    assert auto_choice(None) == "typiclust"
    assert auto_choice(LiftCheck(1.4, 0.9, 300, 30)) == "typiclust"  # not sure yet
    assert auto_choice(LiftCheck(1.4, 1.1, 300, 30)) == "calibrated"
    assert auto_choice(LiftCheck(1.4, float("nan"), 300, 30)) == "typiclust"
    assert auto_choice(LiftCheck(1.4, 1.1, 300, 30), threshold=1.2) == "typiclust"


def test_strategies_through_a_query():
    scores = pool([[(0.3 + 0.01 * i, i % 3)] for i in range(40)])
    labeled = np.zeros(40, bool)
    labeled[:3] = True
    for name in ("candidate", "calibrated", "typiclust", "auto", "auto_cm", "auto_cm_gain",
                 "calibrated_cm_gain"):
        picked = run_query(query(name, budget=5), scores, labeled=labeled,
                           class_quality=[0.9, 0.1, 0.0], random_state=0)
        assert len(picked.indices) == 5 and not labeled[picked.indices].any(), name
    sure = LiftCheck(1.5, 1.2, 300, 30)
    auto = run_query(query("auto", budget=5), scores, class_quality=[0.9, 0.8, 0.7],
                     uncertainty_lift=sure, random_state=0)
    assert auto.params["auto"] == "calibrated"
    assert auto.params["model_quality"] == pytest.approx(0.8)
    assert auto.params["uncertainty_lift"] == sure.to_dict()
    assert auto.params["class_weights"][0] < auto.params["class_weights"][2]
    unsure = run_query(query("auto", budget=5), scores, class_quality=[0.9, 0.8, 0.7],
                       uncertainty_lift=LiftCheck(1.5, 0.95, 300, 30), random_state=0)
    assert unsure.params["auto"] == "typiclust"


def test_budget_in_cost():
    scores = pool([[(0.9, 0)] * k for k in (0, 1, 2, 3)] * 5)
    picked = run_query(query("calibrated", budget=100, budget_unit="cost"), scores,
                       random_state=0)
    seconds = 4 + 25.5 * scores.expected_boxes
    assert 0 < seconds[picked.indices].sum() <= 100
    random = run_query(query("random", budget=100, budget_unit="cost"), scores, random_state=0)
    assert seconds[random.indices].sum() <= 100


def test_bad_input_gets_a_clear_message_or_a_documented_fallback():
    no_boxes = pool([[] for _ in range(10)])
    for name in ("calibrated", "auto", "typiclust", "candidate", "auto_cm", "auto_cm_gain",
                 "calibrated_cm_gain"):
        picked = run_query(query(name, budget=3), no_boxes, random_state=0,
                           uncertainty_lift=LiftCheck(2.0, 1.5, 300, 30))
        assert len(picked.indices) == 3, name  # no candidate anywhere: still a full budget
    small = pool([[(0.5, 0)]] * 3)
    assert len(run_query(query("calibrated", budget=10), small, random_state=0).indices) == 3
    assert len(run_query(query("typiclust", budget=10), small, random_state=0).indices) == 3
    with pytest.raises(ValueError, match=r"budget of 0.5 boxes buys no image: the cheapest "
                       r"unlabeled image costs 1 boxes \(1 box at least\)"):
        run_query(query("calibrated", budget=0.5, budget_unit="boxes"), small, random_state=0)
    with pytest.raises(ValueError, match="budget of 10 cost buys no image"):
        run_query(query("random", budget=10, budget_unit="cost"), small, random_state=0)
    with pytest.raises(ValueError, match="pool is empty"):
        select_from_scores(pool([]), "calibrated", 3, measure="candidate_entropy")
    with pytest.raises(ValueError, match="candidate measure"):
        Query("calibrated", "least_confidence_max")
    with pytest.raises(ValueError, match="spreads its picks itself"):
        Query("auto", "candidate_entropy", dedupe_threshold=0.9)
    with pytest.raises(ValueError, match="lift_weights must be one of"):
        Query("auto", "candidate_entropy", params={"lift_weights": "counts"})
    with pytest.raises(ValueError, match="weights must be one of"):
        Query("calibrated", "candidate_entropy", params={"weights": "counts"})


def test_auto_cm_gain_switches_on_the_difficulty_lift_and_ranks_with_gain_weights():
    gain = query("auto_cm_gain").params
    assert lift_weighting(gain) == "difficulty"
    assert lift_weighting(query("auto_gain").params) == "gain"
    assert lift_weighting(query("auto_cm").params) == "difficulty"
    # class 2: hard and never labeled -> the gain weights put it far above the others
    scores = pool([[(0.3 + 0.01 * i, i % 3)] for i in range(40)])
    picked = run_query(query("auto_cm_gain", budget=5), scores, class_quality=[0.9, 0.8, 0.1],
                       class_counts=[50, 20, 0], uncertainty_lift=LiftCheck(1.5, 1.2, 300, 30),
                       random_state=0)
    weights = picked.params["class_weights"]
    assert picked.params["auto"] == "calibrated" and weights[2] == 1.0
    assert weights[0] < 0.01 and weights[1] < 0.02
    # calibrated_cm_gain: the same calibrated round, with no switch before it
    direct = run_query(query("calibrated_cm_gain", budget=5), scores,
                       class_quality=[0.9, 0.8, 0.1], class_counts=[50, 20, 0], random_state=0)
    np.testing.assert_array_equal(direct.indices, picked.indices)
    assert direct.params["class_weights"] == weights and "auto" not in direct.params


def test_measure_lift_ranks_checked_images_as_calibrated_ranks_a_pool():
    # 40 checked images, each with one object at the candidates' box: the model is sure and
    # right on 30 (confidence 0.95), unsure on 10 (0.3) which therefore miss most of the box
    sure, unsure = [(0.95, 0)], [(0.3, 0)]
    scores = pool([unsure] * 10 + [sure] * 30)
    truth = {p: Labels([0], [[0.3, 0.3, 0.4, 0.4]]) for p in scores.paths}
    check = measure_lift(scores, truth, "candidate_entropy", None, CostModel())
    assert check.n_images == 40 and check.n_top == 4
    assert check.lift > 2 and check.lower > 1
    assert measure_lift(scores, {}, "candidate_entropy", None, CostModel()) is None
