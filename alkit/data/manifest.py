"""Pool manifests: a list of image paths in a file, for pools too big to walk or hash up front.

A manifest is either a text file (``.txt``, ``.lst``, ``.csv`` with no header: one path a line;
blank lines and lines starting with ``#`` are ignored) or a parquet file (``.parquet``, a string
column ``path``; needs ``pyarrow``, which ``alkit[ray]`` brings). Relative paths are taken
against the manifest's folder. :func:`read_manifest` checks the whole list before anything is
written anywhere: a path listed twice or (with ``check_exists``) a path that is not a file
raises :class:`alkit.data.datasets.DatasetError` naming the manifest, the line (row for parquet,
1-based) and the path.
"""

from __future__ import annotations

import os
from pathlib import Path

from alkit.data.datasets import DatasetError

#: Problems listed in one error message (the count of all of them is given too).
MAX_LISTED = 20
TEXT_SUFFIXES = (".txt", ".lst", ".csv")


def _text_rows(path: Path) -> list[tuple[int, str]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if line and not line.startswith("#"):
                rows.append((number, line))
    return rows


def _parquet_rows(path: Path) -> list[tuple[int, str]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DatasetError(path, "a parquet manifest needs pyarrow: pip install pyarrow "
                           "(or alkit[ray])") from None
    try:
        table = pq.read_table(path, columns=["path"])
    except (OSError, ValueError, KeyError) as error:
        raise DatasetError(path, f"not a parquet manifest with a 'path' column: {error}"
                           ) from None
    values = table.column("path").to_pylist()
    empty = [i + 1 for i, v in enumerate(values) if not v]
    if empty:
        raise DatasetError(path, f"row {empty[0]}: empty path ({len(empty)} empty rows)")
    return [(i + 1, str(v).strip()) for i, v in enumerate(values)]


def read_manifest(manifest: str | os.PathLike, *, check_exists: bool = True) -> list[str]:
    """The image paths a manifest lists, in its order (see the module docstring).

    Args:
        manifest: a ``.txt`` / ``.lst`` / ``.csv`` list, or a ``.parquet`` file with a
            ``path`` column.
        check_exists: also require every path to be a file here (one ``stat`` each: about 5 s
            for a million local files); turn off for paths only the cluster's nodes can read.

    Returns:
        (N,) absolute path strings (relative ones joined to the manifest's folder).

    Raises:
        DatasetError: a missing or unreadable manifest, an unknown suffix, a path listed
            twice, a path that is not a file, with the line (row) numbers of the first
            :data:`MAX_LISTED` problems and the count of all of them.
    """
    path = Path(manifest)
    if not path.is_file():
        raise DatasetError(path, "manifest not found")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        rows, unit = _parquet_rows(path), "row"
    elif suffix in TEXT_SUFFIXES:
        rows, unit = _text_rows(path), "line"
    else:
        raise DatasetError(path, f"unknown manifest type {suffix!r}: expected .parquet or one "
                           f"of {', '.join(TEXT_SUFFIXES)}")
    base = str(path.resolve().parent)
    paths = [p if os.path.isabs(p) else os.path.join(base, p) for _, p in rows]
    first_line: dict[str, int] = {}
    repeats = []
    for (number, _), p in zip(rows, paths, strict=True):
        earlier = first_line.setdefault(p, number)
        if earlier != number:
            repeats.append(f"{unit} {number}: {p} repeats {unit} {earlier}")
    if repeats:
        raise DatasetError(path, _listing(f"{len(repeats)} duplicate path(s)", repeats))
    if check_exists:
        missing = [f"{unit} {number}: {p}: no such file"
                   for (number, _), p in zip(rows, paths, strict=True) if not os.path.isfile(p)]
        if missing:
            raise DatasetError(path, _listing(f"{len(missing)} missing image(s)", missing))
    if not paths:
        raise DatasetError(path, "the manifest lists no image")
    return paths


def _listing(head: str, problems: list[str]) -> str:
    more = len(problems) - MAX_LISTED
    return "; ".join([head, *problems[:MAX_LISTED]]) + (f"; ... and {more} more" if more > 0
                                                        else "")
