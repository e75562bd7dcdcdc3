"""The offline guard itself: it must block non-loopback targets and let loopback through."""

import socket
import subprocess
import sys
import threading

import pytest

from alkit.data import netguard


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", None, ""])
def test_loopback_hosts_are_allowed(host):
    assert netguard.is_loopback(host)


@pytest.mark.parametrize("host", ["8.8.8.8", "10.0.0.1", "192.168.1.1", "pypi.org", "::2",
                                  "github.com", b"example.com"])
def test_other_hosts_are_not_loopback(host):
    assert not netguard.is_loopback(host)


def test_guard_is_installed_for_the_test_session():
    assert netguard.is_active()


# sys.audit raises the same events the socket module raises, without touching the network, so
# these tests cannot send a packet even if the guard were broken.
@pytest.mark.parametrize("event, args", [
    ("socket.getaddrinfo", ("pypi.org", 443, 0, 0, 0)),
    ("socket.gethostbyname", ("example.com",)),
    ("socket.connect", (None, ("203.0.113.7", 80))),
    ("socket.connect", (None, ("2001:db8::1", 80, 0, 0))),
    ("socket.sendto", (None, ("198.51.100.1", 53))),
])
def test_non_loopback_events_are_blocked_and_recorded(event, args, expect_blocked):
    before = len(netguard.violations)
    with pytest.raises(netguard.NetworkBlockedError, match="blocked"):
        sys.audit(event, *args)
    assert len(netguard.violations) == before + 1


def test_loopback_connection_works_under_the_guard():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = threading.Thread(target=lambda: server.accept()[0].close())
    accepted.start()
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    accepted.join(5)
    server.close()
    socket.getaddrinfo("localhost", port)


def test_subprocesses_inherit_the_guard(expect_blocked):
    code = ("import sys, alkit\n"
            "try:\n    sys.audit('socket.getaddrinfo', 'pypi.org', 443, 0, 0, 0)\n"
            "except ConnectionRefusedError as e:\n    print('BLOCKED', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "BLOCKED alkit network guard" in out.stdout, out.stderr
