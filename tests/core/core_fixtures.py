"""Hand-made pools for the selection tests: PoolScores from per-image lists of candidates."""

import numpy as np

from alkit.core.pool import PoolScores


def make_scores(per_image, *, n_classes: int = 3, embeddings=None, box_features=None,
                conf_threshold: float = 0.25, seed: int = 0) -> PoolScores:
    """PoolScores whose image i holds the candidates ``per_image[i]``, each ``(confidence,
    class)``: the class's score is the confidence, every other class scores 0.01. Embeddings
    default to random 4-d vectors; ``box_features`` (M, F) are optional."""
    conf = np.array([c for image in per_image for c, _ in image], dtype=np.float32)
    cls = np.array([k for image in per_image for _, k in image], dtype=np.int64)
    class_scores = np.full((len(conf), n_classes), 0.01, np.float32)
    class_scores[np.arange(len(conf)), cls] = conf
    n = len(per_image)
    if embeddings is None:
        embeddings = np.random.default_rng(seed).normal(size=(n, 4))
    return PoolScores(
        paths=[f"{i}.jpg" for i in range(n)], hashes=np.array([str(i) for i in range(n)]),
        heights=np.full(n, 100), widths=np.full(n, 100),
        box_offsets=np.concatenate([[0], np.cumsum([len(i) for i in per_image])]).astype(int),
        box_xyxy=np.tile([10, 10, 50, 50], (len(conf), 1)).astype(np.float32),
        box_confidence=conf, box_class=cls, box_class_scores=class_scores,
        embeddings=np.asarray(embeddings, dtype=np.float32), names=tuple("abcdefgh"[:n_classes]),
        conf_threshold=conf_threshold,
        box_features=None if box_features is None else np.asarray(box_features, np.float16))


def random_scores(n: int = 40, *, n_classes: int = 3, seed: int = 0) -> PoolScores:
    """A random pool: 0 to 3 candidates per image, confidences in [0.05, 0.95], random
    classes, embeddings and per-box features."""
    rng = np.random.default_rng(seed)
    per_image = [[(float(rng.uniform(0.05, 0.95)), int(rng.integers(n_classes)))
                  for _ in range(rng.integers(0, 4))] for _ in range(n)]
    n_boxes = sum(len(i) for i in per_image)
    return make_scores(per_image, n_classes=n_classes, seed=seed,
                       embeddings=rng.normal(size=(n, 6)),
                       box_features=rng.normal(size=(n_boxes, 4)))
