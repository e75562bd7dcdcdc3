"""The annotator's view of a pushed round in a real Label Studio, in a real browser (Debian's
Chromium, Playwright).

alkit pushes a staged round to the session's Label Studio server (conftest.py) with its
local-files storage; Chromium logs in as the annotator, opens a task's labeling page, checks
that the image loaded (its natural width is the image's width), that the header says why the
image was picked and that the pre-annotated boxes are drawn where the predictions put them,
drags the one box the "model" got wrong back onto the object, and submits. alkit then pulls
the annotation into the labeled set with the corrected coordinates. Every request the page
makes must stay on loopback.

The pre-annotations come from a stand-in model: the hidden labels with one box shifted by
``SHIFT`` pixels. The seed model these tests can train in seconds (2 epochs at 64 px) detects
nothing above the confidence threshold on the tiny benchmark, so its predictions would draw no
box; the tasks are built by the same code either way (``LabelStudioAnnotator`` with the job's
``predictions``), and test_labelstudio.py checks the real model's predictions on the tasks.

Screenshots go to ``$ALKIT_TEST_ARTIFACTS`` (default ``test-artifacts/``), under
``labelstudio/``. Without Chromium or Playwright the test skips, and fails when ``CI`` is set.
"""

import contextlib
import dataclasses
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from annotate_fixtures import NAMES, REPO, missing
from jupyter_harness import chromium, find_chromium

from alkit.core.detections import Detections

SHIFT = 10  # pixels the stand-in model's wrong box is off to the right
SIZE = 128  # the tiny benchmark's images are SIZE x SIZE


@pytest.fixture(scope="module")
def chromium_path() -> str:
    executable = find_chromium()
    if executable is None:
        missing("Chromium is not installed: `make browser` installs Debian's package (or set "
                "ALKIT_CHROMIUM to a Chromium binary)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("Playwright is not installed: pip install -e '.[dev]'")
    return executable


@pytest.fixture
def artifacts() -> Path:
    root = Path(os.environ.get("ALKIT_TEST_ARTIFACTS") or REPO / "test-artifacts")
    out = root / "labelstudio"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return out


class StandInScores:
    """What ``AnnotationJob.predictions`` returns (paths, sizes, the measure column and
    ``detections(i)``), from known boxes."""

    def __init__(self, paths, labels, measure, wrong_path):
        import pandas as pd

        self.paths = list(paths)
        self.widths = self.heights = np.full(len(self.paths), SIZE)
        self.table = pd.DataFrame({measure: np.linspace(0.9, 0.4, len(self.paths))})
        self._labels, self._wrong = labels, wrong_path

    def boxes(self, path) -> np.ndarray:
        """The stand-in model's pixel boxes of ``path``: the hidden ones, the first of the
        wrong image shifted right."""
        xyxy = self._labels[path].xyxy(SIZE, SIZE).copy()
        if path == self._wrong:
            xyxy[0, [0, 2]] += SHIFT
        return xyxy

    def detections(self, i):
        path = self.paths[i]
        labels = self._labels[path]
        return Detections(self.boxes(path), np.full(len(labels), 0.9), labels.class_ids,
                          (SIZE, SIZE))


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:.0f} s")
        time.sleep(0.2)
    return result


def _movable(xyxy) -> bool:
    """Whether the first box can move SHIFT pixels right and be grabbed at its centre."""
    (x1, y1, x2, y2), others = xyxy[0], xyxy[1:]
    cx, cy = (x1 + x2) / 2 + SHIFT, (y1 + y2) / 2
    return x2 + SHIFT <= SIZE and not any(
        a <= cx <= c and b <= cy <= d for a, b, c, d in others)


#: the drawn rectangles of the labeling canvas (Konva) in page pixels, by result id
DRAWN_BOXES = """() => {
    const stage = window.Konva.stages[0];
    const origin = stage.container().getBoundingClientRect();
    return stage.find('Rect').filter(r => r.name().startsWith('alkit')).map(r => {
        const box = r.getClientRect();
        return {id: r.name().split('#')[0], x: origin.x + box.x, y: origin.y + box.y,
                width: box.width, height: box.height};
    });
}"""
#: the labeling image (the large one; the task list shows a thumbnail): where it is drawn
#: and its natural size, once loaded
LABELING_IMAGE = """() => Array.from(document.querySelectorAll('img'))
    .filter(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 300)
    .map(i => {
        const box = i.getBoundingClientRect();
        return {x: box.x, y: box.y, width: box.width, naturalWidth: i.naturalWidth,
                naturalHeight: i.naturalHeight};
    })"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_annotator_corrects_a_box_in_label_studio(label_studio, server, staged_project,
                                                     round_config, tiny_dataset, chromium_path,
                                                     artifacts):
    from alkit.annotate.labelstudio import LabelStudioAnnotator
    from alkit.annotate.simulated import Oracle
    from alkit.data import datasets

    project = staged_project()
    job = project.annotation_job(1, round_config)
    oracle = Oracle(tiny_dataset / "dataset.yaml")
    truth = {path: oracle.answer(path) for path in job.paths}
    # the stand-in model gets the first box of the image with the most boxes wrong (one with
    # room to the right, whose centre no other box covers: a press there grabs that box)
    wrong = max((p for p in job.paths if len(truth[p]) and _movable(truth[p].xyxy(SIZE, SIZE))),
                key=lambda p: len(truth[p]))
    scores = StandInScores(job.paths, truth, job.measure, wrong)
    annotator = LabelStudioAnnotator(server)
    annotator.request(dataclasses.replace(job, predictions=lambda paths: scores))
    project_id = server.project(job.project_name, NAMES)
    task = next(t for t in server.tasks(project_id) if t["data"]["alkit_path"] == wrong)
    predicted = scores.boxes(wrong)

    with chromium(chromium_path, viewport=(1400, 1000)) as (page, requests):
        try:
            page.goto(f"{label_studio.url}/user/login/")
            page.fill("input[name=email]", label_studio.username)
            page.fill("input[name=password]", label_studio.password)
            page.click("button[type=submit], input[type=submit]")
            page.wait_for_url(lambda url: "/user/login" not in url, timeout=60_000)
            page.goto(f"{label_studio.url}/projects/{project_id}/data?task={task['id']}")

            # the image loaded: the labeling image's natural width is the file's width
            [image] = _wait_for(lambda: page.evaluate(LABELING_IMAGE), 60, "labeling image")
            assert (image["naturalWidth"], image["naturalHeight"]) == (SIZE, SIZE)
            # why it was picked, above the image
            page.get_by_text(task["data"]["alkit_pick"]).wait_for(timeout=10_000)
            # the model's boxes are drawn where the predictions put them
            _wait_for(lambda: page.evaluate(DRAWN_BOXES), 30, "drawn boxes")
            page.wait_for_timeout(1000)  # the image is fitted to the view once it is drawn
            [image], drawn = page.evaluate(LABELING_IMAGE), page.evaluate(DRAWN_BOXES)
            assert len(drawn) == len(predicted)
            assert page.locator(".lsf-tree__node_type_rectangleregion").count() == len(predicted)
            scale = image["width"] / SIZE  # page pixels per image pixel
            for k, (x1, y1, x2, _) in enumerate(predicted):
                box = next(d for d in drawn if d["id"] == f"alkit{k}")
                assert abs(box["x"] - image["x"] - x1 * scale) < 1.5
                assert abs(box["y"] - image["y"] - y1 * scale) < 1.5
                assert abs(box["width"] - (x2 - x1) * scale) < 1.5
            page.screenshot(path=artifacts / "1-task-opened.png")

            # the annotator drags the wrong box back onto the object
            box = next(d for d in drawn if d["id"] == "alkit0")
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x - SHIFT * scale, y, steps=10)
            page.mouse.up()
            moved = next(d for d in page.evaluate(DRAWN_BOXES) if d["id"] == "alkit0")
            assert abs(moved["x"] - (box["x"] - SHIFT * scale)) < 1.5
            page.screenshot(path=artifacts / "2-box-corrected.png")
            page.get_by_role("button", name="Submit").click()
            _wait_for(lambda: server.tasks(project_id) and any(
                t["annotations"] for t in server.tasks(project_id) if t["id"] == task["id"]),
                30, "submitted annotation")
            page.screenshot(path=artifacts / "3-submitted.png")
        except BaseException:
            with contextlib.suppress(Exception):
                page.screenshot(path=artifacts / "failure.png")
            (artifacts / "server.log").write_text(label_studio.log_tail(200_000))
            raise
    outside = requests.outside_loopback()
    assert outside == [], f"the page reached beyond loopback: {outside}"
    assert any("/data/local-files/" in url for url in requests)

    # alkit pulls it into the labeled set, with the corrected coordinates
    assert project.annotate(1, annotator, round_config) == 1
    [row] = [r for r in project.ledger.labeled() if r["source"] == "labelstudio"]
    assert row["path"] == wrong
    written = datasets.read_labels(row["label_path"], len(NAMES))
    np.testing.assert_array_equal(written.class_ids, truth[wrong].class_ids)
    np.testing.assert_allclose(written.xywhn, truth[wrong].xywhn, atol=0.5 / SIZE)
