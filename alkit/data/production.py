"""Production batches (the I/O edge of monitoring) and a simulated production stream.

**A batch** (:func:`read_batch`) is what a deployed model saw in one period: a folder (the
next day's folder, searched recursively), a list of paths, or a manifest file:

* ``.txt``: one image path a line, optionally a TAB and an ISO-8601 timestamp;
* ``.csv`` / ``.parquet``: a ``path`` column and an optional ``timestamp`` column.

Relative paths are taken against the manifest's folder. Timestamps (optional, per image) must
parse as ISO-8601 and must not go backwards within a batch; the first offending line is named.
Files in a folder that are not images are kept as skipped entries with their reason, so that
nothing is dropped silently.

**The simulated stream** (:func:`build_stream`) is for the demo and the tests, and only that:
batches of scenes from the sample generator (:mod:`alkit.data.samples`), with a drift that
starts at a known batch:

* ``night``: a scene condition the labeled set never shows (the canvas darkened to 35%, strong
  pixel noise, a slight blur) takes ``drift_share`` of each batch from ``drift_start`` on;
* ``class``: the rare class ``seven`` grows to ``drift_share`` of the labeled objects.

Layout::

    OUT/stream.yaml                        names, pool: batches, oracle_labels: oracle/batches
                                           (so :class:`alkit.Oracle` can answer sent images)
    OUT/batches/batch_NNN/prod_NNN_MMMMM.jpg
    OUT/oracle/batches/batch_NNN/prod_NNN_MMMMM.txt     hidden labels
    OUT/manifests/batch_NNN.txt            path TAB timestamp (one simulated hour per batch)
    OUT/stream.json                        the settings and which images are drifted

The existing sample presets are untouched: the stream draws its scenes with its own seeds.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

from alkit.data import datasets, samples
from alkit.data.datasets import DatasetError

MANIFEST_SUFFIXES = (".txt", ".csv", ".parquet")
DRIFTS = ("night", "class")


@dataclass(frozen=True)
class ProductionBatch:
    """One batch of production images, as read (nothing decoded yet).

    Attributes:
        name: the batch's name (default: the folder's or manifest's name).
        paths: (N,) image paths, in order.
        timestamps: (N,) ISO-8601 strings, or None per image without one.
        skipped: ``(path, reason)`` of entries that are no images (a folder's other files).
        source: where the batch was read from (a folder, a manifest, or ``"<list>"``).
    """

    name: str
    paths: list[str]
    timestamps: list[str | None]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    source: str = "<list>"

    def __post_init__(self):
        if len(self.timestamps) != len(self.paths):
            raise ValueError(f"ProductionBatch: {len(self.paths)} paths but "
                             f"{len(self.timestamps)} timestamps")


def parse_timestamp(value, where: str | os.PathLike = "<timestamps>",
                    line: int | None = None) -> str | None:
    """An ISO-8601 timestamp normalized (``datetime.isoformat``; naive ones taken as UTC), or
    None for an empty value.

    Args:
        value: a string, a ``datetime`` / pandas ``Timestamp``, or None / NaN / "".
        where: the file named in the error.
        line: the line (or row, 1-based) named in the error.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return None
    try:
        stamp = (value.to_pydatetime() if hasattr(value, "to_pydatetime")
                 else value if isinstance(value, datetime)
                 else datetime.fromisoformat(str(value).strip()))
    except ValueError:
        raise DatasetError(where, f"timestamp {value!r} is not ISO-8601 "
                           "(e.g. 2026-11-30T06:00:00)", line) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.isoformat()


def check_order(timestamps: Sequence[str | None], where: str | os.PathLike = "<timestamps>",
                *, after: str | None = None) -> None:
    """Raise :class:`DatasetError` naming the first timestamp earlier than the one before it.

    Args:
        timestamps: normalized timestamps (:func:`parse_timestamp`), None entries ignored.
        where: the batch named in the error.
        after: the last timestamp of the previous batch: the first one here must not be
            earlier.
    """
    previous, previous_line = after, None
    for line, stamp in enumerate(timestamps, 1):
        if stamp is None:
            continue
        if previous is not None and datetime.fromisoformat(stamp) < datetime.fromisoformat(
                previous):
            before = (f"image {previous_line}'s {previous}" if previous_line
                      else f"the previous batch's last timestamp {previous}")
            raise DatasetError(where, f"timestamps out of order: image {line} at {stamp} comes "
                               f"before {before}", line)
        previous, previous_line = stamp, line


def read_batch(source, *, name: str | None = None,
               timestamps: Sequence | None = None) -> ProductionBatch:
    """Read a batch of production images (see the module docstring).

    Args:
        source: a folder, a manifest file (``.txt``, ``.csv``, ``.parquet``) or a list of image
            paths.
        name: the batch's name; default the folder's name or the manifest's stem (a list needs
            one).
        timestamps: one timestamp per image (lists only; manifests carry their own).

    Raises:
        DatasetError: a missing source, a manifest without a ``path`` column, an unparsable or
            out-of-order timestamp (the file and line named), an empty batch.
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            images = datasets.list_images(path)
            skipped = [(str(p), "not an image file") for p in datasets.list_non_images(path)]
            batch = ProductionBatch(name or path.name, [os.path.abspath(p) for p in images],
                                    [None] * len(images), skipped, str(path))
        elif path.is_file() and path.suffix in MANIFEST_SUFFIXES:
            paths, stamps = _read_manifest(path)
            batch = ProductionBatch(name or path.stem, paths, stamps, [], str(path))
        else:
            raise DatasetError(path, "a production batch is a folder or a manifest "
                               f"({', '.join(MANIFEST_SUFFIXES)}); not found or not one")
        if timestamps is not None:
            raise ValueError("timestamps= goes with a list of paths; folders have none and "
                             "manifests carry their own")
    else:
        paths = [os.path.abspath(p) for p in source]
        if name is None:
            raise ValueError("a batch given as a list of paths needs name=")
        stamps = ([parse_timestamp(t, "<timestamps>", i) for i, t in enumerate(timestamps, 1)]
                  if timestamps is not None else [None] * len(paths))
        if len(stamps) != len(paths):
            raise ValueError(f"{len(paths)} paths but {len(stamps)} timestamps")
        batch = ProductionBatch(name, paths, stamps)
    if not batch.paths and not batch.skipped:
        raise DatasetError(batch.source, "the batch has no image")
    first: dict[str, int] = {}
    for line, image in enumerate(batch.paths, 1):
        if image in first:
            raise DatasetError(batch.source, f"{image} is listed twice (images {first[image]} "
                               f"and {line})", line)
        first[image] = line
    check_order(batch.timestamps, batch.source)
    return batch


def _read_manifest(path: Path) -> tuple[list[str], list[str | None]]:
    base = path.parent

    def resolve(p: str) -> str:
        return os.path.abspath(p if Path(p).is_absolute() else base / p)

    if path.suffix == ".txt":
        paths, stamps = [], []
        for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not text.strip():
                continue
            image, _, stamp = text.partition("\t")
            paths.append(resolve(image.strip()))
            stamps.append(parse_timestamp(stamp.strip(), path, line))
        return paths, stamps
    import pandas as pd

    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError, ImportError) as error:
        raise DatasetError(path, f"cannot read the manifest: {error}") from None
    if "path" not in table.columns:
        raise DatasetError(path, f"a manifest needs a 'path' column, has {list(table.columns)}")
    # a header line comes first in a CSV: row i is line i + 2 there
    offset = 2 if path.suffix == ".csv" else 1
    stamps = ([parse_timestamp(t, path, i + offset) for i, t in enumerate(table["timestamp"])]
              if "timestamp" in table.columns else [None] * len(table))
    return [resolve(str(p)) for p in table["path"]], stamps


# --------------------------------------------------------------------------- the stream


@dataclass(frozen=True)
class StreamReport:
    """What :func:`build_stream` wrote.

    Attributes:
        out: the stream's folder.
        dataset_yaml: ``OUT/stream.yaml`` (names and hidden labels, for the simulated
            annotator).
        batches: (B,) the batch folders, in order.
        manifests: (B,) the batch manifests with timestamps, in order.
        drift: the drift's kind (:data:`DRIFTS`).
        drift_start: the index of the first drifted batch.
        drifted: (B,) per batch, how many of its images are drifted.
    """

    out: Path
    dataset_yaml: Path
    batches: list[Path]
    manifests: list[Path]
    drift: str
    drift_start: int
    drifted: list[int]


def _night(spec: samples.SceneSpec) -> samples.SceneSpec:
    """The drifted scene condition: the canvas darkened to 35%, strong noise, a slight blur."""
    return replace(spec, brightness=0.35, noise_sigma=spec.noise_sigma + 14.0,
                   blur=max(spec.blur, 0.8))


def build_stream(out: str | os.PathLike, *, n_batches: int = 10, batch_size: int = 60,
                 drift_start: int = 6, drift: str = "night", drift_share: float = 0.6,
                 start_time: str = "2026-12-01T00:00:00+00:00",
                 random_state: int = 0) -> StreamReport:
    """Write a simulated production stream (see the module docstring). Same arguments, same
    files. An existing ``out`` is replaced.

    Args:
        out: the folder to write.
        n_batches: B, the number of batches.
        batch_size: images per batch.
        drift_start: the first drifted batch (0-based); ``n_batches`` or more: no drift.
        drift: ``"night"`` (a new scene condition) or ``"class"`` (the class ``seven`` grows).
        drift_share: for ``night``, the share of a drifted batch's images that are night
            scenes; for ``class``, the share of ``seven`` among labeled objects.
        start_time: the first batch's timestamp; each batch spans one simulated hour.
        random_state: the stream's seed (independent of the sample presets' seeds).
    """
    if drift not in DRIFTS:
        raise ValueError(f"unknown drift {drift!r}; expected one of {DRIFTS}")
    if not 0.0 < drift_share <= 1.0 or n_batches < 1 or batch_size < 1:
        raise ValueError("build_stream needs 0 < drift_share <= 1, n_batches >= 1, "
                         "batch_size >= 1")
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    config = samples.CONFIG
    digits, labels = samples.load_mnist_digits()
    pool = samples.split_digit_indices(labels, config, random_state=0)["pool"]
    glyphs = samples._Glyphs(digits)
    class_config = replace(config, rare_classes=("seven",), rare_share=drift_share)
    rng = np.random.default_rng([random_state, 4241])
    start = datetime.fromisoformat(start_time)
    batches, manifests, drifted = [], [], []
    for b in range(n_batches):
        is_drifted = b >= drift_start
        cfg = class_config if (is_drifted and drift == "class") else config
        specs = samples.scene_specs("val", batch_size, glyphs, pool, cfg,
                                    random_state=int(rng.integers(2**31)))
        n_night = round(drift_share * batch_size) if is_drifted and drift == "night" else 0
        night = set(rng.choice(batch_size, n_night, replace=False).tolist())
        specs = [_night(s) if i in night else s for i, s in enumerate(specs)]
        folder = out / "batches" / f"batch_{b:03d}"
        label_dir = out / "oracle" / "batches" / f"batch_{b:03d}"
        folder.mkdir(parents=True)
        label_dir.mkdir(parents=True)
        lines = []
        for i, spec in enumerate(specs):
            stem = f"prod_{b:03d}_{i:05d}"
            scene = samples.render_scene(spec, glyphs, config.image_size)
            buffer = io.BytesIO()
            Image.fromarray(scene.image).save(buffer, format="JPEG", quality=92)
            (folder / f"{stem}.jpg").write_bytes(buffer.getvalue())
            size = config.image_size
            (label_dir / f"{stem}.txt").write_text(datasets.format_labels(datasets.Labels(
                scene.class_ids, datasets.xyxy_to_xywhn(scene.xyxy, size, size))))
            stamp = start + timedelta(hours=b, seconds=i * 3600 // batch_size)
            lines.append(f"batches/{folder.name}/{stem}.jpg\t{stamp.isoformat()}\n")
        manifest = out / "manifests" / f"batch_{b:03d}.txt"
        manifest.parent.mkdir(exist_ok=True)
        # manifest paths are relative to the manifest's folder
        manifest.write_text("".join(f"../{line}" for line in lines))
        batches.append(folder)
        manifests.append(manifest)
        drifted.append(len(night) if drift == "night" else (batch_size if is_drifted else 0))
    yaml = datasets.write_dataset_yaml(
        out / "stream.yaml", config.class_names,
        {"train": "batches", "val": "batches", "pool": "batches"},
        comment="alkit simulated production stream (demo and tests only); the splits all\n"
        "name the batches: the file is there for the simulated annotator's hidden labels",
        oracle_labels="oracle/batches")
    (out / "stream.json").write_text(json.dumps({
        "n_batches": n_batches, "batch_size": batch_size, "drift": drift,
        "drift_start": drift_start, "drift_share": drift_share, "random_state": random_state,
        "drifted": drifted}, indent=1))
    return StreamReport(out, yaml, batches, manifests, drift, drift_start, drifted)
