"""The query: validation that names what is wrong, the named queries, and a query run over
scores with its parameters kept for the ledger."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alkit.core.pool import PoolScores
from alkit.core.query import QUERIES, Query, query, query_name, run_query
from alkit.core.selection import STRATEGIES
from alkit.core.uncertainty import TABLE_MEASURES


def _scores(n=20, seed=0, conf_threshold=0.25) -> PoolScores:
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.3, 0.95, n)
    cls = rng.integers(0, 3, n)
    class_scores = np.full((n, 3), 0.01)
    class_scores[np.arange(n), cls] = conf
    return PoolScores(paths=[f"{i}.jpg" for i in range(n)],
                      hashes=np.array([str(i) for i in range(n)]), heights=np.full(n, 64),
                      widths=np.full(n, 64), box_offsets=np.arange(n + 1),
                      box_xyxy=np.tile([[1.0, 1, 20, 20]], (n, 1)), box_confidence=conf,
                      box_class=cls, box_class_scores=class_scores,
                      embeddings=rng.normal(size=(n, 4)), names=("a", "b", "c"),
                      conf_threshold=conf_threshold)


def test_every_named_query_is_valid_and_uses_a_known_strategy():
    assert {q.strategy for q in QUERIES.values()} <= set(STRATEGIES)
    assert {q.measure for q in QUERIES.values()} <= set(TABLE_MEASURES)
    assert QUERIES["committee"].committee_members == 3
    assert query("hybrid", budget=5).params == {"alpha": 0.7, "beta": 0.3}
    assert Query.from_dict(QUERIES["hybrid"].to_dict()) == QUERIES["hybrid"]


def test_a_recorded_query_is_named_back():
    # every name comes back, except where two names fix the same query (the first wins)
    for name, named in QUERIES.items():
        back = query_name(named.to_dict())
        assert QUERIES[back].to_dict() == named.to_dict(), name
    assert query_name(query("uncertainty").to_dict()) == "uncertainty"  # "mean3" is the same
    # what a round records: the query with its budget plus what the strategy reported
    picked = run_query(query("auto_cm", budget=3), _scores(), random_state=0)
    assert query_name(picked.params) == "auto_cm"
    assert query_name(query("auto_cm", params={"m_factor": 5.0}).to_dict()) is None
    assert query_name({}) is None


@pytest.mark.parametrize(("fields", "message"), [
    ({"strategy": "magic"}, "unknown strategy 'magic'"),
    ({"measure": "confusion"}, "unknown measure 'confusion'"),
    ({"budget": -1}, "budget must be >= 0"),
    ({"budget_unit": "dollars"}, "budget_unit must be one of"),
    ({"strategy": "hybrid", "params": {"gamma": 1}}, "takes the parameters"),
    ({"committee_members": 1}, "at least 2"),
    ({"dedupe_threshold": 1.5}, r"\(0, 1\]"),
    ({"conf_threshold": 2.0}, r"\[0, 1\]"),
])
def test_bad_queries_say_what_was_expected(fields, message):
    with pytest.raises(ValueError, match=message):
        Query(**fields)
    with pytest.raises(ValueError, match="unknown query"):
        query("best")
    with pytest.raises(TypeError, match="unknown query setting"):
        query("random", epochs=3)


def test_run_query_keeps_the_query_and_what_the_strategy_reported():
    picked = run_query(query("two_stage", budget=4, dedupe_threshold=0.99), _scores(),
                       random_state=0)
    assert len(picked) == 4
    assert picked.params["strategy"] == "two_stage" and picked.params["m_factor"] == 4.0
    assert "n_dropped_duplicates" in picked.params
    with pytest.raises(ValueError, match="score with the query's threshold"):
        run_query(query("random", conf_threshold=0.5), _scores(), random_state=0)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(sorted(set(QUERIES) - {"committee", "rare_class"})),
       st.integers(1, 10), st.integers(0, 3))
def test_the_same_seed_gives_the_same_selection(name, budget, seed):
    scores = _scores()
    a = run_query(query(name, budget=budget), scores, random_state=seed)
    b = run_query(query(name, budget=budget), scores, random_state=seed)
    assert a.indices.tolist() == b.indices.tolist() and len(a) == budget
    labeled = np.zeros(len(scores), bool)
    labeled[:5] = True
    c = run_query(query(name, budget=budget), scores, labeled=labeled, random_state=seed)
    assert not set(c.indices.tolist()) & set(range(5))
