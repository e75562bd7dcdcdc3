"""The offline guard itself: it must block non-loopback targets and let loopback through.

No test here can send a packet even if the guard were broken: blocked attempts are either
``sys.audit`` calls (the same events the socket module raises, without touching the network) or
``getaddrinfo`` of a numeric address with ``AI_NUMERICHOST`` (no DNS query)."""

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from alkit.data import netguard

#: A documentation address (TEST-NET-3, RFC 5737): never routed.
OUTSIDE = "203.0.113.7"


def _log_lines() -> list[str]:
    return Path(os.environ["ALKIT_NETWORK_GUARD_LOG"]).read_text().splitlines()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", None, ""])
def test_loopback_hosts_are_allowed(host):
    assert netguard.is_loopback(host)
    n_before = len(netguard.violations)
    netguard.check_event("socket.getaddrinfo", (host, 80, 0, 0, 0))  # no NetworkBlockedError
    netguard.check_event("socket.connect", (None, (host, 80)))
    assert len(netguard.violations) == n_before


@pytest.mark.parametrize("host", ["8.8.8.8", "10.0.0.1", "192.168.1.1", "pypi.org", "::2",
                                  "github.com", b"example.com"])
def test_other_hosts_are_not_loopback(host):
    assert not netguard.is_loopback(host)


def test_guard_is_installed_for_the_test_session(expect_blocked):
    assert netguard.is_active()
    # a real socket call of this process goes through the guard's audit hook
    with pytest.raises(netguard.NetworkBlockedError, match=OUTSIDE):
        socket.getaddrinfo(OUTSIDE, 80, flags=socket.AI_NUMERICHOST)


@pytest.mark.parametrize("event, args", [
    ("socket.getaddrinfo", ("pypi.org", 443, 0, 0, 0)),
    ("socket.gethostbyname", ("example.com",)),
    ("socket.connect", (None, ("203.0.113.7", 80))),
    ("socket.connect", (None, ("2001:db8::1", 80, 0, 0))),
    ("socket.sendto", (None, ("198.51.100.1", 53))),
])
def test_non_loopback_events_are_blocked_and_recorded(event, args, expect_blocked):
    before, log_before = len(netguard.violations), len(_log_lines())
    with pytest.raises(netguard.NetworkBlockedError, match="blocked"):
        sys.audit(event, *args)
    assert len(netguard.violations) == before + 1
    new = _log_lines()[log_before:]  # the shared log, where the session looks for violations
    assert new == [netguard.violations[-1]] and event in new[0]


def test_loopback_connection_works_under_the_guard(monkeypatch):
    assert netguard.is_active()
    seen: list[tuple[str, object]] = []
    check = netguard.check_event

    def spy(event, args):  # the guard's hook calls check_event for every audited event
        if event in ("socket.connect", "socket.getaddrinfo"):
            seen.append((event, netguard._target(event, args)))
        check(event, args)

    monkeypatch.setattr(netguard, "check_event", spy)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)
    port = server.getsockname()[1]
    accepted: list[bool] = []

    def serve_once():
        connection, _ = server.accept()
        connection.close()
        accepted.append(True)

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        thread.join(10)
        assert accepted == [True]
        assert socket.getaddrinfo("localhost", port)
    finally:
        server.close()
    assert ("socket.connect", "127.0.0.1") in seen and ("socket.getaddrinfo", "localhost") in seen


def test_subprocesses_inherit_the_guard(expect_blocked):
    code = ("import socket, alkit\n"
            "try:\n"
            f"    socket.getaddrinfo({OUTSIDE!r}, 80, flags=socket.AI_NUMERICHOST)\n"
            "    print('NOT BLOCKED')\n"
            "except ConnectionRefusedError as e:\n    print('BLOCKED', e)\n")
    log_before = len(_log_lines())
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "BLOCKED alkit network guard" in out.stdout, out.stdout + out.stderr
    # and the child reported it to the shared log, where the parent's session finds it
    assert any(OUTSIDE in line for line in _log_lines()[log_before:])
