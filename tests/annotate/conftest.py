"""Fixtures of the annotation tests: the session's real Label Studio server (see
annotate_fixtures.py) and cheap staged projects.

``staged_project`` gives a project whose round 1 is staged (6 picks with the model's boxes) in
a few seconds: the seed model is trained once per session and adopted by each project. It
trains 3 epochs at 128 px from the pretrained start, the least that predicts any box at all
(confidences of 0.05-0.2, on about one pool image in eight): 2 epochs, or 10 at 64 px, predict
none.
"""

from __future__ import annotations

import pytest
from annotate_fixtures import BUDGET, LabelStudioServer, label_studio_binary, missing


@pytest.fixture(scope="session")
def launched_label_studio(tmp_path_factory):
    """The session's Label Studio server, launched but perhaps not answering yet (None when
    Label Studio is not installed). The seed round asks for it too, so that the server boots
    while the seed model trains."""
    binary = label_studio_binary()
    if binary is None:
        yield None
        return
    server = LabelStudioServer(binary, tmp_path_factory.mktemp("labelstudio"),
                               tmp_path_factory.getbasetemp())
    yield server.launch()
    server.stop()


@pytest.fixture(scope="session")
def label_studio(launched_label_studio):
    """The session's Label Studio server (a :class:`LabelStudioServer`), answering."""
    if launched_label_studio is None:
        missing("Label Studio is not installed: `make test` installs it in .venv-labelstudio "
                "(or set ALKIT_LABEL_STUDIO_BIN)")
    try:
        return launched_label_studio.wait()
    except RuntimeError as error:
        pytest.fail(str(error))


@pytest.fixture
def server(label_studio):
    """A client of the session's server; the server is restarted first if a test killed it."""
    if label_studio.process is None or label_studio.process.poll() is not None:
        label_studio.start()
    return label_studio.client()


@pytest.fixture(scope="session")
def round_config():
    from alkit.loop.config import round_config

    return round_config("least_confidence", "tiny", budget=BUDGET, measure="entropy", imgsz=128,
                        seed_epochs=3)


@pytest.fixture(scope="session")
def seed_round(tiny_dataset, tmp_path_factory, round_config, launched_label_studio):
    """Round 0 of a project on the tiny benchmark, trained once per session (while the Label
    Studio server boots)."""
    from alkit.loop.project import Project

    with Project.init(tmp_path_factory.mktemp("seed") / "seed",
                      tiny_dataset / "dataset.yaml") as project:
        return project.run_round(round_config, progress=False)


@pytest.fixture
def staged_project(tiny_dataset, seed_round, round_config, tmp_path):
    """``staged_project(name=None, config=None)``: a new project with the session's seed round
    and round 1 staged (its 6 picks waiting for labels), in a folder named after the test
    (``name`` to choose); ``config`` picks with another query (default ``round_config``)."""
    from alkit.loop.project import Project

    opened = []

    def make(name: str | None = None, config=None):
        # the folder's name is the Label Studio project's title: one per test
        project = Project.init(tmp_path / (name or tmp_path.name), tiny_dataset / "dataset.yaml")
        opened.append(project)
        project.adopt_seed_round(seed_round)
        project.stage_round(config or round_config, progress=False)
        return project

    yield make
    for project in opened:
        project.close()
