"""Production batches as folders, lists and manifests (timestamps checked, the bad line named),
and the simulated stream: deterministic, drift at the batch it is told, labels for the oracle."""

import hashlib

import pandas as pd
import pytest

from alkit.data.datasets import DatasetError, read_labels
from alkit.data.production import build_stream, check_order, parse_timestamp, read_batch


def _files(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")
    return [str(folder / n) for n in names]


def test_a_folder_is_a_batch_named_after_it_and_other_files_are_counted(tmp_path):
    _files(tmp_path / "2026-12-01", ["b.jpg", "a.png", "notes.pdf"])
    batch = read_batch(tmp_path / "2026-12-01")
    assert batch.name == "2026-12-01" and [p.rsplit("/", 1)[1] for p in batch.paths] == [
        "a.png", "b.jpg"]
    assert batch.timestamps == [None, None]
    assert [(p.rsplit("/", 1)[1], why) for p, why in batch.skipped] == [
        ("notes.pdf", "not an image file")]


def test_manifests_carry_timestamps_relative_paths_resolve(tmp_path):
    paths = _files(tmp_path / "imgs", ["1.jpg", "2.jpg"])
    (tmp_path / "day.txt").write_text("imgs/1.jpg\t2026-12-01T08:00:00\nimgs/2.jpg\n")
    batch = read_batch(tmp_path / "day.txt")
    assert batch.name == "day" and batch.paths == paths
    assert batch.timestamps == ["2026-12-01T08:00:00+00:00", None]
    table = pd.DataFrame({"path": ["imgs/1.jpg", "imgs/2.jpg"],
                          "timestamp": ["2026-12-01T08:00:00Z", "2026-12-01T09:00:00+01:00"]})
    table.to_csv(tmp_path / "day2.csv", index=False)
    table.to_parquet(tmp_path / "day3.parquet")
    for name in ("day2.csv", "day3.parquet"):
        batch = read_batch(tmp_path / name)
        assert batch.paths == paths and batch.timestamps[0] == "2026-12-01T08:00:00+00:00"
    listed = read_batch(paths, name="mine", timestamps=["2026-12-01", "2026-12-02"])
    assert listed.name == "mine" and listed.timestamps[1] == "2026-12-02T00:00:00+00:00"


def test_bad_timestamps_and_batches_are_named(tmp_path):
    paths = _files(tmp_path / "imgs", ["1.jpg", "2.jpg"])
    (tmp_path / "back.txt").write_text("imgs/1.jpg\t2026-12-01T08:00:00\n"
                                       "imgs/2.jpg\t2026-12-01T07:00:00\n")
    with pytest.raises(DatasetError, match=r"back.txt:2: timestamps out of order: image 2 at "
                       r"2026-12-01T07:00:00\+00:00 comes before image 1's"):
        read_batch(tmp_path / "back.txt")
    (tmp_path / "junk.txt").write_text("imgs/1.jpg\tyesterday\n")
    with pytest.raises(DatasetError, match=r"junk.txt:1: timestamp 'yesterday' is not ISO-8601"):
        read_batch(tmp_path / "junk.txt")
    pd.DataFrame({"file": ["a.jpg"]}).to_csv(tmp_path / "nopath.csv", index=False)
    with pytest.raises(DatasetError, match="needs a 'path' column"):
        read_batch(tmp_path / "nopath.csv")
    with pytest.raises(DatasetError, match="not found or not one"):
        read_batch(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="the batch has no image"):
        read_batch(tmp_path / "empty")
    with pytest.raises(ValueError, match="needs name="):
        read_batch(paths)
    with pytest.raises(DatasetError, match=r"1.jpg is listed twice \(images 1 and 3\)"):
        read_batch([paths[0], paths[1], paths[0]], name="twice")
    with pytest.raises(DatasetError, match="the previous batch's last timestamp"):
        check_order([parse_timestamp("2026-12-01")], "day", after="2026-12-02T00:00:00+00:00")


def _digest(folder):
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.rglob("*"))
                                   if p.is_file())).hexdigest()


def test_the_stream_is_deterministic_and_drifts_where_told(tmp_path):
    one = build_stream(tmp_path / "a", n_batches=4, batch_size=10, drift_start=2, random_state=3)
    two = build_stream(tmp_path / "b", n_batches=4, batch_size=10, drift_start=2, random_state=3)
    other = build_stream(tmp_path / "c", n_batches=4, batch_size=10, drift_start=2,
                         random_state=4)
    assert _digest(one.out / "batches") == _digest(two.out / "batches")
    assert _digest(one.out / "batches") != _digest(other.out / "batches")
    assert one.drifted == [0, 0, 6, 6] and one.drift_start == 2
    batch = read_batch(one.manifests[2])
    assert batch.paths == sorted(str(p) for p in one.batches[2].iterdir())
    assert batch.timestamps[0] == "2026-12-01T02:00:00+00:00"
    from alkit import Oracle

    labels = Oracle(one.dataset_yaml).answer(batch.paths[0])
    hidden = read_labels(one.out / "oracle" / "batches" / "batch_002" / "prod_002_00000.txt")
    assert len(labels) and (labels.class_ids == hidden.class_ids).all()
    assert (labels.xywhn == hidden.xywhn).all()


def test_the_class_drift_grows_seven(tmp_path):
    stream = build_stream(tmp_path / "s", n_batches=2, batch_size=30, drift_start=1,
                          drift="class", drift_share=0.6)
    sevens = []
    for b in range(2):
        ids = [c for f in sorted((stream.out / "oracle" / "batches" / f"batch_{b:03d}").iterdir())
               for c in read_labels(f).class_ids]
        sevens.append(sum(c == 5 for c in ids) / len(ids))
    assert sevens[0] < 0.1 < 0.4 < sevens[1]
    with pytest.raises(ValueError, match="unknown drift"):
        build_stream(tmp_path / "x", drift="rain")
