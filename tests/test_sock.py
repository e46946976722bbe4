"""loop.sock_* on stock asyncio and on nexusloop: the same test body runs on both loops.

Loopback only; every socket is closed (the conftest fixture checks /proc/self/fd).
No timing assertions: ``run`` only bounds each test with a generous hang guard.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import socket
import tempfile
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

HANG_GUARD = 20.0  # seconds; only catches hangs


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, HANG_GUARD))


def completes_without_suspending(coro: Coroutine[Any, Any, Any]) -> Any:
    """Drive ``coro`` one step: it must finish at once (the fast path waits for nothing)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    pytest.fail("the coroutine suspended: the fast path registered a wait")


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """Collects sockets made by a test and closes them all afterwards."""
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


@pytest.fixture
def pair(sockets: list[socket.socket]) -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    for s in (a, b):
        s.setblocking(False)
        sockets.append(s)
    return a, b


@pytest.fixture
def listener(sockets: list[socket.socket]) -> socket.socket:
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sockets.append(lsock)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    lsock.setblocking(False)
    return lsock


@pytest.fixture
def udp_pair(sockets: list[socket.socket]) -> tuple[socket.socket, socket.socket]:
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in (a, b):
        sockets.append(s)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
    return a, b


def nonblocking_tcp(sockets: list[socket.socket], family: int = socket.AF_INET) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sockets.append(sock)
    sock.setblocking(False)
    return sock


def fill_send_buffer(sock: socket.socket) -> int:
    """Send until the kernel refuses more; return how many bytes were queued."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    total = 0
    chunk = b"x" * 65536
    while True:
        try:
            total += sock.send(chunk)
        except BlockingIOError:
            return total


# -- fast path: the data is already there ---------------------------------------------------


def test_recv_fast_path_when_data_is_queued(loop, pair):
    a, b = pair
    b.send(b"ready")
    assert completes_without_suspending(loop.sock_recv(a, 100)) == b"ready"
    assert loop.remove_reader(a.fileno()) is False


def test_recv_into_fast_path_when_data_is_queued(loop, pair):
    a, b = pair
    b.send(b"ready")
    buf = bytearray(10)
    assert completes_without_suspending(loop.sock_recv_into(a, buf)) == 5
    assert bytes(buf[:5]) == b"ready"
    assert loop.remove_reader(a.fileno()) is False


def test_sendall_fast_path_when_buffer_has_room(loop, pair):
    a, b = pair
    assert completes_without_suspending(loop.sock_sendall(a, b"hello")) is None
    assert b.recv(100) == b"hello"
    assert loop.remove_writer(a.fileno()) is False


def test_accept_fast_path_when_connection_is_queued(loop, listener, sockets):
    client = socket.create_connection(listener.getsockname())
    sockets.append(client)
    conn, peer = completes_without_suspending(loop.sock_accept(listener))
    sockets.append(conn)
    assert peer == client.getsockname()
    assert conn.gettimeout() == 0  # accepted sockets are non-blocking
    assert loop.remove_reader(listener.fileno()) is False


def test_udp_fast_paths(loop, udp_pair):
    a, b = udp_pair
    assert completes_without_suspending(loop.sock_sendto(a, b"dgram", b.getsockname())) == 5
    data, peer = completes_without_suspending(loop.sock_recvfrom(b, 100))
    assert (data, peer) == (b"dgram", a.getsockname())


# -- would-block paths ----------------------------------------------------------------------


def test_recv_waits_for_data(loop, pair):
    a, b = pair

    async def main():
        task = asyncio.ensure_future(loop.sock_recv(a, 100))
        await asyncio.sleep(0)
        assert not task.done()
        b.send(b"later")
        return await task

    assert run(loop, main()) == b"later"
    assert loop.remove_reader(a.fileno()) is False


def test_recv_returns_empty_bytes_at_eof(loop, pair):
    a, b = pair

    async def main():
        task = asyncio.ensure_future(loop.sock_recv(a, 100))
        await asyncio.sleep(0)
        b.shutdown(socket.SHUT_WR)
        return await task

    assert run(loop, main()) == b""


def test_recv_into_waits_for_data(loop, pair):
    a, b = pair
    buf = bytearray(16)

    async def main():
        task = asyncio.ensure_future(loop.sock_recv_into(a, buf))
        await asyncio.sleep(0)
        b.send(b"into")
        return await task

    assert run(loop, main()) == 4
    assert bytes(buf[:4]) == b"into"
    assert loop.remove_reader(a.fileno()) is False


def test_udp_recvfrom_and_recvfrom_into_wait_for_datagrams(loop, udp_pair):
    a, b = udp_pair

    async def main():
        first = asyncio.ensure_future(loop.sock_recvfrom(b, 100))
        await asyncio.sleep(0)
        assert await loop.sock_sendto(a, b"one", b.getsockname()) == 3
        data, peer = await first

        buf = bytearray(100)
        second = asyncio.ensure_future(loop.sock_recvfrom_into(b, buf))
        await asyncio.sleep(0)
        await loop.sock_sendto(a, b"two!", b.getsockname())
        nbytes, peer2 = await second

        # nbytes limits the read; the rest of the datagram is discarded (UDP semantics)
        await loop.sock_sendto(a, b"truncated", b.getsockname())
        small = bytearray(100)
        nbytes3, _ = await loop.sock_recvfrom_into(b, small, 3)
        return data, peer, bytes(buf[:nbytes]), peer2, bytes(small[:nbytes3])

    data, peer, data2, peer2, data3 = run(loop, main())
    assert (data, data2, data3) == (b"one", b"two!", b"tru")
    assert peer == peer2 == a.getsockname()
    assert loop.remove_reader(b.fileno()) is False


def test_sendall_continues_partial_sends_of_a_large_payload(loop, pair):
    a, b = pair
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    payload = os.urandom(1 << 20) + bytes(range(256)) * 4096  # 2 MiB: many partial sends

    async def reader():
        chunks = []
        received = 0
        while received < len(payload):
            chunk = await loop.sock_recv(b, 65536)
            assert chunk, "EOF before the whole payload arrived"
            chunks.append(chunk)
            received += len(chunk)
        return b"".join(chunks)

    async def main():
        read_task = asyncio.ensure_future(reader())
        await loop.sock_sendall(a, payload)
        return await read_task

    assert run(loop, main()) == payload
    assert loop.remove_writer(a.fileno()) is False
    assert loop.remove_reader(b.fileno()) is False


def test_sendall_accepts_any_bytes_like(loop, pair):
    a, b = pair
    run(loop, loop.sock_sendall(a, memoryview(bytearray(b"view"))))
    assert b.recv(10) == b"view"


def test_sendall_error_propagates(loop, pair):
    a, b = pair
    b.close()

    async def main():
        # The peer is gone: keep sending until the kernel reports it.
        for _ in range(100):
            await loop.sock_sendall(a, b"x" * 65536)

    with pytest.raises(OSError) as info:
        run(loop, main())
    assert info.value.errno in (errno.EPIPE, errno.ECONNRESET)


# -- connect / accept -----------------------------------------------------------------------


def test_connect_and_accept_on_loopback(loop, listener, sockets):
    client = nonblocking_tcp(sockets)

    async def main():
        accept = asyncio.ensure_future(loop.sock_accept(listener))
        await loop.sock_connect(client, listener.getsockname())
        conn, peer = await accept
        sockets.append(conn)
        assert conn.gettimeout() == 0
        assert peer == client.getsockname()
        await loop.sock_sendall(client, b"ping")
        assert await loop.sock_recv(conn, 10) == b"ping"

    run(loop, main())
    assert loop.remove_writer(client.fileno()) is False
    assert loop.remove_reader(listener.fileno()) is False


def test_accept_waits_for_a_connection(loop, listener, sockets):
    client = nonblocking_tcp(sockets)

    async def main():
        accept = asyncio.ensure_future(loop.sock_accept(listener))
        await asyncio.sleep(0)
        assert not accept.done()
        await loop.sock_connect(client, listener.getsockname())
        conn, _ = await accept
        sockets.append(conn)
        return conn

    conn = run(loop, main())
    assert conn.gettimeout() == 0
    assert loop.remove_reader(listener.fileno()) is False


def test_connect_resolves_host_names(loop, listener, sockets):
    client = nonblocking_tcp(sockets)
    port = listener.getsockname()[1]

    async def main():
        await loop.sock_connect(client, ("localhost", port))
        conn, _ = await loop.sock_accept(listener)
        sockets.append(conn)

    run(loop, main())
    assert client.getpeername() == ("127.0.0.1", port)


def test_connect_accepts_a_numeric_string_port(loop, listener, sockets):
    client = nonblocking_tcp(sockets)
    host, port = listener.getsockname()

    async def main():
        await loop.sock_connect(client, (host, str(port)))
        conn, _ = await loop.sock_accept(listener)
        sockets.append(conn)

    run(loop, main())
    assert client.getpeername() == (host, port)


def test_connect_refused(loop, sockets):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    address = probe.getsockname()
    probe.close()  # nobody listens on this port now
    client = nonblocking_tcp(sockets)

    with pytest.raises(ConnectionRefusedError):
        run(loop, loop.sock_connect(client, address))
    assert loop.remove_writer(client.fileno()) is False


@pytest.fixture
def unix_path() -> Iterator[str]:
    # A short directory: AF_UNIX paths are limited to ~108 bytes.
    directory = tempfile.mkdtemp(prefix="nx", dir="/tmp")
    try:
        yield os.path.join(directory, "s")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_unix_socket_connect_and_accept(loop, sockets, unix_path):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sockets.append(server)
    server.bind(unix_path)
    server.listen(1)
    server.setblocking(False)
    client = nonblocking_tcp(sockets, socket.AF_UNIX)

    async def main():
        await loop.sock_connect(client, unix_path)
        conn, _ = await loop.sock_accept(server)
        sockets.append(conn)
        await loop.sock_sendall(conn, b"unix")
        return await loop.sock_recv(client, 10)

    assert run(loop, main()) == b"unix"


def test_unix_connect_to_missing_path_raises(loop, sockets, unix_path):
    client = nonblocking_tcp(sockets, socket.AF_UNIX)
    with pytest.raises(FileNotFoundError):
        run(loop, loop.sock_connect(client, unix_path))


# -- cancellation leaves nothing registered ---------------------------------------------------


def test_cancelled_recv_removes_its_reader(loop, pair):
    a, b = pair

    async def main():
        task = asyncio.ensure_future(loop.sock_recv(a, 100))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)  # let the future's done-callbacks run
        # the data sent afterwards is still there for the next reader
        b.send(b"kept")
        return await loop.sock_recv(a, 100)

    assert run(loop, main()) == b"kept"
    assert loop.remove_reader(a.fileno()) is False


@pytest.mark.parametrize("method", ["sock_recv_into", "sock_recvfrom", "sock_recvfrom_into"])
def test_cancelled_receive_variants_remove_their_reader(loop, udp_pair, method):
    _, b = udp_pair
    args = (bytearray(10),) if method.endswith("_into") else (10,)

    async def main():
        task = asyncio.ensure_future(getattr(loop, method)(b, *args))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)

    run(loop, main())
    assert loop.remove_reader(b.fileno()) is False


def test_cancelled_accept_removes_its_reader(loop, listener):
    async def main():
        task = asyncio.ensure_future(loop.sock_accept(listener))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)

    run(loop, main())
    assert loop.remove_reader(listener.fileno()) is False


def test_cancelled_sendall_removes_its_writer(loop, pair):
    a, _ = pair
    fill_send_buffer(a)

    async def main():
        task = asyncio.ensure_future(loop.sock_sendall(a, b"y" * 200_000))
        await asyncio.sleep(0)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)

    run(loop, main())
    assert loop.remove_writer(a.fileno()) is False


def test_cancel_then_retry_in_the_same_tick_keeps_the_new_reader(loop, pair):
    """A cancelled recv must not remove the reader that a newer recv on the fd installed.

    The retry registers before the cancelled operation's done-callback runs; removing the
    fd unconditionally there would leave the retry waiting forever.
    """
    a, b = pair

    async def main():
        first = asyncio.ensure_future(loop.sock_recv(a, 100))
        await asyncio.sleep(0)
        retry = asyncio.ensure_future(loop.sock_recv(a, 100))  # its first step runs next
        first.cancel()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        b.send(b"for the retry")
        result = await asyncio.wait_for(retry, 5)
        assert first.cancelled()
        return result

    assert run(loop, main()) == b"for the retry"
    assert loop.remove_reader(a.fileno()) is False


def test_cancel_then_retry_sendall_keeps_the_new_writer(loop, pair):
    a, b = pair
    queued = fill_send_buffer(a)

    async def drain(nbytes):
        got = 0
        while got < nbytes:
            got += len(await loop.sock_recv(b, 1 << 16))

    async def main():
        first = asyncio.ensure_future(loop.sock_sendall(a, b"1" * 100_000))
        await asyncio.sleep(0)
        assert not first.done()
        retry = asyncio.ensure_future(loop.sock_sendall(a, b"2" * 1000))
        first.cancel()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        # Unknown how much of the cancelled payload got out: read until the retry is done.
        reader = asyncio.ensure_future(drain(queued + 1000))
        await asyncio.wait_for(retry, 5)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader

    run(loop, main())
    assert loop.remove_writer(a.fileno()) is False


def _make_probe() -> asyncio.AbstractEventLoop:
    """Stock selector loop with nexusloop's sock_* bound on top, as Loop binds them."""
    from nexusloop.net import _sock

    methods = {name: getattr(_sock, name) for name in _sock.__all__}
    cls = type("_Probe", (asyncio.SelectorEventLoop,), methods)
    return cls()


def test_sock_functions_over_handle_returning_add_reader(pair):
    """nexusloop's sock_* over a loop whose ``_add_reader`` returns Handles (CPython's)."""
    a, b = pair
    probe = _make_probe()
    assert type(probe).sock_recv.__module__ == "nexusloop.net._sock"
    try:
        async def main():
            first = asyncio.ensure_future(probe.sock_recv(a, 100))
            await asyncio.sleep(0)
            retry = asyncio.ensure_future(probe.sock_recv(a, 100))
            first.cancel()
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            b.send(b"probe")
            return await asyncio.wait_for(retry, 5)

        assert run(probe, main()) == b"probe"
        assert probe.remove_reader(a.fileno()) is False
    finally:
        probe.close()


# -- bad input ------------------------------------------------------------------------------

_ALL_METHODS = [
    ("sock_recv", lambda s: (10,)),
    ("sock_recv_into", lambda s: (bytearray(10),)),
    ("sock_recvfrom", lambda s: (10,)),
    ("sock_recvfrom_into", lambda s: (bytearray(10),)),
    ("sock_sendall", lambda s: (b"x",)),
    ("sock_sendto", lambda s: (b"x", ("127.0.0.1", 9))),
    ("sock_connect", lambda s: (("127.0.0.1", 9),)),
    ("sock_accept", lambda s: ()),
]


@pytest.mark.parametrize("method,make_args", _ALL_METHODS, ids=[m for m, _ in _ALL_METHODS])
def test_blocking_socket_is_rejected_in_debug_mode(loop, sockets, method, make_args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sockets.append(sock)
    assert sock.gettimeout() is None  # blocking
    loop.set_debug(True)
    with pytest.raises(ValueError, match="the socket must be non-blocking"):
        run(loop, getattr(loop, method)(sock, *make_args(sock)))


def test_socket_with_timeout_is_rejected_in_debug_mode(loop, pair):
    a, _ = pair
    a.settimeout(1.0)
    loop.set_debug(True)
    with pytest.raises(ValueError, match="the socket must be non-blocking"):
        run(loop, loop.sock_recv(a, 10))


def test_ssl_socket_is_rejected(loop, sockets):
    ssl = pytest.importorskip("ssl")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    raw = socket.socket()
    sockets.append(raw)
    wrapped = context.wrap_socket(raw, do_handshake_on_connect=False)
    sockets.append(wrapped)
    with pytest.raises(TypeError, match="SSLSocket"):
        run(loop, loop.sock_recv(wrapped, 10))


def test_would_block_on_a_closed_loop_raises_runtime_error(loop, pair):
    a, _ = pair
    loop.close()
    coro = loop.sock_recv(a, 10)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        coro.send(None)
    coro.close()


def test_recv_on_a_closed_socket_raises_oserror(loop, sockets):
    sock = socket.socket()
    sock.setblocking(False)
    sock.close()
    with pytest.raises(OSError):
        run(loop, loop.sock_recv(sock, 10))


def test_connect_with_unresolvable_name_raises_gaierror(loop, sockets):
    client = nonblocking_tcp(sockets)
    with pytest.raises(socket.gaierror):
        run(loop, loop.sock_connect(client, ("name.invalid", 80)))


def test_sock_methods_run_under_asyncio_run_with_the_loop_factory():
    """End to end through ``asyncio.Runner(loop_factory=...)`` on a plain socketpair."""
    nexusloop = pytest.importorskip("nexusloop")
    a, b = socket.socketpair()
    with contextlib.closing(a), contextlib.closing(b):
        a.setblocking(False)
        b.setblocking(False)

        async def main():
            loop = asyncio.get_running_loop()
            await loop.sock_sendall(a, b"runner")
            return await loop.sock_recv(b, 10)

        with asyncio.Runner(loop_factory=nexusloop.new_event_loop) as runner:
            assert runner.run(main()) == b"runner"
