"""Plots for notebooks and reports (matplotlib; no ultralytics).

Functions that draw into one axes take ``ax=None`` and return the axes; grids return the figure.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from alkit import datasets


def plot_image_grid(
    images: Sequence[str | os.PathLike],
    *,
    boxes: Sequence[np.ndarray] | None = None,
    class_ids: Sequence[np.ndarray] | None = None,
    names: Sequence[str] | None = None,
    titles: Sequence[str] | None = None,
    ncols: int = 6,
    size: float = 2.0,
):
    """Images in a grid with their boxes drawn.

    Args:
        images: image paths.
        boxes: per image, an (n, 4) array of pixel boxes (x1, y1, x2, y2).
        class_ids: per image, (n,) class ids (labels the boxes when ``names`` is given).
        titles: one short title per image.
    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size), squeeze=False)
    colors = plt.get_cmap("tab10")
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(datasets.load_rgb(images[i]))
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
        image_boxes = boxes[i] if boxes is not None else np.zeros((0, 4))
        ids = class_ids[i] if class_ids is not None else np.zeros(len(image_boxes), int)
        for (x1, y1, x2, y2), c in zip(image_boxes, ids, strict=True):
            color = colors(int(c) % 10)
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1, color=color))
            if names is not None:
                ax.text(x1, y1 - 1, names[int(c)], fontsize=6, color=color, va="bottom")
    fig.tight_layout()
    return fig


def plot_ap_per_class(ap50_per_class: dict[str, float], *, rare: Sequence[str] = (), ax=None):
    """AP50 per class as bars; ``rare`` classes in a second colour."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 3))[1]
    names = list(ap50_per_class)
    colors = ["tab:red" if n in rare else "tab:blue" for n in names]
    ax.bar(names, [ap50_per_class[n] for n in names], color=colors)
    ax.set_ylim(0, 1)
    ax.set_ylabel("AP50")
    ax.set_title("AP50 per class" + (" (red: rare)" if rare else ""))
    return ax
