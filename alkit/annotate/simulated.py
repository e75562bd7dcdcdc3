"""A simulated annotator: answers queries from a benchmark pool's hidden labels, optionally
with the mistakes real annotators make.

:func:`apply_noise` (numpy only) corrupts one image's labels with a :class:`NoiseModel`:

* ``miss_rate``: each box is dropped (a missed object) with this probability;
* ``shift_rate``: each kept box is moved and resized with this probability: its center by up
  to ``shift_scale`` of its width / height, its sides scaled by ``1 +/- shift_scale`` (then
  clipped to the image);
* ``wrong_class_rate``: each kept box gets another class, uniformly, with this probability.

``NoiseModel.accuracy`` is the share of boxes expected to come back untouched, so experiments can
compare, say, 85% and 99% accurate labels. :class:`Oracle` reads the hidden label file of a pool
image and applies the noise with a generator seeded by ``random_state`` and the image's name, so
the same image always gets the same answer.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alkit.annotate.base import Annotator
from alkit.core.randomness import check_random_state
from alkit.data import datasets
from alkit.data.datasets import Labels


@dataclass(frozen=True)
class NoiseModel:
    """Annotation mistakes at given rates (see the module docstring).

    Attributes:
        miss_rate: probability in [0, 1] that a box is dropped (a missed object).
        shift_rate: probability in [0, 1] that a kept box is moved and resized.
        shift_scale: how far a shifted box moves and resizes: its center by up to this share
            of its width / height, its sides scaled by ``1 +/- shift_scale`` (default 0.2).
        wrong_class_rate: probability in [0, 1] that a kept box gets another class, drawn
            uniformly.

    Every rate defaults to 0 (no noise); a rate outside [0, 1] raises ``ValueError``.
    """

    miss_rate: float = 0.0
    shift_rate: float = 0.0
    shift_scale: float = 0.2
    wrong_class_rate: float = 0.0

    def __post_init__(self):
        for name in ("miss_rate", "shift_rate", "wrong_class_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"NoiseModel.{name} must lie in [0, 1]")

    @property
    def accuracy(self) -> float:
        """Expected share of boxes returned exactly right."""
        return (1 - self.miss_rate) * (1 - self.shift_rate) * (1 - self.wrong_class_rate)

    @classmethod
    def with_accuracy(cls, accuracy: float) -> NoiseModel:
        """Equal miss, shift and wrong-class rates giving ``accuracy``."""
        rate = 1.0 - accuracy ** (1 / 3)
        return cls(miss_rate=rate, shift_rate=rate, wrong_class_rate=rate)


def apply_noise(labels: Labels, noise: NoiseModel, n_classes: int, rng) -> Labels:
    """One image's labels with annotation mistakes (see :class:`NoiseModel`).

    Args:
        labels: the image's true YOLO labels (normalized center and size).
        noise: the mistakes to make and their rates.
        n_classes: the dataset's number of classes; a wrong class is drawn among the other
            ``n_classes - 1`` (no class change when there is only one class).
        rng: a seed or a ``numpy.random.Generator``.

    Returns:
        New :class:`alkit.Labels` (shifted boxes clipped to the image); ``labels`` itself when
        it is empty.
    """
    rng = check_random_state(rng)
    if len(labels) == 0:
        return labels
    keep = rng.random(len(labels)) >= noise.miss_rate
    class_ids = labels.class_ids[keep].copy()
    boxes = labels.xywhn[keep].copy()
    shift = rng.random(len(boxes)) < noise.shift_rate
    if shift.any():
        s = noise.shift_scale
        moved = boxes[shift]
        moved[:, :2] += rng.uniform(-s, s, (len(moved), 2)) * moved[:, 2:]
        moved[:, 2:] *= 1 + rng.uniform(-s, s, (len(moved), 2))
        boxes[shift] = _clip_xywhn(moved)
    wrong = rng.random(len(class_ids)) < noise.wrong_class_rate
    if wrong.any() and n_classes > 1:
        offsets = rng.integers(1, n_classes, wrong.sum())
        class_ids[wrong] = (class_ids[wrong] + offsets) % n_classes
    return Labels(class_ids, boxes)


def _clip_xywhn(xywhn: np.ndarray) -> np.ndarray:
    x1 = np.clip(xywhn[:, 0] - xywhn[:, 2] / 2, 0, 1)
    y1 = np.clip(xywhn[:, 1] - xywhn[:, 3] / 2, 0, 1)
    x2 = np.clip(xywhn[:, 0] + xywhn[:, 2] / 2, 0, 1)
    y2 = np.clip(xywhn[:, 1] + xywhn[:, 3] / 2, 0, 1)
    w, h = np.maximum(x2 - x1, 1e-4), np.maximum(y2 - y1, 1e-4)
    return np.stack([np.minimum(x1 + w / 2, 1 - w / 2), np.minimum(y1 + h / 2, 1 - h / 2), w, h],
                    axis=1)


class Oracle(Annotator):
    """The simulated annotator: answers pool images from a benchmark's hidden labels (the
    yaml's ``oracle_labels``), with this oracle's :class:`NoiseModel`.

    Args:
        dataset_yaml: the benchmark's dataset yaml; it needs a ``pool`` split and hidden
            ``oracle_labels`` (else :class:`alkit.DatasetError`).
        noise: the annotation mistakes to make; ``None``: none (exact labels).
        random_state: seeds the noise, together with each image's file name, so the same image
            always gets the same answer.
        also: more benchmark yamls whose pools it answers too (a simulated production stream,
            :func:`alkit.data.production.build_stream`, whose images were sent to the project).
    """

    source = "oracle"

    def __init__(self, dataset_yaml: str | os.PathLike, *, noise: NoiseModel | None = None,
                 random_state: int = 0, also: tuple = ()):
        specs = [datasets.read_dataset_yaml(y) for y in (dataset_yaml, *also)]
        for yaml_path, spec in zip((dataset_yaml, *also), specs, strict=True):
            if spec.oracle_labels is None or "pool" not in spec.splits:
                raise datasets.DatasetError(
                    yaml_path, "the simulated annotator needs a 'pool' split with hidden "
                    "'oracle_labels' (a benchmark such as `alkit samples` builds)")
        self.spec, self.also = specs[0], specs[1:]
        self.noise = noise or NoiseModel()
        self.random_state = random_state

    def answer(self, image_path: str | os.PathLike) -> Labels:
        """The labels of a pool image, with this oracle's noise.

        ``image_path``: a pool image; its hidden label file is read (a missing one raises
        :class:`alkit.DatasetError`)."""
        image_path = Path(image_path)
        spec = next((s for s in self.also if image_path.is_relative_to(s.splits["pool"])),
                    self.spec)
        label_path = datasets.split_label_path(spec, "pool", image_path)
        if not label_path.exists():
            raise datasets.DatasetError(label_path, "the oracle has no hidden label for "
                                        f"{image_path.name}")
        labels = datasets.read_labels(label_path, self.spec.n_classes)
        seed = [self.random_state, zlib.crc32(image_path.name.encode())]
        return apply_noise(labels, self.noise, self.spec.n_classes, np.random.default_rng(seed))

    def annotated_by(self, path: str) -> str:
        """Always ``"oracle"``, whatever the image ``path``."""
        return "oracle"

    def describe(self) -> str:
        """The simulated annotator, with its noise when there is any."""
        noise = "" if self.noise.accuracy == 1.0 else f", {self.noise.accuracy:.0%} accurate"
        return f"the simulated annotator (the benchmark's hidden labels{noise})"
