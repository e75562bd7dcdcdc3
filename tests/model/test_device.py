"""The GPU path without a GPU: ``device`` reaches training, the committee and scoring, and
training never turns on Ultralytics' AMP check (it downloads a checkpoint: offline, it cannot)."""

import pytest

from alkit.model import committee, yolo
from alkit.model.recipe import recipe


class _Stop(Exception):
    pass


def test_training_takes_the_device_and_keeps_amp_off(monkeypatch, tmp_path):
    seen = {}

    def fake_train(self, **kwargs):
        seen.update(kwargs)
        raise _Stop

    monkeypatch.setattr(yolo.YOLO, "train", fake_train)
    with pytest.raises(_Stop):
        yolo.train(tmp_path / "data.yaml", weights="yolov8n.yaml", device="0",
                   runs_dir=tmp_path)
    assert seen["device"] == "0" and seen["amp"] is False


def test_the_committee_trains_every_member_on_the_recipes_device(monkeypatch, tiny_dataset,
                                                                  tmp_path):
    devices = []

    def fake_train(data, **kwargs):
        devices.append(kwargs["device"])
        return type("Result", (), {"best": tmp_path / f"m{len(devices)}.pt"})()

    monkeypatch.setattr(yolo, "train", fake_train)
    members = committee.train_committee(tiny_dataset / "dataset.yaml", n_members=2,
                                        recipe=recipe("tiny", device="cuda:1"),
                                        runs_dir=tmp_path / "runs")
    assert devices == ["cuda:1", "cuda:1"] and len(members) == 2
    assert recipe("tiny", device="cuda:1").scoring_kwargs()["device"] == "cuda:1"
