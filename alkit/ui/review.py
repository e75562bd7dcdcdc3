"""The state behind the review widgets: plain objects that hold the data and the decisions.

:mod:`alkit.ui.widgets` draws these in JupyterLab; tests (and notebooks) drive them directly.
Nothing here imports ipywidgets or draws anything. Every decision goes to the project's ledger
the moment it is made (through :class:`alkit.loop.project.Project`), so a kernel that dies loses
nothing and a state built again later resumes where the last one stopped.

* :class:`ScoreExplorerState`: one uncertainty measure of a scored pool, a threshold, how many
  images it flags and which images sit nearest to it.
* :class:`ReviewState`: a round's picks, page by page, each sent to labeling, skipped
  (uninformative or a duplicate) or flagged (broken or out of scope).
* :class:`BoxEditorState`: the images to label, one at a time, prefilled with the model's
  boxes; a submit writes the YOLO label file and records it.
* :class:`EmbeddingMapState`: the pool's embeddings in 2-D (PCA), grouped into labeled,
  picked and remaining images, with selection by point or rectangle.
* :class:`SuspectsState`: the images of a label audit, most likely mislabeled first, with the
  label and the audit model's prediction; each label accepted, fixed in the box editor or
  sent back for relabeling in the next round.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alkit.annotate.base import Annotator
from alkit.core.detections import Detections
from alkit.data.datasets import Labels, xyxy_to_xywhn

DECISIONS = ("label", "skip", "flag")
FLAG_THRESHOLD = 0.6  # the classic rule: most confident detection below 0.6


def detections_by_path(scores) -> dict[str, Detections]:
    """``{path: Detections}`` for every image of a :class:`alkit.PoolScores` (boxes at or
    above its confidence threshold); ``{}`` for ``None``.

    ``scores``: the scored pool (pixel boxes (x1, y1, x2, y2) of the original images), or
    None."""
    if scores is None:
        return {}
    return {path: scores.detections(i) for i, path in enumerate(scores.paths)}


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` in pixels of the image file at ``path``, read from its header
    (alkit's one order for image sizes, as in :attr:`alkit.Detections.image_size`)."""
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
        return height, width


# --------------------------------------------------------------------------- score explorer


def score_columns(table) -> list[str]:
    """The columns of a ``PoolScores.table`` worth a histogram: ``max_confidence`` first, then
    every ``<measure>_<reduction>`` column (the float columns other than sizes)."""
    skip = {"height", "width", "n_boxes", "max_confidence"}
    floats = [c for c in table.columns if table[c].dtype.kind == "f" and c not in skip]
    return ["max_confidence", *floats]


class ScoreExplorerState:
    """One score column of a scored pool against a threshold.

    For ``max_confidence`` an image is flagged when the value is *below* the threshold (the
    classic rule, default 0.6); for the uncertainty measures (higher = more uncertain) when it
    is *at or above* it (default: the 75th percentile, the most uncertain quarter).

    Args:
        scores: a :class:`alkit.PoolScores`.
        column: the starting column (one of :attr:`columns`).
        threshold: the starting threshold (default as above).
        n_strip: how many images :meth:`nearest` returns.
    """

    def __init__(self, scores, column: str = "max_confidence", threshold: float | None = None,
                 *, n_strip: int = 8):
        self.scores = scores
        self.table = scores.table
        self.columns = score_columns(self.table)
        self.n_strip = n_strip
        self.set_column(column, threshold)

    def set_column(self, column: str, threshold: float | None = None) -> None:
        """Switch to ``column``, with ``threshold`` or the column's default one."""
        if column not in self.columns:
            raise ValueError(f"unknown score column {column!r}; expected one of {self.columns}")
        self.column = column
        self.values = self.table[column].to_numpy(dtype=np.float64)
        self.threshold = float(self.default_threshold() if threshold is None else threshold)

    def default_threshold(self) -> float:
        """0.6 for ``max_confidence``; the 75th percentile of any other column."""
        if self.lower_is_flagged:
            return FLAG_THRESHOLD
        return float(np.quantile(self.values, 0.75)) if len(self.values) else 0.0

    @property
    def lower_is_flagged(self) -> bool:
        """True for ``max_confidence`` (low = uncertain), False for the measures."""
        return self.column == "max_confidence"

    @property
    def value_range(self) -> tuple[float, float]:
        """(min, max) of the column, for a slider (0..1 for ``max_confidence``)."""
        if self.lower_is_flagged or not len(self.values):
            return 0.0, 1.0
        low, high = float(self.values.min()), float(self.values.max())
        return low, max(high, low + 1e-6)

    @property
    def flagged(self) -> np.ndarray:
        """(N,) bool: the images on the uncertain side of the threshold."""
        if self.lower_is_flagged:
            return self.values < self.threshold
        return self.values >= self.threshold

    @property
    def n_flagged(self) -> int:
        """How many images the threshold flags."""
        return int(self.flagged.sum())

    @property
    def rule(self) -> str:
        """The rule in words, e.g. ``"max_confidence < 0.60"``."""
        return f"{self.column} {'<' if self.lower_is_flagged else '>='} {self.threshold:.2f}"

    def summary(self) -> str:
        """E.g. ``"116 of 400 images (29%) flagged: max_confidence < 0.60"``."""
        n = len(self.values)
        share = 100.0 * self.n_flagged / n if n else 0.0
        return f"{self.n_flagged} of {n} images ({share:.0f}%) flagged: {self.rule}"

    def nearest(self, k: int | None = None) -> np.ndarray:
        """Row indices of the ``k`` (default ``n_strip``) images whose value is closest to
        the threshold, ordered by value."""
        k = self.n_strip if k is None else k
        closest = np.argsort(np.abs(self.values - self.threshold), kind="stable")[:k]
        return closest[np.argsort(self.values[closest], kind="stable")]


# --------------------------------------------------------------------------- review grid


@dataclass
class ReviewItem:
    """One pick of a round under review.

    Attributes:
        image_id, path: the image in the ledger.
        rank, score, reason: why the strategy picked it.
        detections: the model's boxes on it (empty when no scores were given).
        decision: ``"label"``, ``"skip"``, ``"flag"`` or None (undecided).
        state: the image's ledger state (``queried``, ``labeled``, ``skipped``, ...).
    """

    image_id: int
    path: str
    rank: int
    score: float | None
    reason: str | None
    detections: Detections
    decision: str | None = None
    state: str = "queried"

    @property
    def name(self) -> str:
        """The image's file name."""
        return Path(self.path).name


class Pages:
    """Page-by-page navigation over ``self.items`` (``page_size`` per page, ``page`` 0-based):
    the paging of :class:`ReviewState` and :class:`SuspectsState`."""

    items: list
    page: int
    page_size: int

    @property
    def n_pages(self) -> int:
        """How many pages the items fill."""
        return -(-len(self.items) // self.page_size)

    def go_to(self, page: int) -> None:
        """Show page ``page`` (0-based; clamped to the pages that exist)."""
        self.page = min(max(0, int(page)), self.n_pages - 1)

    def next_page(self) -> None:
        """One page on (stays on the last)."""
        self.go_to(self.page + 1)

    def prev_page(self) -> None:
        """One page back (stays on the first)."""
        self.go_to(self.page - 1)

    def page_items(self) -> list:
        """The items on the current page, in order."""
        start = self.page * self.page_size
        return self.items[start:start + self.page_size]

    def page_text(self) -> str:
        """E.g. ``"page 2 / 17"``."""
        return f"page {self.page + 1} / {self.n_pages}"


class ReviewState(Pages):
    """The picks of round ``number`` with their review decisions, page by page.

    Decisions already in the ledger are loaded (a review resumes where it stopped); every
    :meth:`decide` is written at once. :meth:`finish` applies the review to the round's
    staging (:meth:`alkit.loop.project.Project.finish_review`).

    Args:
        project: the :class:`alkit.loop.project.Project`.
        number: the round under review.
        scores: a :class:`alkit.PoolScores` covering the picks (the model's boxes), or None.
        page_size: cards per page.
    """

    def __init__(self, project, number: int, scores=None, *, page_size: int = 12):
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.project, self.number, self.page_size = project, number, page_size
        boxes = detections_by_path(scores)
        self.items = [ReviewItem(q["image_id"], q["path"], q["rank"], q["score"], q["reason"],
                                 boxes.get(q["path"], Detections.empty()))
                      for q in project.ledger.queries(number)]
        if not self.items:
            raise ValueError(f"round {number} has no picks to review (stage it first)")
        self._by_id = {item.image_id: item for item in self.items}
        self.page = 0
        self.reload()

    @property
    def names(self) -> tuple[str, ...]:
        """The dataset's class names."""
        return self.project.spec.names

    def reload(self) -> None:
        """Read decisions and image states from the ledger again."""
        decisions = self.project.review_decisions(self.number)
        states = {q["image_id"]: q["state"] for q in self.project.ledger.queries(self.number)}
        for item in self.items:
            item.decision = decisions.get(item.image_id)
            item.state = states[item.image_id]

    def item(self, image_id: int) -> ReviewItem:
        """The pick with ledger image id ``image_id`` (another raises ``KeyError``)."""
        if image_id not in self._by_id:
            raise KeyError(f"image {image_id} is not one of round {self.number}'s picks")
        return self._by_id[image_id]

    def decide(self, image_id: int, decision: str, note: str = "") -> ReviewItem:
        """Record ``decision`` (one of :data:`DECISIONS`) for a pick, in the ledger at once;
        returns the updated item.

        Args:
            image_id: the pick's ledger image id (not a pick: ``KeyError``).
            decision: ``"label"`` (send to labeling), ``"skip"`` or ``"flag"``.
            note: the reviewer's free-text note, kept with the decision (default empty).

        The project refuses an unknown decision (``ValueError``) and an image already labeled
        (:class:`alkit.loop.ledger.LedgerError`).
        """
        item = self.item(image_id)
        self.project.record_review(image_id, decision, round_number=self.number, note=note)
        item.decision = decision
        item.state = {"label": "queried", "skip": "skipped", "flag": "flagged"}[decision]
        return item

    def counts(self) -> dict[str, int]:
        """Picks per decision: ``label``, ``skip``, ``flag``, ``undecided``."""
        counts = dict.fromkeys((*DECISIONS, "undecided"), 0)
        for item in self.items:
            counts[item.decision or "undecided"] += 1
        return counts

    def counts_text(self) -> str:
        """E.g. ``"label 3 · skip 1 · flag 0 · undecided 196"``."""
        return " · ".join(f"{k} {v}" for k, v in self.counts().items())

    def finish(self) -> dict:
        """Apply the review to the round's staging; returns the new manifest."""
        return self.project.finish_review(self.number)


# --------------------------------------------------------------------------- box editor


def detections_to_bboxes(detections: Detections, names: Sequence[str], width: int,
                         height: int) -> list[dict]:
    """The model's boxes in jupyter-bbox-widget's format: one dict per box with pixel ``x``,
    ``y`` (top-left), ``width``, ``height`` and the class name as ``label``; boxes clipped to
    the ``width`` x ``height`` image.

    Args:
        detections: the model's boxes, pixel ``xyxy`` (x1, y1, x2, y2) with ``class_id``.
        names: the class names; a box's ``label`` is ``names[class id]``.
        width, height: the image's size in pixels.
    """
    xyxy = np.clip(detections.xyxy, 0, [width, height, width, height])
    return [{"x": float(x1), "y": float(y1), "width": float(x2 - x1), "height": float(y2 - y1),
             "label": names[int(c)]}
            for (x1, y1, x2, y2), c in zip(xyxy, detections.class_id, strict=True)]


def bboxes_to_labels(bboxes: Sequence[Mapping], names: Sequence[str], width: int,
                     height: int) -> Labels:
    """jupyter-bbox-widget boxes (pixel ``x``, ``y``, ``width``, ``height``, ``label``) of a
    ``width`` x ``height`` image -> YOLO :class:`Labels`. A box drawn right to left (negative
    size) is turned around. Raises ValueError naming every box with an unknown or missing
    class, a zero size, or an edge outside the image.

    Args:
        bboxes: the widget's boxes, pixel top-left ``x``, ``y``, ``width``, ``height`` and
            the class name as ``label``.
        names: the class names; a box's class id is the index of its ``label``.
        width, height: the image's size in pixels.

    Returns:
        The image's YOLO labels (normalized center and size), one per box, in order.
    """
    problems, class_ids, xyxy = [], [], []
    for number, box in enumerate(bboxes, start=1):
        x1, y1 = float(box["x"]), float(box["y"])
        x2, y2 = x1 + float(box["width"]), y1 + float(box["height"])
        x1, x2, y1, y2 = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
        label = box.get("label") or ""
        if label not in names:
            problems.append(f"box {number}: unknown class {label!r}; expected one of "
                            f"{', '.join(names)}")
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            problems.append(f"box {number}: zero size; drag to draw a box, or delete it")
        if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
            problems.append(f"box {number}: ({x1:g}, {y1:g}, {x2:g}, {y2:g}) lies outside the "
                            f"{width} x {height} image")
        class_ids.append(names.index(label) if label in names else -1)
        xyxy.append((x1, y1, x2, y2))
    if problems:
        raise ValueError("nothing written:\n" + "\n".join(problems))
    return Labels(np.array(class_ids, dtype=np.int64), xyxy_to_xywhn(np.array(xyxy), width,
                                                                     height))


_DONE_STATES = {"labeled": "labeled", "skipped": "skipped", "flagged": "flagged"}


@dataclass
class EditorItem:
    """One image of the box editor: where it is, its size, the model's boxes, and what became
    of it (None: waiting; ``"labeled"``, ``"skipped"`` or ``"flagged"``).

    Attributes:
        image_id: its id in the project's ledger.
        path: the image path.
        width, height: its size in pixels.
        detections: the boxes it starts from (pixel ``xyxy``): the model's (empty without
            scores), or the current label of an image to correct.
        done: None while waiting; else ``"labeled"``, ``"skipped"`` or ``"flagged"``.
        replace: True for a labeled image to correct (sent back for relabeling, or a suspect
            of an audit): a submit replaces its label (:meth:`alkit.Project.replace_label`,
            the old one kept as history).
        reason: why it is to be corrected (kept in the label history).
    """

    image_id: int
    path: str
    width: int
    height: int
    detections: Detections
    done: str | None = None
    replace: bool = False
    reason: str = ""

    @property
    def name(self) -> str:
        """The image's file name."""
        return Path(self.path).name


@dataclass
class BoxEditorState(Annotator):
    """Label a round's images one at a time, starting from the model's boxes.

    Build it with :meth:`from_project`. :meth:`submit` writes the YOLO label file atomically
    and records it at once (source ``widget``: nothing is lost if the kernel dies);
    :meth:`skip` records a ``skip`` decision (the image leaves the round, as a skip in the
    review grid does). Images labeled, skipped or flagged before are done already: the editor
    resumes at the first waiting one.

    It is the loop's annotator for a round labeled in the notebook: ``project.run_round(config,
    annotator=editor_state)`` trains once every image of the round is labeled or skipped, and
    waits otherwise (the editor's labels are in the ledger already, so :meth:`answer` has
    nothing left to hand over).

    Attributes:
        project: the :class:`alkit.loop.project.Project` the labels and decisions go to.
        number: the round being labeled.
        items: the images to label, as :class:`EditorItem`, in order.
        annotator: who labels (recorded in the ledger with each label), when known.
        position: the index in ``items`` of the current image (``len(items)`` once every image
            is done); when built, it is set to the first waiting image whatever is passed.
        audit: the audit whose suspects are corrected (:meth:`SuspectsState.editor`): each
            submit records a ``fix`` decision and no round; None: a round's annotation.
    """

    source = "widget"

    project: object
    number: int
    items: list[EditorItem]
    annotator: str | None = None
    position: int = field(default=0)
    audit: int | None = None

    def __post_init__(self):
        self.position = self._next_waiting(0)

    @classmethod
    def from_project(cls, project, number: int, scores=None, *, image_ids=None,
                     annotator: str | None = None) -> BoxEditorState:
        """The editor over round ``number``: the images given by ``image_ids``, or by default
        the picks ever sent to labeling in the review, in rank order (every pick when the
        round has no ``label`` decision), then the images its job carries back for
        relabeling (prefilled with their current label, which a submit replaces).
        ``scores`` (a :class:`alkit.PoolScores`) prefills the picks with the model's boxes.

        Args:
            project: the :class:`alkit.loop.project.Project`.
            number: the round.
            scores: see above; None: no prefilled boxes.
            image_ids: ledger image ids of the round's picks to label (another raises
                ``ValueError``); None: as above.
            annotator: who labels, recorded with each label; None: unknown.

        Each image's size is read from its file header; images labeled, skipped or flagged
        before start out done.
        """
        queries = project.ledger.queries(number)
        relabels = {r["image_id"]: r for r in project.waiting(number) if r["state"] == "relabel"}
        if image_ids is None:
            sent = {d["image_id"] for d in project.review_history(number)
                    if d["decision"] == "label"}
            image_ids = [q["image_id"] for q in queries if not sent or q["image_id"] in sent]
            image_ids += list(relabels)
        by_id = {q["image_id"]: q for q in queries}
        unknown = [i for i in image_ids if i not in by_id and i not in relabels]
        if unknown:
            raise ValueError(f"images {unknown} were not picked in round {number}")
        boxes = detections_by_path(scores)
        items = []
        for image_id in image_ids:
            if image_id in relabels:
                items.append(correction_item(project, image_id, relabels[image_id]["reason"]))
                continue
            path = by_id[image_id]["path"]
            height, width = image_size(path)
            done = _DONE_STATES.get(by_id[image_id]["state"])
            items.append(EditorItem(image_id, path, width, height,
                                    boxes.get(path, Detections.empty()), done))
        return cls(project, number, items, annotator=annotator)

    @property
    def names(self) -> tuple[str, ...]:
        """The dataset's class names (the class picker)."""
        return self.project.spec.names

    def _next_waiting(self, start: int) -> int:
        for offset in range(len(self.items)):
            position = (start + offset) % len(self.items)
            if self.items[position].done is None:
                return position
        return len(self.items)

    @property
    def current(self) -> EditorItem | None:
        """The image being labeled; None once every image is done."""
        return self.items[self.position] if self.position < len(self.items) else None

    @property
    def n_done(self) -> int:
        """Images labeled, skipped or flagged."""
        return sum(item.done is not None for item in self.items)

    def progress_text(self) -> str:
        """E.g. ``"37 / 200"``: images done out of all."""
        return f"{self.n_done} / {len(self.items)}"

    def prefill(self) -> list[dict]:
        """The current image's model boxes in jupyter-bbox-widget's format (``[]`` when
        done)."""
        item = self.current
        if item is None:
            return []
        return detections_to_bboxes(item.detections, self.names, item.width, item.height)

    def _require_current(self) -> EditorItem:
        if self.current is None:
            raise ValueError("every image is done: nothing left to submit or skip")
        return self.current

    def submit(self, bboxes: Sequence[Mapping]) -> Path:
        """Convert ``bboxes`` to YOLO labels, write the label file atomically, record it in
        the ledger (an image to correct: replace its label, the old one kept as history), and
        move on. Bad boxes raise ValueError and nothing is written. Returns the label
        file."""
        item = self._require_current()
        labels = bboxes_to_labels(bboxes, self.names, item.width, item.height)
        if item.replace:
            path = self.project.replace_label(
                item.path, labels, source="widget", annotator=self.annotator,
                reason=item.reason or "corrected in the box editor", audit=self.audit,
                round_number=None if self.audit is not None else self.number)
        else:
            path = self.project.store_label(item.path, labels, round_number=self.number,
                                            source="widget", annotator=self.annotator)
        item.done = "labeled"
        self.position = self._next_waiting(self.position + 1)
        return path

    def answer(self, path: str) -> Labels | None:
        """None, whatever ``path``: submitted labels entered the labeled set when
        submitted."""
        return None

    def annotated_by(self, path: str) -> str | None:
        """The editor's ``annotator`` name, the same for every ``path``."""
        return self.annotator

    def describe(self) -> str:
        """The notebook's box editor."""
        return "the notebook's box editor"

    def skip(self, note: str = "skipped in the box editor") -> None:
        """Record a ``skip`` decision for the current image and move on; ``note``: the
        reason kept with the decision in the ledger. An image to correct is only passed over
        (its label and its relabel request stay). Raises ValueError when every image is
        done."""
        item = self._require_current()
        if not item.replace:  # an image to correct keeps its label and its request
            self.project.record_review(item.image_id, "skip", round_number=self.number,
                                       note=note)
        item.done = "skipped"
        self.position = self._next_waiting(self.position + 1)


# --------------------------------------------------------------------------- suspects

SUSPECT_DECISIONS = ("accept", "fix", "send_back")


def current_label(project, image_id: int) -> tuple[Detections, int, int]:
    """``(boxes, width, height)`` of the current label of the labeled image ``image_id`` of
    ``project``: its label file's boxes in pixels (confidence 1) and the image's size from its
    file header."""
    from alkit.data import datasets

    row = project.ledger.label_of(image_id)
    if row is None:
        raise ValueError(f"image {image_id} has no label")
    height, width = image_size(project.ledger.image_path(image_id))
    labels = datasets.read_labels(row["label_path"], len(project.spec.names))
    return labels.to_detections((height, width)), width, height


def correction_item(project, image_id: int, reason: str) -> EditorItem:
    """An :class:`EditorItem` to correct the label of the labeled image ``image_id`` of
    ``project``: prefilled with its current label; a submit replaces it (``replace``),
    keeping ``reason``."""
    boxes, width, height = current_label(project, image_id)
    return EditorItem(image_id, project.ledger.image_path(image_id), width, height, boxes,
                      replace=True, reason=reason)


@dataclass
class SuspectItem:
    """One audited image: its label quality, what is wrong, and its boxes.

    Attributes:
        image_id, path: the image in the ledger.
        rank: 1 = the most likely mislabeled image of the audit.
        score: the label-quality score in [0, 1] (lower = worse) and ``overlooked``,
            ``swap``, ``badloc``: its three parts (:mod:`alkit.loop.audit`).
        flagged: cleanlab's issue rule.
        issues: the suspect boxes in words (``" | "``-separated; empty when none).
        label: the current label's boxes (pixels, confidence 1).
        prediction: the audit model's boxes (pixels, with confidence).
        decision: the latest ``accept`` / ``fix`` / ``send_back``, or None.
        relabel_open: True while a relabel request waits for the corrected label.
        changed: True when the label differs from the one audited (fixed or relabeled since).
    """

    image_id: int
    path: str
    rank: int
    score: float
    overlooked: float
    swap: float
    badloc: float
    flagged: bool
    issues: str
    label: Detections
    prediction: Detections
    decision: str | None = None
    relabel_open: bool = False
    changed: bool = False

    @property
    def name(self) -> str:
        """The image's file name."""
        return Path(self.path).name

    def headline(self) -> str:
        """E.g. ``"#1 0.031 (overlooked 0.03 · swap 1.00 · badloc 0.87)"``."""
        return (f"#{self.rank} {self.score:.3f} (overlooked {self.overlooked:.2f} · swap "
                f"{self.swap:.2f} · badloc {self.badloc:.2f})")


class SuspectsState(Pages):
    """The images of one label audit, most likely mislabeled first, each with its label and
    the audit model's prediction, page by page; a person accepts the label, fixes it in the
    box editor (:meth:`editor`, :meth:`fix`) or sends the image back for relabeling
    (:meth:`send_back`). Every decision goes to the ledger at once; a state built again
    resumes with them.

    Args:
        project: the :class:`alkit.loop.project.Project`.
        audit: the audit's number (default: the last one recorded).
        scores: a :class:`alkit.PoolScores` with the audit model's boxes on the images, or
            None: read from the project's scoring cache (the audit's model at its image
            size; no forward pass for the images it audited).
        page_size: cards per page.
        limit: only the ``limit`` worst images (None: every audited image).
    """

    def __init__(self, project, audit: int | None = None, scores=None, *, page_size: int = 6,
                 limit: int | None = None):
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        report = project.audit_report(audit)
        self.project, self.report, self.page_size, self.page = project, report, page_size, 0
        rows = project.ledger.audit_images(report.number)[:limit]
        issues = dict(zip(report.table["image_id"], report.table["issues"], strict=True))
        if scores is None:
            from alkit.loop.audit import audit_predictions

            scores = audit_predictions(project, report.number, [r["path"] for r in rows])
        predicted = detections_by_path(scores)
        self._audited_hash = {r["image_id"]: r["label_hash"] for r in rows}
        self._read_hash: dict[int, str] = {}  # the label hash each item's boxes were read at
        self.items = [SuspectItem(
            r["image_id"], r["path"], r["rank"], r["score"], r["overlooked"], r["swap"],
            r["badloc"], r["flagged"], issues.get(r["image_id"]) or "",
            Detections.empty(), predicted.get(r["path"], Detections.empty())) for r in rows]
        if not self.items:
            raise ValueError(f"audit {report.number} has no image to review")
        self._by_id = {item.image_id: item for item in self.items}
        self.reload()

    @property
    def number(self) -> int:
        """The audit's number."""
        return self.report.number

    @property
    def names(self) -> tuple[str, ...]:
        """The dataset's class names."""
        return self.project.spec.names

    def reload(self) -> None:
        """Read decisions, open relabel requests and current labels from the ledger again."""
        decisions = self.project.ledger.audit_decisions(self.number)
        waiting = {r["image_id"] for r in self.project.ledger.relabels(open_only=True)}
        for item in self.items:
            item.decision = (decisions.get(item.image_id) or {}).get("decision")
            item.relabel_open = item.image_id in waiting
            row = self.project.ledger.label_of(item.image_id)
            item.changed = row["label_hash"] != self._audited_hash[item.image_id]
            if self._read_hash.get(item.image_id) != row["label_hash"]:  # read once per label
                item.label = current_label(self.project, item.image_id)[0]
                self._read_hash[item.image_id] = row["label_hash"]

    def item(self, image_id: int) -> SuspectItem:
        """The audited image with ledger id ``image_id`` (another raises ``KeyError``)."""
        if image_id not in self._by_id:
            raise KeyError(f"image {image_id} is not in audit {self.number}")
        return self._by_id[image_id]

    def accept(self, image_id: int, note: str = "") -> SuspectItem:
        """The label of image ``image_id`` stands (recorded with ``note``); returns the
        updated item."""
        item = self.item(image_id)
        self.project.accept_label(image_id, audit=self.number, note=note)
        item.decision = "accept"
        return item

    def send_back(self, image_id: int, reason: str | None = None) -> SuspectItem:
        """Send image ``image_id`` back for relabeling with ``reason`` (default: its issues,
        else its score): the next round's annotation job carries it. Returns the updated
        item."""
        item = self.item(image_id)
        reason = reason or item.issues or f"audit {self.number}: label quality {item.score:.3f}"
        self.project.send_back(image_id, reason, audit=self.number)
        item.decision, item.relabel_open = "send_back", True
        return item

    def fix(self, image_id: int, bboxes: Sequence[Mapping], note: str = "") -> Path:
        """Replace the label of image ``image_id`` with ``bboxes`` (jupyter-bbox-widget's
        format, as the box editor gives them; bad boxes raise ValueError and nothing is
        written), keeping the old label as history with ``note`` as the reason (default: "fixed
        in the box editor"); records ``fix``. Returns the label file."""
        editor = self.editor([image_id])
        if note:
            editor.items[0].reason = note
        path = editor.submit(bboxes)
        self.reload()
        return path

    def editor(self, image_ids: Sequence[int] | None = None, *,
               annotator: str | None = None) -> BoxEditorState:
        """A :class:`BoxEditorState` over ``image_ids`` (default: the current page), each
        prefilled with its current label; a submit replaces the label and records ``fix``.
        ``annotator``: who corrects, recorded with each label."""
        ids = [i.image_id for i in self.page_items()] if image_ids is None else image_ids
        items = [correction_item(self.project, self.item(i).image_id,
                                 f"audit {self.number}: fixed in the box editor") for i in ids]
        return BoxEditorState(self.project, self.report.round, items, annotator=annotator,
                              audit=self.number)

    def counts(self) -> dict[str, int]:
        """Images per decision: ``accept``, ``fix``, ``send_back``, ``undecided``."""
        counts = dict.fromkeys((*SUSPECT_DECISIONS, "undecided"), 0)
        for item in self.items:
            counts[item.decision or "undecided"] += 1
        return counts

    def counts_text(self) -> str:
        """E.g. ``"accept 2 · fix 1 · send_back 1 · undecided 296"``."""
        return " · ".join(f"{k} {v}" for k, v in self.counts().items())


# --------------------------------------------------------------------------- embedding map

GROUPS = ("labeled", "picked", "remaining", "set aside")
GROUP_COLORS = ("#222222", "#d62728", "#c7c7c7", "#9467bd")


class EmbeddingMapState:
    """A 2-D projection of image embeddings with one group per image, and a selection.

    Args:
        embeddings_N_D: (N, D) embeddings.
        paths: N image paths.
        groups: N group names, each one of :data:`GROUPS`.
        xy_N_2: a projection to reuse; default PCA
            (:func:`alkit.core.selection.embedding_map_2d`).
        detections: ``{path: Detections}`` for the thumbnails of selected images (optional).
        names: the class names of those detections.
        random_state: for the projection.

    Attributes:
        xy: (N, 2) the projection; ``unit``: (N, 2) the same scaled into [0, 1] (what the
        view draws, y up); ``selected``: the selected rows.
    """

    def __init__(self, embeddings_N_D, paths: Sequence[str], groups: Sequence[str], *,
                 xy_N_2=None, detections: Mapping[str, Detections] | None = None,
                 names: Sequence[str] | None = None, random_state=0):
        from alkit.core.selection import embedding_map_2d

        embeddings = np.asarray(embeddings_N_D, dtype=np.float32)
        if not len(embeddings) == len(paths) == len(groups):
            raise ValueError(f"EmbeddingMapState: expected one path and one group per "
                             f"embedding row ({len(embeddings)}), got {len(paths)} and "
                             f"{len(groups)}")
        unknown = sorted(set(groups) - set(GROUPS))
        if unknown:
            raise ValueError(f"unknown groups {unknown}; expected {GROUPS}")
        self.paths, self.groups = [str(p) for p in paths], list(groups)
        self.detections, self.names = dict(detections or {}), names
        self.xy = (embedding_map_2d(embeddings, random_state=random_state) if xy_N_2 is None
                   else np.asarray(xy_N_2, dtype=np.float64).reshape(-1, 2))
        low = self.xy.min(axis=0) if len(self.xy) else np.zeros(2)
        span = np.ptp(self.xy, axis=0) if len(self.xy) else np.ones(2)
        self.unit = (self.xy - low) / np.where(span > 0, span, 1.0)
        self.selected: list[int] = []

    @classmethod
    def from_project(cls, project, number: int, scores, *, random_state=0) -> EmbeddingMapState:
        """The images of ``scores`` (for example :meth:`alkit.loop.project.Project.round_scores`)
        grouped by the ledger: labeled, picked in round ``number``, remaining (unlabeled, or
        not in the ledger), set aside (skipped or flagged, or waiting in another round).

        Args:
            project: the :class:`alkit.loop.project.Project` whose ledger groups the images.
            number: the round whose picks form the ``picked`` group.
            scores: the scored pool (its ``embeddings``, ``paths``, ``names`` and boxes).
            random_state: seeds the PCA projection.
        """
        states = {r["path"]: r["state"] for r in project.ledger.images()}
        picked = {q["path"] for q in project.ledger.queries(number)}
        groups = [_group(states.get(p), p in picked) for p in scores.paths]
        return cls(scores.embeddings, scores.paths, groups, detections=detections_by_path(scores),
                   names=scores.names, random_state=random_state)

    def group_index(self) -> list[int]:
        """Per image, the index of its group in :data:`GROUPS`."""
        return [GROUPS.index(g) for g in self.groups]

    def counts(self) -> dict[str, int]:
        """Images per group."""
        return {g: self.groups.count(g) for g in GROUPS}

    def in_rect(self, x0: float, y0: float, x1: float, y1: float) -> list[int]:
        """Rows whose ``unit`` point lies in the rectangle (corners in any order, edges
        included): ``(x0, y0)`` and ``(x1, y1)`` are opposite corners in the ``unit`` square
        ([0, 1], y up)."""
        (xa, xb), (ya, yb) = sorted((x0, x1)), sorted((y0, y1))
        u = self.unit
        inside = (u[:, 0] >= xa) & (u[:, 0] <= xb) & (u[:, 1] >= ya) & (u[:, 1] <= yb)
        return np.flatnonzero(inside).tolist()

    def nearest(self, x: float, y: float, radius: float = 0.03) -> list[int]:
        """The row nearest to the ``unit`` point (x, y) as a one-element list, or ``[]`` when
        none lies within ``radius``."""
        if not len(self.unit):
            return []
        distances = np.hypot(self.unit[:, 0] - x, self.unit[:, 1] - y)
        best = int(np.argmin(distances))
        return [best] if distances[best] <= radius else []

    def select(self, rows: Sequence[int]) -> list[int]:
        """Make ``rows`` the selection (sorted, unique); returns it."""
        rows = sorted({int(r) for r in rows})
        if rows and (rows[0] < 0 or rows[-1] >= len(self.paths)):
            raise IndexError(f"selection {rows}: rows must lie in [0, {len(self.paths)})")
        self.selected = rows
        return rows

    def select_rect(self, x0: float, y0: float, x1: float, y1: float) -> list[int]:
        """Select the rows inside a rectangle of the ``unit`` square; returns them.
        ``(x0, y0)`` and ``(x1, y1)``: opposite corners, in any order (see :meth:`in_rect`)."""
        return self.select(self.in_rect(x0, y0, x1, y1))

    def selection_text(self) -> str:
        """E.g. ``"3 selected: picked 2, remaining 1"``."""
        if not self.selected:
            return "nothing selected: click a point or drag a rectangle"
        groups = [self.groups[i] for i in self.selected]
        parts = [f"{g} {groups.count(g)}" for g in GROUPS if g in groups]
        return f"{len(self.selected)} selected: {', '.join(parts)}"


def _group(state: str | None, picked: bool) -> str:
    if state == "labeled":
        return "labeled"
    if picked and state == "queried":
        return "picked"
    return "remaining" if state in ("unlabeled", None) else "set aside"
