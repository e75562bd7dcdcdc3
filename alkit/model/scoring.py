"""Pool scoring: every image once per model, every measure, resumable; and ``PoolScores``.

``score_pool(model, images)`` runs the detector over a pool in batches and, in one forward pass
per batch (:class:`alkit.model.yolo.OnePassScorer`), keeps per image: the boxes NMS kept (xyxy,
confidence, class), the full class-score vector of every kept box, and a mean-pooled backbone
embedding. Every uncertainty measure of :mod:`alkit.core.uncertainty` is computed from those arrays,
so changing a measure, a reduction or the confidence threshold needs no new inference.

**Cache and resume.** Results are keyed by (model weights hash, image content hash, scoring
settings: image size, NMS confidence / IoU / max_det, embedding layer, scoring version). They
live in ``<cache_dir>/<key>/`` as shards, one per finished batch, each written to a temporary
name and renamed into place (atomic). Re-scoring an unchanged pool with the same model does no
inference; new images are the only ones scored; a run killed at any moment (even SIGKILL) and
started again loses no finished batch and duplicates nothing (records are keyed by content
hash). After a run the shards are merged into one. Default cache dir: ``<alkit home>/scores``.
The records and the shard cache live in :mod:`alkit.model.records`, shared with the Ray engine.

**Engines.** ``engine="local"`` (default) infers in this process; ``engine="ray"`` infers on Ray
Data actors (:mod:`alkit.model.distributed`), writes one shard per finished block of paths into
the same cache and gives the same numbers, so the two engines share every finished record.

**Bad images** (missing, unreadable, zero bytes, truncated, not an image) are skipped, counted
and listed in ``PoolScores.skipped`` with the reason; they never stop a run.

**Saved format**: one ``.npz`` per :class:`alkit.PoolScores`
(:func:`alkit.data.scorefile.save_scores`, read back with numpy only by
:func:`~alkit.data.scorefile.load_scores`); the arrays are listed in :mod:`alkit.core.pool`.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alkit.core.pool import PoolScores
from alkit.data.datasets import list_images
from alkit.data.home import alkit_home
from alkit.model.records import LoadedImage, ShardCache, image_record, join_records, read_image

#: 2: per-box neck features (``box_features``) joined the records.
SCORING_VERSION = 2


# --------------------------------------------------------------------------- the cache


def default_cache_dir() -> Path:
    """``<alkit home>/scores`` (:func:`alkit.data.home.alkit_home`)."""
    return alkit_home() / "scores"


# --------------------------------------------------------------------------- the engine


@dataclass(frozen=True)
class ScoringRun:
    """How a :func:`score_pool` call went: images inferred, taken from the cache, skipped.

    Attributes:
        n_inferred: images run through the model in this call.
        n_cached: images whose records were already in the cache (identical files included).
        n_skipped: bad images not scored (listed in :attr:`PoolScores.skipped`).
        seconds: wall-clock time of the call.
        cache_dir: the cache folder of this model and settings.
    """

    n_inferred: int
    n_cached: int
    n_skipped: int
    seconds: float
    cache_dir: Path


def score_pool(
    model,
    images: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    imgsz: int = 640,
    batch: int = 16,
    conf: float = 0.05,
    iou: float = 0.7,
    max_det: int = 100,
    embed_layer: int | None = None,
    conf_threshold: float = 0.25,
    device: str = "cpu",
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    engine: str = "local",
    address: str | None = None,
    actors: int = 2,
    gpus_per_actor: float = 0.0,
    block_size: int = 64,
) -> PoolScores:
    """Score every image of a pool once per model (see the module docstring).

    Args:
        model: an Ultralytics YOLO object, a ``.pt`` checkpoint or a model yaml.
        images: image paths, or a directory / list file of them.
        imgsz, batch: inference size and images per forward pass.
        conf, iou, max_det: NMS settings of the stored boxes (part of the cache key).
            Keep ``conf`` low: measures filter with ``conf_threshold`` afterwards.
        embed_layer: layer whose mean-pooled output is the embedding (default: the last
            backbone block).
        conf_threshold: boxes at or above it count in measures (changeable later, no
            inference).
        device: the torch device to infer on: ``"cpu"``, ``"0"``, ``"cuda:0"``, ...
        cache_dir: where the per-model cache lives (default :func:`default_cache_dir`).
        progress: a tqdm bar with images/s.
        engine: ``"local"`` (this process, the default) or ``"ray"`` (Ray Data actors, see
            :mod:`alkit.model.distributed`; needs ``pip install 'alkit[ray]'``). Both write and
            read the same cache and give the same numbers.
        address: ray only: a running cluster's ``host:port``; ``None`` starts a private Ray on
            127.0.0.1 for the call.
        actors: ray only: scoring actors (one model each).
        gpus_per_actor: ray only: GPUs each actor reserves (0: CPU actors using ``device``).
        block_size: ray only: images per block shard (what a rerun skips when finished).

    Returns:
        :class:`PoolScores`; ``.meta["run"]`` says how many images were inferred, cached,
        skipped (and, with Ray, blocks skipped and the start-up seconds).
    """
    from tqdm.auto import tqdm

    from alkit.model import yolo

    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    started = time.perf_counter()
    paths = _unique_paths(images)
    model = yolo.load_model(model)
    model_hash = yolo.weights_hash(model)
    layer = yolo.default_embedding_layer(model) if embed_layer is None else embed_layer
    settings = {"imgsz": imgsz, "conf": conf, "iou": iou, "max_det": max_det,
                "embed_layer": layer, "version": SCORING_VERSION}
    key = hashlib.sha256(json.dumps([model_hash, settings], sort_keys=True).encode())
    cache = ShardCache(Path(cache_dir or default_cache_dir()) / key.hexdigest()[:24]).load()
    n_cached_before = len(cache.records)
    names = tuple(model.names[i] for i in sorted(model.names))
    bar = tqdm(total=len(paths), desc="scoring", unit="img", disable=not progress)
    extra = {"engine": "local"}
    if engine == "ray":
        from alkit.model.distributed import RayEngine, infer_missing_ray

        ray_engine = RayEngine(address, actors, gpus_per_actor, block_size=block_size)
        with bar:
            loaded, extra = infer_missing_ray(model, cache, paths, settings, engine=ray_engine,
                                              batch=batch, device=device, bar=bar)
    else:
        with _LazyScorer(lambda: yolo.OnePassScorer(
                model, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det, embed_layer=layer,
                device=device)) as scorer:
            loaded = _infer_missing(scorer, cache, paths, batch, bar)
        cache.compact()
    n_inferred = len(cache.records) - n_cached_before
    skipped = [(item.path, item.error) for item in loaded if item.error]
    run = ScoringRun(n_inferred, len(paths) - n_inferred - len(skipped), len(skipped),
                     time.perf_counter() - started, cache.directory)
    return _assemble(loaded, cache, names, skipped, conf_threshold, {
        "model_hash": model_hash, "settings": settings,
        "run": {**run.__dict__, "cache_dir": str(run.cache_dir), **extra},
    })


class _LazyScorer:
    """Builds the scorer (predictor set-up, hooks) only when an image needs inference."""

    def __init__(self, factory):
        self.factory, self.scorer = factory, None

    def __call__(self, images_bgr):
        if self.scorer is None:
            self.scorer = self.factory()
        return self.scorer(images_bgr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.scorer is not None:
            self.scorer.close()


def _unique_paths(images) -> list[str]:
    if isinstance(images, str | os.PathLike):
        images = list_images(images)
    return list(dict.fromkeys(str(p) for p in images))


def _infer_missing(scorer, cache: ShardCache, paths: list[str], batch: int,
                   bar) -> list[LoadedImage]:
    """Read all images (the next batch on a thread while the current one infers) and score the
    ones whose content hash the cache lacks, saving each finished batch as a shard."""
    loaded: list[LoadedImage] = []
    chunks = [paths[i : i + batch] for i in range(0, len(paths), batch)]

    def needs_pixels(digest: str) -> bool:
        return digest not in cache.records

    def read_chunk(chunk):
        return [read_image(p, needs_pixels) for p in chunk]

    with bar, concurrent.futures.ThreadPoolExecutor(max_workers=1) as reader:
        future = reader.submit(read_chunk, chunks[0]) if chunks else None
        for index in range(len(chunks)):
            items = future.result()
            if index + 1 < len(chunks):
                future = reader.submit(read_chunk, chunks[index + 1])
            todo: dict[str, LoadedImage] = {}  # by content hash: identical files infer once
            for it in items:
                if it.bgr is not None and it.hash not in cache.records:
                    todo.setdefault(it.hash, it)
            todo = list(todo.values())
            if todo:
                outputs = scorer([it.bgr for it in todo])
                cache.add([image_record(it.hash, *it.bgr.shape[:2], out)
                           for it, out in zip(todo, outputs, strict=True)])
            loaded.extend(LoadedImage(it.path, it.hash, error=it.error) for it in items)
            bar.update(len(items))
    return loaded


def _assemble(loaded, cache: ShardCache, names, skipped, conf_threshold, meta) -> PoolScores:
    good = [item for item in loaded if not item.error]
    records = [cache.records[item.hash] for item in good]
    n_boxes = [len(r["confidence"]) for r in records]
    joined = join_records(records) if records else None
    empty = {"box_xyxy": np.zeros((0, 4), np.float32), "box_confidence": np.zeros(0, np.float32),
             "box_class": np.zeros(0, np.int64),
             "box_class_scores": np.zeros((0, len(names)), np.float32),
             "embeddings": np.zeros((0, 0), np.float32), "hashes": np.zeros(0, str),
             "heights": np.zeros(0, np.int32), "widths": np.zeros(0, np.int32),
             "box_features": None}
    arrays = joined or empty
    return PoolScores(
        paths=[item.path for item in good], hashes=arrays["hashes"], heights=arrays["heights"],
        widths=arrays["widths"], box_offsets=np.concatenate([[0], np.cumsum(n_boxes)]).astype(
            np.int64),
        box_xyxy=arrays["box_xyxy"], box_confidence=arrays["box_confidence"],
        box_class=arrays["box_class"], box_class_scores=arrays["box_class_scores"],
        embeddings=arrays["embeddings"], names=names, skipped=skipped, meta=meta,
        conf_threshold=conf_threshold, box_features=arrays["box_features"],
    )
