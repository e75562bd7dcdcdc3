"""The label audit of a round: which of the labels a round bought are most likely wrong.

:meth:`alkit.Project.audit` (``alkit audit PROJECT``) takes the images labeled in one round,
the predictions of the model that did **not** train on them, and scores every label with
ObjectLab (:func:`alkit.core.audit.audit_labels`, cleanlab): per image a label-quality score and
its three parts (overlooked, swap, badloc), per suspect box what is wrong with the predicted box
beside the label. The result goes to the ledger in one transaction and comes back as an
:class:`AuditReport` (a table, the suspects in words, a plot).

Which predictions: round N's ``model_before``, the model round N selected with. It never saw
round N's labels (it trained on the labels up to round N - 1), so its predictions on those images
are out of sample, as ObjectLab requires (a model that trained on a label agrees with it, noise
included). They are already in the project's scoring cache: round N's selection scored the
whole pool with that model, so an audit reads the stored boxes and class scores and runs no
forward pass. Images the cache lacks (a cleared cache, another image size) are scored and the
report says how many. A committee trained without the audited images would give the same
out-of-sample property at the price of training; it is not needed here.

Bad input stops the audit before anything is written, with a message naming the image, the
label file and the line: no model yet, a round without imported labels, a corrupt label file, a
label class the model does not know. Images the scorer could not read are left out and listed;
images on which the model predicts nothing are audited (they score 1, which says nothing) and
listed in the notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alkit.core.audit import DEFAULTS, audit_labels
from alkit.core.boxes import box_iou
from alkit.data import datasets
from alkit.data.datasets import DatasetError
from alkit.loop.ledger import LedgerError, RoundRecord


@dataclass(frozen=True)
class AuditReport:
    """One recorded label audit.

    Attributes:
        number: the audit's number in the ledger (0, 1, ...).
        round: the round whose labels were audited.
        model: the checkpoint whose predictions were used (the round's ``model_before``).
        table: pandas DataFrame, one row per audited image, most likely mislabeled first:
            ``rank``, ``image_id``, ``path``, ``score``, ``overlooked``, ``swap``, ``badloc``
            (lower = worse, in [0, 1]), ``flagged`` (cleanlab's issue rule), ``n_labels``,
            ``n_predictions``, ``n_suspects`` (flagged boxes) and ``issues`` (the flagged
            boxes in words, else the lowest-scoring box when it scores below 0.5; separated
            by `` | ``).
        boxes: pandas DataFrame, one row per box finding (:class:`alkit.core.audit.BoxIssues`
            with ``image_id``, ``path`` and class names): ``kind``, ``score``, ``flagged``,
            ``label_index``, ``label_class``, ``label_name``, ``label_x1`` .. ``label_y2``,
            ``pred_class``, ``pred_name``, ``pred_confidence``, ``pred_x1`` .. ``pred_y2``,
            ``iou`` (of the label and the predicted box).
        names: the class names.
        top: how many images :meth:`summary` and :meth:`plot` show (``None``: 10).
        n_inferred: images scored now because the scoring cache lacked them (0: none).
        skipped: ``(path, reason)`` of images that could not be read and were not audited.
        notes: what else to know (cache use, images without any prediction, the confidence
            threshold used).
        settings: the audit's settings as recorded (cleanlab's parameters, among them
            ``high_probability_threshold`` and ``high_probability_rule``; ``imgsz``).
    """

    number: int
    round: int
    model: str
    table: object
    boxes: object
    names: tuple[str, ...]
    top: int | None = None
    n_inferred: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def worst(self, k: int | None = None):
        """The ``k`` most likely mislabeled images (default :attr:`top`, else 10): the head
        of :attr:`table`."""
        return self.table.head(k or self.top or 10)

    def suspects(self, image_id: int):
        """The box findings of one image (``image_id``: the ledger's image id), lowest score
        first: rows of :attr:`boxes`."""
        rows = self.boxes[self.boxes["image_id"] == image_id]
        return rows.sort_values("score", kind="stable")

    def summary(self, k: int | None = None) -> str:
        """The audit in words: counts, notes, then the ``k`` worst images (default
        :attr:`top`, else 10) with their suspect boxes."""
        k = k or self.top or 10
        n = len(self.table)
        lines = [f"audit {self.number}: round {self.round}, {n} image(s), "
                 f"{int(self.table['flagged'].sum()) if n else 0} flagged by ObjectLab; "
                 f"predictions of {self.model}",
                 *(f"  note: {note}" for note in self.notes),
                 *(f"  skipped {path}: {reason}" for path, reason in self.skipped)]
        if n:
            lines.append(f"  the {min(k, n)} most likely mislabeled (score: lower = worse; "
                         "overlooked / swap / badloc):")
        for row in self.table.head(k).itertuples():
            lines.append(f"  {row.rank:>4}. {row.score:.3f}  ({row.overlooked:.2f} / "
                         f"{row.swap:.2f} / {row.badloc:.2f})  {row.path}")
            lines += [f"        {text}" for text in row.issues.split(" | ") if text]
        return "\n".join(lines)

    def plot(self, ax=None, *, k: int | None = None):
        """The score histogram (flagged images apart) and the ``k`` worst images' three
        parts (:func:`alkit.viz.plots.audit_scores`); ``ax``: two matplotlib axes to draw
        on (default: a new figure). Returns the figure."""
        from alkit.viz.plots import audit_scores

        return audit_scores(self.table, k=k or self.top or 10, ax=ax)


def audit_round(project, round: int | None = None, top: int | None = None, *,
                imgsz: int | None = None, high_probability_threshold: float | str = "precise",
                progress: bool = False) -> AuditReport:
    """Audit the labels imported in one round of ``project`` and record the audit (see the
    module docstring); what :meth:`alkit.Project.audit` runs.

    Args:
        project: the :class:`alkit.Project`.
        round: the round whose labels to audit (default: the last finished round after the
            seed round). A round still annotating or training can be audited once labels are
            in.
        top: how many of the worst images the report shows (default 10); every image is
            recorded.
        imgsz: the image size to predict at (default: the size the round's model was used at,
            from the round's recorded config; the scoring cache is keyed by it).
        high_probability_threshold: ``"precise"`` (default) or a number, as in
            :func:`alkit.core.audit.audit_labels`; the threshold used is in the audit's
            settings.
        progress: a progress bar if images must be scored.

    Raises:
        LedgerError: no model yet, no such round, a round without imported labels or without
            a model that did not train on them, or no audited image readable.
        DatasetError: a corrupt label file or a label class the model does not know, naming
            the file, the line and the image; nothing is written.
    """
    from alkit.model import yolo
    from alkit.model.scoring import score_pool

    ledger = project.ledger
    record = _choose_round(ledger.rounds(), round)
    number = record.number
    rows = [r for r in ledger.labeled() if r["round"] == number]
    if not rows:
        raise LedgerError(f"round {number} imported no labels: nothing to audit (labels "
                          "come in with run_round / alkit round, or alkit round --import)")
    if record.model_before is None:
        raise LedgerError(f"round {number} has no model that did not train on its labels")
    names = tuple(project.spec.names)
    truth = _read_labels(rows, len(names))
    model = record.model_before
    model_names = yolo.class_names(model)
    if number == 0 and tuple(model_names) != names:
        raise LedgerError("round 0's labels are the seed labels: every model of the project "
                          f"trained on them, and its start weights {model} do not know the "
                          "dataset's classes; audit the labels of a later round")
    _check_known_classes(rows, truth, names, model_names, model)
    config = _round_config(record)
    imgsz = imgsz or (config.get("recipe") or {}).get("imgsz")
    if imgsz is None:
        raise ValueError(f"round {number}: the image size its model was used at is not "
                         "recorded; pass imgsz=")
    device = (config.get("recipe") or {}).get("device", "cpu")
    scores = score_pool(model, [r["path"] for r in rows], imgsz=int(imgsz),
                        conf_threshold=(config.get("query") or {}).get("conf_threshold", 0.25),
                        device=device, cache_dir=project.scores_dir, progress=progress)
    by_path = {r["path"]: (r, labels) for r, labels in zip(rows, truth, strict=True)}
    if not len(scores):
        raise LedgerError(f"round {number}: no labeled image could be read: " + "; ".join(
            f"{p}: {why}" for p, why in scores.skipped))
    audited = [by_path[p] for p in scores.paths]
    labels = [lab.to_detections((int(h), int(w))) for (_, lab), h, w in
              zip(audited, scores.heights, scores.widths, strict=True)]
    predictions = [scores.detections(i, conf_threshold=0.0) for i in range(len(scores))]
    result = audit_labels(labels, predictions, len(model_names),
                          image_names=[r["path"] for r, _ in audited],
                          high_probability_threshold=high_probability_threshold)
    n_inferred = int(scores.meta["run"]["n_inferred"])
    notes = _notes(scores, result, n_inferred, model)
    ranking = result.ranking()
    rank_of = np.empty(len(ranking), np.int64)
    rank_of[ranking] = np.arange(1, len(ranking) + 1)
    image_rows = [{"image_id": r["image_id"], "rank": int(rank_of[i]),
                   "score": float(result.score[i]), "overlooked": float(result.overlooked[i]),
                   "swap": float(result.swap[i]), "badloc": float(result.badloc[i]),
                   "flagged": bool(result.flagged[i]), "n_labels": int(result.n_labels[i]),
                   "n_predictions": int(result.n_predictions[i]),
                   "label_hash": r["label_hash"]} for i, (r, _) in enumerate(audited)]
    box_rows = [{**b, "image_id": audited[b["image"]][0]["image_id"]}
                for b in result.boxes.to_rows()]
    settings = {**result.settings, "imgsz": int(imgsz), "n_cached": len(scores) - n_inferred,
                "skipped": [list(s) for s in scores.skipped], "notes": notes}
    audit_number = ledger.record_audit(
        {"round": number, "model": str(model),
         "model_hash": record.model_before_hash or yolo.weights_hash(model),
         "n_inferred": n_inferred, "settings": settings}, image_rows, box_rows)
    return load_report(project, audit_number, top=top)


def audit_predictions(project, number: int, paths):
    """The predictions audit ``number`` compared the labels with, for ``paths``
    (:class:`alkit.PoolScores`): its model at its image size, through the project's scoring
    cache (no forward pass for images the audit read). What the suspects view draws."""
    from alkit.model.scoring import score_pool

    audit = next((a for a in project.ledger.audits() if a["number"] == number), None)
    if audit is None:
        raise LedgerError(f"{project.dir}: no audit {number}")
    config = _round_config(project._round(audit["round"]))
    recipe = config.get("recipe") or {}
    return score_pool(audit["model"], [str(p) for p in paths], imgsz=audit["settings"]["imgsz"],
                      conf_threshold=(config.get("query") or {}).get("conf_threshold", 0.25),
                      device=recipe.get("device", "cpu"), cache_dir=project.scores_dir)


def load_report(project, number: int, *, top: int | None = None) -> AuditReport:
    """The :class:`AuditReport` of audit ``number`` as recorded in ``project``'s ledger;
    ``top``: how many worst images its summary and plot show."""
    import pandas as pd

    ledger = project.ledger
    found = [a for a in ledger.audits() if a["number"] == number]
    if not found:
        raise LedgerError(f"{project.dir}: no audit {number} in the ledger")
    audit = found[0]
    names = tuple(project.spec.names)
    images = ledger.audit_images(number)
    boxes = ledger.audit_boxes(number)
    path_of = {r["image_id"]: r["path"] for r in images}
    for b in boxes:
        b["path"] = path_of[b["image_id"]]
        b["label_name"] = _name(names, b["label_class"])
        b["pred_name"] = _name(names, b["pred_class"])
        label = [b[f"label_{c}"] for c in ("x1", "y1", "x2", "y2")]
        pred = [b[f"pred_{c}"] for c in ("x1", "y1", "x2", "y2")]
        b["iou"] = (float(box_iou(label, pred)[0, 0])
                    if None not in label and None not in pred else float("nan"))
    by_image: dict[int, list[dict]] = {}
    for b in boxes:
        by_image.setdefault(b["image_id"], []).append(b)
    for r in images:
        found_boxes = by_image.get(r["image_id"], [])
        suspects = [b for b in found_boxes if b["flagged"]] or found_boxes[:1]
        r["n_suspects"] = sum(b["flagged"] for b in found_boxes)
        r["issues"] = " | ".join(describe_box(b) for b in suspects
                                if b["flagged"] or b["score"] < 0.5)
    columns = ["rank", "image_id", "path", "score", "overlooked", "swap", "badloc", "flagged",
               "n_labels", "n_predictions", "n_suspects", "issues"]
    table = pd.DataFrame([{c: r[c] for c in columns} for r in images], columns=columns)
    box_columns = ["image_id", "path", "kind", "score", "flagged", "label_index", "label_class",
                   "label_name", "label_x1", "label_y1", "label_x2", "label_y2", "pred_class",
                   "pred_name", "pred_confidence", "pred_x1", "pred_y1", "pred_x2", "pred_y2",
                   "iou"]
    box_table = pd.DataFrame([{c: b[c] for c in box_columns} for b in boxes],
                             columns=box_columns)
    settings = audit["settings"]
    return AuditReport(number=number, round=audit["round"], model=audit["model"], table=table,
                       boxes=box_table, names=names, top=top, n_inferred=audit["n_inferred"],
                       skipped=[tuple(s) for s in settings.get("skipped", [])],
                       notes=list(settings.get("notes", [])), settings=dict(settings))


def describe_box(box: dict) -> str:
    """One box finding in words (a row of :attr:`AuditReport.boxes` as a dict): what is
    wrong, the label's box and the predicted box beside it."""
    def xyxy(prefix):
        return "[" + ", ".join(f"{box[f'{prefix}_{c}']:.0f}" for c in ("x1", "y1", "x2", "y2")
                               ) + "]"

    mark = "" if box["flagged"] else " (not flagged)"
    if box["kind"] == "overlooked":
        return (f"overlooked{mark}: the model sees a {box['pred_name']!r} "
                f"(p {box['pred_confidence']:.2f}) at {xyxy('pred')} that has no label "
                f"[score {box['score']:.3f}]")
    label = f"label {box['label_index'] + 1} {box['label_name']!r} at {xyxy('label')}"
    if box["kind"] == "swap":
        if box["pred_class"] is None:
            return (f"swap{mark}: {label} lies on a label of another class "
                    f"[score {box['score']:.3f}]")
        return (f"swap{mark}: {label} looks like a {box['pred_name']!r} "
                f"(p {box['pred_confidence']:.2f}, IoU {box['iou']:.2f}) "
                f"[score {box['score']:.3f}]")
    return (f"badloc{mark}: {label}; the model's box {xyxy('pred')} "
            f"(p {box['pred_confidence']:.2f}, IoU {box['iou']:.2f}) [score {box['score']:.3f}]")


def _name(names, class_id) -> str | None:
    if class_id is None:
        return None
    return names[class_id] if 0 <= class_id < len(names) else str(class_id)


def _choose_round(rounds: list[RoundRecord], requested: int | None) -> RoundRecord:
    if not rounds:
        raise LedgerError("no model yet, so nothing to audit with: run round 0 first "
                          "(run_round / alkit round) and audit the labels of a later round")
    if requested is None:
        done = [r for r in rounds if r.status == "done" and r.number >= 1]
        if not done:
            raise LedgerError("no finished round after the seed round: every model so far "
                              "trained on the seed labels, so none can audit them; audit a "
                              "round whose labels are in with round=N (--round N)")
        return done[-1]
    found = [r for r in rounds if r.number == int(requested)]
    if not found:
        raise LedgerError(f"no round {requested} in the ledger (rounds: "
                          f"{[r.number for r in rounds]})")
    return found[0]


def _round_config(record: RoundRecord) -> dict:
    """The config the round ran with (recorded with its metrics), else the previous one's."""
    for metrics in (record.metrics_after, record.metrics_before):
        config = (metrics or {}).get("config")
        if config:
            return config
    return {}


def _read_labels(rows: list[dict], n_classes: int) -> list:
    """Every audited label file, read whole; all corrupt ones reported at once."""
    labels, problems = [], []
    for r in rows:
        try:
            labels.append(datasets.read_labels(r["label_path"], n_classes))
        except DatasetError as error:
            problems.append((error, r["path"]))
    if problems:
        first, _ = problems[0]
        listing = "\n".join(f"{e} (image {image})" for e, image in problems)
        raise DatasetError(first.path, f"{len(problems)} corrupt label file(s), nothing "
                           f"audited:\n{listing}", line=first.line)
    return labels


def _check_known_classes(rows, truth, names, model_names, model) -> None:
    """Every label class must be one the model knows under the same name: objects are line j
    of the label files alkit writes (one object per line)."""
    known = [c < len(model_names) and model_names[c] == names[c] for c in range(len(names))]
    problems = []
    for r, labels in zip(rows, truth, strict=True):
        for j, c in enumerate(labels.class_ids.tolist(), start=1):
            if not known[c]:
                problems.append((Path(r["label_path"]), j,
                                 f"class {c} ({names[c]!r}) is unknown to the model {model} "
                                 f"(image {r['path']})"))
    if problems:
        path, line, _ = problems[0]
        listing = "\n".join(f"{p}:{j}: {m}" for p, j, m in problems[:20])
        more = f"\n(and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise DatasetError(path, f"labels with classes the model does not know (its classes: "
                           f"{list(model_names)}), nothing audited:\n{listing}{more}", line=line)


def _notes(scores, result, n_inferred: int, model) -> list[str]:
    notes = [f"{n_inferred} of {len(scores)} image(s) were not in the scoring cache of "
             f"{Path(str(model)).name} and were scored now" if n_inferred else
             "predictions read from the scoring cache (no forward pass)"]
    empty = [scores.paths[i] for i in np.flatnonzero(result.n_predictions == 0)]
    if empty:
        shown = ", ".join(empty[:10]) + (f" and {len(empty) - 10} more" if len(empty) > 10
                                         else "")
        notes.append(f"{len(empty)} image(s) without any prediction: their score (1.0) says "
                     f"nothing about their labels: {shown}")
    if scores.skipped:
        notes.append(f"{len(scores.skipped)} image(s) could not be read and were not audited")
    notes.append(_threshold_note(result.settings))
    return notes


def _threshold_note(settings: dict) -> str:
    """Which confidence let predictions reveal overlooked boxes and swaps, and why."""
    threshold = settings["high_probability_threshold"]
    note = ("overlooked boxes and swapped classes read from predictions of confidence >= "
            f"{threshold:.3f}")
    if settings["high_probability_rule"] != "precise":
        return note
    if threshold < DEFAULTS["high_probability_threshold"]:
        return note + " (where the model's predictions on these images are 95% precise)"
    return note + " (cleanlab's 0.95: the model is not 95% precise at any lower confidence)"
