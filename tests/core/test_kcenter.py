"""k-center greedy: the lazy heap equals the dense greedy, radii never grow, chunking and
candidate subsets change nothing, and the labeled set is where it starts."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alkit.core.kcenter import k_center_greedy
from alkit.core.randomness import check_random_state
from alkit.core.selection import labeled_mask


@st.composite
def pools(draw, min_size=2, max_size=60):
    n = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    embeddings = rng.standard_normal((n, draw(st.integers(2, 8)))).astype(np.float32)
    labeled = rng.random(n) < draw(st.floats(0.0, 0.5))
    return embeddings, labeled


@settings(max_examples=30, deadline=None)
@given(pools(min_size=3), st.integers(0, 1000))
def test_k_center_covering_radius_never_increases(pool, seed):
    embeddings, labeled = pool
    picks, radii = k_center_greedy(embeddings, len(embeddings), labeled=labeled,
                                       random_state=seed)
    finite = radii[np.isfinite(radii)]
    assert np.all(np.diff(finite) <= 1e-5)
    # each radius is the true distance of the pick to the nearest earlier center
    centers = list(np.flatnonzero(labeled))
    for pick, radius in zip(picks, radii, strict=True):
        if centers:
            true = np.linalg.norm(embeddings[centers] - embeddings[pick], axis=1).min()
            assert radius == pytest.approx(true, rel=1e-3, abs=1e-3)
        centers.append(pick)


def test_k_center_starts_from_the_labeled_set_and_the_outside_centers():
    x = np.array([[0.0, 0], [0.1, 0], [5, 0], [10, 0], [10.1, 0]], np.float32)
    picks, _ = k_center_greedy(x, 2, labeled=[0])
    assert picks.tolist() == [4, 2]
    picks, _ = k_center_greedy(x, 1, labeled_embeddings=np.array([[10.0, 0]]))
    assert picks.tolist() == [0]


def test_chunked_distances_equal_the_direct_ones():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    a, _ = k_center_greedy(x, 40, labeled=[3, 7], chunk=7)
    b, _ = k_center_greedy(x, 40, labeled=[3, 7], chunk=100_000)
    np.testing.assert_array_equal(a, b)


def _dense_k_center(x, n_select, labeled, cost=None, random_state=None):
    """The k-center greedy as it was before the lazy heap (kept here as the reference): every
    row's nearest-center distance updated after every pick, ``argmax`` over the open rows."""
    x = np.asarray(x, dtype=np.float32)
    mask = labeled_mask(labeled, len(x))
    pool_idx = np.flatnonzero(~mask)
    points = x[pool_idx]
    if mask.any():
        c = x[mask]
        d = ((points * points).sum(1)[:, None] - 2.0 * points @ c.T + (c * c).sum(1)[None, :])
        nearest = np.maximum(d.min(axis=1), 0.0).astype(np.float32)
    else:
        nearest = np.full(len(points), np.inf, dtype=np.float32)
    norms = np.einsum("ij,ij->i", points, points)
    taken = np.zeros(len(points), bool)
    picks, radii, spent, first_random = [], [], 0.0, not mask.any()
    while len(picks) < len(points):
        if cost is None and len(picks) >= n_select:
            break
        score = np.where(taken, -1.0, nearest)
        if cost is not None:
            score = np.where(spent + cost[pool_idx] > n_select, -1.0, score)
        if first_random:
            open_rows = np.flatnonzero(score >= 0)
            if not len(open_rows):
                break
            j = int(check_random_state(random_state).choice(open_rows))
            first_random = False
        else:
            j = int(np.argmax(score))
            if score[j] < 0:
                break
        picks.append(pool_idx[j])
        radii.append(float(np.sqrt(nearest[j])) if np.isfinite(nearest[j]) else np.inf)
        taken[j] = True
        spent += 0.0 if cost is None else cost[pool_idx][j]
        to_new = norms - 2.0 * (points @ points[j]) + norms[j]
        np.minimum(nearest, np.maximum(to_new, 0.0), out=nearest)
    return np.array(picks, dtype=np.int64), np.array(radii)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 80), st.integers(1, 6), st.integers(0, 2**16), st.integers(0, 90),
       st.booleans(), st.booleans(), st.booleans())
def test_lazy_k_center_equals_the_dense_greedy_on_exact_arithmetic(n, d, seed, k, with_labeled,
                                                                   duplicates, with_cost):
    """Small integer coordinates: every distance is exact in float32, so the lazy heap must
    give the very same picks (ties to the lowest row included) and radii as the dense loop."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, (n, d)).astype(np.float32)
    if duplicates:
        x = x[rng.integers(0, max(1, n // 3), n)]
    labeled = rng.random(n) < 0.2 if with_labeled else None
    cost = rng.integers(1, 4, n).astype(float) if with_cost else None
    a = k_center_greedy(x, k, labeled=labeled, cost_N=cost, random_state=seed)
    b = _dense_k_center(x, k, labeled, cost, random_state=seed)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("seed", range(6))
def test_lazy_k_center_equals_the_dense_greedy_on_gaussian_embeddings(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((400, 32)).astype(np.float32)
    labeled = np.arange(400) < 10 * (seed % 2)
    a = k_center_greedy(x, 60, labeled=labeled, random_state=seed)
    b = _dense_k_center(x, 60, labeled, random_state=seed)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-5)


def test_k_center_on_a_small_candidate_set_copies_only_those_rows():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 8)).astype(np.float32)
    shortlist = rng.choice(500, 40, replace=False)
    picks, _ = k_center_greedy(x, 10, labeled=[0, 1], candidates=shortlist)
    assert set(picks.tolist()) <= set(shortlist.tolist()) and len(set(picks.tolist())) == 10
