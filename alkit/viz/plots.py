"""Plots for notebooks and reports (matplotlib; no ultralytics).

Functions that draw into one axes take ``ax=None`` and return the axes; grids return the figure.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from alkit.core import selection
from alkit.data import datasets


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
        names: class names, index = class id; when given, each box is labeled with its name.
        titles: one short title per image.
        ncols: the number of grid columns (rows follow from the number of images).
        size: the side of one grid cell, in inches.
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
    """AP50 per class as bars; ``rare`` classes in a second colour.

    ``ap50_per_class`` maps class name -> AP50 in [0, 1] (one bar each, in its order), e.g.
    the ``ap50_per_class`` of :class:`alkit.model.yolo.EvalResult`; ``rare`` names the classes
    drawn in red. ``ax`` is an optional matplotlib Axes to draw into (a new figure
    otherwise). Returns the axes.
    """
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 3))[1]
    names = list(ap50_per_class)
    colors = ["tab:red" if n in rare else "tab:blue" for n in names]
    ax.bar(names, [ap50_per_class[n] for n in names], color=colors)
    ax.set_ylim(0, 1)
    ax.set_ylabel("AP50")
    ax.set_title("AP50 per class" + (" (red: rare)" if rare else ""))
    return ax


def plot_measure_histograms(table, columns: Sequence[str] | None = None, *, bins: int = 30,
                            ncols: int = 4, flag_threshold: float | None = 0.6):
    """Histograms of score columns of a ``PoolScores.table``; the max-confidence panel marks the
    flag threshold. Returns the figure.

    Args:
        table: the DataFrame of :attr:`alkit.core.pool.PoolScores.table`.
        columns: the columns to draw, one panel each (default: ``max_confidence`` and every
            ``*_max`` column).
        bins: histogram bins per panel.
        ncols: panels per row.
        flag_threshold: a red line on the ``max_confidence`` panel with the number of images
            below it (flagged); ``None`` draws no line.
    """
    import matplotlib.pyplot as plt

    columns = list(columns) if columns is not None else [
        c for c in table.columns if c == "max_confidence" or c.endswith("_max")]
    nrows = max(1, -(-len(columns) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
    for ax, column in zip(axes.flat, columns, strict=False):
        ax.hist(table[column], bins=bins, color="tab:blue", alpha=0.8)
        ax.set_title(column, fontsize=9)
        if column == "max_confidence" and flag_threshold is not None:
            ax.axvline(flag_threshold, color="tab:red", lw=1)
            n_flagged = int((table[column] < flag_threshold).sum())
            ax.text(flag_threshold, ax.get_ylim()[1] * 0.9, f" {n_flagged} flagged",
                    color="tab:red", fontsize=8)
    for ax in list(axes.flat)[len(columns):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_scored_images(scores, column: str = "least_confidence_max", *, n: int = 12,
                       most_uncertain: bool = True, ncols: int = 6):
    """The ``n`` most (or least) uncertain images of a ``PoolScores`` by a table column, with
    the boxes that count (confidence >= its threshold) drawn and the score in each title.
    Returns the figure.

    Args:
        scores: the :class:`~alkit.core.pool.PoolScores` of the pool.
        column: the column of ``scores.table`` to rank by.
        n: how many images to show.
        most_uncertain: ``True`` shows the highest values of ``column`` (the most uncertain
            for a measure column), ``False`` the lowest.
        ncols: the number of grid columns.
    """
    values = scores.table[column].to_numpy()
    order = np.argsort(-values if most_uncertain else values, kind="stable")[:n]
    detections = [scores.detections(int(i)) for i in order]
    return plot_image_grid(
        [scores.paths[i] for i in order], boxes=[d.xyxy for d in detections],
        class_ids=[d.class_id for d in detections], names=scores.names,
        titles=[f"{values[i]:.2f} ({len(d)} boxes)" for i, d in zip(order, detections,
                                                                   strict=True)],
        ncols=ncols,
    )


def plot_rank_agreement(table, columns: Sequence[str] | None = None, ax=None):
    """Spearman rank correlation between score columns as a heatmap; returns the axes.

    ``table`` is the DataFrame of :attr:`alkit.core.pool.PoolScores.table`; ``columns``
    the columns to compare (default: ``max_confidence`` and every ``*_max`` column). ``ax`` is
    an optional matplotlib Axes to draw into (a new figure otherwise).
    """
    import matplotlib.pyplot as plt

    columns = list(columns) if columns is not None else [
        c for c in table.columns if c == "max_confidence" or c.endswith("_max")]
    corr = table[columns].rank().corr().to_numpy()
    ax = ax or plt.subplots(figsize=(1 + 0.8 * len(columns), 0.8 + 0.7 * len(columns)))[1]
    image = ax.imshow(corr, vmin=-1, vmax=1, cmap="coolwarm")
    ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(columns)), columns, fontsize=8)
    for (i, j), value in np.ndenumerate(corr):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7)
    ax.figure.colorbar(image, ax=ax, fraction=0.046)
    ax.set_title("rank agreement (Spearman)")
    return ax


def plot_embedding_map(embeddings_N_D, *, picks: dict | None = None, labeled=None,
                       xy_N_2=None, ax=None, title: str = "pool embeddings (PCA)"):
    """The pool in 2-D: remaining images grey, labeled black, each pick set in its colour.

    ``picks`` maps a name to pool indices; ``xy_N_2`` reuses a projection. Returns the axes.

    Args:
        embeddings_N_D: (N, D) pool embeddings (e.g. ``PoolScores.embeddings``), projected to
            2-D by PCA (:func:`alkit.core.selection.embedding_map_2d`) unless ``xy_N_2`` is
            given.
        picks: pick-set name -> pool indices, each set drawn as hollow markers in its colour.
        labeled: the labeled images, as pool indices or an (N,) bool mask, drawn black.
        xy_N_2: an (N, 2) projection to reuse instead of computing one.
        ax: an optional matplotlib Axes to draw into (a new figure otherwise).
        title: the axes title.
    """
    import matplotlib.pyplot as plt

    xy = (selection.embedding_map_2d(embeddings_N_D) if xy_N_2 is None
          else np.asarray(xy_N_2))
    ax = ax or plt.subplots(figsize=(6, 5))[1]
    ax.scatter(xy[:, 0], xy[:, 1], s=6, c="lightgrey", label="remaining")
    if labeled is not None and np.asarray(labeled).size:
        lab = np.asarray(labeled)
        lab = np.flatnonzero(lab) if lab.dtype == bool else lab
        ax.scatter(xy[lab, 0], xy[lab, 1], s=10, c="black", label="labeled")
    markers = "o^sDvP*X"
    for k, (name, indices) in enumerate((picks or {}).items()):
        indices = np.asarray(indices, dtype=np.int64)
        ax.scatter(xy[indices, 0], xy[indices, 1], s=22, marker=markers[k % len(markers)],
                   facecolors="none", edgecolors=plt.get_cmap("tab10")(k), label=name)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_selection_overlap(selections: dict, ax=None):
    """Jaccard overlap between the picks of several strategies, as a heatmap; returns axes.

    ``selections`` maps a strategy name to its picks: an array of pool indices or an object
    with an ``indices`` attribute (a selection result). ``ax`` is an optional matplotlib Axes
    to draw into (a new figure otherwise).
    """
    import matplotlib.pyplot as plt

    names = list(selections)
    sets = [set(np.asarray(getattr(s, "indices", s)).tolist()) for s in selections.values()]
    overlap = np.array([[len(a & b) / max(1, len(a | b)) for b in sets] for a in sets])
    ax = ax or plt.subplots(figsize=(1 + 0.8 * len(names), 0.8 + 0.7 * len(names)))[1]
    ax.imshow(overlap, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for (i, j), value in np.ndenumerate(overlap):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                color="white" if value > 0.6 else "black")
    ax.set_title("overlap of picks (Jaccard)")
    return ax


def plot_mix(counts, ax=None, title: str = ""):
    """Stacked bars of a DataFrame: one bar per row (strategy), one colour per column
    (class or condition), normalized to shares. Returns the axes.

    ``counts`` is a pandas DataFrame of counts (rows: strategies, columns: classes or
    conditions); each row is divided by its sum. ``ax`` is an optional matplotlib Axes to draw
    into (a new figure otherwise); ``title`` is the axes title (none by default).
    """
    import matplotlib.pyplot as plt

    shares = counts.div(counts.sum(axis=1).replace(0, 1), axis=0)
    ax = ax or plt.subplots(figsize=(7, 3))[1]
    shares.plot.bar(stacked=True, ax=ax, width=0.8, colormap="tab20", legend=False)
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.set_ylabel("share of picks")
    ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=30)
    return ax


def plot_learning_curve(analysis, *, budget: float | None = None, ax=None,
                        metric_name: str = "mAP50"):
    """A :class:`alkit.core.stopping.CurveAnalysis`: the measured points, the fitted saturating
    curve with its 90% bootstrap band, extrapolated to ``budget``, the knee and the stop point.
    Returns the axes.

    Args:
        analysis: the analysis (:func:`alkit.core.stopping.analyze`) to draw: metric against
            labeled images; the fit, band and asymptote only when it has a saturation fit.
        budget: the total labeling budget in images: the curve extends to it and a dashed
            line marks it; ``None`` for neither.
        ax: an optional matplotlib Axes to draw into (a new figure otherwise).
        metric_name: the y-axis label.
    """
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 4))[1]
    n, m = analysis.labeled, analysis.metric
    ax.plot(n, m, "o-", color="tab:blue", label="measured")
    fit = analysis.saturation
    if fit is not None:
        end = max(float(n.max()), float(budget or 0))
        grid = np.linspace(float(n.min()), end, 200)
        low, high = fit.predict_interval(grid)
        ax.plot(grid, fit.predict(grid), "--", color="tab:orange",
                label=f"{fit.family} fit (R$^2$ {fit.r2:.2f})")
        ax.fill_between(grid, low, high, color="tab:orange", alpha=0.2, label="90% band")
        ax.axhline(fit.asymptote.value, color="grey", lw=0.8, ls=":",
                   label=f"asymptote {fit.asymptote.value:.3f}")
    if analysis.knee is not None:
        k = analysis.knee
        ax.axvline(k.knee_labels, color="tab:green", lw=1, label=f"knee ({k.knee_labels:.0f})")
        ax.axvline(k.stop_labels, color="tab:red", lw=1, label=f"stop point ({k.stop_labels:.0f})")
    if budget is not None:
        ax.axvline(budget, color="black", lw=0.8, ls="--", label=f"budget ({budget:.0f})")
    ax.set_xlabel("labeled images")
    ax.set_ylabel(metric_name)
    ax.set_title(f"learning curve: {analysis.recommendation}")
    ax.legend(fontsize=7, loc="lower right")
    return ax


def plot_gains(analysis, *, ax=None):
    """Gain per round and ROI per 100 new labels as bars, the threshold as a line; returns the
    axes (ROI on a twin axis).

    ``analysis`` is a :class:`alkit.core.stopping.CurveAnalysis` (its ``gains``,
    ``roi_per_100`` and ``threshold``, from round 2 on). ``ax`` is an optional matplotlib Axes
    to draw into (a new figure otherwise).
    """
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 3))[1]
    rounds = np.arange(2, len(analysis.labeled) + 1)
    width = 0.4
    ax.bar(rounds - width / 2, analysis.gains, width, color="tab:blue", label="gain")
    ax.axhline(analysis.threshold, color="tab:red", lw=1, label=f"threshold {analysis.threshold}")
    roi_ax = ax.twinx()
    roi_ax.bar(rounds + width / 2, analysis.roi_per_100, width, color="tab:orange",
               label="ROI per 100 labels")
    ax.set_xlabel("round")
    ax.set_ylabel("gain")
    roi_ax.set_ylabel("ROI per 100 labels")
    ax.set_xticks(rounds)
    handles = ax.get_legend_handles_labels()
    roi_handles = roi_ax.get_legend_handles_labels()
    ax.legend(handles[0] + roi_handles[0], handles[1] + roi_handles[1], fontsize=7)
    ax.set_title("what each round bought")
    return ax


def plot_per_class_ap(per_class: dict, labeled=None, *, trends=None, ax=None):
    """AP50 per class across rounds (x: labeled count when given, else round); plateaued
    classes (from :func:`alkit.core.stopping.class_trends`) dashed. Returns the axes.

    Args:
        per_class: class name -> AP50 of each round, one line per class.
        labeled: labeled image counts of the rounds, the x values (``None``: round numbers
            from 1).
        trends: the :class:`~alkit.core.stopping.ClassTrend` list of ``class_trends``; classes
            it marks as plateaued are dashed. ``None`` marks none.
        ax: an optional matplotlib Axes to draw into (a new figure otherwise).
    """
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    plateaued = {t.name for t in (trends or []) if t.plateau}
    for name, values in per_class.items():
        values = np.asarray(values, dtype=np.float64)
        x = np.asarray(labeled) if labeled is not None else np.arange(1, len(values) + 1)
        ax.plot(x, values, "--" if name in plateaued else "-", marker="o", ms=3,
                label=name + (" (plateau)" if name in plateaued else ""))
    ax.set_xlabel("labeled images" if labeled is not None else "round")
    ax.set_ylabel("AP50")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("AP50 per class across rounds")
    return ax


def plot_arm_comparison(map50_by_arm: dict, ap50_by_arm: dict, *, baseline: float | None = None,
                        baseline_per_class: dict | None = None, title: str = ""):
    """Arms of an experiment side by side (the starter's bottom-K vs random-K).

    Left: test mAP50 of each arm, one dot per seed and a bar at the mean; the baseline (the
    seed model) as a dashed line. Right: AP50 per class, bars at each arm's mean with the
    min-max over seeds as error bars, the baseline as black ticks.

    Args:
        map50_by_arm: arm name -> per-seed mAP50 values.
        ap50_by_arm: arm name -> per-seed dicts of class name -> AP50.
        baseline: the seed model's mAP50, a dashed line on the left; ``None`` for none.
        baseline_per_class: class name -> the seed model's AP50, black ticks on the right;
            ``None`` for none.
        title: the figure's title (none by default).
    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8),
                                      gridspec_kw={"width_ratios": [1, 2.4]})
    colors = plt.get_cmap("tab10")
    for k, values in enumerate(map50_by_arm.values()):
        values = np.asarray(values, dtype=np.float64)
        left.bar(k, values.mean(), color=colors(k), alpha=0.35)
        left.scatter(np.full(len(values), k), values, color=colors(k), zorder=3, s=18)
        left.text(k, values.mean(), f"{values.mean():.3f}", ha="center", va="bottom", fontsize=8)
    if baseline is not None:
        left.axhline(baseline, color="black", ls="--", lw=1, label=f"seed model {baseline:.3f}")
        left.legend(fontsize=7, loc="lower right")
    left.set_xticks(range(len(map50_by_arm)), list(map50_by_arm), fontsize=8)
    left.set_ylabel("test mAP50")
    left.set_title("mAP50 (dots: seeds)", fontsize=9)
    _plot_class_bars(right, ap50_by_arm, baseline_per_class, colors)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _plot_class_bars(ax, ap50_by_arm: dict, baseline_per_class: dict | None, colors) -> None:
    classes = list(dict.fromkeys(
        [*(baseline_per_class or {})] + [c for runs in ap50_by_arm.values() for r in runs
                                         for c in r]))
    x = np.arange(len(classes))
    width = 0.8 / max(1, len(ap50_by_arm))
    for k, (name, runs) in enumerate(ap50_by_arm.items()):
        ap = np.array([[r.get(c, np.nan) for c in classes] for r in runs], dtype=np.float64)
        mean = np.nanmean(ap, axis=0)
        err = np.stack([mean - np.nanmin(ap, axis=0), np.nanmax(ap, axis=0) - mean])
        ax.bar(x + (k - (len(ap50_by_arm) - 1) / 2) * width, mean, width, yerr=err,
               color=colors(k), label=name, capsize=2, error_kw={"lw": 0.8})
    if baseline_per_class:
        ax.scatter(x, [baseline_per_class.get(c, np.nan) for c in classes], marker="_",
                   s=400, color="black", zorder=3, label="seed model")
    ax.set_xticks(x, classes, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("test AP50")
    ax.set_title("AP50 per class (bars: mean, whiskers: min-max over seeds)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)


def write_sample_examples(dataset_dir: str | os.PathLike, out: str | os.PathLike,
                   per_condition: int = 2) -> Path:
    """Copy a few labeled seed/test images of each condition to ``out`` (images/, labels/)
    with an ``overview.png`` of them, boxes drawn. Used for ``data_samples/examples``.

    ``dataset_dir`` is a built sample dataset (:func:`alkit.data.samples.build_samples`; its
    generation metadata picks the images); ``per_condition`` is how many images of each
    scene condition to copy (default 2). Returns ``out``."""
    import shutil

    from alkit.data.samples import CONFIG, read_generation_metadata

    dataset_dir, out = Path(dataset_dir), Path(out)
    rows = [r for r in read_generation_metadata(dataset_dir) if r["split"] in ("seed", "test")]
    chosen = []
    for condition, _ in CONFIG.condition_rates:
        chosen += [r for r in rows if r["condition"] == condition][:per_condition]
    for sub in ("images", "labels"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    images, boxes, ids = [], [], []
    for row in chosen:
        source = dataset_dir / row["image"]
        target = out / "images" / f"{row['condition']}_{source.name}"
        shutil.copyfile(source, target)
        labels = datasets.read_labels(datasets.label_path_for(source), len(CONFIG.class_names))
        datasets.write_labels(out / "labels" / f"{target.stem}.txt", labels)
        images.append(target)
        boxes.append(labels.xyxy(CONFIG.image_size, CONFIG.image_size))
        ids.append(labels.class_ids)
    figure = plot_image_grid(images, boxes=boxes, class_ids=ids, names=CONFIG.class_names,
                                   titles=[r["condition"] for r in chosen], ncols=2 * per_condition)
    figure.savefig(out / "overview.png", dpi=80)
    return out


def plot_monitor(table, class_mix, *, axes=None):
    """Production monitoring over time: the flagged rate, the drift measures and the class mix
    per batch, the batches the change rule marked shaded in red. Returns the figure.

    Args:
        table: the report's DataFrame (:class:`alkit.loop.monitor.MonitorReport`), with columns
            ``batch``, ``flagged_rate``, ``far_share``, ``confidence_ks``, ``class_mix_tv``
            and ``changed``.
        class_mix: a DataFrame, one row per batch, one column per class (shares).
        axes: three matplotlib axes to draw into, or None for a new figure.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
    fig = axes[0].figure
    x = table["batch"].to_numpy()
    changed = x[table["changed"].to_numpy(bool)]
    axes[0].plot(x, table["flagged_rate"], "o-", color="C3", label="flagged rate")
    axes[0].set_ylabel("share of images")
    axes[0].set_title("flagged (most confident box < threshold)")
    for column, label in (("far_share", "far from labeled set"),
                          ("confidence_ks", "KS of confidences"),
                          ("class_mix_tv", "class-mix TV")):
        axes[1].plot(x, table[column], "o-", label=label)
    axes[1].set_title("drift against the labeled set")
    axes[1].legend(fontsize=7)
    shares = class_mix.div(class_mix.sum(axis=1).replace(0, 1), axis=0)
    bottom = np.zeros(len(shares))
    for i, name in enumerate(shares.columns):
        axes[2].bar(x, shares[name].to_numpy(), bottom=bottom, label=name,
                    color=plt.get_cmap("tab10")(i % 10))
        bottom += shares[name].to_numpy()
    axes[2].set_title("predicted class mix")
    axes[2].legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    for ax in axes:
        ax.set_xlabel("batch")
        for b in changed:
            ax.axvspan(b - 0.45, b + 0.45, color="red", alpha=0.12, lw=0)
    axes[0].set_ylim(0, 1)
    fig.tight_layout()
    return fig


def audit_scores(table, *, k: int = 10, ax=None):
    """A label audit at a glance: the histogram of image label-quality scores (flagged images
    stacked apart) and, for the ``k`` most likely mislabeled images, their three parts
    (overlooked, swap, badloc: the lowest explains the rank). Returns the figure.

    Args:
        table: the audit's DataFrame (:attr:`alkit.loop.audit.AuditReport.table`), with columns
            ``rank``, ``path``, ``score``, ``overlooked``, ``swap``, ``badloc``, ``flagged``,
            most likely mislabeled first.
        k: how many of the worst images the right panel shows.
        ax: two matplotlib axes to draw into, or None for a new figure.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 1.4]})
    fig = ax[0].figure
    flagged = table["flagged"].to_numpy(bool)
    scores = table["score"].to_numpy(float)
    ax[0].hist([scores[~flagged], scores[flagged]], bins=np.linspace(0, 1, 26), stacked=True,
               color=["tab:blue", "tab:red"], label=["not flagged", "flagged (ObjectLab)"])
    ax[0].set_xlabel("label quality (lower = more likely wrong)")
    ax[0].set_ylabel("images")
    ax[0].set_title(f"{len(scores)} audited images")
    ax[0].legend(fontsize=8)
    worst = table.head(k)
    y = np.arange(len(worst))
    for offset, (column, color) in zip((-0.27, 0.0, 0.27), (
            ("overlooked", "tab:orange"), ("swap", "tab:purple"), ("badloc", "tab:green")),
            strict=True):
        ax[1].barh(y + offset, worst[column].to_numpy(float), height=0.26, color=color,
                   label=column)
    ax[1].set_yticks(y, [f"{r}. {Path(p).name}" for r, p in zip(worst["rank"], worst["path"],
                                                                  strict=True)], fontsize=7)
    ax[1].invert_yaxis()
    ax[1].set_xlim(0, 1)
    ax[1].set_title(f"the {len(worst)} most likely mislabeled: the three parts")
    ax[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
