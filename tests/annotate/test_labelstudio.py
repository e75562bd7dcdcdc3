"""Label Studio handoff: conversions and safety offline, then a real server end to end
(images served from disk or uploaded, a killed server, annotations changed after import, a
labeling config edited by hand). The server comes from conftest.py."""

import io
import re
import socket
import time
import zipfile
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from annotate_fixtures import BUDGET, NAMES

from alkit.annotate import labelstudio
from alkit.annotate.labelstudio import LabelStudio, LabelStudioError
from alkit.data import datasets
from alkit.data.datasets import Labels


def test_label_config_keeps_class_ids_and_escapes_names():
    config = labelstudio.label_config(["cat", 'say "hi" & <b>'])
    assert '<Label value="cat" category="0"/>' in config
    assert "category=\"1\"" in config and "&amp;" in config and "&lt;b&gt;" in config
    assert labelstudio.config_classes(config) == ["cat", 'say "hi" & <b>']
    assert '<Header value="$alkit_pick"' in config  # why the image was picked, above it


def test_a_config_edited_by_hand_is_refused_naming_the_class():
    config = labelstudio.label_config(NAMES)
    labelstudio.check_classes(config, NAMES)
    renamed = config.replace('value="three"', 'value="tree"')
    with pytest.raises(LabelStudioError) as error:
        labelstudio.check_classes(renamed, NAMES, where="project 'p'")
    assert "project 'p'" in str(error.value)
    assert "class 'three' is missing" in str(error.value)
    assert "class 'tree' is not a class of the dataset" in str(error.value)
    removed = config.replace('    <Label value="seven" category="5"/>\n', "")
    with pytest.raises(LabelStudioError, match="class 'seven' is missing"):
        labelstudio.check_classes(removed, NAMES)
    swapped = labelstudio.label_config(["one", "zero", *NAMES[2:]])
    with pytest.raises(LabelStudioError, match="another order"):
        labelstudio.check_classes(swapped, NAMES)


def test_an_images_folder_outside_the_document_root_names_both(tmp_path):
    client = LabelStudio("http://127.0.0.1:9", "token", document_root=str(tmp_path / "root"))
    with pytest.raises(LabelStudioError) as error:
        client.local_storage(1, tmp_path / "elsewhere" / "images")  # checked before any request
    message = str(error.value)
    assert str(tmp_path / "elsewhere" / "images") in message and str(tmp_path / "root") in message
    assert "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT" in message and "--ls-upload" in message


def test_boxes_survive_the_round_trip_exactly():
    labels = Labels([1, 5], [[0.25, 0.5, 0.2, 0.3], [0.9, 0.1, 0.2, 0.2]])
    results = labelstudio.boxes_to_results(labels.xyxy(640, 480), labels.class_ids, NAMES, 640,
                                           480, scores=[0.9, 0.4])
    assert results[0]["value"]["rectanglelabels"] == ["one"] and results[1]["score"] == 0.4
    assert results[0]["value"]["x"] == pytest.approx(15.0)
    back = labelstudio.results_to_labels(results, NAMES)
    np.testing.assert_array_equal(back.class_ids, labels.class_ids)
    np.testing.assert_allclose(back.xywhn, labels.xywhn, atol=1e-12)


def test_unknown_labels_and_boxes_outside_the_image_are_refused():
    result = labelstudio.boxes_to_results([[0, 0, 10, 10]], [0], ["mystery"], 100, 100)
    with pytest.raises(LabelStudioError, match="task 7: unknown label 'mystery'"):
        labelstudio.results_to_labels(result, NAMES, where="task 7")
    outside = labelstudio.boxes_to_results([[90, 90, 120, 100]], [0], NAMES, 100, 100)
    with pytest.raises(LabelStudioError, match="lies outside the image"):
        labelstudio.results_to_labels(outside, NAMES)


def _zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_read_zip_safely_still_imports_from_here():
    # moved to alkit.annotate.archive (tested in test_archive.py)
    assert labelstudio.read_zip_safely(_zip({"labels/a.txt": b"0 0.5 0.5 0.1 0.1\n"})) == {
        "labels/a.txt": b"0 0.5 0.5 0.1 0.1\n"}
    with pytest.raises(labelstudio.ArchiveError, match=re.escape("'../evil.txt': '..' leaves")):
        labelstudio.read_zip_safely(_zip({"ok.txt": b"", "../evil.txt": b"x"}))


def test_the_token_never_appears_and_a_dead_server_is_retried(monkeypatch):
    monkeypatch.delenv("ALKIT_LABEL_STUDIO_TOKEN", raising=False)
    with pytest.raises(LabelStudioError, match="no Label Studio token"):
        LabelStudio("http://127.0.0.1:9")
    secret = "s3cr3t-token-value"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = LabelStudio(f"http://127.0.0.1:{port}", secret, retries=2, backoff=0.05)
    assert secret not in repr(client)
    started = time.perf_counter()
    with pytest.raises(LabelStudioError) as error:
        client.progress(1)
    assert "unreachable after 3 tries" in str(error.value) and secret not in str(error.value)
    assert time.perf_counter() - started >= 0.05 + 0.1  # backoff between the tries




# --------------------------------------------------------------------------- a real server


def _truth(tiny_dataset, paths):
    from alkit.annotate.simulated import Oracle

    oracle = Oracle(tiny_dataset / "dataset.yaml")
    return {path: oracle.answer(path) for path in paths}


def _submit(server, task, labels):
    """Annotate a task through the API with ``labels`` (128 x 128 images); the annotation id."""
    return server.annotate(task["id"], labelstudio.boxes_to_results(
        labels.xyxy(128, 128), labels.class_ids, NAMES, 128, 128))


def _pushed(server, staged_project, round_config, tiny_dataset):
    """A staged round pushed to Label Studio: ``(project, annotator, ls_project_id, tasks,
    truth by alkit path)``."""
    from alkit.annotate.labelstudio import LabelStudioAnnotator

    project = staged_project()
    annotator = LabelStudioAnnotator(server)
    project.annotate(1, annotator, round_config)
    project_id = server.project(f"alkit {project.dir.name}", NAMES)
    tasks = server.tasks(project_id)
    return project, annotator, project_id, tasks, _truth(
        tiny_dataset, [t["data"]["alkit_path"] for t in tasks])


def _imported(project):
    return {row["path"]: datasets.read_labels(row["label_path"], len(NAMES))
            for row in project.ledger.labeled() if row["source"] == "labelstudio"}


@pytest.mark.slow
def test_a_round_through_a_real_label_studio(server, staged_project, round_config, tiny_dataset):
    from alkit.annotate.labelstudio import LabelStudioAnnotator

    project = staged_project()
    annotator = LabelStudioAnnotator(server)
    pending = project.run_round(round_config, annotator=annotator, progress=False)
    assert (pending.number, pending.status) == (1, "annotating")
    project_id = server.project(f"alkit {project.dir.name}", NAMES)
    tasks = server.tasks(project_id)
    assert len(tasks) == BUDGET and server.progress(project_id).waiting == BUDGET
    # the round's staging folder is the project's local-files storage: every image is served
    images = project.round_dir(1) / "images"
    [storage] = server._request("GET", f"/api/storages/localfiles?project={project_id}")
    assert storage["path"] == str(images)
    for task in tasks:
        url = task["data"]["image"]
        assert url.startswith("/data/local-files/?d=") and "round_001/images/" in unquote(url)
        assert server.fetch(url) == Path(task["data"]["alkit_path"]).read_bytes()
    version = server.model_version(project_id)
    assert version.startswith("alkit-round1-")
    scores = project.round_scores(1, [t["data"]["alkit_path"] for t in tasks])
    entropy = dict(zip(scores.paths, scores.table["entropy_max"], strict=True))
    picks = {q["path"]: q for q in project.ledger.queries(1)}
    for task in tasks:
        assert [p["model_version"] for p in task["predictions"]] == [version]
        # the per-task score is the round's own measure (annotators sort by it)
        assert task["predictions"][0]["score"] == pytest.approx(
            entropy[task["data"]["alkit_path"]], abs=1e-6)
        # why it was picked, for a reviewer
        pick, data = picks[task["data"]["alkit_path"]], task["data"]
        assert (data["alkit_round"], data["alkit_rank"], data["alkit_reason"]) == (
            1, pick["rank"], pick["reason"])
        assert data["alkit_pick"].startswith(f"alkit round 1, rank {pick['rank']}")
    # annotate half of them as a person would, from the hidden labels
    truth = _truth(tiny_dataset, [t["data"]["alkit_path"] for t in tasks])
    for task in tasks[:3]:
        _submit(server, task, truth[task["data"]["alkit_path"]])
    partial = project.run_round(round_config, annotator=annotator, progress=False)
    assert partial.status == "annotating" and len(_imported(project)) == 3
    assert len(server.tasks(project_id)) == BUDGET  # nothing pushed twice
    # a wrong label name stops the import before anything is written
    server.annotate(tasks[3]["id"], labelstudio.boxes_to_results(
        [[1, 1, 20, 20]], [0], ["not-a-class"], 128, 128))
    with pytest.raises(LabelStudioError, match="unknown label 'not-a-class'"):
        project.run_round(round_config, annotator=annotator, progress=False)
    assert len(_imported(project)) == 3
    for task in tasks[3:]:
        _submit(server, task, truth[task["data"]["alkit_path"]])
    done = project.run_round(round_config, annotator=annotator, progress=False)
    assert done.status == "done" and done.n_labeled_after == done.n_labeled_before + BUDGET
    imported = _imported(project)
    assert imported.keys() == truth.keys()
    for path, written in imported.items():
        np.testing.assert_array_equal(written.class_ids, truth[path].class_ids)
        np.testing.assert_allclose(written.xywhn, truth[path].xywhn, atol=1e-6)


@pytest.mark.slow
def test_images_uploaded_for_a_server_on_another_machine(server, staged_project, round_config):
    from alkit.annotate.labelstudio import LabelStudioAnnotator

    project = staged_project()
    annotator = LabelStudioAnnotator(server, title="alkit uploaded", upload=True)
    assert project.annotate(1, annotator, round_config) == 0
    project_id = server.project("alkit uploaded", NAMES)
    tasks = server.tasks(project_id)
    assert len(tasks) == BUDGET
    assert server._request("GET", f"/api/storages/localfiles?project={project_id}") == []
    for task in tasks:
        assert task["data"]["image"].startswith(f"/data/upload/{project_id}/")
        assert server.fetch(task["data"]["image"]) == Path(task["data"]["alkit_path"]).read_bytes()
        assert task["predictions"] and task["data"]["alkit_round"] == 1
    project.annotate(1, annotator, round_config)
    assert len(server.tasks(project_id)) == BUDGET  # nothing uploaded or pushed twice


@pytest.mark.slow
def test_a_server_killed_in_the_middle_of_a_pull(label_studio, staged_project, round_config,
                                                 tiny_dataset):
    """SIGKILL while alkit reads the task list page by page: nothing of that pull is
    imported; after a restart on the same data folder every finished task is imported exactly
    once."""
    from alkit.annotate.labelstudio import LabelStudioAnnotator

    project = staged_project()
    client = label_studio.client(page_size=2)  # the pull reads 3 pages
    annotator = LabelStudioAnnotator(client)
    project.annotate(1, annotator, round_config)
    project_id = client.project(f"alkit {project.dir.name}", NAMES)
    tasks = client.tasks(project_id)
    truth = _truth(tiny_dataset, [t["data"]["alkit_path"] for t in tasks])
    for task in tasks[:4]:
        _submit(client, task, truth[task["data"]["alkit_path"]])

    pages, request = [], client._request

    def kill_after_the_first_page(method, path, *args, **kwargs):
        if path.startswith("/api/tasks/"):
            pages.append(path)
            if len(pages) == 2:
                label_studio.kill()
        return request(method, path, *args, **kwargs)

    client._request = kill_after_the_first_page
    with pytest.raises(LabelStudioError, match="unreachable"):
        project.annotate(1, annotator, round_config)
    assert label_studio.process is None and len(pages) == 2
    assert _imported(project) == {} and len(project.waiting(1)) == BUDGET

    label_studio.start()  # the same data folder, port and token
    client._request = request
    assert project.annotate(1, annotator, round_config) == 4
    assert project.annotate(1, annotator, round_config) == 0  # nothing imported twice
    imported = _imported(project)
    assert imported.keys() == {t["data"]["alkit_path"] for t in tasks[:4]}
    for path, labels in imported.items():
        np.testing.assert_allclose(labels.xywhn, truth[path].xywhn, atol=1e-6)
    assert len(client.tasks(project_id)) == BUDGET and len(project.waiting(1)) == BUDGET - 4


@pytest.mark.slow
def test_annotations_changed_or_deleted_after_import_are_reported(server, staged_project,
                                                                  round_config, tiny_dataset):
    from alkit.annotate.labelstudio import LabelStudioChangeWarning

    project, annotator, _, tasks, truth = _pushed(server, staged_project, round_config,
                                                  tiny_dataset)
    annotation_ids = [_submit(server, task, truth[task["data"]["alkit_path"]])
                      for task in tasks[:3]]
    assert project.annotate(1, annotator, round_config) == 3
    before = {path: labels.xywhn.copy() for path, labels in _imported(project).items()}
    assert annotator.changes == []

    server._request("DELETE", f"/api/annotations/{annotation_ids[0]}/")
    moved = labelstudio.boxes_to_results([[10, 10, 60, 60]], [1], NAMES, 128, 128)
    server._request("PATCH", f"/api/annotations/{annotation_ids[1]}/", {"result": moved})
    with pytest.warns(LabelStudioChangeWarning) as warned:
        assert project.annotate(1, annotator, round_config) == 0
    changes = annotator.changes
    assert len(changes) == 2 and [str(w.message) for w in warned] == changes
    deleted = next(c for c in changes if f"task {tasks[0]['id']} " in c)
    changed = next(c for c in changes if f"task {tasks[1]['id']} " in c)
    assert "was deleted" in deleted and tasks[0]["data"]["alkit_path"] in deleted
    assert "was changed" in changed and "does not import it again" in changed
    after = _imported(project)  # the ledger keeps what it imported
    assert after.keys() == before.keys()
    for path, labels in after.items():
        np.testing.assert_array_equal(labels.xywhn, before[path])


@pytest.mark.slow
def test_a_labeling_config_edited_by_hand_stops_the_pull(server, staged_project, round_config,
                                                         tiny_dataset):
    project, annotator, project_id, tasks, truth = _pushed(server, staged_project, round_config,
                                                           tiny_dataset)
    _submit(server, tasks[0], truth[tasks[0]["data"]["alkit_path"]])
    # Label Studio refuses a config that drops a label an annotation uses: edit the others
    used = {NAMES[c] for c in truth[tasks[0]["data"]["alkit_path"]].class_ids}
    unused = [n for n in NAMES if n not in used]
    renamed, removed = unused[:2]
    config = labelstudio.label_config(NAMES).replace(
        f'value="{renamed}"', 'value="renamed-by-hand"')
    config = "\n".join(line for line in config.splitlines() if f'"{removed}"' not in line)
    server._request("PATCH", f"/api/projects/{project_id}/", {"label_config": config})
    with pytest.raises(LabelStudioError) as error:
        project.annotate(1, annotator, round_config)
    message = str(error.value)
    assert f"class {renamed!r} is missing" in message and f"class {removed!r} is missing" in message
    assert "'renamed-by-hand' is not a class of the dataset" in message
    assert _imported(project) == {}


@pytest.mark.slow
def test_an_image_sent_back_gets_a_new_task_and_its_answer_replaces_the_label(
        server, staged_project, round_config, tiny_dataset):
    project, annotator, project_id, tasks, truth = _pushed(server, staged_project,
                                                           round_config, tiny_dataset)
    wrong = tasks[0]["data"]["alkit_path"]
    _submit(server, tasks[0], Labels(truth[wrong].class_ids[1:], truth[wrong].xywhn[1:]))
    for task in tasks[1:]:
        _submit(server, task, truth[task["data"]["alkit_path"]])
    assert project.annotate(1, annotator, round_config) == BUDGET
    # round 1 closes (its model: the seed model, to skip training) and round 2 is staged
    record = project._round(1)
    project.ledger.set_round_status(1, "training")
    project.ledger.finish_round(1, model_after=record.model_before,
                                model_after_hash=record.model_before_hash,
                                metrics_after=record.metrics_before)
    project.send_back(wrong, "a box is missing")
    project.stage_round(round_config, progress=False)
    job = project.annotation_job(2, round_config)
    assert [item.path for item in job.items if item.relabel] == [wrong]
    assert project.annotate(2, annotator, round_config) == 0  # the old task is no answer
    assert annotator.changes == []
    relabel = [t for t in server.tasks(project_id)
               if t["data"]["alkit_path"] == wrong and t["data"]["alkit_round"] == 2]
    assert len(relabel) == 1 and relabel[0]["data"]["alkit_reason"] == \
        "relabel: a box is missing"
    assert relabel[0]["predictions"]  # the model's boxes, as for a pick
    _submit(server, relabel[0], truth[wrong])
    assert project.annotate(2, annotator, round_config) == 1
    assert annotator.changes == []
    image_id = project.ledger.image_ids([wrong])[0]
    fixed = datasets.read_labels(project.ledger.label_of(image_id)["label_path"], len(NAMES))
    np.testing.assert_allclose(fixed.xywhn, truth[wrong].xywhn, atol=1e-6)
    (history,) = project.ledger.label_history(image_id)
    assert history["source"] == "labelstudio" and history["replaced_in_round"] == 2
    assert [r["image_id"] for r in project.waiting(2)] == [q["image_id"] for q in
                                                           project.ledger.queries(2)]
