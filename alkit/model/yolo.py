"""The one module that imports ultralytics, and makes it safe offline first.

Importing this module, before ultralytics is imported:

* sets ``YOLO_OFFLINE=1`` (no online checks at import) and ``YOLO_AUTOINSTALL=false`` (no pip
  runs from inside ultralytics);
* points ``YOLO_CONFIG_DIR`` at ``<alkit home>`` (Ultralytics writes into its ``Ultralytics``
  folder there) unless the user set it, and puts a
  local font there under the names ultralytics' plotting looks for (``Arial.ttf``,
  ``Arial.Unicode.ttf``), copied from matplotlib's DejaVuSans, so nothing is downloaded;
* drops the one-time "Creating new Ultralytics Settings" banner (it breaks notebook output
  comparison);
* after import, turns settings sync and every logger integration off, sends ultralytics'
  runs, weights and datasets directories under the alkit home, and lets CPU runs use every
  core (``$ALKIT_TORCH_THREADS`` to choose).

The alkit home is ``$ALKIT_HOME`` or ``$XDG_CACHE_HOME/alkit`` (``~/.cache/alkit``). Training
runs go to ``$ALKIT_RUNS_DIR`` or ``<alkit home>/runs`` unless a call names its own directory.

Weights are only ever loaded from an existing local file or built from a model yaml that ships
with ultralytics; any other name is refused with :class:`WeightsNotFoundError` instead of being
handed to ultralytics, which would try to download it.

Internals relied on (tested in tests/test_yolo.py; bounded by the version range in
pyproject.toml): ``ultralytics.utils.SETTINGS`` keys, ``ultralytics/cfg/models`` layout,
``ultralytics.data.utils.IMG_FORMATS``, ``Results.boxes`` fields, ``DetMetrics.box`` fields and
the ``PIL.Image.open`` patch in ``ultralytics.utils.patches`` and
``ultralytics.utils.torch_utils.NUM_THREADS``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import util as importlib_util
from pathlib import Path

import numpy as np

from alkit.core.detections import Detections
from alkit.data.home import alkit_home, default_runs_dir

SUPPORTED_ULTRALYTICS = (">=8.4.0", "<8.5")
_SETTINGS_BANNER = "Creating new Ultralytics Settings"


class _DropSettingsBanner(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _SETTINGS_BANNER not in str(record.msg)


def _prepare_environment() -> Path:
    """Set the environment ultralytics reads at import; returns its config directory."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    if not os.environ.get("YOLO_CONFIG_DIR"):
        os.environ["YOLO_CONFIG_DIR"] = str(alkit_home())
    # Ultralytics defaults OMP_NUM_THREADS to 1 when unset, which halves CPU training speed on
    # a 2-core machine; use the cores we have unless the user chose.
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    config_dir = Path(os.environ["YOLO_CONFIG_DIR"]).expanduser() / "Ultralytics"
    _place_local_fonts(config_dir)
    # The logger object exists before ultralytics configures it; its filters survive that.
    logging.getLogger("ultralytics").addFilter(_DropSettingsBanner())
    return config_dir


def _place_local_fonts(config_dir: Path) -> None:
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    config_dir.mkdir(parents=True, exist_ok=True)
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        target = config_dir / name
        if not target.exists():
            tmp = target.with_suffix(".tmp")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)


CONFIG_DIR = _prepare_environment()

import ultralytics  # noqa: E402  (the environment above must be set first)
from ultralytics import YOLO  # noqa: E402
from ultralytics.utils import SETTINGS  # noqa: E402


def _configure_settings() -> None:
    home = alkit_home()
    wanted = {
        "sync": False,
        "runs_dir": str(default_runs_dir()),
        "weights_dir": str(home / "weights"),
        "datasets_dir": str(home / "datasets"),
        "api_key": "",
    }
    integrations = ("clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb",
                    "neptune", "hub", "vscode_msg", "openvino_msg")
    wanted.update({k: False for k in integrations if k in SETTINGS})
    changed = {k: v for k, v in wanted.items() if k in SETTINGS and SETTINGS.get(k) != v}
    if changed:
        SETTINGS.update(changed)


_configure_settings()


def _keep_pil_open_plain() -> None:
    """Ultralytics patches ``PIL.Image.open`` to install and register the pi-heif plugin the
    first time an image is not identified. Without pi-heif that turns every unreadable file,
    anywhere in the process, into a ModuleNotFoundError (after an attempted pip install). When
    pi-heif is absent, mark the plugin as handled so PIL's own error comes back."""
    from ultralytics.utils import patches

    if importlib_util.find_spec("pi_heif") is None and hasattr(patches, "_pil_plugins_registered"):
        patches._pil_plugins_registered = True


_keep_pil_open_plain()


def torch_threads() -> int:
    """CPU threads for training and prediction: ``$ALKIT_TORCH_THREADS`` or every core."""
    return max(1, int(os.environ.get("ALKIT_TORCH_THREADS") or os.cpu_count() or 1))


def _use_all_cores() -> None:
    """Ultralytics resets torch to ``cpu_count - 1`` threads on every CPU run (1 on a 2-core
    machine); with its dataloader workers in other processes, all cores train about 1.8x faster
    here (benchmarks/bench_threads.py)."""
    from ultralytics.utils import torch_utils

    torch_utils.NUM_THREADS = torch_threads()


_use_all_cores()


def set_torch_threads(n_threads: int) -> None:
    """Use ``n_threads`` (an int >= 1) CPU threads in torch from now on, including after
    Ultralytics' reset on a predictor's first run (a Ray actor holding one CPU sets 1)."""
    import torch
    from ultralytics.utils import torch_utils

    torch_utils.NUM_THREADS = max(1, int(n_threads))
    torch.set_num_threads(max(1, int(n_threads)))

ULTRALYTICS_VERSION = ultralytics.__version__


class WeightsNotFoundError(FileNotFoundError):
    """A weights name that is neither a local file nor a model yaml shipped with ultralytics."""


# --------------------------------------------------------------------------- weights


def known_model_yamls() -> list[str]:
    """Detection model yaml names ultralytics can build offline, e.g. ``yolov8n.yaml``."""
    names = []
    for base in ("yolov8", "yolo11", "yolo26", "yolov10", "yolov5", "yolov9", "yolov12"):
        if _shipped_model_yaml(f"{base}.yaml") is not None:
            names.extend(f"{base}{scale}.yaml" for scale in "nsmlx")
    return names


def _shipped_model_yaml(name: str) -> Path | None:
    """The file inside ultralytics/cfg/models for a model yaml name (scale letter allowed)."""
    models_dir = Path(ultralytics.__file__).parent / "cfg" / "models"
    stem = Path(name).stem
    candidates = {stem, re.sub(r"(\d+)([nslmx])(.+)?$", r"\1\3", stem)}
    for path in models_dir.rglob("*.yaml"):
        if path.stem in candidates:
            return path
    return None


def resolve_weights(weights: str | os.PathLike) -> str:
    """Check that ``weights`` can be loaded without a network; return it as a string.

    Accepted: an existing local file (``.pt`` checkpoint or model ``.yaml``), or the name of a
    model yaml that ships with ultralytics (``yolov8n.yaml``, ``yolo11s.yaml``, ...).

    Raises:
        WeightsNotFoundError: for anything else (``yolo11n.pt`` that is not on disk, a URL, a
            hub name), with what to do instead.
    """
    text = str(weights)
    path = Path(text).expanduser()
    if path.is_file():
        return str(path)
    if path.suffix in (".yaml", ".yml") and path.parent == Path(".") and _shipped_model_yaml(text):
        return text
    hint = "; the optional pretrained start is installed" if pretrained_checkpoint() else ""
    raise WeightsNotFoundError(
        f"weights {text!r} are not a local file, and alkit never downloads weights. "
        "Give the path of a checkpoint you have (.pt), or a model yaml to start from random "
        f"initialization, e.g. 'yolov8n.yaml' or 'yolo11n.yaml'{hint}."
    )


def pretrained_checkpoint() -> Path | None:
    """The optional pretrained YOLOv8n start, if its registry package is installed.

    It is ``railway_obstacle_detector/best.pt`` from ``smartrail-obstacle-detector==0.1.1``
    (a COCO-pretrained YOLOv8n backbone fine-tuned on 6 classes; derived from Ultralytics'
    AGPL weights, no licence of its own). Found without importing the package.
    """
    spec = importlib_util.find_spec("railway_obstacle_detector")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "best.pt"
        if candidate.is_file():
            return candidate
    return None


def default_start_weights() -> str:
    """The pretrained checkpoint when installed, else ``yolov8n.yaml`` (random init)."""
    checkpoint = pretrained_checkpoint()
    return str(checkpoint) if checkpoint else "yolov8n.yaml"


def load_model(model: YOLO | str | os.PathLike) -> YOLO:
    """A YOLO object from ``model``: a YOLO object (returned as is), a local file (``.pt``
    checkpoint or model yaml) or a shipped yaml name (checked by :func:`resolve_weights`)."""
    if isinstance(model, YOLO):
        return model
    return YOLO(resolve_weights(model))


# --------------------------------------------------------------------------- training


@contextlib.contextmanager
def quiet():
    """Ultralytics' per-epoch tables and progress bars off while inside (its warnings stay):
    for callers that print one line per step instead. Its bars follow the logger's level."""
    logger = logging.getLogger(ultralytics.utils.LOGGING_NAME)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def class_names(model: YOLO | str | os.PathLike) -> tuple[str, ...]:
    """The class names of a model, in class-id order."""
    names = load_model(model).names
    return tuple(names[i] for i in sorted(names))


@dataclass(frozen=True)
class TrainResult:
    """What a training run left behind.

    Attributes:
        run_dir: the ultralytics run directory (weights/, results.csv, args.yaml).
        best: path of the best checkpoint (by validation fitness).
        last: path of the last checkpoint.
        seconds: wall time of the run.
        val: the final validation metrics of the best checkpoint.
    """

    run_dir: Path
    best: Path
    last: Path
    seconds: float
    val: EvalResult


@dataclass(frozen=True)
class EvalResult:
    """Detection metrics on one split.

    Attributes:
        map50: mean AP at IoU 0.5 over the classes present.
        map50_95: mean AP over IoU 0.5:0.95.
        ap50_per_class: class name -> AP50, for classes with instances in the split.
        instances_per_class: class name -> number of labeled objects in the split.
    """

    map50: float
    map50_95: float
    ap50_per_class: dict[str, float] = field(default_factory=dict)
    instances_per_class: dict[str, int] = field(default_factory=dict)


def train(
    data: str | os.PathLike,
    *,
    weights: str | os.PathLike | None = None,
    epochs: int = 30,
    imgsz: int = 128,
    batch: int = 16,
    runs_dir: str | os.PathLike | None = None,
    name: str = "train",
    seed: int = 0,
    device: str = "cpu",
    workers: int = 2,
    verbose: bool = False,
    **overrides,
) -> TrainResult:
    """Train a detector on a dataset yaml with Ultralytics, offline.

    Args:
        data: dataset yaml (train and val splits are used).
        weights: start checkpoint or model yaml (see :func:`resolve_weights`); default
            :func:`default_start_weights`.
        epochs, imgsz, batch, seed, device, workers: as in ``YOLO.train``.
        runs_dir: parent directory of the run (default :func:`default_runs_dir`).
        name: the run's directory name under ``runs_dir`` (reused if it exists).
        verbose: Ultralytics' verbose output (off by default).
        overrides: any other ``YOLO.train`` argument (mosaic, mixup, close_mosaic, lr0, ...).

    Returns:
        The :class:`TrainResult`: run folder, best and last checkpoints, time, and the best
        checkpoint's validation metrics.
    """
    model = load_model(weights if weights is not None else default_start_weights())
    project = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    args = dict(
        data=str(data), epochs=epochs, imgsz=imgsz, batch=batch, seed=seed, device=device,
        workers=workers, project=str(project.resolve()), name=name, exist_ok=True,
        plots=False, amp=False, verbose=verbose, deterministic=True,
    )
    args.update(overrides)
    started = time.perf_counter()
    model.train(**args)
    seconds = time.perf_counter() - started
    trainer = model.trainer
    run_dir = Path(trainer.save_dir)
    val = _eval_result(trainer.validator.metrics, trainer.validator.names)
    return TrainResult(run_dir, Path(trainer.best), Path(trainer.last), seconds, val)


def evaluate(
    model: YOLO | str | os.PathLike,
    data: str | os.PathLike,
    *,
    split: str = "test",
    imgsz: int = 128,
    batch: int = 16,
    device: str = "cpu",
    runs_dir: str | os.PathLike | None = None,
) -> EvalResult:
    """mAP50, mAP50-95 and per-class AP50 of ``model`` on one split of a dataset yaml.

    Args:
        model: a YOLO object, a ``.pt`` checkpoint or a model yaml (see :func:`load_model`).
        data: the dataset yaml.
        split: the split to evaluate on (``test`` by default; ``val`` ...).
        imgsz: evaluation image size in pixels.
        batch: images per forward pass.
        device: the torch device: ``"cpu"``, ``"0"``, ``"cuda:0"``, ...
        runs_dir: parent of Ultralytics' ``val-<split>`` run folder (default
            :func:`default_runs_dir`).
    """
    model = load_model(model)
    project = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    metrics = model.val(
        data=str(data), split=split, imgsz=imgsz, batch=batch, device=device, plots=False,
        verbose=False, project=str(project.resolve()), name=f"val-{split}", exist_ok=True,
    )
    return _eval_result(metrics, model.names)


def _eval_result(metrics, names) -> EvalResult:
    box = metrics.box
    per_class = {
        names[int(c)]: float(ap) for c, ap in zip(box.ap_class_index, box.ap50, strict=True)
    }
    counts = metrics.nt_per_class if metrics.nt_per_class is not None else []
    instances = {names[i]: int(n) for i, n in enumerate(counts) if i in names}
    return EvalResult(float(box.map50), float(box.map), per_class, instances)


# --------------------------------------------------------------------------- prediction


def predict(
    model: YOLO | str | os.PathLike,
    images: Sequence[str | os.PathLike],
    *,
    imgsz: int = 128,
    batch: int = 16,
    conf: float = 0.05,
    iou: float = 0.7,
    device: str = "cpu",
    progress: bool = True,
) -> list[Detections]:
    """Detections for each image, in order, running ``batch`` images per forward pass.

    Ultralytics runs a whole list as one batch and ignores ``batch=``; this chunks the list.

    Args:
        model: a YOLO object, a ``.pt`` checkpoint or a model yaml (see :func:`load_model`).
        images: image paths.
        imgsz: inference image size in pixels.
        batch: images per forward pass.
        conf: NMS confidence threshold: lower-confidence boxes are dropped.
        iou: NMS IoU threshold.
        device: the torch device: ``"cpu"``, ``"0"``, ``"cuda:0"``, ...
        progress: a tqdm bar over the batches.

    Returns:
        One :class:`~alkit.core.detections.Detections` per image, boxes in original-image
        pixels.
    """
    from tqdm.auto import tqdm

    model = load_model(model)
    paths = [str(p) for p in images]
    chunks = [paths[i : i + batch] for i in range(0, len(paths), batch)]
    results = []
    for chunk in tqdm(chunks, desc="predict", unit="batch", disable=not progress or not chunks):
        outputs = model.predict(
            chunk, imgsz=imgsz, conf=conf, iou=iou, device=device, verbose=False, batch=len(chunk)
        )
        results.extend(_to_detections(r) for r in outputs)
    return results


def _to_detections(result) -> Detections:
    boxes = result.boxes
    return Detections(
        boxes.xyxy.cpu().numpy(),
        boxes.conf.cpu().numpy(),
        boxes.cls.cpu().numpy().astype(np.int64),
        tuple(int(x) for x in result.orig_shape),
    )


# --------------------------------------------------------------------------- one-pass scoring


@dataclass(frozen=True)
class ImageOutput:
    """What one forward pass gives for one image.

    Attributes:
        xyxy: (n, 4) float32 kept boxes in original-image pixels.
        confidence: (n,) float32, equal to ``max(class_scores, axis=1)``.
        class_id: (n,) int64, equal to ``argmax(class_scores, axis=1)``.
        class_scores: (n, C) float32 sigmoid score of every class for every kept box, read from
            the raw head output at the anchors NMS kept.
        embedding: (D,) float32 mean-pooled output of the embedding layer.
        box_features: (n, BOX_FEATURE_DIM) float16 per-box features: the neck's feature maps
            read at the box's anchor (:func:`box_features_at`), projected to a fixed size.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    class_scores: np.ndarray
    embedding: np.ndarray
    box_features: np.ndarray | None = None


#: Size of a box's feature vector (a fixed random projection of the neck's channels).
BOX_FEATURE_DIM = 32


def box_feature_projection(n_channels: int) -> np.ndarray:
    """(n_channels, BOX_FEATURE_DIM) float32: the fixed Gaussian random projection of the
    concatenated neck channels (seeded by ``n_channels``, scaled by 1 / sqrt(BOX_FEATURE_DIM):
    Johnson-Lindenstrauss, so cosine similarities are roughly kept)."""
    rng = np.random.default_rng([n_channels, 2024])
    return (rng.standard_normal((n_channels, BOX_FEATURE_DIM)) / np.sqrt(BOX_FEATURE_DIM)
            ).astype(np.float32)


def box_features_at(feats, image: int, anchors, strides):
    """(n, sum of channels) torch tensor: for each anchor index (into the concatenation of the
    levels' flattened h x w grids, as Ultralytics' head orders them), the feature vectors of
    every level read at that anchor's centre (the nearest cell of each level).

    Args:
        feats: the head's input feature maps, a list of (B, C_l, H_l, W_l) tensors.
        image: the batch row.
        anchors: (n,) long tensor of anchor indices.
        strides: the levels' strides in input pixels (the head's ``stride``).
    """
    import torch

    sizes = [tuple(f.shape[2:]) for f in feats]
    starts = torch.tensor([0, *np.cumsum([h * w for h, w in sizes])[:-1]], device=anchors.device)
    level = torch.bucketize(anchors, starts, right=True) - 1
    local = anchors - starts[level]
    widths = torch.tensor([w for _, w in sizes], device=anchors.device)
    stride = torch.as_tensor(strides, dtype=torch.float32, device=anchors.device)[level]
    cy = (torch.div(local, widths[level], rounding_mode="floor").float() + 0.5) * stride
    cx = ((local % widths[level]).float() + 0.5) * stride
    columns = []
    for f, (h, w), s in zip(feats, sizes, strides, strict=True):
        y = (cy / float(s)).long().clamp(0, h - 1)
        x = (cx / float(s)).long().clamp(0, w - 1)
        columns.append(f[image][:, y, x].T.float())
    return torch.cat(columns, dim=1)


def weights_hash(model: YOLO | str | os.PathLike) -> str:
    """SHA-256 identifying a model's weights: of its checkpoint file when it has one; of the
    yaml (name or text) for a yaml not yet built (it names the starting recipe: every build
    draws new random weights, so never use that hash as a cache key); else of a YOLO object's
    parameters and buffers (what :func:`alkit.score_pool` keys its cache by)."""

    if not isinstance(model, YOLO):
        resolved = resolve_weights(model)
        path = Path(resolved)
        if path.is_file() and path.suffix == ".pt":
            from alkit.data.datasets import file_sha256

            return file_sha256(path)
        # a yaml starts from random weights: identify the architecture, not a draw of them
        text = path.read_text() if path.is_file() else resolved
        return hashlib.sha256(f"yaml:{text}".encode()).hexdigest()
    checkpoint = getattr(model, "ckpt_path", None)
    if checkpoint and Path(checkpoint).is_file():
        from alkit.data.datasets import file_sha256

        return file_sha256(checkpoint)
    digest = hashlib.sha256()
    for name, tensor in sorted(model.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def checkpoint_bytes(model: YOLO) -> bytes:
    """The ``.pt`` bytes of the loaded YOLO ``model``: its checkpoint file's, or the model
    saved to a temporary file when it has none (a yaml-built model's random weights are
    shipped as drawn, so every process that loads the bytes holds the same model)."""
    checkpoint = getattr(model, "ckpt_path", None)
    if checkpoint and Path(checkpoint).is_file():
        return Path(checkpoint).read_bytes()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="alkit-weights-") as folder:
        path = Path(folder) / "model.pt"
        model.save(path)
        return path.read_bytes()


def default_embedding_layer(model: YOLO) -> int:
    """Index of the last backbone block of the YOLO object ``model``
    (``len(yaml['backbone']) - 1``; SPPF in YOLOv8n)."""
    return len(model.model.yaml["backbone"]) - 1


class OnePassScorer:
    """Runs a detector over batches of decoded images and returns, from ONE forward pass per
    batch, kept boxes, full class-score vectors and a backbone embedding per image.

    The class scores come from the raw head output (B, 4 + C, anchors) at the indices NMS kept
    (``non_max_suppression(..., return_idxs=True)``); for end-to-end heads (YOLO26, YOLOv10)
    from the one-to-one branch's scores at the anchors its top-k kept. The embedding comes from
    a forward hook on the layer the predictor actually runs.

    Use as a context manager (it removes its hooks on exit). Only PyTorch (.pt / yaml)
    detection models are supported.

    Args:
        model: a YOLO object, a ``.pt`` checkpoint or a model yaml (see :func:`load_model`);
            its task must be ``detect``.
        imgsz: inference image size in pixels.
        conf: NMS confidence threshold of the kept boxes.
        iou: NMS IoU threshold.
        max_det: the most boxes kept per image.
        embed_layer: index of the layer whose output, mean-pooled over space, is the embedding
            (``None``: :func:`default_embedding_layer`); the head itself is not allowed.
        device: the torch device: ``"cpu"``, ``"0"``, ``"cuda:0"``, ...
    """

    def __init__(self, model: YOLO | str | os.PathLike, *, imgsz: int = 640, conf: float = 0.05,
                 iou: float = 0.7, max_det: int = 100, embed_layer: int | None = None,
                 device: str = "cpu"):
        self.model = load_model(model)
        if self.model.task != "detect":
            raise ValueError(f"alkit scores detection models; this model's task is "
                             f"{self.model.task!r}")
        self.predictor = _make_scoring_predictor(dict(
            imgsz=imgsz, conf=conf, iou=iou, max_det=max_det, device=device, verbose=False,
            save=False, mode="predict", rect=True, batch=1,
        ))
        self.predictor.setup_model(model=self.model.model, verbose=False)
        self.network = self.predictor.model.model
        layer = default_embedding_layer(self.model) if embed_layer is None else embed_layer
        last = len(self.network.model) - 2  # the head itself is not a feature map
        if not 0 <= layer <= last:
            raise ValueError(f"embed_layer must be a layer index in 0..{last}, got {layer}")
        self.embed_layer = layer
        self.names = dict(self.model.names)
        self._embedding = None
        self._handles = [self.network.model[layer].register_forward_hook(self._capture)]
        self.predictor.alkit_head_capture = _HeadCapture(self.network.model[-1])

    def _capture(self, module, inputs, output):
        self._embedding = output.detach().float().mean(dim=(2, 3)).cpu().numpy()

    def __call__(self, images_bgr: list[np.ndarray]) -> list[ImageOutput]:
        """Score decoded images (H, W, 3 uint8 BGR, as OpenCV reads them) in one batch."""
        if not images_bgr:
            return []
        self._embedding = None
        results = self.predictor(source=list(images_bgr), stream=False)
        embeddings = self._embedding
        return [
            ImageOutput(
                r.boxes.xyxy.cpu().numpy().astype(np.float32),
                r.boxes.conf.cpu().numpy().astype(np.float32),
                r.boxes.cls.cpu().numpy().astype(np.int64),
                r.alkit_class_scores,
                embeddings[i].astype(np.float32),
                r.alkit_box_features,
            )
            for i, r in enumerate(results)
        ]

    def close(self) -> None:
        """Remove the hooks this scorer put on the model."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self.predictor.alkit_head_capture.restore()

    def __enter__(self) -> OnePassScorer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _HeadCapture:
    """For end-to-end heads, remembers the anchor index of each of the head's top-k rows."""

    def __init__(self, head):
        self.head, self.anchor_index = head, None
        self.end2end = bool(getattr(head, "end2end", False))
        if self.end2end:
            self._original = head.get_topk_index
            head.get_topk_index = self._get_topk_index

    def _get_topk_index(self, scores, max_det):
        scores, labels, index = self._original(scores, max_det)
        self.anchor_index = index
        return scores, labels, index

    def restore(self) -> None:
        if self.end2end and "get_topk_index" in vars(self.head):
            del self.head.get_topk_index


def _make_scoring_predictor(overrides: dict):
    from ultralytics.models.yolo.detect import DetectionPredictor
    from ultralytics.utils import nms

    class ScoringPredictor(DetectionPredictor):
        """DetectionPredictor that keeps each kept box's full class-score vector."""

        def postprocess(self, preds, img, orig_imgs, **kwargs):
            capture = self.alkit_head_capture
            raw = preds[0] if isinstance(preds, list | tuple) else preds
            kept, indices = nms.non_max_suppression(
                preds, self.args.conf, self.args.iou, self.args.classes, self.args.agnostic_nms,
                max_det=self.args.max_det, nc=0, end2end=capture.end2end, return_idxs=True,
            )
            if capture.end2end:
                logits = preds[1]["one2one"]["scores"]  # (B, C, anchors), before the sigmoid
                anchors = [capture.anchor_index[b][idx.view(-1)].long()
                           for b, idx in enumerate(indices)]
                class_scores = [logits[b][:, a].sigmoid().T for b, a in enumerate(anchors)]
            else:
                n_classes = raw.shape[1] - 4
                anchors = [idx.view(-1).long() for idx in indices]
                class_scores = [raw[b, 4 : 4 + n_classes, a].T for b, a in enumerate(anchors)]
            box_features = _box_features(preds, capture, anchors)
            if not isinstance(orig_imgs, list):
                from ultralytics.utils import ops

                orig_imgs = ops.convert_torch2numpy_batch(orig_imgs)[..., ::-1]
            results = self.construct_results(kept, img, orig_imgs)
            for result, scores, features in zip(results, class_scores, box_features,
                                                 strict=True):
                result.alkit_class_scores = scores.float().cpu().numpy()
                result.alkit_box_features = features
            return results

    return ScoringPredictor(overrides=overrides)


def _box_features(preds, capture, anchors) -> list[np.ndarray | None]:
    """Per image, the kept boxes' projected neck features (float16), or None per image when
    the head's feature maps are not in its output."""
    extras = preds[1] if isinstance(preds, list | tuple) and len(preds) > 1 else None
    branch = extras.get("one2one" if capture.end2end else "one2many", extras) if isinstance(
        extras, dict) else None
    feats = branch.get("feats") if isinstance(branch, dict) else None
    if not feats:
        return [None] * len(anchors)
    projection = box_feature_projection(sum(int(f.shape[1]) for f in feats))
    strides = [float(s) for s in capture.head.stride]
    return [(box_features_at(feats, b, a, strides).cpu().numpy() @ projection).astype(np.float16)
            for b, a in enumerate(anchors)]
