"""The query: validation that names what is wrong, budgets in images, boxes or seconds, the
near-duplicate filter, and a query recorded and read back."""

import numpy as np
import pytest
from core_fixtures import make_scores, random_scores
from hypothesis import given, settings
from hypothesis import strategies as st

from alkit.core.context import RoundContext
from alkit.core.cost import BoxCountFit
from alkit.core.query import Query, query, run_query
from alkit.core.strategy import STRATEGIES


@pytest.mark.parametrize(("fields", "message"), [
    ({"strategy": "magic"}, "unknown strategy 'magic'"),
    ({"strategy": "two_stage"}, "'two_stage' was removed: use calibrated"),
    ({"budget": -1}, "budget must be >= 0"),
    ({"budget_unit": "dollars"}, "budget_unit must be one of"),
    ({"strategy": "coreset", "dedupe_threshold": 0.9}, "spreads its picks itself"),
    ({"strategy": "least_confidence", "dedupe_threshold": 1.5}, r"\(0, 1\]"),
    ({"conf_threshold": 2.0}, r"\[0, 1\]"),
    ({"seconds_per_box": -1.0}, ">= 0"),
])
def test_bad_queries_say_what_was_expected(fields, message):
    with pytest.raises(ValueError, match=message):
        Query(**fields)


def test_query_overrides_and_measures():
    q = query("least_confidence", measure="margin", budget=5)
    assert q.strategy.utility.measure == "margin" and q.budget == 5
    assert query("least_confidence", budget=None).budget == 100  # None leaves the default
    with pytest.raises(TypeError, match="unknown query setting"):
        query("random", epochs=3)
    with pytest.raises(ValueError, match="reads no uncertainty measure"):
        query("coreset", measure="margin")


def test_a_recorded_query_reads_back():
    for name in STRATEGIES:
        q = query(name, budget=7, budget_unit="boxes")
        assert Query.from_dict(q.to_dict()) == q, name
    recorded = query("least_confidence", measure="margin").to_dict()
    with pytest.raises(ValueError, match="not the named one"):
        Query.from_dict(recorded)
    with pytest.raises(TypeError, match="unknown query field"):
        Query.from_dict({"strategy": "random", "colour": "red"})


def test_run_query_keeps_the_query_and_what_the_strategy_reported():
    scores = random_scores(n=30)
    picked = run_query(query("least_confidence", budget=4, dedupe_threshold=0.99), scores,
                       random_state=0)
    assert len(picked) == 4 and picked.params["strategy"] == "least_confidence"
    assert "n_dropped_duplicates" in picked.params and picked.params["budget"] == 4
    with pytest.raises(ValueError, match="score with the query's threshold"):
        run_query(query("random", conf_threshold=0.5), scores, random_state=0)
    with pytest.raises(ValueError, match="pool is empty"):
        run_query(query("random"), make_scores([]))


def test_the_near_duplicate_filter_passes_over_copies():
    confidence = [0.9, 0.9, 0.3, 0.31, 0.35, 0.9]  # least confident: 2, 3 (a copy of 2), 4
    embeddings = np.random.default_rng(0).normal(size=(6, 4))
    embeddings[3] = embeddings[2] * 1.01
    scores = make_scores([[(c, 0)] for c in confidence], embeddings=embeddings)
    plain = run_query(query("least_confidence", budget=2), scores, random_state=0)
    kept = run_query(query("least_confidence", budget=2, dedupe_threshold=0.99), scores,
                     random_state=0)
    assert plain.indices.tolist() == [2, 3]
    assert kept.indices.tolist() == [2, 4] and kept.params["n_dropped_duplicates"] == 1


@pytest.mark.parametrize("name", ["random", "least_confidence", "calibrated", "typiclust"])
def test_budgets_in_boxes_and_seconds_and_the_box_count_fit(name):
    """Calibrated expected boxes (twice the raw sum, plus one) make every image dearer: the
    same seconds buy fewer images, spent within the fitted prices, and the fit is recorded."""
    scores = random_scores(n=40)
    context = RoundContext.of(scores, class_quality=[0.3, 0.6, 0.9], class_counts=[5, 20, 50])
    boxes = run_query(query(name, budget=6, budget_unit="boxes"), scores, context,
                      random_state=0)
    assert np.maximum(scores.n_boxes, 1)[boxes.indices].sum() <= 6
    fit = BoxCountFit(1.0, (2.0, 2.0, 2.0), 30, 1.5, 0.5)
    raw = run_query(query(name, budget=300, budget_unit="cost"), scores, context,
                    random_state=0)
    fitted = run_query(query(name, budget=300, budget_unit="cost"), scores,
                       RoundContext.of(scores, class_quality=[0.3, 0.6, 0.9],
                                       class_counts=[5, 20, 50], box_count_fit=fit),
                       random_state=0)
    price = 4 + 25.5 * (1 + 2 * scores.expected_boxes)
    assert price[fitted.indices].sum() <= 300 < price[raw.indices].sum()
    assert fitted.params["box_count_fit"]["slopes"] == [2.0, 2.0, 2.0]
    assert "box_count_fit" not in raw.params


def test_a_budget_that_buys_no_image_is_refused():
    scores = make_scores([[(0.5, 0)]] * 3)
    with pytest.raises(ValueError, match=r"budget of 0.5 boxes buys no image: the cheapest "
                       r"unlabeled image costs 1 boxes \(1 box at least\)"):
        run_query(query("random", budget=0.5, budget_unit="boxes"), scores, random_state=0)
    with pytest.raises(ValueError, match="budget of 10 cost buys no image"):
        run_query(query("random", budget=10, budget_unit="cost"), scores, random_state=0)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(sorted(set(STRATEGIES) - {"committee"})), st.integers(1, 10),
       st.integers(0, 3))
def test_the_same_seed_gives_the_same_selection(name, budget, seed):
    scores = random_scores(n=25)
    context = RoundContext.of(scores, class_quality=[0.3, 0.6, 0.9], class_counts=[5, 20, 50])
    a = run_query(query(name, budget=budget), scores, context, random_state=seed)
    b = run_query(query(name, budget=budget), scores, context, random_state=seed)
    assert a.indices.tolist() == b.indices.tolist() and len(a) <= budget
    labeled = context.with_labeled(np.arange(25) < 5)
    c = run_query(query(name, budget=budget), scores, labeled, random_state=seed)
    assert not set(c.indices.tolist()) & set(range(5))
