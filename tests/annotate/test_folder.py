"""Label files dropped into a folder: both layouts, whole-batch validation, missing files."""

from pathlib import Path

import pytest

from alkit.annotate.base import AnnotationItem, AnnotationJob
from alkit.annotate.folder import FolderAnnotator
from alkit.data.datasets import DatasetError


def _job(round_dir, paths, names=("a", "b")):
    items = tuple(AnnotationItem(i + 1, str(p), f"{i + 1:06d}_{Path(p).name}", i + 1)
                  for i, p in enumerate(paths))
    return AnnotationJob(1, items, names, round_dir)


def test_a_folder_mirroring_the_pool(tmp_path):
    pool, labels = tmp_path / "pool", tmp_path / "labels"
    (pool / "sub").mkdir(parents=True)
    (labels / "sub").mkdir(parents=True)
    (labels / "sub" / "a.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    (labels / "c.txt").write_text("")
    annotator = FolderAnnotator(labels, pool_root=pool)
    annotator.request(_job(tmp_path / "r", [pool / "sub" / "a.jpg", pool / "b.jpg",
                                            pool / "c.jpg"]))
    assert annotator.answer(str(pool / "sub" / "a.jpg")).class_ids.tolist() == [1]
    assert annotator.answer(str(pool / "b.jpg")) is None  # not labeled yet
    assert len(annotator.answer(str(pool / "c.jpg"))) == 0  # an image without objects
    assert "your label files" in annotator.describe()


def test_the_round_drop_folder_by_staged_name(tmp_path):
    round_dir = tmp_path / "round_001"
    (round_dir / "labels").mkdir(parents=True)
    (round_dir / "labels" / "000002_y.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    annotator = FolderAnnotator()
    annotator.request(_job(round_dir, ["/pool/x.jpg", "/pool/y.jpg"]))
    assert annotator.answer("/pool/x.jpg") is None
    assert annotator.answer("/pool/y.jpg").class_ids.tolist() == [0]


def test_one_bad_file_refuses_the_whole_batch_naming_every_problem(tmp_path):
    round_dir = tmp_path / "round_001"
    (round_dir / "labels").mkdir(parents=True)
    (round_dir / "labels" / "000001_x.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (round_dir / "labels" / "000002_y.txt").write_text("0 0.5 0.5 0.2 0.2\n9 0.5 0.5 0.1 0.1\n"
                                                       "1 1.7 0.5 0.2 0.2\n")
    annotator = FolderAnnotator()
    with pytest.raises(DatasetError) as error:
        annotator.request(_job(round_dir, ["/pool/x.jpg", "/pool/y.jpg"]))
    assert "000002_y.txt:2: class id 9" in str(error.value)
    assert "000002_y.txt:3:" in str(error.value) and "nothing imported" in str(error.value)
    assert annotator.answer("/pool/x.jpg") is None


def test_a_missing_labels_folder_is_named(tmp_path):
    with pytest.raises(DatasetError, match="labels folder not found"):
        FolderAnnotator(tmp_path / "nowhere", pool_root=tmp_path)
