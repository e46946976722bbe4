"""Pipe transports: the read and write ends of pipes, FIFOs and character devices (ptys, ttys).

``loop.connect_read_pipe(protocol_factory, pipe)`` and ``loop.connect_write_pipe(...)`` wrap a
file object (anything with ``fileno()``: ``os.fdopen`` files, ``subprocess.Popen.stdout``, a
pty master opened with ``open(fd, 'rb', 0)``, a socket) in asyncio's ``ReadTransport`` /
``WriteTransport`` API. asyncio's ``unix_events._UnixReadPipeTransport`` and
``_UnixWritePipeTransport`` are the specification: same exceptions, same order of protocol
calls, same edge cases (``EIO`` from a pty whose other side closed is an ordinary end, not an
error for the exception handler). The subprocess transports (``_subprocess.py``) connect the
child's standard streams through these functions too.

What a transport is here
------------------------
As the stream transport (``_stream.py``), each transport is two objects:

* a *core*, :class:`_ReadPipeCore` / :class:`_WritePipeCore`, a readiness *watcher* of the loop
  core (``_core._loopcore.Watcher``): it registers itself with ``loop._watch_read(fd, self)`` /
  ``loop._watch_write(fd, self)``, and the tick calls its ``_read_ready`` / ``_write_ready``
  directly, inside the transport's ``contextvars.Context`` (a copy taken at creation). No
  ``Handle`` is allocated or queued per readiness event. The core holds all the state and does
  the I/O (``os.read`` / ``os.write`` on the descriptor).
* the transport the protocol sees, :class:`ReadPipeTransport` (an ``asyncio.ReadTransport``) or
  :class:`WritePipeTransport` (an ``asyncio.WriteTransport``), whose methods delegate to the core.

Reading
    One ``os.read`` of up to 256 KiB per readiness event, handed to ``protocol.data_received``.
    An exception escaping ``data_received`` goes to the loop's exception handler and the
    transport keeps reading, as asyncio (where ``_read_ready`` is an ordinary reader callback).
    ``pause_reading`` / ``resume_reading`` remove and restore the read watcher.
Writing
    ``write`` writes at once when nothing is buffered; what the kernel does not take is queued
    and a write watcher is registered until it drains. ``bytes`` are queued as they are (a
    view of the unwritten tail, no copy: 64 KiB copied per full pipe cost ~20% of pipe
    throughput); mutable buffers are copied, as the caller may reuse them. Several queued
    chunks leave in one ``os.writev``. A FIFO's or socket's
    write end is also watched for *reading*: readiness there means the reader went away
    (asyncio's trick), and the transport closes (with ``BrokenPipeError`` if data was still
    buffered). A character device cannot be watched that way; a write error tells instead.
Flow control
    asyncio's ``_FlowControlMixin``: ``pause_writing()`` when the buffer grows above the
    high-water mark (64 KiB by default), ``resume_writing()`` when it drains to the low-water
    mark (high / 4); ``set_write_buffer_limits`` / ``get_write_buffer_limits``.

Lifecycle (who closes what, when ``connection_lost`` fires)
    * The file descriptor must be a FIFO, socket or character device; otherwise ``ValueError``
      (asyncio's message, which differs between the read and the write side) and nothing is
      registered. It is switched to non-blocking mode; the transport owns the file object from
      then on and closes it after ``connection_lost``.
    * ``connection_made(transport)`` runs in the loop tick after creation; the read watcher
      (reading side, or peer-close detection of the writing side) is registered in the same
      callback, then the ``connect_*_pipe`` waiter is resolved.
    * Read side: at end of file, ``eof_received()`` then ``connection_lost(None)`` are called in
      later callbacks (the return value of ``eof_received`` does not matter: a pipe cannot be
      half-open). ``close()`` stops reading and calls ``connection_lost(None)`` soon.
    * Write side: ``write_eof()`` and ``close()`` are the same thing for a pipe: no more writes,
      and ``connection_lost(None)`` once the buffer has drained. ``abort()`` drops the buffer and
      calls ``connection_lost(None)`` soon. A write error calls ``connection_lost(exc)``.
    * ``connection_lost`` is called exactly once; after it the file object is closed and the
      transport drops its protocol and loop. Writes after the loss are counted and, past
      asyncio's threshold, logged (``pipe closed by peer or os.write(pipe, data) raised
      exception.``) instead of raising.
    * A transport garbage-collected unclosed warns (``ResourceWarning``) and closes its pipe.

Deliberate difference
    ``write()`` of something that is not bytes-like raises ``TypeError`` (asyncio ``assert``s,
    so it raises ``AssertionError``, or nothing at all under ``python -O``).

Contract with the loop
    Calls ``loop._watch_read/_watch_write/_unwatch_read/_unwatch_write``, ``loop.call_soon``
    (with the transport's context), ``loop.call_exception_handler``, ``loop.create_future``,
    ``loop.get_debug()`` and ``loop.is_closed()`` (``repr`` of a transport whose loop closed),
    and registers the transport in ``loop._transports[fd]`` (``add_reader`` on the fd of an open
    pipe transport raises ``RuntimeError``, as for sockets). The loop calls only the two
    ``connect_*_pipe`` functions, bound as its methods, and the watcher methods from the tick.
"""
from __future__ import annotations

import asyncio
import collections
import contextvars
import errno
import logging
import os
import stat
import warnings
from asyncio import constants
from typing import Any

try:
    import cython
except ImportError:  # pragma: no cover
    from nexusloop._core import _cyshim as cython  # type: ignore[no-redef]

from nexusloop._core._loopcore import Watcher
from nexusloop.net._flow import notify_protocol, water_marks

__all__ = ["ReadPipeTransport", "WritePipeTransport", "connect_read_pipe", "connect_write_pipe"]

_logger = logging.getLogger("asyncio")

_MAX_SIZE = 256 * 1024  # bytes asked of os.read() per readiness event, as asyncio
try:
    _IOV_MAX: int = os.sysconf("SC_IOV_MAX")
except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
    _IOV_MAX = 16
_WOULD_BLOCK = (BlockingIOError, InterruptedError)
_FATAL = (SystemExit, KeyboardInterrupt)
_CONNLOST_WARN = constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES
_BYTES_LIKE = (bytes, bytearray, memoryview)


def _connection_made(protocol: Any, transport: Any, loop: Any) -> None:
    try:
        protocol.connection_made(transport)
    except _FATAL:
        raise
    except BaseException as exc:
        loop.call_exception_handler(
            {
                "message": "Exception in callback protocol.connection_made()",
                "exception": exc,
                "transport": transport,
                "protocol": protocol,
            }
        )


def _resolve(waiter: asyncio.Future[Any] | None) -> None:
    if waiter is not None and not waiter.cancelled():
        waiter.set_result(None)


class _ReadPipeCore(Watcher):
    """State and I/O of one read pipe transport (see the module docstring)."""

    def __init__(self, transport: Any, loop: Any, pipe: Any, fd: int, protocol: Any) -> None:
        self._context = contextvars.copy_context()
        self._transport = transport
        self._loop = loop
        self._pipe = pipe
        self._fd = fd
        self._protocol = protocol
        self._closing = False
        self._paused = False
        self._reading = False
        self._lost = False  # connection_lost scheduled (it must run exactly once)

    def _start(self, waiter: asyncio.Future[Any] | None) -> None:
        _connection_made(self._protocol, self._transport, self._loop)
        if not self._closing and not self._paused:
            self._loop._watch_read(self._fd, self)
            self._reading = True
        _resolve(waiter)

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop._unwatch_read(self._fd)

    def _read_ready(self) -> None:
        try:
            if cython.compiled:
                data = _read_bytes(self._fd)  # type: ignore[name-defined]  # noqa: F821 (.pxd)
            else:
                data = os.read(self._fd, _MAX_SIZE)
        except _WOULD_BLOCK:
            return
        except OSError as exc:
            self._fatal_error(exc, "Fatal read error on pipe transport")
            return
        if data:
            self._protocol.data_received(data)  # an exception goes to the exception handler
            return
        if self._loop.get_debug():
            _logger.info("%r was closed by peer", self._transport)
        self._closing = True
        self._stop_reading()
        self._lost = True
        loop = self._loop
        loop.call_soon(self._protocol.eof_received, context=self._context)
        loop.call_soon(self._call_connection_lost, None, context=self._context)

    def pause_reading(self) -> None:
        if self._closing or self._paused:
            return
        self._paused = True
        self._stop_reading()
        if self._loop.get_debug():
            _logger.debug("%r pauses reading", self._transport)

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        self._loop._watch_read(self._fd, self)
        self._reading = True
        if self._loop.get_debug():
            _logger.debug("%r resumes reading", self._transport)

    def close(self) -> None:
        if not self._closing:
            self._close(None)

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        if isinstance(exc, OSError) and exc.errno == errno.EIO:
            # A pty whose other side closed: the end of the stream, not an error to report.
            if self._loop.get_debug():
                _logger.debug("%r: %s", self._transport, message, exc_info=True)
        else:
            self._loop.call_exception_handler(
                {
                    "message": message,
                    "exception": exc,
                    "transport": self._transport,
                    "protocol": self._protocol,
                }
            )
        self._close(exc)

    def _close(self, exc: BaseException | None) -> None:
        self._closing = True
        self._stop_reading()
        if self._lost:
            return
        self._lost = True
        self._loop.call_soon(self._call_connection_lost, exc, context=self._context)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        if self._pipe is None:
            return
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._pipe.close()
            self._pipe = None
            self._protocol = None
            self._loop = None


class _WritePipeCore(Watcher):
    """State and I/O of one write pipe transport (see the module docstring)."""

    def __init__(self, transport: Any, loop: Any, pipe: Any, fd: int, protocol: Any) -> None:
        self._context = contextvars.copy_context()
        self._transport = transport
        self._loop = loop
        self._pipe = pipe
        self._fd = fd
        self._protocol = protocol
        self._buffer: collections.deque[Any] = collections.deque()
        self._buffer_size = 0
        self._conn_lost = 0
        self._closing = False  # set by close() / write_eof() / abort() / an error
        self._reading = False  # watching for the reader going away (FIFOs, sockets)
        self._writing = False
        self._lost = False
        self._protocol_paused = False
        self._high_water = 64 * 1024
        self._low_water = 16 * 1024

    def _start(self, waiter: asyncio.Future[Any] | None, detect_close: bool) -> None:
        _connection_made(self._protocol, self._transport, self._loop)
        if detect_close and not self._lost:
            self._loop._watch_read(self._fd, self)
            self._reading = True
        _resolve(waiter)

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop._unwatch_read(self._fd)

    def _stop_writing(self) -> None:
        if self._writing:
            self._writing = False
            self._loop._unwatch_write(self._fd)

    def _read_ready(self) -> None:
        # Readable (or an error/hang-up) on a write end: the reader has gone away.
        if self._loop.get_debug():
            _logger.info("%r was closed by peer", self._transport)
        if self._buffer:
            self._close(BrokenPipeError())
        else:
            self._close(None)

    def write(self, data: Any) -> None:
        if not isinstance(data, _BYTES_LIKE):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if type(data) is not bytes:
            data = memoryview(data).cast("B")  # lengths in bytes from here on
        if not data:
            return
        if self._conn_lost or self._closing:
            if self._conn_lost >= _CONNLOST_WARN:
                _logger.warning(
                    "pipe closed by peer or os.write(pipe, data) raised exception."
                )
            self._conn_lost += 1
            return
        if not self._buffer:
            try:
                n = os.write(self._fd, data)
            except _WOULD_BLOCK:
                n = 0
            except _FATAL:
                raise
            except BaseException as exc:
                self._conn_lost += 1
                self._fatal_error(exc, "Fatal write error on pipe transport")
                return
            if n == len(data):
                return
            if n > 0:
                data = memoryview(data)[n:]
            self._loop._watch_write(self._fd, self)
            self._writing = True
        if type(data) is not bytes and type(data.obj) is not bytes:
            data = bytes(data)  # the caller may reuse a mutable buffer once write() returns
        self._buffer.append(data)
        self._buffer_size += len(data)
        self._maybe_pause_protocol()

    def _write_ready(self) -> None:
        buffer = self._buffer
        if not buffer:  # drained by an abort() racing the readiness event
            self._stop_writing()
            return
        try:
            if len(buffer) == 1:
                n = os.write(self._fd, buffer[0])
            else:
                n = os.writev(self._fd, list(buffer)[:_IOV_MAX])
        except _WOULD_BLOCK:
            return
        except _FATAL:
            raise
        except BaseException as exc:
            buffer.clear()
            self._buffer_size = 0
            self._conn_lost += 1
            self._stop_writing()
            self._fatal_error(exc, "Fatal write error on pipe transport")
            return
        self._buffer_size -= n
        if not self._buffer_size:
            buffer.clear()
            self._stop_writing()
            self._maybe_resume_protocol()  # may write (and buffer) more
            if self._closing and not self._buffer:
                self._stop_reading()
                self._lost = True
                self._call_connection_lost(None)
        else:
            while n:
                chunk = buffer[0]
                size = len(chunk)
                if size <= n:
                    buffer.popleft()
                    n -= size
                else:
                    buffer[0] = memoryview(chunk)[n:]
                    break

    def write_eof(self) -> None:
        if self._closing:
            return
        self._closing = True
        if not self._buffer:
            self._stop_reading()
            self._lost = True
            self._loop.call_soon(self._call_connection_lost, None, context=self._context)

    def close(self) -> None:
        if self._pipe is not None and not self._closing:
            self.write_eof()  # all a write pipe needs to close

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                _logger.debug("%r: %s", self._transport, message, exc_info=True)
        else:
            self._loop.call_exception_handler(
                {
                    "message": message,
                    "exception": exc,
                    "transport": self._transport,
                    "protocol": self._protocol,
                }
            )
        self._close(exc)

    def _close(self, exc: BaseException | None) -> None:
        self._closing = True
        self._buffer.clear()
        self._buffer_size = 0
        self._stop_writing()
        self._stop_reading()
        if self._lost:
            return
        self._lost = True
        self._loop.call_soon(self._call_connection_lost, exc, context=self._context)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        if self._pipe is None:
            return
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._pipe.close()
            self._pipe = None
            self._protocol = None
            self._loop = None

    # --------------------------------------------------------- flow control

    def set_write_buffer_limits(self, high: Any = None, low: Any = None) -> None:
        self._high_water, self._low_water = water_marks(high, low)
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self) -> None:
        if self._buffer_size <= self._high_water or self._protocol_paused:
            return
        self._protocol_paused = True
        notify_protocol(self._loop, self._transport, self._protocol, "pause_writing")

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and self._buffer_size <= self._low_water:
            self._protocol_paused = False
            notify_protocol(self._loop, self._transport, self._protocol, "resume_writing")


def _pipe_mode(pipe: Any) -> tuple[int, int]:
    fd = pipe.fileno()
    return fd, os.fstat(fd).st_mode


def _repr(transport: Any, core: Any, polling: bool, extra: str = "") -> str:
    info = [transport.__class__.__name__]
    if core._pipe is None:
        info.append("closed")
    elif core._closing:
        info.append("closing")
    info.append(f"fd={core._fd}")
    loop = transport._loop
    if core._pipe is not None and not loop.is_closed():
        info.append("polling" if polling else "idle")
        if extra:
            info.append(extra)
    elif core._pipe is not None:
        info.append("open")
    else:
        info.append("closed")
    return "<{}>".format(" ".join(info))


class ReadPipeTransport(asyncio.ReadTransport):
    """The read end of a pipe, FIFO or character device; see the module docstring.

    Made by ``loop.connect_read_pipe``, never by user code::

        transport, protocol = await loop.connect_read_pipe(MyProtocol, os.fdopen(rfd, "rb"))
    """

    max_size = _MAX_SIZE
    _core: Any = None  # __del__ must work on a half-built transport

    def __init__(
        self,
        loop: Any,
        pipe: Any,
        protocol: Any,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(extra)
        self._extra["pipe"] = pipe  # type: ignore[attr-defined]  # asyncio.BaseTransport's slot
        self._loop = loop
        fd, mode = _pipe_mode(pipe)
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
            raise ValueError("Pipe transport is for pipes/sockets only.")
        os.set_blocking(fd, False)
        core = _ReadPipeCore(self, loop, pipe, fd, protocol)
        self._core = core
        loop._transports[fd] = self
        loop.call_soon(core._start, waiter, context=core._context)

    def __repr__(self) -> str:
        core = self._core
        return _repr(self, core, core._reading)

    def __del__(self, _warn: Any = warnings.warn) -> None:
        core = self._core
        if core is not None and core._pipe is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            core._pipe.close()
            core._pipe = None

    @property
    def _pipe(self) -> Any:
        return self._core._pipe

    @_pipe.setter
    def _pipe(self, value: Any) -> None:
        # CPython's tests drop the pipe by hand (``transport._pipe = None``) after closing it.
        self._core._pipe = value

    @property
    def _fileno(self) -> int:
        return self._core._fd  # type: ignore[no-any-return]

    def is_reading(self) -> bool:
        core = self._core
        return not core._paused and not core._closing

    def pause_reading(self) -> None:
        self._core.pause_reading()

    def resume_reading(self) -> None:
        self._core.resume_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._core._protocol = protocol

    def get_protocol(self) -> Any:
        return self._core._protocol

    def is_closing(self) -> bool:
        return self._core._closing  # type: ignore[no-any-return]

    def close(self) -> None:
        self._core.close()


class WritePipeTransport(asyncio.WriteTransport):
    """The write end of a pipe, FIFO or character device; see the module docstring.

    Made by ``loop.connect_write_pipe``, never by user code::

        transport, protocol = await loop.connect_write_pipe(asyncio.Protocol, proc_stdin)
        transport.write(b"data")
    """

    _core: Any = None  # __del__ must work on a half-built transport

    def __init__(
        self,
        loop: Any,
        pipe: Any,
        protocol: Any,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(extra)
        self._extra["pipe"] = pipe  # type: ignore[attr-defined]  # asyncio.BaseTransport's slot
        self._loop = loop
        fd, mode = _pipe_mode(pipe)
        is_socket = stat.S_ISSOCK(mode)
        is_fifo = stat.S_ISFIFO(mode)
        if not (stat.S_ISCHR(mode) or is_fifo or is_socket):
            raise ValueError("Pipe transport is only for pipes, sockets and character devices")
        os.set_blocking(fd, False)
        core = _WritePipeCore(self, loop, pipe, fd, protocol)
        self._core = core
        self.write = core.write  # type: ignore[method-assign]  # one call, no delegation
        loop._transports[fd] = self
        loop.call_soon(core._start, waiter, is_socket or is_fifo, context=core._context)

    def __repr__(self) -> str:
        core = self._core
        return _repr(self, core, core._writing, f"bufsize={core._buffer_size}")

    def __del__(self, _warn: Any = warnings.warn) -> None:
        core = self._core
        if core is not None and core._pipe is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            core._pipe.close()
            core._pipe = None

    @property
    def _pipe(self) -> Any:
        return self._core._pipe

    @_pipe.setter
    def _pipe(self, value: Any) -> None:
        self._core._pipe = value

    @property
    def _fileno(self) -> int:
        return self._core._fd  # type: ignore[no-any-return]

    @property
    def _protocol_paused(self) -> bool:
        return self._core._protocol_paused  # type: ignore[no-any-return]

    def write(self, data: Any) -> None:  # replaced per instance by the core's (see __init__)
        self._core.write(data)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self._core.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._core._buffer_size  # type: ignore[no-any-return]

    def get_write_buffer_limits(self) -> tuple[int, int]:
        core = self._core
        return (core._low_water, core._high_water)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._core.set_write_buffer_limits(high, low)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._core._protocol = protocol

    def get_protocol(self) -> Any:
        return self._core._protocol

    def is_closing(self) -> bool:
        return self._core._closing  # type: ignore[no-any-return]

    def close(self) -> None:
        self._core.close()

    def abort(self) -> None:
        self._core._close(None)


# ------------------------------------------------------------------ the loop's methods


async def connect_read_pipe(
    loop: Any, protocol_factory: Any, pipe: Any
) -> tuple[ReadPipeTransport, Any]:
    """``loop.connect_read_pipe``: read ``pipe`` (a file object) into a protocol.

    Example::

        rfd, wfd = os.pipe()
        transport, protocol = await loop.connect_read_pipe(MyProtocol, open(rfd, "rb", 0))
    """
    protocol = protocol_factory()
    waiter = loop.create_future()
    transport = ReadPipeTransport(loop, pipe, protocol, waiter)
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    if loop._debug:
        _logger.debug(
            "Read pipe %r connected: (%r, %r)", pipe.fileno(), transport, protocol
        )
    return transport, protocol


async def connect_write_pipe(
    loop: Any, protocol_factory: Any, pipe: Any
) -> tuple[WritePipeTransport, Any]:
    """``loop.connect_write_pipe``: write to ``pipe`` (a file object) through a transport.

    Example::

        rfd, wfd = os.pipe()
        transport, _ = await loop.connect_write_pipe(asyncio.Protocol, open(wfd, "wb", 0))
        transport.write(b"hello")
    """
    protocol = protocol_factory()
    waiter = loop.create_future()
    transport = WritePipeTransport(loop, pipe, protocol, waiter)
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    if loop._debug:
        _logger.debug(
            "Write pipe %r connected: (%r, %r)", pipe.fileno(), transport, protocol
        )
    return transport, protocol
