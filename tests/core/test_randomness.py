"""One randomness convention: random_state resolved once, derived seeds by SeedSequence."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alkit.core.randomness import check_random_state, derive_seed


def test_check_random_state_accepts_the_documented_kinds():
    rng = np.random.default_rng(1)
    assert check_random_state(rng) is rng
    assert check_random_state(3).integers(100) == np.random.default_rng(3).integers(100)
    assert isinstance(check_random_state(None), np.random.Generator)
    with pytest.raises(TypeError, match="random_state must be"):
        check_random_state("seven")


@given(st.integers(0, 2**31), st.sampled_from(["select", "train", "committee"]),
       st.integers(0, 50))
def test_derived_seeds_are_stable_bounded_and_distinct_per_purpose(base, purpose, number):
    seed = derive_seed(base, purpose, number)
    assert seed == derive_seed(base, purpose, number) and 0 <= seed < 2**31
    others = {derive_seed(base, p, number) for p in ("select", "train", "committee")}
    assert len(others) == 3


def test_no_arithmetic_collisions_between_seeds_and_rounds():
    # seed + round (the old convention) collides: seed 0 round 1 == seed 1 round 0
    assert derive_seed(0, "select", 1) != derive_seed(1, "select", 0)
    with pytest.raises(TypeError, match="int base seed"):
        derive_seed(None, "select")
    with pytest.raises(ValueError, match=">= 0"):
        derive_seed(0, -1)
