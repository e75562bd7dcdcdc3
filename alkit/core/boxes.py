"""Box geometry and matching across models (numpy only); boxes travel as
:class:`alkit.Detections`.

* :func:`box_iou`: (A, B) IoU of pixel boxes (x1, y1, x2, y2).
* :func:`match_boxes`: group the boxes that several models (committee members, or two
  successive rounds' models) found in one image. Boxes are visited by decreasing confidence,
  and each joins the best-overlapping group (IoU >= ``iou_threshold`` with the group's first
  box) that has no box from its model yet, or starts a new group. Every group holds at most one
  box per model; a box no other model found is a group of one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alkit.core.detections import Detections


def box_iou(a_A_4, b_B_4) -> np.ndarray:
    """(A, B) IoU of pixel boxes (x1, y1, x2, y2); 0 where a union is empty.

    Args:
        a_A_4: (A, 4) float boxes (x1, y1, x2, y2) in pixels; one box of shape (4,) is read
            as (1, 4).
        b_B_4: (B, 4) float boxes in the same form.
    Returns:
        (A, B) float64 matrix, entry ``[i, j]`` the IoU of ``a_A_4[i]`` and ``b_B_4[j]``.
    """
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


def match_boxes(members: Sequence[Detections], *, iou_threshold: float = 0.5
                ) -> list[list[tuple[int, int]]]:
    """Group boxes across models (see the module docstring).

    Args:
        members: one :class:`Detections` per model, for the same image.
        iou_threshold: the IoU with a group's first (most confident) box at or above which a
            box may join that group; below it for every group, the box starts a new one.
    Returns:
        groups, each a list of ``(member, box index)`` with at most one box per member.
    """
    entries = [(float(conf), m, b) for m, d in enumerate(members)
               for b, conf in enumerate(d.confidence)]
    entries.sort(key=lambda e: (-e[0], e[1], e[2]))
    groups: list[list[tuple[int, int]]] = []
    first_boxes = np.zeros((len(entries), 4))  # each group's first (most confident) box
    has_member = np.zeros((len(entries), len(members)), bool)
    for _, m, b in entries:
        box = members[m].xyxy[b]
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
