"""Fixtures of the model layer's scoring tests: the tiny benchmark's images as a pool and the
pretrained start as the model (local and Ray scoring compare on them)."""

import pytest

from alkit.data import datasets
from alkit.model import yolo


@pytest.fixture(scope="module")
def pool(tiny_dataset) -> list[str]:
    return [str(p) for p in datasets.list_images(tiny_dataset / "images")]


@pytest.fixture(scope="module")
def weights() -> str:
    return str(yolo.pretrained_checkpoint())
