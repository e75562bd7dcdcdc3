"""Fixtures of the UI tests: a project whose round 1 picked the first pool images."""

import numpy as np
import pytest
from review_fixtures import N_PICKS, fake_scores

from alkit.loop.project import Project


@pytest.fixture
def project(tiny_dataset, tmp_path):
    """A project whose round 1 picked the first N_PICKS pool images (no model needed)."""
    project = Project.init(tmp_path / "project", tiny_dataset / "dataset.yaml")
    pool = project.ledger.images(split="pool")[:N_PICKS]
    project.ledger.start_round(1, strategy="uncertainty", params={}, model_before=None,
                               model_before_hash=None, metrics_before=None)
    project.ledger.record_queries(1, [r["id"] for r in pool], np.linspace(0.9, 0.5, N_PICKS),
                                  [f"uncertainty {s:.2f}" for s in np.linspace(0.9, 0.5, N_PICKS)])
    project._stage(1)
    yield project
    project.close()


@pytest.fixture
def scores(project):
    return fake_scores([r["path"] for r in project.ledger.images()])


