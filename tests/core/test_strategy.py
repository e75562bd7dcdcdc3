"""Strategies: the short list, one-class models, what a strategy needs and bad input, and a new
strategy as one object."""

import numpy as np
import pytest
from core_fixtures import make_scores, random_scores

from alkit.core.context import RoundContext
from alkit.core.query import query, run_query
from alkit.core.selection import Selection
from alkit.core.selectors import TopK
from alkit.core.strategy import DEFAULT, REMOVED, STRATEGIES, Strategy, strategy
from alkit.core.utility import Uncertainty


def full_context(scores, **fields):
    """Everything a strategy may read: labeled rows, counts, quality, a committee."""
    n, c = len(scores), scores.n_classes
    rng = np.random.default_rng(1)
    return RoundContext.of(scores, **{"labeled": np.arange(n) < 3,
                                      "class_counts": np.arange(c) * 10 + 1,
                                      "class_quality": np.linspace(0.2, 0.8, c),
                                      "disagreement": rng.random(n), **fields})


def test_the_short_list():
    assert len(STRATEGIES) <= 8 and DEFAULT in STRATEGIES
    assert all(s.name == name for name, s in STRATEGIES.items())
    assert query().strategy is STRATEGIES[DEFAULT]


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("n_classes", [1, 3])
def test_every_named_strategy_runs_on_one_and_several_classes(name, n_classes):
    scores = random_scores(n=40, n_classes=n_classes, seed=n_classes)
    picked = run_query(query(name, budget=6), scores, full_context(scores), random_state=0)
    assert len(picked) == 6 and not set(picked.indices.tolist()) & {0, 1, 2}
    assert picked.params["strategy"] == name and picked.strategy == name


@pytest.mark.parametrize("name", [n for n, s in STRATEGIES.items() if s.utility is not None
                                  and "disagreement" not in s.needs])
def test_on_a_one_class_pool_every_named_uncertainty_ranks(name):
    """The tree detector of the issue: one class, confidences that differ from image to
    image. Every named strategy with an uncertainty must give the images different values."""
    confidences = np.linspace(0.3, 0.95, 30)  # all above the 0.25 threshold
    scores = make_scores([[(float(c), 0)] for c in confidences], n_classes=1)
    chosen = STRATEGIES[name]
    values = chosen.utility(scores, full_context(scores))
    assert len(np.unique(np.round(values, 12))) == 30, name


def test_a_measure_that_cannot_rank_one_class_is_refused_by_name():
    scores = make_scores([[(0.4, 0)], [(0.8, 0)]], n_classes=1)
    with pytest.raises(ValueError, match=r"1 class\(es\).*detection_entropy"):
        run_query(query("least_confidence", measure="entropy", budget=1), scores)


def test_a_missing_context_field_is_refused_with_where_it_comes_from():
    scores = random_scores(n=20)
    with pytest.raises(ValueError, match=r"needs the model's class quality.*--checks"):
        run_query(query("calibrated", budget=3), scores)
    with pytest.raises(ValueError, match="needs the labeled objects per class"):
        run_query(query("calibrated", budget=3), scores,
                  RoundContext.of(scores, class_quality=[0.5, 0.5, 0.5]))
    with pytest.raises(ValueError, match="committee"):
        run_query(query("committee", budget=3), scores)


def test_a_model_that_predicts_nothing_gets_random_ties_and_says_so():
    scores = make_scores([[] for _ in range(30)])
    for name in ("least_confidence", "calibrated", "ppal", "hybrid"):
        picked = run_query(query(name, budget=5), scores, full_context(scores),
                           random_state=0)
        assert len(picked) == 5, name
        assert "same utility" in picked.params["constant_utility"], name
    a = run_query(query("least_confidence", budget=5), scores, random_state=0).indices
    b = run_query(query("least_confidence", budget=5), scores, random_state=1).indices
    assert a.tolist() != b.tolist()  # a tie is not the pool order


def test_embeddings_with_nan_are_refused_naming_the_images():
    scores = random_scores(n=20)
    scores.embeddings[[4, 7]] = np.nan
    with pytest.raises(ValueError, match=r"2 image.*NaN.*4\.jpg, 7\.jpg"):
        run_query(query("coreset", budget=3), scores)
    assert len(run_query(query("least_confidence", budget=3), scores)) == 3  # reads none


def test_a_pool_smaller_than_the_budget_and_a_labeled_set_that_covers_everything():
    scores = random_scores(n=8)
    for name in STRATEGIES:
        picked = run_query(query(name, budget=50), scores, full_context(scores),
                           random_state=0)
        assert sorted(picked.indices.tolist()) == list(range(3, 8)), name
    everything = full_context(scores, labeled=np.ones(8, bool))
    assert len(run_query(query("typiclust", budget=3), scores, everything)) == 0


def test_removed_names_name_their_replacement():
    for name, replacement in REMOVED.items():
        with pytest.raises(ValueError, match=f"{name!r} was removed: use"):
            strategy(name)
        assert replacement.split()[0] in STRATEGIES
    with pytest.raises(ValueError, match="unknown strategy 'best'"):
        strategy("best")


class MostBoxes:
    """A strategy written from scratch (no alkit base class): the images with the most
    predicted boxes. What a new strategy needs: a name, needs, spreads, select, to_dict."""

    name = "most_boxes"
    needs = ()
    spreads = False

    def select(self, scores, context, budget, *, cost_N=None, random_state=None):
        order = [i for i in np.argsort(-scores.n_boxes, kind="stable") if not context.labeled[i]]
        rows = order[: int(budget)]
        return Selection(rows, scores.n_boxes[rows], ["boxes"] * len(rows), self.name)

    def to_dict(self):
        return {"name": self.name}


def test_a_new_strategy_is_one_object():
    scores = make_scores([[(0.9, 0)] * k for k in (1, 3, 0, 2)])
    picked = run_query(query(MostBoxes(), budget=2), scores, random_state=0)
    assert picked.indices.tolist() == [1, 3] and picked.params["strategy"] == "most_boxes"
    composed = Strategy("mean3", TopK(), Uncertainty("least_confidence", "mean3"))
    assert len(run_query(query(composed, budget=2), scores, random_state=0)) == 2
    with pytest.raises(ValueError, match="ranks by a utility"):
        Strategy("nothing", TopK())
