"""Shared by the UI tests: scores without a model, and the ledger read back from disk."""

import numpy as np

from alkit.core.pool import PoolScores
from alkit.loop.ledger import Ledger

N_PICKS = 8


def fake_scores(paths, n_classes=6, *, seed=0) -> PoolScores:
    """Scores with two boxes per image (one sure, one unsure) and random embeddings: what
    score_pool returns, without a model."""
    rng = np.random.default_rng(seed)
    n = len(paths)
    conf = np.stack([rng.uniform(0.3, 0.95, n), rng.uniform(0.26, 0.5, n)], axis=1).ravel()
    cls = rng.integers(0, n_classes, 2 * n)
    class_scores = np.full((2 * n, n_classes), 0.01, np.float32)
    class_scores[np.arange(2 * n), cls] = conf
    xyxy = np.tile(np.array([[10, 12, 50, 60], [70, 70, 126, 130]], np.float32), (n, 1))
    return PoolScores(
        paths=[str(p) for p in paths], hashes=np.array([f"h{i}" for i in range(n)]),
        heights=np.full(n, 128, np.int32), widths=np.full(n, 128, np.int32),
        box_offsets=np.arange(0, 2 * n + 1, 2, dtype=np.int64), box_xyxy=xyxy,
        box_confidence=conf.astype(np.float32), box_class=cls.astype(np.int64),
        box_class_scores=class_scores, embeddings=rng.normal(size=(n, 8)).astype(np.float32),
        names=("zero", "one", "two", "three", "four", "seven")[:n_classes])


def fresh(project) -> Ledger:
    """The project's ledger opened again from disk."""
    return Ledger(project.dir)


def decisions_on_disk(project, number: int = 1) -> list[tuple[int, str]]:
    with fresh(project) as ledger:
        return [(d["image_id"], d["decision"]) for d in ledger.decisions(number)]


def state_on_disk(project, image_id: int) -> str:
    with fresh(project) as ledger:
        return next(r["state"] for r in ledger.images() if r["id"] == image_id)


