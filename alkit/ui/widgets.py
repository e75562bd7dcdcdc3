"""Review widgets for JupyterLab: views over the states of :mod:`alkit.ui.review`.

Each widget is an ``ipywidgets.VBox`` holding its ``state``; every button calls the state, so
a click is recorded in the project's ledger at once, and an error (an unknown class, a box
outside the image, an image already labeled) is shown in the widget in red, with nothing
written. Top-level CSS classes, for browser tests and styling:

=================  ======================  ==============================================
widget             CSS class               buttons
=================  ======================  ==============================================
ScoreExplorer      ``alkit-score-explorer``  (a measure dropdown and a threshold slider)
ReviewGrid         ``alkit-review-grid``     per card "Send to labeling", "Skip", "Flag";
                                           "Prev", "Next", "Finish review"
BoxEditor          ``alkit-box-editor``      "Submit", "Skip" (under a jupyter-bbox-widget)
EmbeddingMap       ``alkit-embedding-map``   (an SVG scatter: click a point, drag a rectangle)
Suspects           ``alkit-suspects``        per card "Accept", "Fix", "Send back"; "Prev",
                                           "Next"; "Fix" opens a BoxEditor under the cards
=================  ======================  ==============================================

Thumbnails are drawn with :func:`alkit.viz.plots.plot_image_grid` (the model's boxes, class and
confidence). Everything runs offline: the scatter is a small anywidget whose JavaScript is
inline below, and jupyter-bbox-widget ships its own.
"""

from __future__ import annotations

import html
import io
import os
from collections.abc import Callable
from pathlib import Path

import anywidget
import ipywidgets as W
import numpy as np
import traitlets
from jupyter_bbox_widget import BBoxWidget

from alkit.core.detections import Detections
from alkit.ui.review import (
    DECISIONS,
    GROUP_COLORS,
    GROUPS,
    SUSPECT_DECISIONS,
    BoxEditorState,
    EmbeddingMapState,
    ReviewItem,
    ReviewState,
    ScoreExplorerState,
    SuspectItem,
    SuspectsState,
)

BUTTONS = {"label": "Send to labeling", "skip": "Skip", "flag": "Flag"}
BUTTON_STYLES = {"label": "success", "skip": "warning", "flag": "danger"}
DECISION_COLORS = {"label": "#2ca02c", "skip": "#ff7f0e", "flag": "#d62728", None: "#cccccc"}
DECISION_TEXT = {"label": "sent to labeling", "skip": "skipped", "flag": "flagged",
                 None: "undecided"}
SUSPECT_BUTTONS = {"accept": "Accept", "fix": "Fix", "send_back": "Send back"}
SUSPECT_COLORS = {"accept": "#2ca02c", "fix": "#1f77b4", "send_back": "#ff7f0e",
                  None: "#cccccc"}
SUSPECT_TEXT = {"accept": "label accepted", "fix": "fixed", "send_back": "sent back",
                None: "undecided"}


def thumbnail_png(path: str | os.PathLike, detections: Detections | None = None,
                  names=None, *, title: str | None = None, size: float = 2.4,
                  dpi: int = 80) -> bytes:
    """PNG bytes of one image with its boxes drawn and labeled ``"<class> <confidence>"``
    (``size`` inches at ``dpi``: 192 px by default).

    Args:
        path: the image file.
        detections: the boxes to draw (pixel ``xyxy`` (x1, y1, x2, y2) of the original image,
            ``class_id``, ``confidence``); None: no boxes.
        names: the class names (class id = index); None: labels show the confidence only.
        title: a title above the image; None: none.
        size: the figure's size in inches.
        dpi: its resolution in dots per inch.
    """
    import matplotlib.pyplot as plt

    from alkit.viz.plots import plot_image_grid

    detections = Detections.empty() if detections is None else detections
    fig = plot_image_grid([path], boxes=[detections.xyxy], class_ids=[detections.class_id],
                          titles=[title] if title else None, ncols=1, size=size)
    colors = plt.get_cmap("tab10")
    for (x1, y1, _, _), c, conf in zip(detections.xyxy, detections.class_id,
                                       detections.confidence, strict=True):
        label = f"{names[int(c)]} {conf:.2f}" if names is not None else f"{conf:.2f}"
        fig.axes[0].text(x1, y1 - 1, label, fontsize=7, color=colors(int(c) % 10), va="bottom")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def label_and_prediction_png(path: str | os.PathLike, label: Detections,
                             prediction: Detections, names, *, size: float = 2.6,
                             dpi: int = 80) -> bytes:
    """PNG bytes of one image with its label (solid boxes, class name) and a model's
    prediction over it (dashed boxes, class name and confidence), in the class's color.

    Args:
        path: the image file.
        label: the labeled boxes (pixel ``xyxy``, ``class_id``).
        prediction: the predicted boxes (pixel ``xyxy``, ``class_id``, ``confidence``).
        names: the class names (class id = index).
        size: the figure's size in inches; dpi: its resolution.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from alkit.viz.plots import plot_image_grid

    fig = plot_image_grid([path], ncols=1, size=size)
    ax, colors = fig.axes[0], plt.get_cmap("tab10")
    for boxes, dashed in ((label, False), (prediction, True)):
        for (x1, y1, x2, y2), c, conf in zip(boxes.xyxy, boxes.class_id, boxes.confidence,
                                             strict=True):
            color = colors(int(c) % 10)
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color=color,
                                   linewidth=1.2, linestyle="--" if dashed else "-"))
            text = f"{names[int(c)]} {conf:.2f}" if dashed else names[int(c)]
            ax.text(x1, y2 + 1 if dashed else y1 - 1, text, fontsize=6, color=color,
                    va="top" if dashed else "bottom")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def _error_html(error: BaseException) -> str:
    text = html.escape(str(error), quote=False).replace("\n", "<br>")
    return f"<div style='color:#d62728'><b>{type(error).__name__}</b>: {text}</div>"


def _ok_html(text: str) -> str:
    return f"<div style='color:#2ca02c'>{html.escape(text, quote=False)}</div>"


def _guarded(message: W.HTML, action: Callable):
    """``action`` for a button or observer: an exception is shown in ``message`` (where a
    person sees it) instead of vanishing into the browser's log; the result is returned."""

    def run(*_):
        try:
            message.value = ""
            return action()
        except Exception as error:  # a UI boundary: show every failure
            message.value = _error_html(error)
            return None

    return run


def _image_widget(png: bytes, width_px: int) -> W.Image:
    return W.Image(value=png, format="png", layout=W.Layout(width=f"{width_px}px"))


# --------------------------------------------------------------------------- score explorer


class ScoreExplorer(W.VBox):
    """A histogram of one score column of the pool with a threshold slider, the number of
    images the threshold flags, and a strip of the images nearest the threshold.

    Args:
        state: the :class:`alkit.ui.review.ScoreExplorerState` it draws and drives.
        thumb_px: the displayed width of each thumbnail in the strip, in pixels.
    """

    def __init__(self, state: ScoreExplorerState, *, thumb_px: int = 140):
        self.state, self.thumb_px = state, thumb_px
        self.measure = W.Dropdown(options=state.columns, value=state.column, description="measure")
        self.threshold = W.FloatSlider(description="threshold", continuous_update=False,
                                       readout_format=".2f")
        self.summary, self.message = W.HTML(), W.HTML()
        self.histogram = W.Image(format="png", layout=W.Layout(width="560px"))
        self.strip = W.HBox(layout=W.Layout(flex_flow="row wrap"))
        self._thumbs: dict[tuple[int, str], bytes] = {}
        self._syncing = False
        super().__init__([W.HBox([self.measure, self.threshold]), self.summary, self.histogram,
                          W.HTML("<b>Images nearest the threshold</b>"), self.strip,
                          self.message])
        self.add_class("alkit-score-explorer")
        self.measure.observe(_guarded(self.message, self._on_measure), names="value")
        self.threshold.observe(_guarded(self.message, self._on_threshold), names="value")
        self._sync_slider()
        self.refresh()

    def _sync_slider(self) -> None:
        low, high = self.state.value_range
        self._syncing = True
        try:
            with self.threshold.hold_trait_notifications():
                self.threshold.max = max(high, self.threshold.min)
                self.threshold.min, self.threshold.max = low, high
                self.threshold.step = (high - low) / 200
                self.threshold.value = min(max(self.state.threshold, low), high)
        finally:
            self._syncing = False

    def _on_measure(self) -> None:
        self.state.set_column(self.measure.value)
        self._sync_slider()
        self.refresh()

    def _on_threshold(self) -> None:
        if not self._syncing:
            self.set_threshold(self.threshold.value)

    def set_threshold(self, threshold: float) -> None:
        """Move the threshold (as the slider does) and redraw."""
        self.state.threshold = float(threshold)
        self.refresh()

    def refresh(self) -> None:
        """Redraw the summary, the histogram and the strip from the state."""
        self.summary.value = f"<b>{html.escape(self.state.summary())}</b>"
        self.histogram.value = self._histogram_png()
        self.strip.children = [self._thumb(int(i)) for i in self.state.nearest()]

    def _histogram_png(self) -> bytes:
        import matplotlib.pyplot as plt

        from alkit.viz.plots import plot_measure_histograms

        fig = plot_measure_histograms(self.state.table, [self.state.column], ncols=1,
                                      flag_threshold=None)
        ax = fig.axes[0]
        ax.set_xlim(*self.state.value_range)
        ax.axvline(self.state.threshold, color="tab:red", lw=1.5)
        ax.set_title(self.state.summary(), fontsize=8)
        fig.set_size_inches(6, 2.6)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        return buffer.getvalue()

    def _thumb(self, row: int) -> W.Image:
        key = (row, self.state.column)
        if key not in self._thumbs:
            scores = self.state.scores
            self._thumbs[key] = thumbnail_png(
                scores.paths[row], scores.detections(row), scores.names,
                title=f"{self.state.column} {self.state.values[row]:.2f}", size=2.0)
        return _image_widget(self._thumbs[key], self.thumb_px)


# --------------------------------------------------------------------------- review grid


class _Card:
    """One slot of the review grid's page: a thumbnail, a caption and three buttons."""

    def __init__(self, grid: ReviewGrid, slot: int, thumb_px: int):
        self.image = W.Image(format="png", layout=W.Layout(width=f"{thumb_px}px"))
        self.caption = W.HTML(layout=W.Layout(width=f"{thumb_px}px"))
        widths = {"label": thumb_px, "skip": thumb_px // 2 - 2, "flag": thumb_px // 2 - 2}
        self.buttons = {d: W.Button(description=BUTTONS[d], tooltip=BUTTONS[d],
                                    layout=W.Layout(width=f"{widths[d]}px")) for d in DECISIONS}
        for decision, button in self.buttons.items():
            button.on_click(_guarded(grid.message,
                                     lambda d=decision: grid.decide_slot(slot, d)))
        self.box = W.VBox([self.image, self.caption, self.buttons["label"],
                           W.HBox([self.buttons["skip"], self.buttons["flag"]])],
                          layout=W.Layout(padding="4px"))
        self.box.add_class("alkit-review-card")

    def show(self, item: ReviewItem, png: bytes) -> None:
        """Fill the slot with ``item``."""
        self.image.value = png
        labeled = item.state == "labeled"
        status = "labeled" if labeled else DECISION_TEXT[item.decision]
        score = "-" if item.score is None else f"{item.score:.3f}"
        self.caption.value = (
            f"<b>#{item.rank}</b> {html.escape(item.name)}<br>score {score}<br>"
            f"<span style='font-size:85%'>{html.escape(item.reason or '')}</span><br>"
            f"<b style='color:{DECISION_COLORS[item.decision]}'>{status}</b>")
        for decision, button in self.buttons.items():
            button.button_style = BUTTON_STYLES[decision] if item.decision == decision else ""
            button.disabled = labeled
        self.box.layout.border = f"3px solid {DECISION_COLORS[item.decision]}"
        for decision in (*DECISIONS, None):
            self.box.remove_class(f"alkit-decision-{decision or 'none'}")
        self.box.add_class(f"alkit-decision-{item.decision or 'none'}")


class _PagedCards:
    """Paging and redrawing shared by :class:`ReviewGrid` and :class:`Suspects`: a ``state``
    with pages (:class:`alkit.ui.review.Pages`, ``reload``, ``counts_text``), ``cards`` with
    ``show(item, png)`` and ``box``, and the ``grid``, ``page_label``, ``prev_button``,
    ``next_button``, ``counts`` widgets; ``_thumb(item)`` draws a card's image."""

    def show_page(self, page: int) -> None:
        """Go to page ``page`` (0-based, clamped) and draw it."""
        self.state.go_to(page)
        self.refresh()

    def refresh(self) -> None:
        """Redraw the page, the page label and the counts from the ledger (decisions and
        labels made elsewhere meanwhile show up)."""
        self.state.reload()
        items = self.state.page_items()
        for card, item in zip(self.cards, items, strict=False):
            card.show(item, self._thumb(item))
        self.grid.children = [card.box for card in self.cards[:len(items)]]
        self.page_label.value = f"&nbsp;{self.state.page_text()}&nbsp;"
        self.prev_button.disabled = self.state.page == 0
        self.next_button.disabled = self.state.page >= self.state.n_pages - 1
        self.counts.value = f"<b>{html.escape(self.state.counts_text())}</b>"


class ReviewGrid(_PagedCards, W.VBox):
    """A round's picks as cards (thumbnail with the model's boxes, rank, score, reason), a
    page at a time, with "Send to labeling", "Skip" and "Flag" on each card, the counts of
    each decision, and "Finish review" (the final list goes to the round's staging).

    Args:
        state: the :class:`alkit.ui.review.ReviewState` it draws and drives (its
            ``page_size`` is the number of cards per page).
        columns: how many cards per row.
        thumb_px: the displayed width of each card's thumbnail, in pixels.
    """

    def __init__(self, state: ReviewState, *, columns: int = 4, thumb_px: int = 200):
        self.state = state
        self.message = W.HTML()
        self.cards = [_Card(self, slot, thumb_px) for slot in range(state.page_size)]
        self.prev_button = W.Button(description="Prev", icon="arrow-left")
        self.next_button = W.Button(description="Next", icon="arrow-right")
        self.page_label = W.HTML()
        self.counts = W.HTML()
        self.finish_button = W.Button(description="Finish review", button_style="primary")
        self._thumbs: dict[int, bytes] = {}
        self.prev_button.on_click(_guarded(self.message, lambda: self.show_page(state.page - 1)))
        self.next_button.on_click(_guarded(self.message, lambda: self.show_page(state.page + 1)))
        self.finish_button.on_click(_guarded(self.message, self.finish))
        self.grid = W.GridBox(layout=W.Layout(
            grid_template_columns=f"repeat({columns}, {thumb_px + 20}px)", grid_gap="8px"))
        super().__init__([W.HBox([self.prev_button, self.page_label, self.next_button]),
                          self.counts, self.grid, self.finish_button, self.message])
        self.add_class("alkit-review-grid")
        self.refresh()

    def decide(self, image_id: int, decision: str) -> ReviewItem:
        """Record a decision for a pick (what its button does) and update the grid.

        ``image_id``: the pick's ledger image id; ``decision``: ``"label"``, ``"skip"`` or
        ``"flag"`` (see :meth:`alkit.ui.review.ReviewState.decide`). Returns the updated item.
        """
        item = self.state.decide(image_id, decision)
        self.refresh()
        return item

    def decide_slot(self, slot: int, decision: str) -> ReviewItem:
        """The decision of the button in card ``slot`` of the current page."""
        return self.decide(self.state.page_items()[slot].image_id, decision)

    def finish(self) -> dict:
        """Apply the review to the round's staging ("Finish review"); returns the manifest."""
        manifest = self.state.finish()
        review = manifest["review"]
        where = self.state.project.round_dir(self.state.number) / "manifest.json"
        self.message.value = _ok_html(
            f"Review finished: {review['label']} to label, {review['skip']} skipped, "
            f"{review['flag']} flagged, {review['undecided']} undecided. Manifest: {where}")
        return manifest

    def _thumb(self, item: ReviewItem) -> bytes:
        if item.image_id not in self._thumbs:
            self._thumbs[item.image_id] = thumbnail_png(item.path, item.detections,
                                                        self.state.names)
        return self._thumbs[item.image_id]


# --------------------------------------------------------------------------- box editor


class BoxCanvas(BBoxWidget):
    """jupyter-bbox-widget with small images drawn larger (at least 384 px wide, pixelated),
    so that boxes on 64-128 px images can be drawn by hand. Box coordinates stay in the
    image's own pixels."""

    _css = BBoxWidget._css + (
        ".alkit-box-canvas img{min-width:384px;image-rendering:pixelated}")


class BoxEditor(W.VBox):
    """Label images in the notebook: a jupyter-bbox-widget prefilled with the model's boxes
    (pixel coordinates; the class picker lists the dataset's names), "Submit" (writes the YOLO
    label file atomically and records it in the ledger), "Skip", and progress ("37 / 200").

    Args:
        state: the :class:`alkit.ui.review.BoxEditorState` it draws and drives (the images,
            their model boxes, where labels are written).
    """

    def __init__(self, state: BoxEditorState):
        self.state = state
        self.canvas = BoxCanvas(classes=list(state.names), label=state.names[0],
                                hide_buttons=True)
        self.canvas.add_class("alkit-box-canvas")
        self.submit_button = W.Button(description="Submit", button_style="success",
                                      icon="check")
        self.skip_button = W.Button(description="Skip", icon="arrow-right")
        self.progress, self.title, self.message = W.HTML(), W.HTML(), W.HTML()
        self.submit_button.on_click(_guarded(self.message, self.submit))
        self.skip_button.on_click(_guarded(self.message, self.skip))
        self.canvas.on_submit(_guarded(self.message, self.submit))  # keyboard, when shown
        self.canvas.on_skip(_guarded(self.message, self.skip))
        super().__init__([W.HBox([self.progress, self.title]), self.canvas,
                          W.HBox([self.skip_button, self.submit_button]), self.message])
        self.add_class("alkit-box-editor")
        self.show_current()

    def submit(self) -> Path:
        """Write the boxes on the canvas as the current image's label and move on (what
        "Submit" does); returns the label file. Bad boxes raise ValueError (the button
        shows it) and nothing is written."""
        n_boxes = len(self.canvas.bboxes)
        path = self.state.submit(self.canvas.bboxes)
        self.show_current()
        self.message.value = _ok_html(f"wrote {path.name} ({n_boxes} box"
                                      f"{'' if n_boxes == 1 else 'es'})")
        return path

    def skip(self) -> None:
        """Skip the current image (recorded as a ``skip`` decision) and move on."""
        self.state.skip()
        self.show_current()

    def show_current(self) -> None:
        """Put the current image and the model's boxes on the canvas."""
        item = self.state.current
        self.progress.value = f"<b>{self.state.progress_text()}</b>&nbsp;"
        self.submit_button.disabled = self.skip_button.disabled = item is None
        if item is None:
            self.title.value = "every image is done"
            self.canvas.layout.display = "none"
            return
        self.title.value = html.escape(f"{item.name} ({item.width} x {item.height})")
        self.canvas.image = str(item.path)
        self.canvas.bboxes = self.state.prefill()
        self.canvas.selected_index = -1


# --------------------------------------------------------------------------- suspects


class _SuspectCard:
    """One slot of the suspects view: the image with label and prediction, what is wrong,
    and "Accept", "Fix", "Send back"."""

    def __init__(self, view: Suspects, slot: int, thumb_px: int):
        self.image = W.Image(format="png", layout=W.Layout(width=f"{thumb_px}px"))
        self.caption = W.HTML(layout=W.Layout(width=f"{thumb_px}px"))
        shares = {"accept": 0.3, "fix": 0.24, "send_back": 0.4}
        self.buttons = {d: W.Button(description=SUSPECT_BUTTONS[d], tooltip=SUSPECT_BUTTONS[d],
                                    layout=W.Layout(width=f"{int(shares[d] * thumb_px)}px"))
                        for d in SUSPECT_DECISIONS}
        for decision, button in self.buttons.items():
            button.on_click(_guarded(view.message, lambda d=decision: view.act_slot(slot, d)))
        self.box = W.VBox([self.image, self.caption, W.HBox(list(self.buttons.values()))],
                          layout=W.Layout(padding="4px"))
        self.box.add_class("alkit-suspect-card")

    def show(self, item: SuspectItem, png: bytes) -> None:
        """Fill the slot with ``item``."""
        self.image.value = png
        status = SUSPECT_TEXT[item.decision]
        if item.relabel_open:
            status = "sent back: waits for the next round"
        elif item.changed:
            status = "label replaced since the audit"
        self.caption.value = (
            f"<b>{html.escape(item.headline())}</b><br>{html.escape(item.name)}<br>"
            f"<span style='font-size:85%'>{html.escape(item.issues or 'no suspect box')}</span>"
            f"<br><b style='color:{SUSPECT_COLORS[item.decision]}'>{status}</b>")
        for decision, button in self.buttons.items():
            button.button_style = "primary" if item.decision == decision else ""
        self.box.layout.border = f"3px solid {SUSPECT_COLORS[item.decision]}"
        for decision in (*SUSPECT_DECISIONS, None):
            self.box.remove_class(f"alkit-decision-{decision or 'none'}")
        self.box.add_class(f"alkit-decision-{item.decision or 'none'}")


class Suspects(_PagedCards, W.VBox):
    """The suspects of a label audit, most likely mislabeled first: each card shows the image
    with its label (solid boxes) and the audit model's prediction (dashed), the score and its
    three parts, what is wrong, and "Accept" (the label stands), "Fix" (a box editor opens
    under the cards with the label to correct; "Submit" replaces it, the old one kept as
    history) and "Send back" (the next round's annotation job carries the image with the
    reason).

    Args:
        state: the :class:`alkit.ui.review.SuspectsState` it draws and drives.
        columns: cards per row.
        thumb_px: the displayed width of each card's image, in pixels.
    """

    def __init__(self, state: SuspectsState, *, columns: int = 3, thumb_px: int = 240):
        self.state = state
        self.message, self.page_label, self.counts = W.HTML(), W.HTML(), W.HTML()
        self.cards = [_SuspectCard(self, slot, thumb_px) for slot in range(state.page_size)]
        self.prev_button = W.Button(description="Prev", icon="arrow-left")
        self.next_button = W.Button(description="Next", icon="arrow-right")
        self.prev_button.on_click(_guarded(self.message, lambda: self.show_page(state.page - 1)))
        self.next_button.on_click(_guarded(self.message, lambda: self.show_page(state.page + 1)))
        self.grid = W.GridBox(layout=W.Layout(
            grid_template_columns=f"repeat({columns}, {thumb_px + 20}px)", grid_gap="8px"))
        self.editor_area = W.VBox()
        self.editor: BoxEditor | None = None
        self._thumbs: dict[tuple[int, bytes], bytes] = {}
        title = W.HTML(f"<b>audit {state.number}</b> of round {state.report.round}: "
                       "label solid, prediction dashed")
        super().__init__([title, W.HBox([self.prev_button, self.page_label, self.next_button]),
                          self.counts, self.grid, self.editor_area, self.message])
        self.add_class("alkit-suspects")
        self.refresh()

    def act(self, image_id: int, decision: str):
        """What a card's button does for image ``image_id``: the ``decision`` ``"accept"``
        records it, ``"send_back"`` sends the image back with its issues as the reason,
        ``"fix"`` opens the box editor on it (returns the :class:`BoxEditor`; its "Submit"
        replaces the label and records ``fix``)."""
        if decision == "fix":
            return self.open_editor(image_id)
        item = (self.state.accept if decision == "accept" else self.state.send_back)(image_id)
        self.refresh()
        return item

    def act_slot(self, slot: int, decision: str):
        """The button ``decision`` of card ``slot`` of the current page."""
        return self.act(self.state.page_items()[slot].image_id, decision)

    def open_editor(self, image_id: int) -> BoxEditor:
        """A box editor under the cards over image ``image_id``, prefilled with its label."""
        self.editor = BoxEditor(self.state.editor([image_id]))
        self.editor.submit_button.on_click(lambda *_: self.refresh())
        self.editor_area.children = [self.editor]
        return self.editor

    def _thumb(self, item: SuspectItem) -> bytes:
        key = (item.image_id, item.label.xyxy.tobytes() + item.label.class_id.tobytes())
        if key not in self._thumbs:
            self._thumbs[key] = label_and_prediction_png(item.path, item.label,
                                                         item.prediction, self.state.names)
        return self._thumbs[key]


# --------------------------------------------------------------------------- embedding map

_SCATTER_ESM = r"""
const NS = "http://www.w3.org/2000/svg";
const PAD = 10;

function render({ model, el }) {
  const width = model.get("width"), height = model.get("height");
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("class", "alkit-scatter-svg");
  const dots = document.createElementNS(NS, "g");
  const band = document.createElementNS(NS, "rect");
  band.setAttribute("class", "alkit-scatter-band");
  band.style.display = "none";
  svg.append(dots, band);
  el.append(svg);
  let screen = [];
  let start = null;

  function draw() {
    const groups = model.get("groups"), colors = model.get("colors");
    const tips = model.get("tooltips");
    screen = model.get("points").map(([u, v]) =>
      [PAD + u * (width - 2 * PAD), height - PAD - v * (height - 2 * PAD)]);
    dots.replaceChildren();
    screen.forEach(([x, y], i) => {
      const dot = document.createElementNS(NS, "circle");
      dot.setAttribute("cx", x);
      dot.setAttribute("cy", y);
      dot.setAttribute("fill", colors[groups[i]] || "#888");
      if (tips[i]) {
        const tip = document.createElementNS(NS, "title");
        tip.textContent = tips[i];
        dot.append(tip);
      }
      dots.append(dot);
    });
    mark();
  }

  function mark() {
    const chosen = new Set(model.get("selected"));
    dots.childNodes.forEach((dot, i) => {
      dot.setAttribute("r", chosen.has(i) ? 5 : 3);
      dot.setAttribute("class", chosen.has(i) ? "selected" : "");
    });
  }

  function where(event) {
    const box = svg.getBoundingClientRect();
    return [event.clientX - box.left, event.clientY - box.top];
  }

  function choose(rows, add) {
    const next = add ? [...new Set([...model.get("selected"), ...rows])] : rows;
    model.set("selected", next.sort((a, b) => a - b));
    model.save_changes();
  }

  function move(event) {
    if (!start) return;
    const [x, y] = where(event);
    band.setAttribute("x", Math.min(x, start[0]));
    band.setAttribute("y", Math.min(y, start[1]));
    band.setAttribute("width", Math.abs(x - start[0]));
    band.setAttribute("height", Math.abs(y - start[1]));
    band.style.display = "";
  }

  function up(event) {
    window.removeEventListener("mousemove", move);
    window.removeEventListener("mouseup", up);
    if (!start) return;
    const [x, y] = where(event);
    const [x0, y0] = start;
    start = null;
    band.style.display = "none";
    if (Math.abs(x - x0) < 4 && Math.abs(y - y0) < 4) {
      let best = -1, bestDistance = 8;
      screen.forEach(([px, py], i) => {
        const distance = Math.hypot(px - x, py - y);
        if (distance <= bestDistance) { best = i; bestDistance = distance; }
      });
      choose(best < 0 ? [] : [best], event.shiftKey);
      return;
    }
    const [xa, xb] = [Math.min(x, x0), Math.max(x, x0)];
    const [ya, yb] = [Math.min(y, y0), Math.max(y, y0)];
    const rows = [];
    screen.forEach(([px, py], i) => {
      if (px >= xa && px <= xb && py >= ya && py <= yb) rows.push(i);
    });
    choose(rows, event.shiftKey);
  }

  svg.addEventListener("mousedown", (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    start = where(event);
    window.addEventListener("mousemove", move);
    window.addEventListener("mouseup", up);
  });
  model.on("change:selected", mark);
  model.on("change:points", draw);
  model.on("change:groups", draw);
  draw();
  return () => {
    window.removeEventListener("mousemove", move);
    window.removeEventListener("mouseup", up);
  };
}

export default { render };
"""

_SCATTER_CSS = """
.alkit-scatter-svg { border: 1px solid #ddd; background: #fff; cursor: crosshair;
                     user-select: none; }
.alkit-scatter-svg circle.selected { stroke: #000; stroke-width: 1.5px; }
.alkit-scatter-band { fill: rgba(31, 119, 180, 0.12); stroke: #1f77b4;
                      stroke-dasharray: 4 2; }
"""


class ScatterPlot(anywidget.AnyWidget):
    """A 2-D scatter in SVG (no external JavaScript): ``points`` in the unit square (y up),
    one colour index per point (``groups`` into ``colors``), hover ``tooltips``. Clicking a
    point selects it, dragging selects a rectangle, shift adds to the selection, clicking
    empty space clears it; the selected rows sync to Python as ``selected``."""

    _esm = _SCATTER_ESM
    _css = _SCATTER_CSS
    points = traitlets.List().tag(sync=True)
    groups = traitlets.List(traitlets.Int()).tag(sync=True)
    colors = traitlets.List(traitlets.Unicode()).tag(sync=True)
    tooltips = traitlets.List(traitlets.Unicode()).tag(sync=True)
    selected = traitlets.List(traitlets.Int()).tag(sync=True)
    width = traitlets.Int(560).tag(sync=True)
    height = traitlets.Int(420).tag(sync=True)


class EmbeddingMap(W.VBox):
    """The pool's embeddings in 2-D (PCA), labeled, picked and remaining images in different
    colours; the images of a clicked point or a dragged rectangle appear below the map.

    Args:
        state: the :class:`alkit.ui.review.EmbeddingMapState` it draws and drives.
        max_thumbnails: the most thumbnails of the selection shown (the rest are counted).
        thumb_px: the displayed width of each thumbnail, in pixels.
    """

    def __init__(self, state: EmbeddingMapState, *, max_thumbnails: int = 24,
                 thumb_px: int = 120):
        self.state, self.max_thumbnails, self.thumb_px = state, max_thumbnails, thumb_px
        self.scatter = ScatterPlot(
            points=np.round(state.unit, 5).tolist(), groups=state.group_index(),
            colors=list(GROUP_COLORS),
            tooltips=[f"{Path(p).name} ({g})" for p, g in zip(state.paths, state.groups,
                                                               strict=True)])
        counts = state.counts()
        self.legend = W.HTML(" ".join(
            f"<span style='color:{c}'>&#9679;</span> {g} ({counts[g]})&nbsp;"
            for g, c in zip(GROUPS, GROUP_COLORS, strict=True) if counts[g]))
        self.info, self.message = W.HTML(), W.HTML()
        self.thumbnails = W.HBox(layout=W.Layout(flex_flow="row wrap"))
        self._thumbs: dict[int, bytes] = {}
        self.scatter.observe(_guarded(self.message, self._on_selected), names="selected")
        super().__init__([self.legend, self.scatter, self.info, self.thumbnails, self.message])
        self.add_class("alkit-embedding-map")
        self.refresh()

    def select(self, rows) -> list[int]:
        """Select ``rows`` (as a click or a rectangle in the map does); returns them."""
        rows = self.state.select(rows)
        self.scatter.selected = rows
        self.refresh()
        return rows

    def select_rect(self, x0: float, y0: float, x1: float, y1: float) -> list[int]:
        """Select the points inside a rectangle of the unit square (y up); ``(x0, y0)`` and
        ``(x1, y1)`` are opposite corners, in any order. Returns the selected rows."""
        return self.select(self.state.in_rect(x0, y0, x1, y1))

    def _on_selected(self) -> None:
        self.state.select(self.scatter.selected)
        self.refresh()

    def refresh(self) -> None:
        """Show the selection's count and thumbnails (the first ``max_thumbnails``)."""
        rows = self.state.selected
        extra = len(rows) - self.max_thumbnails
        self.info.value = html.escape(self.state.selection_text()) + (
            f" (showing {self.max_thumbnails}, {extra} more)" if extra > 0 else "")
        self.thumbnails.children = [_image_widget(self._thumb(r), self.thumb_px)
                                    for r in rows[:self.max_thumbnails]]

    def _thumb(self, row: int) -> bytes:
        if row not in self._thumbs:
            path = self.state.paths[row]
            self._thumbs[row] = thumbnail_png(path, self.state.detections.get(path),
                                              self.state.names,
                                              title=f"{self.state.groups[row]}", size=1.8)
        return self._thumbs[row]
