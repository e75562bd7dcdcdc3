"""A strict offline guard: refuse any socket connection or name lookup that is not loopback.

``install()`` adds a ``sys.addaudithook`` hook (audit hooks cannot be removed; the guard is
switched with :func:`enable` / :func:`disable`). On ``socket.connect``, ``socket.sendto``,
``socket.getaddrinfo``, ``socket.gethostbyname`` and ``socket.gethostbyname_ex`` to anything but
127.0.0.0/8, ::1, ``localhost`` or a Unix socket it records the attempt and raises
:class:`NetworkBlockedError` before the operation runs, so nothing leaves the machine.

Every attempt is also appended to :data:`violations` and, when ``$ALKIT_NETWORK_GUARD_LOG`` names
a file, to that file, so a test can fail even when library code swallows the exception.

The test suite installs it for its own process (tests/conftest.py); setting
``ALKIT_NETWORK_GUARD=1`` makes ``import alkit`` install it too, which covers subprocesses and
notebook kernels started by tests.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import threading

violations: list[str] = []
_state = {"installed": False, "enabled": False}
_lock = threading.Lock()
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class NetworkBlockedError(ConnectionRefusedError):
    """A non-loopback network operation attempted while the guard is on."""


def is_loopback(host) -> bool:
    """True when ``host`` (a str or bytes address or name, IPv6 brackets and ``%zone``
    allowed) is a loopback address or name; ``None`` / empty (local wildcard) counts too."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").split("%", 1)[0].lower()
    if host in ("", *_LOOPBACK_NAMES):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _target(event: str, args: tuple):
    """The host an audited socket event is about, or None if it is not a network target."""
    if event in ("socket.connect", "socket.sendto"):
        address = args[1] if len(args) > 1 else None
        if isinstance(address, tuple) and address:
            return address[0]
        return None  # Unix socket path or unknown: not a network destination
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                 "socket.gethostbyaddr"):
        return args[0] if args else None
    return None


def check_event(event: str, args: tuple) -> None:
    """Raise :class:`NetworkBlockedError` if the audit ``event`` reaches beyond loopback.

    ``args`` is the event's audit-hook argument tuple (the address is ``args[1]`` for
    ``socket.connect`` / ``socket.sendto``, the host ``args[0]`` for name lookups). Events not
    named ``socket.*`` and Unix-socket targets pass. A blocked attempt is also recorded in
    :data:`violations` and the ``$ALKIT_NETWORK_GUARD_LOG`` file.
    """
    if not event.startswith("socket."):
        return
    host = _target(event, args)
    if host is None or is_loopback(host):
        return
    message = f"alkit network guard: {event} to {host!r} blocked (only loopback is allowed)"
    with _lock:
        violations.append(message)
    log = os.environ.get("ALKIT_NETWORK_GUARD_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(message + "\n")
    raise NetworkBlockedError(message)


def _hook(event: str, args: tuple) -> None:
    if _state["enabled"]:
        check_event(event, args)


def install() -> None:
    """Install the audit hook once and switch it on."""
    with _lock:
        if not _state["installed"]:
            sys.addaudithook(_hook)
            _state["installed"] = True
        _state["enabled"] = True


def enable() -> None:
    """Switch an installed guard back on."""
    _state["enabled"] = True


def disable() -> None:
    """Switch the guard off (the hook stays installed and does nothing)."""
    _state["enabled"] = False


def is_active() -> bool:
    """True when the hook is installed and switched on."""
    return _state["installed"] and _state["enabled"]
