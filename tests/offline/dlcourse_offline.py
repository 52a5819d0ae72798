"""Offline guard: while installed, any socket connection to a non-loopback address raises.

The test suite installs it in its own process (tests/conftest.py) and, through ``sitecustomize.py`` in
this folder (put on PYTHONPATH with DLCOURSE_OFFLINE=1), in every Python subprocess it starts: the
notebook kernels of nbval and nbclient, the book build. So a notebook or a library that tries to
download something fails loudly in CI instead of depending on the network.
"""
from __future__ import annotations

import ipaddress
import socket

_ORIGINAL = {"connect": socket.socket.connect, "connect_ex": socket.socket.connect_ex}
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class OfflineError(OSError):
    """Raised instead of a network connection that would leave this machine."""


def is_local(address) -> bool:
    """True for Unix sockets and loopback addresses (127.0.0.0/8, ::1, 'localhost')."""
    if not isinstance(address, tuple):          # AF_UNIX path, abstract socket, ...
        return True
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode()
    if host in LOOPBACK_NAMES or host == "":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:                          # a host name other than localhost
        return False


def check(address) -> None:
    if not is_local(address):
        raise OfflineError(f"network access to {address!r} blocked: the course must run offline "
                           f"(only loopback connections are allowed while testing)")


def _guarded(name):
    def method(self, address, *args, **kwargs):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            check(address)
        return _ORIGINAL[name](self, address, *args, **kwargs)
    method._dlcourse_guard = True
    method.__name__ = name
    return method


def install() -> None:
    """Patch socket.socket.connect / connect_ex (idempotent)."""
    socket.socket.connect = _guarded("connect")
    socket.socket.connect_ex = _guarded("connect_ex")


def installed() -> bool:
    return getattr(socket.socket.connect, "_dlcourse_guard", False)
