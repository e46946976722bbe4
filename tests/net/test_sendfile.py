"""loop.sock_sendfile and loop.sendfile, on stock asyncio and on nexusloop.

The same test body runs on both loops (``any_loop``, which also fails a test that leaks a file
descriptor). Loopback TCP only; every socket and file is closed. No timing assertions.
"""
from __future__ import annotations

import asyncio
import errno
import io
import os
import socket
import ssl
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

import nexusloop

HANG_GUARD = 30.0  # seconds; only catches hangs
DATA = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4: larger than a socket buffer


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, HANG_GUARD))


async def wait_for_cond(cond: Callable[[], Any], what: str = "condition") -> None:
    for _ in range(4000):
        if cond():
            return
        await asyncio.sleep(0.005)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


@pytest.fixture
def tcp_pair(sockets: list[socket.socket]) -> tuple[socket.socket, socket.socket]:
    """A connected, non-blocking loopback TCP pair (sender, receiver)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        sender = socket.create_connection(listener.getsockname())
        receiver, _ = listener.accept()
    for s in (sender, receiver):
        s.setblocking(False)
        sockets.append(s)
    return sender, receiver


@pytest.fixture
def data_file() -> Iterator[Any]:
    with tempfile.TemporaryFile() as f:
        f.write(DATA)
        f.flush()
        f.seek(0)
        yield f


async def recv_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = await loop.sock_recv(sock, min(1 << 20, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


async def send_and_receive(
    loop: asyncio.AbstractEventLoop,
    pair: tuple[socket.socket, socket.socket],
    expected: int,
    file: Any,
    *args: Any,
    **kwargs: Any,
) -> tuple[int, bytes]:
    sender, receiver = pair
    reader = asyncio.ensure_future(recv_exactly(loop, receiver, expected))
    try:
        sent = await loop.sock_sendfile(sender, file, *args, **kwargs)
    except BaseException:
        reader.cancel()
        raise
    return sent, await reader


# ------------------------------------------------------------------ sock_sendfile


def test_sock_sendfile_whole_file(
    any_loop: asyncio.AbstractEventLoop, tcp_pair: Any, data_file: Any
) -> None:
    sent, got = run(any_loop, send_and_receive(any_loop, tcp_pair, len(DATA), data_file))
    assert sent == len(DATA)
    assert got == DATA
    assert data_file.tell() == len(DATA)


@pytest.mark.parametrize(
    "offset,count",
    [(0, None), (1000, None), (0, 5000), (1000, 300_000), (len(DATA) - 10, None), (7, 10**9)],
)
def test_sock_sendfile_offset_and_count(
    any_loop: asyncio.AbstractEventLoop,
    tcp_pair: Any,
    data_file: Any,
    offset: int,
    count: int | None,
) -> None:
    end = len(DATA) if count is None else min(len(DATA), offset + count)
    data_file.seek(12345)  # the native path ignores the current position
    sent, got = run(
        any_loop, send_and_receive(any_loop, tcp_pair, end - offset, data_file, offset, count)
    )
    assert sent == end - offset
    assert got == DATA[offset:end]
    assert data_file.tell() == end


def test_sock_sendfile_offset_past_the_end(
    any_loop: asyncio.AbstractEventLoop, tcp_pair: Any, data_file: Any
) -> None:
    sender, _ = tcp_pair
    sent = run(any_loop, any_loop.sock_sendfile(sender, data_file, len(DATA) + 10))
    assert sent == 0
    assert data_file.tell() == 0  # nothing sent: the position is not touched


def test_sock_sendfile_empty_file(any_loop: asyncio.AbstractEventLoop, tcp_pair: Any) -> None:
    sender, _ = tcp_pair
    with tempfile.TemporaryFile() as f:
        assert run(any_loop, any_loop.sock_sendfile(sender, f)) == 0
        assert f.tell() == 0


def test_sock_sendfile_fallback_for_a_file_without_fd(
    any_loop: asyncio.AbstractEventLoop, tcp_pair: Any
) -> None:
    f = io.BytesIO(DATA)
    sent, got = run(any_loop, send_and_receive(any_loop, tcp_pair, len(DATA) - 500, f, 500))
    assert sent == len(DATA) - 500
    assert got == DATA[500:]
    assert f.tell() == len(DATA)


def test_sock_sendfile_fallback_offset_zero_reads_from_the_current_position(
    any_loop: asyncio.AbstractEventLoop, tcp_pair: Any
) -> None:
    # asyncio's fallback seeks only for a non-zero offset; the native path always uses offset.
    f = io.BytesIO(DATA)
    f.seek(100)
    sent, got = run(any_loop, send_and_receive(any_loop, tcp_pair, len(DATA) - 100, f, 0, None))
    assert got == DATA[100:]
    assert sent == len(DATA) - 100
    assert f.tell() == len(DATA) - 100  # offset + bytes sent, as asyncio computes it


def test_sock_sendfile_fallback_with_count(
    any_loop: asyncio.AbstractEventLoop, tcp_pair: Any
) -> None:
    f = io.BytesIO(DATA)
    sent, got = run(any_loop, send_and_receive(any_loop, tcp_pair, 300_001, f, 3, 300_001))
    assert sent == 300_001
    assert got == DATA[3:300_004]
    assert f.tell() == 300_004


def test_sock_sendfile_no_fallback_raises(
    any_loop: asyncio.AbstractEventLoop, tcp_pair: Any
) -> None:
    sender, receiver = tcp_pair
    f = io.BytesIO(DATA)
    with pytest.raises(asyncio.SendfileNotAvailableError):
        run(any_loop, any_loop.sock_sendfile(sender, f, fallback=False))
    assert f.tell() == 0
    with pytest.raises(BlockingIOError):
        receiver.recv(1)  # nothing was sent


def test_sock_sendfile_falls_back_when_the_syscall_fails(
    any_loop: asyncio.AbstractEventLoop,
    tcp_pair: Any,
    data_file: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What a socket or file system the kernel cannot sendfile() to/from looks like.
    calls = []

    def failing_sendfile(*args: Any) -> int:
        calls.append(args)
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "sendfile", failing_sendfile)
    sent, got = run(any_loop, send_and_receive(any_loop, tcp_pair, len(DATA) - 9, data_file, 9))
    assert calls  # the native path was tried first
    assert sent == len(DATA) - 9
    assert got == DATA[9:]
    assert data_file.tell() == len(DATA)

    sender, _ = tcp_pair
    data_file.seek(0)
    with pytest.raises(asyncio.SendfileNotAvailableError, match="os.sendfile call failed"):
        run(any_loop, any_loop.sock_sendfile(sender, data_file, fallback=False))
    assert data_file.tell() == 0


def test_sock_sendfile_peer_closes_mid_transfer(
    any_loop: asyncio.AbstractEventLoop, tcp_pair: Any
) -> None:
    sender, receiver = tcp_pair
    with tempfile.TemporaryFile() as f:
        f.truncate(64 * 1024 * 1024)  # sparse: reads as zeros, far more than the buffers hold

        async def main() -> None:
            task = asyncio.ensure_future(any_loop.sock_sendfile(sender, f))
            got = await recv_exactly(any_loop, receiver, 100_000)
            assert got == bytes(100_000)
            receiver.close()  # with unread data: the sender gets a reset
            with pytest.raises(ConnectionError):
                await task

        run(any_loop, main())
        # The position says how much went out (at least what the peer read).
        assert f.tell() >= 100_000


def test_sock_sendfile_cancel_leaves_no_registration(
    any_loop: asyncio.AbstractEventLoop, tcp_pair: Any
) -> None:
    sender, receiver = tcp_pair
    with tempfile.TemporaryFile() as f:
        f.truncate(64 * 1024 * 1024)

        async def main() -> None:
            task = asyncio.ensure_future(any_loop.sock_sendfile(sender, f))
            # Let it fill the socket buffers and wait for writability.
            for _ in range(10):
                await asyncio.sleep(0.01)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # No writer is left registered for the socket...
            assert any_loop.remove_writer(sender.fileno()) is False
            # ...and the socket is usable again by the next operation.
            drained = asyncio.ensure_future(recv_exactly(any_loop, receiver, 1 << 40))
            await any_loop.sock_sendall(sender, b"after")
            sender.shutdown(socket.SHUT_WR)
            tail = await drained
            assert tail.endswith(b"after")

        run(any_loop, main())


# ------------------------------------------------------------------ argument checks


def test_sock_sendfile_bad_arguments(
    any_loop: asyncio.AbstractEventLoop,
    tcp_pair: Any,
    data_file: Any,
    sockets: list[socket.socket],
) -> None:
    sender, _ = tcp_pair
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setblocking(False)
    sockets.append(udp)

    async def main() -> None:
        with tempfile.TemporaryFile("w+") as text:
            with pytest.raises(ValueError, match="file should be opened in binary mode"):
                await any_loop.sock_sendfile(sender, text)
        with pytest.raises(ValueError, match="only SOCK_STREAM type sockets are supported"):
            await any_loop.sock_sendfile(udp, data_file)
        for count in (0, -1):
            with pytest.raises(ValueError, match="count must be a positive integer"):
                await any_loop.sock_sendfile(sender, data_file, 0, count)
        for count in ("1", 1.5):
            with pytest.raises(TypeError, match="count must be a positive integer"):
                await any_loop.sock_sendfile(sender, data_file, 0, count)
        with pytest.raises(ValueError, match="offset must be a non-negative integer"):
            await any_loop.sock_sendfile(sender, data_file, -1)
        for offset in ("0", 1.0, None):
            with pytest.raises(TypeError, match="offset must be a non-negative integer"):
                await any_loop.sock_sendfile(sender, data_file, offset)
        assert data_file.tell() == 0

    run(any_loop, main())


def test_sock_sendfile_rejects_ssl_socket(
    any_loop: asyncio.AbstractEventLoop, data_file: Any
) -> None:
    ctx = ssl.create_default_context()
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tls = ctx.wrap_socket(raw, server_hostname="example.com", do_handshake_on_connect=False)
    try:
        with pytest.raises(TypeError, match="Socket cannot be of type SSLSocket"):
            run(any_loop, any_loop.sock_sendfile(tls, data_file))
    finally:
        tls.close()
        raw.close()


def test_sock_sendfile_debug_requires_nonblocking(
    any_loop: asyncio.AbstractEventLoop, data_file: Any, sockets: list[socket.socket]
) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # blocking
    sockets.append(sock)
    any_loop.set_debug(True)
    try:
        with pytest.raises(ValueError, match="the socket must be non-blocking"):
            run(any_loop, any_loop.sock_sendfile(sock, data_file))
    finally:
        any_loop.set_debug(False)


# ------------------------------------------------------------------ loop.sendfile


class Sink(asyncio.Protocol):
    """Server side: collects bytes; optionally answers once ``expect`` bytes arrived."""

    def __init__(self, expect: int = -1) -> None:
        self.transport: Any = None
        self.data = bytearray()
        self.expect = expect
        self.lost: list[BaseException | None] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data
        if len(self.data) == self.expect:
            self.transport.write(b"ack")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost.append(exc)


class Client(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.events: list[str] = []
        self.lost: list[BaseException | None] = []

    def data_received(self, data: bytes) -> None:
        self.data += data

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost.append(exc)


async def open_pair(loop: asyncio.AbstractEventLoop, expect: int = -1) -> tuple[Any, Any, Any, Any]:
    sinks: list[Sink] = []

    def factory() -> Sink:
        sinks.append(Sink(expect))
        return sinks[-1]

    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, client = await loop.create_connection(Client, "127.0.0.1", port)
    await wait_for_cond(lambda: sinks and sinks[0].transport, "accepted")
    return server, transport, client, sinks[0]


async def close_pair(server: Any, transport: Any, client: Client, sink: Sink) -> None:
    transport.close()
    await wait_for_cond(lambda: client.lost and sink.lost, "connection_lost")
    server.close()
    await server.wait_closed()


def test_sendfile_through_transport(any_loop: asyncio.AbstractEventLoop, data_file: Any) -> None:
    total = 4 + len(DATA) + 4

    async def main() -> None:
        server, transport, client, sink = await open_pair(any_loop, expect=total)
        transport.write(b"HEAD")
        sent = await any_loop.sendfile(transport, data_file)
        assert sent == len(DATA)
        assert data_file.tell() == len(DATA)
        transport.write(b"TAIL")
        await wait_for_cond(lambda: len(sink.data) >= total, "all bytes")
        assert bytes(sink.data) == b"HEAD" + DATA + b"TAIL"
        # Reading was resumed after the transfer: the answer reaches the client.
        await wait_for_cond(lambda: client.data == b"ack", "ack")
        assert transport.is_reading()
        await close_pair(server, transport, client, sink)

    run(any_loop, main())


def test_sendfile_offset_and_count(any_loop: asyncio.AbstractEventLoop, data_file: Any) -> None:
    async def main() -> None:
        server, transport, client, sink = await open_pair(any_loop)
        sent = await any_loop.sendfile(transport, data_file, 77, 100_000)
        assert sent == 100_000
        assert data_file.tell() == 100_077
        await wait_for_cond(lambda: len(sink.data) >= 100_000, "all bytes")
        assert bytes(sink.data) == DATA[77:100_077]
        await close_pair(server, transport, client, sink)

    run(any_loop, main())


def test_sendfile_waits_for_buffered_data(
    any_loop: asyncio.AbstractEventLoop, data_file: Any
) -> None:
    big = b"B" * (8 * 1024 * 1024)  # more than the socket buffers take while nobody reads

    async def main() -> None:
        server, transport, client, sink = await open_pair(any_loop)
        sink.transport.pause_reading()
        transport.write(big)
        assert transport.get_write_buffer_size() > 0  # buffered in the transport
        task = asyncio.ensure_future(any_loop.sendfile(transport, data_file))
        await asyncio.sleep(0.02)
        assert not task.done()
        # While sendfile runs (here: waits for the buffer to drain), write() is refused.
        with pytest.raises(RuntimeError, match="sendfile is in progress"):
            transport.write(b"x")
        sink.transport.resume_reading()
        assert await task == len(DATA)
        await wait_for_cond(lambda: len(sink.data) >= len(big) + len(DATA), "all bytes")
        assert bytes(sink.data) == big + DATA  # the buffer first, then the file, nothing lost
        transport.write(b"!")  # writable again
        await wait_for_cond(lambda: sink.data.endswith(b"!"), "write after sendfile")
        await close_pair(server, transport, client, sink)

    run(any_loop, main())


def test_sendfile_cancelled_while_the_buffer_drains(
    any_loop: asyncio.AbstractEventLoop, data_file: Any
) -> None:
    if not isinstance(any_loop, nexusloop.Loop):
        # Stock asyncio, cancelled here, leaves reading paused and the empty waiter set (every
        # later write() raises "sendfile is in progress").
        pytest.skip("stock asyncio leaves the transport paused and unwritable (asyncio bug)")
    big = b"C" * (8 * 1024 * 1024)
    contexts: list[dict[str, Any]] = []
    any_loop.set_exception_handler(lambda loop, ctx: contexts.append(ctx))

    async def main() -> None:
        server, transport, client, sink = await open_pair(any_loop)
        sink.transport.pause_reading()
        transport.write(big)
        task = asyncio.ensure_future(any_loop.sendfile(transport, data_file))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert transport.is_reading()  # restored
        transport.write(b"after")  # accepted again
        sink.transport.resume_reading()
        await wait_for_cond(lambda: len(sink.data) >= len(big) + 5, "all bytes")
        assert bytes(sink.data) == big + b"after"
        assert data_file.tell() == 0  # nothing of the file was sent
        await close_pair(server, transport, client, sink)
        assert contexts == []

    run(any_loop, main())


def test_sendfile_fallback_through_transport_with_flow_control(
    any_loop: asyncio.AbstractEventLoop,
) -> None:
    payload = DATA * 16  # more than the socket buffers take while nobody reads
    f = io.BytesIO(payload)

    async def main() -> None:
        server, transport, client, sink = await open_pair(any_loop, expect=len(payload))
        transport.set_write_buffer_limits(high=1024, low=256)
        sink.transport.pause_reading()  # make the transport's buffer fill: drain() must wait
        task = asyncio.ensure_future(any_loop.sendfile(transport, f, 5))
        await asyncio.sleep(0.05)
        assert not task.done()
        assert transport.get_protocol() is not client  # the fallback protocol stands in
        sink.transport.resume_reading()
        assert await task == len(payload) - 5
        assert f.tell() == len(payload)
        assert transport.get_protocol() is client  # restored
        await wait_for_cond(lambda: len(sink.data) >= len(payload) - 5, "all bytes")
        assert bytes(sink.data) == payload[5:]
        assert client.events == []  # the fallback protocol took the flow-control callbacks
        assert transport.is_reading()
        await close_pair(server, transport, client, sink)

    run(any_loop, main())


def test_sendfile_fallback_peer_resets(any_loop: asyncio.AbstractEventLoop) -> None:
    f = io.BytesIO(DATA * 16)

    async def main() -> None:
        server, transport, client, sink = await open_pair(any_loop)
        transport.set_write_buffer_limits(high=1024, low=256)
        sink.transport.pause_reading()
        task = asyncio.ensure_future(any_loop.sendfile(transport, f))
        await asyncio.sleep(0.05)
        assert not task.done()
        sink.transport.abort()  # unread data: the client's next send gets a reset
        with pytest.raises(ConnectionError):
            await task
        await wait_for_cond(lambda: client.lost, "connection_lost")
        await asyncio.sleep(0.02)
        assert len(client.lost) == 1  # the real protocol hears of it, once
        assert transport.get_protocol() is client
        assert f.tell() > 0  # what was written through the transport
        server.close()
        await server.wait_closed()

    run(any_loop, main())


def test_sendfile_no_fallback(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server, transport, client, sink = await open_pair(any_loop)
        with pytest.raises(asyncio.SendfileNotAvailableError):
            await any_loop.sendfile(transport, io.BytesIO(DATA), fallback=False)
        # The transport is left as it was.
        assert transport.is_reading() and not transport.is_closing()
        transport.write(b"still fine")
        await wait_for_cond(lambda: sink.data == b"still fine", "write")
        await close_pair(server, transport, client, sink)

    run(any_loop, main())


def test_sendfile_bad_arguments_leave_the_transport_usable(
    any_loop: asyncio.AbstractEventLoop, data_file: Any
) -> None:
    async def main() -> None:
        server, transport, client, sink = await open_pair(any_loop)
        with pytest.raises(ValueError, match="count must be a positive integer"):
            await any_loop.sendfile(transport, data_file, 0, 0)
        with pytest.raises(TypeError, match="offset must be a non-negative integer"):
            await any_loop.sendfile(transport, data_file, "0")
        assert transport.is_reading()
        transport.write(b"ok")
        await wait_for_cond(lambda: sink.data == b"ok", "write")
        await close_pair(server, transport, client, sink)

    run(any_loop, main())


def test_sendfile_closing_transport(any_loop: asyncio.AbstractEventLoop, data_file: Any) -> None:
    async def main() -> None:
        server, transport, client, sink = await open_pair(any_loop)
        transport.close()
        with pytest.raises(RuntimeError, match="Transport is closing"):
            await any_loop.sendfile(transport, data_file)
        await wait_for_cond(lambda: client.lost and sink.lost, "connection_lost")
        server.close()
        await server.wait_closed()

    run(any_loop, main())


def test_sendfile_datagram_transport_unsupported(
    any_loop: asyncio.AbstractEventLoop, data_file: Any
) -> None:
    async def main() -> None:
        lost: list[Any] = []

        class P(asyncio.DatagramProtocol):
            def connection_lost(self, exc: BaseException | None) -> None:
                lost.append(exc)

        transport, _ = await any_loop.create_datagram_endpoint(P, local_addr=("127.0.0.1", 0))
        with pytest.raises(RuntimeError, match="sendfile is not supported for transport"):
            await any_loop.sendfile(transport, data_file)
        transport.close()
        await wait_for_cond(lambda: lost, "connection_lost")

    run(any_loop, main())


def test_sendfile_fallback_only_transport(
    any_loop: asyncio.AbstractEventLoop, data_file: Any
) -> None:
    """A transport that allows only the fallback (as TLS transports do)."""

    class FallbackOnly(asyncio.Transport):
        _sendfile_compatible = asyncio.constants._SendfileMode.FALLBACK

        def is_closing(self) -> bool:
            return False

    async def main() -> None:
        with pytest.raises(RuntimeError, match="fallback is disabled and native sendfile"):
            await any_loop.sendfile(FallbackOnly(), data_file, fallback=False)
        # Not a flow-controlled transport: asyncio's fallback refuses it.
        with pytest.raises(TypeError, match="transport should be _FlowControlMixin instance"):
            await any_loop.sendfile(FallbackOnly(), data_file)

    run(any_loop, main())
