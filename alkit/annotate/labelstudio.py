"""Label Studio handoff over its HTTP API (standard library only; no SDK, whose pins clash with
ultralytics).

* :func:`label_config` builds a labeling config from the dataset's class names, each ``<Label>``
  with ``category="<class id>"`` so that ids stay stable (Label Studio's own YOLO export would
  otherwise number classes alphabetically), and a header that tells the annotator why the image
  was picked (round, rank, score, reason).
* :class:`LabelStudioAnnotator` is the loop's annotator over a :class:`LabelStudio` client: each
  call pushes the round's images that the server does not have yet and pulls what annotators
  finished.
* Images are served to the browser in one of two ways: from disk, through a local-files import
  storage that alkit creates for the round's staging folder (``images/`` under the server's
  ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``; Label Studio answers 404 for a local file no
  storage of the project contains), or uploaded to the server (``upload=True``, for a server
  on another machine).
* :class:`LabelStudio` creates or reuses a project, pushes a round's images as tasks with the
  model's boxes as pre-annotations (predictions with per-box confidences, the image's
  uncertainty as the prediction's score and the project's ``model_version``, so annotators can
  sort uncertain tasks first), reports progress, and pulls finished annotations as YOLO labels
  (exact coordinates; class ids by label name).
* Partial completion: :meth:`LabelStudio.pull` returns what is done and leaves the rest waiting.
* An unreachable server is retried with exponential backoff, then reported with its URL; a
  server killed in the middle of a pull imports nothing of that pull, and the next pull imports
  every finished task exactly once.
* An annotation with an unknown label name, a box outside the image, or a project whose
  labeling config was edited by hand (a class renamed or removed) raises
  :class:`LabelStudioError` naming the task or the class before anything is imported.
* An annotation deleted or changed in Label Studio after alkit imported it is reported (a
  :class:`LabelStudioChangeWarning` and :attr:`LabelStudioAnnotator.changes`), never imported
  again: alkit keeps the label it has. What was handed over is recorded per round in
  ``rounds/round_NNN/labelstudio.json``.
* The API token comes from an argument or ``$ALKIT_LABEL_STUDIO_TOKEN`` and never appears in
  a message, a repr or a log line.
* alkit pulls JSON and never extracts an archive; :func:`read_zip_safely`
  (:mod:`alkit.annotate.archive`) reads one member by member for whoever needs it.

Box geometry: Label Studio stores rectangles in percent of the original image, ``x``, ``y`` the
top-left corner; YOLO stores the normalized center and size: ``xc = (x + w / 2) / 100`` etc.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

# read_zip_safely lived here first: still importable from this module
from alkit.annotate.archive import ArchiveError, read_zip_safely  # noqa: F401
from alkit.annotate.base import AnnotationJob, Annotator
from alkit.data import files
from alkit.data.datasets import Labels

#: The task field that tells the annotator why an image was picked (shown above the image).
PICK_FIELD = "alkit_pick"
#: Files uploaded in one request by ``upload=True``.
UPLOAD_BATCH = 16


class LabelStudioError(RuntimeError):
    """A Label Studio request or annotation alkit cannot use (message names what and where)."""


class LabelStudioChangeWarning(UserWarning):
    """An annotation was deleted or changed in Label Studio after alkit imported it."""


def label_config(names: Sequence[str]) -> str:
    """A rectangle-labeling config for these class names (ids kept as ``category``), with a
    header showing each task's ``alkit_pick`` (why the image was picked).

    ``names``: the dataset's class names (class id = index)."""
    labels = "\n".join(f"    <Label value={quoteattr(n)} category=\"{i}\"/>"
                       for i, n in enumerate(names))
    return (f"<View>\n  <Header value=\"${PICK_FIELD}\" size=\"5\"/>\n"
            "  <Image name=\"image\" value=\"$image\"/>\n"
            "  <RectangleLabels name=\"label\" toName=\"image\">\n"
            f"{labels}\n  </RectangleLabels>\n</View>")


def config_classes(config: str) -> list[str]:
    """The class names of a labeling config's ``<RectangleLabels>``, in class-id order
    (``category`` when every label has one, else document order).

    ``config``: the project's labeling config (XML)."""
    try:
        root = ET.fromstring(config)
    except ET.ParseError as error:
        raise LabelStudioError(f"the labeling config is not valid XML ({error})") from None
    labels = [label for group in root.iter("RectangleLabels") for label in group.iter("Label")]
    if labels and all((label.get("category") or "").isdigit() for label in labels):
        labels = sorted(labels, key=lambda label: int(label.get("category")))
    return [label.get("value", "") for label in labels]


def check_classes(config: str, names: Sequence[str], *, where: str = "the project") -> None:
    """Refuse a labeling config whose classes are not the dataset's, naming each difference
    (a class renamed or removed by hand in Label Studio, one added, or the order changed).

    Args:
        config: the project's labeling config (XML).
        names: the dataset's class names (class id = index).
        where: names the project in the message.

    Raises:
        LabelStudioError: the classes differ.
    """
    found, names = config_classes(config), list(names)
    if found == names:
        return
    problems = [f"the dataset's class {n!r} is missing (renamed or removed?)"
                for n in names if n not in found]
    problems += [f"class {n!r} is not a class of the dataset" for n in found if n not in names]
    if not problems:
        problems = [f"the classes are in another order: {found} instead of {names}"]
    raise LabelStudioError(f"{where}: the labeling config's classes were changed, nothing "
                           "imported:\n  " + "\n  ".join(problems)
                           + f"\n  the dataset's classes are {names}; restore them in the "
                             "project's labeling settings")


def boxes_to_results(xyxy, class_ids, names, width: int, height: int, scores=None) -> list[dict]:
    """Pixel boxes -> Label Studio rectangle results (percent, top-left corner).

    Args:
        xyxy: (n, 4) pixel boxes (x1, y1, x2, y2) of the original image.
        class_ids: (n,) class ids, indexes into ``names``.
        names: the dataset's class names; a box's label is ``names[class id]``.
        width, height: the original image's size in pixels.
        scores: optional (n,) per-box scores (e.g. confidences), stored as each result's
            ``score``; ``None``: no score.

    Returns:
        One ``rectanglelabels`` result dict per box, ``x``, ``y``, ``width``, ``height`` in
        percent of the image.
    """
    results = []
    for k, ((x1, y1, x2, y2), c) in enumerate(zip(np.asarray(xyxy).reshape(-1, 4), class_ids,
                                                  strict=True)):
        result = {
            "id": f"alkit{k}", "from_name": "label", "to_name": "image",
            "type": "rectanglelabels", "original_width": int(width),
            "original_height": int(height), "image_rotation": 0,
            "value": {"x": 100.0 * x1 / width, "y": 100.0 * y1 / height,
                      "width": 100.0 * (x2 - x1) / width, "height": 100.0 * (y2 - y1) / height,
                      "rotation": 0, "rectanglelabels": [names[int(c)]]},
        }
        if scores is not None:
            result["score"] = float(scores[k])
        results.append(result)
    return results


def results_to_labels(results: list[dict], names: Sequence[str], *, where: str = "") -> Labels:
    """Label Studio rectangle results -> YOLO labels.

    Args:
        results: an annotation's ``result`` list; entries that are not rectangles are ignored.
        names: the dataset's class names; a box's label name gives its class id.
        where: names the task in messages.

    Returns:
        :class:`alkit.Labels` (class ids, normalized centre and size).

    Raises:
        LabelStudioError: an unknown label name, a rotated box or a box outside the image.
    """
    index = {n: i for i, n in enumerate(names)}
    ids, boxes = [], []
    for result in results:
        if result.get("type") != "rectanglelabels":
            continue
        value = result["value"]
        label = value.get("rectanglelabels", [None])[0]
        if label not in index:
            raise LabelStudioError(f"{where}: unknown label {label!r}; the dataset's classes are "
                                   f"{list(names)}")
        if value.get("rotation"):
            raise LabelStudioError(f"{where}: rotated boxes cannot become YOLO boxes")
        x, y, w, h = (float(value[k]) / 100.0 for k in ("x", "y", "width", "height"))
        if w <= 0 or h <= 0 or x < -1e-6 or y < -1e-6 or x + w > 1 + 1e-6 or y + h > 1 + 1e-6:
            raise LabelStudioError(f"{where}: a {label!r} box lies outside the image "
                                   f"(x={x:.3f}, y={y:.3f}, w={w:.3f}, h={h:.3f})")
        ids.append(index[label])
        boxes.append([x + w / 2, y + h / 2, w, h])
    return Labels(np.array(ids, np.int64), np.array(boxes, np.float64).reshape(-1, 4))


@dataclass(frozen=True)
class Progress:
    """Tasks of a project: total, finished (with an annotation) and waiting."""

    total: int
    finished: int

    @property
    def waiting(self) -> int:
        """Tasks without a finished annotation yet."""
        return self.total - self.finished


@dataclass(frozen=True)
class Finished:
    """A finished task as :meth:`LabelStudio.pull` returns it.

    Attributes:
        labels: the YOLO labels of its last annotation that was not cancelled.
        annotator: the Label Studio user id that completed it.
        task_id, annotation_id: where it is in Label Studio.
        digest: a hash of the annotation's boxes, to notice a later change.
    """

    labels: Labels
    annotator: str
    task_id: int
    annotation_id: int
    digest: str


class LabelStudio:
    """A client for one Label Studio server (see the module docstring)."""

    def __init__(self, url: str, token: str | None = None, *, retries: int = 4,
                 backoff: float = 0.5, timeout: float = 30.0, document_root: str | None = None,
                 page_size: int = 100):
        """Connect to the server at ``url``.

        Args:
            url: the server's base URL (a trailing ``/`` is dropped).
            token: the API token; ``None``: ``$ALKIT_LABEL_STUDIO_TOKEN`` (neither raises
                :class:`LabelStudioError`). It never appears in a message or repr.
            retries: how many times an unreachable server or a 5xx answer is retried.
            backoff: seconds before the first retry, doubled after each.
            timeout: seconds one HTTP request may take.
            document_root: the server's ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``, under
                which task images are addressed (see :func:`local_files_url`); ``None``: the
                same variable in this process's environment, else ``/``.
            page_size: tasks per request when listing a project's tasks.
        """
        self.url = url.rstrip("/")
        self.document_root = os.path.abspath(
            document_root or os.environ.get("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT") or "/")
        self._token = token or os.environ.get("ALKIT_LABEL_STUDIO_TOKEN")
        if not self._token:
            raise LabelStudioError("no Label Studio token: pass token= or set "
                                   "ALKIT_LABEL_STUDIO_TOKEN")
        self.retries, self.backoff, self.timeout = retries, backoff, timeout
        self.page_size = page_size

    def __repr__(self) -> str:
        return f"LabelStudio({self.url!r}, token=<hidden>)"

    def _request(self, method: str, path: str, body=None, *, raw: bytes | None = None,
                 content_type: str = "application/json"):
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Token {self._token}", "Content-Type": content_type}
        delay = self.backoff
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.url + path, data=data, headers=headers,
                                             method=method)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = response.read()
                return json.loads(payload) if payload else None
            except urllib.error.HTTPError as error:
                if error.code < 500 or attempt == self.retries:
                    detail = error.read()[:600].decode(errors="replace")
                    raise LabelStudioError(f"{method} {self.url}{path}: HTTP {error.code} "
                                           f"{detail}") from None
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                if attempt == self.retries:
                    reason = getattr(error, "reason", error)
                    raise LabelStudioError(f"Label Studio at {self.url} is unreachable after "
                                           f"{self.retries + 1} tries ({reason})") from None
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def fetch(self, path: str) -> bytes:
        """The bytes the server answers at ``path`` (a task's image URL, say
        ``/data/local-files/?d=...``), to check that an image is served.

        Raises:
            LabelStudioError: any answer but 200 (404: no storage of the project holds it).
        """
        request = urllib.request.Request(self.url + path,
                                         headers={"Authorization": f"Token {self._token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            raise LabelStudioError(f"GET {self.url}{path}: HTTP {error.code}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            raise LabelStudioError(f"Label Studio at {self.url} is unreachable "
                                   f"({getattr(error, 'reason', error)})") from None

    def health(self) -> bool:
        """True when the server answers ``/health`` with UP."""
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=5) as response:
                return b"UP" in response.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    # ---- projects and tasks

    def project(self, title: str, names: Sequence[str]) -> int:
        """The id of the project named ``title``, created with :func:`label_config` if none
        exists. An existing one whose classes differ from ``names`` (another dataset, or a
        class renamed or removed by hand) is refused, naming the class (:func:`check_classes`).

        ``names``: the dataset's class names (class id = index), which the project's labeling
        config must match."""
        listing = self._request("GET", "/api/projects/?page_size=1000")
        projects = listing["results"] if isinstance(listing, dict) else listing
        for project in projects:
            if project["title"] == title:
                check_classes(project.get("label_config", ""), names,
                              where=f"Label Studio project {title!r}")
                return int(project["id"])
        created = self._request("POST", "/api/projects/", {"title": title,
                                                           "label_config": label_config(names)})
        return int(created["id"])

    def check_project(self, project_id: int, names: Sequence[str]) -> None:
        """Refuse project ``project_id`` when its labeling config's classes are not ``names``
        (see :func:`check_classes`), naming the class.

        Args:
            project_id: the Label Studio project id.
            names: the dataset's class names (class id = index).
        """
        project = self._request("GET", f"/api/projects/{project_id}/")
        check_classes(project.get("label_config", ""), names,
                      where=f"Label Studio project {project.get('title', project_id)!r}")

    def local_storage(self, project_id: int, folder: str | os.PathLike) -> int:
        """The id of project ``project_id``'s local-files import storage for ``folder``,
        created if it has none, so that Label Studio serves the files in it
        (``/data/local-files/?d=...`` answers 404 for a file no storage contains).

        The storage is never synced: a sync would import every file as a task of its own
        (its ``regex_filter`` matches nothing, in case someone clicks Sync). Tasks are pushed
        by alkit with the model's boxes.

        Args:
            project_id: the Label Studio project id.
            folder: the folder of the images (a round's ``images/``); it must lie under the
                server's document root (``document_root``).

        Raises:
            LabelStudioError: ``folder`` is not under the document root (both named), or the
                server refuses the storage (local-files serving disabled, say).
        """
        path = os.path.abspath(folder)
        if os.path.commonpath([path, self.document_root]) != self.document_root \
                or path == self.document_root:
            raise LabelStudioError(
                f"the images folder {path} is not under Label Studio's document root "
                f"{self.document_root}: start the server with "
                "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT set to a folder above both the project "
                "and this folder (and pass the same folder as document_root / "
                "--ls-document-root), or upload the images instead (upload=True / --ls-upload)")
        for storage in self._request("GET", f"/api/storages/localfiles?project={project_id}"):
            if os.path.normpath(storage.get("path", "")) == path:
                return int(storage["id"])
        try:
            created = self._request("POST", "/api/storages/localfiles", {
                "project": project_id, "path": path, "use_blob_urls": True,
                "regex_filter": "^$", "title": f"alkit {Path(path).parent.name}",
                "description": "created by alkit: serves the round's staged images; do not "
                               "sync (alkit pushes the tasks)"})
        except LabelStudioError as error:
            raise LabelStudioError(
                f"Label Studio refused a local-files storage for {path} (document root "
                f"{self.document_root}); the server needs "
                "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and "
                f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={self.document_root}: {error}") from None
        return int(created["id"])

    def upload(self, project_id: int, paths: Sequence[str | os.PathLike], *,
               names: Sequence[str] | None = None) -> dict[str, str]:
        """Upload image files to project ``project_id`` without creating tasks, for a server
        that cannot read this machine's disk.

        Args:
            project_id: the Label Studio project id.
            paths: the image files.
            names: the file names to upload them under (default: their own names; Label
                Studio prefixes each with 8 random hex digits).

        Returns:
            ``{name: the URL Label Studio serves it under}`` (``/data/upload/...``).
        """
        names = [Path(p).name for p in paths] if names is None else list(names)
        urls: dict[str, str] = {}
        for start in range(0, len(paths), UPLOAD_BATCH):
            batch = list(zip(paths[start:start + UPLOAD_BATCH], names[start:start + UPLOAD_BATCH],
                             strict=True))
            body, content_type = _multipart([(name, Path(p).read_bytes()) for p, name in batch])
            answer = self._request("POST", f"/api/projects/{project_id}/import"
                                           "?commit_to_project=false", raw=body,
                                   content_type=content_type)
            ids = answer.get("file_upload_ids", [])
            query = urllib.parse.quote(json.dumps(ids))
            for upload in self._request("GET", f"/api/projects/{project_id}/file-uploads"
                                               f"?ids={query}"):
                stored = upload["file"]  # upload/<project>/<8 hex>-<name>
                urls[Path(stored).name.split("-", 1)[-1]] = "/data/" + stored
        missing = [n for n in names if n not in urls]
        if missing:
            raise LabelStudioError(f"Label Studio did not keep the uploads of {missing}")
        return urls

    def push(self, project_id: int, tasks: list[dict], *, model_version: str | None = None
             ) -> None:
        """Import tasks (``{"data": ..., "predictions": [...]}``) into a project, then set the
        project's ``model_version`` to the predictions' (Label Studio accepts it only once
        predictions of that version exist), so annotators can order tasks by uncertainty.

        Args:
            project_id: the Label Studio project id (see :meth:`project`).
            tasks: the tasks to import (see :func:`make_task`); empty: nothing imported.
            model_version: the predictions' model version; ``None``: the project's is left
                unchanged.
        """
        if tasks:
            self._request("POST", f"/api/projects/{project_id}/import", tasks)
        if model_version is not None:
            self._request("PATCH", f"/api/projects/{project_id}/",
                          {"model_version": model_version})

    def model_version(self, project_id: int) -> str:
        """The current ``model_version`` of project ``project_id``."""
        return self._request("GET", f"/api/projects/{project_id}/").get("model_version", "")

    def tasks(self, project_id: int) -> list[dict]:
        """Every task of project ``project_id`` with its annotations (read page by page,
        ``page_size`` at a time)."""
        tasks, page = [], 1
        while True:
            batch = self._request("GET", f"/api/tasks/?project={project_id}&page={page}"
                                         f"&page_size={self.page_size}&fields=all")
            items = batch.get("tasks", []) if isinstance(batch, dict) else batch
            tasks.extend(items)
            total = batch.get("total", len(tasks)) if isinstance(batch, dict) else len(tasks)
            if not items or len(tasks) >= total:
                return tasks
            page += 1

    def annotate(self, task_id: int, results: list[dict]) -> int:
        """Submit an annotation to a task, as a person in the labeling UI would; returns the
        annotation's id.

        ``task_id``: the Label Studio task id; ``results``: its rectangle results (see
        :func:`boxes_to_results`; percent of the image)."""
        created = self._request("POST", f"/api/tasks/{task_id}/annotations/",
                                {"result": results, "was_cancelled": False})
        return int(created["id"])

    def progress(self, project_id: int) -> Progress:
        """How many tasks of project ``project_id`` are finished (a :class:`Progress`)."""
        tasks = self.tasks(project_id)
        return Progress(len(tasks), sum(1 for t in tasks if _finished(t)))

    def pull(self, project_id: int, names: Sequence[str], *, tasks: list[dict] | None = None
             ) -> dict[str, Finished]:
        """Finished tasks as ``{alkit image path: Finished}``; unfinished ones are left out
        (still waiting). The project's classes are checked first (:meth:`check_project`),
        then every finished task is converted before any is returned, so one bad annotation
        stops the whole pull with its task named.

        Args:
            project_id: the Label Studio project id.
            names: the dataset's class names; a box's label name gives its class id (an
                unknown name raises :class:`LabelStudioError`).
            tasks: the project's tasks when already fetched (:meth:`tasks`); None: fetched.

        The labels are YOLO labels (normalized center and size), from the last annotation
        that was not cancelled; the annotator is the Label Studio user id that completed it.
        """
        self.check_project(project_id, names)
        finished = {}
        for task in self.tasks(project_id) if tasks is None else tasks:
            if not _finished(task):
                continue
            annotation = _last_annotation(task)
            where = f"Label Studio task {task['id']} ({task['data'].get('alkit_path')})"
            labels = results_to_labels(annotation.get("result", []), names, where=where)
            finished[task["data"]["alkit_path"]] = Finished(
                labels, str(annotation.get("completed_by", "")), int(task["id"]),
                int(annotation["id"]), _digest(annotation))
        return finished


def _current_tasks(tasks: list[dict], job: AnnotationJob) -> list[dict]:
    """The tasks that can answer ``job``: every task, except that an image sent back for
    relabeling counts only with a task of this round."""
    relabel = {item.path for item in job.items if item.relabel}
    return [t for t in tasks if t["data"].get("alkit_path") not in relabel
            or t["data"].get("alkit_round") == job.round_number]


def _finished(task: dict) -> bool:
    return any(not a.get("was_cancelled") for a in task.get("annotations") or [])


def _last_annotation(task: dict) -> dict:
    return [a for a in task["annotations"] if not a.get("was_cancelled")][-1]


def _digest(annotation: dict) -> str:
    """A hash of an annotation's boxes (labels and geometry), independent of result ids."""
    boxes = sorted(
        (r["value"].get("rectanglelabels", [""])[0],
         *(round(float(r["value"].get(k, 0.0)), 6) for k in ("x", "y", "width", "height",
                                                             "rotation")))
        for r in annotation.get("result") or [] if r.get("type") == "rectanglelabels")
    return hashlib.sha256(json.dumps(boxes).encode()).hexdigest()[:16]


def _multipart(parts: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of files, one field each (``file0``, ``file1``, ...:
    Label Studio keeps one file per field name)."""
    boundary = secrets.token_hex(16)
    chunks = []
    for k, (name, data) in enumerate(parts):
        quoted = name.replace('"', "%22").replace("\r", "").replace("\n", "")
        chunks += [f"--{boundary}\r\nContent-Disposition: form-data; name=\"file{k}\"; "
                   f"filename=\"{quoted}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                   .encode(), data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


class LabelStudioAnnotator(Annotator):
    """Annotation on a Label Studio server (see the module docstring): tasks carry the model's
    boxes as predictions scored by the round's uncertainty measure and say why each image was
    picked; finished annotations are the answers.

    Attributes:
        changes: what the last :meth:`request` found deleted or changed in Label Studio after
            alkit imported it (one line each; also warned as
            :class:`LabelStudioChangeWarning`).
    """

    source = "labelstudio"

    def __init__(self, client: LabelStudio, *, title: str | None = None, upload: bool = False):
        """``client``: the :class:`LabelStudio` client of the server; ``title``: the Label
        Studio project (default: the alkit project's name); ``upload``: upload the images to
        the server instead of serving them from this machine's disk through a local-files
        storage (for a server on another machine)."""
        self.client = client
        self.title = title
        self.upload = upload
        self.changes: list[str] = []
        self._finished: dict[str, Finished] = {}

    def request(self, job: AnnotationJob) -> None:
        """Push the job's images the project lacks (serving or uploading their files), then
        pull every finished task; report annotations changed after an earlier import. An
        image sent back for relabeling gets a new task in this round (its earlier task, with
        the old annotation, is not its answer)."""
        project_id = self.client.project(self.title or job.project_name, job.names)
        tasks = _current_tasks(self.client.tasks(project_id), job)
        present = {t["data"].get("alkit_path") for t in tasks}
        missing = [item for item in job.items if item.path not in present]
        if missing:
            self.client.push(project_id, self._tasks(job, project_id, missing),
                             model_version=job.model_version or None)
            tasks = _current_tasks(self.client.tasks(project_id), job)
        finished = self.client.pull(project_id, job.names, tasks=tasks)
        waiting = {item.path for item in job.items}
        self._finished = {path: done for path, done in finished.items() if path in waiting}
        self.changes = self._changed_after_import(job, project_id, finished, waiting)
        for change in self.changes:
            warnings.warn(change, LabelStudioChangeWarning, stacklevel=2)
        self._record(job, project_id)

    def _tasks(self, job: AnnotationJob, project_id: int, items) -> list[dict]:
        staged = [job.round_dir / "images" / item.staged for item in items]
        if self.upload:
            served = self.client.upload(project_id, staged)
            urls = [served[path.name] for path in staged]
        else:
            self.client.local_storage(project_id, job.round_dir / "images")
            urls = [local_files_url(path, self.client.document_root) for path in staged]
        scores = job.predictions([item.path for item in items]) if job.predictions else None
        index = {} if scores is None else {p: i for i, p in enumerate(scores.paths)}
        measure = None if scores is None else scores.table[job.measure].to_numpy()
        tasks = []
        for item, url in zip(items, urls, strict=True):
            data = {"image": url, "alkit_path": item.path, "alkit_round": job.round_number,
                    "alkit_rank": item.rank, "alkit_reason": item.reason or "",
                    "alkit_score": item.score, PICK_FIELD: _pick_text(job, item)}
            i = index.get(item.path)
            if i is None:  # no model, or an image the model could not read: no boxes
                tasks.append({"data": data})
                continue
            tasks.append(make_task(item.path, url, scores.detections(i), job.names,
                                   int(scores.widths[i]), int(scores.heights[i]),
                                   job.model_version, float(measure[i]), data=data))
        return tasks

    def _records_path(self, job: AnnotationJob) -> Path:
        return job.round_dir / "labelstudio.json"

    def _record(self, job: AnnotationJob, project_id: int) -> None:
        """Write what this call hands over (kept with what earlier calls handed over)."""
        path = self._records_path(job)
        record = files.read_json(path, {}) or {}
        handed = record.get("handed_over", {})
        handed.update({p: {"task": d.task_id, "annotation": d.annotation_id, "digest": d.digest}
                       for p, d in self._finished.items()})
        files.write_json(path, {"url": self.client.url, "project": project_id,
                                "handed_over": handed})

    def _changed_after_import(self, job: AnnotationJob, project_id: int,
                              finished: dict[str, Finished], waiting: set[str]) -> list[str]:
        """Images handed over by an earlier call (any round) and no longer waiting, hence
        imported, whose annotation was deleted or changed in Label Studio since."""
        changes, latest = [], {}
        for path in sorted(job.round_dir.parent.glob("round_*/labelstudio.json")):
            record = files.read_json(path, {}) or {}
            if record.get("url") != self.client.url or record.get("project") != project_id:
                continue
            latest.update(record.get("handed_over", {}))  # a relabel's later task counts
        for image, was in sorted(latest.items()):
            if image in waiting:
                continue  # handed over but not imported (the batch was refused): not yet
            now = finished.get(image)
            task = f"Label Studio task {was['task']} ({image})"
            if now is None:
                changes.append(f"{task}: the annotation alkit imported was deleted in Label "
                               "Studio; alkit keeps the imported label")
            elif (now.annotation_id, now.digest) != (was["annotation"], was["digest"]):
                changes.append(f"{task}: the annotation was changed in Label Studio after "
                               "alkit imported it (annotation "
                               f"{was['annotation']} -> {now.annotation_id}); alkit keeps "
                               "the imported label and does not import it again")
        return changes

    def answer(self, path: str) -> Labels | None:
        """The finished annotation of ``path`` from the last pull, or None."""
        found = self._finished.get(str(path))
        return None if found is None else found.labels

    def annotated_by(self, path: str) -> str | None:
        """The Label Studio user id that finished the task of ``path`` (from the last pull),
        or None."""
        found = self._finished.get(str(path))
        return None if found is None else found.annotator

    def describe(self) -> str:
        """The server."""
        return f"Label Studio at {self.client.url}"


def _pick_text(job: AnnotationJob, item) -> str:
    score = "" if item.score is None else f", score {item.score:.4g}"
    reason = f": {item.reason}" if item.reason else ""
    return f"alkit round {job.round_number}, rank {item.rank}{score}{reason}"


def make_task(path: str, image_url: str, detections, names, width: int, height: int,
              model_version: str, score: float, *, data: dict | None = None) -> dict:
    """One task for an image, with the model's boxes as a prediction.

    Args:
        path: the image's alkit path (kept in the task's data as ``alkit_path``).
        image_url: the URL Label Studio loads the image from (see :func:`local_files_url`).
        detections: the model's boxes (a :class:`alkit.core.detections.Detections`: pixel
            ``xyxy``, ``class_id``, ``confidence``), converted by :func:`boxes_to_results`.
        names: the dataset's class names (class id = index).
        width, height: the original image's size in pixels.
        model_version: names the model that made the prediction.
        score: the image's uncertainty score, the prediction's ``score`` (annotators can sort
            tasks by it).
        data: more fields for the task's data (the round, rank and reason of the pick).

    Returns:
        The task dict: ``{"data": {...}, "predictions": [one prediction]}``.
    """
    return {
        "data": {**(data or {}), "image": image_url, "alkit_path": str(path)},
        "predictions": [{
            "model_version": model_version, "score": float(score),
            "result": boxes_to_results(detections.xyxy, detections.class_id, names, width, height,
                                       detections.confidence),
        }],
    }


def local_files_url(path: str | os.PathLike, document_root: str = "/") -> str:
    """The URL Label Studio serves a local file under (``LOCAL_FILES_DOCUMENT_ROOT``).

    ``path``: the file (not resolved: a staged link is served as the link);
    ``document_root``: the server's document root (default ``/``), which ``path`` is made
    relative to."""
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(document_root))
    return "/data/local-files/?d=" + urllib.parse.quote(relative)
