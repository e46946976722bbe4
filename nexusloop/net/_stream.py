"""The stream transport: TCP and Unix stream sockets under asyncio's ``Transport`` API.

What a transport is here
------------------------
A transport owns one connected, non-blocking stream socket and one protocol. It is two objects:

* :class:`_StreamCore`, a compiled class (``_stream.pxd``) holding all the state and doing all
  the I/O. It is a readiness *watcher* of the loop core (``_core._loopcore.Watcher``): it
  registers itself with ``loop._watch_read(fd, self)`` / ``loop._watch_write(fd, self)`` and the
  tick calls its ``_read_ready`` / ``_write_ready`` directly (a C call), inside the transport's
  own ``contextvars.Context`` (a copy taken at creation, as asyncio's callbacks run in a copy of
  the creator's context). No ``Handle`` is allocated and nothing is queued per readiness event.
  Compiled, it calls ``recv``/``send`` on the file descriptor itself (no socket-method lookup,
  no argument parsing) and receives into one static 256 KiB buffer, copied out at the received
  size (no 256 KiB allocation per ``recv``).
* :class:`SocketTransport`, the object protocols see: an :class:`asyncio.Transport` subclass
  (code checks ``isinstance(t, asyncio.Transport)``, which an extension type cannot satisfy)
  whose methods delegate to the core. ``write``, ``writelines`` and ``is_closing`` are bound to
  the core's methods on the instance, so ``transport.write(data)`` is one C call.

With ``NEXUSLOOP_NO_EXTENSIONS=1`` the same file runs as plain Python (the socket's own methods
replace the raw syscalls).

Writing
    ``write`` sends at once when nothing is buffered (one ``send`` syscall, no registration);
    what the kernel does not take is buffered as ``bytes`` (a copy, so the caller may reuse a
    ``bytearray``) and a write watcher is registered. Several buffered chunks leave in one
    ``sendmsg``. ``writelines`` hands all its chunks to one ``sendmsg``.
Reading
    One ``recv`` per readiness event into the loop's 256 KiB receive buffer, copied out at the
    received size for ``protocol.data_received``; for an
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
    * ``get_extra_info('socket' / 'sockname' / 'peername')`` are read on first request, not
      at creation (asyncio reads them eagerly): asked for the first time after the transport
      closed, the addresses are ``None``.
    * A transport that is garbage-collected unclosed warns (``ResourceWarning``) and closes its
      socket.

Contract with the loop
    Calls ``loop._watch_read/_watch_write/_unwatch_read/_unwatch_write``, ``loop.call_soon``,
    ``loop.call_exception_handler``, ``loop.create_future``, ``loop._debug`` and registers the
    transport in ``loop._transports[fd]`` (a weak ``TransportTable``: ``add_reader`` on a
    transport's fd raises ``RuntimeError`` as in asyncio). A server passed in gets
    ``server._attach(transport)`` at creation and ``server._detach(transport)`` after
    ``connection_lost``.
"""
from __future__ import annotations

import _socket
import asyncio
import collections
import contextvars
import logging
import os
import socket
import warnings
from asyncio import constants, protocols, trsock
from typing import Any

try:
    import cython
except ImportError:  # pragma: no cover
    from nexusloop._core import _cyshim as cython  # type: ignore[no-redef]

from nexusloop import _compat
from nexusloop._core._loopcore import Watcher
from nexusloop.net._flow import notify_protocol, water_marks

__all__ = ["SocketTransport"]

_logger = logging.getLogger("asyncio")

try:
    _IOV_MAX: int = os.sysconf("SC_IOV_MAX")
except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
    _IOV_MAX = 16

_MAX_SIZE = 256 * 1024  # bytes asked of recv() per readiness event, as asyncio
_HAS_SENDMSG = hasattr(socket.socket, "sendmsg")
_WOULD_BLOCK = (BlockingIOError, InterruptedError)
_FATAL = (SystemExit, KeyboardInterrupt)
_CONNLOST_WARN = constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES
_INET = (int(socket.AF_INET), int(socket.AF_INET6))
_BYTES_LIKE = (bytes, bytearray, memoryview)
_copy_context = contextvars.copy_context


# socket.socket's family/type properties convert to IntEnum on every access (slow enough to
# show in a connection's profile); the C-level getters of _socket.socket return the plain ints.
_raw_family = _socket.socket.family.__get__
_raw_type = _socket.socket.type.__get__


def _set_nodelay(sock: socket.socket) -> None:
    # As asyncio: small writes leave at once instead of waiting for the peer's ACK.
    if (
        _raw_family(sock) in _INET
        and _raw_type(sock) == socket.SOCK_STREAM
        and sock.proto == socket.IPPROTO_TCP
    ):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _not_bytes(data: Any) -> TypeError:
    return TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")


class _StreamCore(Watcher):
    """The compiled state and I/O of one stream transport (see the module docstring)."""

    def __init__(self, transport: Any, loop: Any, sock: socket.socket, protocol: Any,
                 server: Any) -> None:
        self._transport = transport
        self._loop = loop
        self._context = _copy_context()
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol_connected = False
        self._buffered = False
        self._server = server
        self._buffer: collections.deque[Any] = collections.deque()
        self._buffer_size = 0
        self._conn_lost = 0
        self._closing = False
        self._paused = False
        self._eof = False
        self._reading = False
        self._writing = False
        self._empty_waiter = None
        self._protocol_paused = False
        self._high_water = 64 * 1024
        self._low_water = 16 * 1024
        self.set_protocol(protocol)

    def _start(self, waiter: asyncio.Future[Any] | None) -> None:
        # connection_made, then reading, then the waiter: asyncio's order, in one callback.
        try:
            self._protocol.connection_made(self._transport)
        except _FATAL:
            raise
        except BaseException as exc:
            self._loop.call_exception_handler(
                {
                    "message": "Exception in callback protocol.connection_made()",
                    "exception": exc,
                    "transport": self._transport,
                    "protocol": self._protocol,
                }
            )
        if not self._closing and not self._paused:
            self._loop._watch_read(self._fd, self)
            self._reading = True
        if waiter is not None and not waiter.cancelled():
            waiter.set_result(None)

    def set_protocol(self, protocol: Any) -> None:
        self._buffered = isinstance(protocol, protocols.BufferedProtocol)
        self._data_received = None if self._buffered else protocol.data_received
        self._protocol = protocol
        self._protocol_connected = True

    def is_closing(self) -> bool:
        return self._closing

    # -------------------------------------------------------------- reading

    def pause_reading(self) -> None:
        if self._closing or self._paused:
            return
        self._paused = True
        self._stop_reading()
        if self._loop._debug:
            _logger.debug("%r pauses reading", self._transport)

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        self._loop._watch_read(self._fd, self)
        self._reading = True
        if self._loop._debug:
            _logger.debug("%r resumes reading", self._transport)

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop._unwatch_read(self._fd)

    def _read_ready(self) -> None:
        if self._conn_lost:
            return
        if self._buffered:
            self._read_into_buffer()
            return
        try:
            if cython.compiled:
                data = _recv_bytes(self._fd)  # type: ignore[name-defined]  # noqa: F821 (.pxd)
            else:
                data = self._sock.recv(_MAX_SIZE)
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
            self._data_received(data)  # type: ignore[misc]  # set with the protocol
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
            if cython.compiled:
                nbytes = _recv_into(self._fd, buf)  # type: ignore[name-defined]  # noqa: F821
            else:
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
        if self._loop._debug:
            _logger.debug("%r received EOF", self._transport)
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
        if not isinstance(data, _BYTES_LIKE):
            raise _not_bytes(data)
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
                if cython.compiled:
                    n = _send_buffer(self._fd, data)  # type: ignore[name-defined]  # noqa: F821
                else:
                    n = self._sock.send(data)
            except _WOULD_BLOCK:
                n = 0
            except _FATAL:
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")
                return
            if type(data) is bytes:
                if n == len(data):
                    return
            else:
                data = memoryview(data).cast("B")
                if n == len(data):
                    return
            data = memoryview(data)[n:]
            self._loop._watch_write(self._fd, self)
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
        chunks = []
        added = 0
        for data in list_of_data:
            if not isinstance(data, _BYTES_LIKE):
                raise _not_bytes(data)
            chunk = bytes(data)
            if chunk:
                chunks.append(chunk)
                added += len(chunk)
        if not added:
            return
        self._buffer.extend(chunks)
        self._buffer_size += added
        self._flush()
        if self._buffer_size and not self._writing and self._sock is not None:
            self._loop._watch_write(self._fd, self)
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
            waiter = self._empty_waiter
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc)
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
            waiter = self._empty_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if self._closing:
                self._call_connection_lost(None)
            elif self._eof:
                self._sock.shutdown(socket.SHUT_WR)

    def _stop_writing(self) -> None:
        if self._writing:
            self._writing = False
            self._loop._unwatch_write(self._fd)

    def write_eof(self) -> None:
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._buffer_size:
            self._sock.shutdown(socket.SHUT_WR)

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

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        if isinstance(exc, OSError):
            if self._loop._debug:
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
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        if self._buffer_size:
            self._buffer.clear()
            self._buffer_size = 0
        self._stop_writing()
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
            self._sock = None  # type: ignore[assignment]
            self._protocol = None
            self._data_received = None
            server = self._server
            if server is not None:
                self._server = None
                server._detach(self._transport)
            waiter = self._empty_waiter
            if waiter is not None and not waiter.done():
                waiter.set_exception(ConnectionError("Connection is closed by peer"))
            self._transport = None  # the transport refers to this core, not the reverse now


class SocketTransport(asyncio.Transport):
    """Transport over a connected stream socket (TCP or Unix); see the module docstring.

    Created by the loop (``create_connection``, servers, ...), never by user code.
    """

    max_size = _MAX_SIZE
    _start_tls_compatible = True
    _sendfile_compatible = _compat.SendfileMode.TRY_NATIVE
    _core: Any = None  # __del__ must work on a half-built transport

    def __init__(
        self,
        loop: Any,
        sock: socket.socket,
        protocol: Any,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
        server: Any = None,
    ) -> None:
        super().__init__(extra)
        self._socket = sock  # for get_extra_info, which reads socket/sockname/peername lazily
        _set_nodelay(sock)
        self._loop = loop
        core = _StreamCore(self, loop, sock, protocol, server)
        self._core = core
        # The hot methods, bound on the instance: transport.write(data) is one call into the
        # compiled core instead of a Python method that delegates.
        self.write = core.write  # type: ignore[method-assign]
        self.writelines = core.writelines  # type: ignore[method-assign]
        self.is_closing = core.is_closing  # type: ignore[method-assign]
        if server is not None:
            server._attach(self)
        loop._transports[core._fd] = self
        loop.call_soon(core._start, waiter, context=core._context)

    def __repr__(self) -> str:
        core = self._core
        info = [self.__class__.__name__]
        if core is None or core._sock is None:
            info.append("closed")
        elif core._closing:
            info.append("closing")
        if core is not None:
            info.append(f"fd={core._fd}")
            if not self._loop.is_closed():
                info.append("read=polling" if core._reading else "read=idle")
                state = "polling" if core._writing else "idle"
                info.append(f"write=<{state}, bufsize={core._buffer_size}>")
        return "<{}>".format(" ".join(info))

    def __del__(self, _warn: Any = warnings.warn) -> None:
        core = self._core
        if core is not None and core._sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            core._sock.close()
            core._sock = None
            server = core._server
            if server is not None:
                core._server = None
                server._detach(self)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """asyncio's transport information: ``socket``, ``sockname``, ``peername``, ...

        Unlike asyncio, the socket's addresses are read on first request (two system calls
        saved per connection when nobody asks); asked for the first time after the transport
        closed, they are ``None``.
        """
        extra = self._extra  # type: ignore[attr-defined]  # asyncio.BaseTransport's slot
        if name in extra:
            return extra[name]
        if name == "socket":
            value: Any = trsock.TransportSocket(self._socket)
        elif name == "sockname" or name == "peername":
            if self._core._sock is None:
                return None
            try:
                value = getattr(self._socket, "get" + name)()
            except OSError:
                value = None
        else:
            return default
        extra[name] = value
        return value

    @property
    def _sock(self) -> socket.socket | None:
        return self._core._sock  # type: ignore[no-any-return]

    @property
    def _protocol_paused(self) -> bool:
        # asyncio's _FlowControlMixin flag, read by its sendfile fallback protocol.
        return self._core._protocol_paused  # type: ignore[no-any-return]

    @property
    def _sock_fd(self) -> int:
        return self._core._fd  # type: ignore[no-any-return]

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._core.set_protocol(protocol)

    def get_protocol(self) -> Any:
        return self._core._protocol

    def is_closing(self) -> bool:  # replaced per instance by the core's method (see __init__)
        return self._core._closing  # type: ignore[no-any-return]

    def is_reading(self) -> bool:
        core = self._core
        return not core._closing and not core._paused

    def pause_reading(self) -> None:
        self._core.pause_reading()

    def resume_reading(self) -> None:
        self._core.resume_reading()

    def write(self, data: Any) -> None:  # replaced per instance (see __init__)
        self._core.write(data)

    def writelines(self, list_of_data: Any) -> None:  # replaced per instance (see __init__)
        self._core.writelines(list_of_data)

    def write_eof(self) -> None:
        self._core.write_eof()

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return self._core._buffer_size  # type: ignore[no-any-return]

    def get_write_buffer_limits(self) -> tuple[int, int]:
        core = self._core
        return (core._low_water, core._high_water)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._core.set_write_buffer_limits(high, low)

    def close(self) -> None:
        self._core.close()

    def abort(self) -> None:
        self._core._force_close(None)

    def _force_close(self, exc: BaseException | None) -> None:
        # asyncio's transports have it; SSLProtocol calls it to abort after a TLS error.
        self._core._force_close(exc)

    # ------------------------------------------- sendfile (loop.sendfile's contract)

    def _make_empty_waiter(self) -> asyncio.Future[Any]:
        core = self._core
        if core._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        waiter = self._loop.create_future()
        core._empty_waiter = waiter
        if not core._buffer_size:
            waiter.set_result(None)
        return waiter

    def _reset_empty_waiter(self) -> None:
        self._core._empty_waiter = None
