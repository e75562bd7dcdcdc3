"""Atomic writes, JSON with the file named in errors, links into staging folders."""

import numpy as np
import pytest

from alkit.data import files


def test_json_round_trip_with_numpy_values_and_no_temporary_files(tmp_path):
    path = files.write_json(tmp_path / "a" / "b.json", {"n": np.int64(3), "x": np.float32(0.5),
                                                        "v": np.arange(2), "p": tmp_path})
    assert files.read_json(path) == {"n": 3, "x": 0.5, "v": [0, 1], "p": str(tmp_path)}
    assert [p.name for p in path.parent.iterdir()] == ["b.json"]
    assert files.read_json(tmp_path / "missing.json", default={}) == {}


def test_a_broken_json_file_is_named_with_its_line(tmp_path):
    (tmp_path / "bad.json").write_text('{\n  "a": 1,\n  oops\n}\n')
    with pytest.raises(ValueError, match=r"bad\.json:3: not valid JSON"):
        files.read_json(tmp_path / "bad.json")


def test_links_are_replaced_when_stale_and_kept_when_current(tmp_path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    link = files.link(a, tmp_path / "staged" / "x.jpg")
    assert link.read_bytes() == b"a" and link.is_symlink()
    files.link(a, link)
    assert link.read_bytes() == b"a"
    files.link(b, link)
    assert link.read_bytes() == b"b"
