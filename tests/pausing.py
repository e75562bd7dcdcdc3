"""The test side of alkit's pause points (alkit.data.pausepoints): run a child until it pauses at
a named point, then kill it (or let it go on), instead of killing it after a sleep.

    env = pause_env(tmp_path / "pauses", "scoring.shard@4")
    child = subprocess.Popen([...], env=env, stdout=..., stderr=log)
    pid = wait_for_pause(tmp_path / "pauses", "scoring.shard", child, log)
    kill(child)

The wait is generous (minutes): on a loaded machine the child is slow, never wrong.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from alkit.data.pausepoints import PAUSE_AT, PAUSE_DIR

#: Seconds to wait for a child to reach its pause point (pytest's own limit is 600 per test).
PAUSE_TIMEOUT = 420.0


def pause_env(folder: Path, point: str) -> dict[str, str]:
    """This process's environment plus the variables that pause a child at ``point``
    (``<name>`` or ``<name>@<n>``), with its marker files in ``folder``."""
    return {**os.environ, PAUSE_AT: point, PAUSE_DIR: str(folder)}


def wait_for_pause(folder: Path, name: str, process: subprocess.Popen | None = None,
                   log: Path | None = None, timeout: float = PAUSE_TIMEOUT) -> int:
    """The pid of the first process that paused at ``name`` (its marker in ``folder``); fails
    when ``process`` (the child, if given) ended first, naming the end of its ``log``, or
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        markers = sorted(folder.glob(f"{name}.*")) if folder.is_dir() else []
        if markers:
            return int(markers[0].read_text())
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise AssertionError(f"the child ended (code {process.returncode}) before it "
                                 f"paused at {name}:\n{tail}")
        time.sleep(0.05)
    raise AssertionError(f"nothing paused at {name} within {timeout:.0f} s")


def release(folder: Path) -> None:
    """Let every process paused with markers in ``folder`` go on (and any that pauses later)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "release").touch()


def kill(process: subprocess.Popen) -> None:
    """SIGKILL ``process`` and reap it."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
