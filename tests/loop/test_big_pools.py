"""Projects for big pools: created from a manifest (no walk, no hashing), and the scoring engine
chosen by the recipe reaching every score_pool call of a round."""

from pathlib import Path

import pytest

from alkit import Project, round_config
from alkit.cli import main
from alkit.data.datasets import DatasetError
from alkit.model import scoring
from alkit.model.recipe import Recipe


def _pool(tiny_dataset) -> list[Path]:
    return sorted((tiny_dataset / "images" / "pool").glob("*.jpg"))


def test_a_project_from_a_manifest_registers_every_line_unhashed(tiny_dataset, tmp_path):
    images = _pool(tiny_dataset)
    manifest = tmp_path / "pool.txt"
    manifest.write_text("".join(f"{p}\n" for p in images))
    with Project.init(tmp_path / "p", tiny_dataset / "dataset.yaml", manifest=manifest) as mine:
        pool = mine.ledger.images(split="pool")
        assert [r["path"] for r in pool] == [str(p) for p in images]
        assert {r["hash"] for r in pool} == {""}  # scoring hashes the bytes when it reads them
        assert mine.ledger.counts()["labeled"] == 24
        assert mine.ledger.meta()["manifest"] == str(manifest.resolve())
        assert "unlabeled 60" in mine.status()


def test_a_bad_manifest_names_the_line_and_leaves_no_project(tiny_dataset, tmp_path):
    images = _pool(tiny_dataset)
    manifest = tmp_path / "pool.txt"
    manifest.write_text(f"{images[0]}\n{images[1]}\n{tmp_path / 'gone.jpg'}\n")
    with pytest.raises(DatasetError, match=r"line 3: .*gone\.jpg: no such file"):
        Project.init(tmp_path / "p", tiny_dataset / "dataset.yaml", manifest=manifest)
    assert not (tmp_path / "p" / "project.db").exists()
    with pytest.raises(ValueError, match="not both"):
        Project.init(tmp_path / "q", tiny_dataset / "dataset.yaml", manifest=manifest,
                     pool=tmp_path)


def test_the_cli_creates_a_project_from_a_manifest(tiny_dataset, tmp_path, capsys):
    manifest = tmp_path / "pool.txt"
    manifest.write_text("".join(f"{p}\n" for p in _pool(tiny_dataset)[:7]))
    assert main(["init", str(tmp_path / "p"), "--dataset", str(tiny_dataset / "dataset.yaml"),
                 "--manifest", str(manifest)]) == 0
    assert "7 pool images" in capsys.readouterr().out
    manifest.write_text(f"{_pool(tiny_dataset)[0]}\n" * 2)
    assert main(["init", str(tmp_path / "q"), "--dataset", str(tiny_dataset / "dataset.yaml"),
                 "--manifest", str(manifest)]) == 1
    assert "line 2:" in capsys.readouterr().err


def test_the_recipe_chooses_the_scoring_engine_of_a_round(tiny_dataset, tmp_path, monkeypatch):
    config = round_config("least_confidence", "tiny", engine="ray", address="127.0.0.1:6379",
                          actors=3, gpus_per_actor=0.5, device="0")
    assert config.recipe.scoring_kwargs() == {
        "device": "0", "engine": "ray", "address": "127.0.0.1:6379", "actors": 3,
        "gpus_per_actor": 0.5}
    calls = []
    monkeypatch.setattr(scoring, "score_pool", lambda *a, **kw: calls.append(kw))
    with Project.init(tmp_path / "p", tiny_dataset / "dataset.yaml") as project:
        project._score("weights.pt", ["a.jpg"], config, progress=False)
    assert calls[0]["engine"] == "ray" and calls[0]["address"] == "127.0.0.1:6379"
    assert calls[0]["actors"] == 3 and calls[0]["device"] == "0"
    with pytest.raises(ValueError, match=r"Recipe\.engine"):
        Recipe(engine="dask")
    with pytest.raises(ValueError, match="actors"):
        Recipe(actors=0)
