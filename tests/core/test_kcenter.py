"""k-center greedy: the lazy heap equals the dense greedy, radii never grow, chunking and
candidate subsets change nothing, and the labeled set is where it starts."""

import heapq
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alkit.core import kcenter
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


def _dense_k_center(x, n_select, labeled, cost=None, random_state=None, candidates=None):
    """The k-center greedy as it was before the lazy heap (kept here as the reference): every
    row's nearest-center distance updated after every pick, ``argmax`` over the open rows
    (``candidates``: the only rows that may be picked)."""
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
    if candidates is not None:
        taken = ~np.isin(pool_idx, candidates)
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


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 80), st.integers(1, 6), st.integers(0, 2**16), st.integers(0, 90),
       st.sampled_from([0, 1, 3]), st.booleans(), st.booleans(), st.booleans(),
       st.sampled_from([0, 1, 2, 5, 1000]), st.sampled_from([1, 3, 4096]))
def test_k_center_with_few_or_no_labeled_rows_equals_the_dense_greedy(
        n, d, seed, k, n_labeled, duplicates, with_cost, with_candidates, dense_centers, block):
    """No labeled row (random first pick) or a few, with the dense phase from none to every
    pick and the heap fed a few rows at a time or all at once: the very same picks (ties to the
    lowest row) and radii as the dense loop, on exact arithmetic."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, (n, d)).astype(np.float32)
    if duplicates:
        x = x[rng.integers(0, max(1, n // 3), n)]
    labeled = rng.choice(n, min(n, n_labeled), replace=False) if n_labeled else None
    cost = rng.integers(1, 4, n).astype(float) if with_cost else None
    candidates = np.flatnonzero(rng.random(n) < 0.3) if with_candidates else None
    with (mock.patch.object(kcenter, "DENSE_CENTERS", dense_centers),
          mock.patch.object(kcenter, "_HEAP_BLOCK", block)):
        a = k_center_greedy(x, k, labeled=labeled, cost_N=cost, candidates=candidates,
                            random_state=seed)
    b = _dense_k_center(x, k, labeled, cost, random_state=seed, candidates=candidates)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def _previous_lazy_k_center(x, n_select, labeled, random_state):
    """The lazy heap as it was before the centers' buffer and the block-fed heap (the reference
    for bit-for-bit radii): a heap of every row, each update gathering its centers' rows."""
    x = np.asarray(x, dtype=np.float32)
    mask = labeled_mask(labeled, len(x))
    rows = np.flatnonzero(~mask)
    norms = np.einsum("ij,ij->i", x, x)
    if mask.any():
        nearest = kcenter.sq_distance_to_nearest(x, x[mask], kcenter.DEFAULT_CHUNK)
    else:
        nearest = np.full(len(x), np.inf, dtype=np.float32)
    picked, centers, seen = [], [], np.zeros(len(x), dtype=np.int64)
    if not mask.any():
        j = int(rows[int(check_random_state(random_state).choice(len(rows)))])
        picked.append((j, float(nearest[j])))
        centers.append(j)
        to_new = norms - 2.0 * (x @ x[j]) + norms[j]
        np.minimum(nearest, np.maximum(to_new, 0.0), out=nearest)
        seen[:] = 1
    heap = [(-float(nearest[i]), int(i)) for i in rows if int(i) not in centers]
    heapq.heapify(heap)
    while heap and len(picked) < n_select:
        _, i = heap[0]
        if seen[i] < len(centers):
            new = np.asarray(centers[seen[i]:])
            to_new = norms[i] - 2.0 * (x[new] @ x[i]) + norms[new]
            nearest[i] = min(float(nearest[i]), float(np.maximum(to_new, 0.0).min()))
            seen[i] = len(centers)
            heapq.heapreplace(heap, (-float(nearest[i]), i))
            continue
        heapq.heappop(heap)
        picked.append((i, float(nearest[i])))
        centers.append(i)
        seen[i] = len(centers)
    return (np.array([j for j, _ in picked], dtype=np.int64),
            np.array([float(np.sqrt(np.float32(r))) if np.isfinite(r) else np.inf
                      for _, r in picked]))


@pytest.mark.parametrize("n_labeled", [0, 20])
def test_the_block_fed_heap_and_the_centers_buffer_are_taken_and_change_no_bit(n_labeled):
    """Float embeddings, default settings: the heap takes only the rows near its top, one dense
    update only without any centre, and picks and radii equal the previous heap's bit for bit
    (the same float32 products, against the same centers in the same order)."""
    rng = np.random.default_rng(n_labeled)
    x = rng.standard_normal((3000, 24)).astype(np.float32)
    labeled = np.arange(n_labeled) if n_labeled else None
    with (mock.patch.object(kcenter, "_HEAP_BLOCK", 64),
          mock.patch.object(kcenter, "_dense_update", wraps=kcenter._dense_update) as dense,
          mock.patch("heapq.heappush", wraps=heapq.heappush) as push):
        a = k_center_greedy(x, 40, labeled=labeled, random_state=7)
    assert dense.call_count == (0 if n_labeled else 1)
    assert 0 < push.call_count <= len(x) // 4  # only the first blocks of the sorted rows
    b = _previous_lazy_k_center(x, 40, labeled, random_state=7)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_the_dense_phase_is_taken_below_dense_centers_and_changes_no_pick():
    """With ``DENSE_CENTERS`` at 8: the random first pick and the next 7 are updated densely
    (after 2 labeled rows: 6), the rest lazily; the picks are the dense loop's."""
    rng = np.random.default_rng(0)
    x = rng.integers(-4, 5, (800, 5)).astype(np.float32)
    for labeled, expected in ((None, 8), ([3, 9], 6)):
        with (mock.patch.object(kcenter, "DENSE_CENTERS", 8),
              mock.patch.object(kcenter, "_dense_update", wraps=kcenter._dense_update) as dense):
            a = k_center_greedy(x, 50, labeled=labeled, random_state=1, chunk=100)
        assert dense.call_count == expected
        b = _dense_k_center(x, 50, labeled, random_state=1)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
