"""The annotator's view of a pushed round in a real Label Studio, in a real browser (Debian's
Chromium, Playwright).

alkit stages a round with a low confidence threshold (0.05, the lowest box the scorer keeps:
the session's seed model, 3 epochs at 128 px, is never surer than about 0.2), picking the
images whose candidate boxes it is least sure of, and pushes it to the session's Label Studio
server (conftest.py) with its local-files storage and the model's boxes as pre-annotations.
Chromium logs in as the annotator, opens the task of a picked image the model drew a box on,
checks that the image loaded (its natural width is the image's width), that the header says why
the image was picked and that the model's predicted boxes are drawn where it put them, drags
one of them onto an object of the image (its hidden label), and submits. alkit then pulls the
annotation into the labeled set with the corrected coordinates. Every request the page makes
must stay on loopback.

Screenshots go to ``$ALKIT_TEST_ARTIFACTS`` (default ``test-artifacts/``), under
``labelstudio/``. Without Chromium or Playwright the test skips, and fails when ``CI`` is set;
without the optional pretrained start the seed model predicts no box and the test skips.
"""

import contextlib
import dataclasses
import time

import numpy as np
import pytest
from annotate_fixtures import BUDGET, NAMES
from jupyter_harness import artifacts_dir, chromium

SIZE = 128  # the tiny benchmark's images are SIZE x SIZE


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:.0f} s")
        time.sleep(0.2)
    return result


def _correction(predicted, truth):
    """``(k, shift)``: the predicted box ``k`` to drag and by how much (image pixels) to put
    its centre on the centre of the object nearest it; None when no box can be dragged there
    (the move stays inside the image and is at least 2 pixels, and no other box covers the
    centre, so a press there grabs box ``k``). The longest such move is chosen."""
    objects = (truth[:, :2] + truth[:, 2:]) / 2
    best = None
    for k, (x1, y1, x2, y2) in enumerate(predicted):
        cx, cy, others = (x1 + x2) / 2, (y1 + y2) / 2, np.delete(predicted, k, axis=0)
        shift = objects[np.argmin(np.hypot(*(objects - (cx, cy)).T))] - (cx, cy)
        inside = x1 + shift[0] >= 0 and y1 + shift[1] >= 0 and max(
            x2 + shift[0], y2 + shift[1]) <= SIZE
        covered = any(a <= cx <= c and b <= cy <= d for a, b, c, d in others)
        if inside and not covered and np.hypot(*shift) >= 2 and (
                best is None or np.hypot(*shift) > np.hypot(*best[1])):
            best = (k, shift)
    return best


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
                                                     round_config, tiny_dataset, chromium_path):
    from alkit.annotate.labelstudio import LabelStudioAnnotator
    from alkit.annotate.simulated import Oracle
    from alkit.core.query import query
    from alkit.core.selectors import TopK
    from alkit.core.strategy import Strategy
    from alkit.core.utility import Uncertainty
    from alkit.data import datasets
    from alkit.model.yolo import pretrained_checkpoint

    artifacts = artifacts_dir("labelstudio")
    # the seed model's boxes down to the scorer's lowest confidence (at the default 0.25 it
    # draws none), and the picks it is least sure of among those it drew a box on (the
    # candidate-level entropy of an image without a candidate is 0)
    least_sure = Strategy("candidate_entropy", TopK(), Uncertainty("entropy", "expected"))
    config = dataclasses.replace(round_config, query=query(
        least_sure, budget=BUDGET, conf_threshold=0.05))
    project = staged_project(config=config)
    job = project.annotation_job(1, config)
    scores = job.predictions(job.paths)  # what the annotator pushes (the same cached scores)
    oracle = Oracle(tiny_dataset / "dataset.yaml")
    detections = {path: scores.detections(i) for i, path in enumerate(scores.paths)}
    corrections = {path: _correction(d.xyxy, oracle.answer(path).xyxy(SIZE, SIZE))
                   for path, d in detections.items() if len(d)}
    corrections = {path: c for path, c in corrections.items() if c is not None}
    if not corrections and pretrained_checkpoint() is None:
        pytest.skip("the seed model predicts no box without the optional pretrained start")
    assert corrections, "the seed model predicted no box that can be moved on the picked images"
    # the picked image with the most predicted boxes
    path = max(corrections, key=lambda p: len(detections[p]))
    predicted, (k, shift) = detections[path].xyxy, corrections[path]
    annotator = LabelStudioAnnotator(server)
    annotator.request(job)
    project_id = server.project(job.project_name, NAMES)
    task = next(t for t in server.tasks(project_id) if t["data"]["alkit_path"] == path)

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
            for j, (x1, y1, x2, _) in enumerate(predicted):
                box = next(d for d in drawn if d["id"] == f"alkit{j}")
                assert abs(box["x"] - image["x"] - x1 * scale) < 1.5
                assert abs(box["y"] - image["y"] - y1 * scale) < 1.5
                assert abs(box["width"] - (x2 - x1) * scale) < 1.5
            page.screenshot(path=artifacts / "1-task-opened.png")

            # the annotator drags the predicted box k onto the object
            box = next(d for d in drawn if d["id"] == f"alkit{k}")
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + shift[0] * scale, y + shift[1] * scale, steps=10)
            page.mouse.up()
            moved = next(d for d in page.evaluate(DRAWN_BOXES) if d["id"] == f"alkit{k}")
            assert abs(moved["x"] - (box["x"] + shift[0] * scale)) < 1.5
            assert abs(moved["y"] - (box["y"] + shift[1] * scale)) < 1.5
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

    # alkit pulls it into the labeled set, with the corrected coordinates (the other predicted
    # boxes stay, as the annotator left them)
    assert project.annotate(1, annotator, config) == 1
    [row] = [r for r in project.ledger.labeled() if r["source"] == "labelstudio"]
    assert row["path"] == path
    written = datasets.read_labels(row["label_path"], len(NAMES))
    corrected = predicted.copy()
    corrected[k] += np.tile(shift, 2)
    assert len(written) == len(predicted)
    np.testing.assert_array_equal(np.sort(written.class_ids), np.sort(detections[path].class_id))
    pulled = written.xyxy(SIZE, SIZE)
    for j, box in enumerate(corrected):  # each box where the model or the annotator put it
        assert np.abs(pulled - box).max(axis=1).min() < 1.0, (j, box, pulled)
