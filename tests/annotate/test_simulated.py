"""The simulated annotator: the hidden labels, and annotation noise at the rates asked for."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alkit.annotate.simulated import NoiseModel, Oracle, apply_noise
from alkit.data import datasets
from alkit.data.datasets import DatasetError, Labels


def test_oracle_without_noise_returns_the_hidden_labels(tiny_dataset):
    oracle = Oracle(tiny_dataset / "dataset.yaml")
    image = tiny_dataset / "images/pool/pool_00003.jpg"
    hidden = datasets.read_labels(tiny_dataset / "oracle/labels/pool/pool_00003.txt")
    answer = oracle.answer(image)
    np.testing.assert_array_equal(answer.class_ids, hidden.class_ids)
    np.testing.assert_allclose(answer.xywhn, hidden.xywhn)
    assert oracle.source == "oracle" and oracle.annotated_by(str(image)) == "oracle"
    assert "hidden labels" in oracle.describe()


def test_noise_model_rates_and_determinism():
    rng = np.random.default_rng(0)
    labels = Labels(rng.integers(0, 5, 2000), np.tile([0.5, 0.5, 0.2, 0.2], (2000, 1)))
    missed = apply_noise(labels, NoiseModel(miss_rate=0.3), 5, 1)
    assert 0.65 < len(missed) / 2000 < 0.75
    relabeled = apply_noise(labels, NoiseModel(wrong_class_rate=1.0), 5, 1)
    assert np.all(relabeled.class_ids != labels.class_ids)
    shifted = apply_noise(labels, NoiseModel(shift_rate=1.0, shift_scale=0.5), 5, 1)
    assert not np.allclose(shifted.xywhn, labels.xywhn)
    edges = datasets.xywhn_to_xyxy(shifted.xywhn, 1, 1)
    assert edges.min() >= -1e-9 and edges.max() <= 1 + 1e-9
    again = apply_noise(labels, NoiseModel(shift_rate=1.0, shift_scale=0.5), 5, 1)
    np.testing.assert_array_equal(shifted.xywhn, again.xywhn)
    assert NoiseModel.with_accuracy(0.85).accuracy == pytest.approx(0.85)


@given(st.floats(0.5, 1.0))
def test_with_accuracy_gives_that_accuracy(accuracy):
    assert NoiseModel.with_accuracy(accuracy).accuracy == pytest.approx(accuracy)


def test_noisy_oracle_answers_the_same_image_the_same_way(tiny_dataset):
    noise = NoiseModel.with_accuracy(0.5)
    image = tiny_dataset / "images/pool/pool_00005.jpg"
    a = Oracle(tiny_dataset / "dataset.yaml", noise=noise).answer(image)
    b = Oracle(tiny_dataset / "dataset.yaml", noise=noise).answer(image)
    np.testing.assert_array_equal(a.xywhn, b.xywhn)
    assert "accurate" in Oracle(tiny_dataset / "dataset.yaml", noise=noise).describe()


def test_oracle_needs_hidden_labels(tmp_path):
    (tmp_path / "d.yaml").write_text("train: t\nval: v\nnames: [a]\n")
    with pytest.raises(DatasetError, match="needs a 'pool' split"):
        Oracle(tmp_path / "d.yaml")
    with pytest.raises(ValueError, match="must lie in"):
        NoiseModel(miss_rate=1.5)
