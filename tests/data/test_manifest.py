"""Pool manifests: text and parquet lists of paths; duplicates and missing files named by line."""

from pathlib import Path

import pytest

from alkit.data.datasets import DatasetError
from alkit.data.manifest import read_manifest


def _images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"img_{i}.jpg" for i in range(n)]
    for p in paths:
        p.write_bytes(b"x")
    return paths


def test_a_text_manifest_keeps_order_skips_comments_and_resolves_relative_paths(tmp_path):
    images = _images(tmp_path / "pool", 3)
    manifest = tmp_path / "pool.txt"
    manifest.write_text(f"# my pool\n{images[2]}\n\npool/img_0.jpg\n  {images[1]}  \n")
    assert read_manifest(manifest) == [str(images[2]), str(images[0].resolve()), str(images[1])]


def test_duplicates_are_named_by_line(tmp_path):
    images = _images(tmp_path / "pool", 2)
    manifest = tmp_path / "pool.txt"
    manifest.write_text(f"{images[0]}\n{images[1]}\n# c\n{images[0]}\n")
    with pytest.raises(DatasetError, match=r"1 duplicate path\(s\); line 4: .*img_0\.jpg "
                                           r"repeats line 1"):
        read_manifest(manifest)


def test_missing_files_are_named_by_line_and_counted(tmp_path):
    images = _images(tmp_path / "pool", 1)
    lines = [str(images[0])] + [str(tmp_path / f"gone_{i}.jpg") for i in range(25)]
    manifest = tmp_path / "pool.txt"
    manifest.write_text("\n".join(lines))
    with pytest.raises(DatasetError) as error:
        read_manifest(manifest)
    message = str(error.value)
    assert "25 missing image(s)" in message and "line 2: " in message
    assert "gone_0.jpg: no such file" in message and "... and 5 more" in message
    assert read_manifest(manifest, check_exists=False)[1:] == lines[1:]


def test_a_parquet_manifest_reads_its_path_column_and_names_rows(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    images = _images(tmp_path / "pool", 3)
    manifest = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"path": [str(p) for p in images]}), manifest)
    assert read_manifest(manifest) == [str(p) for p in images]
    pq.write_table(pa.table({"path": [str(images[0]), str(images[0])]}), manifest)
    with pytest.raises(DatasetError, match=r"row 2: .* repeats row 1"):
        read_manifest(manifest)
    pq.write_table(pa.table({"file": ["a"]}), manifest)
    with pytest.raises(DatasetError, match="'path' column"):
        read_manifest(manifest)


def test_bad_manifests_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="manifest not found"):
        read_manifest(tmp_path / "nope.txt")
    other = tmp_path / "pool.json"
    other.write_text("[]")
    with pytest.raises(DatasetError, match="unknown manifest type"):
        read_manifest(other)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(DatasetError, match="lists no image"):
        read_manifest(empty)
