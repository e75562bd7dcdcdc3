"""A real JupyterLab on 127.0.0.1 driven by Debian's Chromium through Playwright (tests only).

``JupyterLab`` starts ``jupyter lab`` offline (no news, update or extension-manager checks), with
its own config / data / runtime / settings / workspace directories, a random token and a free
port, in its own process group; ``stop()`` shuts the server down through its API and then kills
whatever is left of it and its kernels (the kernels run in sessions of their own). ``chromium``
launches the system Chromium headless with the flags of shared/ENVIRONMENT.md and records every
request the page makes. The notebook helpers (``open_notebook``, ``run_all``, ``wait_visible``)
fail early with the traceback when a cell raises.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    # Anything not loopback goes to a dead proxy (Chromium never proxies loopback), so even a
    # request this test fails to notice cannot leave the machine.
    "--proxy-server=http://127.0.0.1:9",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOCAL_SCHEMES = {"data", "blob", "about", "chrome", "chrome-extension", "devtools"}
JUPYTER_ARGS = [
    "--ip=127.0.0.1", "--no-browser", "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.extension_manager=readonly",
]
TRACEBACK = "Traceback (most recent call last)"


def require_chromium() -> str:
    """The Chromium executable for a Playwright test; without Chromium or Playwright the test
    skips, or fails when ``CI`` is set (a missing service never passes silently in CI)."""
    import pytest

    executable = find_chromium()
    problem = None
    if executable is None:
        problem = ("Chromium is not installed: `make browser` installs Debian's package "
                   "(or set ALKIT_CHROMIUM to a Chromium binary)")
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "Playwright is not installed: pip install -e '.[dev]'"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    return executable


def artifacts_dir(name: str) -> Path:
    """``$ALKIT_TEST_ARTIFACTS/<name>`` (default ``test-artifacts/<name>`` in the repository),
    emptied: where a browser test's screenshots go."""
    root = Path(os.environ.get("ALKIT_TEST_ARTIFACTS")
                or Path(__file__).resolve().parents[1] / "test-artifacts")
    out = root / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return out


def find_chromium() -> str | None:
    """The system Chromium: ``$ALKIT_CHROMIUM``, Debian's binary, or ``chromium`` on PATH."""
    for candidate in (os.environ.get("ALKIT_CHROMIUM"), *CHROMIUM_CANDIDATES,
                      shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_local_url(url: str) -> bool:
    """True for loopback http(s)/ws(s) URLs and for browser-internal schemes (data:, blob:)."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return (parts.hostname or "").lower() in LOOPBACK_HOSTS


def _children(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class JupyterLab:
    """``jupyter lab`` serving ``root`` on 127.0.0.1, its state kept under ``state_dir``.

    ``env`` is added to the server's environment, which the kernels inherit: that is how a
    test passes notebook parameters and output folders to a notebook.
    """

    def __init__(self, root: Path, state_dir: Path, env: dict[str, str] | None = None):
        self.root, self.state_dir = Path(root), Path(state_dir)
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.log_path = self.state_dir / "jupyter.log"
        self.process: subprocess.Popen | None = None
        self._log = None
        self._env = dict(env or {})

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """The JupyterLab URL that opens ``path`` (relative to root), token included."""
        return f"{self.base_url}/lab/tree/{path}?token={self.token}"

    def log_tail(self, n_chars: int = 4000) -> str:
        """The end of the server's log (for failure messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""

    def start(self, timeout: float = 60.0) -> JupyterLab:
        """Start the server and return once its API answers."""
        dirs = {name: self.state_dir / name for name in
                ("config", "data", "runtime", "settings", "workspaces", "home")}
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        # The announcements plugin puts a news notice over the outputs: disable it.
        (dirs["config"] / "labconfig").mkdir(exist_ok=True)
        (dirs["config"] / "labconfig" / "page_config.json").write_text(json.dumps(
            {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
        env = {**os.environ, **self._env,
               "JUPYTER_CONFIG_DIR": str(dirs["config"]),
               "JUPYTER_DATA_DIR": str(dirs["data"]),
               "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
               "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
               "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
               "IPYTHONDIR": str(dirs["home"] / ".ipython"),
               "MPLCONFIGDIR": str(dirs["home"] / ".matplotlib"),
               "JUPYTER_PLATFORM_DIRS": "1", "PYTHONUNBUFFERED": "1"}
        args = [sys.executable, "-m", "jupyterlab", *JUPYTER_ARGS, f"--port={self.port}",
                "--port-retries=0", f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}"]
        if os.geteuid() == 0:
            args.append("--allow-root")
        self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed in stop)
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                        env=env, cwd=self.root, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({self.process.returncode}):\n"
                                   + self.log_tail())
            with contextlib.suppress(OSError):
                if self._api("GET", "/api/status", timeout=2).get("started"):
                    return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab not ready after {timeout:.0f} s:\n"
                                   + self.log_tail())
            time.sleep(0.2)

    def _api(self, method: str, path: str, timeout: float = 5.0) -> dict:
        request = urllib.request.Request(
            self.base_url + path, method=method, data=b"" if method == "POST" else None,
            headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else {}

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down the server and its kernels; kill what is left after ``timeout`` s."""
        if self.process is None:
            return
        process, self.process = self.process, None
        descendants = _children(process.pid)  # kernels live in sessions of their own
        if process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self._api("POST", "/api/shutdown", timeout=timeout)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        for pid in descendants:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> JupyterLab:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Requests(list):
    """The URLs a browser context asked for, in order (websockets included)."""

    def outside_loopback(self) -> list[str]:
        """The recorded URLs that are neither loopback nor browser-internal."""
        return [url for url in self if not is_local_url(url)]


@contextlib.contextmanager
def chromium(executable: str, *, viewport=(1400, 1000)) -> Iterator[tuple[object, Requests]]:
    """A headless Chromium page (Playwright, system executable) and its request log."""
    from playwright.sync_api import sync_playwright

    requests = Requests()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": viewport[0], "height": viewport[1]}, device_scale_factor=1)
            context.on("request", lambda request: requests.append(request.url))
            page = context.new_page()
            page.on("websocket", lambda ws: requests.append(ws.url))
            page.on("worker", lambda worker: requests.append(worker.url))
            yield page, requests
        finally:
            with contextlib.suppress(Exception):
                browser.close()


def button(scope, text: str):
    """The visible buttons labeled exactly ``text`` inside ``scope`` (an icon before the text,
    as ipywidgets draws it, is allowed)."""
    return scope.get_by_role("button", name=re.compile(rf"^\W*{re.escape(text)}\s*$"))


def notebook_errors(page) -> list[str]:
    """What went wrong in the open notebook so far: the text of every traceback shown in an
    output, and a dead kernel."""
    outputs = page.locator(".jp-OutputArea-output").filter(has_text=TRACEBACK)
    errors = [text[-3000:] for text in outputs.all_inner_texts()]
    died = page.locator(".jp-Dialog").filter(has_text="appears to have died")
    if died.count():
        errors.append("the kernel died: " + died.first.inner_text())
    return errors


def wait_visible(page, locator, timeout: float, what: str):
    """Wait until ``locator`` is visible; fail at once with the traceback if a cell raised."""
    deadline = time.monotonic() + timeout
    while True:
        if locator.count() and locator.first.is_visible():
            return locator.first
        errors = notebook_errors(page)
        if errors:
            raise AssertionError(f"before {what} appeared:\n" + errors[0])
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not appear within {timeout:.0f} s")
        page.wait_for_timeout(250)


def open_notebook(page, url: str, timeout: float = 60.0) -> None:
    """Open a notebook and wait until its kernel is attached and idle.

    "Run All" before the kernel is attached silently runs nothing, hence the wait. A notebook
    without kernel metadata asks which kernel to start: the default (Python 3) is accepted.
    """
    page.goto(url)
    status = page.locator("#jp-main-statusbar").filter(has_text="| Idle")
    choose = page.locator(".jp-Dialog").filter(has_text="Select Kernel")
    deadline = time.monotonic() + timeout
    while not (status.count() and status.first.is_visible()):
        if choose.count() and choose.first.is_visible():
            choose.locator("button.jp-mod-accept").click()
        if time.monotonic() > deadline:
            raise AssertionError(f"no idle kernel in the status bar within {timeout:.0f} s")
        page.wait_for_timeout(200)


def run_all(page) -> None:
    """Run > Run All Cells, through the menu bar as a person would."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def wait_run_finished(page, timeout: float) -> None:
    """Wait until no cell is queued or running and the kernel is idle (fails on a traceback)."""
    busy = page.locator(".jp-Cell .jp-InputPrompt").filter(has_text="[*]")
    idle = page.locator("#jp-main-statusbar").filter(has_text="| Idle")
    deadline = time.monotonic() + timeout
    n_quiet = 0
    while n_quiet < 3:  # idle three polls in a row: not a gap between two cells
        page.wait_for_timeout(300)
        errors = notebook_errors(page)
        if errors:
            raise AssertionError("the notebook failed:\n" + errors[0])
        n_quiet = n_quiet + 1 if busy.count() == 0 and idle.count() else 0
        if time.monotonic() > deadline:
            raise AssertionError(f"the notebook still runs after {timeout:.0f} s")


def wait_images_loaded(locator, timeout: float = 10.0) -> None:
    """Wait until every <img> inside ``locator`` has decoded (for screenshots)."""
    locator.page.wait_for_function(
        "el => [...el.querySelectorAll('img')].every(img => img.complete)",
        arg=locator.element_handle(), timeout=timeout * 1000)
