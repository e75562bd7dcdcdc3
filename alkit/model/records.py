"""Per-image scoring records and their shard cache, shared by both scoring engines.

Local scoring (:mod:`alkit.model.scoring`) and the Ray engine (:mod:`alkit.model.distributed`)
read images the same way (:func:`read_image`), make the same per-image record from the one-pass
scorer's output (:func:`image_record`), and write and read the same ``.npz`` shards
(:func:`join_records`, :func:`split_records`, :class:`ShardCache`). This module holds those
pieces so that neither engine imports the other's internals.

A record is a dict: ``hash`` (SHA-256 of the image file), ``height``, ``width``, ``xyxy``
(n, 4), ``confidence`` (n,), ``class_id`` (n,), ``class_scores`` (n, C), ``embedding`` (D,)
and ``box_features`` (n, BOX_FEATURE_DIM) of the n boxes NMS kept.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alkit.data.datasets import DatasetError, decode_rgb
from alkit.data.files import atomic_savez
from alkit.data.pausepoints import pause_point

#: The arrays every shard holds (a Ray block shard also holds ``block_paths``,
#: ``block_hashes`` and ``block_errors``).
SHARD_ARRAYS = ("hashes", "heights", "widths", "n_boxes", "box_xyxy", "box_confidence",
                "box_class", "box_class_scores", "embeddings", "box_features")


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
                    arrays = {k: data[k] for k in SHARD_ARRAYS}
                    if "block_paths" in data.files:
                        self.blocks[shard.name] = {
                            str(p): (str(h), str(e)) for p, h, e in zip(
                                data["block_paths"], data["block_hashes"], data["block_errors"],
                                strict=True)}
            except (OSError, ValueError, KeyError, EOFError):
                self.unreadable.append(shard)
                continue
            for record in split_records(arrays):
                self.records.setdefault(record["hash"], record)
        return self

    def add(self, records: list[dict]) -> None:
        """Persist a batch of ``records`` (dicts as in the module docstring) as one new shard,
        then remember them; records whose hash the cache holds are left out."""
        new = [r for r in records if r["hash"] not in self.records]
        if not new:
            return
        name = f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.npz"
        atomic_savez(self.directory / name, **join_records(new))
        for record in new:
            self.records[record["hash"]] = record
        pause_point("scoring.shard")

    def compact(self) -> None:
        """Merge all shards into one (written first, then the old ones removed; Ray block
        shards are merged too, and their path index with them)."""
        shards = self.shards()
        if len(shards) <= 1 or not self.records:
            return
        merged = self.directory / f"shard-{time.time_ns():020d}-merged.npz"
        atomic_savez(merged, **join_records(list(self.records.values())))
        for shard in shards:
            shard.unlink(missing_ok=True)
        self.blocks.clear()


def image_record(image_hash: str, height: int, width: int, output) -> dict:
    """The record (see the module docstring) of one scored image.

    Args:
        image_hash: SHA-256 hex digest of the image file.
        height, width: the image's size in pixels.
        output: the one-pass scorer's output for the image
            (:class:`alkit.model.yolo.OnePassScorer`); when it has no ``box_features`` the
            record gets zeros.
    """
    from alkit.model.yolo import BOX_FEATURE_DIM

    features = output.box_features
    if features is None:  # a head whose output lacks its feature maps: zeros (similarity 0)
        features = np.zeros((len(output.confidence), BOX_FEATURE_DIM), np.float16)
    return {"hash": image_hash, "height": height, "width": width, "xyxy": output.xyxy,
            "confidence": output.confidence, "class_id": output.class_id,
            "class_scores": output.class_scores, "embedding": output.embedding,
            "box_features": features}


def join_records(records: list[dict]) -> dict[str, np.ndarray]:
    """The shard arrays (:data:`SHARD_ARRAYS`) of a non-empty list of ``records``, boxes
    concatenated in record order (``n_boxes`` says how many each has)."""
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


def split_records(arrays: dict[str, np.ndarray]) -> list[dict]:
    """The records of one shard's ``arrays`` (the inverse of :func:`join_records`)."""
    offsets = np.concatenate([[0], np.cumsum(arrays["n_boxes"])])
    return [
        {"hash": str(h), "height": int(arrays["heights"][i]), "width": int(arrays["widths"][i]),
         "xyxy": arrays["box_xyxy"][lo:hi], "confidence": arrays["box_confidence"][lo:hi],
         "class_id": arrays["box_class"][lo:hi], "class_scores": arrays["box_class_scores"][lo:hi],
         "embedding": arrays["embeddings"][i], "box_features": arrays["box_features"][lo:hi]}
        for i, (h, lo, hi) in enumerate(zip(arrays["hashes"], offsets[:-1], offsets[1:],
                                            strict=True))
    ]


@dataclass(frozen=True)
class LoadedImage:
    """One image read from disk (:func:`read_image`).

    Attributes:
        path: where it was read from.
        hash: SHA-256 hex digest of the file (``None`` when it could not be read).
        bgr: (H, W, 3) uint8 pixels in BGR order, only when they were needed.
        error: why the image was skipped (``None`` when it was read).
    """

    path: str
    hash: str | None = None
    bgr: np.ndarray | None = None
    error: str | None = None


def read_image(path: str, need_pixels: Callable[[str], bool]) -> LoadedImage:
    """Read the file at ``path`` and hash its bytes; decode it (to BGR) only when
    ``need_pixels(content hash)`` is true. An unreadable or undecodable file gives an item with
    ``error`` set, never an exception."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        return LoadedImage(path, error=f"cannot read: {error.strerror or error}")
    digest = hashlib.sha256(data).hexdigest()
    if not need_pixels(digest):
        return LoadedImage(path, digest)
    try:
        rgb = decode_rgb(data, path)
    except DatasetError as error:
        return LoadedImage(path, digest, error=error.reason)
    return LoadedImage(path, digest, np.ascontiguousarray(rgb[..., ::-1]))
