"""Test-wide setup: a private alkit home, a strict offline guard, and Hypothesis profiles.

Hypothesis: under ``CI`` (set by ``.ci/run``) every property test runs derandomized (the same
examples on every run, so a green commit stays green); locally it draws new examples each run,
so developers still find new cases. Neither profile has a deadline: timing on shared machines
is not what these tests check.

Any test that opens a non-loopback connection or resolves a non-loopback name fails: the
audit-hook guard (alkit.netguard) blocks the call and this file fails the test, even when the
library under test swallowed the exception. Subprocesses and notebook kernels inherit
ALKIT_NETWORK_GUARD=1, install the same guard on ``import alkit`` and report to the shared log.
"""

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="alkit-tests-"))
os.environ["ALKIT_HOME"] = str(_SESSION_DIR / "home")
os.environ["ALKIT_RUNS_DIR"] = str(_SESSION_DIR / "runs")
os.environ["ALKIT_NETWORK_GUARD"] = "1"
os.environ["ALKIT_NETWORK_GUARD_LOG"] = str(_SESSION_DIR / "network-violations.log")
Path(os.environ["ALKIT_NETWORK_GUARD_LOG"]).touch()

from hypothesis import settings  # noqa: E402

from alkit.data import netguard  # noqa: E402

netguard.install()

settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def _log_lines() -> list[str]:
    return Path(os.environ["ALKIT_NETWORK_GUARD_LOG"]).read_text().splitlines()


def pytest_sessionfinish(session, exitstatus):
    """Catch what notebook kernels and subprocesses logged outside any test's own check."""
    if _log_lines():
        print("\nnetwork access outside loopback during the run:\n" + "\n".join(_log_lines()))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def offline_guard():
    """Fail the test if anything (this process or a child) reached beyond loopback."""
    n_before, log_before = len(netguard.violations), len(_log_lines())
    yield
    new = netguard.violations[n_before:] + _log_lines()[log_before:]
    if new:
        pytest.fail("network access outside loopback during the test:\n" + "\n".join(new))


@pytest.fixture
def expect_blocked():
    """For tests of the guard itself: forget the violations the test provoked on purpose."""
    n_before, log_before = len(netguard.violations), len(_log_lines())
    yield
    del netguard.violations[n_before:]
    log = Path(os.environ["ALKIT_NETWORK_GUARD_LOG"])
    log.write_text("".join(line + "\n" for line in _log_lines()[:log_before]))


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """The tiny sample benchmark, built once per session (read-only for tests)."""
    from alkit.data.samples import build_samples

    out = tmp_path_factory.mktemp("samples") / "tiny"
    return build_samples("tiny", out, random_state=0, progress=False).out


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium for the real-browser tests (a skip, or under ``CI`` a failure, that
    names what is missing)."""
    from jupyter_harness import require_chromium

    return require_chromium()
