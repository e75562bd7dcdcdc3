"""Picks and the helpers every selector shares: the Selection, budgets in images or cost, the
near-duplicate filter."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alkit.core.selection import (
    Selection,
    labeled_mask,
    near_duplicate_filter,
    take_within_budget,
)


def test_selection_table_and_validation():
    s = Selection([1], [0.9], ["utility 0.9"], "least_confidence")
    assert s.table(["a.jpg", "b.jpg"]).to_dict("records") == [
        {"rank": 1, "index": 1, "path": "b.jpg", "score": 0.9, "reason": "utility 0.9"}]
    with pytest.raises(ValueError, match="picked twice"):
        Selection([1, 1], [0, 0], ["a", "b"], "x")
    with pytest.raises(ValueError, match="one entry per pick"):
        Selection([1, 2], [0], ["a", "b"], "x")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 10), min_size=1, max_size=30), st.floats(0, 40))
def test_a_cost_budget_is_never_exceeded_and_passes_over_what_does_not_fit(costs, budget):
    cost = np.array(costs)
    order = np.arange(len(cost))[::-1]
    kept = take_within_budget(order, budget, cost)
    assert cost[kept].sum() <= budget + 1e-9
    # every row passed over would not have fit on top of what was kept before it
    position = {int(r): p for p, r in enumerate(order)}
    for r in set(order.tolist()) - set(kept.tolist()):
        before = [k for k in kept if position[int(k)] < position[r]]
        assert cost[before].sum() + cost[r] > budget


def test_budget_in_images_and_bad_budgets():
    assert take_within_budget([3, 1, 2], 2).tolist() == [3, 1]
    assert take_within_budget([3, 1, 2], 2.9).tolist() == [3, 1]
    with pytest.raises(ValueError, match="budget must be >= 0"):
        take_within_budget([1], -1)
    with pytest.raises(ValueError, match="costs must be >= 0"):
        take_within_budget([0], 1, np.array([-1.0]))


def test_labeled_mask_from_a_mask_indices_or_none():
    assert labeled_mask(None, 3).tolist() == [False] * 3
    assert labeled_mask([2], 3).tolist() == [False, False, True]
    with pytest.raises(ValueError, match="shape"):
        labeled_mask(np.zeros(2, bool), 3)
    with pytest.raises(ValueError, match=r"0\.\.2"):
        labeled_mask([3], 3)


def test_near_duplicate_filter_drops_near_copies_of_kept_and_labeled_images():
    x = np.array([[1, 0], [0.999, 0.01], [0, 1], [0.01, 1], [1, 1]], np.float32)
    kept, dropped = near_duplicate_filter([0, 1, 2, 3, 4], x, 3, threshold=0.99)
    assert kept.tolist() == [0, 2, 4] and dropped == {1: 0, 3: 2}
    kept, dropped = near_duplicate_filter([1, 3, 4], x, 3, threshold=0.99, labeled=[0])
    assert kept.tolist() == [3, 4] and dropped == {1: 0}
