"""Dataset I/O: label files, dataset yaml, image listing and decoding."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from alkit.data import datasets
from alkit.data.datasets import DatasetError, Labels


def test_labels_round_trip_through_a_file(tmp_path):
    labels = Labels([0, 2], [[0.5, 0.5, 0.2, 0.3], [0.1, 0.9, 0.05, 0.1]])
    path = datasets.write_labels(tmp_path / "a.txt", labels)
    back = datasets.read_labels(path, n_classes=3)
    assert back.class_ids.tolist() == [0, 2]
    np.testing.assert_allclose(back.xywhn, labels.xywhn, atol=1e-6)


def test_missing_and_empty_label_files_mean_no_objects(tmp_path):
    assert len(datasets.read_labels(tmp_path / "missing.txt")) == 0
    (tmp_path / "empty.txt").write_text("")
    assert len(datasets.read_labels(tmp_path / "empty.txt")) == 0


def test_read_labels_names_file_and_line_of_the_first_fatal_problem(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("0 0.5 0.5 0.1 0.1\n1 0.5 0.5 0.1\n")
    with pytest.raises(DatasetError) as error:
        datasets.read_labels(path, n_classes=2)
    assert error.value.line == 2
    assert str(error.value).startswith(f"{path}:2: expected 5 fields")


def test_write_labels_is_atomic_and_leaves_no_temporary_files(tmp_path):
    datasets.write_labels(tmp_path / "x.txt", Labels([1], [[0.5, 0.5, 0.5, 0.5]]))
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


@given(arrays(np.float64, (5, 4), elements=st.floats(0.0, 1.0)),
       st.integers(16, 4000), st.integers(16, 4000))
def test_xywhn_xyxy_round_trip(xywhn, width, height):
    back = datasets.xyxy_to_xywhn(datasets.xywhn_to_xyxy(xywhn, width, height), width, height)
    np.testing.assert_allclose(back, xywhn, atol=1e-9)


@pytest.mark.parametrize("image, label", [
    ("d/images/train/a.jpg", "d/labels/train/a.txt"),
    ("images/x/images/b.png", "images/x/labels/b.txt"),
    ("flat/c.jpeg", "flat/c.txt"),
])
def test_label_path_follows_ultralytics(image, label):
    assert str(datasets.label_path_for(image)) == label


def test_dataset_yaml_round_trip_with_relative_paths(tmp_path):
    yaml_path = datasets.write_dataset_yaml(
        tmp_path / "data.yaml", ["cat", "dog"], {"train": "images/train", "val": "images/val"},
        comment="two lines\nof comment", pool="images/pool",
    )
    spec = datasets.read_dataset_yaml(yaml_path)
    assert spec.names == ("cat", "dog")
    assert spec.splits["train"] == tmp_path / "images/train"
    assert spec.splits["pool"] == tmp_path / "images/pool"
    assert spec.oracle_labels is None
    assert yaml_path.read_text().startswith("# two lines\n# of comment\n")


def test_dataset_yaml_accepts_a_names_list_and_a_path_key(tmp_path):
    (tmp_path / "y.yaml").write_text("path: ds\ntrain: t\nval: v\nnames: [a, b, c]\n")
    spec = datasets.read_dataset_yaml(tmp_path / "y.yaml")
    assert spec.n_classes == 3
    assert spec.splits["val"] == (tmp_path / "ds" / "v").resolve()


@pytest.mark.parametrize("text, message", [
    ("train: t\nval: v\n", "missing 'names'"),
    ("train: t\nnames: [a]\n", "missing required key(s) ['val']"),
    ("train: t\nval: v\nnames: {0: a, 2: b}\n", "class ids must be 0..1"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_dataset_yaml_errors_say_what_was_expected(tmp_path, text, message):
    (tmp_path / "y.yaml").write_text(text)
    with pytest.raises(DatasetError) as error:
        datasets.read_dataset_yaml(tmp_path / "y.yaml")
    assert str(error.value).startswith(f"{tmp_path / 'y.yaml'}: ")
    assert message in str(error.value)


def test_dataset_yaml_syntax_error_names_the_line(tmp_path):
    (tmp_path / "y.yaml").write_text("train: t\nval: v\nnames: [a, b\n")
    with pytest.raises(DatasetError) as error:
        datasets.read_dataset_yaml(tmp_path / "y.yaml")
    assert error.value.line is not None and "not valid YAML" in str(error.value)


def test_list_images_from_a_directory_and_a_list_file(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("b.jpg", "a.PNG", "notes.csv"):
        (folder / name).write_bytes(b"x")
    assert [p.name for p in datasets.list_images(folder)] == ["a.PNG", "b.jpg"]
    assert [p.name for p in datasets.list_non_images(folder)] == ["notes.csv"]
    (tmp_path / "list.txt").write_text("images/b.jpg\n\n" + str(folder / "a.PNG") + "\n")
    assert [p.name for p in datasets.list_images(tmp_path / "list.txt")] == ["b.jpg", "a.PNG"]


def test_load_rgb_converts_unusual_images(tmp_path):
    gray = Image.fromarray(np.full((4, 5), 77, np.uint8), mode="L")
    gray.save(tmp_path / "gray.png")
    rgba = Image.fromarray(np.dstack([np.full((4, 5, 3), 200, np.uint8),
                                      np.full((4, 5), 128, np.uint8)]), mode="RGBA")
    rgba.save(tmp_path / "rgba.png")
    deep = Image.fromarray(np.full((4, 5), 65535, np.uint16))
    deep.save(tmp_path / "deep.png")
    for name, value in (("gray", 77), ("rgba", 100), ("deep", 255)):
        array = datasets.load_rgb(tmp_path / f"{name}.png")
        assert array.shape == (4, 5, 3) and array.dtype == np.uint8
        assert np.all(np.abs(array.astype(int) - value) <= 1), name


def test_load_rgb_scales_16_bit_instead_of_clipping(tmp_path):
    ramp = (np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    array = datasets.load_rgb(tmp_path / "ramp.png")[..., 0]
    assert len(np.unique(array)) == 20


def test_load_rgb_names_the_file_that_does_not_decode(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match=r"bad\.jpg: image does not decode"):
        datasets.load_rgb(tmp_path / "bad.jpg")


def test_read_split_reads_pool_labels_from_the_oracle(tiny_dataset):
    spec = datasets.read_dataset_yaml(tiny_dataset / "dataset.yaml")
    pool = datasets.read_split(spec, "pool")
    assert len(pool) == 60 and sum(len(labels) for _, labels in pool) > 60
    seed = datasets.read_split(spec, "train")
    assert all(len(labels) > 0 for _, labels in seed)
    with pytest.raises(DatasetError, match="no split 'extra'"):
        datasets.read_split(spec, "extra")


def test_relative_paths_in_a_yaml_do_not_depend_on_how_the_yaml_was_named(tmp_path, monkeypatch):
    datasets.write_dataset_yaml(tmp_path / "ds" / "data.yaml", ["a"], {"train": "t", "val": "v"})
    monkeypatch.chdir(tmp_path)
    spec = datasets.read_dataset_yaml("ds/data.yaml")
    assert spec.splits["train"] == tmp_path / "ds" / "t"
