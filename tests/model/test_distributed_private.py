"""score_pool(engine="ray") without an address: alkit starts a private Ray for the call, on
loopback only (every listening socket of its processes on 127.0.0.1), and stops it after."""

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from alkit.data import datasets
from alkit.model import scoring, yolo

pytestmark = pytest.mark.slow


def _listening_inodes() -> dict[str, str]:
    """inode -> local address of every listening TCP socket (IPv4 and IPv6) of the machine."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                found[fields[9]] = fields[1]
    return found


def _is_loopback(hex_address: str) -> bool:
    host = hex_address.split(":")[0]
    if len(host) == 8:  # IPv4, little-endian: 127.x.x.x ends in 7F
        return host.endswith("7F")
    return host in ("00000000000000000000000001000000",  # ::1
                    "0000000000000000FFFF00000100007F")  # ::ffff:127.0.0.1


def _ray_listeners(before: set[int]) -> list[str]:
    """Non-loopback listening sockets of Ray processes that were not running ``before``."""
    sockets = _listening_inodes()
    bad = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in before:
            continue
        try:
            title = (entry / "cmdline").read_bytes()
            if b"ray" not in title:
                continue
            for fd in (entry / "fd").iterdir():
                link = os.readlink(fd)
                inode = link[8:-1] if link.startswith("socket:[") else None
                if inode in sockets and not _is_loopback(sockets[inode]):
                    bad.append(f"{title[:60]!r} listens on {sockets[inode]}")
        except OSError:
            continue
    return bad


def test_a_private_ray_stays_on_loopback_and_scores_like_local(tiny_dataset, tmp_path,
                                                               monkeypatch):
    try:
        import ray  # noqa: F401  (imported first on purpose: alkit must still keep loopback)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("Ray is missing: `make test` installs alkit[ray]")
        pytest.skip("Ray is not installed")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # Ray writes its auth token there
    pool = [str(p) for p in datasets.list_images(tiny_dataset / "images")][:12]
    weights = str(yolo.pretrained_checkpoint())
    settings = {"imgsz": 64, "batch": 4, "conf": 0.001, "progress": False}
    before = {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}
    bad: list[str] = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            bad.extend(_ray_listeners(before))
            time.sleep(0.3)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        scores = scoring.score_pool(weights, pool, cache_dir=tmp_path / "ray", engine="ray",
                                    actors=1, block_size=6, **settings)
    finally:
        done.set()
        watcher.join(timeout=10)
    assert not bad, "\n".join(sorted(set(bad)))
    assert scores.meta["run"]["address"] == "local" and scores.meta["run"]["n_blocks"] == 2
    local = scoring.score_pool(weights, pool, cache_dir=tmp_path / "local", **settings)
    assert scores.paths == local.paths
    np.testing.assert_allclose(scores.embeddings, local.embeddings, atol=1e-5, rtol=0)
    np.testing.assert_allclose(scores.box_class_scores, local.box_class_scores, atol=1e-5,
                               rtol=0)
