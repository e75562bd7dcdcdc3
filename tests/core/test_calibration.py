"""Confidence calibration: the match, the isotonic fit, and uncertainty read through it."""

import numpy as np
import pytest
from core_fixtures import make_scores
from hypothesis import given, settings
from hypothesis import strategies as st

from alkit.core.calibration import (
    ConfidenceCalibration,
    calibrate_class_scores,
    fit_confidence_calibration,
    match_candidates,
)
from alkit.core.context import RoundContext
from alkit.core.detections import Labels
from alkit.core.strategy import STRATEGIES, Strategy
from alkit.core.uncertainty import candidate_scores
from alkit.core.utility import Uncertainty

#: An under-confident detector, as measured on the defects preset: g(p) = min(1, 1.7 p).
UNDER = ConfidenceCalibration((0.0, 0.5, 0.6, 1.0), (0.0, 0.85, 1.0, 1.0))


def test_each_label_matches_the_most_confident_prediction_of_its_class_once():
    """Most confident first; a second box on a taken label, a box of another class, and a
    box overlapping less than 0.5 are misses."""
    truth = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    preds = np.array([[0, 0, 10, 10],      # 0.6, class 0: label 0
                      [0, 0, 10, 11],      # 0.9, class 0: label 0 first
                      [20, 20, 30, 30],    # 0.8, class 1: label 1 is class 0
                      [24, 20, 34, 30]],   # 0.7, class 0: IoU 0.43 with label 1
                     float)
    hits = match_candidates(truth, [0, 0], preds, [0.6, 0.9, 0.8, 0.7], [0, 0, 1, 0])
    assert hits.tolist() == [False, True, False, False]
    assert match_candidates(np.zeros((0, 4)), [], preds, [0.5] * 4, [0] * 4).tolist() == [
        False] * 4


def test_the_fit_recovers_an_under_confident_detector():
    """Boxes right with probability min(1, 1.7 p): the fit says 0.5 means about 0.85, and
    predicts the hits better than the raw confidence."""
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, 4000)
    hit = rng.random(4000) < np.minimum(1.0, 1.7 * p)
    fit = fit_confidence_calibration(p, hit)
    assert fit(0.5) == pytest.approx(0.85, abs=0.05)
    assert fit(0.2) == pytest.approx(0.34, abs=0.05)
    assert fit.brier_fit < fit.brier_raw
    assert fit.to_dict()["n_boxes"] == 4000


def test_no_fit_from_too_few_boxes_or_without_hits_and_misses():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.95, 500)
    assert fit_confidence_calibration(p[:50], p[:50] > 0.5) is None
    assert fit_confidence_calibration(p, np.ones(500, bool)) is None
    assert fit_confidence_calibration(p, p > 0.99) is None  # too few hits
    with pytest.raises(ValueError, match="500 entries, hit 3"):
        fit_confidence_calibration(p, [True, False, True])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0.05, 0.99), st.booleans()), min_size=100, max_size=300))
def test_the_fit_is_a_non_decreasing_map_into_0_1_no_worse_than_the_raw_confidence(boxes):
    p = np.array([b[0] for b in boxes])
    hit = np.array([b[1] for b in boxes])
    fit = fit_confidence_calibration(p, hit, min_each=1)
    if fit is None:  # every box a hit, or none
        assert hit.all() or not hit.any()
        return
    grid = np.linspace(0, 1, 101)
    values = fit(grid)
    assert np.all(np.diff(values) >= -1e-12) and values.min() >= 0 and values.max() <= 1
    assert fit.brier_fit <= fit.brier_raw + 1e-9


def test_calibrated_scores_keep_the_class_proportions_and_set_the_maximum_to_g():
    scores = np.array([[0.5, 0.25], [0.2, 0.02]])
    calibrated, confidence = calibrate_class_scores(scores, scores.max(axis=1), UNDER)
    assert confidence == pytest.approx([0.85, 0.34])
    assert calibrated[0] == pytest.approx([0.85, 0.425])
    assert calibrated[1] == pytest.approx([0.34, 0.034])


def test_calibrated_entropy_looks_where_the_detector_is_unsure_not_where_its_number_is_half():
    """The behaviour the calibration is for: with an under-confident detector, an image of
    boxes at raw 0.5 (right 85% of the time) is less uncertain than one at raw 0.3 (right
    51% of the time); the raw detection entropy says the opposite."""
    conf = np.array([0.5, 0.5, 0.3, 0.3])
    scores = conf[:, None]
    offsets = np.array([0, 2, 4])
    raw = candidate_scores(scores, conf, offsets, measure="detection_entropy", mode="sum")
    calibrated = candidate_scores(scores, conf, offsets, measure="detection_entropy",
                                  mode="sum", calibration=UNDER)
    assert raw[0] > raw[1]
    assert calibrated[1] > calibrated[0]


def test_a_calibrated_utility_needs_the_calibration_and_is_refused_without_it():
    utility = Uncertainty("detection_entropy", "candidate_sum", calibrated=True)
    assert utility.needs == ("confidence_calibration",) and utility.column is None
    assert utility.to_dict()["calibrated"] is True
    assert "calibrated" not in STRATEGIES["calibrated"].utility.to_dict()  # old records match
    with pytest.raises(ValueError, match="candidate reductions"):
        Uncertainty("detection_entropy", "max", calibrated=True)
    scores = make_scores([[(0.5, 0)], [(0.3, 0)], [(0.9, 0)]], n_classes=1)
    mine = Strategy("mine", STRATEGIES["least_confidence"].selector, utility)
    with pytest.raises(ValueError, match="what the model's confidences mean"):
        mine.select(scores, RoundContext.of(scores), 1, random_state=0)
    picked = mine.select(scores, RoundContext.of(scores, confidence_calibration=UNDER), 1,
                         random_state=0)
    assert picked.indices.tolist() == [1]  # raw 0.3 -> 0.51: the most uncertain
    assert picked.params["confidence_calibration"]["g"]["0.5"] == pytest.approx(0.85)


def test_pool_scores_fit_the_calibration_on_the_images_with_labels():
    """One candidate per image; its object is labeled with probability min(1, 1.7 p)."""
    rng = np.random.default_rng(2)
    p = rng.uniform(0.05, 0.95, 600)
    scores = make_scores([[(float(c), 0)] for c in p], n_classes=1)
    box = Labels(np.array([0]), np.array([[0.3, 0.3, 0.4, 0.4]]))  # the fixture's box
    present = rng.random(600) < np.minimum(1.0, 1.7 * p)
    labels = {path: (box if keep else Labels.empty())
              for path, keep in zip(scores.paths[:500], present[:500], strict=True)}
    fit = scores.fit_confidence_calibration(labels)
    assert fit.n_boxes == 500 and fit(0.5) == pytest.approx(0.85, abs=0.07)
    assert scores.fit_confidence_calibration({}) is None
