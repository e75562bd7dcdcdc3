"""Query-by-committee for detection: train N members on bootstrap resamples, score the pool
with each, and measure how much they disagree per image.

**Disagreement** (:func:`committee_disagreement`, numpy only). For one image, take every
member's boxes at or above ``conf_threshold`` and group them across members: boxes are visited
by decreasing confidence, and each joins the best-overlapping group (IoU >= ``iou_threshold``
with the group's first box) that has no box from its member yet, or starts a new group. For a
group g found by the set S_g of the M members:

* presence  P_g = 1 - |S_g| / M            (boxes found by some members and not others)
* votes     V_g = H(classes voted by S_g) / log M    (class vote entropy, in [0, 1])
* location  L_g = 1 - mean pairwise IoU of the boxes in g   (0 for a single box)

and ``d_g = w_P * P_g + w_V * V_g + w_L * L_g`` with weights summing to 1 (default 1/3 each).
The image's disagreement is the ``reduction`` (default ``"max"``) of its d_g, and 0 when no
member finds anything (they agree the image is empty). Members that agree exactly score 0; the
score is at most 1.

Training and scoring (:func:`train_committee`, :func:`score_committee`) go through alkit's
training wrapper and scoring engine (cached per member), so they need ultralytics.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from alkit.core.uncertainty import reduce_boxes


def box_iou(a_A_4, b_B_4) -> np.ndarray:
    """(A, B) IoU of pixel boxes (x1, y1, x2, y2)."""
    a = np.asarray(a_A_4, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_B_4, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def match_boxes(members: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], *,
                iou_threshold: float = 0.5) -> list[list[tuple[int, int]]]:
    """Group boxes across members (see the module docstring).

    Args:
        members: per member ``(xyxy (n, 4), confidence (n,), class_id (n,))``.
    Returns:
        groups, each a list of ``(member, box index)`` with at most one box per member.
    """
    entries = [(float(conf), m, b) for m, (_, confidence, _) in enumerate(members)
               for b, conf in enumerate(np.asarray(confidence).reshape(-1))]
    entries.sort(key=lambda e: (-e[0], e[1], e[2]))
    groups: list[list[tuple[int, int]]] = []
    first_boxes = np.zeros((len(entries), 4))  # each group's first (most confident) box
    has_member = np.zeros((len(entries), len(members)), bool)
    for _, m, b in entries:
        box = np.asarray(members[m][0], dtype=np.float64)[b]
        n_groups = len(groups)
        iou = box_iou(box, first_boxes[:n_groups])[0] if n_groups else np.zeros(0)
        iou[has_member[:n_groups, m]] = -1.0
        best = int(np.argmax(iou)) if n_groups else -1
        if best < 0 or iou[best] < iou_threshold:
            best = n_groups
            groups.append([])
            first_boxes[best] = box
        groups[best].append((m, b))
        has_member[best, m] = True
    return groups


def group_disagreement(members, group, n_members: int, weights=(1 / 3, 1 / 3, 1 / 3)
                       ) -> float:
    """``d_g`` of one matched group (see the module docstring)."""
    w_presence, w_votes, w_location = weights
    presence = 1.0 - len(group) / n_members
    votes = np.array([int(np.asarray(members[m][2])[b]) for m, b in group])
    _, counts = np.unique(votes, return_counts=True)
    p = counts / counts.sum()
    vote_entropy = float(-(p * np.log(p)).sum() / np.log(n_members)) if n_members > 1 else 0.0
    boxes = np.stack([np.asarray(members[m][0], dtype=np.float64)[b] for m, b in group])
    if len(boxes) > 1:
        iou = box_iou(boxes, boxes)
        location = 1.0 - float(iou[np.triu_indices(len(boxes), 1)].mean())
    else:
        location = 0.0
    return w_presence * presence + w_votes * vote_entropy + w_location * location


def image_disagreement(members, *, conf_threshold: float = 0.25, iou_threshold: float = 0.5,
                       weights=(1 / 3, 1 / 3, 1 / 3), reduction="max") -> float:
    """Disagreement of M members on one image, in [0, 1] (module docstring).

    Args:
        members: per member ``(xyxy (n, 4), confidence (n,), class_id (n,))``.
    """
    if abs(sum(weights) - 1.0) > 1e-9 or min(weights) < 0:
        raise ValueError(f"weights must be >= 0 and sum to 1, got {weights}")
    kept = []
    for xyxy, confidence, class_id in members:
        confidence = np.asarray(confidence, dtype=np.float64).reshape(-1)
        keep = confidence >= conf_threshold
        kept.append((np.asarray(xyxy).reshape(-1, 4)[keep], confidence[keep],
                     np.asarray(class_id).reshape(-1)[keep]))
    groups = match_boxes(kept, iou_threshold=iou_threshold)
    scores = [group_disagreement(kept, g, len(members), weights) for g in groups]
    return reduce_boxes(scores, reduction, empty_score=0.0)


def committee_disagreement(member_scores: Sequence, *, conf_threshold: float | None = None,
                           iou_threshold: float = 0.5, weights=(1 / 3, 1 / 3, 1 / 3),
                           reduction="max") -> np.ndarray:
    """(N,) disagreement per pool image from the members' :class:`alkit.PoolScores` (same
    images in the same order); usable as the uncertainty term of any selector."""
    first = member_scores[0]
    for other in member_scores[1:]:
        if list(other.hashes) != list(first.hashes):
            raise ValueError("committee members scored different images; score the same pool")
    threshold = first.conf_threshold if conf_threshold is None else conf_threshold
    result = np.zeros(len(first))
    for i in range(len(first)):
        members = []
        for scores in member_scores:
            d = scores.detections(i, conf_threshold=threshold)
            members.append((d.xyxy, d.confidence, d.class_id))
        result[i] = image_disagreement(members, conf_threshold=threshold,
                                       iou_threshold=iou_threshold, weights=weights,
                                       reduction=reduction)
    return result


# --------------------------------------------------------------------------- training


def bootstrap_lists(train_images: Sequence[str | os.PathLike], n_members: int, *,
                    random_state=None) -> list[list[str]]:
    """``n_members`` bootstrap resamples (with replacement, same size) of the labeled images."""
    rng = np.random.default_rng(random_state)
    images = [str(p) for p in train_images]
    if not images:
        raise ValueError("a committee needs labeled images to resample")
    return [[images[i] for i in rng.integers(0, len(images), len(images))]
            for _ in range(n_members)]


def train_committee(data: str | os.PathLike, *, n_members: int = 3, weights=None,
                    epochs: int = 10, imgsz: int = 128, batch: int = 16,
                    runs_dir: str | os.PathLike | None = None, random_state: int = 0,
                    **train_kwargs) -> list[Path]:
    """Train ``n_members`` detectors, each on a bootstrap resample of the yaml's train split
    (written as an image list file plus a dataset yaml per member under ``runs_dir``), with
    the same validation split. Returns the members' best checkpoints."""
    from alkit.data import datasets
    from alkit.model import yolo

    spec = datasets.read_dataset_yaml(data)
    runs = Path(runs_dir) if runs_dir is not None else yolo.default_runs_dir() / "committee"
    runs.mkdir(parents=True, exist_ok=True)
    lists = bootstrap_lists(datasets.list_images(spec.splits["train"]), n_members,
                            random_state=random_state)
    best = []
    for member, images in enumerate(lists):
        list_file = runs / f"member{member}_train.txt"
        datasets.write_text_atomic(list_file, "".join(f"{p}\n" for p in images))
        member_yaml = runs / f"member{member}.yaml"
        datasets.write_dataset_yaml(member_yaml, spec.names,
                                    {"train": str(list_file), "val": str(spec.splits["val"])})
        result = yolo.train(member_yaml, weights=weights, epochs=epochs, imgsz=imgsz, batch=batch,
                            runs_dir=runs, name=f"member{member}", seed=random_state + member,
                            **train_kwargs)
        best.append(result.best)
    return best


def score_committee(members: Sequence[str | os.PathLike], images, **score_kwargs) -> list:
    """Score the pool with every member (:func:`alkit.score_pool`, cached per member)."""
    from alkit.model.scoring import score_pool

    return [score_pool(member, images, **score_kwargs) for member in members]
