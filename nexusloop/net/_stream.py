"""The stream transport: TCP and Unix stream sockets under asyncio's ``Transport`` API.

What a transport is here
------------------------
A :class:`SocketTransport` owns one connected, non-blocking stream socket and one protocol. It
subclasses :class:`asyncio.Transport` (code checks ``isinstance(t, asyncio.Transport)``), holds
the loop, and is a readiness *watcher* of the loop core: the transport registers itself with
``loop._watch_read(fd, self)`` / ``loop._watch_write(fd, self)`` and the tick calls
:meth:`_read_ready` / :meth:`_write_ready` directly, inside the transport's own
``contextvars.Context`` (a copy taken at creation, as asyncio's callbacks run in a copy of the
creator's context). No ``Handle`` is allocated and nothing is queued per readiness event.

The module is compiled by Cython as an ordinary Python module (the class must stay an
``asyncio.Transport`` subclass, which an extension type cannot be), and runs unchanged as
Python with ``NEXUSLOOP_NO_EXTENSIONS=1``.

Writing
    ``write`` sends at once when nothing is buffered (one ``send`` syscall, no registration);
    what the kernel does not take is buffered as ``bytes`` (a copy, so the caller may reuse a
    ``bytearray``) and a write watcher is registered. Several buffered chunks leave in one
    ``sendmsg``. ``writelines`` hands all its chunks to one ``sendmsg``.
Reading
    ``recv(max_size)`` per readiness event into ``protocol.data_received``; for an
    :class:`asyncio.BufferedProtocol`, ``recv_into(protocol.get_buffer(-1))`` and
    ``buffer_updated(n)``: the bytes land straight in the protocol's buffer.
Flow control
    asyncio's: ``pause_writing()`` when the buffer grows above the high-water mark (64 KiB by
    default), ``resume_writing()`` when it drains to the low-water mark (high / 4);
    ``pause_reading``/``resume_reading`` remove and restore the read watcher.

Lifecycle (who closes what, when ``connection_lost`` fires)
    * ``connection_made(transport)`` is called in the loop tick after the transport is created,
      before any ``data_received``; the reader is registered in that same callback.
    * ``close()``: stop reading at once; once the write buffer has drained, call
      ``connection_lost(None)`` (in a later callback when the buffer is already empty).
    * ``abort()`` and fatal errors: drop the buffer, stop reading and writing, and call
      ``connection_lost(exc)`` soon (``exc`` is ``None`` for ``abort``; an ``OSError`` for a
      socket error; any other exception also goes to the loop's exception handler).
    * ``connection_lost`` is called exactly once (and only if ``connection_made`` was); after it
      the socket is closed and the transport drops its loop, protocol and server.
    * ``eof_received()`` returning true keeps the transport open for writing (reading stops);
      otherwise the transport closes itself.
    * A transport that is garbage-collected unclosed warns (``ResourceWarning``) and closes its
      socket.

Contract with the loop
    Calls ``loop._watch_read/_watch_write/_unwatch_read/_unwatch_write``, ``loop.call_soon``,
    ``loop.call_exception_handler``, ``loop.create_future``, ``loop.get_debug`` and registers
    itself in ``loop._transports[fd]`` (a ``WeakValueDictionary``: ``add_reader`` on a
    transport's fd raises ``RuntimeError`` as in asyncio). A server passed in gets
    ``server._attach(transport)`` at creation and ``server._detach(transport)`` after
    ``connection_lost``.
"""
from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
import os
import socket
import warnings
from asyncio import constants, protocols, trsock
from typing import Any

__all__ = ["SocketTransport"]

_logger = logging.getLogger("asyncio")

try:
    _IOV_MAX: int = os.sysconf("SC_IOV_MAX")
except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
    _IOV_MAX = 16

_HAS_SENDMSG = hasattr(socket.socket, "sendmsg")
_WOULD_BLOCK = (BlockingIOError, InterruptedError)
_FATAL = (SystemExit, KeyboardInterrupt)
_CONNLOST_WARN = constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES
_INET = (socket.AF_INET, socket.AF_INET6)
_copy_context = contextvars.copy_context


def _set_nodelay(sock: socket.socket) -> None:
    # As asyncio: small writes leave at once instead of waiting for the peer's ACK.
    if sock.family in _INET and sock.type == socket.SOCK_STREAM and sock.proto == socket.IPPROTO_TCP:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class SocketTransport(asyncio.Transport):
    """Transport over a connected stream socket (TCP or Unix); see the module docstring."""

    __slots__ = (
        "__weakref__",
        "_loop",
        "_sock",
        "_sock_fd",
        "_protocol",
        "_protocol_connected",
        "_buffered",
        "_server",
        "_context",
        "_buffer",
        "_buffer_size",
        "_conn_lost",
        "_closing",
        "_paused",
        "_eof",
        "_reading",
        "_writing",
        "_empty_waiter",
        "_protocol_paused",
        "_high_water",
        "_low_water",
    )

    max_size = 256 * 1024  # bytes asked of recv() per readiness event, as asyncio
    _start_tls_compatible = True
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE

    def __init__(
        self,
        loop: Any,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
        server: Any = None,
    ) -> None:
        super().__init__(extra)
        self._sock = None  # set last: __del__ must see a half-built transport as closed
        self._loop = loop
        self._context = _copy_context()
        info = self._extra
        info["socket"] = trsock.TransportSocket(sock)
        try:
            info["sockname"] = sock.getsockname()
        except OSError:
            info["sockname"] = None
        if "peername" not in info:
            try:
                info["peername"] = sock.getpeername()
            except OSError:
                info["peername"] = None
        self._sock_fd = sock.fileno()
        self._protocol_connected = False
        self._buffered = False
        self.set_protocol(protocol)
        self._server = server
        self._buffer: collections.deque[Any] = collections.deque()
        self._buffer_size = 0
        self._conn_lost = 0
        self._closing = False
        self._paused = False
        self._eof = False
        self._reading = False
        self._writing = False
        self._empty_waiter: asyncio.Future[Any] | None = None
        self._protocol_paused = False
        self._high_water = 64 * 1024
        self._low_water = 16 * 1024
        _set_nodelay(sock)
        self._sock = sock
        if server is not None:
            server._attach(self)
        loop._transports[self._sock_fd] = self
        # connection_made, then reading, then the waiter, in the next tick (asyncio's order).
        loop.call_soon(self._start, waiter, context=self._context)

    def _start(self, waiter: asyncio.Future[Any] | None) -> None:
        try:
            self._protocol.connection_made(self)
        except _FATAL:
            raise
        except BaseException as exc:
            self._loop.call_exception_handler(
                {
                    "message": "Exception in callback protocol.connection_made()",
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )
        if not self._closing and not self._paused:
            self._loop._watch_read(self._sock_fd, self)
            self._reading = True
        if waiter is not None and not waiter.cancelled():
            waiter.set_result(None)

    def __repr__(self) -> str:
        info = [self.__class__.__name__]
        if self._sock is None:
            info.append("closed")
        elif self._closing:
            info.append("closing")
        info.append(f"fd={self._sock_fd}")
        if self._loop is not None and not self._loop.is_closed():
            info.append("read=polling" if self._reading else "read=idle")
            state = "polling" if self._writing else "idle"
            info.append(f"write=<{state}, bufsize={self._buffer_size}>")
        return "<{}>".format(" ".join(info))

    def __del__(self, _warn: Any = warnings.warn) -> None:
        sock = self._sock
        if sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            sock.close()
            self._sock = None
            server = self._server
            if server is not None:
                server._detach(self)
                self._server = None

    # ------------------------------------------------------------- protocol

    def set_protocol(self, protocol: Any) -> None:
        self._buffered = isinstance(protocol, protocols.BufferedProtocol)
        self._protocol = protocol
        self._protocol_connected = True

    def get_protocol(self) -> Any:
        return self._protocol

    def is_closing(self) -> bool:
        return self._closing

    # -------------------------------------------------------------- reading

    def is_reading(self) -> bool:
        return not self._closing and not self._paused

    def pause_reading(self) -> None:
        if self._closing or self._paused:
            return
        self._paused = True
        self._stop_reading()
        if self._loop.get_debug():
            _logger.debug("%r pauses reading", self)

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        self._loop._watch_read(self._sock_fd, self)
        self._reading = True
        if self._loop.get_debug():
            _logger.debug("%r resumes reading", self)

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop._unwatch_read(self._sock_fd)

    def _read_ready(self) -> None:
        if self._conn_lost:
            return
        if self._buffered:
            self._read_into_buffer()
            return
        try:
            data = self._sock.recv(self.max_size)
        except _WOULD_BLOCK:
            return
        except _FATAL:
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not data:
            self._read_eof()
            return
        try:
            self._protocol.data_received(data)
        except _FATAL:
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def _read_into_buffer(self) -> None:
        protocol = self._protocol
        try:
            buf = protocol.get_buffer(-1)
            if not len(buf):
                raise RuntimeError("get_buffer() returned an empty buffer")
        except _FATAL:
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
            return
        try:
            nbytes = self._sock.recv_into(buf)
        except _WOULD_BLOCK:
            return
        except _FATAL:
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not nbytes:
            self._read_eof()
            return
        try:
            protocol.buffer_updated(nbytes)
        except _FATAL:
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")

    def _read_eof(self) -> None:
        if self._loop.get_debug():
            _logger.debug("%r received EOF", self)
        try:
            keep_open = self._protocol.eof_received()
        except _FATAL:
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if keep_open:
            # The protocol may still write; there is nothing more to read.
            self._stop_reading()
        else:
            self.close()

    # -------------------------------------------------------------- writing

    def write(self, data: Any) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to write; sendfile is in progress")
        if not data:
            return
        if self._conn_lost:
            if self._conn_lost >= _CONNLOST_WARN:
                _logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer_size:
            # Nothing queued: try the kernel first.
            try:
                n = self._sock.send(data)
            except _WOULD_BLOCK:
                n = 0
            except _FATAL:
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")
                return
            if n == len(data):
                return
            data = memoryview(data).cast("B")[n:]
            self._loop._watch_write(self._sock_fd, self)
            self._writing = True
        chunk = bytes(data)  # the caller may reuse its buffer once write() returns
        self._buffer.append(chunk)
        self._buffer_size += len(chunk)
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Any) -> None:
        if self._eof:
            raise RuntimeError("Cannot call writelines() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to writelines; sendfile is in progress")
        if self._conn_lost:
            for data in list_of_data:
                self.write(data)  # asyncio's accounting of writes after connection loss
            return
        buffer = self._buffer
        added = 0
        for data in list_of_data:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(
                    f"data argument must be a bytes-like object, not {type(data).__name__!r}"
                )
            chunk = bytes(data)
            if chunk:
                buffer.append(chunk)
                added += len(chunk)
        if not added:
            return
        self._buffer_size += added
        self._flush()
        if self._buffer_size and not self._writing and self._sock is not None:
            self._loop._watch_write(self._sock_fd, self)
            self._writing = True
        self._maybe_pause_protocol()

    def _write_ready(self) -> None:
        if self._conn_lost or not self._buffer_size:
            return
        self._flush()

    def _flush(self) -> None:
        """Send what the kernel takes from the buffer; finish a close/EOF once it is empty."""
        buffer = self._buffer
        try:
            if len(buffer) == 1 or not _HAS_SENDMSG:
                n = self._sock.send(buffer[0])
            elif len(buffer) <= _IOV_MAX:
                n = self._sock.sendmsg(buffer)
            else:
                n = self._sock.sendmsg(list(buffer)[:_IOV_MAX])
        except _WOULD_BLOCK:
            return
        except _FATAL:
            raise
        except BaseException as exc:
            self._stop_writing()
            buffer.clear()
            self._buffer_size = 0
            self._fatal_error(exc, "Fatal write error on socket transport")
            if self._empty_waiter is not None:
                self._empty_waiter.set_exception(exc)
            return
        self._buffer_size -= n
        while n:
            chunk = buffer[0]
            size = len(chunk)
            if size <= n:
                buffer.popleft()
                n -= size
            else:
                buffer[0] = chunk[n:]
                break
        self._maybe_resume_protocol()  # may write more
        if not self._buffer_size:
            self._stop_writing()
            if self._empty_waiter is not None:
                self._empty_waiter.set_result(None)
            if self._closing:
                self._call_connection_lost(None)
            elif self._eof:
                self._sock.shutdown(socket.SHUT_WR)

    def _stop_writing(self) -> None:
        if self._writing:
            self._writing = False
            self._loop._unwatch_write(self._sock_fd)

    def write_eof(self) -> None:
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._buffer_size:
            self._sock.shutdown(socket.SHUT_WR)

    def can_write_eof(self) -> bool:
        return True

    # --------------------------------------------------------- flow control

    def get_write_buffer_size(self) -> int:
        return self._buffer_size

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low_water, self._high_water)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high_water = high
        self._low_water = low
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self) -> None:
        if self._buffer_size <= self._high_water or self._protocol_paused:
            return
        self._protocol_paused = True
        try:
            self._protocol.pause_writing()
        except _FATAL:
            raise
        except BaseException as exc:
            self._loop.call_exception_handler(
                {
                    "message": "protocol.pause_writing() failed",
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and self._buffer_size <= self._low_water:
            self._protocol_paused = False
            try:
                self._protocol.resume_writing()
            except _FATAL:
                raise
            except BaseException as exc:
                self._loop.call_exception_handler(
                    {
                        "message": "protocol.resume_writing() failed",
                        "exception": exc,
                        "transport": self,
                        "protocol": self._protocol,
                    }
                )

    # ------------------------------------------------------------- closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._stop_reading()
        if not self._buffer_size:
            self._conn_lost += 1
            self._stop_writing()
            self._loop.call_soon(self._call_connection_lost, None, context=self._context)

    def abort(self) -> None:
        self._force_close(None)

    def _fatal_error(self, exc: BaseException, message: str = "Fatal error on transport") -> None:
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                _logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler(
                {
                    "message": message,
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        if self._buffer_size:
            self._buffer.clear()
            self._buffer_size = 0
        self._stop_writing()
        if not self._closing:
            self._closing = True
        self._stop_reading()
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc, context=self._context)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        if self._sock is None:
            return  # already finished (a close racing the end of a flush)
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            self._sock.close()
            self._sock = None
            self._protocol = None
            self._loop = None
            server = self._server
            if server is not None:
                server._detach(self)
                self._server = None
            waiter = self._empty_waiter
            if waiter is not None and not waiter.done():
                waiter.set_exception(ConnectionError("Connection is closed by peer"))

    # ------------------------------------------- sendfile (loop.sendfile's contract)

    def _make_empty_waiter(self) -> asyncio.Future[Any]:
        if self._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        self._empty_waiter = self._loop.create_future()
        if not self._buffer_size:
            self._empty_waiter.set_result(None)
        return self._empty_waiter

    def _reset_empty_waiter(self) -> None:
        self._empty_waiter = None
