"""Pipe transports (``connect_read_pipe`` / ``connect_write_pipe``) on stock asyncio and nexusloop.

Real pipes, FIFOs and ptys; each test runs on both loops through the ``net`` fixture (fds,
tasks, open transports, exception-handler calls and ResourceWarnings checked after).
"""
from __future__ import annotations

import asyncio
import gc
import os
import sys
import tempfile
import warnings
from typing import Any

import pytest

from ._harness import Net, Proto, ticks, until

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix pipes")


def _pipe() -> tuple[Any, Any]:
    r, w = os.pipe()
    return open(r, "rb", buffering=0), open(w, "wb", buffering=0)


class Writer(asyncio.Protocol):
    def __init__(self) -> None:
        self.events: list[str] = []
        self.lost: list[BaseException | None] = []

    def connection_made(self, transport: Any) -> None:
        self.events.append("made")

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        self.lost.append(exc)


def _is_closed_fd(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


# ------------------------------------------------------------------ reading


def test_read_pipe_data_eof_then_connection_lost(net: Net) -> None:
    async def main() -> None:
        rpipe, wpipe = _pipe()
        proto = Proto()
        transport, got = await net.loop.connect_read_pipe(lambda: proto, rpipe)
        assert got is proto and proto.events == ["made"]
        assert transport.get_extra_info("pipe") is rpipe
        assert transport.is_reading() and not transport.is_closing()
        wpipe.write(b"hello ")
        wpipe.write(b"world")
        await until(lambda: bytes(proto.data) == b"hello world", "data")
        wpipe.close()
        await until(lambda: "lost" in proto.events, "connection_lost")
        assert proto.events == ["made", "eof", "lost"]
        assert proto.lost == [None]
        assert transport.is_closing()
        assert rpipe.closed  # the transport owns the pipe and closed it

    net.run(main())


def test_read_pipe_close_calls_connection_lost_once(net: Net) -> None:
    async def main() -> None:
        rpipe, wpipe = _pipe()
        proto = Proto()
        transport, _ = await net.loop.connect_read_pipe(lambda: proto, rpipe)
        transport.close()
        transport.close()
        assert transport.is_closing() and not transport.is_reading()
        await ticks()
        transport.close()
        await ticks()
        assert proto.events == ["made", "lost"] and proto.lost == [None]
        wpipe.close()

    net.run(main())


def test_read_pipe_pause_and_resume_reading(net: Net) -> None:
    async def main() -> None:
        rpipe, wpipe = _pipe()
        proto = Proto()
        transport, _ = await net.loop.connect_read_pipe(lambda: proto, rpipe)
        transport.pause_reading()
        assert not transport.is_reading()
        wpipe.write(b"held")
        await ticks()
        assert proto.data == b""
        transport.resume_reading()
        assert transport.is_reading()
        await until(lambda: proto.data == b"held", "data after resume")
        transport.close()
        await ticks()
        wpipe.close()

    net.run(main())


def test_data_received_error_goes_to_the_handler_and_reading_goes_on(net: Net) -> None:
    class Boom(Proto):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if data == b"boom":
                raise ZeroDivisionError

    async def main() -> None:
        rpipe, wpipe = _pipe()
        proto = Boom()
        transport, _ = await net.loop.connect_read_pipe(lambda: proto, rpipe)
        wpipe.write(b"boom")
        await until(lambda: net.errors, "exception handler call")
        [error] = net.take_errors()
        assert isinstance(error["exception"], ZeroDivisionError)
        wpipe.write(b"more")
        await until(lambda: proto.data == b"boommore", "data after the error")
        transport.close()
        await ticks()
        wpipe.close()

    net.run(main())


def test_regular_file_is_refused(net: Net) -> None:
    async def main() -> None:
        with tempfile.TemporaryFile() as f:
            with pytest.raises(ValueError, match=r"^Pipe transport is for pipes/sockets only\.$"):
                await net.loop.connect_read_pipe(Proto, f)
            with pytest.raises(
                ValueError,
                match="^Pipe transport is only for pipes, sockets and character devices$",
            ):
                await net.loop.connect_write_pipe(Proto, f)

    net.run(main())


# ------------------------------------------------------------------ writing


def test_write_pipe_round_trip_with_flow_control(net: Net) -> None:
    payload = os.urandom(1 << 20)

    async def main() -> None:
        rpipe, wpipe = _pipe()
        reader = Proto()
        writer = Writer()
        rt, _ = await net.loop.connect_read_pipe(lambda: reader, rpipe)
        wt, _ = await net.loop.connect_write_pipe(lambda: writer, wpipe)
        assert wt.get_extra_info("pipe") is wpipe
        assert wt.can_write_eof()
        assert wt.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        wt.write(bytearray(payload[:1000]))  # a bytearray: copied, the caller may reuse it
        for i in range(1000, len(payload), 64 * 1024):
            wt.write(payload[i:i + 64 * 1024])
        assert wt.get_write_buffer_size() > 0
        assert writer.events == ["made", "pause"]
        await until(lambda: len(reader.data) == len(payload), "all data")
        assert bytes(reader.data) == payload
        assert writer.events == ["made", "pause", "resume"]
        assert wt.get_write_buffer_size() == 0
        wt.close()
        assert wt.is_closing()
        await until(lambda: "lost" in reader.events, "reader EOF")
        assert writer.events[-1] == "lost" and writer.lost == [None]
        assert reader.events == ["made", "eof", "lost"]
        assert rt.is_closing()

    net.run(main())


def test_queued_writes_keep_what_was_written(net: Net) -> None:
    """Writes queued behind a full pipe: a bytearray or memoryview the caller changes afterwards
    must not change what is sent (it is copied); bytes (immutable) and views of bytes, written
    partially or not at all, arrive intact, in order."""
    head = os.urandom(256 * 1024)  # more than a pipe holds: what follows is queued
    mutable = bytearray(b"A" * 70_000)
    view_of_mutable = bytearray(b"B" * 50_000)
    tail = os.urandom(100_000)

    async def main() -> None:
        rpipe, wpipe = _pipe()
        reader = Proto()
        rt, _ = await net.loop.connect_read_pipe(lambda: reader, rpipe)
        rt.pause_reading()
        wt, _ = await net.loop.connect_write_pipe(Writer, wpipe)
        wt.write(head)
        assert wt.get_write_buffer_size() > 0
        wt.write(mutable)
        wt.write(memoryview(view_of_mutable))
        wt.write(memoryview(tail)[1:])
        mutable[:] = b"X" * len(mutable)
        view_of_mutable[:] = b"Y" * len(view_of_mutable)
        expected = head + b"A" * 70_000 + b"B" * 50_000 + tail[1:]
        assert wt.get_write_buffer_size() <= len(expected)
        rt.resume_reading()
        await until(lambda: len(reader.data) == len(expected), "all data")
        assert bytes(reader.data) == expected
        wt.close()
        rt.close()
        await ticks()

    net.run(main())


def test_write_buffer_limits(net: Net) -> None:
    async def main() -> None:
        rpipe, wpipe = _pipe()
        wt, _ = await net.loop.connect_write_pipe(Writer, wpipe)
        wt.set_write_buffer_limits(high=100)
        assert wt.get_write_buffer_limits() == (25, 100)
        wt.set_write_buffer_limits(low=10)
        assert wt.get_write_buffer_limits() == (10, 40)
        with pytest.raises(ValueError):
            wt.set_write_buffer_limits(high=1, low=2)
        wt.close()
        await ticks()
        rpipe.close()

    net.run(main())


def test_write_eof_flushes_then_loses_connection(net: Net) -> None:
    async def main() -> None:
        rpipe, wpipe = _pipe()
        writer = Writer()
        wt, _ = await net.loop.connect_write_pipe(lambda: writer, wpipe)
        os.set_blocking(rpipe.fileno(), False)  # the test reads it by polling
        data = b"x" * (1 << 20)  # more than the pipe holds: part of it is buffered
        wt.write(data)
        wt.write_eof()
        assert wt.is_closing()
        wt.write(b"ignored")  # after write_eof: counted, not raised
        received = bytearray()
        while len(received) < len(data):
            await asyncio.sleep(0)
            try:
                received += os.read(rpipe.fileno(), 1 << 16)
            except BlockingIOError:
                pass
        await until(lambda: "lost" in writer.events, "connection_lost")
        assert writer.lost == [None]
        assert os.read(rpipe.fileno(), 10) == b""  # EOF: the transport closed its end
        rpipe.close()

    net.run(main())


def test_abort_drops_the_buffer(net: Net) -> None:
    async def main() -> None:
        rpipe, wpipe = _pipe()
        writer = Writer()
        wt, _ = await net.loop.connect_write_pipe(lambda: writer, wpipe)
        wt.write(b"x" * (1 << 20))
        assert wt.get_write_buffer_size() > 0
        wt.abort()
        assert wt.get_write_buffer_size() == 0 and wt.is_closing()
        wt.close()
        if net.nexus:  # stock asyncio schedules connection_lost a second time (AttributeError)
            wt.abort()
        await until(lambda: "lost" in writer.events, "connection_lost")
        await ticks()
        assert writer.events.count("lost") == 1 and writer.lost == [None]
        rpipe.close()

    net.run(main())


@pytest.mark.parametrize("buffered", [False, True])
def test_reader_going_away_closes_the_write_pipe(net: Net, buffered: bool) -> None:
    async def main() -> None:
        rpipe, wpipe = _pipe()
        writer = Writer()
        wt, _ = await net.loop.connect_write_pipe(lambda: writer, wpipe)
        if buffered:
            wt.write(b"x" * (1 << 20))
            assert wt.get_write_buffer_size() > 0
        rpipe.close()
        await until(lambda: "lost" in writer.events, "connection_lost")
        [exc] = writer.lost
        if buffered:
            # The write may fail first (EPIPE) or the close be noticed first: both are asyncio.
            assert isinstance(exc, BrokenPipeError)
        else:
            assert exc is None
        assert wt.is_closing()

    net.run(main())


def test_fifo_round_trip(net: Net, tmpdir_short: str) -> None:
    path = os.path.join(tmpdir_short, "fifo")
    os.mkfifo(path)

    async def main() -> None:
        rfd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        wfd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        reader = Proto()
        writer = Writer()
        await net.loop.connect_read_pipe(lambda: reader, open(rfd, "rb", 0))
        wt, _ = await net.loop.connect_write_pipe(lambda: writer, open(wfd, "wb", 0))
        wt.write(b"through the fifo")
        await until(lambda: reader.data == b"through the fifo", "data")
        wt.close()
        await until(lambda: "lost" in reader.events and "lost" in writer.events, "both ends lost")
        assert reader.events == ["made", "eof", "lost"]

    net.run(main())


def test_pty_read_and_write(net: Net) -> None:
    async def main() -> None:
        master, slave = os.openpty()
        os.set_blocking(slave, False)
        reader = Proto()
        writer = Writer()
        rt, _ = await net.loop.connect_read_pipe(lambda: reader, open(master, "rb", 0))
        # A second descriptor of the master for writing (the transports each own one).
        wt, _ = await net.loop.connect_write_pipe(lambda: writer, open(os.dup(master), "wb", 0))
        os.write(slave, b"from the slave\n")
        await until(lambda: b"from the slave" in reader.data, "pty output")
        wt.write(b"to the slave\n")
        got = b""

        def read_slave() -> bool:
            nonlocal got
            try:
                got += os.read(slave, 1024)
            except BlockingIOError:
                pass
            return b"to the slave" in got

        await until(read_slave, "pty input")
        wt.close()
        os.close(slave)
        # Linux reports EIO on the master once the slave is gone: an end, not an error.
        await until(lambda: "lost" in reader.events, "read side lost")
        assert reader.events.count("lost") == 1
        await until(lambda: "lost" in writer.events, "write side lost")
        assert rt.is_closing()

    net.run(main())


def test_unclosed_transport_warns_and_closes_its_pipe(any_loop: asyncio.AbstractEventLoop) -> None:
    # Not the ``net`` fixture: this test closes the loop itself (fds are still leak-checked).
    loop = any_loop

    async def connect() -> tuple[Any, Any]:
        rpipe, wpipe = _pipe()
        rt, _ = await loop.connect_read_pipe(Proto, rpipe)
        wt, _ = await loop.connect_write_pipe(Writer, wpipe)
        return rt, wt

    rt, wt = loop.run_until_complete(connect())
    rfd, wfd = rt.get_extra_info("pipe").fileno(), wt.get_extra_info("pipe").fileno()
    loop.close()  # the loop no longer refers to the transports
    assert "open" in repr(rt) and "open" in repr(wt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        del rt, wt
        gc.collect()
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    # (The collector may also finalize the pipe file objects first: "unclosed file".)
    assert len([m for m in messages if m.startswith("unclosed transport")]) == 2, messages
    assert _is_closed_fd(rfd) and _is_closed_fd(wfd)


# ------------------------------------------------------- nexusloop-only behaviour


def test_add_reader_on_a_pipe_transport_fd_is_refused(net: Net) -> None:
    if not net.nexus:
        pytest.skip("stock asyncio does not register pipe transports in loop._transports")

    async def main() -> None:
        rpipe, wpipe = _pipe()
        rt, _ = await net.loop.connect_read_pipe(Proto, rpipe)
        wt, _ = await net.loop.connect_write_pipe(Writer, wpipe)
        for fd in (rpipe.fileno(), wpipe.fileno()):
            with pytest.raises(RuntimeError, match="is used by transport"):
                net.loop.add_reader(fd, lambda: None)
            with pytest.raises(RuntimeError, match="is used by transport"):
                net.loop.add_writer(fd, lambda: None)
        rt.close()
        wt.close()
        await ticks()

    net.run(main())


def test_write_of_non_bytes_is_a_type_error(net: Net) -> None:
    if not net.nexus:
        pytest.skip("stock asyncio asserts (AssertionError, nothing under -O): documented")

    async def main() -> None:
        rpipe, wpipe = _pipe()
        wt, _ = await net.loop.connect_write_pipe(Writer, wpipe)
        with pytest.raises(TypeError, match="bytes-like"):
            wt.write("text")
        wt.close()
        await ticks()
        rpipe.close()

    net.run(main())
