"""Labels from YOLO files dropped into a folder (the ``folder`` annotator).

Two layouts:

* a round's own drop folder (the default): ``<project>/rounds/round_NNN/labels/``, one
  ``<staged stem>.txt`` per staged image (the staged name is ``<image id>_<file name>``);
* a folder of your own that mirrors the pool (``labels_dir=`` with ``pool_root=``):
  ``pool/a/b.jpg`` is labeled by ``labels_dir/a/b.txt``; an image outside ``pool_root`` by
  its stem.

An empty file means an image without objects; a missing file means "not labeled yet". Every
file present for the waiting images is parsed before any is answered: one fatal problem (a bad
class id, a box outside the image, a malformed line) raises :class:`alkit.DatasetError` listing
every problem with its file and line, and nothing of the batch is imported.
"""

from __future__ import annotations

import os
from pathlib import Path

from alkit.annotate.base import AnnotationJob, Annotator
from alkit.data import datasets
from alkit.data.datasets import DatasetError, Labels


class FolderAnnotator(Annotator):
    """YOLO label files in a folder (see the module docstring)."""

    source = "folder"

    def __init__(self, labels_dir: str | os.PathLike | None = None, *,
                 pool_root: str | os.PathLike | None = None):
        """``labels_dir``: a folder mirroring the pool under ``pool_root``; ``None``: each
        round's own ``labels/`` drop folder."""
        self.labels_dir = None if labels_dir is None else Path(labels_dir)
        if self.labels_dir is not None and not self.labels_dir.is_dir():
            raise DatasetError(self.labels_dir, "labels folder not found")
        self.pool_root = None if pool_root is None else Path(pool_root)
        self._answers: dict[str, Labels] = {}

    def label_path(self, path: str | os.PathLike, staged: str | None = None,
                   round_dir: Path | None = None) -> Path:
        """Where the label file of ``path`` is expected.

        Args:
            path: the original image path; with ``labels_dir`` set, its place under
                ``pool_root`` (or, outside it, its stem) names the ``.txt`` file.
            staged: the image's file name in the round's ``images/`` staging folder; needed
                (with ``round_dir``) for the round drop folder, ignored otherwise.
            round_dir: the round's staging folder, whose ``labels/`` holds the drop files.

        Returns:
            The expected ``.txt`` path (it may not exist yet).

        Raises:
            ValueError: the round drop folder is used (no ``labels_dir``) and ``staged`` or
                ``round_dir`` is missing.
        """
        if self.labels_dir is None:
            if staged is None or round_dir is None:
                raise ValueError("the round drop folder needs the staged name and round folder")
            return round_dir / "labels" / f"{Path(staged).stem}.txt"
        image = Path(path)
        try:
            relative = image.relative_to(self.pool_root) if self.pool_root else Path(image.name)
        except ValueError:
            relative = Path(image.name)
        return self.labels_dir / relative.with_suffix(".txt")

    def request(self, job: AnnotationJob) -> None:
        """Parse every file present for the job's images; refuse the batch on any problem."""
        parsed, problems = {}, []
        for item in job.items:
            path = self.label_path(item.path, item.staged, job.round_dir)
            if not path.is_file():
                continue
            labels, issues = datasets.parse_label_text(path.read_text(encoding="utf-8"),
                                                       len(job.names))
            problems += [f"{path}:{p.line}: {p.message}" for p in issues if p.fatal]
            parsed[item.path] = labels
        if problems:
            where = self.labels_dir or job.round_dir / "labels"
            raise DatasetError(where, "annotations rejected, nothing imported:\n"
                               + "\n".join(problems))
        self._answers = parsed

    def answer(self, path: str) -> Labels | None:
        """The parsed labels of ``path`` from the last :meth:`request`, or None."""
        return self._answers.get(str(path))

    def describe(self) -> str:
        """Where the files are expected."""
        if self.labels_dir is None:
            return "label files dropped into each round's labels/ folder"
        return f"your label files in {self.labels_dir}"
