"""The offline guard is active in the test process and in its subprocesses, and it really blocks.
No packet is ever sent: the guard is proven by replacing the real connect with a sentinel."""
import os
import socket
import subprocess
import sys

import pytest

import dlcourse_offline


def test_guard_is_installed_here():
    assert dlcourse_offline.installed()


def test_non_loopback_connection_raises_before_any_traffic(monkeypatch):
    calls = []
    monkeypatch.setitem(dlcourse_offline._ORIGINAL, "connect", lambda self, addr, *a: calls.append(addr))
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(dlcourse_offline.OfflineError, match="blocked: the course must run offline"):
            s.connect(("203.0.113.7", 80))           # TEST-NET-3 documentation address
        assert calls == []                            # the real connect was never reached
        s.connect(("127.0.0.1", 9))                   # loopback goes through (to the sentinel)
        assert calls == [("127.0.0.1", 9)]
    finally:
        s.close()


@pytest.mark.parametrize("address,local", [(("127.0.0.1", 80), True), (("::1", 80, 0, 0), True),
                                           (("localhost", 80), True), (("10.0.0.1", 80), False),
                                           (("pypi.org", 443), False), ("/tmp/socket", True)])
def test_address_classification(address, local):
    assert dlcourse_offline.is_local(address) is local


def test_guard_reaches_subprocesses_such_as_notebook_kernels():
    code = "import socket, dlcourse_offline; print(dlcourse_offline.installed())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
    assert out.stdout.strip() == "True", out.stderr
