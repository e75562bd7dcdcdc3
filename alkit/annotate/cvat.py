"""CVAT by files (the ``cvat-files`` annotator): a task package out, CVAT's exports back in.

A CVAT server needs Docker, so alkit talks to CVAT through the files a person moves by hand:

* **out**: each round writes ``rounds/round_NNN/cvat/to_cvat/``: ``images.zip`` (the staged
  images, flat, named ``<image id>_<file name>``), ``images.txt`` (their absolute paths, for a
  CVAT that reads a shared folder), ``annotations.xml`` ("CVAT for images 1.1": the dataset's
  labels and the model's boxes as pre-annotations), ``labels.json`` (the labels for CVAT's
  label editor, "Raw" tab), ``picks.csv`` (rank, score and reason of each pick) and
  ``README.txt``. It is written once, on the round's first call (atomically:
  ``annotations.xml`` last), and left alone after that.
* **in**: CVAT's exports dropped into ``rounds/round_NNN/cvat/from_cvat/``: "CVAT for images
  1.1" (an ``.xml`` file, or a zip holding one) and "YOLO 1.1" or "Ultralytics YOLO Detection
  1.0" zips (``obj.names`` or ``data.yaml`` with ``.txt`` label files). Each export of a CVAT
  job covers the job's images; an image in an export is labeled (no boxes: no objects), an
  image in none is still waiting.

Import rules, the same as for dropped label files (:mod:`alkit.annotate.folder`): every file
in ``from_cvat/`` is read on every call and the whole batch is validated before anything is
answered; one problem (a label name the dataset does not have, a box outside the image, a
rotated box or a shape that is not a box, an image that is not a pick of the round, an image
whose size differs from the staged one, an image given two different answers) raises
:class:`alkit.DatasetError` listing every problem with its file and image, and nothing is
imported. Classes are mapped by name, never by position. Archives are read member by member
in memory (:func:`alkit.annotate.archive.read_zip_safely`: no member outside the archive, no
absolute path, no link, size limits); XML is parsed without DTDs or entities
(``defusedxml``). Picks already imported are skipped and counted (:attr:`CvatFilesAnnotator.
already_imported`), so the exports may stay in the folder.

The XML is built and read with :mod:`xml.etree.ElementTree`; its layout follows CVAT's own
format library, Datumaro, whose CVAT exporter and importer the tests run against alkit's files
in both directions (Datumaro's pins clash with ultralytics, so it is not a dependency).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import yaml
from defusedxml import ElementTree as SafeET
from PIL import Image

from alkit.annotate.archive import ArchiveError, read_zip_safely
from alkit.annotate.base import AnnotationJob, Annotator
from alkit.data import datasets, files
from alkit.data.datasets import DatasetError, Labels

#: Where a round's CVAT files live, under the round's staging folder.
CVAT_DIR = "cvat"
#: The task package alkit writes (``<round>/cvat/to_cvat``).
TO_CVAT = "to_cvat"
#: Where CVAT's exports are dropped (``<round>/cvat/from_cvat``).
FROM_CVAT = "from_cvat"
_LIST_FILES = {"train.txt", "val.txt", "valid.txt", "test.txt"}
_SHAPES = ("polygon", "polyline", "points", "ellipse", "mask", "cuboid", "skeleton", "tag")


@dataclass(frozen=True)
class CvatImage:
    """One image of a "CVAT for images 1.1" file.

    Attributes:
        name: the image's name in CVAT (a staged file name, ``<image id>_<file name>``).
        width, height: its size in pixels.
        class_ids: (n,) class ids, indexes into the dataset's names.
        xyxy: (n, 4) pixel boxes (x1, y1, x2, y2).
    """

    name: str
    width: int
    height: int
    class_ids: np.ndarray
    xyxy: np.ndarray


def cvat_xml(images: Sequence[CvatImage], names: Sequence[str], *, task_name: str = "alkit"
             ) -> bytes:
    """A "CVAT for images 1.1" annotation file: the labels, then one ``<image>`` per image
    with its boxes (``source="auto"``: a model's pre-annotations).

    Args:
        images: the images and their boxes (:class:`CvatImage`), in frame order.
        names: the dataset's class names (class id = index), written as the task's labels.
        task_name: the task's name in the file's ``<meta>``.

    Returns:
        The file's bytes (UTF-8, with an XML declaration).
    """
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    for tag, text in (("name", task_name), ("size", str(len(images))), ("mode", "annotation"),
                      ("start_frame", "0"), ("stop_frame", str(max(len(images) - 1, 0)))):
        ET.SubElement(task, tag).text = text
    labels = ET.SubElement(task, "labels")
    for name in names:
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = name
        ET.SubElement(label, "type").text = "rectangle"
        ET.SubElement(label, "attributes")
    for frame, image in enumerate(images):
        node = ET.SubElement(root, "image", id=str(frame), name=image.name,
                             width=str(int(image.width)), height=str(int(image.height)))
        for c, (x1, y1, x2, y2) in zip(image.class_ids, np.asarray(image.xyxy).reshape(-1, 4),
                                       strict=True):
            ET.SubElement(node, "box", label=names[int(c)], source="auto", occluded="0",
                          xtl=f"{x1:.2f}", ytl=f"{y1:.2f}", xbr=f"{x2:.2f}", ybr=f"{y2:.2f}",
                          z_order="0")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


@dataclass
class _Answer:
    labels: Labels
    where: str
    size: tuple[int, int] | None  # (width, height) the export states, when it does


def read_cvat_xml(data: bytes, names: Sequence[str], *, where: str = "annotations.xml"
                  ) -> tuple[dict[str, _Answer], list[str]]:
    """The images of a "CVAT for images 1.1" file as YOLO labels, and every problem found.

    Args:
        data: the file's bytes (parsed without DTDs or entities).
        names: the dataset's class names; a box's ``label`` gives its class id by name.
        where: names the file in problems.

    Returns:
        ``({image name: answer}, problems)``: an answer has ``labels`` (:class:`alkit.Labels`),
        ``where`` and ``size`` (width, height); each problem names the file and the image.
    """
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except Exception as error:  # ParseError, and defusedxml's refusals of DTDs and entities
        return {}, [f"{where}: not a readable CVAT XML file ({type(error).__name__}: {error})"]
    if root.tag != "annotations":
        return {}, [f"{where}: not a CVAT for images file (root <{root.tag}>, expected "
                    "<annotations>)"]
    index = {n: i for i, n in enumerate(names)}
    answers, problems = {}, []
    for image in root.iter("image"):
        name = image.get("name", "")
        at = f"{where}: image {name!r}"
        try:
            width, height = int(float(image.get("width"))), int(float(image.get("height")))
        except (TypeError, ValueError):
            problems.append(f"{at}: no width and height")
            continue
        ids, boxes = [], []
        for child in image:
            if child.tag in _SHAPES:
                problems.append(f"{at}: a {child.tag} ({child.get('label')!r}) is not a box; "
                                "alkit trains on boxes only")
                continue
            if child.tag != "box":
                continue
            label = child.get("label")
            if label not in index:
                problems.append(f"{at}: label {label!r} is not a class of the dataset "
                                f"{list(names)}")
                continue
            if float(child.get("rotation", 0) or 0) % 360:
                problems.append(f"{at}: a rotated {label!r} box cannot become a YOLO box")
                continue
            x1, y1, x2, y2 = (float(child.get(k)) for k in ("xtl", "ytl", "xbr", "ybr"))
            ids.append(index[label])
            boxes.append([(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width,
                          (y2 - y1) / height])
        labels = Labels(np.array(ids, np.int64), np.array(boxes, np.float64).reshape(-1, 4))
        answers[name] = _Answer(labels, where, (width, height))
    return answers, problems


def read_yolo_export(members: dict[str, bytes], names: Sequence[str], *, where: str
                     ) -> tuple[dict[str, _Answer], list[str]]:
    """The images of a "YOLO 1.1" or "Ultralytics YOLO Detection 1.0" export, and every
    problem found. The export's class names (``obj.names``, or ``names`` in ``data.yaml``) map
    its class indexes to the dataset's classes by name.

    Args:
        members: the archive's members by name (see :func:`read_zip_safely`).
        names: the dataset's class names.
        where: names the archive in problems.

    Returns:
        ``({image stem: answer}, problems)`` (YOLO files name images by stem only).
    """
    exported = _yolo_names(members, where)
    if isinstance(exported, str):
        return {}, [exported]
    index = {n: i for i, n in enumerate(names)}
    unknown = [n for n in exported if n not in index]
    if unknown:
        return {}, [f"{where}: label {n!r} is not a class of the dataset {list(names)}"
                    for n in unknown]
    remap = np.array([index[n] for n in exported], np.int64)
    answers, problems = {}, []
    for member, content in members.items():
        path = PurePosixPath(member)
        if path.suffix != ".txt" or path.name in _LIST_FILES:
            continue
        at = f"{where}: {member}"
        labels, issues = datasets.parse_label_text(content.decode("utf-8", "replace"),
                                                   len(exported))
        fatal = [p for p in issues if p.fatal]
        problems += [f"{at}:{p.line}: {p.message}" for p in fatal]
        if not fatal:
            answers[path.stem] = _Answer(Labels(remap[labels.class_ids], labels.xywhn), at, None)
    return answers, problems


def _yolo_names(members: dict[str, bytes], where: str) -> list[str] | str:
    """The class names of a YOLO export, or a problem (a string)."""
    by_name = {PurePosixPath(m).name: m for m in members}
    if "obj.names" in by_name:
        text = members[by_name["obj.names"]].decode("utf-8", "replace")
        return [line.strip() for line in text.splitlines() if line.strip()]
    for candidate in ("data.yaml", "dataset.yaml"):
        if candidate in by_name:
            try:
                spec = yaml.safe_load(members[by_name[candidate]]) or {}
            except yaml.YAMLError as error:
                return f"{where}: {by_name[candidate]} is not valid YAML ({error})"
            declared = spec.get("names") if isinstance(spec, dict) else None
            if isinstance(declared, dict):
                return [str(declared[k]) for k in sorted(declared, key=int)]
            if isinstance(declared, list):
                return [str(n) for n in declared]
            return f"{where}: {by_name[candidate]} has no names"
    return f"{where}: neither obj.names nor data.yaml: not a YOLO export"


def read_export(path: str | os.PathLike, names: Sequence[str]
                ) -> tuple[dict[str, _Answer], list[str]]:
    """Read one CVAT export: an ``.xml`` "CVAT for images 1.1" file, or a zip holding one or
    a YOLO export (see :func:`read_cvat_xml`, :func:`read_yolo_export`).

    Args:
        path: the exported file.
        names: the dataset's class names.

    Returns:
        ``({image name or stem: answer}, problems)``.
    """
    path = Path(path)
    if path.suffix.lower() == ".xml":
        return read_cvat_xml(path.read_bytes(), names, where=str(path))
    try:
        members = read_zip_safely(path)
    except ArchiveError as error:
        return {}, [str(error)]
    xmls = [m for m in members if m.lower().endswith(".xml")]
    if xmls:
        answers, problems = {}, []
        for member in xmls:
            found, issues = read_cvat_xml(members[member], names, where=f"{path}: {member}")
            answers.update(found)
            problems += issues
        return answers, problems
    return read_yolo_export(members, names, where=str(path))


class CvatFilesAnnotator(Annotator):
    """CVAT by files (see the module docstring): writes each round's task package, reads the
    exports dropped back.

    Attributes:
        already_imported: the picks the last :meth:`request` found in the exports that wait
            no more (imported before, or removed in review), as ``"<file>: <image>"``; they are
            skipped.
        ignored_files: the files in ``from_cvat/`` the last :meth:`request` did not read (not
            ``.xml`` or ``.zip``).
    """

    source = "cvat"

    def __init__(self, folder: str | os.PathLike | None = None, *, zip_images: bool = True):
        """``folder``: where the ``to_cvat/`` and ``from_cvat/`` folders go (default: each
        round's ``cvat/`` folder); ``zip_images``: write ``images.zip`` (False: only
        ``images.txt``, for a CVAT that reads the images from a shared folder)."""
        self.folder = None if folder is None else Path(folder)
        self.zip_images = zip_images
        self.already_imported: list[str] = []
        self.ignored_files: list[str] = []
        self._answers: dict[str, Labels] = {}

    def folders(self, job: AnnotationJob) -> tuple[Path, Path]:
        """``(to_cvat, from_cvat)`` of a job: where the package goes, where exports are read.

        ``job``: the round's :class:`AnnotationJob`."""
        base = self.folder or job.round_dir / CVAT_DIR
        return base / TO_CVAT, base / FROM_CVAT

    def request(self, job: AnnotationJob) -> None:
        """Write the round's task package if it is not there yet (again, with the images
        still waiting, when the job gained images since: one sent back for relabeling); read
        and validate every export in ``from_cvat/`` as one batch (nothing is answered when one
        problem is found).

        ``job``: the round's :class:`AnnotationJob` (its waiting picks and staging folder)."""
        to_cvat, from_cvat = self.folders(job)
        from_cvat.mkdir(parents=True, exist_ok=True)
        if not (to_cvat / "annotations.xml").is_file() or _new_items(job, to_cvat):
            self.write_package(job, to_cvat)
        self._answers, self.already_imported = {}, []
        exports = sorted(p for p in from_cvat.iterdir()
                         if p.is_file() and p.suffix.lower() in (".xml", ".zip"))
        self.ignored_files = sorted(
            p.name for p in from_cvat.iterdir()
            if p.suffix.lower() not in (".xml", ".zip") and not p.name.startswith("."))
        answers, problems = {}, []
        for export in exports:
            found, issues = read_export(export, job.names)
            problems += issues
            for name, answer in found.items():
                # an XML names images by file name, a YOLO export by stem: match by stem
                answers.setdefault(PurePosixPath(name).stem, []).append(answer)
        waiting = {Path(item.staged).stem: item for item in job.items}
        picks = _round_picks(job)
        for stem, given in sorted(answers.items()):
            name = stem
            if stem not in waiting:
                if stem in picks:
                    self.already_imported += [f"{a.where}: {name}{picks[stem]}" for a in given]
                else:
                    problems += [f"{a.where}: image {name!r} is not a pick of round "
                                 f"{job.round_number}" for a in given]
                continue
            item = waiting[stem]
            if len({datasets.format_labels(a.labels) for a in given}) > 1:
                problems.append(f"image {name!r} has different boxes in "
                                + " and ".join(a.where for a in given))
                continue
            answer = given[0]
            problems += self._check(answer, name, job.round_dir / "images" / item.staged,
                                    len(job.names))
            self._answers[item.path] = answer.labels
        if problems:
            self._answers = {}
            note = (f"\n(ignored, not .xml or .zip: {self.ignored_files})"
                    if self.ignored_files else "")
            raise DatasetError(from_cvat, "CVAT exports rejected, nothing imported:\n"
                               + "\n".join(problems) + note)

    @staticmethod
    def _check(answer: _Answer, name: str, staged: Path, n_classes: int) -> list[str]:
        """The problems of one answer: its boxes as a label file would be checked, and its
        stated image size against the staged image."""
        _, issues = datasets.parse_label_text(datasets.format_labels(answer.labels), n_classes)
        problems = [f"{answer.where}: image {name!r}, box {p.line}: {p.message}"
                    for p in issues if p.fatal]
        if answer.size is not None and staged.exists():
            with Image.open(staged) as image:
                if tuple(image.size) != answer.size:
                    problems.append(f"{answer.where}: image {name!r} is {answer.size[0]}x"
                                    f"{answer.size[1]} in the export but {image.size[0]}x"
                                    f"{image.size[1]} in the round ({staged}): another image?")
        return problems

    def write_package(self, job: AnnotationJob, folder: str | os.PathLike) -> Path:
        """Write the round's task package for CVAT into ``folder`` (see the module docstring).

        Args:
            job: the round's :class:`AnnotationJob`; its waiting picks are the task's images,
                with the model's boxes as pre-annotations when the round has a model.
            folder: the package's folder (created; files in it are replaced).

        Returns:
            ``folder``.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        staged = [job.round_dir / "images" / item.staged for item in job.items]
        scores = job.predictions(job.paths) if job.predictions and job.items else None
        index = {} if scores is None else {p: i for i, p in enumerate(scores.paths)}
        images = []
        for item, path in zip(job.items, staged, strict=True):
            i = index.get(item.path)
            if i is None:  # no model, or an image the model could not read: no boxes
                with Image.open(path) as image:
                    width, height = image.size
                images.append(CvatImage(item.staged, width, height, np.zeros(0, np.int64),
                                        np.zeros((0, 4))))
                continue
            found = scores.detections(i)
            images.append(CvatImage(item.staged, int(scores.widths[i]), int(scores.heights[i]),
                                    found.class_id, found.xyxy))
        if self.zip_images:
            _write_zip(folder / "images.zip", staged)
        files.write_text_atomic(folder / "images.txt",
                                "".join(f"{os.path.abspath(p)}\n" for p in staged))
        files.write_text_atomic(folder / "labels.json", json.dumps(
            [{"name": n, "type": "rectangle", "attributes": []} for n in job.names], indent=2)
            + "\n")
        table = io.StringIO()
        writer = csv.writer(table)
        writer.writerow(["staged", "rank", "score", "reason", "path"])
        for item in job.items:
            writer.writerow([item.staged, item.rank, item.score, item.reason, item.path])
        files.write_text_atomic(folder / "picks.csv", table.getvalue())
        files.write_text_atomic(folder / "README.txt", _readme(job, folder, self.zip_images))
        xml = cvat_xml(images, job.names, task_name=f"{job.project_name} round "
                                                    f"{job.round_number}")
        files.write_text_atomic(folder / "annotations.xml", xml.decode("utf-8"))
        return folder

    def answer(self, path: str) -> Labels | None:
        """The labels of ``path`` from the exports read by the last :meth:`request`, or
        None."""
        return self._answers.get(str(path))

    def describe(self) -> str:
        """Where the package and the exports go."""
        where = self.folder or "each round's cvat/ folder"
        return f"CVAT by files: task package in {where}/{TO_CVAT}, exports in {FROM_CVAT}/"


def _new_items(job: AnnotationJob, to_cvat: Path) -> bool:
    """True when the job has an image the package in ``to_cvat`` does not list."""
    listed = to_cvat / "images.txt"
    names = {Path(line).name for line in listed.read_text().splitlines()} \
        if listed.is_file() else set()
    return any(item.staged not in names for item in job.items)


def _round_picks(job: AnnotationJob) -> dict[str, str]:
    """``{staged stem: ""}`` for every pick of the round (``manifest.json``), waiting or
    not, ``" (relabeled)"`` for the images the round carried back for relabeling, and
    ``" (removed in review)"`` for the picks a review skipped or flagged."""
    manifest = files.read_json(job.round_dir / "manifest.json", {}) or {}
    picks = {Path(item.staged).stem: "" for item in job.items}
    picks.update({Path(e["staged"]).stem: "" for e in manifest.get("images", [])})
    picks.update({Path(e["staged"]).stem: " (relabeled)" for e in manifest.get("relabel", [])})
    picks.update({Path(e["staged"]).stem: " (removed in review)"
                  for e in (manifest.get("review") or {}).get("removed", [])})
    return picks


def _write_zip(path: Path, members: Sequence[Path]) -> None:
    """A zip of ``members`` under their own names (stored: images are compressed already),
    written under a temporary name and renamed into place."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
            for member in members:
                archive.write(member, member.name)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _readme(job: AnnotationJob, folder: Path, zip_images: bool) -> str:
    images = ("images.zip (the round's images)" if zip_images
              else "the images listed in images.txt (from a shared folder)")
    return f"""alkit round {job.round_number}: {len(job.items)} images to label in CVAT.

1. In CVAT, create a task. Labels: paste labels.json into the label editor's "Raw" tab
   (or add the classes by hand, with exactly these names: {", ".join(job.names)}).
   Files: {images}.
2. Open the task's Actions > Upload annotations, format "CVAT 1.1", file annotations.xml:
   the model's boxes appear as pre-annotations to correct.
3. Label. picks.csv says why each image was picked (rank, score, reason).
4. When a job is done: Export job dataset (or export the task), format "CVAT for images 1.1",
   "YOLO 1.1" or "Ultralytics YOLO Detection 1.0", and drop the zip into
   {folder.parent / FROM_CVAT}
5. Run the same alkit round command again: the images in the exports are imported; the
   others keep waiting.
"""
