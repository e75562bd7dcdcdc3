"""Stopping rules (one question each, composable), the engine's recommendation, agreement of
successive models, per-class plateaus, and the command line."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alkit.core import stopping
from alkit.core.detections import Detections

CLASSIC_N = [500, 700, 900, 1100, 1300, 1500, 1700]
CLASSIC_M = [0.41, 0.59, 0.69, 0.75, 0.79, 0.81, 0.815]


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


def _boxes(*entries) -> Detections:
    xyxy = np.array([e[0] for e in entries], float).reshape(-1, 4)
    return Detections(xyxy, np.ones(len(entries)), np.array([e[1] for e in entries], int))


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

    example = Path(__file__).parents[2] / "data_samples" / "histories" / "mission_example.json"
    assert cli.main(["stopping", str(example), "--budget", "4000", "--target", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "recommendation: stop" in out and "   1700 +0.0050    0.0025" in out
    assert "pinhole (rare): plateaued" in out


def test_verdicts_say_stop_continue_or_cannot_tell():
    history = stopping.History(CLASSIC_N, CLASSIC_M)
    assert stopping.MaxRounds(10).verdict(history).stop is None  # a limit not reached
    assert stopping.GainBelow(0.001).verdict(history).stop is False
    assert stopping.GainBelow().verdict(stopping.History([1], [0.1])).word == (
        "not enough evidence")
    assert stopping.SaturationGainBelow().verdict(history).stop is False  # +0.007 forecast
    growing = stopping.History([100, 200, 300, 400], [0.1, 0.3, 0.5, 0.7])
    assert stopping.PredictedGainBelow().verdict(growing).stop is False


def test_any_of_needs_a_forecast_to_say_continue():
    two = stopping.History([500, 700], [0.41, 0.59])
    assert stopping.DEFAULT_RULE.verdict(two).word == "not enough evidence"
    assert stopping.AnyOf(stopping.GainBelow()).verdict(two).word == "continue"
    growing = stopping.History([100, 200, 300], [0.1, 0.3, 0.5])
    assert stopping.DEFAULT_RULE.verdict(growing).word == "continue"


def test_the_engine_answers_with_the_rule_it_is_given():
    analysis = stopping.analyze(CLASSIC_N, CLASSIC_M, rule=stopping.MaxRounds(20))
    assert analysis.recommendation == "not enough evidence"
    assert analysis.reasons[0] == "round limit: 7 of 20 rounds done"
    analysis = stopping.analyze(CLASSIC_N, CLASSIC_M, rule=stopping.MaxRounds(5))
    assert analysis.recommendation == "stop"
    default = stopping.analyze(CLASSIC_N, CLASSIC_M)
    assert default.recommendation == "stop"
    assert [r.split(":")[0] for r in default.reasons[:2]] == ["round limit", "classic rule"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=8))
def test_the_engine_and_the_default_rule_give_one_answer(metrics):
    labeled = [100 * (i + 1) for i in range(len(metrics))]
    history = stopping.History(labeled, metrics)
    rule = stopping.default_rule(n_bootstrap=20)
    analysis = stopping.analyze(labeled, metrics, n_bootstrap=20)
    assert analysis.recommendation == rule.verdict(history).word
