"""A real multi-node Ray cluster on this machine (the Ray tests, benchmarks/bench_distributed).

``LocalCluster(n_nodes)`` runs ``ray start --head`` plus ``n_nodes - 1`` ``ray start --address``,
each node with ``cpus_per_node`` CPUs and its own temp dir under one private root, ``HOME``
pointed into that root (Ray 2.60 writes its auth token to ``~/.ray``), no dashboard, no usage
statistics, every node at ``--node-ip-address 127.0.0.1``. ``stop()`` ends exactly the
processes of this cluster (found by the root folder in their command line, environment or open
files; never ``ray stop``, which ends every Ray of the machine), SIGTERM then SIGKILL.

A multi-node Ray on Linux binds its gRPC servers to every interface and nodes reach each other
by the machine's own address; the traffic stays inside the machine. A single-node Ray that
alkit starts itself (``address=None``) sets ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` and binds
loopback only; that setting refuses ``ray start --address``, so it cannot be used here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """``n_nodes`` Ray nodes on 127.0.0.1 (see the module docstring); a context manager."""

    def __init__(self, n_nodes: int = 2, *, cpus_per_node: int = 1,
                 object_store_bytes: int = 100_000_000):
        self.n_nodes, self.cpus_per_node = n_nodes, cpus_per_node
        self.object_store_bytes = object_store_bytes
        # short: Ray's unix socket paths must stay under 107 characters
        self.root = Path(tempfile.mkdtemp(prefix="akr-", dir="/tmp"))
        self.home = self.root / "home"
        self.home.mkdir()
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, "HOME": str(self.home), "RAY_USAGE_STATS_ENABLED": "0",
                    "ALKIT_RAY_CLUSTER_ROOT": str(self.root),
                    "PYTHONPATH": os.pathsep.join(
                        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
        self.env.pop("RAY_ADDRESS", None)
        self._old_home = None

    def _ray(self, *args: str, timeout: float = 120) -> None:
        ray = Path(sys.executable).parent / "ray"
        done = subprocess.run([str(ray), "start", *args, "--node-ip-address", "127.0.0.1",
                               f"--num-cpus={self.cpus_per_node}", "--num-gpus=0",
                               f"--object-store-memory={self.object_store_bytes}",
                               "--disable-usage-stats"],
                              env=self.env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> LocalCluster:
        """Start the head, then the other nodes; on any failure stop what started."""
        try:
            self._ray("--head", f"--port={self.port}", "--include-dashboard=false",
                      f"--temp-dir={self.root / 'head'}")
            for i in range(1, self.n_nodes):
                self._ray(f"--address={self.address}", f"--temp-dir={self.root / f'n{i}'}")
        except BaseException:
            self.stop()
            raise
        # the driver (this process) reads the cluster's auth token from ~/.ray
        self._old_home = os.environ.get("HOME")
        os.environ["HOME"] = str(self.home)
        return self

    def pids(self) -> list[int]:
        """Every live process of this cluster."""
        mark = str(self.root).encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                ours = mark in (entry / "cmdline").read_bytes() or mark in (
                    entry / "environ").read_bytes() or any(
                    str(self.root) in os.readlink(fd) for fd in (entry / "fd").iterdir())
                if ours and (entry / "stat").read_text().split(") ", 1)[1][0] != "Z":
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def worker_pids(self, name: str) -> list[int]:
        """Live worker processes whose title contains ``name`` (``ray::MapWorker`` ...)."""
        out = []
        for pid in self.pids():
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if name in title:
                out.append(pid)
        return out

    def stop(self) -> None:
        """End this cluster's processes (SIGTERM, then SIGKILL after 10 s) and remove its
        folder."""
        if self._old_home is not None:
            os.environ["HOME"] = self._old_home
            self._old_home = None
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            pids = self.pids()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while pids and time.monotonic() < deadline:
                time.sleep(0.2)
                pids = self.pids()
            if not pids:
                break
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
