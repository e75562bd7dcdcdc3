"""Helpers of the annotation tests: a real Label Studio server, and what a test without a
service it needs does (skip, or fail under ``CI``).

``LabelStudioServer`` runs ``label-studio start`` from its own environment on 127.0.0.1 (a
free port, its own home and data folder, a random token and password, the local-files document
root at pytest's temporary base folder, every online check off). It can be killed with SIGKILL
and started again on the same data folder, as a crashed server would be. One server serves the
whole session (a fresh one takes 30-130 s to answer on a busy 2-core machine, a restart about
5-10 s). Without Label Studio the tests that need it skip, and fail when ``CI`` is set.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NAMES = ("zero", "one", "two", "three", "four", "seven")
BUDGET = 6


def label_studio_binary() -> Path | None:
    """``$ALKIT_LABEL_STUDIO_BIN``, ``.venv-labelstudio/bin/label-studio`` or one on PATH."""
    for candidate in (os.environ.get("ALKIT_LABEL_STUDIO_BIN"),
                      REPO / ".venv-labelstudio" / "bin" / "label-studio",
                      shutil.which("label-studio")):
        if candidate and Path(candidate).is_file():
            return Path(candidate).resolve()
    return None


def find_datumaro_python() -> Path | None:
    """The Python of the Datumaro environment (``$ALKIT_DATUMARO_PYTHON`` or
    ``.venv-datumaro/bin/python``): Datumaro's pins clash with ultralytics, so the CVAT tests
    run it as a separate process."""
    for candidate in (os.environ.get("ALKIT_DATUMARO_PYTHON"),
                      REPO / ".venv-datumaro" / "bin" / "python"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def missing(message: str):
    """Skip, or fail under CI, where a service the test needs is not installed."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class LabelStudioServer:
    """``label-studio start`` on 127.0.0.1 with its state under ``home`` (see the module
    docstring); ``start()`` again after ``kill()`` reuses the same data folder and port."""

    username = "annotator@alkit.test"

    def __init__(self, binary: Path, home: Path, document_root: Path):
        self.binary, self.home, self.document_root = binary, home, document_root
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.token, self.password = secrets.token_hex(20), secrets.token_hex(12)
        self.process: subprocess.Popen | None = None
        self.log_path = home / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **options):
        """An alkit client for this server (few retries: the tests kill it on purpose)."""
        from alkit.annotate.labelstudio import LabelStudio

        options = {"retries": 1, "backoff": 0.1, "document_root": str(self.document_root),
                   **options}
        return LabelStudio(self.url, self.token, **options)

    def log_tail(self, n_chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""

    def start(self, timeout: float = 240.0) -> LabelStudioServer:
        """Launch the server and wait until it answers."""
        return self.launch().wait(timeout)

    def launch(self) -> LabelStudioServer:
        """Start the server process without waiting for it (it boots while a test trains)."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("HOST", "PORT", "USERNAME", "PASSWORD") and not k.startswith("ALKIT_")}
        env.update(HOME=str(self.home), LABEL_STUDIO_BASE_DATA_DIR=str(self.home / "data"),
                   SENTRY_DSN="", FRONTEND_SENTRY_DSN="", LATEST_VERSION_CHECK="false",
                   COLLECT_ANALYTICS="false", LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
                   LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(self.document_root))
        log = open(self.log_path, "ab")  # noqa: SIM115  (the child keeps it; closed here)
        self.process = subprocess.Popen(
            [str(self.binary), "start", "--no-browser", "--internal-host", "127.0.0.1",
             "--port", str(self.port), "--username", self.username, "--password",
             self.password, "--user-token", self.token, "--enable-legacy-api-token"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.home)
        log.close()
        return self

    def wait(self, timeout: float = 240.0) -> LabelStudioServer:
        """Return once the launched server answers ``/health``; RuntimeError with its log if it
        exits or does not answer within ``timeout`` s."""
        client = self.client()
        deadline = time.monotonic() + timeout
        while not client.health():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("Label Studio did not start:\n" + self.log_tail())
            time.sleep(0.5)
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash or an out-of-memory kill would stop it."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)
            self.process = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None


