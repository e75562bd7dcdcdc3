"""Dataset I/O: YOLO label files, dataset yaml files, image listing and loading.

This module (with :mod:`alkit.data.validation`, which builds on it) is where alkit touches dataset
files. Everything else works on arrays.

YOLO detection label format: one text file per image, one object per line::

    class_id x_center y_center width height

with ``class_id`` an integer index into the dataset's ``names`` and the four coordinates
normalized by the image width / height, so each lies in [0, 1]. An empty file is an image with
no objects. A label file sits where the image does with ``images`` replaced by ``labels`` (the
last ``/images/`` path component) and the suffix replaced by ``.txt``.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

# Labels and the box conversions live in the core; dataset code has always offered them here.
from alkit.core.detections import Labels, xywhn_to_xyxy, xyxy_to_xywhn  # noqa: F401
from alkit.data.files import write_text_atomic

# Ultralytics' own list (ultralytics.data.utils.IMG_FORMATS), repeated here so that dataset
# I/O does not import ultralytics; tests/test_yolo.py checks that the two stay equal.
IMG_FORMATS = frozenset({
    "avif", "bmp", "dng", "heic", "heif", "jp2", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp",
})

SPLIT_KEYS = ("train", "val", "test", "pool")


class DatasetError(ValueError):
    """A dataset file is not what alkit expected. The message names the file (and line).

    Args:
        path: the offending file (kept as ``self.path``, a :class:`~pathlib.Path`).
        message: what is wrong with it (kept as ``self.reason``, without the location).
        line: the 1-based line number, when the problem sits on one line; ``None`` otherwise.
    """

    def __init__(self, path: str | os.PathLike, message: str, line: int | None = None):
        self.path = Path(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {message}")


# --------------------------------------------------------------------------- label files


@dataclass(frozen=True)
class LineProblem:
    """One problem found on one line of a label file (1-based ``line``).

    Attributes:
        line: the 1-based line number in the label file.
        code: a short machine-readable kind, e.g. ``"field-count"``, ``"not-a-number"``,
            ``"class-id"``, ``"out-of-range"``, ``"empty-box"``, ``"past-edge"`` or
            ``"duplicate-box"``.
        message: the human-readable explanation.
        fatal: ``True`` (default) when the line is dropped; ``False`` for a suspicious line
            whose object is still kept (a box past the edge, a duplicate).
    """

    line: int
    code: str
    message: str
    fatal: bool = True


def parse_label_text(
    text: str, n_classes: int | None = None
) -> tuple[Labels, list[LineProblem]]:
    """Parse the text of a YOLO label file, collecting every problem instead of stopping.

    Args:
        text: the file's content.
        n_classes: the number of class names; class ids must lie in [0, n_classes).
            ``None`` skips the range check.

    Returns:
        ``(labels, problems)``: the objects from the lines that parsed cleanly, and one
        :class:`LineProblem` per bad line (fatal) or suspicious line (not fatal).
    """
    class_ids, boxes, problems = [], [], []
    seen: dict[tuple, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        parsed, line_problems = _parse_label_line(raw, number, n_classes)
        problems.extend(line_problems)
        if parsed is None:
            continue
        key = (parsed[0], *np.round(parsed[1], 6))
        if key in seen:
            problems.append(LineProblem(
                number, "duplicate-box",
                f"same object as line {seen[key]}; duplicates count twice in training",
                fatal=False,
            ))
        seen.setdefault(key, number)
        class_ids.append(parsed[0])
        boxes.append(parsed[1])
    if not class_ids:
        return Labels.empty(), problems
    return Labels(np.array(class_ids), np.array(boxes)), problems


def _parse_label_line(
    raw: str, number: int, n_classes: int | None
) -> tuple[tuple[int, np.ndarray] | None, list[LineProblem]]:
    fields = raw.split()
    if len(fields) != 5:
        return None, [LineProblem(
            number, "field-count",
            f"expected 5 fields 'class x_center y_center width height', found {len(fields)}: "
            f"{raw.strip()!r}",
        )]
    try:
        values = [float(f) for f in fields]
    except ValueError:
        bad = next(f for f in fields if not _is_float(f))
        return None, [LineProblem(number, "not-a-number", f"{bad!r} is not a number: {raw!r}")]
    if not all(np.isfinite(values)):
        return None, [LineProblem(number, "not-a-number", f"NaN or infinity in {raw.strip()!r}")]
    problems = []
    class_value = values[0]
    if class_value != int(class_value):
        problems.append(LineProblem(
            number, "class-id", f"class id {fields[0]!r} is not an integer"))
    elif class_value < 0 or (n_classes is not None and class_value >= n_classes):
        allowed = f"0..{n_classes - 1}" if n_classes else "a non-negative integer"
        problems.append(LineProblem(
            number, "class-id",
            f"class id {int(class_value)} is outside the dataset's names (expected {allowed})",
        ))
    box = np.array(values[1:])
    problems.extend(_box_problems(box, number))
    if any(p.fatal for p in problems):
        return None, problems
    return (int(class_value), box), problems


def _box_problems(box: np.ndarray, number: int) -> list[LineProblem]:
    xc, yc, w, h = box
    names = ("x_center", "y_center", "width", "height")
    outside = [f"{n}={v:g}" for n, v in zip(names, box, strict=True) if not 0.0 <= v <= 1.0]
    if outside:
        return [LineProblem(
            number, "out-of-range",
            f"coordinates must be normalized to [0, 1]; got {', '.join(outside)}",
        )]
    if w <= 0 or h <= 0:
        return [LineProblem(
            number, "empty-box", f"box has zero or negative size (width={w:g}, height={h:g})")]
    tolerance = 1e-3
    past_edge = (xc - w / 2 < -tolerance or xc + w / 2 > 1 + tolerance
                 or yc - h / 2 < -tolerance or yc + h / 2 > 1 + tolerance)
    if past_edge:
        return [LineProblem(
            number, "past-edge", "box extends past the image edge; it will be clipped",
            fatal=False,
        )]
    return []


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_labels(path: str | os.PathLike, n_classes: int | None = None) -> Labels:
    """Read one YOLO label file; a missing file means no objects.

    Args:
        path: the ``.txt`` label file.
        n_classes: the number of class names; class ids must lie in [0, n_classes).
            ``None`` (default) skips the range check.

    Returns:
        The file's :class:`Labels` (empty when the file is missing or empty).

    Raises:
        DatasetError: naming the file and line of the first fatal problem.
    """
    path = Path(path)
    if not path.exists():
        return Labels.empty()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DatasetError(path, f"not a UTF-8 text file ({error.reason})") from None
    labels, problems = parse_label_text(text, n_classes)
    fatal = [p for p in problems if p.fatal]
    if fatal:
        raise DatasetError(path, fatal[0].message, line=fatal[0].line)
    return labels


def format_labels(labels: Labels) -> str:
    """The text of a label file for ``labels`` (6 decimals, one object per line)."""
    return "".join(
        f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n"
        for c, (x, y, w, h) in zip(labels.class_ids, labels.xywhn, strict=True)
    )


def write_labels(path: str | os.PathLike, labels: Labels) -> Path:
    """Write ``labels`` (see :func:`format_labels`) to the label file ``path`` atomically (a
    reader never sees half a file); parent directories are created. Returns ``path``."""
    return write_text_atomic(path, format_labels(labels))


def label_path_for(image_path: str | os.PathLike) -> Path:
    """The label file Ultralytics pairs with the image at ``image_path``: the last ``images``
    directory becomes ``labels`` and the suffix ``.txt``; an image under no ``images``
    directory has its label file beside it. The file need not exist."""
    parts = list(Path(image_path).parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


# --------------------------------------------------------------------------- dataset yaml


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset yaml, resolved.

    Attributes:
        yaml_path: the yaml file.
        root: the directory that relative split paths start from (``path:`` or the yaml's dir).
        names: class names, index = class id.
        splits: split name (train / val / test / pool) -> image directory or list file.
        oracle_labels: for a benchmark pool, the directory holding the pool's hidden labels
            (alkit's own ``oracle_labels`` key), else ``None``.
    """

    yaml_path: Path
    root: Path
    names: tuple[str, ...]
    splits: dict[str, Path] = field(default_factory=dict)
    oracle_labels: Path | None = None

    @property
    def n_classes(self) -> int:
        return len(self.names)


def read_dataset_yaml(path: str | os.PathLike) -> DatasetSpec:
    """Read an Ultralytics dataset yaml (``path``, ``train``, ``val``, ``test``, ``names``).

    ``names`` may be a list or a ``{id: name}`` mapping with ids 0..n-1. alkit also reads
    ``pool`` (the unlabeled pool's images) and ``oracle_labels`` (hidden pool labels of a
    benchmark). Relative paths resolve against ``path`` if given, else the yaml's directory.

    Raises:
        DatasetError: naming the file (and line for yaml syntax errors) and what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "dataset yaml not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(error, "problem", None) or error
        raise DatasetError(path, f"not valid YAML: {problem}", line) from None
    if not isinstance(data, dict):
        raise DatasetError(path, "expected a mapping with keys train, val, names")
    names = _parse_names(path, data.get("names"))
    root = _dataset_root(path, data.get("path"))
    splits = {
        key: _resolve(root, data[key]) for key in SPLIT_KEYS if isinstance(data.get(key), str)
    }
    missing = [key for key in ("train", "val") if key not in splits]
    if missing:
        raise DatasetError(path, f"missing required key(s) {missing} (image dir or list file)")
    oracle = _resolve(root, data["oracle_labels"]) if data.get("oracle_labels") else None
    return DatasetSpec(path, root, names, splits, oracle)


def _dataset_root(yaml_path: Path, value) -> Path:
    """``path:`` as Ultralytics reads it (absolute, or relative to the working directory when
    that exists), else relative to the yaml; without ``path:``, the yaml's directory."""
    if not value:
        return yaml_path.parent.resolve()
    root = Path(value).expanduser()
    if root.is_absolute():
        return root
    return root.resolve() if root.exists() else (yaml_path.parent / root).resolve()


def _resolve(root: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else root / p


def _parse_names(path: Path, names) -> tuple[str, ...]:
    if isinstance(names, list) and names:
        return tuple(str(n) for n in names)
    if isinstance(names, dict) and names:
        try:
            ids = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise DatasetError(path, "names: keys must be integer class ids") from None
        if ids != list(range(len(ids))):
            raise DatasetError(path, f"names: class ids must be 0..{len(ids) - 1}, got {ids}")
        return tuple(str(names[k] if k in names else names[str(k)]) for k in ids)
    raise DatasetError(path, "missing 'names': a list of class names or a {id: name} mapping")


def dataset_yaml_text(
    names: Sequence[str], splits: dict[str, str], *, comment: str = "", **extra: str
) -> str:
    """The text of a dataset yaml with relative split paths (no ``path:`` key, so the yaml's
    own directory is the root and the dataset can be moved as a whole).

    Args:
        names: class names, index = class id; written as a ``{id: name}`` mapping.
        splits: split name (``train``, ``val``, ``test``, ``pool``) -> image directory or list
            file, relative to the yaml's directory.
        comment: text written as ``#`` comment lines at the top (one per line); ``""`` for none.
        extra: further top-level keys, e.g. ``oracle_labels="..."``; written after the splits.
    """
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    body = {**splits, **extra, "names": dict(enumerate(names))}
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def write_dataset_yaml(
    path: str | os.PathLike, names: Sequence[str], splits: dict[str, str], *,
    comment: str = "", **extra: str,
) -> Path:
    """Write a dataset yaml to ``path`` atomically and return ``path``; ``names``,
    ``splits``, ``comment`` and ``extra`` are as in :func:`dataset_yaml_text`."""
    return write_text_atomic(path, dataset_yaml_text(names, splits, comment=comment, **extra))


# --------------------------------------------------------------------------- images


def is_image_name(path: str | os.PathLike) -> bool:
    """True when the extension of ``path`` (any case) is an image format Ultralytics reads
    (:data:`IMG_FORMATS`); the file is not opened."""
    return Path(path).suffix.lower().lstrip(".") in IMG_FORMATS


def list_images(source: str | os.PathLike) -> list[Path]:
    """Images of a split: ``source`` is a directory (searched recursively, sorted) or a .txt
    list of paths, one a line, relative ones taken against the list file's directory.

    Files with a non-image extension are not returned; :func:`list_non_images` lists them so
    that callers can report what they skip. Raises :class:`DatasetError` when ``source`` is
    neither a directory nor a ``.txt`` file.
    """
    source = Path(source)
    if source.is_file() and source.suffix == ".txt":
        base = source.parent
        lines = source.read_text(encoding="utf-8").splitlines()
        paths = [Path(x.strip()) for x in lines if x.strip()]
        return [p if p.is_absolute() else (base / p) for p in paths]
    if not source.is_dir():
        raise DatasetError(source, "image directory or list file not found")
    return sorted(p for p in source.rglob("*") if p.is_file() and is_image_name(p))


def list_non_images(directory: str | os.PathLike) -> list[Path]:
    """Files under an image directory whose extension is not an image format (label files
    and hidden files excluded)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.rglob("*")
        if p.is_file() and not is_image_name(p) and p.suffix != ".txt"
        and not p.name.startswith(".")
    )


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode the image file at ``path`` to an (H, W, 3) uint8 RGB array.

    Grayscale, palette, RGBA (alpha composited on black, as OpenCV does) and 16-bit images
    (scaled by 1/257, not clipped) are converted. Raises :class:`DatasetError` when the file
    does not decode.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DatasetError(path, f"cannot read image: {error.strerror or error}") from None
    return decode_rgb(data, path)


def decode_rgb(data: bytes, name: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decode image bytes to (H, W, 3) uint8 RGB (see :func:`load_rgb`); truncated or
    corrupt data raises :class:`DatasetError` naming ``name``, never a partial image."""
    if not data:
        raise DatasetError(name, "image file is empty (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return _to_rgb8(image)
    except (OSError, SyntaxError, ValueError, ImportError, Image.DecompressionBombError) as error:
        # ImportError: a patched Image.open that looks for an optional decoder plugin
        raise DatasetError(name, f"image does not decode: {error}") from None


def _to_rgb8(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        scale = 257.0 if array.max(initial=0) <= 65535 else array.max() / 255.0
        gray = np.clip(np.round(array / scale), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        array = np.asarray(image, dtype=np.float64)
        rgb = array[..., :3] * (array[..., 3:] / 255.0)
        return np.round(rgb).astype(np.uint8)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of the bytes of the file at ``path``, read ``chunk`` bytes (default 1 MiB)
    at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def image_label_pairs(images: Iterable[Path]) -> list[tuple[Path, Path]]:
    """``(image, label_path)`` for each path in ``images``, the label path from
    :func:`label_path_for` (the label file need not exist)."""
    return [(image, label_path_for(image)) for image in images]


def split_label_path(spec: DatasetSpec, split: str, image: Path) -> Path:
    """The label file of ``image`` in ``split`` of the dataset ``spec``: under the oracle
    directory (``spec.oracle_labels``) for a benchmark pool, else :func:`label_path_for`."""
    if split == "pool" and spec.oracle_labels is not None:
        source = spec.splits["pool"]
        return spec.oracle_labels / image.relative_to(source).with_suffix(".txt")
    return label_path_for(image)


def read_split(spec: DatasetSpec, split: str) -> list[tuple[Path, Labels]]:
    """Every image of a split with its labels (empty Labels when it has no label file).

    Args:
        spec: the resolved dataset yaml.
        split: a split name the yaml gives, e.g. ``"train"`` or ``"pool"``.

    Returns:
        ``(image path, Labels)`` per image, in :func:`list_images` order.

    Raises:
        DatasetError: for a split the yaml does not name, or a malformed label file.
    """
    if split not in spec.splits:
        raise DatasetError(spec.yaml_path, f"no split '{split}' (has {sorted(spec.splits)})")
    images = list_images(spec.splits[split])
    return [(image, read_labels(split_label_path(spec, split, image), spec.n_classes))
            for image in images]


def class_counts(spec: DatasetSpec, split: str = "train") -> np.ndarray:
    """(C,) int64 labeled instances per class in ``split`` (default ``"train"``) of the
    dataset ``spec``, counted from its label files; C is the number of class names."""
    counts = np.zeros(spec.n_classes, dtype=np.int64)
    for _, labels in read_split(spec, split):
        counts += np.bincount(labels.class_ids, minlength=spec.n_classes)
    return counts
