"""Small file operations every writer in alkit shares: atomic text, JSON and ``.npz`` writes,
JSON reads with the file named in errors, and links into staging folders.

Atomic: a file is written under a temporary name in its own folder and renamed into place
(``os.replace``), so a reader, or a run killed mid-write, never sees half a file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``; returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_savez(path: str | os.PathLike, **arrays) -> Path:
    """Write ``arrays`` (name -> numpy array) to the ``.npz`` file ``path`` through a temporary
    file that is synced and renamed into place; parent folders are created. Returns ``path``."""
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike, data, *, sort_keys: bool = False) -> Path:
    """Write ``data`` to ``path`` as indented JSON (numpy numbers and arrays as plain numbers
    and lists, paths as strings), atomically, with a trailing newline; ``sort_keys`` sorts
    mapping keys. Returns ``path``."""
    text = json.dumps(data, indent=2, sort_keys=sort_keys, default=_plain)
    return write_text_atomic(path, text + "\n")


def read_json(path: str | os.PathLike, default=None):
    """The JSON in ``path``, or ``default`` when the file does not exist. A file that is not
    valid JSON raises ``ValueError`` naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None


def link(source: str | os.PathLike, link_path: str | os.PathLike) -> Path:
    """A symlink at ``link_path`` to ``source`` (resolved), replacing a stale one; a copy where
    the file system refuses links. Returns ``link_path``."""
    source, link_path = Path(source), Path(link_path)
    link_path.parent.mkdir(parents=True, exist_ok=True)
    if link_path.is_symlink() or link_path.exists():
        if link_path.is_symlink() and Path(os.readlink(link_path)) == source.resolve():
            return link_path
        link_path.unlink()
    try:
        link_path.symlink_to(source.resolve())
    except OSError:
        shutil.copyfile(source, link_path)
    return link_path


def _plain(value):
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
