"""Learning-curve math and the stopping engine's analysis of whole curves."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alkit.core import curves, stopping
from alkit.core.curves import labels_to_reach

CLASSIC_N = [500, 700, 900, 1100, 1300, 1500, 1700]
CLASSIC_M = [0.41, 0.59, 0.69, 0.75, 0.79, 0.81, 0.815]


@pytest.fixture(scope="module")
def classic():
    return stopping.analyze(CLASSIC_N, CLASSIC_M, budget=4000, target=0.8, random_state=0)


def test_classic_curve_gains_and_roi(classic):
    np.testing.assert_allclose(classic.gains, [0.18, 0.10, 0.06, 0.04, 0.02, 0.005], atol=1e-12)
    np.testing.assert_allclose(classic.roi_per_100, [0.09, 0.05, 0.03, 0.02, 0.01, 0.0025],
                               atol=1e-12)


def test_classic_curve_predicts_a_small_next_gain_and_says_stop(classic):
    assert classic.decay.predicted_next_gain < 0.005
    assert classic.recommendation == "stop"
    assert classic.classic_stop  # a gain of 0.005 does not pay: a round must gain more
    assert any("predicts the next round gains" in r for r in classic.reasons)


def test_classic_curve_knee_and_stop_point(classic):
    """Kneedle puts the knee at round 3 (900 labels), where the normalized curve is farthest
    above its chord: returns start to fall there. The last round that gained more than 0.005
    ends at 1,500 labels (round 6, the MISSION's "knee"): stopping there instead of labeling a
    4,000 budget saves 62.5%."""
    assert (classic.knee.knee_round, classic.knee.knee_labels) == (3, 900)
    assert (classic.knee.stop_round, classic.knee.stop_labels) == (6, 1500)
    assert classic.knee.labels_saved_at_stop == 2500
    assert classic.knee.saving_at_stop == pytest.approx(0.625)


def test_saturating_fit_on_the_classic_curve(classic):
    fit = classic.saturation
    assert fit.r2 > 0.99 and fit.evidence
    assert 0.815 <= fit.asymptote.value < 0.9
    target = fit.labels_for_target
    assert 1300 < target.value < 1500 and target.low <= target.value <= target.high
    assert fit.metric_at_budget.value == pytest.approx(fit.asymptote.value, abs=0.01)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.05, 0.5), st.floats(0.1, 1.5), st.integers(3, 8))
def test_exact_exponential_gains_recover_lambda(g0, lam, n_gains):
    gains = g0 * np.exp(-lam * np.arange(1, n_gains + 1))
    fit = curves.fit_gain_decay(gains, floor=1e-12)
    assert fit.lam == pytest.approx(lam, rel=1e-6)
    assert fit.g0 == pytest.approx(g0, rel=1e-6)
    assert fit.predicted_next_gain == pytest.approx(g0 * np.exp(-lam * (n_gains + 1)), rel=1e-6)


def test_a_synthetic_power_law_is_recovered():
    n = np.array([200, 400, 600, 800, 1000, 1400, 1800, 2400])
    a, b, c = 0.85, 6.0, 0.6
    m = a - b * n ** (-c)
    analysis = stopping.analyze(n, m, target=0.8, random_state=0)
    fit = analysis.saturation
    assert fit.family == "power"
    np.testing.assert_allclose(fit.params, (a, b, c), rtol=0.02)
    assert fit.labels_for_target.value == pytest.approx((b / (a - 0.8)) ** (1 / c), rel=0.03)


def test_noisy_power_law_still_fits_with_an_honest_interval():
    rng = np.random.default_rng(3)
    n = np.arange(200, 2200, 200)
    m = 0.8 - 4.0 * n ** (-0.55) + rng.normal(0, 0.01, len(n))
    fit = stopping.analyze(n, m, budget=4000, n_bootstrap=100, random_state=0).saturation
    assert fit is not None and fit.r2 > 0.8
    assert fit.metric_at_budget.low < fit.metric_at_budget.value < fit.metric_at_budget.high


def test_too_few_rounds_are_refused_in_words():
    one = stopping.analyze([500], [0.4])
    assert one.recommendation == "not enough evidence" and len(one.gains) == 0
    two = stopping.analyze([500, 700], [0.41, 0.59])
    assert two.recommendation == "not enough evidence"
    assert "needs at least 3 rounds" in two.decay_reason
    assert "needs at least 4 rounds" in two.saturation_reason
    empty = stopping.analyze([], [])
    assert empty.recommendation == "not enough evidence"


def test_noise_only_is_not_extrapolated():
    rng = np.random.default_rng(0)
    n = np.arange(500, 1700, 200)
    m = 0.5 + rng.normal(0, 0.03, len(n))
    analysis = stopping.analyze(n, m, budget=5000, n_bootstrap=100, random_state=0)
    fit = analysis.saturation
    assert fit is None or not fit.evidence
    text = analysis.summary()
    assert "not enough evidence" in text or "could not be fitted" in text


def test_messy_inputs_give_answers_and_warnings_not_exceptions():
    analysis = stopping.analyze([900, 500, 700, 700, 1100, 1300], [0.62, 0.41, 0.55, 0.57, np.nan,
                                                                 0.60])
    assert list(analysis.labeled) == [500, 700, 900, 1300]
    assert analysis.metric[1] == pytest.approx(0.56)
    words = " ".join(analysis.warnings)
    assert "sorted" in words and "averaged" in words and "NaN" in words and "fell" in words
    assert analysis.recommendation in ("stop", "continue", "not enough evidence")
    flat = stopping.analyze([1, 2, 3, 4, 5], [0.5] * 5)
    assert flat.recommendation == "stop"
    with pytest.raises(ValueError, match="one metric per labeled count"):
        stopping.analyze([1, 2], [0.1])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5000), st.one_of(st.floats(0, 1), st.just(np.nan))),
                min_size=0, max_size=9))
def test_any_history_gets_a_clear_answer(rounds):
    n = [r[0] for r in rounds]
    m = [r[1] for r in rounds]
    analysis = stopping.analyze(n, m, budget=6000, target=0.7, n_bootstrap=20)
    assert analysis.recommendation in ("stop", "continue", "not enough evidence")
    assert analysis.reasons and all(isinstance(r, str) for r in analysis.reasons)


# --------------------------------------------------------------------------- labels_to_reach


def test_labels_to_reach_interpolates_inside_the_first_crossing_segment():
    x, y = [100, 200, 300, 400], [0.2, 0.4, 0.3, 0.6]
    assert labels_to_reach(x, y, 0.3) == pytest.approx(150.0)
    assert labels_to_reach(x, y, 0.5) == pytest.approx(366.666, rel=1e-4)
    assert labels_to_reach(x, y, 0.1) == 100.0
    assert labels_to_reach(x, y, 0.61) is None
    assert labels_to_reach([], [], 0.5) is None


def test_labels_to_reach_never_leaves_the_observed_range():
    """The falsifying example CI once drew: rounding put the count past the last one."""
    assert labels_to_reach([10.0, 30.0], [0.0, 0.8054836142427368], 0.8054836142427368) <= 30.0


@given(st.lists(st.floats(0, 1), min_size=2, max_size=8), st.floats(0, 1))
def test_labels_to_reach_properties(ys, target):
    xs = np.cumsum(np.arange(1, len(ys) + 1)) * 10.0
    needed = labels_to_reach(xs, ys, target)
    if max(ys) < target:
        assert needed is None
        return
    assert xs[0] <= needed <= xs[-1]
    first = int(np.flatnonzero(np.asarray(ys) >= target)[0])
    assert needed <= xs[first]  # never later than the first round at or above the target
    if first > 0:  # inside the crossing segment
        assert needed >= xs[first - 1]


@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=6))
def test_a_curve_reaches_its_own_final_value_no_later_than_its_last_point(ys):
    xs = np.arange(1, len(ys) + 1) * 100.0
    assert labels_to_reach(xs, ys, ys[-1]) <= xs[-1]
