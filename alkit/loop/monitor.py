"""After deployment: monitor batches of production images, send some for relabeling, report
drift over time.

**A batch** (:func:`monitor_batch`, ``Project.monitor``, ``alkit monitor``):

1. read it (:func:`alkit.data.production.read_batch`: a folder, a list, a ``.txt`` / ``.csv`` /
   ``.parquet`` manifest, optional timestamps); timestamps must not go backwards, within the
   batch or against the previous batch;
2. check the deployed checkpoint (default: the last finished round's model) predicts the
   project's classes, in the project's order;
3. score the batch **and the labeled set** with it through the project's scoring cache
   (:func:`alkit.model.scoring.score_pool`: an image seen before, in any batch or the pool,
   costs no inference); unreadable and zero-byte images are skipped with their reason;
4. measure (:mod:`alkit.core.drift`): the flagged rate (most confident box below
   ``flag_threshold``), quantiles of every uncertainty measure, the predicted class mix, and
   drift against the labeled set: the far share of embeddings, the KS test of the images'
   top confidences, the total variation of the class mix;
5. choose ``budget`` images to send for relabeling with a strategy that needs no ground truth
   (:func:`alkit.run_query`, the labeled set as the labeled rows), by default among the
   flagged images; images whose content the ledger already holds are never
   sent;
6. record the batch, its images and the sent ones (registered as unlabeled images of the
   ``production`` split, apart from the original pool, which the next round's query sees) in
   **one ledger transaction**: a process killed anywhere before leaves nothing of the batch,
   and monitoring the batch again records it once. A batch already recorded under its name
   with the same images is returned as it is; with other images it is refused.

**The report** (:func:`monitor_report`): a table per batch, the class mix per batch, and the
change rule of :func:`alkit.core.drift.detect_changes` applied, the baseline restarting with
each newly deployed model; the reasons are said in words.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from alkit.core import drift
from alkit.core.uncertainty import TABLE_MEASURES
from alkit.data.datasets import DatasetError
from alkit.data.production import ProductionBatch, check_order, read_batch
from alkit.loop.ledger import LedgerError


def deployed_model(project) -> tuple[str, dict]:
    """``(weights, config)`` of the last finished round: the model in production by default,
    and the round config it was trained with (``{}`` when not recorded).

    Args:
        project: the :class:`alkit.Project`.
    """
    done = [r for r in project.ledger.rounds() if r.status == "done" and r.model_after]
    if not done:
        raise LedgerError("no finished round: train a model first (run_round), or give the "
                          "deployed checkpoint (model=, --model)")
    last = done[-1]
    return last.model_after, (last.metrics_after or {}).get("config") or {}


def check_classes(model_names, project_names, model: str | os.PathLike) -> None:
    """Raise ``ValueError`` when a checkpoint's classes are not the project's, in order.

    Args:
        model_names: the checkpoint's class names (index = class id).
        project_names: the project's class names.
        model: the checkpoint, named in the message.
    """
    if tuple(model_names) != tuple(project_names):
        shown = list(model_names)[:10] + (["..."] if len(model_names) > 10 else [])
        raise ValueError(f"{model}: its {len(model_names)} classes {shown} are not the "
                         f"project's {len(project_names)} {list(project_names)}; monitoring "
                         "compares predictions with the "
                         "labeled set class by class, so give a checkpoint trained on this "
                         "project's classes")


def content_key(paths, hashes) -> str:
    """SHA-256 over the batch's sorted ``(path, hash)`` pairs: the same images give the same
    key, whatever their order.

    Args:
        paths: (N,) image paths.
        hashes: (N,) their file hashes (None for a file that could not be read).
    """
    pairs = sorted(zip(map(str, paths), (h or "" for h in hashes), strict=True))
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()


def monitor_batch(project, source, *, name: str | None = None, timestamps=None,
                  model: str | os.PathLike | None = None, imgsz: int | None = None,
                  flag_threshold: float = 0.6, budget: int = 0,
                  strategy: str = "least_confidence", measure: str | None = None,
                  from_flagged: bool = True,
                  far_quantile: float = 0.95, random_state: int = 0,
                  scoring: dict | None = None, progress: bool = False) -> dict:
    """Monitor one batch of production images (see the module docstring); returns its record
    (a dict of the ``monitor_batches`` columns, ``stats`` decoded).

    Args:
        project: the :class:`alkit.Project`.
        source: a folder, a manifest (``.txt``, ``.csv``, ``.parquet``) or a list of paths.
        name: the batch's name (default: the folder's or manifest's name; a list needs one).
        timestamps: one ISO-8601 timestamp per image, for a list of paths.
        model: the deployed checkpoint (default: the last finished round's model).
        imgsz: the inference size (default: the size that model was trained at).
        flag_threshold: the simple rule: an image whose most confident box is below it is
            flagged (0.6).
        budget: images to send for relabeling from this batch (0: none).
        strategy: the selection strategy (:data:`alkit.STRATEGIES` or a strategy object); one
            that needs the model's class quality is refused (a batch has no ground truth).
        measure: replaces the strategy's per-box measure (``None``: its own).
        from_flagged: choose only among flagged images (else among every scored image).
        far_quantile: the level of the far-share threshold (:func:`alkit.core.drift.far_share`).
        random_state: the seed of the strategy's random draws.
        scoring: the scoring engine's keywords of :func:`alkit.model.scoring.score_pool`
            (``engine``, ``address``, ``actors``, ``gpus_per_actor``; default: this process).
        progress: a progress bar while scoring.

    Raises:
        DatasetError: a batch with no readable image (each skipped image and its reason
            named), timestamps out of order.
        ValueError: a checkpoint whose classes are not the project's.
    """
    from alkit.core.context import RoundContext
    from alkit.core.query import query, run_query
    from alkit.model import yolo
    from alkit.model.scoring import score_pool

    batch = source if isinstance(source, ProductionBatch) else read_batch(
        source, name=name, timestamps=timestamps)
    ledger = project.ledger
    if model is None:
        model, config = deployed_model(project)
    else:
        config = next(((r.metrics_after or {}).get("config") or {}
                       for r in reversed(project.ledger.rounds())
                       if r.model_after == str(model)), {})
    model = str(model)
    recipe = config.get("recipe") or {}
    imgsz = imgsz or recipe.get("imgsz")
    if imgsz is None:
        raise ValueError(f"{model}: the image size it was trained at is not recorded; give "
                         "imgsz= (--imgsz)")
    conf_threshold = (config.get("query") or {}).get("conf_threshold", 0.25)
    check_classes(yolo.class_names(model), project.spec.names, model)

    recorded = {b["name"]: b for b in ledger.monitor_batches()}
    labeled = [r["path"] for r in ledger.labeled()]
    if len(labeled) < 2:
        raise LedgerError("monitoring compares with the labeled set: it needs 2 labeled "
                          "images or more")
    scores = score_pool(model, [*labeled, *batch.paths], imgsz=imgsz,
                        conf_threshold=conf_threshold, device=recipe.get("device", "cpu"),
                        cache_dir=project.scores_dir, progress=progress, **(scoring or {}))
    skipped = dict(scores.skipped) | dict(batch.skipped)
    row_of = {p: i for i, p in enumerate(scores.paths)}
    key = content_key([*batch.paths, *(p for p, _ in batch.skipped)],
                      [scores.hashes[row_of[p]] if p in row_of else None
                       for p in [*batch.paths, *(p for p, _ in batch.skipped)]])
    if batch.name in recorded:
        if recorded[batch.name]["content_key"] != key:
            raise LedgerError(f"batch {batch.name!r} is already recorded with other images; "
                              "give this one another name")
        return recorded[batch.name]
    previous = [b["last_timestamp"] for b in recorded.values() if b["last_timestamp"]]
    check_order(batch.timestamps, batch.source,
                after=max(previous, key=datetime.fromisoformat) if previous else None)

    lab_rows = np.array([row_of[p] for p in labeled if p in row_of], dtype=np.int64)
    prod_rows = np.array([row_of[p] for p in batch.paths if p in row_of], dtype=np.int64)
    if not len(prod_rows):
        reasons = "; ".join(f"{Path(p).name}: {r}" for p, r in sorted(skipped.items())[:10])
        raise DatasetError(batch.source, f"no readable image in batch {batch.name!r} "
                           f"({len(skipped)} skipped: {reasons}); nothing recorded")
    if len(lab_rows) < 2:
        raise LedgerError("fewer than 2 labeled images could be read: nothing to compare with")

    stats = _measures(scores, prod_rows, lab_rows, flag_threshold, far_quantile)
    stats["scoring"] = {k: scores.meta["run"][k] for k in ("n_inferred", "n_cached")}
    flagged = scores.flagged(flag_threshold)
    # what may be sent: scored here, flagged (unless from_flagged is off), not in the ledger
    known = ledger.known_hashes(scores.hashes[prod_rows].tolist())
    candidate = np.zeros(len(scores), bool)
    for r in prod_rows:  # identical files in one batch: the first one only
        candidate[r] = (flagged[r] or not from_flagged) and scores.hashes[r] not in known
        known.add(scores.hashes[r])
    sent_paths: list[str] = []
    n_budget = min(int(budget), int(candidate.sum()))
    if n_budget > 0:
        chosen = query(strategy, measure=measure, budget=n_budget,
                       conf_threshold=scores.conf_threshold)
        picked = run_query(chosen, scores, RoundContext.of(scores, labeled=~candidate),
                           random_state=random_state)
        sent_paths = [scores.paths[i] for i in picked.indices]
    stats["selection"] = {"strategy": getattr(strategy, "name", strategy), "measure": measure,
                          "budget": int(budget),
                          "from_flagged": from_flagged, "n_candidates": int(candidate.sum())}
    rows, sent = [], []
    for position, (path, stamp) in enumerate(zip(batch.paths, batch.timestamps, strict=True)):
        r = row_of.get(path)
        if path in sent_paths:
            sent.append(position)
        rows.append({"path": path, "hash": None if r is None else str(scores.hashes[r]),
                     "timestamp": stamp, "status": "skipped" if r is None else "scored",
                     "reason": skipped.get(path) if r is None else None,
                     "max_confidence": None if r is None else float(scores.max_confidence[r]),
                     "flagged": None if r is None else bool(flagged[r])})
    rows += [{"path": p, "hash": None, "timestamp": None, "status": "skipped", "reason": why,
              "max_confidence": None, "flagged": None} for p, why in batch.skipped]
    stamps = [s for s in batch.timestamps if s]
    ledger.record_monitor_batch({
        "name": batch.name, "content_key": key, "model": model,
        "model_hash": scores.meta["model_hash"],
        "first_timestamp": min(stamps) if stamps else None,
        "last_timestamp": max(stamps) if stamps else None,
        "n_images": len(rows), "n_scored": len(prod_rows),
        "n_skipped": len(rows) - len(prod_rows), "n_flagged": int(flagged[prod_rows].sum()),
        "n_sent": len(sent), "flag_threshold": float(flag_threshold), "stats": stats,
    }, rows, sent)
    return {b["name"]: b for b in ledger.monitor_batches()}[batch.name]


def _measures(scores, prod_rows, lab_rows, flag_threshold: float, far_quantile: float) -> dict:
    """The batch's measures (rows of ``scores``: the batch's and the labeled set's)."""
    table = scores.table
    flagged = scores.flagged(flag_threshold)
    far, far_threshold = drift.far_share(scores.embeddings[prod_rows],
                                         scores.embeddings[lab_rows], quantile=far_quantile)
    ks, ks_p = drift.ks_2samp(scores.max_confidence[prod_rows], scores.max_confidence[lab_rows])
    mix_prod = _predicted_mix(scores, prod_rows)
    mix_lab = _predicted_mix(scores, lab_rows)
    columns = ["max_confidence", "n_boxes", *TABLE_MEASURES]
    return {
        "flagged_rate": float(flagged[prod_rows].mean()),
        "far_share": far, "far_threshold": far_threshold, "far_quantile": far_quantile,
        "confidence_ks": ks, "confidence_ks_p": ks_p,
        "class_mix": mix_prod.tolist(), "class_mix_labeled": mix_lab.tolist(),
        "class_mix_tv": drift.total_variation(mix_prod, mix_lab),
        "n_labeled": len(lab_rows),
        "quantile_levels": list(drift.QUANTILES),
        "quantiles": {c: drift.quantiles(table[c].to_numpy()[prod_rows]) for c in columns},
    }


def _predicted_mix(scores, rows) -> np.ndarray:
    """(C,) the class mix of the predicted boxes (at the scores' threshold) of ``rows``."""
    ids = [scores.box_class[scores.box_offsets[r]:scores.box_offsets[r + 1]][
        scores.box_confidence[scores.box_offsets[r]:scores.box_offsets[r + 1]]
        >= scores.conf_threshold] for r in rows]
    ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    return drift.class_mix(ids, scores.n_classes)


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class MonitorReport:
    """The monitored batches over time.

    Attributes:
        table: a pandas DataFrame, one row per batch in order: ``batch`` (number), ``name``,
            ``model`` (the first 8 characters of the deployed model's hash), ``first_timestamp``,
            ``n_images``, ``n_scored``, ``n_skipped``, ``n_flagged``, ``n_sent``,
            ``flagged_rate``, ``far_share``, ``confidence_ks``, ``confidence_ks_p``,
            ``class_mix_tv``, ``n_inferred``, ``changed`` (bool) and ``reasons`` (the
            change rule's sentences joined with ``"; "``).
        class_mix: a DataFrame, one row per batch, one column per class: the share of each
            class among the batch's predicted boxes.
        rule: the :class:`alkit.core.drift.ChangeRule` applied.
    """

    table: object
    class_mix: object
    rule: drift.ChangeRule

    @property
    def changed(self) -> list[int]:
        """The numbers of the batches marked as changed."""
        return [int(b) for b in self.table.loc[self.table["changed"], "batch"]]

    def summary(self) -> str:
        """The report in a few lines per batch, changed batches marked with their reasons."""
        if not len(self.table):
            return "no batch monitored yet"
        lines = ["batch  name                 images skipped flagged  far   KS    TV   sent",
                 ]
        for row in self.table.itertuples():
            lines.append(f"{row.batch:>5}  {str(row.name)[:20]:<20} {row.n_images:>6} "
                         f"{row.n_skipped:>7} {row.flagged_rate:>6.0%} {row.far_share:>5.0%} "
                         f"{row.confidence_ks:>5.2f} {row.class_mix_tv:>5.2f} {row.n_sent:>5}"
                         + ("  CHANGED" if row.changed else ""))
            if row.changed:
                lines.append(f"       -> {row.reasons}")
        return "\n".join(lines)

    def plot(self, axes=None):
        """The flagged rate, the drift measures and the class mix per batch
        (:func:`alkit.viz.plots.plot_monitor`); ``axes``: three matplotlib axes, or None for a
        new figure. Returns the figure."""
        from alkit.viz.plots import plot_monitor

        return plot_monitor(self.table, self.class_mix, axes=axes)


def monitor_report(project, *, rule: drift.ChangeRule | None = None) -> MonitorReport:
    """The :class:`MonitorReport` of every batch recorded in ``project``'s ledger.

    Args:
        project: the :class:`alkit.Project`.
        rule: the change rule's thresholds (see ``docs/monitoring.md``); None: the defaults.
    """
    import pandas as pd

    rule = rule or drift.ChangeRule()
    batches = project.ledger.monitor_batches()
    series = {name: [b["stats"][name] for b in batches] for name in drift.RULE_MEASURES}
    changes = drift.detect_changes(series, groups=[b["model_hash"] for b in batches],
                                   labels=[f"batch {b['number']}" for b in batches], rule=rule)
    table = pd.DataFrame({
        "batch": [b["number"] for b in batches], "name": [b["name"] for b in batches],
        "model": [b["model_hash"][:8] for b in batches],
        "first_timestamp": [b["first_timestamp"] for b in batches],
        **{c: [b[c] for b in batches] for c in ("n_images", "n_scored", "n_skipped",
                                                "n_flagged", "n_sent")},
        **{m: [b["stats"][m] for b in batches] for m in (
            "flagged_rate", "far_share", "confidence_ks", "confidence_ks_p", "class_mix_tv")},
        "n_inferred": [b["stats"]["scoring"]["n_inferred"] for b in batches],
        "changed": [c.changed for c in changes],
        "reasons": ["; ".join(c.reasons) for c in changes],
    })
    mix = pd.DataFrame([b["stats"]["class_mix"] for b in batches],
                       columns=list(project.spec.names),
                       index=pd.Index([b["number"] for b in batches], name="batch"))
    return MonitorReport(table, mix, rule)
