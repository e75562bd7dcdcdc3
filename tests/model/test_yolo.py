"""alkit.yolo: offline set-up, weights refusal, the ultralytics internals alkit relies on, and a
real train / validate / predict under the network guard."""

import ast
import inspect
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from packaging.version import Version

import alkit
from alkit.data import netguard
from alkit.model import yolo

PACKAGE = Path(alkit.__file__).parent


def test_only_alkit_yolo_imports_ultralytics():
    importers = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "ultralytics" or n.startswith("ultralytics.") for n in names):
                importers.append(path.name)
    assert set(importers) == {"yolo.py"}


def test_importing_sets_up_ultralytics_offline():
    assert os.environ["YOLO_OFFLINE"] == "1"
    assert os.environ["YOLO_AUTOINSTALL"] == "false"
    assert Path(os.environ["ALKIT_HOME"]) / "Ultralytics" == yolo.CONFIG_DIR
    for font in ("Arial.ttf", "Arial.Unicode.ttf"):
        assert (yolo.CONFIG_DIR / font).stat().st_size > 100_000
    assert yolo.SETTINGS["sync"] is False
    assert Path(yolo.SETTINGS["runs_dir"]) == Path(os.environ["ALKIT_RUNS_DIR"])
    assert Path(yolo.SETTINGS["weights_dir"]).is_relative_to(Path(os.environ["ALKIT_HOME"]))


def test_fonts_resolve_locally_so_plots_never_download():
    from ultralytics.utils.checks import check_font

    assert Path(check_font("Arial.ttf")).parent == yolo.CONFIG_DIR
    assert Path(check_font("Arial.Unicode.ttf")).parent == yolo.CONFIG_DIR


def test_ultralytics_version_is_within_the_supported_range():
    version = Version(yolo.ULTRALYTICS_VERSION)
    assert Version("8.4.0") <= version < Version("8.5")


def test_ultralytics_internals_alkit_relies_on():
    from ultralytics.data.utils import IMG_FORMATS
    from ultralytics.utils.nms import non_max_suppression

    from alkit.data.datasets import IMG_FORMATS as ALKIT_IMG_FORMATS

    assert set(IMG_FORMATS) == set(ALKIT_IMG_FORMATS)
    assert "return_idxs" in inspect.signature(non_max_suppression).parameters
    assert {"sync", "runs_dir", "weights_dir", "datasets_dir"} <= set(yolo.SETTINGS)
    from ultralytics.utils import patches, torch_utils

    assert hasattr(patches, "_pil_plugins_registered")
    assert torch_utils.NUM_THREADS == yolo.torch_threads()
    assert "NUM_THREADS" in inspect.getsource(torch_utils.select_device)


def test_unreadable_images_still_raise_pils_own_error_after_ultralytics_import(tmp_path):
    from PIL import Image, UnidentifiedImageError

    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(UnidentifiedImageError):
        Image.open(tmp_path / "text.jpg")


@pytest.mark.parametrize("name", ["yolo11n.pt", "yolov8n.pt", "https://example.com/w.pt",
                                  "ultralytics/yolov8n", "nonexistent/best.pt", "mymodel.yaml"])
def test_names_that_would_download_are_refused(name):
    with pytest.raises(yolo.WeightsNotFoundError, match="alkit never downloads weights"):
        yolo.resolve_weights(name)


@pytest.mark.parametrize("name", ["yolov8n.yaml", "yolo11n.yaml", "yolov8s.yaml", "yolo11.yaml"])
def test_shipped_model_yamls_are_accepted(name):
    assert yolo.resolve_weights(name) == name


def test_known_model_yamls_lists_the_usual_starts():
    assert {"yolov8n.yaml", "yolo11n.yaml"} <= set(yolo.known_model_yamls())


def test_the_pretrained_start_is_installed_for_the_tests():
    checkpoint = yolo.pretrained_checkpoint()
    assert checkpoint is not None, (
        "the optional pretrained start is part of the test environment: "
        "pip install --no-deps smartrail-obstacle-detector==0.1.1 (make test does this)")
    assert yolo.default_start_weights() == str(checkpoint)


def test_a_local_checkpoint_loads(tmp_path):
    copy = tmp_path / "start.pt"
    shutil.copyfile(yolo.pretrained_checkpoint(), copy)
    model = yolo.load_model(copy)
    assert model.task == "detect" and len(model.names) == 6
    assert yolo.load_model(model) is model


@pytest.fixture(scope="module")
def trained(tiny_dataset, tmp_path_factory):
    """Two epochs from yaml (random init) on the tiny benchmark, under the network guard."""
    assert netguard.is_active()
    runs = tmp_path_factory.mktemp("runs")
    return yolo.train(tiny_dataset / "dataset.yaml", weights="yolov8n.yaml", epochs=2, imgsz=64,
                      batch=8, workers=0, runs_dir=runs, name="tiny"), runs


@pytest.mark.slow
def test_train_validate_predict_offline(trained, tiny_dataset):
    result, runs = trained
    assert result.best.is_file() and result.last.is_file()
    assert result.run_dir == runs / "tiny"
    assert set(result.val.instances_per_class) == set(alkit.data.samples.CONFIG.class_names)
    evaluation = yolo.evaluate(result.best, tiny_dataset / "dataset.yaml", split="test", imgsz=64,
                               runs_dir=runs)
    assert 0.0 <= evaluation.map50 <= 1.0 and 0.0 <= evaluation.map50_95 <= evaluation.map50
    assert sum(evaluation.instances_per_class.values()) > 0
    images = alkit.list_images(tiny_dataset / "images/pool")[:7]
    detections = yolo.predict(result.best, images, imgsz=64, batch=3, conf=0.0001,
                              progress=False)
    assert len(detections) == 7
    assert all(d.image_size == (128, 128) for d in detections)
    assert not list(Path.cwd().glob("runs")), "ultralytics wrote runs into the working directory"


@pytest.mark.slow
def test_predict_chunks_keep_image_order(trained, tiny_dataset):
    result, _ = trained
    model = yolo.load_model(result.best)
    images = alkit.list_images(tiny_dataset / "images/test")[:5]
    chunked = yolo.predict(model, images, imgsz=64, batch=2, conf=0.0001, progress=False)
    one_by_one = [yolo.predict(model, [p], imgsz=64, conf=0.0001, progress=False)[0]
                  for p in images]
    for a, b in zip(chunked, one_by_one, strict=True):
        assert len(a) == len(b)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-4)


@pytest.mark.slow
def test_fine_tuning_from_the_pretrained_start(tiny_dataset, tmp_path):
    result = yolo.train(tiny_dataset / "dataset.yaml", epochs=1, imgsz=64, batch=8, workers=0,
                        runs_dir=tmp_path, name="warm")
    from ultralytics import YOLO

    model = YOLO(result.best)
    assert list(model.names.values()) == list(alkit.data.samples.CONFIG.class_names)


def test_weights_hash_is_stable_for_files_and_yaml_names(tmp_path):
    checkpoint = yolo.pretrained_checkpoint()
    assert yolo.weights_hash(checkpoint) == yolo.weights_hash(yolo.YOLO(str(checkpoint)))
    assert yolo.weights_hash("yolov8n.yaml") == yolo.weights_hash("yolov8n.yaml")
    assert yolo.weights_hash("yolov8n.yaml") != yolo.weights_hash("yolo11n.yaml")
    # two builds of one yaml are different random draws: their weights hash differently
    assert yolo.weights_hash(yolo.YOLO("yolov8n.yaml")) != yolo.weights_hash(
        yolo.YOLO("yolov8n.yaml"))
