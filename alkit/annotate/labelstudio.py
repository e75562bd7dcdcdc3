"""Label Studio handoff over its HTTP API (standard library only; no SDK, whose pins clash with
ultralytics).

* :func:`label_config` builds a labeling config from the dataset's class names, each ``<Label>``
  with ``category="<class id>"`` so that ids stay stable (Label Studio's own YOLO export would
  otherwise number classes alphabetically).
* :class:`LabelStudioAnnotator` is the loop's annotator over a :class:`LabelStudio` client: each
  call pushes the round's images that the server does not have yet and pulls what annotators
  finished.
* :class:`LabelStudio` creates or reuses a project, pushes a round's images as tasks with the
  model's boxes as pre-annotations (predictions with scores and the project's
  ``model_version``, so annotators can sort uncertain tasks first), reports progress, and pulls
  finished annotations as YOLO labels (exact coordinates; class ids by label name).
* Partial completion: :meth:`LabelStudio.pull` returns what is done and leaves the rest waiting.
* An unreachable server is retried with exponential backoff, then reported with its URL.
* An annotation with an unknown label name, or a box outside the image, raises
  :class:`LabelStudioError` naming the task before anything is imported.
* The API token comes from an argument or ``$ALKIT_LABEL_STUDIO_TOKEN`` and never appears in
  a message, a repr or a log line.
* :func:`read_zip_safely` reads an archive member by member and refuses absolute paths, ``..``
  and links (zip-slip); alkit itself pulls JSON and never extracts an archive.

Box geometry: Label Studio stores rectangles in percent of the original image, ``x``, ``y`` the
top-left corner; YOLO stores the normalized center and size: ``xc = (x + w / 2) / 100`` etc.
"""

from __future__ import annotations

import io
import json
import os
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import numpy as np

from alkit.annotate.base import AnnotationJob, Annotator
from alkit.data.datasets import Labels


class LabelStudioError(RuntimeError):
    """A Label Studio request or annotation alkit cannot use (message names what and where)."""


def label_config(names: Sequence[str]) -> str:
    """A rectangle-labeling config for these class names (ids kept as ``category``)."""
    labels = "\n".join(f"    <Label value={quoteattr(n)} category=\"{i}\"/>"
                       for i, n in enumerate(names))
    return ("<View>\n  <Image name=\"image\" value=\"$image\"/>\n"
            "  <RectangleLabels name=\"label\" toName=\"image\">\n"
            f"{labels}\n  </RectangleLabels>\n</View>")


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
            "from_name": "label", "to_name": "image", "type": "rectanglelabels",
            "original_width": int(width), "original_height": int(height), "image_rotation": 0,
            "value": {"x": 100.0 * x1 / width, "y": 100.0 * y1 / height,
                      "width": 100.0 * (x2 - x1) / width, "height": 100.0 * (y2 - y1) / height,
                      "rotation": 0, "rectanglelabels": [names[int(c)]]},
        }
        if scores is not None:
            result["score"] = float(scores[k])
        results.append(result)
    return results


def results_to_labels(results: list[dict], names: Sequence[str], *, where: str = "") -> Labels:
    """Label Studio rectangle results -> YOLO labels; unknown names or boxes outside the image
    raise :class:`LabelStudioError` naming ``where``."""
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


def read_zip_safely(data: bytes, *, max_bytes: int = 2**31) -> dict[str, bytes]:
    """Members of a zip archive by name, read one by one; absolute paths, ``..`` components,
    links and oversized archives are refused (never extracted to disk).

    Args:
        data: the archive's bytes.
        max_bytes: the largest total uncompressed size of the members (default 2 GiB); a
            larger archive raises :class:`LabelStudioError`.

    Returns:
        ``{member name: its bytes}`` (folders left out).
    """
    members, total = {}, 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name = info.filename
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
                raise LabelStudioError(f"archive member {name!r} escapes the archive (zip-slip)")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise LabelStudioError(f"archive member {name!r} is a link")
            if info.is_dir():
                continue
            total += info.file_size
            if total > max_bytes:
                raise LabelStudioError("archive larger than allowed")
            members[name] = archive.read(info)
    return members


@dataclass(frozen=True)
class Progress:
    """Tasks of a project: total, finished (with an annotation) and waiting."""

    total: int
    finished: int

    @property
    def waiting(self) -> int:
        """Tasks without a finished annotation yet."""
        return self.total - self.finished


class LabelStudio:
    """A client for one Label Studio server (see the module docstring)."""

    def __init__(self, url: str, token: str | None = None, *, retries: int = 4,
                 backoff: float = 0.5, timeout: float = 30.0, document_root: str = "/"):
        """Connect to the server at ``url``.

        Args:
            url: the server's base URL (a trailing ``/`` is dropped).
            token: the API token; ``None``: ``$ALKIT_LABEL_STUDIO_TOKEN`` (neither raises
                :class:`LabelStudioError`). It never appears in a message or repr.
            retries: how many times an unreachable server or a 5xx answer is retried.
            backoff: seconds before the first retry, doubled after each.
            timeout: seconds one HTTP request may take.
            document_root: the server's ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``, under
                which task images are addressed (see :func:`local_files_url`).
        """
        self.url = url.rstrip("/")
        self.document_root = document_root
        self._token = token or os.environ.get("ALKIT_LABEL_STUDIO_TOKEN")
        if not self._token:
            raise LabelStudioError("no Label Studio token: pass token= or set "
                                   "ALKIT_LABEL_STUDIO_TOKEN")
        self.retries, self.backoff, self.timeout = retries, backoff, timeout

    def __repr__(self) -> str:
        return f"LabelStudio({self.url!r}, token=<hidden>)"

    def _request(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Token {self._token}", "Content-Type": "application/json"}
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
                    detail = error.read()[:300].decode(errors="replace")
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
        exists (an existing one with other classes is refused).

        ``names``: the dataset's class names (class id = index), which the project's labeling
        config must match."""
        config = label_config(names)
        listing = self._request("GET", "/api/projects/?page_size=1000")
        projects = listing["results"] if isinstance(listing, dict) else listing
        for project in projects:
            if project["title"] == title:
                if project.get("label_config", "").strip() != config.strip():
                    raise LabelStudioError(f"project {title!r} exists with other classes; "
                                           "choose another title")
                return int(project["id"])
        created = self._request("POST", "/api/projects/", {"title": title,
                                                           "label_config": config})
        return int(created["id"])

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
        """Every task of project ``project_id`` with its annotations (read page by page)."""
        tasks, page = [], 1
        while True:
            batch = self._request("GET", f"/api/tasks/?project={project_id}&page={page}"
                                         "&page_size=100&fields=all")
            items = batch.get("tasks", []) if isinstance(batch, dict) else batch
            tasks.extend(items)
            total = batch.get("total", len(tasks)) if isinstance(batch, dict) else len(tasks)
            if not items or len(tasks) >= total:
                return tasks
            page += 1

    def annotate(self, task_id: int, results: list[dict]) -> None:
        """Submit an annotation to a task, as a person in the labeling UI would.

        ``task_id``: the Label Studio task id; ``results``: its rectangle results (see
        :func:`boxes_to_results`; percent of the image)."""
        self._request("POST", f"/api/tasks/{task_id}/annotations/",
                      {"result": results, "was_cancelled": False})

    def progress(self, project_id: int) -> Progress:
        """How many tasks of project ``project_id`` are finished (a :class:`Progress`)."""
        tasks = self.tasks(project_id)
        return Progress(len(tasks), sum(1 for t in tasks if _finished(t)))

    def pull(self, project_id: int, names: Sequence[str]) -> dict[str, tuple[Labels, str]]:
        """Finished tasks as ``{alkit image path: (labels, annotator)}``; unfinished ones are
        left out (still waiting). Every finished task is converted before any is returned, so
        one bad annotation stops the whole pull with its task named.

        Args:
            project_id: the Label Studio project id.
            names: the dataset's class names; a box's label name gives its class id (an
                unknown name raises :class:`LabelStudioError`).

        The labels are YOLO labels (normalized center and size), from the last annotation
        that was not cancelled; the annotator is the Label Studio user id that completed it.
        """
        finished = {}
        for task in self.tasks(project_id):
            if not _finished(task):
                continue
            annotation = [a for a in task["annotations"] if not a.get("was_cancelled")][-1]
            where = f"Label Studio task {task['id']} ({task['data'].get('alkit_path')})"
            labels = results_to_labels(annotation.get("result", []), names, where=where)
            annotator = str(annotation.get("completed_by", ""))
            finished[task["data"]["alkit_path"]] = (labels, annotator)
        return finished


def _finished(task: dict) -> bool:
    return any(not a.get("was_cancelled") for a in task.get("annotations") or [])


class LabelStudioAnnotator(Annotator):
    """Annotation on a Label Studio server (see the module docstring): tasks carry the model's
    boxes as predictions scored by the round's uncertainty measure; finished annotations are
    the answers. ``client``: the :class:`LabelStudio` client of the server; ``title``: the
    Label Studio project (default: the alkit project's name)."""

    source = "labelstudio"

    def __init__(self, client: LabelStudio, *, title: str | None = None):
        self.client = client
        self.title = title
        self._finished: dict[str, tuple[Labels, str]] = {}

    def request(self, job: AnnotationJob) -> None:
        """Push the job's images the project lacks, then pull every finished task."""
        project_id = self.client.project(self.title or job.project_name, job.names)
        present = {t["data"].get("alkit_path") for t in self.client.tasks(project_id)}
        missing = [item.path for item in job.items if item.path not in present]
        if missing:
            self.client.push(project_id, self._tasks(job, missing),
                             model_version=job.model_version or None)
        self._finished = self.client.pull(project_id, job.names)

    def _tasks(self, job: AnnotationJob, paths: list[str]) -> list[dict]:
        root = self.client.document_root
        if job.predictions is None:
            return [{"data": {"image": local_files_url(p, root), "alkit_path": p}}
                    for p in paths]
        scores = job.predictions(paths)
        measure = scores.table[job.measure].to_numpy()
        return [make_task(path, local_files_url(path, root), scores.detections(i), job.names,
                          int(scores.widths[i]), int(scores.heights[i]), job.model_version,
                          float(measure[i]))
                for i, path in enumerate(scores.paths)]

    def answer(self, path: str) -> Labels | None:
        """The finished annotation of ``path`` from the last pull, or None."""
        found = self._finished.get(str(path))
        return None if found is None else found[0]

    def annotated_by(self, path: str) -> str | None:
        """The Label Studio user id that finished the task of ``path`` (from the last pull),
        or None."""
        found = self._finished.get(str(path))
        return None if found is None else found[1]

    def describe(self) -> str:
        """The server."""
        return f"Label Studio at {self.client.url}"


def make_task(path: str, image_url: str, detections, names, width: int, height: int,
              model_version: str, score: float) -> dict:
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

    Returns:
        The task dict: ``{"data": {...}, "predictions": [one prediction]}``.
    """
    return {
        "data": {"image": image_url, "alkit_path": str(path)},
        "predictions": [{
            "model_version": model_version, "score": float(score),
            "result": boxes_to_results(detections.xyxy, detections.class_id, names, width, height,
                                       detections.confidence),
        }],
    }


def local_files_url(path: str, document_root: str = "/") -> str:
    """The URL Label Studio serves a local file under (``LOCAL_FILES_DOCUMENT_ROOT``).

    ``path``: the file; ``document_root``: the server's document root (default ``/``), which
    ``path`` is made relative to."""
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(document_root))
    return "/data/local-files/?d=" + urllib.parse.quote(relative)
