"""score_pool(engine="ray") on a real two-node Ray cluster on 127.0.0.1 (tests/ray_cluster.py):
the same numbers as local scoring, a killed actor, a killed driver resumed, bad input. The kills
land at pause points (alkit.data.pausepoints, tests/pausing.py), not after a sleep."""

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from pausing import kill, pause_env, release, wait_for_pause
from ray_cluster import LocalCluster, free_port

from alkit.cli import main
from alkit.data import datasets
from alkit.data.pausepoints import PAUSE_AT, PAUSE_DIR
from alkit.model import distributed, records, scoring

pytestmark = pytest.mark.slow
SETTINGS = {"imgsz": 96, "batch": 4, "conf": 0.001, "progress": False}


def _require_ray():
    try:
        import ray  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("Ray is missing: `make test` installs alkit[ray] (under CI the Ray "
                        "tests never skip)")
        pytest.skip("Ray is not installed (pip install 'alkit[ray]')")


@pytest.fixture(scope="module")
def cluster():
    """Two nodes x 1 CPU; stopped after the module, whatever happened."""
    _require_ray()
    with LocalCluster(2, cpus_per_node=1) as started:
        yield started


@pytest.fixture(scope="module")
def local(pool, weights, tmp_path_factory):
    return scoring.score_pool(weights, pool, cache_dir=tmp_path_factory.mktemp("local"),
                              **SETTINGS)


def _assert_same(ray_scores, local_scores):
    """The same images in the same order, every number within 1e-5 (pixel boxes within
    1e-3 px: float32 at ~100 px carries ~1e-5 relative)."""
    assert ray_scores.paths == local_scores.paths
    np.testing.assert_array_equal(ray_scores.hashes, local_scores.hashes)
    np.testing.assert_array_equal(ray_scores.box_offsets, local_scores.box_offsets)
    np.testing.assert_array_equal(ray_scores.box_class, local_scores.box_class)
    for name in ("box_confidence", "box_class_scores", "embeddings"):
        np.testing.assert_allclose(getattr(ray_scores, name), getattr(local_scores, name),
                                   atol=1e-5, rtol=0, err_msg=name)
    np.testing.assert_allclose(ray_scores.box_xyxy, local_scores.box_xyxy, atol=1e-3, rtol=0)


def _block_shards(cache_root: Path) -> list[Path]:
    return sorted(cache_root.glob("*/shard-block-*.npz"))


def test_ray_scores_like_local_and_a_local_rescore_finds_everything(cluster, pool, weights,
                                                                    local, tmp_path):
    missing = str(tmp_path / "gone.jpg")
    scores = scoring.score_pool(weights, [*pool, missing], cache_dir=tmp_path, engine="ray",
                                address=cluster.address, actors=2, block_size=16, **SETTINGS)
    run = scores.meta["run"]
    assert run["engine"] == "ray" and run["n_inferred"] == len(pool)
    assert scores.skipped == [(missing, "cannot read: No such file or directory")]
    _assert_same(scores, local)
    n_blocks = -(-(len(pool) + 1) // 16)
    assert run["n_blocks"] == n_blocks and len(_block_shards(tmp_path)) == n_blocks
    # the same cache from a local run: nothing inferred
    again = scoring.score_pool(weights, pool, cache_dir=tmp_path, **SETTINGS)
    assert again.meta["run"]["n_inferred"] == 0
    _assert_same(again, local)


#: A loaded 2-core machine (a benchmark beside the suite) takes minutes to start two Ray actors
#: that import torch; the kill tests wait that long, never less, and are never wrong for it.
SLOW_RAY_S = 1500


@pytest.mark.timeout(2 * SLOW_RAY_S)
def test_an_actor_killed_mid_job_still_scores_every_image_once(cluster, pool, weights, local,
                                                               tmp_path, monkeypatch):
    # each actor pauses after scoring its 2nd batch, before returning it (the driver forwards
    # the variables to its actors); the first to pause is killed there, then all go on
    pauses = tmp_path / "pauses"
    monkeypatch.setenv(PAUSE_AT, "ray.actor_batch@2")
    monkeypatch.setenv(PAUSE_DIR, str(pauses))
    killed: list[int] = []
    problems: list[str] = []

    def kill_the_first_actor_that_pauses():
        try:
            pid = wait_for_pause(pauses, "ray.actor_batch", timeout=SLOW_RAY_S)
            if pid not in cluster.worker_pids("_ScoreActor"):
                problems.append(f"process {pid} paused but is no scoring actor of the cluster")
                return
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except AssertionError as error:
            problems.append(str(error))
        finally:
            release(pauses)  # the other actor, and the restarted one, go on

    watcher = threading.Thread(target=kill_the_first_actor_that_pauses, daemon=True)
    watcher.start()
    scores = scoring.score_pool(weights, pool, cache_dir=tmp_path, engine="ray",
                                address=cluster.address, actors=2, block_size=4,
                                **{**SETTINGS, "batch": 2})
    watcher.join(timeout=60)
    assert killed and not problems, problems
    assert len(scores.paths) == len(set(scores.paths)) == len(pool)
    _assert_same(scores, local)


_DRIVER = """
import sys
from alkit.model import scoring
scoring.score_pool(sys.argv[1], sys.argv[2].split("\\n"), cache_dir=sys.argv[3], engine="ray",
                   address=sys.argv[4], actors=2, block_size=4, imgsz=96, batch=2, conf=0.001,
                   progress=False)
"""


@pytest.mark.timeout(2 * SLOW_RAY_S)
def test_a_driver_killed_mid_job_resumes_without_recomputing_finished_shards(
        cluster, pool, weights, local, tmp_path):
    pauses, log, cache = tmp_path / "pauses", tmp_path / "driver.log", tmp_path / "cache"
    with log.open("w") as out:  # paused right after it wrote its 3rd block shard
        driver = subprocess.Popen(
            [sys.executable, "-c", _DRIVER, weights, "\n".join(pool), str(cache),
             cluster.address], env=pause_env(pauses, "ray.block@3"), stdout=out,
            stderr=subprocess.STDOUT)
    try:
        assert wait_for_pause(pauses, "ray.block", driver, log, timeout=SLOW_RAY_S) == driver.pid
    finally:
        kill(driver)
    finished = _block_shards(cache)
    n_blocks = -(-len(pool) // 4)
    assert len(finished) == 3 < n_blocks
    stamps = {p: p.stat().st_mtime_ns for p in finished}
    done_hashes = set()
    for shard in finished:
        with np.load(shard) as data:
            done_hashes |= set(data["block_hashes"].tolist())
    all_hashes = {datasets.file_sha256(p) for p in pool}

    scores = scoring.score_pool(weights, pool, cache_dir=cache, engine="ray",
                                address=cluster.address, actors=2, block_size=4,
                                **{**SETTINGS, "batch": 2})
    run = scores.meta["run"]
    assert run["n_blocks_skipped"] == len(finished)
    assert run["n_inferred"] == len(all_hashes - done_hashes)
    assert {p: p.stat().st_mtime_ns for p in finished} == stamps  # not rewritten
    _assert_same(scores, local)


def test_an_unreachable_address_is_named(weights, pool, tmp_path):
    _require_ray()
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(distributed.DistributedError, match=address.replace(".", r"\.")):
        scoring.score_pool(weights, pool[:2], cache_dir=tmp_path, engine="ray",
                           address=address, **SETTINGS)
    assert not list(tmp_path.glob("*/shard-*.npz"))


def test_the_cli_names_an_unreachable_address(weights, pool, tmp_path, capsys):
    _require_ray()
    listing = tmp_path / "pool.txt"
    listing.write_text("\n".join(pool[:2]))
    address = f"127.0.0.1:{free_port()}"
    code = main(["score", weights, str(listing), "--engine", "ray", "--address", address,
                 "--imgsz", "64", "--cache-dir", str(tmp_path / "c"), "--quiet",
                 "--out", str(tmp_path / "s.npz")])
    assert code == 1
    assert f"cannot reach the Ray cluster at {address}" in capsys.readouterr().err


def test_a_malformed_address_and_bad_engine_settings_are_refused(weights, pool, tmp_path):
    with pytest.raises(distributed.DistributedError, match="expected host:port"):
        distributed.check_address("no-port-here")
    with pytest.raises(ValueError, match="engine must be"):
        scoring.score_pool(weights, pool[:1], cache_dir=tmp_path, engine="spark", **SETTINGS)
    with pytest.raises(ValueError, match="actors"):
        distributed.RayEngine(actors=0)


def test_block_names_change_when_a_file_changes(tmp_path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    before = distributed.block_shard_name([str(a), str(b)])
    assert before == distributed.block_shard_name([str(a), str(b)])
    assert before != distributed.block_shard_name([str(b), str(a)])
    a.write_bytes(b"three")
    assert before != distributed.block_shard_name([str(a), str(b)])


def test_a_block_shard_is_read_back_with_its_path_index(tmp_path):
    cache = records.ShardCache(tmp_path)
    distributed._finish_block(cache, "shard-block-x.npz", ["/a.jpg", "/b.jpg"],
                              {"/a.jpg": ("", "cannot read: gone", b""),
                               "/b.jpg": ("", "cannot read: gone", b"")})
    loaded = records.ShardCache(tmp_path).load()
    assert loaded.blocks == {"shard-block-x.npz": {"/a.jpg": ("", "cannot read: gone"),
                                                   "/b.jpg": ("", "cannot read: gone")}}
    assert loaded.records == {} and not loaded.unreadable
    assert json.loads(json.dumps(list(loaded.blocks)))  # plain names


def test_a_block_with_identical_files_keeps_one_record_for_both(tmp_path):
    record = {"hash": "h1", "height": 4, "width": 5, "xyxy": np.zeros((1, 4), np.float32),
              "confidence": np.ones(1, np.float32), "class_id": np.zeros(1, np.int64),
              "class_scores": np.ones((1, 2), np.float32), "embedding": np.ones(3, np.float32),
              "box_features": np.zeros((1, 32), np.float16)}
    cache = records.ShardCache(tmp_path)
    distributed._finish_block(cache, "shard-block-y.npz", ["/a.jpg", "/b.jpg"],
                              {"/a.jpg": ("h1", "", b""),
                               "/b.jpg": ("h1", "", pickle.dumps(record))})
    loaded = records.ShardCache(tmp_path).load()
    assert list(loaded.records) == ["h1"]
    assert loaded.blocks["shard-block-y.npz"] == {"/a.jpg": ("h1", ""), "/b.jpg": ("h1", "")}
    with pytest.raises(distributed.DistributedError, match=r"/c\.jpg: came back"):
        distributed._finish_block(cache, "shard-block-z.npz", ["/c.jpg"],
                                  {"/c.jpg": ("h2", "", b"")})
    assert not (tmp_path / "shard-block-z.npz").exists()
