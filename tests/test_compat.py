"""``nexusloop._compat``: each private asyncio helper nexusloop uses behaves, on this interpreter,
as nexusloop's code expects; and no other module names a private asyncio attribute.

CI runs this file on 3.11, 3.12 and 3.13: a helper renamed or changed in a new Python fails here,
by name, instead of somewhere deep in a network test."""
from __future__ import annotations

import asyncio
import re
import socket
import ssl
import sys
import traceback
from pathlib import Path

import pytest

from nexusloop import _compat

PACKAGE = Path(_compat.__file__).resolve().parent


def test_check_ssl_socket_refuses_an_ssl_socket() -> None:
    raw = socket.socket()
    wrapped = ssl.create_default_context().wrap_socket(
        socket.socket(), server_hostname="example.org", do_handshake_on_connect=False)
    try:
        _compat.check_ssl_socket(raw)  # a plain socket is fine
        with pytest.raises(TypeError, match="Socket cannot be of type SSLSocket"):
            _compat.check_ssl_socket(wrapped)
    finally:
        raw.close()
        wrapped.close()


def test_ipaddr_info_resolves_numeric_hosts_only() -> None:
    info = _compat.ipaddr_info("127.0.0.1", 80, socket.AF_UNSPEC, socket.SOCK_STREAM, 0)
    assert info == (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 80))
    six = _compat.ipaddr_info("::1", 80, socket.AF_INET6, socket.SOCK_STREAM, 0, 0, 0)
    assert six is not None and six[0] == socket.AF_INET6 and six[4][:2] == ("::1", 80)
    assert _compat.ipaddr_info("localhost", 80, socket.AF_UNSPEC, socket.SOCK_STREAM, 0) is None


def test_interleave_addrinfos_alternates_families() -> None:
    a4 = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (f"10.0.0.{i}", 1)) for i in range(2)]
    a6 = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (f"::{i}", 1, 0, 0)) for i in range(2)]
    out = _compat.interleave_addrinfos(a6 + a4, 1)
    assert [info[0] for info in out] == [socket.AF_INET6, socket.AF_INET, socket.AF_INET6,
                                        socket.AF_INET]


def test_set_reuseport() -> None:
    sock = socket.socket()
    try:
        if hasattr(socket, "SO_REUSEPORT"):
            _compat.set_reuseport(sock)
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        else:  # pragma: no cover - platforms without it
            with pytest.raises(ValueError):
                _compat.set_reuseport(sock)
    finally:
        sock.close()


def test_running_loop_slot() -> None:
    assert _compat.get_running_loop_or_none() is None
    loop = asyncio.new_event_loop()
    try:
        _compat.set_running_loop(loop)
        assert _compat.get_running_loop_or_none() is loop
        assert asyncio.get_running_loop() is loop
    finally:
        _compat.set_running_loop(None)
        loop.close()
    assert _compat.get_running_loop_or_none() is None


def test_future_loop_and_debug_mode() -> None:
    loop = asyncio.new_event_loop()
    try:
        assert _compat.future_loop(loop.create_future()) is loop
    finally:
        loop.close()
    assert isinstance(_compat.is_debug_mode(), bool)


def test_debug_formatting_helpers() -> None:
    def callback(x: int) -> None:
        pass

    text = _compat.format_callback_source(callback, (1,), True)
    assert text.startswith("test_debug_formatting_helpers.<locals>.callback(1)")
    assert __file__.rsplit("/", 1)[-1] in text
    quiet = _compat.format_callback_source(callback, (1,), False)
    hidden = sys.version_info >= (3, 13)  # 3.13: arguments only in debug mode
    assert quiet.startswith("test_debug_formatting_helpers.<locals>.callback(" +
                            ("" if hidden else "1") + ")")
    stack = _compat.extract_stack()
    assert isinstance(stack, traceback.StackSummary) and len(stack) > 0


@pytest.mark.parametrize("debug", [False, True])
def test_handle_reprs_show_callbacks_as_asyncio_does(debug: bool) -> None:
    """A handle's repr names its callback exactly as asyncio's does, arguments included or not
    (3.13 hides them outside debug mode)."""
    import nexusloop

    def callback(secret: str) -> None:
        pass

    stock, nexus = asyncio.new_event_loop(), nexusloop.new_event_loop()
    try:
        reprs = []
        for loop in (stock, nexus):
            loop.set_debug(debug)
            handle = loop.call_soon(callback, "hunter2")
            reprs.append(repr(handle).split(" created at ")[0])
            handle.cancel()
        assert reprs[0].replace("cancelled ", "") == reprs[1].replace("cancelled ", "")
        assert ("hunter2" in reprs[1]) == (debug or sys.version_info < (3, 13))
    finally:
        stock.close()
        nexus.close()


def test_is_debug_mode_is_looked_up_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asyncio.coroutines, "_is_debug_mode", lambda: True)
    assert _compat.is_debug_mode() is True
    monkeypatch.setattr(asyncio.coroutines, "_is_debug_mode", lambda: False)
    assert _compat.is_debug_mode() is False


def test_sendfile_modes() -> None:
    assert {m.name for m in _compat.SendfileMode} >= {"UNSUPPORTED", "TRY_NATIVE", "FALLBACK"}


ASYNCIO_MODULES = (
    "base_events|base_futures|base_subprocess|base_tasks|constants|coroutines|events|"
    "format_helpers|futures|locks|protocols|queues|runners|selector_events|sslproto|staggered|"
    "streams|subprocess|taskgroups|tasks|timeouts|transports|trsock|unix_events"
)
PRIVATE_REACH = re.compile(
    rf"(?:\basyncio\.(?:(?:{ASYNCIO_MODULES})\.)?_[a-z]\w*"  # asyncio._x, asyncio.events._x
    rf"|(?<![\w.])(?:{ASYNCIO_MODULES})\._[a-z]\w*"        # events._x (module imported by name)
    rf"|from asyncio(?:\.(?:{ASYNCIO_MODULES}))? import [^\n]*\b_[a-z])"
)


def test_no_other_module_reaches_into_asyncio_privates() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_compat.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if "``" in code or code.strip().startswith(('"', "'")):
                continue  # prose in docstrings
            if PRIVATE_REACH.search(code):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert not offenders, "use nexusloop._compat:\n" + "\n".join(offenders)
