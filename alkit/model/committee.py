"""Query-by-committee, the model side: train N members on bootstrap resamples of the labeled
set, score the pool with each (cached per member); how much they disagree per image is
:func:`alkit.core.disagreement.committee_disagreement`. Needs ultralytics.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from alkit.core.randomness import check_random_state, derive_seed
from alkit.data import datasets
from alkit.model.recipe import Recipe


def bootstrap_lists(train_images: Sequence[str | os.PathLike], n_members: int, *,
                    random_state=None) -> list[list[str]]:
    """``n_members`` bootstrap resamples (with replacement, same size) of the labeled images.

    Args:
        train_images: the labeled image paths to resample (at least one).
        n_members: how many resamples to draw.
        random_state: ``None``, an int seed or a ``numpy.random.Generator``.

    Returns:
        One list of path strings per member, each as long as ``train_images``.
    """
    rng = check_random_state(random_state)
    images = [str(p) for p in train_images]
    if not images:
        raise ValueError("a committee needs labeled images to resample")
    return [[images[i] for i in rng.integers(0, len(images), len(images))]
            for _ in range(n_members)]


def train_committee(data: str | os.PathLike, *, n_members: int = 3, weights=None,
                    recipe: Recipe = Recipe(), round_number: int = 1,
                    runs_dir: str | os.PathLike | None = None, random_state: int = 0
                    ) -> list[Path]:
    """Train ``n_members`` detectors with ``recipe`` (as a round ``round_number`` would), each on
    a bootstrap resample of the yaml's train split (an image list file plus a dataset yaml per
    member under ``runs_dir``), with the same validation split. Member ``m`` resamples and trains
    with seeds derived from ``(random_state, "committee", m)``. Returns the best checkpoints.

    ``data`` is the dataset yaml (its ``train`` and ``val`` splits are used); ``weights`` are
    every member's start checkpoint or model yaml (``None``: the default start weights of
    :func:`alkit.model.yolo.train`); ``runs_dir`` defaults to ``committee`` under
    :func:`alkit.data.home.default_runs_dir`."""
    from alkit.model import yolo

    spec = datasets.read_dataset_yaml(data)
    runs = Path(runs_dir) if runs_dir is not None else yolo.default_runs_dir() / "committee"
    runs.mkdir(parents=True, exist_ok=True)
    images = datasets.list_images(spec.splits["train"])
    best = []
    for member in range(n_members):
        seed = derive_seed(random_state, "committee", member)
        (resample,) = bootstrap_lists(images, 1, random_state=seed)
        list_file = runs / f"member{member}_train.txt"
        datasets.write_text_atomic(list_file, "".join(f"{p}\n" for p in resample))
        member_yaml = runs / f"member{member}.yaml"
        datasets.write_dataset_yaml(member_yaml, spec.names,
                                    {"train": str(list_file), "val": str(spec.splits["val"])})
        result = yolo.train(member_yaml, weights=weights, runs_dir=runs, name=f"member{member}",
                            **recipe.train_kwargs(round_number, random_state=seed))
        best.append(result.best)
    return best


def score_committee(members: Sequence[str | os.PathLike], images, **score_kwargs) -> list:
    """Score the pool with every member (:func:`alkit.score_pool`, cached per member).

    ``members`` are the members' checkpoints (as from :func:`train_committee`), ``images`` the
    pool (image paths, or a directory / list file), and ``score_kwargs`` any keyword argument
    of :func:`alkit.score_pool` (``imgsz``, ``conf``, ``device``, ...). Returns one
    :class:`~alkit.core.pool.PoolScores` per member, in order."""
    from alkit.model.scoring import score_pool

    return [score_pool(member, images, **score_kwargs) for member in members]
