"""Label Studio handoff: conversions and safety offline, then a real server end to end."""

import io
import os
import secrets
import shutil
import socket
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from alkit.annotate import labelstudio
from alkit.annotate.labelstudio import LabelStudio, LabelStudioError
from alkit.data import datasets
from alkit.data.datasets import Labels

REPO = Path(__file__).parents[2]
NAMES = ("zero", "one", "two", "three", "four", "seven")


def test_label_config_keeps_class_ids_and_escapes_names():
    config = labelstudio.label_config(["cat", 'say "hi" & <b>'])
    assert '<Label value="cat" category="0"/>' in config
    assert "category=\"1\"" in config and "&amp;" in config and "&lt;b&gt;" in config


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


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "labels/../../x.txt",
                                  "C:/windows.txt"])
def test_archives_are_read_member_by_member_without_zip_slip(name):
    assert labelstudio.read_zip_safely(_zip({"labels/a.txt": b"0 0.5 0.5 0.1 0.1\n"})) == {
        "labels/a.txt": b"0 0.5 0.5 0.1 0.1\n"}
    with pytest.raises(LabelStudioError, match="escapes the archive"):
        labelstudio.read_zip_safely(_zip({"ok.txt": b"", name: b"x"}))


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


def _label_studio_binary() -> Path | None:
    for candidate in (os.environ.get("ALKIT_LABEL_STUDIO_BIN"),
                      REPO / ".venv-labelstudio" / "bin" / "label-studio",
                      shutil.which("label-studio")):
        if candidate and Path(candidate).is_file():
            return Path(candidate).resolve()
    return None


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    binary = _label_studio_binary()
    if binary is None:
        message = ("Label Studio is not installed: `make test` installs it in "
                   ".venv-labelstudio (or set ALKIT_LABEL_STUDIO_BIN)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    home = tmp_path_factory.mktemp("labelstudio")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(20)
    env = {k: v for k, v in os.environ.items()
           if k not in ("HOST", "PORT", "USERNAME", "PASSWORD") and not k.startswith("ALKIT_")}
    env.update(HOME=str(home), LABEL_STUDIO_BASE_DATA_DIR=str(home / "data"), SENTRY_DSN="",
               FRONTEND_SENTRY_DSN="", LATEST_VERSION_CHECK="false", COLLECT_ANALYTICS="false",
               LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
               LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT="/")
    log = open(home / "server.log", "wb")  # noqa: SIM115  (closed at teardown)
    process = subprocess.Popen(
        [str(binary), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port",
         str(port), "--username", "annotator@alkit.test", "--password", secrets.token_hex(8),
         "--user-token", token, "--enable-legacy-api-token"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=home)
    client = LabelStudio(f"http://127.0.0.1:{port}", token, retries=1, backoff=0.1)
    deadline = time.time() + 240
    while not client.health():
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            pytest.fail("Label Studio did not start:\n"
                        + (home / "server.log").read_text(errors="replace")[-3000:])
        time.sleep(1)
    yield client
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.mark.slow
def test_a_round_through_a_real_label_studio(server, tiny_dataset, tmp_path):
    from alkit.annotate.labelstudio import LabelStudioAnnotator
    from alkit.annotate.simulated import Oracle
    from alkit.loop.config import round_config
    from alkit.loop.project import Project

    config = round_config("two_stage", "tiny", budget=6, measure="entropy_max")
    project = Project.init(tmp_path / "ls-project", tiny_dataset / "dataset.yaml")
    project.run_round(config, progress=False)
    annotator = LabelStudioAnnotator(server)
    pending = project.run_round(config, annotator=annotator, progress=False)
    assert (pending.number, pending.status) == (1, "annotating")
    project_id = server.project(f"alkit {project.dir.name}", NAMES)
    tasks = server.tasks(project_id)
    assert len(tasks) == 6 and server.progress(project_id).waiting == 6
    version = server.model_version(project_id)
    assert version.startswith("alkit-round1-")
    scores = project.round_scores(1, [t["data"]["alkit_path"] for t in tasks])
    entropy = dict(zip(scores.paths, scores.table["entropy_max"], strict=True))
    for task in tasks:
        assert [p["model_version"] for p in task["predictions"]] == [version]
        # the per-task score is the round's own measure (annotators sort by it)
        assert task["predictions"][0]["score"] == pytest.approx(
            entropy[task["data"]["alkit_path"]], abs=1e-6)
    # annotate half of them as a person would, from the hidden labels
    oracle = Oracle(tiny_dataset / "dataset.yaml")
    truth = {}
    for task in tasks:
        path = task["data"]["alkit_path"]
        truth[path] = oracle.answer(path)
    for task in tasks[:3]:
        path = task["data"]["alkit_path"]
        server.annotate(task["id"], labelstudio.boxes_to_results(
            truth[path].xyxy(128, 128), truth[path].class_ids, NAMES, 128, 128))
    partial = project.run_round(config, annotator=annotator, progress=False)
    assert partial.status == "annotating" and project.ledger.counts()["labeled"] == 27
    assert len(server.tasks(project_id)) == 6  # nothing pushed twice
    # a wrong label name stops the import before anything is written
    server.annotate(tasks[3]["id"], labelstudio.boxes_to_results(
        [[1, 1, 20, 20]], [0], ["not-a-class"], 128, 128))
    with pytest.raises(LabelStudioError, match="unknown label 'not-a-class'"):
        project.run_round(config, annotator=annotator, progress=False)
    assert project.ledger.counts()["labeled"] == 27
    for task in tasks[3:]:
        path = task["data"]["alkit_path"]
        server.annotate(task["id"], labelstudio.boxes_to_results(
            truth[path].xyxy(128, 128), truth[path].class_ids, NAMES, 128, 128))
    done = project.run_round(config, annotator=annotator, progress=False)
    assert done.status == "done" and done.n_labeled_after == 30
    for row in project.ledger.labeled():
        if row["source"] != "labelstudio":
            continue
        written = datasets.read_labels(row["label_path"], len(NAMES))
        expected = truth[row["path"]]
        np.testing.assert_array_equal(written.class_ids, expected.class_ids)
        np.testing.assert_allclose(written.xywhn, expected.xywhn, atol=1e-6)
    assert {r["source"] for r in project.ledger.labeled()} == {"seed", "labelstudio"}
    project.close()
