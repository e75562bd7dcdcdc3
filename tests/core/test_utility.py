"""Utilities: measure x reduction x class weights x cost per image; one-class models rank or are
refused; PPAL's candidate sum as its code computes it."""

import numpy as np
import pytest
from core_fixtures import make_scores

from alkit.core.context import RoundContext
from alkit.core.cost import CostModel
from alkit.core.difficulty import difficulty_weights
from alkit.core.uncertainty import (
    MEASURES,
    check_ranks,
    detection_entropy,
    entropy,
    joint_entropy,
)
from alkit.core.utility import (
    BOX_REDUCTIONS,
    CANDIDATE_REDUCTIONS,
    Disagreement,
    Uncertainty,
)


def _h(p):
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def test_detection_entropy_is_the_binary_entropy_of_the_detection_score():
    scores = np.array([[0.5, 0.1], [0.9, 0.05], [0.02, 0.3]])
    np.testing.assert_allclose(detection_entropy(scores), _h(np.array([0.5, 0.9, 0.3])))
    assert detection_entropy(np.array([[0.5]]))[0] == pytest.approx(np.log(2))


def test_joint_entropy_is_the_entropy_over_background_and_the_classes():
    scores = np.array([[0.6, 0.2, 0.1], [0.9, 0.01, 0.01]])
    p = scores.max(axis=1)
    q = scores / scores.sum(axis=1, keepdims=True)
    full = np.c_[1 - p, p[:, None] * q]
    np.testing.assert_allclose(joint_entropy(scores), -(full * np.log(full)).sum(axis=1))
    np.testing.assert_allclose(joint_entropy(scores), detection_entropy(scores)
                               + p * entropy(scores))
    np.testing.assert_allclose(joint_entropy(scores[:, :1]), detection_entropy(scores[:, :1]))


def one_class_pool():
    """Ten images, one class, confidences that differ from image to image."""
    confidences = np.linspace(0.3, 0.95, 10)
    return make_scores([[(float(c), 0), (float(c) / 2 + 0.1, 0)] for c in confidences],
                       n_classes=1)


@pytest.mark.parametrize("reduction", (*BOX_REDUCTIONS, *CANDIDATE_REDUCTIONS))
@pytest.mark.parametrize("measure", MEASURES)
def test_on_a_one_class_model_every_measure_ranks_or_is_refused_by_name(measure, reduction):
    scores = one_class_pool()
    utility = Uncertainty(measure, reduction)
    context = RoundContext.of(scores)
    if measure == "entropy":
        with pytest.raises(ValueError, match=r"1 class\(es\).*detection_entropy"):
            utility(scores, context)
        return
    values = utility(scores, context)
    assert len(np.unique(np.round(values, 12))) > 1, (measure, reduction)


def test_check_ranks_refuses_only_entropy_over_one_class():
    check_ranks("entropy", 2)
    check_ranks("margin", 1)
    with pytest.raises(ValueError, match="unknown measure"):
        check_ranks("confusion", 3)


def test_ppal_candidate_sum_is_its_codes_image_uncertainty():
    """PPAL's DCUS (mmdet/ppal/sampler/difficulty_calibrated_uncertainty_sampler.py): an
    image's uncertainty is the sum over its detections with score >= 0.05 of the binary
    entropy of the score times the weight of the predicted class."""
    per_image = [[(0.5, 0), (0.2, 1), (0.04, 2)], [(0.9, 2)], []]
    scores = make_scores(per_image)
    quality = np.array([0.9, 0.5, 0.1])
    context = RoundContext.of(scores, class_quality=quality)
    w = difficulty_weights(quality)
    expected = [_h(0.5) * w[0] + _h(0.2) * w[1], _h(0.9) * w[2], 0.0]  # 0.04 < 0.05: dropped
    got = Uncertainty("detection_entropy", "candidate_sum", weights="difficulty")(scores, context)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_faint_clutter_counts_in_ppals_sum_and_little_in_the_expected_sum():
    """alkit's deliberate difference (docs/selection.md): the expected sum weights each
    candidate by its confidence, so ten faint candidates do not outrank one half-seen object."""
    scores = make_scores([[(0.06, 0)] * 10, [(0.5, 0)]])
    context = RoundContext.of(scores)
    ppal = Uncertainty("detection_entropy", "candidate_sum")(scores, context)
    expected = Uncertainty("detection_entropy", "expected")(scores, context)
    assert ppal[0] > ppal[1] and expected[0] < expected[1]


def test_class_weights_scale_each_candidate_by_its_predicted_class():
    scores = make_scores([[(0.5, 0)], [(0.5, 2)]])
    context = RoundContext.of(scores, class_quality=[0.5, 0.5, 0.5], class_counts=[100, 0, 1])
    gain = Uncertainty("detection_entropy", "expected", weights="gain")(scores, context)
    assert gain[0] / gain[1] == pytest.approx(0.01)
    assert Uncertainty(weights="gain", reduction="expected").needs == ("class_quality",
                                                                      "class_counts")
    assert Uncertainty(weights="difficulty", reduction="candidate_sum").needs == (
        "class_quality",)


def test_per_second_divides_by_the_expected_annotation_seconds():
    scores = make_scores([[(0.5, 0)], [(0.5, 0), (0.9, 1), (0.9, 1)]])
    context = RoundContext.of(scores, cost_model=CostModel(4.0, 25.5))
    plain = Uncertainty("least_confidence", "sum")(scores, context)
    per_second = Uncertainty("least_confidence", "sum", per_second=True)(scores, context)
    seconds = 4 + 25.5 * scores.expected_boxes
    np.testing.assert_allclose(per_second, plain / seconds)
    assert plain[1] > plain[0] and per_second[1] < per_second[0]


def test_bad_utilities_say_what_was_expected():
    with pytest.raises(ValueError, match="unknown measure"):
        Uncertainty("confusion")
    with pytest.raises(ValueError, match="unknown reduction"):
        Uncertainty(reduction="median")
    with pytest.raises(ValueError, match="weights must be None or one of"):
        Uncertainty(reduction="expected", weights="counts")
    with pytest.raises(ValueError, match="class weights scale candidates"):
        Uncertainty(reduction="max", weights="gain")
    with pytest.raises(ValueError, match="at least 2 members"):
        Disagreement(members=1)


def test_disagreement_reads_the_context():
    scores = make_scores([[(0.5, 0)]] * 3)
    context = RoundContext.of(scores, disagreement=[0.1, 0.7, 0.2])
    assert Disagreement()(scores, context).tolist() == [0.1, 0.7, 0.2]
    with pytest.raises(ValueError, match="3 finite values"):
        RoundContext.of(scores, disagreement=[0.1, np.nan, 0.2])
