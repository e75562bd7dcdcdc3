"""Drift measures and the change rule: properties of the far share, the KS test (its statistic
against the definition, its exact p-value on known cases), total variation and class mixes, and
the rule's verdicts on known series (never before a change, at the change, a new baseline per
deployed model)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from alkit.core import drift

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
samples = st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=60)
shares = hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(0, 10))


@given(hnp.arrays(np.float64, st.tuples(st.integers(2, 12), st.integers(1, 4)), elements=finite),
       hnp.arrays(np.float64, st.tuples(st.integers(0, 12), st.integers(1, 4)), elements=finite))
def test_nearest_distances_match_brute_force(labeled, query):
    query = query[:, : labeled.shape[1]] if query.shape[1] >= labeled.shape[1] else np.zeros(
        (len(query), labeled.shape[1]))
    # |a|^2 + |b|^2 - 2ab loses about sqrt(eps) * |x| to cancellation
    atol = 1e-6 * (1 + max(np.abs(labeled).max(), np.abs(query).max(initial=0)))
    d = np.linalg.norm(query[:, None] - labeled[None], axis=2)
    assert np.allclose(drift.nearest_distances(query, labeled, chunk=3),
                       d.min(axis=1) if len(query) else [], rtol=1e-6, atol=atol)
    self_d = np.linalg.norm(labeled[:, None] - labeled[None], axis=2)
    np.fill_diagonal(self_d, np.inf)
    assert np.allclose(drift.nearest_distances(labeled, labeled, exclude_self=True),
                       self_d.min(axis=1), rtol=1e-6, atol=atol)


@given(hnp.arrays(np.float64, st.tuples(st.integers(2, 20), st.just(3)),
                  elements=st.floats(-5, 5)), st.floats(0.05, 0.95))
def test_far_share_is_a_share_and_zero_for_the_labeled_set_itself(labeled, q):
    share, threshold = drift.far_share(labeled[:1], labeled, quantile=q)
    assert share == 0.0 and threshold >= 0  # a labeled image is at distance 0 from itself
    far = labeled + 1e4
    assert drift.far_share(far, labeled, quantile=q)[0] == 1.0


def test_far_share_is_about_the_quantile_without_drift_and_high_with_it():
    rng = np.random.default_rng(0)
    labeled = rng.normal(size=(400, 8))
    same = drift.far_share(rng.normal(size=(2000, 8)), labeled)[0]
    shifted = drift.far_share(rng.normal(size=(2000, 8)) + 1.5, labeled)[0]
    assert 0.02 < same < 0.10 and shifted > 0.5
    with pytest.raises(ValueError, match="quantile"):
        drift.far_share(labeled, labeled, quantile=1.0)
    with pytest.raises(ValueError, match="at least 2 rows"):
        drift.far_share(labeled, labeled[:1])


def _largest_ecdf_gap(a, b) -> float:
    """The definition, by brute force: max over every sample value x of |F_a(x) - F_b(x)|."""
    a, b = np.asarray(a), np.asarray(b)
    return max(abs(np.mean(a <= x) - np.mean(b <= x)) for x in np.concatenate([a, b]))


@given(samples, samples)
def test_ks_statistic_is_the_largest_gap_between_the_empirical_cdfs(a, b):
    d, p = drift.ks_2samp(a, b)
    assert d == pytest.approx(_largest_ecdf_gap(a, b), abs=1e-12)
    assert 0.0 <= p <= 1.0


def test_ks_p_value_is_exact_for_small_samples():
    # two disjoint samples of n: D = 1, reached by 2 of the C(2n, n) equally likely orderings
    assert drift.ks_2samp([1, 2, 3], [4, 5, 6]) == pytest.approx((1.0, 2 / 20))
    assert drift.ks_2samp([1, 2, 3, 4], [8, 7, 6, 5]) == pytest.approx((1.0, 2 / 70))


@given(samples)
def test_ks_of_a_sample_with_itself_is_zero_and_symmetric(a):
    assert drift.ks_2samp(a, a) == (0.0, 1.0)
    b = [x / 2 for x in a]
    assert drift.ks_2samp(a, b)[0] == drift.ks_2samp(b, a)[0]


def test_ks_separates_shifted_samples_and_is_nan_for_an_empty_one():
    rng = np.random.default_rng(1)
    d, p = drift.ks_2samp(rng.uniform(0, 1, 80), rng.uniform(0.4, 1.4, 80))
    assert d > 0.3 and p < 1e-3
    assert all(np.isnan(drift.ks_2samp([], [1.0])))


@given(shares, shares)
def test_total_variation_is_a_symmetric_distance_in_0_1(p, q):
    q = np.resize(q, p.shape)
    tv = drift.total_variation(p, q)
    if p.sum() <= 0 or q.sum() <= 0:
        assert np.isnan(tv)
        return
    assert 0.0 <= tv <= 1.0 + 1e-12
    assert tv == pytest.approx(drift.total_variation(q, p))
    assert drift.total_variation(p, p) == pytest.approx(0.0, abs=1e-12)


@given(st.lists(st.integers(0, 5), max_size=50))
def test_class_mix_sums_to_one_and_does_not_depend_on_order(ids):
    mix = drift.class_mix(ids, 6)
    assert mix.shape == (6,) and (mix.sum() == pytest.approx(1.0) if ids else mix.sum() == 0)
    assert np.array_equal(mix, drift.class_mix(ids[::-1], 6))
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        drift.class_mix([6], 6)


def test_quantiles_of_values_and_of_nothing():
    assert drift.quantiles(np.arange(101.0), (0.05, 0.5)) == [5.0, 50.0]
    assert all(np.isnan(drift.quantiles([], (0.5,))))


# --------------------------------------------------------------------------- the change rule


def _series(flagged, far=None):
    n = len(flagged)
    return {"flagged_rate": flagged, "far_share": far if far is not None else [0.05] * n,
            "confidence_ks": [0.2] * n, "class_mix_tv": [0.1] * n}


def test_a_doubled_flagged_rate_is_reported_at_once_in_words_and_stays_reported():
    flagged = [0.20, 0.22, 0.18, 0.21, 0.45, 0.50]
    changes = drift.detect_changes(_series(flagged), labels=[f"batch {i + 10}" for i in range(6)])
    assert [c.changed for c in changes] == [False, False, False, False, True, True]
    (reason,) = changes[4].reasons
    assert reason.startswith("flagged rate doubled since batch 10 (") and reason.endswith("45%)")
    assert drift.detect_changes(_series([0.1, 0.1, 0.5]))[-1].reasons[0].startswith(
        "flagged rate rose 5.0x since batch 0")
    assert changes[5].baseline_batches == (0, 1, 2, 3)  # changed batches never join it
    assert changes[0].baseline_batches == () and changes[1].baseline_batches == ()


def test_small_rises_and_noise_are_no_change():
    rng = np.random.default_rng(3)
    noise = list(np.clip(0.3 + rng.normal(0, 0.04, 40), 0, 1))
    assert not any(c.changed for c in drift.detect_changes(_series(noise)))
    tiny = [0.02, 0.02, 0.02, 0.06]  # tripled, but a rise of 4 points only
    assert not drift.detect_changes(_series(tiny))[-1].changed


def test_far_share_rise_is_reported_with_its_share():
    far = [0.05, 0.04, 0.06, 0.31]
    change = drift.detect_changes(_series([0.2] * 4, far))[-1]
    assert change.changed and change.reasons == (
        "new images far from the labeled set: 31% (was 5%)",)


def test_a_new_model_starts_a_new_baseline():
    flagged = [0.2, 0.2, 0.5, 0.5, 0.5, 0.5]
    groups = ["m1", "m1", "m1", "m2", "m2", "m2"]
    changes = drift.detect_changes(_series(flagged), groups=groups)
    assert [c.changed for c in changes] == [False, False, True, False, False, False]


@given(st.lists(st.floats(0, 1), min_size=1, max_size=20), st.integers(1, 4))
def test_nothing_is_judged_before_the_baseline_exists(values, min_baseline):
    rule = drift.ChangeRule(min_baseline=min_baseline, window=max(min_baseline, 8))
    changes = drift.detect_changes(_series(values, values), rule=rule)
    assert not any(c.changed for c in changes[:min_baseline])
    assert len(changes) == len(values)


def test_bad_series_are_named():
    with pytest.raises(ValueError, match="unknown measures"):
        drift.detect_changes({"accuracy": [1.0]})
    with pytest.raises(ValueError, match="one value per batch"):
        drift.detect_changes({"flagged_rate": [1.0], "far_share": [1.0, 2.0]})
    with pytest.raises(ValueError, match="min_baseline"):
        drift.ChangeRule(min_baseline=0)
