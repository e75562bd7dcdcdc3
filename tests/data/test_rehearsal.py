"""A rehearsal dataset: labeled images replayed as a pool with hidden labels."""

from pathlib import Path

import pytest

from alkit.data import datasets
from alkit.data.datasets import DatasetError
from alkit.data.rehearsal import make_rehearsal, seed_size


def test_a_labeled_split_becomes_seed_plus_pool_with_hidden_labels(tiny_dataset, tmp_path):
    tiny_dataset = tiny_dataset / "dataset.yaml"
    source = datasets.read_dataset_yaml(tiny_dataset)
    test = datasets.read_split(source, "test")
    yaml = make_rehearsal(tiny_dataset, tmp_path / "r", n_seed=5, split="test", random_state=1)
    spec = datasets.read_dataset_yaml(yaml)
    seed = datasets.read_split(spec, "train")
    pool = datasets.read_split(spec, "pool")
    assert len(seed) == 5 and len(pool) == len(test) - 5
    assert spec.oracle_labels is not None and not (tmp_path / "r" / "labels" / "pool").exists()
    hidden = sum(len(labels) for _, labels in pool) + sum(len(labels) for _, labels in seed)
    assert hidden == sum(len(labels) for _, labels in test)  # every box kept, none shown
    assert spec.splits["val"] == source.splits["val"]
    again = make_rehearsal(tiny_dataset, tmp_path / "r", n_seed=5, split="test", random_state=1)
    assert sorted(p.name for p, _ in datasets.read_split(datasets.read_dataset_yaml(again),
                                                           "train")) == sorted(
        p.name for p, _ in seed)


def test_bad_rehearsals_are_refused(tiny_dataset, tmp_path):
    tiny_dataset = tiny_dataset / "dataset.yaml"
    with pytest.raises(DatasetError, match="n_seed must be between 1 and"):
        make_rehearsal(tiny_dataset, tmp_path / "a", n_seed=0, split="test")
    with pytest.raises(DatasetError, match="needs the split 'nope'"):
        make_rehearsal(tiny_dataset, tmp_path / "b", n_seed=2, split="nope")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an alkit rehearsal"):
        make_rehearsal(tiny_dataset, tmp_path / "c", n_seed=2, split="test")
    assert Path(tmp_path / "c" / "mine.txt").read_text() == "keep me"
    assert seed_size(1000) == 50 and seed_size(3) == 1
    with pytest.raises(ValueError, match="at least 2"):
        seed_size(1)
