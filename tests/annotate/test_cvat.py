"""CVAT by files: the task package, CVAT's exports back (XML, YOLO 1.1, Ultralytics YOLO),
whole-batch validation, crafted archives, the resume behaviour, and both directions checked
against Datumaro, CVAT's own format library (run from its own environment)."""

import json
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from annotate_fixtures import BUDGET, NAMES, find_datumaro_python, missing
from PIL import Image

from alkit.annotate import cvat
from alkit.annotate.archive import ArchiveError, read_zip_safely
from alkit.annotate.base import AnnotationItem, AnnotationJob
from alkit.annotate.cvat import CvatFilesAnnotator, CvatImage
from alkit.data import datasets, files
from alkit.data.datasets import DatasetError, Labels

TOOL = Path(__file__).with_name("datumaro_tool.py")
SIZES = [(128, 96), (64, 64), (100, 80), (90, 120)]  # (width, height) of the test images


class _Scores:
    """What ``AnnotationJob.predictions`` returns, for the boxes the tests need."""

    def __init__(self, paths, boxes):
        from alkit.core.detections import Detections

        self.paths = list(paths)
        self.widths = np.array([w for w, _ in SIZES[:len(paths)]])
        self.heights = np.array([h for _, h in SIZES[:len(paths)]])
        self._found = [Detections(np.array([b[1:] for b in bs], float).reshape(-1, 4),
                                  np.full(len(bs), 0.8), np.array([b[0] for b in bs], int),
                                  (h, w))
                       for bs, (w, h) in zip(boxes, SIZES, strict=False)]

    def detections(self, i):
        return self._found[i]


#: the model's boxes per image: (class id, x1, y1, x2, y2) in pixels
MODEL_BOXES = [[(1, 10, 20, 40, 60), (5, 50, 5, 90, 45)], [], [(0, 5, 5, 30, 30)],
               [(3, 1, 1, 89, 119)]]


def _job(tmp_path, n=4, *, with_model=True, waiting=None) -> AnnotationJob:
    """A round folder with n staged images and a manifest, as a project stages them."""
    round_dir = tmp_path / "rounds" / "round_001"
    (round_dir / "images").mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        source = tmp_path / "pool" / f"img{i}.jpg"
        if not source.exists():
            source.parent.mkdir(exist_ok=True)
            Image.new("RGB", SIZES[i], (40 * i, 80, 120)).save(source)
        staged = f"{i + 1:06d}_img{i}.jpg"
        files.link(source, round_dir / "images" / staged)
        items.append(AnnotationItem(i + 1, str(source), staged, i + 1, 0.9 - 0.1 * i, "uncertain"))
    entries = [{"staged": item.staged, "path": item.path, "rank": item.rank} for item in items]
    files.write_json(round_dir / "manifest.json", {"images": entries, "review": {"removed": [
        {"staged": "000005_img4.jpg", "path": str(tmp_path / "pool" / "img4.jpg")}]}})
    paths = [item.path for item in items]
    keep = tuple(item for item in items if waiting is None or item.path in waiting)
    return AnnotationJob(1, keep, NAMES, round_dir, project_name="alkit test",
                         predictions=(lambda ps: _Scores(paths, MODEL_BOXES)) if with_model
                         else None)


def _labels(boxes, width, height) -> Labels:
    """(class id, x1, y1, x2, y2) pixel boxes -> Labels."""
    array = np.array([b[1:] for b in boxes], float).reshape(-1, 4)
    xywhn = np.column_stack([(array[:, 0] + array[:, 2]) / 2 / width,
                             (array[:, 1] + array[:, 3]) / 2 / height,
                             (array[:, 2] - array[:, 0]) / width,
                             (array[:, 3] - array[:, 1]) / height])
    return Labels(np.array([b[0] for b in boxes], int), xywhn)


def _zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _xml(images, names=NAMES) -> bytes:
    return cvat.cvat_xml([CvatImage(n, w, h, np.array([b[0] for b in bs], int),
                                    np.array([b[1:] for b in bs], float).reshape(-1, 4))
                          for n, w, h, bs in images], names)


# --------------------------------------------------------------------------- archives


def _link_member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def test_a_crafted_archive_is_refused_naming_each_unsafe_member(tmp_path):
    crafted = tmp_path / "crafted.zip"
    with zipfile.ZipFile(crafted, "w") as archive:
        archive.writestr("annotations.xml", _xml([("000001_img0.jpg", 128, 96, [])]))
        archive.writestr("../../escape.xml", b"<annotations/>")
        archive.writestr("/etc/cron.d/evil", b"* * * * * root true")
        archive.writestr(_link_member("images/link.jpg"), "/etc/passwd")
    with pytest.raises(ArchiveError) as error:
        read_zip_safely(crafted)
    message = str(error.value)
    assert str(crafted) in message and "nothing read" in message
    assert "'../../escape.xml': '..' leaves the archive" in message
    assert "'/etc/cron.d/evil': absolute path" in message
    assert "'images/link.jpg': symbolic link" in message
    assert "annotations.xml" not in message  # the safe member is not blamed

    # dropped as a CVAT export: the batch is refused with the same names, nothing answered
    job = _job(tmp_path)
    annotator = CvatFilesAnnotator()
    _, from_cvat = annotator.folders(job)
    from_cvat.mkdir(parents=True)
    shutil.copy(crafted, from_cvat / "export.zip")
    with pytest.raises(DatasetError) as refused:
        annotator.request(job)
    for name in ("'../../escape.xml'", "'/etc/cron.d/evil'", "'images/link.jpg'"):
        assert name in str(refused.value)
    assert all(annotator.answer(item.path) is None for item in job.items)
    assert not (tmp_path / "escape.xml").exists() and not (tmp_path.parent / "escape.xml").exists()


# --------------------------------------------------------------------------- the annotator


def test_the_package_carries_images_labels_and_the_models_boxes(tmp_path):
    job = _job(tmp_path)
    annotator = CvatFilesAnnotator()
    annotator.request(job)
    to_cvat, from_cvat = annotator.folders(job)
    assert from_cvat.is_dir() and all(annotator.answer(p) is None for p in job.paths)
    with zipfile.ZipFile(to_cvat / "images.zip") as archive:
        assert archive.namelist() == [item.staged for item in job.items]
    assert (to_cvat / "images.txt").read_text().splitlines() == [
        str(job.round_dir / "images" / item.staged) for item in job.items]
    assert [label["name"] for label in json.loads((to_cvat / "labels.json").read_text())] == \
        list(NAMES)
    assert "000001_img0.jpg,1,0.9,uncertain," in (to_cvat / "picks.csv").read_text()
    assert "Upload annotations" in (to_cvat / "README.txt").read_text()
    answers, problems = cvat.read_cvat_xml((to_cvat / "annotations.xml").read_bytes(), NAMES)
    assert problems == [] and list(answers) == [item.staged for item in job.items]
    for (width, height), boxes, item in zip(SIZES, MODEL_BOXES, job.items, strict=True):
        expected = _labels(boxes, width, height)
        got = answers[item.staged]
        assert got.size == (width, height)
        np.testing.assert_array_equal(got.labels.class_ids, expected.class_ids)
        np.testing.assert_allclose(got.labels.xywhn, expected.xywhn, atol=0.01 / 64)
    # written once: a later call leaves the package alone
    before = (to_cvat / "annotations.xml").stat().st_mtime_ns
    annotator.request(job)
    assert (to_cvat / "annotations.xml").stat().st_mtime_ns == before


def test_without_a_model_or_zipped_images(tmp_path):
    job = _job(tmp_path, with_model=False)
    annotator = CvatFilesAnnotator(tmp_path / "elsewhere", zip_images=False)
    annotator.request(job)
    to_cvat, _ = annotator.folders(job)
    assert to_cvat == tmp_path / "elsewhere" / "to_cvat" and not (to_cvat / "images.zip").exists()
    answers, _ = cvat.read_cvat_xml((to_cvat / "annotations.xml").read_bytes(), NAMES)
    assert [a.size for a in answers.values()] == SIZES
    assert all(len(a.labels) == 0 for a in answers.values())


def test_partial_exports_resume_like_dropped_label_files(tmp_path):
    job = _job(tmp_path)
    annotator = CvatFilesAnnotator()
    annotator.request(job)
    _, from_cvat = annotator.folders(job)
    # a CVAT job with the first two images, corrected; the class names in another order
    (from_cvat / "job1.xml").write_bytes(_xml([
        ("000001_img0.jpg", 128, 96, [(1, 12, 20, 40, 60)]), ("000002_img1.jpg", 64, 64, [])]))
    annotator.request(job)
    first = annotator.answer(job.items[0].path)
    np.testing.assert_allclose(first.xywhn, _labels([(1, 12, 20, 40, 60)], 128, 96).xywhn)
    assert len(annotator.answer(job.items[1].path)) == 0  # labeled: no objects
    assert annotator.answer(job.items[2].path) is None  # still waiting
    # the loop imported those two; a YOLO export of the third arrives, with its own class order
    job = _job(tmp_path, waiting={item.path for item in job.items[2:]})
    shuffled = ["seven", "zero", "three", "one", "two", "four"]
    _zip(from_cvat / "job2_yolo.zip", {
        "obj.names": "\n".join(shuffled) + "\n", "obj.data": "classes = 6\n",
        "train.txt": "data/obj_train_data/000003_img2.jpg\n",
        "obj_train_data/000003_img2.txt": "2 0.5 0.5 0.2 0.25\n1 0.1 0.1 0.1 0.1\n"})
    # a pick the review skipped, exported all the same: skipped here too
    (from_cvat / "job3.xml").write_bytes(_xml([("000005_img4.jpg", 64, 64, [])]))
    annotator.request(job)
    third = annotator.answer(job.items[0].path)
    assert [NAMES[c] for c in third.class_ids] == ["three", "zero"]  # mapped by name
    assert annotator.answer(job.items[1].path) is None
    assert sorted(annotator.already_imported) == [
        f"{from_cvat / 'job1.xml'}: 000001_img0", f"{from_cvat / 'job1.xml'}: 000002_img1",
        f"{from_cvat / 'job3.xml'}: 000005_img4 (removed in review)"]


def test_an_image_sent_back_joins_the_package_and_its_export_is_its_answer(tmp_path):
    import dataclasses

    job = _job(tmp_path, n=3)
    annotator = CvatFilesAnnotator()
    annotator.request(job)
    to_cvat, from_cvat = annotator.folders(job)
    # a labeled image of an earlier round is sent back: the job carries it after the picks
    earlier = _job(tmp_path, n=4).items[3]
    relabel = dataclasses.replace(earlier, rank=4, score=None, relabel=True,
                                  reason="relabel: overlooked: a box is missing")
    manifest = files.read_json(job.round_dir / "manifest.json")
    manifest["images"] = manifest["images"][:3]
    manifest["relabel"] = [{"staged": relabel.staged, "path": relabel.path, "rank": 4}]
    files.write_json(job.round_dir / "manifest.json", manifest)
    job = dataclasses.replace(job, items=(*job.items, relabel))
    annotator.request(job)
    assert relabel.staged in (to_cvat / "images.txt").read_text()  # the package, again
    assert "relabel: overlooked: a box is missing" in (to_cvat / "picks.csv").read_text()
    (from_cvat / "job1.xml").write_bytes(_xml([(relabel.staged, 90, 120,
                                                [(2, 10, 10, 50, 60), (0, 60, 70, 80, 110)])]))
    annotator.request(job)
    assert len(annotator.answer(relabel.path)) == 2
    # imported: the round waits for its picks only, and the export is no longer news
    job = dataclasses.replace(job, items=job.items[:3])
    annotator.request(job)
    assert annotator.already_imported == [f"{from_cvat / 'job1.xml'}: 000004_img3 (relabeled)"]


def test_one_bad_export_refuses_the_whole_batch_naming_every_problem(tmp_path):
    job = _job(tmp_path)
    annotator = CvatFilesAnnotator()
    annotator.request(job)
    _, from_cvat = annotator.folders(job)
    good = _xml([("000001_img0.jpg", 128, 96, [(1, 10, 20, 40, 60)])])
    (from_cvat / "good.xml").write_bytes(good)
    bad = _xml([("000002_img1.jpg", 64, 64, [(0, 10, 10, 20, 20)]),
                ("000003_img2.jpg", 99, 80, []),  # another size than the staged image
                ("000099_other.jpg", 64, 64, []),  # not a pick of the round
                ("000004_img3.jpg", 90, 120, [(3, 100, 100, 130, 130)])],  # outside
               names=["tree", *NAMES[1:]]).replace(
        b'<box label="tree"', b'<box label="tree" rotation="0"').replace(
        b"</image>", b'<polygon label="one" points="1,1;5,5;1,5"/></image>', 1)
    (from_cvat / "bad.xml").write_bytes(bad)
    (from_cvat / "notes.txt").write_text("not an export")
    _zip(from_cvat / "yolo.zip", {"data.yaml": "names: {0: zero, 1: mystery}\n",
                                  "labels/train/000001_img0.txt": "0 0.5 0.5 0.1 0.1\n"})
    _zip(from_cvat / "twice.zip", {"annotations.xml": _xml([("000001_img0.jpg", 128, 96, [])])})
    with pytest.raises(DatasetError) as error:
        annotator.request(job)
    message = str(error.value)
    bad_at = f"{from_cvat / 'bad.xml'}: image"
    assert f"{bad_at} '000002_img1.jpg': label 'tree' is not a class of the dataset" in message
    assert f"{bad_at} '000002_img1.jpg': a polygon ('one') is not a box" in message
    assert "'000003_img2' is 99x80 in the export but 100x80 in the round" in message
    assert f"{bad_at} '000099_other' is not a pick of round 1" in message
    assert "image '000004_img3', box 1: coordinates must be normalized" in message
    assert "label 'mystery' is not a class of the dataset" in message
    assert "image '000001_img0' has different boxes in" in message
    assert "ignored, not .xml or .zip: ['notes.txt']" in message
    assert "nothing imported" in message
    assert all(annotator.answer(item.path) is None for item in job.items)


def test_xml_with_entities_is_refused(tmp_path):
    bomb = (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxx">'
            b'<!ENTITY y "&x;&x;&x;&x;">]><annotations>&y;</annotations>')
    answers, problems = cvat.read_cvat_xml(bomb, NAMES, where="bomb.xml")
    assert answers == {} and "bomb.xml: not a readable CVAT XML file (DTDForbidden" in problems[0]


# --------------------------------------------------------------------------- Datumaro


@pytest.fixture(scope="module")
def datumaro():
    python = find_datumaro_python()
    if python is None:
        missing("Datumaro is not installed: `make datumaro` installs it in .venv-datumaro "
                "(or set ALKIT_DATUMARO_PYTHON)")

    def run(request: dict, tmp: Path) -> dict | None:
        spec = tmp / f"datumaro-{len(list(tmp.glob('datumaro-*.json')))}.json"
        spec.write_text(json.dumps(request))
        done = subprocess.run([str(python), str(TOOL), str(spec)], capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout) if "read" in request else None

    return run


def _zip_folder(folder: Path, path: Path) -> Path:
    """A folder zipped as CVAT hands an export out."""
    with zipfile.ZipFile(path, "w") as archive:
        for member in sorted(folder.rglob("*")):
            if member.is_file():
                archive.write(member, member.relative_to(folder).as_posix())
    return path


@pytest.mark.slow
def test_datumaro_reads_the_package(tmp_path, datumaro):
    job = _job(tmp_path)
    annotator = CvatFilesAnnotator()
    annotator.request(job)
    to_cvat, _ = annotator.folders(job)
    # Datumaro's importer, like CVAT, wants the images beside the XML: the package unpacked
    task = tmp_path / "task"
    (task / "images").mkdir(parents=True)
    shutil.copy(to_cvat / "annotations.xml", task)
    for name, data in read_zip_safely(to_cvat / "images.zip").items():
        (task / "images" / name).write_bytes(data)
    read = datumaro({"read": str(task), "format": "cvat"}, tmp_path)
    assert read["names"] == list(NAMES)
    assert [item["id"] for item in read["items"]] == [Path(i.staged).stem for i in job.items]
    for item, boxes in zip(read["items"], MODEL_BOXES, strict=True):
        assert [[b[0], *np.round(b[1:], 2)] for b in item["boxes"]] == [
            [NAMES[c], x1, y1, x2 - x1, y2 - y1] for c, x1, y1, x2, y2 in boxes]


@pytest.mark.slow
def test_exports_written_by_datumaro_are_imported(tmp_path, datumaro):
    job = _job(tmp_path)
    truth = {0: [(1, 11.5, 20.25, 41, 61)], 1: [], 2: [(4, 5, 5, 30, 30), (0, 60, 10, 99, 79)],
             3: [(3, 1, 1, 89, 119)]}
    # the exporting task's labels in another order than the dataset's: mapped by name
    order = ["four", "seven", "one", "zero", "three", "two"]

    def items(indexes, subsets=("train",)):
        return [{"id": Path(job.items[i].staged).stem, "image": job.items[i].path,
                 "subset": subsets[k % len(subsets)],
                 "boxes": [[order.index(NAMES[c]), x1, y1, x2 - x1, y2 - y1]
                           for c, x1, y1, x2, y2 in truth[i]]} for k, i in enumerate(indexes)]

    written = tmp_path / "datumaro"
    datumaro({"write": str(written / "a"), "names": order, "formats": ["cvat"],
              "items": items([0, 1])}, tmp_path)
    datumaro({"write": str(written / "b"), "names": order, "formats": ["yolo"],
              "items": items([2])}, tmp_path)
    datumaro({"write": str(written / "c"), "names": order, "formats": ["yolo_ultralytics"],
              "items": items([3, 1], subsets=("train", "val"))}, tmp_path)
    annotator = CvatFilesAnnotator()
    _, from_cvat = annotator.folders(job)
    from_cvat.mkdir(parents=True)
    _zip_folder(written / "a" / "cvat", from_cvat / "job1_cvat_for_images.zip")
    _zip_folder(written / "b" / "yolo", from_cvat / "job2_yolo.zip")
    _zip_folder(written / "c" / "yolo_ultralytics", from_cvat / "job3_ultralytics.zip")
    annotator.request(job)
    for i, item in enumerate(job.items):
        got, expected = annotator.answer(item.path), _labels(truth[i], *SIZES[i])
        np.testing.assert_array_equal(got.class_ids, expected.class_ids)
        np.testing.assert_allclose(got.xywhn, expected.xywhn, atol=1e-5)


@pytest.mark.slow
def test_alkit_round_with_cvat_files(staged_project, round_config, tiny_dataset, datumaro,
                                     capsys):
    """``alkit round --annotator cvat-files``: the package, then two CVAT jobs' exports
    (written by Datumaro) imported as they come; the round waits in between."""
    from alkit import cli
    from alkit.annotate.simulated import Oracle

    project = staged_project()
    command = ["round", str(project.dir), "--annotator", "cvat-files", "--strategy",
               "least_confidence", "--budget", str(BUDGET), "--measure", "entropy", "--recipe",
               "tiny", "--quiet"]
    assert cli.main(command) == 0
    round_dir = project.round_dir(1)
    to_cvat, from_cvat = round_dir / "cvat" / "to_cvat", round_dir / "cvat" / "from_cvat"
    assert (to_cvat / "annotations.xml").is_file() and from_cvat.is_dir()
    waiting = project.waiting(1)
    assert len(waiting) == BUDGET
    oracle = Oracle(tiny_dataset / "dataset.yaml")
    truth = {q["path"]: oracle.answer(q["path"]) for q in waiting}

    def export(picks, name):
        items = [{"id": f"{q['image_id']:06d}_{Path(q['path']).stem}", "image": q["path"],
                  "boxes": [[int(c), x1, y1, x2 - x1, y2 - y1] for c, (x1, y1, x2, y2) in
                            zip(truth[q["path"]].class_ids, truth[q["path"]].xyxy(128, 128),
                                strict=True)]} for q in picks]
        out = from_cvat.parent / "datumaro" / name
        datumaro({"write": str(out), "names": list(NAMES), "formats": ["cvat"],
                  "items": items}, from_cvat.parent)
        _zip_folder(out / "cvat", from_cvat / f"{name}.zip")

    export(waiting[:4], "job1")
    capsys.readouterr()
    assert cli.main(command) == 0
    assert "annotating" in capsys.readouterr().out
    assert len(project.waiting(1)) == BUDGET - 4
    export(waiting[4:], "job2")
    assert project.annotate(1, CvatFilesAnnotator(), round_config) == 2
    assert project.waiting(1) == []
    for row in project.ledger.labeled():
        if row["source"] == "cvat":
            got = datasets.read_labels(row["label_path"], len(NAMES))
            np.testing.assert_array_equal(got.class_ids, truth[row["path"]].class_ids)
            np.testing.assert_allclose(got.xywhn, truth[row["path"]].xywhn, atol=1e-4)
    assert sum(row["source"] == "cvat" for row in project.ledger.labeled()) == BUDGET
