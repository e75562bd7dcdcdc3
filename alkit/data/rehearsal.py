"""A rehearsal dataset: labeled images you already have, replayed as an unlabeled pool.

"Will active learning pay on my pool, and with which strategy?" can be answered before a
budget is spent, on a part of the pool someone has already labeled: hide those labels, let
each strategy pick from the images, reveal the labels of the picks only (the simulated
annotator), retrain, and compare with random on equal terms (notebook 07, ``bench_al.py
--data``). :func:`make_rehearsal` builds that dataset from one labeled split:

    OUT/images/seed/...      n_seed images drawn at random (links): the labeled seed set
    OUT/labels/seed/...      their labels
    OUT/images/pool/...      every other image of the split (links): the pool
    OUT/oracle/labels/pool/  the pool's labels, hidden from selection (the annotator's)
    OUT/dataset.yaml         train: images/seed, pool: images/pool, oracle_labels, and the
                             source's val and test splits (absolute paths)

Images are linked, not copied (:func:`alkit.data.files.link`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from alkit.core.randomness import check_random_state
from alkit.data import datasets, files
from alkit.data.datasets import DatasetError


def make_rehearsal(dataset_yaml: str | os.PathLike, out: str | os.PathLike, *, n_seed: int,
                   split: str = "train", random_state=0) -> Path:
    """Build the rehearsal dataset of ``split`` of ``dataset_yaml`` in ``out`` (module
    docstring) and return its yaml.

    Args:
        dataset_yaml: your dataset yaml; ``split`` must be labeled, ``val`` and ``test`` must
            exist (the test split measures every strategy; val is for training).
        out: an empty or new folder (a previous rehearsal there is replaced).
        n_seed: images of the split that start labeled (>= 1, fewer than the split holds).
        split: the labeled split replayed as a pool (default ``train``).
        random_state: ``None``, an int seed or a ``numpy.random.Generator`` for the seed draw.
    Raises:
        DatasetError: naming the yaml, when a split is missing, ``split`` has no labeled
            image, or ``n_seed`` leaves no pool.
    """
    spec = datasets.read_dataset_yaml(dataset_yaml)
    for needed in (split, "val", "test"):
        if needed not in spec.splits:
            raise DatasetError(spec.yaml_path, f"a rehearsal needs the split '{needed}' (has "
                               f"{sorted(spec.splits)})")
    labeled = datasets.read_split(spec, split)
    if not any(len(labels) for _, labels in labeled):
        raise DatasetError(spec.yaml_path, f"split '{split}' has no labeled box: nothing to "
                           "rehearse with")
    if not 1 <= n_seed < len(labeled):
        raise DatasetError(spec.yaml_path, f"n_seed must be between 1 and {len(labeled) - 1} "
                           f"(split '{split}' holds {len(labeled)} images), got {n_seed}")
    out = _fresh(Path(out))
    seed_rows = set(check_random_state(random_state).choice(len(labeled), n_seed,
                                                             replace=False).tolist())
    for row, (image, labels) in enumerate(labeled):
        part = "seed" if row in seed_rows else "pool"
        name = f"{row:06d}_{image.name}"
        files.link(image, out / "images" / part / name)
        label_dir = out / ("labels/seed" if part == "seed" else "oracle/labels/pool")
        datasets.write_labels(label_dir / Path(name).with_suffix(".txt"), labels)
    return datasets.write_dataset_yaml(
        out / "dataset.yaml", spec.names,
        {"train": "images/seed", "val": str(spec.splits["val"]),
         "test": str(spec.splits["test"])},
        comment=f"alkit rehearsal of split '{split}' of {spec.yaml_path}: {n_seed} seed images, "
                f"{len(labeled) - n_seed} pool images whose labels are hidden under "
                "oracle/labels/pool for the simulated annotator.",
        pool="images/pool", oracle_labels="oracle/labels/pool")


def _fresh(out: Path) -> Path:
    """``out`` emptied of a previous rehearsal; anything else there is refused."""
    marker = out / "dataset.yaml"
    if out.exists() and any(out.iterdir()):
        if not (marker.is_file() and "alkit rehearsal" in marker.read_text(encoding="utf-8")):
            raise FileExistsError(f"{out}: not empty and not an alkit rehearsal; choose an "
                                  "empty or new folder")
        for part in ("images", "labels", "oracle"):
            shutil.rmtree(out / part, ignore_errors=True)
    return out


def seed_size(n_images: int, *, seed_share: float = 0.05) -> int:
    """A seed-set size for a rehearsal of ``n_images``: ``seed_share`` of them, at least 1
    and leaving at least one for the pool (``n_images`` >= 2)."""
    if n_images < 2:
        raise ValueError(f"a rehearsal needs at least 2 images, got {n_images}")
    return int(np.clip(round(seed_share * n_images), 1, n_images - 1))
