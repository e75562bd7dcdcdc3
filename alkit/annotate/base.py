"""The annotator interface: how the loop gets labels for the images a round picked.

A round hands its waiting picks to an annotator in one :class:`AnnotationJob` (the images,
where they are staged, why they were picked, the class names, and a way to get the model's
boxes for them), then asks :meth:`Annotator.answer` for each image: its :class:`alkit.Labels`,
or ``None`` when it is not labeled yet. What is answered enters the labeled set (validated as a
whole first); what is not stays waiting, and the round waits with it until the next call.

Implementations: :class:`alkit.annotate.simulated.Oracle` (the benchmark's hidden labels, with
optional annotation noise), :class:`alkit.annotate.folder.FolderAnnotator` (YOLO label files
dropped into a folder), :class:`alkit.annotate.labelstudio.LabelStudioAnnotator` (a Label
Studio server), :class:`alkit.annotate.cvat.CvatFilesAnnotator` (CVAT by files) and the
notebook's box editor (:class:`alkit.ui.review.BoxEditorState`). A new tool is a new subclass;
the loop does not change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alkit.data.datasets import Labels


@dataclass(frozen=True)
class AnnotationItem:
    """One picked image waiting for its labels.

    Attributes:
        image_id: its id in the project's ledger.
        path: the original image path (what :meth:`Annotator.answer` is asked about).
        staged: its file name in the round's ``images/`` staging folder.
        rank, score, reason: where the selection ranked it, the score that ranked it and why.
        relabel: True for a labeled image sent back for relabeling
            (:meth:`alkit.Project.send_back`; ``reason`` says why, ``score`` is None): its
            answer replaces the old label.
    """

    image_id: int
    path: str
    staged: str
    rank: int
    score: float | None = None
    reason: str | None = None
    relabel: bool = False


@dataclass(frozen=True)
class AnnotationJob:
    """A round's request to an annotator.

    Attributes:
        round_number: the round.
        items: the picks still waiting for labels, in rank order.
        names: the dataset's class names (class id = index).
        round_dir: the round's staging folder (``images/``, ``labels/``, ``manifest.json``).
        project_name: a name for the project in an annotation tool.
        model_version: names the model whose boxes are offered as pre-annotations.
        measure: the uncertainty measure of the round (a score-table column).
        predictions: ``predictions(paths) -> PoolScores``: the model's boxes and scores for
            those images (cached scoring), or None when the round has no model.
    """

    round_number: int
    items: tuple[AnnotationItem, ...]
    names: tuple[str, ...]
    round_dir: Path
    project_name: str = "alkit"
    model_version: str = ""
    measure: str = "least_confidence_mean3"
    predictions: Callable[[Sequence[str]], object] | None = None

    @property
    def paths(self) -> list[str]:
        """The waiting images' paths, in rank order."""
        return [item.path for item in self.items]


class Annotator:
    """Base class of annotators (see the module docstring).

    Attributes:
        source: recorded in the ledger as the labels' source (``"oracle"``, ``"folder"``,
            ``"labelstudio"``, ``"widget"``, ...).
    """

    source = "annotator"

    def request(self, job: AnnotationJob) -> None:
        """Called once per round call before any :meth:`answer`, with every waiting pick:
        push tasks, pull finished work, read and validate files as a batch. Default: nothing.
        A batch with a bad label raises and nothing of it is imported.

        ``job``: the round's :class:`AnnotationJob` (its waiting items, class names, staging
        folder and, when the round has a model, a way to get the model's boxes)."""

    def answer(self, path: str) -> Labels | None:
        """The labels of ``path``, or None when it is not labeled yet."""
        raise NotImplementedError

    def annotated_by(self, path: str) -> str | None:
        """Who labeled ``path`` (recorded in the ledger), when known."""
        return None

    def describe(self) -> str:
        """One line saying where labels come from."""
        return type(self).__name__
