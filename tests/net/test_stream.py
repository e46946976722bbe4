"""Stream transports (TCP and Unix) under asyncio's ``Transport`` API, on stock asyncio and nexusloop.

Every test body runs on both loops (the ``net`` fixture wraps ``any_loop``, which fails a test
that leaks a file descriptor). The fixture also fails a test that leaves a task pending, a
transport open, a ``ResourceWarning`` or an unexpected call of the loop's exception handler (a
test that expects one takes it with ``net.take_errors()``). Loopback and temporary Unix paths
only. No timing assertions: ``until`` polls a condition under a generous hang guard.
"""
from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ._harness import HANG_GUARD, Net, ticks, until

BIG = 2 * 1024 * 1024  # much more than loopback's kernel buffers hold once they are shrunk
SMALL_KERNEL_BUFFER = 32 * 1024


# --------------------------------------------------------------------------- harness


# Stock asyncio bugs that nexusloop does not share. A test that exercises one skips its stock
# parametrization on the affected Python versions and stays strict on nexusloop.
#
# Zero-copy writes (gh-91166, Python 3.12+): _SelectorSocketTransport.write() queues the caller's
# object itself (or memoryview(data)[n:] after a partial send) and writelines() queues
# memoryview(data), where 3.11 copied into its bytearray buffer. A bytearray or array the caller
# changes after write() returns changes the bytes that are sent. For a memoryview whose format is
# not bytes, get_write_buffer_size() (sum of len()) counts items instead of bytes, and after
# sendmsg() _adjust_leftover_buffer() subtracts item counts from a byte count, so it pops past
# the end of the queue (IndexError: a fatal write error that closes the connection).
STOCK_ZERO_COPY_WRITES = sys.version_info >= (3, 12)
# writelines() without write()'s connection-lost check (gh-136234, fixed in 3.13.10; 3.12 was
# security-only by then): after close() it queues the data and calls self._write_ready(), which
# close() has set to None, so it raises TypeError: 'NoneType' object is not callable.
STOCK_WRITELINES_AFTER_CLOSE_RAISES = (3, 12) <= sys.version_info < (3, 13, 10)


def pattern(start: int, size: int) -> bytes:
    """``size`` bytes of a stream whose byte ``i`` depends on ``i``: reordering shows."""
    block = bytes(range(251))  # a prime length so 4 KiB-aligned slips do not line up
    offset = start % 251
    reps = (offset + size) // 251 + 1
    return (block * reps)[offset:offset + size]


def shrink_buffers(sock: Any) -> None:
    """Small kernel buffers, so that a few MiB written are sure to queue in the transport."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_KERNEL_BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_KERNEL_BUFFER)


def grow_buffers(transport: Any) -> None:
    """Large kernel buffers again (tiny ones make loopback slow) once data is queued."""
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)


class Proto(asyncio.Protocol):
    """Records every callback; ``keep_open`` is what ``eof_received`` returns."""

    keep_open: Any = None

    def __init__(self) -> None:
        self.transport: Any = None
        self.data = bytearray()
        self.events: list[str] = []
        self.lost: list[BaseException | None] = []
        self.closed: asyncio.Future[BaseException | None] = (
            asyncio.get_running_loop().create_future()
        )

    def connection_made(self, transport: Any) -> None:
        self.events.append("made")
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.events or self.events[-1] != "data":
            self.events.append("data")
        self.data += data

    def eof_received(self) -> Any:
        self.events.append("eof")
        return self.keep_open

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        self.lost.append(exc)
        if not self.closed.done():
            self.closed.set_result(exc)


class Echo(Proto):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.transport.write(data)


class Pair:
    def __init__(self, server: Any, client: Proto, peer: Proto) -> None:
        self.server = server
        self.c = client  # the client protocol
        self.s = peer  # the server-side protocol of the same connection
        self.ct = client.transport
        self.st = peer.transport


@contextlib.asynccontextmanager
async def stream_pair(
    kind: str = "tcp",
    client: Callable[[], Any] = Proto,
    server: Callable[[], Any] = Proto,
    client_sock: socket.socket | None = None,
) -> AsyncIterator[Pair]:
    """A server, one connection to it, and both ends' protocols; all closed on exit."""
    loop = asyncio.get_running_loop()
    accepted: list[Any] = []

    def factory() -> Any:
        protocol = server()
        accepted.append(protocol)
        return protocol

    tmpdir = None
    if kind == "tcp":
        srv = await loop.create_server(factory, "127.0.0.1", 0)
        address: Any = srv.sockets[0].getsockname()
    else:
        tmpdir = tempfile.mkdtemp(prefix="nls")
        address = os.path.join(tmpdir, "s.sock")
        srv = await loop.create_unix_server(factory, address)
    protocols: list[Any] = []
    try:
        if client_sock is not None:
            client_sock.setblocking(False)
            await loop.sock_connect(client_sock, address)
            _, cp = await loop.create_connection(client, sock=client_sock)
        elif kind == "tcp":
            _, cp = await loop.create_connection(client, *address)
        else:
            _, cp = await loop.create_unix_connection(client, address)
        protocols.append(cp)
        assert cp.transport is not None  # create_connection returns after connection_made
        await until(lambda: accepted and accepted[0].transport is not None, "accept")
        protocols.append(accepted[0])
        yield Pair(srv, cp, accepted[0])
    finally:
        for protocol in protocols + accepted:
            if protocol.transport is not None and not protocol.lost:
                protocol.transport.abort()
        await until(lambda: all(_finished(p) for p in protocols + accepted), "lost")
        srv.close()
        await srv.wait_closed()
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _finished(protocol: Any) -> bool:
    """``connection_lost`` reached ``protocol`` (or its transport was handed to another)."""
    transport = protocol.transport
    return transport is None or bool(protocol.lost) or transport.get_protocol() is not protocol


KINDS = pytest.mark.parametrize("kind", ["tcp", "unix"])


# --------------------------------------------------------------------------- basics


@KINDS
def test_echo_and_connection_made_first(net: Net, kind: str) -> None:
    async def main() -> None:
        async with stream_pair(kind, server=Echo) as p:
            assert p.c.events == ["made"] and p.s.events == ["made"]
            p.ct.write(b"hello")
            await until(lambda: p.c.data == b"hello", "echo")
            assert p.s.data == b"hello"
            p.ct.close()
            assert await p.c.closed is None
            await until(lambda: p.s.lost, "server side lost")
        assert p.c.events == ["made", "data", "lost"]
        assert p.s.events == ["made", "data", "eof", "lost"]
        assert p.s.lost == [None]

    net.run(main())


@KINDS
def test_transport_is_an_asyncio_transport(net: Net, kind: str) -> None:
    async def main() -> None:
        async with stream_pair(kind) as p:
            for transport in (p.ct, p.st):
                assert isinstance(transport, asyncio.Transport)
                assert isinstance(transport, asyncio.ReadTransport)
                assert isinstance(transport, asyncio.WriteTransport)
                assert isinstance(transport, asyncio.BaseTransport)
                assert transport.get_protocol() is (p.c if transport is p.ct else p.s)
                assert not transport.is_closing()
                assert transport.can_write_eof()
                assert "fd=" in repr(transport)

    net.run(main())


@KINDS
def test_write_is_sent_at_once_when_buffer_empty(net: Net, kind: str) -> None:
    async def main() -> None:
        async with stream_pair(kind) as p:
            p.ct.write(b"abc")
            # Nothing was buffered: the kernel took it inside write().
            assert p.ct.get_write_buffer_size() == 0
            p.ct.write(bytearray(b"def"))
            p.ct.write(memoryview(b"xxghi")[2:])
            p.ct.write(b"")  # no-op
            assert p.ct.get_write_buffer_size() == 0
            await until(lambda: len(p.s.data) == 9, "9 bytes")
            assert p.s.data == b"abcdefghi"

    net.run(main())


def test_write_rejects_non_bytes(net: Net) -> None:
    async def main() -> None:
        async with stream_pair() as p:
            with pytest.raises(TypeError):
                p.ct.write("text")
            with pytest.raises(TypeError):
                p.ct.writelines([b"ok", "text"])
            with pytest.raises(TypeError):
                p.ct.write(None)

    net.run(main())


@KINDS
def test_writelines_several_buffers(net: Net, kind: str) -> None:
    async def main() -> None:
        async with stream_pair(kind) as p:
            p.ct.writelines([b"one,", bytearray(b"two,"), memoryview(b"three,"), b"", b"four"])
            p.ct.writelines(chunk for chunk in (b"|gen", b"-", b"erator"))
            p.ct.writelines([])
            expected = b"one,two,three,four|gen-erator"
            await until(lambda: len(p.s.data) >= len(expected), "writelines data")
            assert p.s.data == expected

    net.run(main())


def test_writelines_many_chunks_keep_order(net: Net) -> None:
    # More chunks than IOV_MAX (1024 on Linux) and more bytes than the kernel takes at once.
    async def main() -> None:
        sock = socket.socket()
        shrink_buffers(sock)
        async with stream_pair(client_sock=sock) as p:
            p.st.pause_reading()
            chunks = [pattern(i * 997, 997) for i in range(3000)]
            expected = b"".join(chunks)
            p.ct.writelines(chunks)
            p.ct.writelines([b"!tail"])
            assert p.ct.get_write_buffer_size() > 0
            grow_buffers(p.ct)
            p.st.resume_reading()
            await until(lambda: len(p.s.data) >= len(expected) + 5, "all chunks")
            assert p.s.data == expected + b"!tail"
            await until(lambda: p.ct.get_write_buffer_size() == 0, "drained")

    net.run(main())


def test_bytearray_reused_after_write_is_not_corrupted(net: Net) -> None:
    net.skip_stock_if(
        STOCK_ZERO_COPY_WRITES,
        "3.12+ queues the caller's bytearray (or a memoryview of it) instead of a copy (zero-copy "
        "writes, gh-91166), so changing it after write()/writelines() changes what is sent",
    )

    async def main() -> None:
        sock = socket.socket()
        shrink_buffers(sock)
        async with stream_pair(client_sock=sock) as p:
            p.st.pause_reading()
            original = pattern(0, BIG)
            buf = bytearray(original)
            p.ct.write(buf)
            assert p.ct.get_write_buffer_size() > 0  # part of it waits in the transport
            buf[:] = b"\xee" * len(buf)  # the caller reuses its buffer at once
            more = bytearray(b"second-write")
            p.ct.write(more)
            more[:] = b"X" * len(more)
            lines = [bytearray(b"line-1;"), bytearray(b"line-2")]
            p.ct.writelines(lines)
            for line in lines:
                line[:] = b"Y" * len(line)
            expected = original + b"second-write" + b"line-1;line-2"
            grow_buffers(p.ct)
            p.st.resume_reading()
            await until(lambda: len(p.s.data) >= len(expected), "all bytes")
            assert p.s.data == expected

    net.run(main())


def test_memoryview_of_non_byte_format(net: Net) -> None:
    net.skip_stock_if(
        STOCK_ZERO_COPY_WRITES,
        "3.12+ queues a non-byte memoryview as is (zero-copy writes, gh-91166): "
        "get_write_buffer_size() counts its items, not bytes, _adjust_leftover_buffer() then pops "
        "past the end of the queue (IndexError, fatal write error), and a later change to the "
        "array is sent",
    )

    async def main() -> None:
        sock = socket.socket()
        shrink_buffers(sock)
        async with stream_pair(client_sock=sock) as p:
            ints = array.array("I", range(100))
            view = memoryview(ints)
            assert view.format == "I" and len(view) == 100 and view.nbytes == 400
            p.ct.write(view)  # empty buffer: sent at once, all 400 bytes
            assert p.ct.get_write_buffer_size() == 0
            await until(lambda: len(p.s.data) >= 400, "400 bytes")
            assert p.s.data == ints.tobytes()

            # Now with data queued ahead of it: the view is buffered, by bytes, not items.
            p.s.data.clear()
            p.st.pause_reading()
            filler = pattern(0, BIG)
            p.ct.write(filler)
            size = p.ct.get_write_buffer_size()
            assert size > 0
            doubles = array.array("d", (i / 3 for i in range(5000)))
            p.ct.write(memoryview(doubles))
            assert p.ct.get_write_buffer_size() == size + 5000 * doubles.itemsize
            expected = filler + doubles.tobytes()
            doubles[0] = -1.0  # reused by the caller: must not change what is sent
            grow_buffers(p.ct)
            p.st.resume_reading()
            await until(lambda: len(p.s.data) >= len(expected), "all bytes")
            assert p.s.data == expected

    net.run(main())


def test_get_extra_info_tcp(net: Net) -> None:
    async def main() -> None:
        async with stream_pair() as p:
            server_addr = p.server.sockets[0].getsockname()
            csock = p.ct.get_extra_info("socket")
            ssock = p.st.get_extra_info("socket")
            assert csock.family == socket.AF_INET and csock.type == socket.SOCK_STREAM
            assert csock.fileno() >= 0 and ssock.fileno() >= 0
            assert p.ct.get_extra_info("peername") == server_addr
            assert p.ct.get_extra_info("sockname") == csock.getsockname()
            assert p.st.get_extra_info("sockname") == server_addr
            assert p.st.get_extra_info("peername") == p.ct.get_extra_info("sockname")
            assert p.ct.get_extra_info("no-such-key") is None
            assert p.ct.get_extra_info("no-such-key", 42) == 42

    net.run(main())


def test_get_extra_info_unix(net: Net) -> None:
    async def main() -> None:
        async with stream_pair("unix") as p:
            path = p.server.sockets[0].getsockname()
            csock = p.ct.get_extra_info("socket")
            assert csock.family == socket.AF_UNIX and csock.type == socket.SOCK_STREAM
            assert p.ct.get_extra_info("peername") == path
            assert p.ct.get_extra_info("sockname") == csock.getsockname()
            assert p.st.get_extra_info("sockname") == path
            assert p.ct.get_extra_info("unknown", "dflt") == "dflt"

    net.run(main())


def test_tcp_nodelay_is_set(net: Net) -> None:
    async def main() -> None:
        async with stream_pair() as p:
            for transport in (p.ct, p.st):
                sock = transport.get_extra_info("socket")
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0

    net.run(main())


def test_ipv6_transport(net: Net) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")

    async def main() -> None:
        server = await net.loop.create_server(Echo, "::1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            ct, cp = await net.loop.create_connection(Proto, "::1", port)
            sock = ct.get_extra_info("socket")
            assert sock.family == socket.AF_INET6
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert ct.get_extra_info("peername")[:2] == ("::1", port)
            ct.write(b"v6")
            await until(lambda: cp.data == b"v6", "echo")
            ct.close()
            await cp.closed
        finally:
            server.close()
            await server.wait_closed()

    net.run(main())


def test_add_reader_on_transport_fd_raises(net: Net) -> None:
    async def main() -> None:
        async with stream_pair() as p:
            fd = p.ct.get_extra_info("socket").fileno()
            with pytest.raises(RuntimeError):
                net.loop.add_reader(fd, lambda: None)
            with pytest.raises(RuntimeError):
                net.loop.add_writer(fd, lambda: None)
            with pytest.raises(RuntimeError):
                net.loop.remove_reader(fd)
            with pytest.raises(RuntimeError):
                net.loop.remove_writer(fd)
            p.ct.write(b"still works")
            await until(lambda: p.s.data == b"still works", "data")

    net.run(main())


def test_set_protocol_switches_the_receiver(net: Net) -> None:
    async def main() -> None:
        async with stream_pair() as p:
            p.ct.write(b"first")
            await until(lambda: p.s.data == b"first", "first")
            other = Proto()
            other.transport = p.st
            p.st.set_protocol(other)
            assert p.st.get_protocol() is other
            p.ct.write(b"second")
            await until(lambda: other.data == b"second", "second")
            assert p.s.data == b"first"
            p.st.close()
            assert await other.closed is None
            assert p.s.lost == []

    net.run(main())


def test_set_protocol_to_a_buffered_protocol(net: Net) -> None:
    async def main() -> None:
        async with stream_pair() as p:
            p.ct.write(b"plain")
            await until(lambda: p.s.data == b"plain", "first")
            buffered = BufProto(5)
            buffered.transport = p.st
            p.st.set_protocol(buffered)
            payload = pattern(0, 50_000)
            p.ct.write(payload)
            await until(lambda: len(buffered.data) >= len(payload), "buffered data")
            assert buffered.data == payload
            assert p.s.data == b"plain"
            plain = Proto()
            plain.transport = p.st
            p.st.set_protocol(plain)  # and back
            p.ct.write(b"plain again")
            await until(lambda: plain.data == b"plain again", "plain again")
            p.ct.close()
            assert await plain.closed is None

    net.run(main())


# --------------------------------------------------------------------------- flow control


def test_write_buffer_limits(net: Net) -> None:
    async def main() -> None:
        async with stream_pair() as p:
            t = p.ct
            assert t.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
            t.set_write_buffer_limits(high=1000)
            assert t.get_write_buffer_limits() == (250, 1000)
            t.set_write_buffer_limits(low=100)
            assert t.get_write_buffer_limits() == (100, 400)
            t.set_write_buffer_limits(high=50, low=10)
            assert t.get_write_buffer_limits() == (10, 50)
            t.set_write_buffer_limits(high=0, low=0)
            assert t.get_write_buffer_limits() == (0, 0)
            t.set_write_buffer_limits()
            assert t.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
            with pytest.raises(ValueError):
                t.set_write_buffer_limits(high=10, low=20)
            with pytest.raises(ValueError):
                t.set_write_buffer_limits(high=-2, low=-3)
            assert t.get_write_buffer_size() == 0

    net.run(main())


class Producer(Proto):
    """Writes ``TOTAL`` bytes in chunks, honouring pause_writing / resume_writing."""

    CHUNK = 16 * 1024
    TOTAL = 4 * 1024 * 1024
    HIGH = 64 * 1024

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0
        self.paused = False
        self.max_buffered = 0
        self.pause_sizes: list[int] = []
        self.resume_sizes: list[int] = []

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_KERNEL_BUFFER
        )
        transport.set_write_buffer_limits(high=self.HIGH)
        self.produce()

    def produce(self) -> None:
        while not self.paused and self.sent < self.TOTAL:
            size = min(self.CHUNK, self.TOTAL - self.sent)
            self.transport.write(pattern(self.sent, size))
            self.sent += size
            self.max_buffered = max(self.max_buffered, self.transport.get_write_buffer_size())

    def pause_writing(self) -> None:
        super().pause_writing()
        assert not self.paused
        self.paused = True
        self.pause_sizes.append(self.transport.get_write_buffer_size())

    def resume_writing(self) -> None:
        super().resume_writing()
        assert self.paused
        self.paused = False
        self.resume_sizes.append(self.transport.get_write_buffer_size())
        self.produce()  # writing from inside resume_writing is allowed


class PausedReader(Proto):
    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        transport.pause_reading()


def test_slow_reader_pauses_writer_and_memory_stays_bounded(net: Net) -> None:
    async def main() -> None:
        sock = socket.socket()
        shrink_buffers(sock)
        async with stream_pair(client=PausedReader, server=Producer, client_sock=sock) as p:
            producer = p.s
            assert isinstance(producer, Producer)
            await until(lambda: producer.paused, "pause_writing")
            assert producer.sent < Producer.TOTAL
            assert not p.c.transport.is_reading()
            await ticks()
            assert producer.paused  # nobody reads: it stays paused
            assert p.st.get_write_buffer_size() > Producer.HIGH
            p.ct.resume_reading()
            await until(lambda: len(p.c.data) >= Producer.TOTAL, "all data")
            assert p.c.data == pattern(0, Producer.TOTAL)
            await until(lambda: p.st.get_write_buffer_size() == 0, "drained")
            assert producer.events.count("pause") >= 1
            assert producer.events.count("resume") >= 1
            # Never more than one chunk beyond the high-water mark is queued.
            assert producer.max_buffered <= Producer.HIGH + Producer.CHUNK
            assert all(size > Producer.HIGH for size in producer.pause_sizes)
            assert all(size <= Producer.HIGH // 4 for size in producer.resume_sizes)

    net.run(main())


def test_lowering_limits_pauses_at_once(net: Net) -> None:
    async def main() -> None:
        sock = socket.socket()
        shrink_buffers(sock)
        async with stream_pair(client_sock=sock) as p:
            p.st.pause_reading()
            p.ct.write(pattern(0, BIG))
            size = p.ct.get_write_buffer_size()
            assert 0 < size <= BIG
            if size > 64 * 1024:
                assert p.c.events.count("pause") == 1
            else:
                assert "pause" not in p.c.events
                p.ct.set_write_buffer_limits(high=size - 1)
                assert p.c.events.count("pause") == 1
            p.ct.set_write_buffer_limits(high=0)  # already paused: no second call
            assert p.c.events.count("pause") == 1
            grow_buffers(p.ct)
            p.st.resume_reading()
            await until(lambda: "resume" in p.c.events, "resume_writing")
            await until(lambda: len(p.s.data) >= BIG, "all data")
            assert p.c.events.count("resume") == 1

    net.run(main())


def test_pause_and_resume_reading(net: Net) -> None:
    async def main() -> None:
        async with stream_pair() as p:
            assert p.st.is_reading()
            p.st.pause_reading()
            assert not p.st.is_reading()
            p.st.pause_reading()  # idempotent
            assert not p.st.is_reading()
            p.ct.write(b"while paused")
            await ticks()
            assert p.s.data == b""
            p.st.resume_reading()
            assert p.st.is_reading()
            p.st.resume_reading()  # idempotent
            await until(lambda: p.s.data == b"while paused", "data after resume")
            p.st.close()
            assert not p.st.is_reading()
            p.st.resume_reading()  # no effect once closing
            assert not p.st.is_reading()
            await p.s.closed

    net.run(main())


def test_pause_reading_during_data_received(net: Net) -> None:
    class OneChunkAtATime(Proto):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self.transport.pause_reading()

    async def main() -> None:
        async with stream_pair(server=OneChunkAtATime) as p:
            p.ct.write(b"x" * 100_000)
            await until(lambda: p.s.data, "first chunk")
            first = len(p.s.data)
            await ticks()
            assert len(p.s.data) == first
            while len(p.s.data) < 100_000:
                before = len(p.s.data)
                p.st.resume_reading()
                await until(lambda b=before: len(p.s.data) > b, "next chunk")
            assert p.s.data == b"x" * 100_000

    net.run(main())


# --------------------------------------------------------------------------- BufferedProtocol


class BufProto(asyncio.BufferedProtocol):
    def __init__(self, size: int = 7) -> None:
        self.buf = bytearray(size)
        self.transport: Any = None
        self.data = bytearray()
        self.hints: list[int] = []
        self.updates = 0
        self.events: list[str] = []
        self.lost: list[BaseException | None] = []
        self.closed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.events.append("made")
        self.transport = transport

    def get_buffer(self, sizehint: int) -> Any:
        self.hints.append(sizehint)
        return memoryview(self.buf)

    def buffer_updated(self, nbytes: int) -> None:
        assert 0 < nbytes <= len(self.buf)
        self.updates += 1
        self.data += self.buf[:nbytes]

    def eof_received(self) -> Any:
        self.events.append("eof")
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        self.lost.append(exc)
        if not self.closed.done():
            self.closed.set_result(exc)


@KINDS
def test_buffered_protocol_small_buffer(net: Net, kind: str) -> None:
    async def main() -> None:
        async with stream_pair(kind, client=BufProto) as p:
            payload = pattern(0, 100_000)
            p.st.write(payload)
            await until(lambda: len(p.c.data) >= len(payload), "all data")
            assert p.c.data == payload
            assert p.c.updates >= len(payload) // 7
            assert all(isinstance(h, int) for h in p.c.hints)
            p.st.close()
            assert await p.c.closed is None
            assert p.c.events == ["made", "eof", "lost"]

    net.run(main())


def test_buffered_protocol_large_buffer_and_echo(net: Net) -> None:
    class BufEcho(BufProto):
        def buffer_updated(self, nbytes: int) -> None:
            super().buffer_updated(nbytes)
            self.transport.write(self.buf[:nbytes])  # the buffer is reused right after

    async def main() -> None:
        async with stream_pair(client=Proto, server=lambda: BufEcho(1 << 20)) as p:
            payload = pattern(0, 3 * 1024 * 1024)
            p.ct.write(payload)
            await until(lambda: len(p.c.data) >= len(payload), "echo")
            assert p.c.data == payload

    net.run(main())


@pytest.mark.parametrize("failure", ["raises", "empty", "buffer_updated"])
def test_buffered_protocol_failure(net: Net, failure: str) -> None:
    boom = RuntimeError("boom")

    class Failing(BufProto):
        def get_buffer(self, sizehint: int) -> Any:
            if failure == "raises":
                raise boom
            if failure == "empty":
                return bytearray()
            return super().get_buffer(sizehint)

        def buffer_updated(self, nbytes: int) -> None:
            raise boom

    message = {
        "raises": "Fatal error: protocol.get_buffer() call failed.",
        "empty": "Fatal error: protocol.get_buffer() call failed.",
        "buffer_updated": "Fatal error: protocol.buffer_updated() call failed.",
    }[failure]

    async def main() -> None:
        async with stream_pair(client=Failing) as p:
            p.st.write(b"data")
            exc = await p.c.closed
            assert p.c.lost == [exc]
            [context] = net.take_errors()
            assert context["message"] == message
            assert context["exception"] is exc
            assert context["transport"] is p.ct
            assert context["protocol"] is p.c
            if failure == "empty":
                assert isinstance(exc, RuntimeError) and "empty buffer" in str(exc)
            else:
                assert exc is boom
            assert p.ct.is_closing()
            await until(lambda: p.s.lost, "peer sees the close")

    net.run(main())


# --------------------------------------------------------------------------- half-close


@KINDS
def test_eof_received_true_keeps_transport_writable(net: Net, kind: str) -> None:
    class ReplyAfterEof(Proto):
        keep_open = True

        def eof_received(self) -> Any:
            result = super().eof_received()
            asyncio.get_running_loop().call_soon(self.reply)
            return result

        def reply(self) -> None:
            assert not self.transport.is_closing()
            self.transport.write(b"reply to " + bytes(self.data))
            self.transport.write(pattern(0, BIG))  # more than the kernel takes at once
            self.transport.close()

    async def main() -> None:
        async with stream_pair(kind, server=ReplyAfterEof) as p:
            assert p.ct.can_write_eof()
            p.ct.write(b"request")
            p.ct.write_eof()
            p.ct.write_eof()  # second call: no-op
            with pytest.raises(RuntimeError):
                p.ct.write(b"more")
            with pytest.raises(RuntimeError):
                p.ct.writelines([b"more"])
            assert not p.ct.is_closing()
            await until(lambda: "eof" in p.c.events, "reply and EOF")
            assert p.c.data == b"reply to request" + pattern(0, BIG)
            assert await p.c.closed is None
            assert await p.s.closed is None
            flow = ("pause", "resume")  # the big reply may pause the server's writing
            assert [e for e in p.s.events if e not in flow] == ["made", "data", "eof", "lost"]
            assert p.c.events == ["made", "data", "eof", "lost"]

    net.run(main())


@pytest.mark.parametrize("result", [None, False])
def test_eof_received_false_closes(net: Net, result: Any) -> None:
    class Closer(Proto):
        keep_open = result

    async def main() -> None:
        async with stream_pair(server=Closer) as p:
            p.ct.write_eof()
            assert await p.s.closed is None
            assert await p.c.closed is None
            assert p.s.events == ["made", "eof", "lost"]
            assert p.c.events == ["made", "eof", "lost"]

    net.run(main())


def test_write_eof_after_buffered_data_sends_it_all_first(net: Net) -> None:
    async def main() -> None:
        sock = socket.socket()
        shrink_buffers(sock)
        async with stream_pair(client_sock=sock) as p:
            p.st.pause_reading()
            payload = pattern(0, BIG)
            p.ct.write(payload)
            assert p.ct.get_write_buffer_size() > 0
            p.ct.write_eof()
            grow_buffers(p.ct)
            p.st.resume_reading()
            await until(lambda: "eof" in p.s.events, "EOF after the data")
            assert p.s.data == payload
            await p.s.closed  # the server closed on EOF; the client gets EOF too
            assert await p.c.closed is None

    net.run(main())


# --------------------------------------------------------------------------- close / abort


def test_close_drains_buffer_first(net: Net) -> None:
    async def main() -> None:
        sock = socket.socket()
        shrink_buffers(sock)
        async with stream_pair(client_sock=sock) as p:
            p.st.pause_reading()
            payload = pattern(0, BIG)
            p.ct.write(payload)
            assert p.ct.get_write_buffer_size() > 0
            p.ct.close()
            assert p.ct.is_closing()
            assert not p.ct.is_reading()
            p.ct.close()  # idempotent
            await ticks()
            assert p.c.lost == []  # still draining: the peer does not read
            grow_buffers(p.ct)
            p.st.resume_reading()
            assert await p.c.closed is None
            await until(lambda: "eof" in p.s.events, "EOF")
            assert p.s.data == payload
            assert p.c.lost == [None]

    net.run(main())


def test_abort_drops_buffer(net: Net) -> None:
    async def main() -> None:
        sock = socket.socket()
        shrink_buffers(sock)
        async with stream_pair(client_sock=sock) as p:
            p.st.pause_reading()
            payload = pattern(0, BIG)
            p.ct.write(payload)
            dropped = p.ct.get_write_buffer_size()
            assert dropped > 0
            p.ct.abort()
            assert p.ct.is_closing()
            assert await p.c.closed is None
            p.st.resume_reading()
            await p.s.closed
            assert len(p.s.data) <= len(payload) - dropped
            assert p.s.data == payload[: len(p.s.data)]
            p.ct.abort()
            p.ct.close()
            await ticks()
            assert p.c.lost == [None]

    net.run(main())


def test_connection_lost_exactly_once(net: Net) -> None:
    async def main() -> None:
        async with stream_pair() as p:
            p.ct.close()
            p.ct.abort()
            p.ct.close()
            assert await p.c.closed is None
            await until(lambda: p.s.lost, "peer lost")
            p.st.abort()
            p.st.close()
            await ticks()
            assert p.c.lost == [None] and p.s.lost == [None]
            assert p.c.events.count("lost") == 1 and p.s.events.count("lost") == 1

    net.run(main())


def test_close_from_connection_made(net: Net) -> None:
    class Rude(Proto):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            transport.write(b"bye")
            transport.close()

    async def main() -> None:
        async with stream_pair(server=Rude) as p:
            assert await p.s.closed is None
            assert await p.c.closed is None
            assert p.c.data == b"bye"
            assert p.s.events == ["made", "lost"]
            assert p.c.events == ["made", "data", "eof", "lost"]

    net.run(main())


# --------------------------------------------------------------------------- faults


def _rst_close(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@contextlib.asynccontextmanager
async def server_and_raw_client(
    factory: Callable[[], Any], rcvbuf: int | None = None
) -> AsyncIterator[tuple[Any, socket.socket]]:
    """A server and a plain blocking client socket connected to it; yields (protocol, sock)."""
    loop = asyncio.get_running_loop()
    accepted: list[Any] = []

    def make() -> Any:
        protocol = factory()
        accepted.append(protocol)
        return protocol

    server = await loop.create_server(make, "127.0.0.1", 0)
    raw = socket.socket()
    try:
        if rcvbuf is not None:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(HANG_GUARD)
        raw.connect(server.sockets[0].getsockname())
        await until(lambda: accepted and accepted[0].transport is not None, "accept")
        yield accepted[0], raw
    finally:
        raw.close()
        for protocol in accepted:
            if protocol.transport is not None and not protocol.lost:
                protocol.transport.abort()
        await until(lambda: all(p.lost for p in accepted), "lost")
        server.close()
        await server.wait_closed()


def test_reset_by_peer_mid_read(net: Net) -> None:
    async def main() -> None:
        async with server_and_raw_client(Proto) as (proto, raw):
            raw.sendall(b"partial")
            await until(lambda: proto.data == b"partial", "data")
            _rst_close(raw)
            exc = await proto.closed
            assert isinstance(exc, ConnectionResetError)
            assert proto.lost == [exc]
            assert proto.transport.is_closing()

    net.run(main())


def test_peer_closes_mid_write(net: Net) -> None:
    async def main() -> None:
        async with server_and_raw_client(Proto, rcvbuf=SMALL_KERNEL_BUFFER) as (proto, raw):
            t = proto.transport
            t.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_KERNEL_BUFFER
            )
            t.write(pattern(0, BIG))
            assert t.get_write_buffer_size() > 0
            raw.recv(1000)
            _rst_close(raw)
            for _ in range(100):  # the writer keeps writing: no exception reaches it
                t.write(b"more data")
                await asyncio.sleep(0)
            exc = await proto.closed
            assert isinstance(exc, OSError)
            assert proto.lost == [exc]
            t.write(b"after loss")
            assert t.get_write_buffer_size() == 0

    net.run(main())


def test_write_after_close_warns_without_raising(
    net: Net, caplog: pytest.LogCaptureFixture
) -> None:
    net.skip_stock_if(
        STOCK_WRITELINES_AFTER_CLOSE_RAISES,
        "3.12 to 3.13.9: writelines() after close() raises TypeError: 'NoneType' object is not "
        "callable (it lacks write()'s connection-lost check, gh-136234)",
    )

    async def main() -> None:
        async with stream_pair() as p:
            with caplog.at_level(logging.WARNING, logger="asyncio"):
                p.ct.close()
                p.ct.write(b"x")  # no exception
                await p.c.closed
                for _ in range(10):
                    p.ct.write(b"x")
                p.ct.writelines([b"y", b"z"])
            warnings_seen = [
                r for r in caplog.records if r.getMessage() == "socket.send() raised exception."
            ]
            assert warnings_seen
            assert all(r.levelno == logging.WARNING for r in warnings_seen)
            assert p.ct.get_write_buffer_size() == 0

    net.run(main())


def test_eintr_while_echoing(net: Net) -> None:
    """A signal delivered every half millisecond while echoing loses nothing."""
    delivered = 0

    def on_alarm(signum: int, frame: Any) -> None:
        nonlocal delivered
        delivered += 1

    async def main() -> None:
        async with stream_pair(server=Echo) as p:
            old_handler = signal.signal(signal.SIGALRM, on_alarm)
            old_timer = signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
            try:
                sent = 0
                rounds = 0
                while rounds < 200 or delivered < 50:
                    size = 1 + (rounds * 7919) % 70_000
                    p.ct.write(pattern(sent, size))
                    sent += size
                    await until(lambda n=sent: len(p.c.data) >= n, "echo")
                    rounds += 1
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0, 0)
                signal.signal(signal.SIGALRM, old_handler)
                if old_timer[0] or old_timer[1]:
                    signal.setitimer(signal.ITIMER_REAL, *old_timer)
            assert p.c.data == pattern(0, sent)
            assert p.s.data == p.c.data
            assert delivered >= 50

    net.run(main())


@pytest.mark.parametrize("callback", ["data_received", "eof_received"])
def test_protocol_callback_raising_closes_transport(net: Net, callback: str) -> None:
    boom = ValueError("protocol bug")

    class Buggy(Proto):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if callback == "data_received":
                raise boom

        def eof_received(self) -> Any:
            super().eof_received()
            raise boom

    async def main() -> None:
        async with stream_pair(server=Buggy) as p:
            p.ct.write(b"trigger")
            if callback == "eof_received":
                await until(lambda: p.s.data == b"trigger", "data")
                p.ct.write_eof()
            exc = await p.s.closed
            assert exc is boom
            assert p.s.lost == [boom]
            [context] = net.take_errors()
            assert context["message"] == f"Fatal error: protocol.{callback}() call failed."
            assert context["exception"] is boom
            assert context["transport"] is p.st
            assert context["protocol"] is p.s
            assert p.st.is_closing()
            await until(lambda: p.c.lost, "client sees the close")
        # The loop keeps running: another connection works.
        async with stream_pair(server=Echo) as q:
            q.ct.write(b"again")
            await until(lambda: q.c.data == b"again", "echo")

    net.run(main())


def test_connection_made_raising_goes_to_handler(net: Net) -> None:
    boom = ValueError("connection_made bug")

    class Buggy(Proto):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            raise boom

    async def main() -> None:
        async with stream_pair(server=Buggy) as p:
            await until(lambda: net.errors, "exception handler")
            [context] = net.take_errors()
            assert context["message"].startswith("Exception in callback")
            assert "connection_made" in context["message"]
            assert context["exception"] is boom
            # As asyncio: the transport carries on (the protocol decides what to do).
            p.ct.write(b"still here")
            await until(lambda: p.s.data == b"still here", "data")
            p.st.close()
            assert await p.s.closed is None
        async with stream_pair(server=Echo) as q:
            q.ct.write(b"again")
            await until(lambda: q.c.data == b"again", "echo")

    net.run(main())


def test_pause_writing_raising_goes_to_handler(net: Net) -> None:
    boom = ValueError("pause bug")

    class Buggy(Proto):
        def pause_writing(self) -> None:
            super().pause_writing()
            raise boom

    async def main() -> None:
        sock = socket.socket()
        shrink_buffers(sock)
        async with stream_pair(client=Buggy, client_sock=sock) as p:
            p.st.pause_reading()
            p.ct.set_write_buffer_limits(high=0)
            p.ct.write(pattern(0, BIG))  # no exception from write
            [context] = net.take_errors()
            assert context["message"] == "protocol.pause_writing() failed"
            assert context["exception"] is boom
            assert not p.ct.is_closing()
            grow_buffers(p.ct)
            p.st.resume_reading()
            await until(lambda: len(p.s.data) >= BIG, "all data")

    net.run(main())
