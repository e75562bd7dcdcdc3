"""Archives read member by member: unsafe names, links and size limits refuse the whole
archive, each unsafe member named (the crafted CVAT export is in test_cvat.py)."""

import stat
import zipfile

import pytest

from alkit.annotate.archive import ArchiveError, read_zip_safely, unsafe_member_reason


def _zip(path, members: dict, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_safe_members_are_read_in_order_without_folders(tmp_path):
    data = _zip(tmp_path / "ok.zip", {"labels/": b"", "labels/a.txt": b"0 0.5 0.5 0.1 0.1\n",
                                      "obj.names": b"zero\n"})
    assert read_zip_safely(data) == {"labels/a.txt": b"0 0.5 0.5 0.1 0.1\n",
                                     "obj.names": b"zero\n"}
    assert read_zip_safely(data.read_bytes()) == read_zip_safely(data)


def test_every_unsafe_member_is_named(tmp_path):
    link = zipfile.ZipInfo("images/link.jpg")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = tmp_path / "crafted.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ok.txt", b"")
        archive.writestr("../evil.txt", b"x")
        archive.writestr("/etc/passwd", b"x")
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(ArchiveError) as error:
        read_zip_safely(path)
    message = str(error.value)
    assert message.startswith(f"{path}: unsafe members, nothing read")
    for line in ("'../evil.txt': '..' leaves the archive", "'/etc/passwd': absolute path",
                 "'images/link.jpg': symbolic link"):
        assert line in message
    assert "ok.txt" not in message


@pytest.mark.parametrize(("name", "reason"), [
    ("a/../../b", "'..' leaves the archive"), ("..\\b", "'..' leaves the archive"),
    ("C:/b", "absolute path"), ("\\b", "absolute path"), ("a/b.txt", None), ("a..b", None)])
def test_unsafe_member_names(name, reason):
    assert unsafe_member_reason(name) == reason


def test_size_limits_and_zip_bombs(tmp_path):
    data = _zip(tmp_path / "big.zip", {"a.txt": b"0" * 3_000_000, "b.txt": b"1"},
                zipfile.ZIP_DEFLATED)
    with pytest.raises(ArchiveError, match=r"compressed \d+:1, more than 200:1"):
        read_zip_safely(data)
    assert len(read_zip_safely(data, max_ratio=1e9)["a.txt"]) == 3_000_000
    with pytest.raises(ArchiveError, match="more than 1000 bytes"):
        read_zip_safely(data, max_ratio=1e9, max_member_bytes=1000)
    with pytest.raises(ArchiveError, match="more than 3000000 bytes"):
        read_zip_safely(data, max_ratio=1e9, max_bytes=3_000_000)
    with pytest.raises(ArchiveError, match="not a readable zip"):
        read_zip_safely(b"not a zip", where="upload")


