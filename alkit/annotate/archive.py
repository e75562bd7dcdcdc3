"""Reading archives an annotation tool exported, member by member, never extracting to disk.

An export is input from outside: a zip may name members ``../../x``, ``/etc/passwd`` or
``C:/x`` (zip-slip), hold symbolic links, or unpack to far more than it weighs (a zip bomb).
:func:`read_zip_safely` looks at every member before reading any, refuses the archive when one
is unsafe, naming every unsafe member and why, and reads the rest into memory within size
limits. Nothing is written to disk, so there is no target folder to escape from.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

from alkit.data.datasets import DatasetError


class ArchiveError(DatasetError):
    """An archive alkit refuses to read (the message names the archive and each member)."""


def unsafe_member_reason(name: str, mode: int = 0) -> str | None:
    """Why an archive member may not be read, or None when it may.

    Args:
        name: the member's name as stored in the archive.
        mode: its Unix mode bits (the high 16 bits of a zip member's ``external_attr``);
            0 when unknown.

    Returns:
        ``"absolute path"``, ``"'..' leaves the archive"``, ``"symbolic link"`` (or another
        special file), or None.
    """
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return "absolute path"
    if ".." in normalized.split("/"):
        return "'..' leaves the archive"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "not a regular file"
    return None


def read_zip_safely(data: bytes | str | os.PathLike, *, max_bytes: int = 2**31,
                    max_member_bytes: int = 2**30, max_members: int = 100_000,
                    max_ratio: float = 200.0, where: str | os.PathLike | None = None
                    ) -> dict[str, bytes]:
    """Members of a zip archive by name, read one by one into memory.

    Every member is checked before any is read: absolute paths, ``..`` components and links
    (see :func:`unsafe_member_reason`) refuse the whole archive with one
    :class:`ArchiveError` naming each such member and why.

    Args:
        data: the archive's bytes, or the path of a zip file.
        max_bytes: the largest total uncompressed size of the members (default 2 GiB).
        max_member_bytes: the largest uncompressed size of one member (default 1 GiB).
        max_members: the most members an archive may have.
        max_ratio: the largest uncompressed / compressed size ratio of one member bigger than
            1 MiB (a zip bomb compresses far beyond what images and label files do).
        where: names the archive in messages (default: the path, or ``"archive"``).

    Returns:
        ``{member name: its bytes}`` (folders left out), in archive order.

    Raises:
        ArchiveError: an unsafe member, a size limit, or a file that is not a zip archive.
    """
    if isinstance(data, (bytes, bytearray)):
        source, label = io.BytesIO(data), str(where or "archive")
    else:
        source, label = Path(data), str(where or data)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as error:
        raise ArchiveError(label, f"not a readable zip archive ({error})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_members:
            raise ArchiveError(label, f"{len(infos)} members, more than the {max_members} "
                               "allowed")
        unsafe = [f"{info.filename!r}: {reason}" for info in infos
                  if (reason := unsafe_member_reason(info.filename, info.external_attr >> 16))]
        if unsafe:
            raise ArchiveError(label, "unsafe members, nothing read:\n  " + "\n  ".join(unsafe))
        members, total = {}, 0
        for info in infos:
            if info.is_dir():
                continue
            if info.file_size > max_member_bytes:
                raise ArchiveError(label, f"member {info.filename!r} unpacks to "
                                   f"{info.file_size} bytes, more than {max_member_bytes} bytes")
            if info.file_size > 2**20 and info.file_size > max_ratio * max(info.compress_size, 1):
                raise ArchiveError(label, f"member {info.filename!r} is compressed "
                                   f"{info.file_size / max(info.compress_size, 1):.0f}:1, more "
                                   f"than {max_ratio:.0f}:1 (a zip bomb?)")
            total += info.file_size
            if total > max_bytes:
                raise ArchiveError(label, f"members unpack to more than {max_bytes} bytes")
            try:
                # zipfile stops at the declared size and checks the CRC: a header that lies
                # about the size fails here instead of unpacking without limit
                members[info.filename] = archive.read(info)
            except (zipfile.BadZipFile, OSError, EOFError) as error:
                raise ArchiveError(label, f"member {info.filename!r} is damaged "
                                   f"({error})") from None
    return members
