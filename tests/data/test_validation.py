"""The validator: one test per kind of bad input, each checking the message and where it points."""

import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alkit.data.validation import validate_dataset


def _image(path: Path, mode="RGB", size=(32, 24), fmt=None):
    """A small image whose content depends on its name (so no two are byte-identical)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    value = 20 + zlib.crc32(path.name.encode()) % 200
    array = {"RGB": np.full((size[1], size[0], 3), value, np.uint8),
             "L": np.full((size[1], size[0]), value, np.uint8),
             "RGBA": np.full((size[1], size[0], 4), value, np.uint8),
             "I;16": np.full((size[1], size[0]), 40000, np.uint16)}[mode]
    Image.fromarray(array).save(path, format=fmt)
    return path


@pytest.fixture
def dataset(tmp_path) -> Path:
    """A small valid dataset: 3 train and 1 val images with labels, classes a, b, c."""
    for i in range(3):
        _image(tmp_path / f"images/train/t{i}.jpg")
        (tmp_path / f"labels/train/t{i}.txt").parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f"labels/train/t{i}.txt").write_text(f"{i} 0.5 0.5 0.25 0.25\n")
    _image(tmp_path / "images/val/v0.jpg")
    (tmp_path / "labels/val").mkdir(parents=True)
    (tmp_path / "labels/val/v0.txt").write_text("1 0.4 0.4 0.2 0.2\n2 0.7 0.7 0.1 0.1\n")
    (tmp_path / "data.yaml").write_text(
        "train: images/train\nval: images/val\nnames: [a, b, c]\n")
    return tmp_path


def _only(report, code):
    found = [p for p in report.problems if p.code == code]
    assert len(found) == 1, report.format()
    return found[0]


def test_valid_dataset_passes_with_counts(dataset):
    report = validate_dataset(dataset / "data.yaml")
    assert not report.problems, report.format()
    assert not report.fatal
    assert report.splits["train"].n_images == 3 and report.splits["train"].n_objects == 3
    assert report.splits["val"].class_counts == {"a": 0, "b": 1, "c": 1}
    assert report.format().endswith(f"OK: 0 error(s), 0 warning(s) in {dataset / 'data.yaml'}")


@pytest.mark.parametrize("line, code, message", [
    ("0 0.5 0.5 0.2", "field-count", "expected 5 fields 'class x_center y_center width height', "
                                     "found 4"),
    ("0 0.5 0.5 0.2 0.2 0.9", "field-count", "found 6"),
    ("0 0.5 abc 0.2 0.2", "not-a-number", "'abc' is not a number"),
    ("0 0.5 nan 0.2 0.2", "not-a-number", "NaN or infinity"),
    ("1.5 0.5 0.5 0.2 0.2", "class-id", "class id '1.5' is not an integer"),
    ("3 0.5 0.5 0.2 0.2", "class-id", "class id 3 is outside the dataset's names (expected 0..2)"),
    ("-1 0.5 0.5 0.2 0.2", "class-id", "class id -1 is outside"),
    ("0 1.5 0.5 0.2 0.2", "out-of-range", "normalized to [0, 1]; got x_center=1.5"),
    ("0 0.5 0.5 -0.2 0.2", "out-of-range", "width=-0.2"),
    ("0 0.5 0.5 0 0.2", "empty-box", "zero or negative size (width=0, height=0.2)"),
])
def test_bad_label_lines_are_fatal_and_name_file_and_line(dataset, line, code, message):
    label = dataset / "labels/train/t1.txt"
    label.write_text("1 0.5 0.5 0.25 0.25\n\n" + line + "\n")
    report = validate_dataset(dataset / "data.yaml")
    problem = _only(report, code)
    assert problem.fatal and report.fatal
    assert (problem.path, problem.line) == (str(label), 3)
    assert message in problem.message
    assert str(problem).startswith(f"{label}:3: error[{code}]: ")


def test_box_past_the_edge_is_a_warning(dataset):
    (dataset / "labels/train/t0.txt").write_text("0 0.95 0.5 0.2 0.2\n")
    report = validate_dataset(dataset / "data.yaml")
    problem = _only(report, "past-edge")
    assert not problem.fatal and not report.fatal and problem.line == 1


def test_duplicate_box_is_a_warning(dataset):
    (dataset / "labels/train/t0.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n")
    problem = _only(validate_dataset(dataset / "data.yaml"), "duplicate-box")
    assert problem.line == 2 and "same object as line 1" in problem.message


def test_empty_label_file_and_missing_label_file_are_valid(dataset):
    (dataset / "labels/train/t0.txt").write_text("")
    (dataset / "labels/train/t1.txt").unlink()
    report = validate_dataset(dataset / "data.yaml")
    assert not report.problems
    assert report.splits["train"].n_images_without_labels == 1
    assert report.splits["train"].n_objects == 1


def test_label_file_without_image(dataset):
    orphan = dataset / "labels/train/ghost.txt"
    orphan.write_text("0 0.5 0.5 0.1 0.1\n")
    problem = _only(validate_dataset(dataset / "data.yaml"), "orphan-label")
    assert problem.fatal and problem.path == str(orphan)
    assert "no image 'ghost.<ext>'" in problem.message


def test_label_file_that_is_not_text(dataset):
    (dataset / "labels/train/t0.txt").write_bytes(b"\xff\xfe\x00\x81binary")
    problem = _only(validate_dataset(dataset / "data.yaml"), "not-utf8")
    assert problem.fatal and "not a UTF-8 text file" in problem.message


@pytest.mark.parametrize("content, message", [
    (b"", "image file is empty (0 bytes)"),
    (b"this is a text file, not a picture", "not an image: the content is not a known image"),
])
def test_images_that_do_not_decode(dataset, content, message):
    bad = dataset / "images/train/t2.jpg"
    bad.write_bytes(content)
    report = validate_dataset(dataset / "data.yaml")
    problem = _only(report, "image-unreadable")
    assert problem.fatal and problem.path == str(bad) and message in problem.message
    assert str(bad) in report.skipped and report.splits["train"].n_skipped == 1


def test_truncated_image(dataset):
    bad = dataset / "images/train/t2.jpg"
    _image(bad, size=(200, 200))
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    problem = _only(validate_dataset(dataset / "data.yaml"), "image-unreadable")
    assert "truncated or corrupt" in problem.message


def test_wrong_extension_is_reported(dataset):
    png_named_jpg = dataset / "images/train/t2.jpg"
    _image(png_named_jpg, fmt="PNG")
    problem = _only(validate_dataset(dataset / "data.yaml"), "extension-mismatch")
    assert problem.path == str(png_named_jpg)
    assert "content is PNG but the extension is '.jpg'" in problem.message


def test_non_image_file_among_images_is_counted_as_skipped(dataset):
    stray = dataset / "images/train/readme.md"
    stray.write_text("hello")
    report = validate_dataset(dataset / "data.yaml")
    problem = _only(report, "not-an-image-file")
    assert "extension '.md' is not an image format" in problem.message
    assert str(stray) in report.skipped


@pytest.mark.parametrize("mode, words", [
    ("L", "grayscale image; converted to 8-bit RGB"),
    ("RGBA", "RGBA (alpha will be composited on black)"),
    ("I;16", "16-bit (scaled to 8-bit)"),
])
def test_unusual_but_usable_images_are_warnings(dataset, mode, words):
    _image(dataset / "images/train/t1.png", mode=mode)
    (dataset / "images/train/t1.jpg").unlink()
    report = validate_dataset(dataset / "data.yaml")
    problem = _only(report, "unusual-image")
    assert not report.fatal and words in problem.message


def test_very_large_image_is_a_warning_without_decoding(dataset, monkeypatch):
    monkeypatch.setattr("alkit.data.validation.LARGE_IMAGE_PIXELS", 32 * 24 - 1)
    report = validate_dataset(dataset / "data.yaml")
    assert len([p for p in report.problems if p.code == "unusual-image"]) == 4
    assert "very large image (32 x 24)" in report.problems[0].message and not report.fatal


def test_duplicate_stems_collide(dataset):
    _image(dataset / "images/train/t0.png")
    problem = _only(validate_dataset(dataset / "data.yaml"), "stem-collision")
    assert problem.fatal and "t0.jpg, t0.png share the stem 't0'" in problem.message


def test_same_image_in_two_splits_is_a_leak_warning(dataset):
    (dataset / "images/val/v0.jpg").write_bytes((dataset / "images/train/t0.jpg").read_bytes())
    problem = _only(validate_dataset(dataset / "data.yaml"), "duplicate-image")
    assert "(train)" in problem.message and "(val)" in problem.message


def test_missing_split_directory(dataset):
    (dataset / "data.yaml").write_text("train: images/train\nval: images/nowhere\nnames: [a]\n")
    problem = _only(validate_dataset(dataset / "data.yaml"), "missing-split")
    assert "split 'val'" in problem.message and problem.path.endswith("images/nowhere")


def test_bad_yaml_is_one_fatal_problem(dataset):
    (dataset / "data.yaml").write_text("train: images/train\nval: [\n")
    report = validate_dataset(dataset / "data.yaml")
    problem = _only(report, "yaml")
    assert report.fatal and problem.line is not None


def test_every_problem_is_reported_not_just_the_first(dataset):
    (dataset / "labels/train/t0.txt").write_text("9 0.5 0.5 0.2 0.2\n0 2 0.5 0.2 0.2\n")
    (dataset / "labels/train/t1.txt").write_text("x\n")
    report = validate_dataset(dataset / "data.yaml")
    assert [(Path(p.path).name, p.line, p.code) for p in report.errors] == [
        ("t0.txt", 1, "class-id"), ("t0.txt", 2, "out-of-range"), ("t1.txt", 1, "field-count")]


def test_pool_labels_are_read_from_the_oracle_directory(tiny_dataset):
    report = validate_dataset(tiny_dataset / "dataset.yaml")
    assert not report.problems, report.format()
    assert report.splits["pool"].n_label_files == report.splits["pool"].n_images == 60


def test_cli_exit_codes_and_output(dataset):
    command = [sys.executable, "-m", "alkit.cli", "validate", str(dataset / "data.yaml")]
    ok = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "OK: 0 error(s)" in ok.stdout
    (dataset / "labels/train/t1.txt").write_text("7 0.5 0.5 0.2 0.2\n")
    bad = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert f"{dataset / 'labels/train/t1.txt'}:1: error[class-id]: class id 7" in bad.stdout
    assert "FAILED: 1 error(s)" in bad.stdout
