"""Learning curves and stopping rules."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alkit.core import curves, stopping

CLASSIC_N = [500, 700, 900, 1100, 1300, 1500, 1700]
CLASSIC_M = [0.41, 0.59, 0.69, 0.75, 0.79, 0.81, 0.815]


@pytest.fixture(scope="module")
def classic():
    return curves.analyze(CLASSIC_N, CLASSIC_M, budget=4000, target=0.8, random_state=0)


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
    analysis = curves.analyze(n, m, target=0.8, random_state=0)
    fit = analysis.saturation
    assert fit.family == "power"
    np.testing.assert_allclose(fit.params, (a, b, c), rtol=0.02)
    assert fit.labels_for_target.value == pytest.approx((b / (a - 0.8)) ** (1 / c), rel=0.03)


def test_noisy_power_law_still_fits_with_an_honest_interval():
    rng = np.random.default_rng(3)
    n = np.arange(200, 2200, 200)
    m = 0.8 - 4.0 * n ** (-0.55) + rng.normal(0, 0.01, len(n))
    fit = curves.analyze(n, m, budget=4000, n_bootstrap=100, random_state=0).saturation
    assert fit is not None and fit.r2 > 0.8
    assert fit.metric_at_budget.low < fit.metric_at_budget.value < fit.metric_at_budget.high


def test_too_few_rounds_are_refused_in_words():
    one = curves.analyze([500], [0.4])
    assert one.recommendation == "not enough evidence" and len(one.gains) == 0
    two = curves.analyze([500, 700], [0.41, 0.59])
    assert two.recommendation == "not enough evidence"
    assert "needs at least 3 rounds" in two.decay_reason
    assert "needs at least 4 rounds" in two.saturation_reason
    empty = curves.analyze([], [])
    assert empty.recommendation == "not enough evidence"


def test_noise_only_is_not_extrapolated():
    rng = np.random.default_rng(0)
    n = np.arange(500, 1700, 200)
    m = 0.5 + rng.normal(0, 0.03, len(n))
    analysis = curves.analyze(n, m, budget=5000, n_bootstrap=100, random_state=0)
    fit = analysis.saturation
    assert fit is None or not fit.evidence
    text = analysis.summary()
    assert "not enough evidence" in text or "could not be fitted" in text


def test_messy_inputs_give_answers_and_warnings_not_exceptions():
    analysis = curves.analyze([900, 500, 700, 700, 1100, 1300], [0.62, 0.41, 0.55, 0.57, np.nan,
                                                                 0.60])
    assert list(analysis.labeled) == [500, 700, 900, 1300]
    assert analysis.metric[1] == pytest.approx(0.56)
    words = " ".join(analysis.warnings)
    assert "sorted" in words and "averaged" in words and "NaN" in words and "fell" in words
    assert analysis.recommendation in ("stop", "continue", "not enough evidence")
    flat = curves.analyze([1, 2, 3, 4, 5], [0.5] * 5)
    assert flat.recommendation == "stop"
    with pytest.raises(ValueError, match="one metric per labeled count"):
        curves.analyze([1, 2], [0.1])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5000), st.one_of(st.floats(0, 1), st.just(np.nan))),
                min_size=0, max_size=9))
def test_any_history_gets_a_clear_answer(rounds):
    n = [r[0] for r in rounds]
    m = [r[1] for r in rounds]
    analysis = curves.analyze(n, m, budget=6000, target=0.7, n_bootstrap=20)
    assert analysis.recommendation in ("stop", "continue", "not enough evidence")
    assert analysis.reasons and all(isinstance(r, str) for r in analysis.reasons)


def test_rules_answer_one_question_and_compose():
    history = stopping.History(CLASSIC_N, CLASSIC_M)
    assert stopping.GainBelow(0.005).should_stop(history)
    assert not stopping.GainBelow(0.001).should_stop(history)
    assert stopping.PredictedGainBelow(0.005).should_stop(history)
    assert not stopping.MaxRounds(10).should_stop(history)
    assert stopping.MaxRounds(7).should_stop(history)
    assert stopping.LabelBudget(1700).should_stop(history)
    early = stopping.History(CLASSIC_N[:3], CLASSIC_M[:3])
    assert not stopping.DEFAULT_RULE.should_stop(early)
    assert stopping.DEFAULT_RULE.should_stop(history)
    both = stopping.AllOf(stopping.GainBelow(0.005), stopping.MaxRounds(10))
    assert not both.should_stop(history)
    assert "round limit: 7 of 10" in both.explain(history)
    assert "needs at least 3 rounds" in stopping.PredictedGainBelow().explain(
        stopping.History([1, 2], [0.1, 0.2]))


def _boxes(*entries):
    xyxy = np.array([e[0] for e in entries], float).reshape(-1, 4)
    return xyxy, np.ones(len(entries)), np.array([e[1] for e in entries], int)


def test_prediction_agreement_is_one_for_identical_models_and_drops_with_changes():
    a = [_boxes(([0, 0, 10, 10], 1), ([20, 20, 30, 30], 2)), _boxes(([5, 5, 15, 15], 0))]
    assert stopping.prediction_agreement(a, a) == pytest.approx(1.0)
    nothing = [_boxes(), _boxes()]
    assert stopping.prediction_agreement(nothing, nothing) == 1.0
    relabeled = [_boxes(([0, 0, 10, 10], 2), ([20, 20, 30, 30], 2)), _boxes(([5, 5, 15, 15], 0))]
    missing = [_boxes(([0, 0, 10, 10], 1)), _boxes(([5, 5, 15, 15], 0))]
    k_relabeled = stopping.prediction_agreement(a, relabeled)
    k_missing = stopping.prediction_agreement(a, missing)
    assert k_relabeled < 1 and k_missing < 1
    with pytest.raises(ValueError, match="same stop-set images"):
        stopping.prediction_agreement(a, a[:1])


def test_stabilizing_predictions_needs_a_window_of_agreement():
    rule = stopping.StabilizingPredictions(threshold=0.9, window=2)
    assert not rule.should_stop(stopping.History([1, 2, 3], [0.1, 0.2, 0.3], agreement=[0.95]))
    assert rule.should_stop(stopping.History([1, 2, 3], [0.1, 0.2, 0.3], agreement=[0.92, 0.95]))
    assert not rule.should_stop(stopping.History([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4],
                                                 agreement=[0.95, 0.5, 0.97]))
    assert "needs 2 agreements" in rule.explain(stopping.History([1], [0.1]))


def test_class_trends_flag_plateaus():
    trends = {t.name: t for t in stopping.class_trends(
        {"zero": [0.5, 0.7, 0.8, 0.85], "four": [0.1, 0.15, 0.155, 0.16], "seven": [0.2]})}
    assert not trends["zero"].plateau and trends["four"].plateau
    assert "collect targeted data" in trends["four"].reason
    assert not trends["seven"].plateau and "needs 3 rounds" in trends["seven"].reason


def test_cli_stopping_prints_the_recommendation(capsys):
    from pathlib import Path

    from alkit import cli

    example = Path(__file__).parents[1] / "data_samples" / "histories" / "mission_example.json"
    assert cli.main(["stopping", str(example), "--budget", "4000", "--target", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "recommendation: stop" in out and "   1700 +0.0050    0.0025" in out
    assert "pinhole (rare): plateaued" in out
