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
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alkit.core.pool import PoolScores
from alkit.data.datasets import DatasetError, decode_rgb, list_images
from alkit.data.files import atomic_savez
from alkit.data.home import alkit_home

#: 2: per-box neck features (``box_features``) joined the records.
SCORING_VERSION = 2
_SHARD_ARRAYS = ("hashes", "heights", "widths", "n_boxes", "box_xyxy", "box_confidence",
                 "box_class", "box_class_scores", "embeddings", "box_features")


# --------------------------------------------------------------------------- results
# --------------------------------------------------------------------------- the cache


def default_cache_dir() -> Path:
    """``<alkit home>/scores`` (:func:`alkit.data.home.alkit_home`)."""
    return alkit_home() / "scores"


class ShardCache:
    """Per-image records of one (model, settings) key, stored as atomic ``.npz`` shards.

    ``directory`` is the key's cache folder, created if missing; nothing is read until
    :meth:`load`. Records are keyed by image content hash. Shards the Ray engine wrote for a
    block of paths (``shard-block-*.npz``, :mod:`alkit.model.distributed`) also carry the
    block's path index: ``blocks[shard name] = {path: (content hash, skip reason)}``.
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, dict] = {}
        self.blocks: dict[str, dict[str, tuple[str, str]]] = {}
        self.unreadable: list[Path] = []

    def shards(self) -> list[Path]:
        """The finished shard files, oldest first."""
        return sorted(self.directory.glob("shard-*.npz"))

    def load(self) -> ShardCache:
        """Read every finished shard (a half-written one cannot exist: shards are renamed
        into place; an unreadable one is listed in ``unreadable`` and left alone). Temporary
        files of a killed run older than an hour are removed."""
        for part in self.directory.glob(".*.part"):
            if time.time() - part.stat().st_mtime > 3600:
                part.unlink(missing_ok=True)
        for shard in self.shards():
            try:
                with np.load(shard, allow_pickle=False) as data:
                    arrays = {k: data[k] for k in _SHARD_ARRAYS}
                    if "block_paths" in data.files:
                        self.blocks[shard.name] = {
                            str(p): (str(h), str(e)) for p, h, e in zip(
                                data["block_paths"], data["block_hashes"], data["block_errors"],
                                strict=True)}
            except (OSError, ValueError, KeyError, EOFError):
                self.unreadable.append(shard)
                continue
            for record in _split_records(arrays):
                self.records.setdefault(record["hash"], record)
        return self

    def add(self, records: list[dict]) -> None:
        """Persist a batch of records as one new shard, then remember them."""
        new = [r for r in records if r["hash"] not in self.records]
        if not new:
            return
        name = f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.npz"
        atomic_savez(self.directory / name, **_join_records(new))
        for record in new:
            self.records[record["hash"]] = record

    def compact(self) -> None:
        """Merge all shards into one (written first, then the old ones removed; Ray block
        shards are merged too, and their path index with them)."""
        shards = self.shards()
        if len(shards) <= 1 or not self.records:
            return
        merged = self.directory / f"shard-{time.time_ns():020d}-merged.npz"
        atomic_savez(merged, **_join_records(list(self.records.values())))
        for shard in shards:
            shard.unlink(missing_ok=True)
        self.blocks.clear()


def _record(image_hash: str, height: int, width: int, output) -> dict:
    from alkit.model.yolo import BOX_FEATURE_DIM

    features = output.box_features
    if features is None:  # a head whose output lacks its feature maps: zeros (similarity 0)
        features = np.zeros((len(output.confidence), BOX_FEATURE_DIM), np.float16)
    return {"hash": image_hash, "height": height, "width": width, "xyxy": output.xyxy,
            "confidence": output.confidence, "class_id": output.class_id,
            "class_scores": output.class_scores, "embedding": output.embedding,
            "box_features": features}


def _join_records(records: list[dict]) -> dict[str, np.ndarray]:
    n_classes = records[0]["class_scores"].shape[1]
    return {
        "hashes": np.array([r["hash"] for r in records], dtype=str),
        "heights": np.array([r["height"] for r in records], dtype=np.int32),
        "widths": np.array([r["width"] for r in records], dtype=np.int32),
        "n_boxes": np.array([len(r["confidence"]) for r in records], dtype=np.int64),
        "box_xyxy": np.concatenate([r["xyxy"] for r in records]).astype(np.float32).reshape(-1, 4),
        "box_confidence": np.concatenate([r["confidence"] for r in records]).astype(np.float32),
        "box_class": np.concatenate([r["class_id"] for r in records]).astype(np.int64),
        "box_class_scores": np.concatenate([r["class_scores"] for r in records])
        .astype(np.float32).reshape(-1, n_classes),
        "embeddings": np.stack([r["embedding"] for r in records]).astype(np.float32),
        "box_features": np.concatenate([r["box_features"] for r in records]).astype(np.float16)
        .reshape(-1, records[0]["box_features"].shape[1]),
    }


def _split_records(arrays: dict[str, np.ndarray]) -> list[dict]:
    offsets = np.concatenate([[0], np.cumsum(arrays["n_boxes"])])
    return [
        {"hash": str(h), "height": int(arrays["heights"][i]), "width": int(arrays["widths"][i]),
         "xyxy": arrays["box_xyxy"][lo:hi], "confidence": arrays["box_confidence"][lo:hi],
         "class_id": arrays["box_class"][lo:hi], "class_scores": arrays["box_class_scores"][lo:hi],
         "embedding": arrays["embeddings"][i], "box_features": arrays["box_features"][lo:hi]}
        for i, (h, lo, hi) in enumerate(zip(arrays["hashes"], offsets[:-1], offsets[1:],
                                            strict=True))
    ]


# --------------------------------------------------------------------------- the engine


@dataclass(frozen=True)
class _Loaded:
    """One image read from disk: its hash, and its pixels when they are needed."""

    path: str
    hash: str | None = None
    bgr: np.ndarray | None = None
    error: str | None = None


def _read(path: str, need_pixels: Callable[[str], bool]) -> _Loaded:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        return _Loaded(path, error=f"cannot read: {error.strerror or error}")
    digest = hashlib.sha256(data).hexdigest()
    if not need_pixels(digest):
        return _Loaded(path, digest)
    try:
        rgb = decode_rgb(data, path)
    except DatasetError as error:
        return _Loaded(path, digest, error=error.reason)
    return _Loaded(path, digest, np.ascontiguousarray(rgb[..., ::-1]))


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


def _infer_missing(scorer, cache: ShardCache, paths: list[str], batch: int, bar) -> list[_Loaded]:
    """Read all images (the next batch on a thread while the current one infers) and score the
    ones whose content hash the cache lacks, saving each finished batch as a shard."""
    loaded: list[_Loaded] = []
    chunks = [paths[i : i + batch] for i in range(0, len(paths), batch)]

    def needs_pixels(digest: str) -> bool:
        return digest not in cache.records

    def read_chunk(chunk):
        return [_read(p, needs_pixels) for p in chunk]

    with bar, concurrent.futures.ThreadPoolExecutor(max_workers=1) as reader:
        future = reader.submit(read_chunk, chunks[0]) if chunks else None
        for index in range(len(chunks)):
            items = future.result()
            if index + 1 < len(chunks):
                future = reader.submit(read_chunk, chunks[index + 1])
            todo: dict[str, _Loaded] = {}  # by content hash: identical files infer once
            for it in items:
                if it.bgr is not None and it.hash not in cache.records:
                    todo.setdefault(it.hash, it)
            todo = list(todo.values())
            if todo:
                outputs = scorer([it.bgr for it in todo])
                cache.add([_record(it.hash, *it.bgr.shape[:2], out)
                           for it, out in zip(todo, outputs, strict=True)])
            loaded.extend(_Loaded(it.path, it.hash, error=it.error) for it in items)
            bar.update(len(items))
    return loaded


def _assemble(loaded, cache: ShardCache, names, skipped, conf_threshold, meta) -> PoolScores:
    good = [item for item in loaded if not item.error]
    records = [cache.records[item.hash] for item in good]
    n_boxes = [len(r["confidence"]) for r in records]
    joined = _join_records(records) if records else None
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
