"""loop.create_datagram_endpoint and its transport, on stock asyncio and on nexusloop.

The same test body runs on both loops (the ``any_loop`` fixture, which also fails a test that
leaks a file descriptor). Loopback and temporary Unix socket paths only; no timing assertions
(``run`` bounds each test with a generous hang guard, ``wait_for_cond`` polls a condition).
Where nexusloop deliberately follows a newer CPython than the interpreter's own asyncio (empty
datagrams are sent; queued datagrams count 8 header bytes), the test says so and checks each
loop against its own rule.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import gc
import logging
import os
import shutil
import socket
import sys
import tempfile
import warnings
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

import nexusloop

HANG_GUARD = 20.0  # seconds; only catches hangs


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, HANG_GUARD))


async def wait_for_cond(cond: Callable[[], Any], what: str = "condition") -> None:
    for _ in range(2000):
        if cond():
            return
        await asyncio.sleep(0.005)
    pytest.fail(f"timed out waiting for {what}")


def is_nexus(loop: asyncio.AbstractEventLoop) -> bool:
    return isinstance(loop, nexusloop.Loop)


def has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


class Recorder(asyncio.DatagramProtocol):
    """Records every callback; echoes datagrams starting with ``ping`` as ``pong``."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.events: list[str] = []
        self.datagrams: list[tuple[bytes, Any]] = []
        self.errors: list[Exception] = []
        self.lost: list[BaseException | None] = []
        self.made_seen_reading: bool | None = None

    def connection_made(self, transport: Any) -> None:
        self.events.append("made")
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.events.append("datagram")
        self.datagrams.append((data, addr))
        if data.startswith(b"ping"):
            self.transport.sendto(b"pong" + data[4:], addr)

    def error_received(self, exc: Exception) -> None:
        self.events.append("error")
        self.errors.append(exc)

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        self.lost.append(exc)


@pytest.fixture
def tmpdir_short() -> Iterator[str]:
    """A short temporary directory (Unix socket paths are limited to ~100 bytes)."""
    path = tempfile.mkdtemp(prefix="nlu")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- echo


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_udp_echo_connected_client(any_loop: asyncio.AbstractEventLoop, family: str) -> None:
    if family == "ipv6" and not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    host = "127.0.0.1" if family == "ipv4" else "::1"

    async def main() -> None:
        st, sp = await any_loop.create_datagram_endpoint(Recorder, local_addr=(host, 0))
        server_addr = st.get_extra_info("sockname")
        ct, cp = await any_loop.create_datagram_endpoint(Recorder, remote_addr=server_addr[:2])
        try:
            assert sp.events == ["made"] and cp.events == ["made"]
            assert isinstance(st, asyncio.Transport)  # as asyncio's (CPython's tests check it)
            if is_nexus(any_loop) or sys.version_info >= (3, 12):
                assert isinstance(st, asyncio.DatagramTransport)
            assert ct.get_extra_info("peername")[:2] == server_addr[:2]
            client_addr = ct.get_extra_info("sockname")
            sock = ct.get_extra_info("socket")
            assert sock.type == socket.SOCK_DGRAM and sock.fileno() >= 0
            assert st.get_extra_info("peername") is None
            assert ct.get_extra_info("nonexistent", "dflt") == "dflt"
            for i in range(5):
                ct.sendto(b"ping%d" % i)
            await wait_for_cond(lambda: len(cp.datagrams) == 5, "5 echoes")
            assert [d for d, _ in sp.datagrams] == [b"ping%d" % i for i in range(5)]
            assert {a[:2] for _, a in sp.datagrams} == {client_addr[:2]}
            assert [d for d, _ in cp.datagrams] == [b"pong%d" % i for i in range(5)]
            assert all(a[:2] == server_addr[:2] for _, a in cp.datagrams)
            assert st.get_write_buffer_size() == 0 and ct.get_write_buffer_size() == 0
        finally:
            st.close()
            ct.close()
        await wait_for_cond(lambda: sp.lost and cp.lost, "connection_lost")
        assert sp.lost == [None] and cp.lost == [None]

    run(any_loop, main())


def test_udp_unconnected_client_sendto_address(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        st, sp = await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        ct, cp = await any_loop.create_datagram_endpoint(
            Recorder, family=socket.AF_INET
        )
        try:
            assert ct.get_extra_info("peername") is None
            addr = st.get_extra_info("sockname")
            ct.sendto(b"ping-a", addr)
            ct.sendto(bytearray(b"ping-b"), addr)
            ct.sendto(memoryview(b"xxping-c")[2:], addr)
            await wait_for_cond(lambda: len(cp.datagrams) == 3, "3 echoes")
            assert [d for d, _ in cp.datagrams] == [b"pong-a", b"pong-b", b"pong-c"]
        finally:
            st.close()
            ct.close()
        await wait_for_cond(lambda: sp.lost and cp.lost, "connection_lost")

    run(any_loop, main())


def test_host_name_is_resolved(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        st, sp = await any_loop.create_datagram_endpoint(
            Recorder, local_addr=("localhost", 0), family=socket.AF_INET
        )
        port = st.get_extra_info("sockname")[1]
        ct, cp = await any_loop.create_datagram_endpoint(
            Recorder, remote_addr=("localhost", port), family=socket.AF_INET
        )
        ct.sendto(b"ping")
        await wait_for_cond(lambda: cp.datagrams, "echo")
        st.close()
        ct.close()
        await wait_for_cond(lambda: sp.lost and cp.lost, "connection_lost")

    run(any_loop, main())


def test_connected_sendto_address_rules(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        st, sp = await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        addr = st.get_extra_info("sockname")
        ct, cp = await any_loop.create_datagram_endpoint(Recorder, remote_addr=addr)
        try:
            with pytest.raises(ValueError, match="Invalid address: must be None or"):
                ct.sendto(b"x", ("127.0.0.1", addr[1] + 1 if addr[1] < 65535 else 1))
            ct.sendto(b"one", addr)  # the address it was created with is accepted
            ct.sendto(b"two", None)
            await wait_for_cond(lambda: len(sp.datagrams) == 2, "2 datagrams")
            assert [d for d, _ in sp.datagrams] == [b"one", b"two"]
            with pytest.raises(TypeError, match="data argument must be a bytes-like object"):
                ct.sendto("text")  # type: ignore[arg-type]
            assert not ct.is_closing()
        finally:
            st.close()
            ct.close()
        await wait_for_cond(lambda: sp.lost and cp.lost, "connection_lost")

    run(any_loop, main())


def test_empty_datagram(any_loop: asyncio.AbstractEventLoop) -> None:
    # nexusloop sends b"" as an empty datagram (CPython 3.13+); CPython 3.11/3.12 drop it.
    sends_empty = is_nexus(any_loop) or sys.version_info >= (3, 13)

    async def main() -> None:
        st, sp = await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        ct, cp = await any_loop.create_datagram_endpoint(
            Recorder, remote_addr=st.get_extra_info("sockname")
        )
        ct.sendto(b"")
        ct.sendto(b"after")
        await wait_for_cond(lambda: any(d == b"after" for d, _ in sp.datagrams), "datagram")
        expected = [b"", b"after"] if sends_empty else [b"after"]
        assert [d for d, _ in sp.datagrams] == expected
        st.close()
        ct.close()
        await wait_for_cond(lambda: sp.lost and cp.lost, "connection_lost")

    run(any_loop, main())


def test_connection_made_before_datagrams(any_loop: asyncio.AbstractEventLoop) -> None:
    """A datagram already queued on the socket reaches the protocol only after connection_made."""

    async def main() -> None:
        rsock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rsock.bind(("127.0.0.1", 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"early", rsock.getsockname())
        t, p = await any_loop.create_datagram_endpoint(Recorder, sock=rsock)
        assert rsock.gettimeout() == 0  # made non-blocking
        await wait_for_cond(lambda: p.datagrams, "early datagram")
        assert p.events[:2] == ["made", "datagram"]
        t.close()
        await wait_for_cond(lambda: p.lost, "connection_lost")
        assert rsock.fileno() == -1  # the transport closed the socket it was given

    run(any_loop, main())


# ------------------------------------------------------------------------- addresses
# Compiled, nexusloop receives and sends with raw system calls and builds and converts
# addresses itself; these check the result against the socket module's own.


def _family_host(family: str) -> tuple[socket.AddressFamily, str]:
    if family == "ipv6" and not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    return (socket.AF_INET, "127.0.0.1") if family == "ipv4" else (socket.AF_INET6, "::1")


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_received_addresses_are_socket_recvfrom_addresses(
    any_loop: asyncio.AbstractEventLoop, sockets: list[socket.socket], family: str
) -> None:
    """datagram_received gets the address tuple socket.recvfrom() gives for the same sender,
    also when datagrams from several senders interleave."""
    af, host = _family_host(family)
    senders = []
    for _ in range(3):
        s = socket.socket(af, socket.SOCK_DGRAM)
        sockets.append(s)
        s.bind((host, 0))
        senders.append(s)
    plain = socket.socket(af, socket.SOCK_DGRAM)
    sockets.append(plain)
    plain.bind((host, 0))
    plain.settimeout(HANG_GUARD)

    async def main() -> None:
        t, p = await any_loop.create_datagram_endpoint(Recorder, local_addr=(host, 0))
        try:
            addr = t.get_extra_info("sockname")
            expected = []
            for i in [0, 1, 1, 2, 0, 2, 1, 0]:
                senders[i].sendto(b"x", plain.getsockname())
                _, reference = plain.recvfrom(16)
                senders[i].sendto(b"d%d" % i, addr)
                expected.append((b"d%d" % i, reference))
                await wait_for_cond(lambda: len(p.datagrams) == len(expected), "datagram")
            assert p.datagrams == expected
            for (_, got), (_, want) in zip(p.datagrams, expected, strict=True):
                assert type(got) is tuple and len(got) == (2 if af == socket.AF_INET else 4)
                assert [type(v) for v in got] == [type(v) for v in want] == (
                    [str, int] if af == socket.AF_INET else [str, int, int, int]
                )
            assert expected[0][1] == senders[0].getsockname()
        finally:
            t.close()
        await wait_for_cond(lambda: p.lost, "connection_lost")

    run(any_loop, main())


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_sendto_address_forms(
    any_loop: asyncio.AbstractEventLoop, sockets: list[socket.socket], family: str
) -> None:
    """Every address form socket.sendto() takes reaches the peer: numeric IPs (IPv6 with or
    without flowinfo and scope id), host names (resolved by the socket module), bytes hosts,
    tuple subclasses; the same address object twice; the reply to a received address."""
    af, host = _family_host(family)
    peer = socket.socket(af, socket.SOCK_DGRAM)
    sockets.append(peer)
    peer.bind((host, 0))
    peer.settimeout(HANG_GUARD)
    port = peer.getsockname()[1]
    Pair = collections.namedtuple("Pair", "host port")
    forms: list[Any] = [(host, port), (host.encode(), port), Pair(host, port), ("localhost", port)]
    if af == socket.AF_INET6:
        forms += [(host, port, 0), (host, port, 0, 0)]

    async def main() -> None:
        t, p = await any_loop.create_datagram_endpoint(Recorder, local_addr=(host, 0))
        try:
            me = t.get_extra_info("sockname")
            for i, form in enumerate(forms):
                if form[0] == "localhost":
                    try:
                        socket.getaddrinfo("localhost", port, af, socket.SOCK_DGRAM)
                    except socket.gaierror:
                        continue  # no "localhost" of this family here
                for _ in range(2):  # the same object twice
                    t.sendto(b"f%d" % i, form)
                    data, sender = await any_loop.run_in_executor(None, peer.recvfrom, 64)
                    assert (data, sender[:2]) == (b"f%d" % i, me[:2])
            assert p.errors == [] and not t.is_closing()
            # Replies to a received address (the object datagram_received was given).
            peer.sendto(b"ping-back", me)
            await wait_for_cond(lambda: p.datagrams, "datagram")
            data, sender = await any_loop.run_in_executor(None, peer.recvfrom, 64)
            assert data == b"pong-back" and sender[:2] == me[:2]
        finally:
            t.close()
        await wait_for_cond(lambda: p.lost, "connection_lost")

    run(any_loop, main())


@pytest.mark.parametrize(
    "addr, error",
    [
        (("127.0.0.1", 70000), OverflowError),
        (("127.0.0.1", -1), OverflowError),
        (["127.0.0.1", 9], TypeError),
        (("127.0.0.1", "9"), TypeError),
        (("127.0.0.1\x00junk", 9), TypeError),
        (("127.0.0.1", 9, 0), TypeError),
    ],
)
def test_sendto_bad_address_is_fatal_as_in_asyncio(
    any_loop: asyncio.AbstractEventLoop, addr: Any, error: type[BaseException]
) -> None:
    # socket.sendto() raises something other than OSError: asyncio's fatal error.
    contexts: list[dict[str, Any]] = []
    any_loop.set_exception_handler(lambda loop, ctx: contexts.append(ctx))

    async def main() -> None:
        t, p = await any_loop.create_datagram_endpoint(Recorder, family=socket.AF_INET)
        t.sendto(b"x", addr)
        assert t.is_closing()
        await wait_for_cond(lambda: p.lost, "connection_lost")
        assert len(p.lost) == 1 and type(p.lost[0]) is error
        assert contexts and contexts[0]["message"] == "Fatal write error on datagram transport"

    run(any_loop, main())


def test_sendto_non_contiguous_memoryview_is_fatal_as_in_asyncio(
    any_loop: asyncio.AbstractEventLoop, sockets: list[socket.socket]
) -> None:
    data = memoryview(b"abcdef")[::2]
    plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sockets.append(plain)
    with pytest.raises(Exception) as info:
        plain.sendto(data, ("127.0.0.1", 9))
    any_loop.set_exception_handler(lambda loop, ctx: None)

    async def main() -> None:
        t, p = await any_loop.create_datagram_endpoint(Recorder, family=socket.AF_INET)
        t.sendto(data, ("127.0.0.1", 9))
        await wait_for_cond(lambda: p.lost, "connection_lost")
        assert type(p.lost[0]) is info.type  # socket.sendto()'s own error

    run(any_loop, main())


_AUDIT_SCRIPT = r"""
import asyncio, socket, sys

import nexusloop

events = []
deny = []


def hook(event, args):
    if event == "socket.sendto":
        events.append(args[1])
        if deny:
            raise PermissionError("sendto denied by an audit hook")


sys.addaudithook(hook)


class Proto(asyncio.DatagramProtocol):
    def __init__(self):
        self.errors = []

    def error_received(self, exc):
        self.errors.append(type(exc).__name__)


async def main(loop):
    events.clear()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(5)
    addr = peer.getsockname()
    t, p = await loop.create_datagram_endpoint(Proto, family=socket.AF_INET)
    t.sendto(b"a", addr)
    t.sendto(b"b", addr)  # the same address object: an event again
    deny.append(True)
    t.sendto(b"c", addr)  # refused by the hook: error_received, nothing sent
    deny.clear()
    c, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=addr)
    sent_with_address = len(events)
    c.sendto(b"d")  # a connected endpoint sends with send(): no socket.sendto event
    got = [peer.recv(16) for _ in range(3)]
    t.close()
    c.close()
    peer.close()
    await asyncio.sleep(0.01)
    return [e == addr for e in events], sent_with_address == len(events), got, p.errors


for name, factory in (("asyncio", asyncio.new_event_loop), ("nexusloop", nexusloop.new_event_loop)):
    loop = factory()
    print(name, loop.run_until_complete(main(loop)))
    loop.close()
"""


def test_sendto_raises_the_socket_sendto_audit_event(tmp_path: Any) -> None:
    """sys.addaudithook sees every sendto() to an address, as from socket.sendto(), and a hook
    that raises stops the datagram (error_received). In a child process: an audit hook cannot
    be removed."""
    import subprocess

    script = tmp_path / "audit.py"
    script.write_text(_AUDIT_SCRIPT)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(nexusloop.__file__)))
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": package_parent},
    )
    assert proc.returncode == 0, proc.stderr
    results = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines())
    expected = "([True, True, True], True, [b'a', b'b', b'd'], ['PermissionError'])"
    assert results == {"asyncio": expected, "nexusloop": expected}, proc.stdout + proc.stderr


# ----------------------------------------------------------------------- Unix datagram


def test_unix_datagram_echo_with_stale_socket_file(
    any_loop: asyncio.AbstractEventLoop, tmpdir_short: str
) -> None:
    server_path = os.path.join(tmpdir_short, "srv")
    client_path = os.path.join(tmpdir_short, "cli")
    # A socket file left behind by a previous process: bind() alone would fail (EADDRINUSE).
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as stale:
        stale.bind(server_path)
    assert os.path.exists(server_path)

    async def main() -> None:
        st, sp = await any_loop.create_datagram_endpoint(
            Recorder, local_addr=server_path, family=socket.AF_UNIX
        )
        ct, cp = await any_loop.create_datagram_endpoint(
            Recorder, local_addr=client_path, remote_addr=server_path, family=socket.AF_UNIX
        )
        try:
            assert st.get_extra_info("sockname") == server_path
            assert ct.get_extra_info("peername") == server_path
            ct.sendto(b"ping-unix")
            ct.sendto(b"ping-unix2", server_path)
            await wait_for_cond(lambda: len(cp.datagrams) == 2, "2 echoes")
            assert cp.datagrams == [(b"pong-unix", server_path), (b"pong-unix2", server_path)]
            assert sp.datagrams[0] == (b"ping-unix", client_path)
        finally:
            st.close()
            ct.close()
        await wait_for_cond(lambda: sp.lost and cp.lost, "connection_lost")

    run(any_loop, main())


def test_unix_datagram_regular_file_is_not_removed(
    any_loop: asyncio.AbstractEventLoop, tmpdir_short: str
) -> None:
    path = os.path.join(tmpdir_short, "file")
    with open(path, "wb") as f:
        f.write(b"keep me")

    async def main() -> None:
        with pytest.raises(OSError) as info:
            await any_loop.create_datagram_endpoint(
                Recorder, local_addr=path, family=socket.AF_UNIX
            )
        assert info.value.errno == errno.EADDRINUSE

    run(any_loop, main())
    with open(path, "rb") as f:
        assert f.read() == b"keep me"


def test_unix_datagram_missing_remote_path(
    any_loop: asyncio.AbstractEventLoop, tmpdir_short: str
) -> None:
    async def main() -> None:
        with pytest.raises(FileNotFoundError):
            await any_loop.create_datagram_endpoint(
                Recorder, remote_addr=os.path.join(tmpdir_short, "nobody"), family=socket.AF_UNIX
            )

    run(any_loop, main())


def test_unix_datagram_requires_str_addresses(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="string is expected"):
            await any_loop.create_datagram_endpoint(
                Recorder, local_addr=("127.0.0.1", 0), family=socket.AF_UNIX
            )
        with pytest.raises(TypeError, match="string is expected"):
            await any_loop.create_datagram_endpoint(
                Recorder, remote_addr=b"/tmp/x", family=socket.AF_UNIX
            )

    run(any_loop, main())


# ----------------------------------------------------------------- socket options


def test_allow_broadcast(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        st, sp = await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        addr = st.get_extra_info("sockname")
        ct, cp = await any_loop.create_datagram_endpoint(
            Recorder, remote_addr=addr, allow_broadcast=True
        )
        try:
            sock = ct.get_extra_info("socket")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST)
            # With allow_broadcast the remote address is recorded, not connected to.
            assert ct.get_extra_info("peername") is None
            ct.sendto(b"ping")
            await wait_for_cond(lambda: cp.datagrams, "echo")
            assert cp.datagrams[0][0] == b"pong"
            with pytest.raises(ValueError, match="Invalid address"):
                ct.sendto(b"x", ("127.0.0.2", 9))
        finally:
            st.close()
            ct.close()
        await wait_for_cond(lambda: sp.lost and cp.lost, "connection_lost")

    run(any_loop, main())


def test_broadcast_not_set_by_default(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        t, p = await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        assert not t.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST)
        t.close()
        await wait_for_cond(lambda: p.lost, "connection_lost")

    run(any_loop, main())


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
def test_reuse_port(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        t1, p1 = await any_loop.create_datagram_endpoint(
            Recorder, local_addr=("127.0.0.1", 0), reuse_port=True
        )
        port = t1.get_extra_info("sockname")[1]
        t2, p2 = await any_loop.create_datagram_endpoint(
            Recorder, local_addr=("127.0.0.1", port), reuse_port=True
        )
        assert t2.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        # Without reuse_port the port is taken.
        with pytest.raises(OSError) as info:
            await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", port))
        assert info.value.errno == errno.EADDRINUSE
        t1.close()
        t2.close()
        await wait_for_cond(lambda: p1.lost and p2.lost, "connection_lost")

    run(any_loop, main())


def test_reuse_address_is_not_a_parameter(any_loop: asyncio.AbstractEventLoop) -> None:
    # Python 3.11 removed it (it was a ValueError since 3.8.1): now a TypeError on every loop.
    async def main() -> None:
        for value in (True, False, None):
            with pytest.raises(TypeError, match="reuse_address"):
                await any_loop.create_datagram_endpoint(  # type: ignore[call-arg]
                    Recorder, local_addr=("127.0.0.1", 0), reuse_address=value
                )

    run(any_loop, main())


# ---------------------------------------------------------------- bad arguments


def test_sock_with_other_arguments(
    any_loop: asyncio.AbstractEventLoop, sockets: list[socket.socket]
) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sockets.append(sock)

    async def main() -> None:
        for kwargs in (
            {"local_addr": ("127.0.0.1", 0)},
            {"remote_addr": ("127.0.0.1", 9)},
            {"family": socket.AF_INET},
            {"proto": socket.IPPROTO_UDP},
            {"flags": socket.AI_PASSIVE},
            {"reuse_port": True},
            {"allow_broadcast": True},
        ):
            (name, value), = kwargs.items()
            with pytest.raises(
                ValueError,
                match=r"socket modifier keyword arguments can not be used when sock is "
                r"specified\. \(" + name + "=",
            ):
                await any_loop.create_datagram_endpoint(Recorder, sock=sock, **kwargs)
        assert sock.fileno() != -1  # the caller's socket is left alone

    run(any_loop, main())


def test_sock_must_be_datagram(
    any_loop: asyncio.AbstractEventLoop, sockets: list[socket.socket]
) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sockets.append(sock)
    message = "A datagram socket was expected" if sys.version_info >= (3, 13) else (
        "A UDP Socket was expected"
    )

    async def main() -> None:
        with pytest.raises(ValueError, match=message):
            await any_loop.create_datagram_endpoint(Recorder, sock=sock)

    run(any_loop, main())


def test_bad_address_arguments(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="unexpected address family"):
            await any_loop.create_datagram_endpoint(Recorder)
        with pytest.raises(TypeError, match="2-tuple is expected"):
            await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1",))
        with pytest.raises(TypeError, match="2-tuple is expected"):
            await any_loop.create_datagram_endpoint(Recorder, remote_addr=["127.0.0.1", 9])
        with pytest.raises(TypeError, match="2-tuple is expected"):
            await any_loop.create_datagram_endpoint(Recorder, local_addr="/tmp/x")
        if socket.has_ipv6:
            # No family in which both addresses resolve.
            with pytest.raises(ValueError, match="can not get address information"):
                await any_loop.create_datagram_endpoint(
                    Recorder, local_addr=("127.0.0.1", 0), remote_addr=("::1", 9)
                )

    run(any_loop, main())


def test_bind_failure_raises_oserror(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        t, p = await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        port = t.get_extra_info("sockname")[1]
        with pytest.raises(OSError) as info:
            await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", port))
        assert info.value.errno == errno.EADDRINUSE
        t.close()
        await wait_for_cond(lambda: p.lost, "connection_lost")

    run(any_loop, main())


def test_family_only_endpoint(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        t, p = await any_loop.create_datagram_endpoint(Recorder, family=socket.AF_INET)
        sock = t.get_extra_info("socket")
        assert sock.family == socket.AF_INET and sock.type == socket.SOCK_DGRAM
        assert t.get_extra_info("peername") is None
        t.close()
        await wait_for_cond(lambda: p.lost, "connection_lost")

    run(any_loop, main())


def test_protocol_factory_error_propagates(any_loop: asyncio.AbstractEventLoop) -> None:
    def factory() -> asyncio.DatagramProtocol:
        raise ZeroDivisionError

    async def main() -> None:
        with pytest.raises(ZeroDivisionError):
            await any_loop.create_datagram_endpoint(factory, local_addr=("127.0.0.1", 0))

    with warnings.catch_warnings():
        # The stock loop leaves the socket to the garbage collector (a ResourceWarning).
        warnings.simplefilter("ignore", ResourceWarning)
        run(any_loop, main())
        gc.collect()


def test_sendto_without_address_on_unconnected_endpoint_is_fatal(
    any_loop: asyncio.AbstractEventLoop,
) -> None:
    # asyncio passes None to socket.sendto(): a TypeError, reported and fatal to the transport.
    contexts: list[dict[str, Any]] = []
    any_loop.set_exception_handler(lambda loop, ctx: contexts.append(ctx))

    async def main() -> None:
        t, p = await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        t.sendto(b"nowhere")
        assert t.is_closing()
        await wait_for_cond(lambda: p.lost, "connection_lost")
        assert len(p.lost) == 1 and isinstance(p.lost[0], TypeError)
        assert len(contexts) == 1
        assert contexts[0]["message"] == "Fatal write error on datagram transport"
        assert contexts[0]["transport"] is t

    run(any_loop, main())


# ------------------------------------------------------------ errors from the network


def test_error_received_on_icmp_port_unreachable(any_loop: asyncio.AbstractEventLoop) -> None:
    port = closed_udp_port()

    async def main() -> None:
        t, p = await any_loop.create_datagram_endpoint(
            Recorder, remote_addr=("127.0.0.1", port)
        )
        try:
            # The first send succeeds; the ICMP error arrives on the socket afterwards and the
            # next receive (or send) reports it.
            for _ in range(100):
                t.sendto(b"anyone?")
                if p.errors:
                    break
                await asyncio.sleep(0.01)
            await wait_for_cond(lambda: p.errors, "error_received")
            assert isinstance(p.errors[0], ConnectionRefusedError)
            assert not t.is_closing()  # an error on a datagram socket is not fatal
            assert p.lost == []
        finally:
            t.close()
        await wait_for_cond(lambda: p.lost, "connection_lost")
        assert p.lost == [None]

    run(any_loop, main())


def test_error_received_on_sendto_oserror(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        t, p = await any_loop.create_datagram_endpoint(Recorder, family=socket.AF_INET)
        # Broadcast without SO_BROADCAST: sendto() fails with EACCES.
        t.sendto(b"x", ("255.255.255.255", 9))
        assert len(p.errors) == 1 and isinstance(p.errors[0], PermissionError)
        assert not t.is_closing()
        t.close()
        await wait_for_cond(lambda: p.lost, "connection_lost")
        assert p.lost == [None]

    run(any_loop, main())


def test_datagram_received_exception_goes_to_handler(any_loop: asyncio.AbstractEventLoop) -> None:
    contexts: list[dict[str, Any]] = []
    any_loop.set_exception_handler(lambda loop, ctx: contexts.append(ctx))

    class Raising(Recorder):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            super().datagram_received(data, addr)
            if data == b"boom":
                raise ZeroDivisionError

    async def main() -> None:
        st, sp = await any_loop.create_datagram_endpoint(Raising, local_addr=("127.0.0.1", 0))
        ct, cp = await any_loop.create_datagram_endpoint(
            Recorder, remote_addr=st.get_extra_info("sockname")
        )
        ct.sendto(b"boom")
        await wait_for_cond(lambda: contexts, "exception handler")
        assert isinstance(contexts[0]["exception"], ZeroDivisionError)
        assert not st.is_closing()  # the transport carries on
        ct.sendto(b"ping")
        await wait_for_cond(lambda: cp.datagrams, "echo after the exception")
        st.close()
        ct.close()
        await wait_for_cond(lambda: sp.lost and cp.lost, "connection_lost")

    run(any_loop, main())


# --------------------------------------------------------- flow control and closing


class UnixFlood:
    """A client endpoint connected to a bound Unix datagram socket that nobody reads.

    A Unix datagram peer's receive queue is bounded and the sender gets EAGAIN when it is full,
    so the transport really queues datagrams (on loopback UDP the kernel drops them instead).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, directory: str) -> None:
        self.loop = loop
        self.path = os.path.join(directory, "sink")
        self.sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sink.bind(self.path)
        self.sink.setblocking(False)
        self.transport: Any = None
        self.protocol: Recorder = Recorder()
        self.received: list[bytes] = []

    async def connect(self) -> None:
        self.transport, _ = await self.loop.create_datagram_endpoint(
            lambda: self.protocol, remote_addr=self.path, family=socket.AF_UNIX
        )

    def fill(self, payload: bytes, until: Callable[[], bool]) -> int:
        """sendto() until ``until()``; return how many datagrams were given."""
        for n in range(1, 200_000):
            self.transport.sendto(payload)
            if until():
                return n
        pytest.fail("the transport never queued (peer queue never full?)")

    def drain(self) -> None:
        while True:
            try:
                self.received.append(self.sink.recv(65536))
            except BlockingIOError:
                return

    def close(self) -> None:
        self.sink.close()


@pytest.fixture
def flood(any_loop: asyncio.AbstractEventLoop, tmpdir_short: str) -> Iterator[UnixFlood]:
    f = UnixFlood(any_loop, tmpdir_short)
    yield f
    f.close()


def header(loop: asyncio.AbstractEventLoop) -> int:
    # Bytes counted per queued datagram besides its payload: 8 on nexusloop (CPython 3.13 with
    # the gh-135444 fix), 0 on the 3.11/3.12 stock loop.
    return 8 if is_nexus(loop) or sys.version_info >= (3, 13) else 0


# Stock asyncio 3.13.0 to 3.13.5 (gh-135444, fixed in 3.13.6): sendto() counts len(data) + 8 for
# a datagram it queues, but _sendto_ready() takes only len(data) off when it sends it, so every
# datagram that went through the queue leaves 8 bytes in get_write_buffer_size() for good.
STOCK_QUEUE_SIZE_NEVER_DRAINS = (3, 13) <= sys.version_info < (3, 13, 6)


def test_write_buffer_limits(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        t, p = await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        try:
            assert t.get_write_buffer_limits() == (16384, 65536)
            t.set_write_buffer_limits(high=1000)
            assert t.get_write_buffer_limits() == (250, 1000)
            t.set_write_buffer_limits(low=100)
            assert t.get_write_buffer_limits() == (100, 400)
            t.set_write_buffer_limits(high=10, low=10)
            assert t.get_write_buffer_limits() == (10, 10)
            with pytest.raises(ValueError, match=r"high \(4\) must be >= low \(8\) must be >= 0"):
                t.set_write_buffer_limits(high=4, low=8)
            with pytest.raises(ValueError):
                t.set_write_buffer_limits(high=-1)
            assert t.get_write_buffer_limits() == (10, 10)
        finally:
            t.close()
        await wait_for_cond(lambda: p.lost, "connection_lost")

    run(any_loop, main())


def test_flow_control_pause_and_resume(
    any_loop: asyncio.AbstractEventLoop, flood: UnixFlood
) -> None:
    if STOCK_QUEUE_SIZE_NEVER_DRAINS and not is_nexus(any_loop):
        pytest.skip(
            "stock asyncio 3.13.0-3.13.5 leaves 8 bytes in get_write_buffer_size() for every "
            "datagram sent from the queue, so it never returns to 0 (asyncio bug gh-135444)"
        )

    async def main() -> None:
        await flood.connect()
        t, p = flood.transport, flood.protocol
        t.set_write_buffer_limits(high=4096, low=1024)
        payload = b"x" * 512
        given = flood.fill(payload, lambda: "pause" in p.events)
        # Paused as soon as the queue grew past the high-water mark, once.
        size = t.get_write_buffer_size()
        assert size > 4096
        queued = size // (len(payload) + header(any_loop))
        assert size == queued * (len(payload) + header(any_loop))
        assert p.events.count("pause") == 1
        # Keep sending while paused: still queued, no second pause_writing.
        t.sendto(payload)
        given += 1
        assert p.events.count("pause") == 1
        assert t.get_write_buffer_size() == size + len(payload) + header(any_loop)
        # The reader drains the sink: the transport sends its queue and resumes the protocol.
        while "resume" not in p.events or t.get_write_buffer_size():
            flood.drain()
            await asyncio.sleep(0.005)
        flood.drain()
        await wait_for_cond(lambda: (flood.drain() or len(flood.received)) == given, "all sent")
        assert flood.received == [payload] * given  # none lost, in order
        assert p.events.count("resume") == 1
        assert p.events.index("pause") < p.events.index("resume")
        t.close()
        await wait_for_cond(lambda: p.lost, "connection_lost")
        assert p.lost == [None]

    run(any_loop, main())


def test_set_write_buffer_limits_pauses_at_once(
    any_loop: asyncio.AbstractEventLoop, flood: UnixFlood
) -> None:
    async def main() -> None:
        await flood.connect()
        t, p = flood.transport, flood.protocol
        flood.fill(b"y" * 100, lambda: t.get_write_buffer_size() > 0)
        assert "pause" not in p.events
        t.set_write_buffer_limits(high=0)
        assert p.events.count("pause") == 1
        t.abort()
        await wait_for_cond(lambda: p.lost, "connection_lost")

    run(any_loop, main())


def test_close_waits_for_the_queue(any_loop: asyncio.AbstractEventLoop, flood: UnixFlood) -> None:
    async def main() -> None:
        await flood.connect()
        t, p = flood.transport, flood.protocol
        given = flood.fill(b"z" * 256, lambda: t.get_write_buffer_size() > 2000)
        t.close()
        assert t.is_closing()
        t.sendto(b"z" * 256)  # still queued while the queue drains, as asyncio
        given += 1
        t.close()  # idempotent
        await asyncio.sleep(0.05)
        assert p.lost == []  # not before the queue has drained
        while not p.lost:
            flood.drain()
            await asyncio.sleep(0.005)
        flood.drain()
        assert flood.received == [b"z" * 256] * given
        assert p.lost == [None]
        await asyncio.sleep(0.02)
        assert p.lost == [None]  # exactly once

    run(any_loop, main())


def test_abort_drops_the_queue(any_loop: asyncio.AbstractEventLoop, flood: UnixFlood) -> None:
    async def main() -> None:
        await flood.connect()
        t, p = flood.transport, flood.protocol
        flood.fill(b"q" * 256, lambda: t.get_write_buffer_size() > 0)
        t.abort()
        assert t.is_closing()
        if is_nexus(any_loop):
            # The stock loop clears the queue but not its size counter (an asyncio bug).
            assert t.get_write_buffer_size() == 0
        assert p.lost == []  # called soon, not from abort() itself
        t.abort()
        t.close()
        await wait_for_cond(lambda: p.lost, "connection_lost")
        await asyncio.sleep(0.02)
        assert p.lost == [None]

    run(any_loop, main())


def test_close_then_abort_calls_connection_lost_once(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        t, p = await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        t.close()
        t.abort()
        t.close()
        await wait_for_cond(lambda: p.lost, "connection_lost")
        await asyncio.sleep(0.02)
        assert p.lost == [None]
        assert p.events == ["made", "lost"]

    run(any_loop, main())


def test_sendto_after_connection_lost_warns(
    any_loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        st, sp = await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        ct, cp = await any_loop.create_datagram_endpoint(
            Recorder, remote_addr=st.get_extra_info("sockname")
        )
        ct.close()
        await wait_for_cond(lambda: cp.lost, "connection_lost")
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            for _ in range(3):
                ct.sendto(b"late")  # no exception
            assert not [r for r in caplog.records if "socket.send() raised" in r.message]
            for _ in range(3):
                ct.sendto(b"late")
            assert [r for r in caplog.records if "socket.send() raised" in r.message]
        await asyncio.sleep(0.02)
        assert sp.datagrams == []
        st.close()
        await wait_for_cond(lambda: sp.lost, "connection_lost")

    run(any_loop, main())


def test_pause_and_resume_reading(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        st, sp = await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        ct, cp = await any_loop.create_datagram_endpoint(
            Recorder, remote_addr=st.get_extra_info("sockname")
        )
        assert st.is_reading()
        st.pause_reading()
        assert not st.is_reading()
        ct.sendto(b"held")
        await asyncio.sleep(0.05)
        assert sp.datagrams == []
        st.resume_reading()
        await wait_for_cond(lambda: sp.datagrams, "datagram after resume")
        st.close()
        assert not st.is_reading()
        ct.close()
        await wait_for_cond(lambda: sp.lost and cp.lost, "connection_lost")

    run(any_loop, main())


@pytest.mark.parametrize("action", ["pause_reading", "close"])
def test_no_datagram_after_pause_or_close_in_callback(
    any_loop: asyncio.AbstractEventLoop, action: str
) -> None:
    """Many datagrams queued at once: the protocol stops them as soon as it asks to."""

    class Stopper(Recorder):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            super().datagram_received(data, addr)
            if data == b"stop":
                getattr(self.transport, action)()

    async def main() -> None:
        st, sp = await any_loop.create_datagram_endpoint(Stopper, local_addr=("127.0.0.1", 0))
        addr = st.get_extra_info("sockname")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for rnd in range(1, 4):  # several rounds, so that a batching reader sees a backlog
                for i in range(20):
                    sender.sendto(b"d%d" % i, addr)
                await wait_for_cond(lambda: len(sp.datagrams) == 20 * rnd, "a round")  # noqa: B023
            n = len(sp.datagrams)
            sender.sendto(b"stop", addr)
            for i in range(20):
                sender.sendto(b"late%d" % i, addr)
            await wait_for_cond(lambda: len(sp.datagrams) > n, "stop")
            await asyncio.sleep(0.05)
        assert sp.datagrams[-1][0] == b"stop"  # nothing delivered after it
        if action == "pause_reading":
            st.resume_reading()
            await wait_for_cond(lambda: len(sp.datagrams) == n + 21, "the rest after resuming")
            assert [d for d, _ in sp.datagrams[n + 1:]] == [b"late%d" % i for i in range(20)]
            st.close()
        await wait_for_cond(lambda: sp.lost, "connection_lost")

    run(any_loop, main())


def test_fd_is_owned_by_the_transport(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        t, p = await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        fd = t.get_extra_info("socket").fileno()
        with pytest.raises(RuntimeError, match="is used by transport"):
            any_loop.add_reader(fd, lambda: None)
        t.close()
        await wait_for_cond(lambda: p.lost, "connection_lost")

    run(any_loop, main())


def test_cancelled_creation_closes_the_transport(any_loop: asyncio.AbstractEventLoop) -> None:
    made: list[Recorder] = []
    task: asyncio.Future[Any]

    def factory() -> Recorder:
        # Cancelled while waiting for connection_made: the endpoint must not leak.
        task.cancel()
        p = Recorder()
        made.append(p)
        return p

    async def main() -> None:
        nonlocal task
        task = asyncio.ensure_future(
            any_loop.create_datagram_endpoint(factory, local_addr=("127.0.0.1", 0))
        )
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_for_cond(lambda: made[0].lost, "connection_lost")
        assert made[0].events == ["made", "lost"]
        assert made[0].lost == [None]

    run(any_loop, main())


def test_unclosed_transport_warns(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        t, p = await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        t.pause_reading()  # no registration left that keeps it alive
        with pytest.warns(ResourceWarning, match="unclosed transport"):
            del t, p
            for _ in range(3):
                gc.collect()

    run(any_loop, main())


@contextlib.contextmanager
def _debug(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    loop.set_debug(True)
    try:
        yield
    finally:
        loop.set_debug(False)


def test_debug_mode_logs_creation(
    any_loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        with caplog.at_level(logging.DEBUG, logger="asyncio"), _debug(any_loop):
            t, p = await any_loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        assert any("Datagram endpoint local_addr=" in r.message for r in caplog.records)
        t.close()
        await wait_for_cond(lambda: p.lost, "connection_lost")

    run(any_loop, main())
