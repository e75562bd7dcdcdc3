"""A pool's scores as one ``.npz`` file: :func:`save_scores` and :func:`load_scores`.

The file holds the arrays of :class:`alkit.PoolScores` (listed in :mod:`alkit.core.pool`),
``skipped`` as a (S, 2) string array and ``meta`` as one JSON string (the class names, the
confidence threshold, the model hash and scoring settings). Reading needs numpy only: a
scores file from another machine opens without ultralytics.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from alkit.core.pool import PoolScores
from alkit.data.datasets import DatasetError
from alkit.data.files import atomic_savez


def save_scores(scores: PoolScores, path: str | os.PathLike) -> Path:
    """Write ``scores`` to the ``.npz`` file ``path`` (atomic; parent folders are created)
    and return ``path``."""
    meta = {**scores.meta, "names": list(scores.names), "conf_threshold": scores.conf_threshold}
    optional = {} if scores.box_features is None else {"box_features": scores.box_features}
    return atomic_savez(
        path, **optional, paths=np.array(scores.paths, dtype=str), hashes=scores.hashes,
        heights=scores.heights, widths=scores.widths, box_offsets=scores.box_offsets,
        box_xyxy=scores.box_xyxy, box_confidence=scores.box_confidence,
        box_class=scores.box_class, box_class_scores=scores.box_class_scores,
        embeddings=scores.embeddings, skipped=np.array(scores.skipped, dtype=str).reshape(-1, 2),
        meta=np.array(json.dumps(meta)))


def load_scores(path: str | os.PathLike) -> PoolScores:
    """The :class:`alkit.PoolScores` that :func:`save_scores` wrote to ``path``.

    Raises:
        DatasetError: naming ``path`` when it is missing or is not a scores file.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("meta")))
        return PoolScores(
            paths=arrays.pop("paths").tolist(), names=tuple(meta.pop("names")),
            skipped=[tuple(row) for row in arrays.pop("skipped").tolist()],
            conf_threshold=float(meta.pop("conf_threshold")), meta=meta, **arrays)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DatasetError(path, f"not a scores file (alkit score --out): {error}") from None
