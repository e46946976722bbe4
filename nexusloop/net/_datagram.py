"""Datagram endpoints: UDP and Unix datagram sockets under asyncio's ``DatagramTransport`` API.

What a datagram transport is here
---------------------------------
A datagram transport owns one non-blocking ``SOCK_DGRAM`` socket (UDP over IPv4/IPv6, or
``AF_UNIX``) and one :class:`asyncio.DatagramProtocol`. As the stream transport (``_stream.py``)
it is two objects:

* :class:`_DatagramCore`, a compiled class (``_datagram.pxd``) holding all the state and doing
  all the I/O. It is a readiness *watcher* of the loop core (``_core._loopcore.Watcher``): it
  registers itself with ``loop._watch_read(fd, self)`` / ``loop._watch_write(fd, self)`` and the
  tick calls its ``_read_ready`` / ``_write_ready`` directly (a C call through the vtable),
  inside the transport's own ``contextvars.Context`` (a copy taken at creation). Nothing is
  allocated or queued per readiness event.
* :class:`DatagramTransport`, the object protocols see: an :class:`asyncio.Transport` and
  :class:`asyncio.DatagramTransport` subclass (an extension type cannot be either) whose
  methods delegate to the core. ``sendto`` and ``is_closing`` are bound to the core's methods
  on the instance, so ``transport.sendto(data, addr)`` is one C call.

Datagrams keep their boundaries, so the write side is a queue of ``(bytes, address)`` pairs and
not a byte stream: ``sendto`` hands the datagram to the kernel at once when nothing is queued
(one syscall, no registration); only when the kernel would block (a full send buffer, or a full
receive queue of a Unix datagram peer) is it copied into the queue and a write watcher
registered, which sends the queue in order as the socket becomes writable.

Compiled
    The core calls ``recvfrom``/``sendto``/``send`` on the file descriptor itself (no socket
    method lookup, no argument parsing) and receives into one static 256 KiB buffer, copied out
    at the datagram's size. ``EAGAIN`` is a return value checked in C, not a
    ``BlockingIOError`` built and discarded; other errors raise the same ``OSError`` subclass
    as the socket methods, and ``EINTR`` runs the signal handlers and retries as they do.
    Raw receiving is used for ``AF_INET``/``AF_INET6`` sockets; other families (``AF_UNIX``)
    and an unusual ``max_size`` above 256 KiB use the socket's ``recvfrom_into``.
    With ``NEXUSLOOP_NO_EXTENSIONS=1`` the same file runs as plain Python on the socket's own
    methods throughout (same behaviour, same tests).

Addresses (compiled)
    A received address is built as ``socket.recvfrom`` builds it: ``(host, port)`` for IPv4,
    ``(host, port, flowinfo, scope_id)`` for IPv6 (host text as ``inet_ntop`` writes it).
    The core remembers the last one with its ``sockaddr``: a datagram from the same peer
    (every datagram of a connected endpoint, a burst from one client) gets the same tuple
    object (tuples of ``str`` and ``int`` are immutable, so only identity could tell), and a
    ``sendto`` to that very object (the usual reply, ``transport.sendto(data, addr)`` inside
    ``datagram_received``) reuses its ``sockaddr``. Another address is converted when it is
    ``(numeric_ip_str, int_port[, flowinfo[, scope_id]])`` in range, and remembered for the
    next ``sendto`` given the same object; anything else (host names, ``bytes`` hosts, zone
    indexes, ``AF_UNIX`` paths, bad values) goes to ``socket.sendto``, which resolves names
    and raises exactly as it does for asyncio. The ``socket.sendto`` audit event is raised
    either way.

Semantics (CPython's ``selector_events._SelectorDatagramTransport`` and
``base_events.create_datagram_endpoint`` are the specification)
    * Datagrams of up to ``max_size`` bytes (256 KiB), delivered to ``datagram_received`` as
      ``bytes``, in arrival order.
    * An ``OSError`` from ``recvfrom``/``send``/``sendto`` (e.g. ``ConnectionRefusedError`` after
      an ICMP port-unreachable on a connected socket) goes to ``protocol.error_received`` and the
      transport stays open; any other exception is fatal (exception handler, then closed).
    * An exception raised by ``datagram_received`` (or ``error_received``) in a readiness
      event goes to the loop's exception handler, as a raising callback does, and the
      transport stays open.
    * ``sendto(data, addr)`` on a connected endpoint: ``addr`` must be ``None`` or the address it
      was created with, else ``ValueError``. A connected socket sends with ``send``.
    * Empty ``data`` is sent as an empty datagram (CPython 3.13; 3.11 and 3.12 dropped it).
    * The write-buffer size counts each queued datagram as its length plus 8 bytes of header, so
      that queued empty datagrams also count towards the high-water mark (CPython 3.13 with the
      accounting fix of gh-135444; 3.11 and 3.12 count the payload only).
    * Flow control as asyncio's ``_FlowControlMixin``: ``pause_writing()`` above the high-water
      mark (64 KiB by default), ``resume_writing()`` at or below the low-water mark (high / 4).

Reading in batches
    asyncio reads one datagram per readiness event. A socket that many peers send to (a
    server) then costs one ``epoll_wait`` per datagram; libuv (and so uvloop) reads until the
    socket is empty, up to 32 datagrams, instead. That costs one ``recvfrom`` failing with
    ``EAGAIN`` at the end of every batch (in pure Python also a ``BlockingIOError`` built and
    discarded): for a socket with one datagram in flight (a client waiting for its reply) it is
    pure overhead. So a transport reads a batch (up to 32, until ``EAGAIN``) while its socket
    showed a backlog at the previous event (a batch of more than one datagram), and otherwise
    one datagram per event as asyncio, trying a batch every 8th event to notice a backlog
    forming. Level-triggered polling means nothing is left behind either way: an unread
    datagram keeps the socket readable. Reading stops at once when the protocol pauses reading
    or closes the transport.

The receive buffer
    asyncio calls ``recvfrom(256 KiB)``, which makes CPython allocate a 256 KiB ``bytes`` and
    shrink it for every datagram (an allocation that size goes to mmap/munmap; the stream
    transport avoids it the same way). Compiled, the datagram lands in the module's static
    buffer (see "Compiled"). On the socket-method path each thread has one 256 KiB
    ``bytearray`` that every datagram transport created on it shares: ``recvfrom_into`` that
    buffer, then copy the datagram out into ``bytes`` of its own size. Sharing either buffer
    is safe because a transport only reads from its loop's tick, on the loop's thread, one
    datagram at a time, and the copy is made before any protocol code runs.

Lifecycle (who closes what, when ``connection_lost`` fires)
    * ``connection_made(transport)`` runs in the loop tick after creation; the read watcher is
      registered in that same callback, so no datagram reaches the protocol before it;
      ``create_datagram_endpoint`` returns after it.
    * ``close()``: stop reading at once; once the queue has drained, call
      ``connection_lost(None)`` (in a later callback when the queue is already empty).
      Datagrams given to ``sendto`` while a non-empty queue drains are still sent.
    * ``abort()`` and fatal errors: drop the queue, stop reading and writing, call
      ``connection_lost(exc)`` soon (``None`` for ``abort``).
    * ``connection_lost`` is called exactly once (and only if ``connection_made`` was); after it
      the socket is closed and the core drops its loop, protocol and transport (the transport
      refers to the core, not the reverse, from then on). ``sendto`` after that is dropped;
      from the fifth such call on, each logs asyncio's warning
      ``socket.send() raised exception.``
    * A transport garbage-collected unclosed warns (``ResourceWarning``) and closes its socket.

Contract with the loop
    Calls ``loop._watch_read/_watch_write/_unwatch_read/_unwatch_write``, ``loop.call_soon``,
    ``loop.call_exception_handler``, ``loop.create_future``, ``loop.get_debug`` (``_debug``),
    ``loop.getaddrinfo`` and ``loop.sock_connect``, and registers the transport in
    ``loop._transports[fd]`` (a weak ``TransportTable``; ``add_reader`` on its fd then raises
    ``RuntimeError`` as in asyncio). :func:`create_datagram_endpoint` is bound on the Loop as
    ``Loop.create_datagram_endpoint``.
"""
from __future__ import annotations

import _socket
import asyncio
import collections
import contextvars
import logging
import os
import socket
import stat
import sys
import threading
import warnings
from asyncio import constants, trsock
from collections.abc import Callable
from typing import Any

try:
    import cython
except ImportError:  # pragma: no cover
    from nexusloop._core import _cyshim as cython  # type: ignore[no-redef]

from nexusloop._core._loopcore import Watcher
from nexusloop.net._flow import notify_protocol, water_marks

__all__ = ["DatagramTransport", "create_datagram_endpoint"]

_logger = logging.getLogger("asyncio")

_WOULD_BLOCK = (BlockingIOError, InterruptedError)
_FATAL = (SystemExit, KeyboardInterrupt)
_CONNLOST_WARN = constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES
_HEADER_SIZE = 8  # bytes counted per queued datagram on top of its payload
_HAS_IPV6 = socket.has_ipv6
_HAS_AF_UNIX = hasattr(socket, "AF_UNIX")
_INET = (int(socket.AF_INET), int(getattr(socket, "AF_INET6", -1)))
# Python 3.13 accepts any non-stream socket (SOCK_SEQPACKET, SOCK_RAW) and says so differently.
_ANY_NON_STREAM_SOCK = sys.version_info >= (3, 13)
_copy_context = contextvars.copy_context
_DEFAULT_MAX_SIZE = 256 * 1024
_READS_PER_EVENT = 32  # datagrams read per readiness event at most (libuv's batch)
_PROBE_EVERY = 8  # a socket without a backlog is probed for one every this many events
_per_thread = threading.local()

# socket.socket's family property converts to IntEnum on every access; the C-level getter of
# _socket.socket returns the plain int.
_raw_family = _socket.socket.family.__get__


def _receive_buffer(size: int) -> memoryview:
    """A writable buffer of ``size`` bytes for ``recvfrom_into`` (see "The receive buffer")."""
    if size != _DEFAULT_MAX_SIZE:
        return memoryview(bytearray(size))  # an unusual max_size gets a buffer of its own
    view: memoryview | None = getattr(_per_thread, "view", None)
    if view is None:
        view = memoryview(bytearray(_DEFAULT_MAX_SIZE))
        _per_thread.view = view
    return view


class _DatagramCore(Watcher):
    """The compiled state and I/O of one datagram transport (see the module docstring)."""

    def __init__(self, transport: Any, loop: Any, sock: socket.socket, protocol: Any,
                 address: Any, connected: bool, max_size: int) -> None:
        self._transport = transport
        self._loop = loop
        self._context = _copy_context()
        self._sock: Any = sock
        self._fd = sock.fileno()
        is_socket = isinstance(sock, _socket.socket)
        self._family = _raw_family(sock) if is_socket else -1
        self._protocol: Any = None
        self._protocol_connected = False
        self._address = address
        self._connected = connected
        self._max_size = max_size
        # The raw system calls (compiled only) on a real socket; AF_INET/AF_INET6 addresses are
        # converted here, other families' by the socket module.
        self._raw_send = cython.compiled and is_socket
        self._raw_addr = self._raw_send and self._family in _INET
        self._raw_recv = self._raw_addr and max_size <= _DEFAULT_MAX_SIZE  # the static buffer
        self._rview: Any = None if self._raw_recv else _receive_buffer(max_size)
        self._rx_addr: Any = None
        self._tx_addr: Any = None
        self._backlog = False
        self._quiet_events = 0
        self._buffer: collections.deque[tuple[bytes, Any]] = collections.deque()
        self._buffer_size = 0
        self._conn_lost = 0
        self._closing = False
        self._paused = False
        self._reading = False
        self._writing = False
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
        self._protocol = protocol
        self._protocol_connected = True

    def is_closing(self) -> bool:
        return self._closing

    def _report_callback_error(self, exc: BaseException, method: str) -> None:
        # A protocol callback raised inside a readiness event: reported as the tick reports a
        # raising callback, naming the transport the protocol knows; the transport stays open.
        self._loop.call_exception_handler(
            {
                "message": f"Exception in callback {self._transport!r}.{method}()",
                "exception": exc,
                "transport": self._transport,
            }
        )

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
        try:
            self._read_datagrams()
        except _FATAL:
            raise
        except BaseException as exc:
            self._report_callback_error(exc, "_read_ready")

    def _read_datagrams(self) -> None:
        # A batch of datagrams per readiness event while the socket has shown a backlog, else
        # one, with a probe for a backlog every _PROBE_EVERY events (the module docstring says
        # why). Stop as soon as the protocol pauses reading or closes the transport.
        if self._backlog:
            budget = _READS_PER_EVENT
        else:
            self._quiet_events += 1
            budget = _READS_PER_EVENT if self._quiet_events % _PROBE_EVERY == 0 else 1
        received = 0
        # (_reading is False once the transport closes: close() and _force_close() stop reading.)
        while received < budget and self._reading:
            try:
                if cython.compiled and self._raw_recv:
                    data = _recv_datagram(self)  # type: ignore[name-defined]  # noqa: F821 (.pxd)
                    if data is None:
                        break  # EAGAIN
                    addr = self._rx_addr
                else:
                    view = self._rview
                    nbytes, addr = self._sock.recvfrom_into(view)
                    data = bytes(view[:nbytes])
            except _WOULD_BLOCK:
                break
            except OSError as exc:
                self._protocol.error_received(exc)
                return
            except _FATAL:
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal read error on datagram transport")
                return
            received += 1
            # Looked up per datagram, as asyncio does. An exception from the protocol
            # propagates to _read_ready, which reports it.
            self._protocol.datagram_received(data, addr)
        self._backlog = received > 1

    # -------------------------------------------------------------- writing

    def sendto(self, data: Any, addr: Any = None) -> None:
        """Send ``data`` as one datagram to ``addr`` (``None``: the connected peer)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if self._address:
            if addr is not None and addr != self._address:
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        if self._conn_lost:
            # asyncio counts these only for a connected endpoint and lets an unconnected one
            # reach the closed socket (an AttributeError in the exception handler); both are
            # dropped here with asyncio's warning.
            if self._conn_lost >= _CONNLOST_WARN:
                _logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer_size:  # (every queued datagram counts at least its header)
            # Nothing queued: hand the datagram to the kernel now.
            try:
                if self._send(data, addr):
                    return
            except OSError as exc:
                self._protocol.error_received(exc)
                return
            except _FATAL:
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
            self._loop._watch_write(self._fd, self)
            self._writing = True
        data = bytes(data)  # the caller may reuse its buffer once sendto() returns
        self._buffer.append((data, addr))
        self._buffer_size += len(data) + _HEADER_SIZE
        self._maybe_pause_protocol()

    def _send(self, data: Any, addr: Any) -> bool:
        """Send one datagram: true if the kernel took it, false if it would block."""
        if cython.compiled and self._raw_send:
            sent = _send_datagram(self, data, addr)  # type: ignore[name-defined]  # noqa: F821
            if sent >= 0:
                return sent > 0  # type: ignore[no-any-return]
        try:
            if self._connected:
                self._sock.send(data)
            else:
                self._sock.sendto(data, addr)
        except _WOULD_BLOCK:
            return False
        return True

    def _write_ready(self) -> None:
        try:
            self._flush_queue()
        except _FATAL:
            raise
        except BaseException as exc:
            self._report_callback_error(exc, "_write_ready")

    def _flush_queue(self) -> None:
        buffer = self._buffer
        while buffer:
            data, addr = buffer[0]
            try:
                if not self._send(data, addr):
                    break  # still full: wait for the next writable event
            except OSError as exc:
                # The datagram is dropped, as asyncio drops it; the rest stays queued.
                buffer.popleft()
                self._buffer_size -= len(data) + _HEADER_SIZE
                self._protocol.error_received(exc)
                return
            except _FATAL:
                raise
            except BaseException as exc:
                buffer.popleft()
                self._buffer_size -= len(data) + _HEADER_SIZE
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
            buffer.popleft()
            self._buffer_size -= len(data) + _HEADER_SIZE
        self._maybe_resume_protocol()  # may queue more
        if not self._buffer:
            self._stop_writing()
            if self._closing and not self._conn_lost:
                self._conn_lost += 1
                self._call_connection_lost(None)

    def _stop_writing(self) -> None:
        if self._writing:
            self._writing = False
            self._loop._unwatch_write(self._fd)

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
        if not self._buffer:
            self._conn_lost += 1
            self._stop_writing()
            self._loop.call_soon(self._call_connection_lost, None, context=self._context)

    def _fatal_error(self, exc: BaseException, message: str = "Fatal error on transport") -> None:
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
        if self._buffer:
            self._buffer.clear()
            self._buffer_size = 0
        self._stop_writing()
        self._closing = True
        self._stop_reading()
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc, context=self._context)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        if self._sock is None:
            return
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            self._sock.close()
            self._sock = None
            self._protocol = None
            self._loop = None
            self._transport = None  # the transport refers to this core, not the reverse now


class DatagramTransport(asyncio.Transport, asyncio.DatagramTransport):
    """Transport over a datagram socket (UDP or Unix); see the module docstring.

    It is an ``asyncio.Transport`` as well as an ``asyncio.DatagramTransport``, as asyncio's own
    datagram transport is (CPython's tests check both); ``write()`` is not supported.

    Made by ``loop.create_datagram_endpoint``::

        transport, protocol = await loop.create_datagram_endpoint(
            MyProtocol, local_addr=("127.0.0.1", 9999))
        transport.sendto(b"ping", ("127.0.0.1", 9998))
    """

    max_size = _DEFAULT_MAX_SIZE  # largest datagram received whole, as asyncio (read at creation)
    _core: Any = None  # __del__ must work on a half-built transport

    def __init__(
        self,
        loop: Any,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        address: Any = None,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(extra)
        info: dict[str, Any] = self._extra  # type: ignore[attr-defined]  # BaseTransport's slot
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
        # asyncio sends with send() when the socket has a (non-empty) peer name, else sendto().
        connected = bool(info["peername"])
        core = _DatagramCore(self, loop, sock, protocol, address, connected, self.max_size)
        self._core = core
        # The hot methods, bound on the instance: transport.sendto(data, addr) is one call into
        # the compiled core instead of a Python method that delegates.
        self.sendto = core.sendto  # type: ignore[method-assign]
        self.is_closing = core.is_closing  # type: ignore[method-assign]
        loop._transports[core._fd] = self
        # connection_made, then reading, then the waiter, in the next tick (asyncio's order).
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
            loop = core._loop
            if loop is not None and not loop.is_closed():
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

    # The state lives in the core; these read it for code that looks at asyncio's names.

    @property
    def _loop(self) -> Any:
        return self._core._loop

    @property
    def _sock(self) -> socket.socket | None:
        return self._core._sock  # type: ignore[no-any-return]

    @property
    def _sock_fd(self) -> int:
        return self._core._fd  # type: ignore[no-any-return]

    @property
    def _protocol(self) -> Any:
        return self._core._protocol

    @property
    def _address(self) -> Any:
        return self._core._address

    # ------------------------------------------------------------- protocol

    def set_protocol(self, protocol: Any) -> None:
        self._core.set_protocol(protocol)

    def get_protocol(self) -> Any:
        return self._core._protocol

    def is_closing(self) -> bool:  # replaced per instance by the core's method (see __init__)
        return self._core._closing  # type: ignore[no-any-return]

    # -------------------------------------------------------------- reading
    # asyncio's datagram transport inherits pause_reading/resume_reading/is_reading from its
    # selector base class; code relies on them, so they are here too.

    def is_reading(self) -> bool:
        core = self._core
        return not core._closing and not core._paused

    def pause_reading(self) -> None:
        self._core.pause_reading()

    def resume_reading(self) -> None:
        self._core.resume_reading()

    # -------------------------------------------------------------- writing

    def sendto(self, data: Any, addr: Any = None) -> None:  # replaced per instance (__init__)
        """Send ``data`` as one datagram to ``addr`` (``None``: the connected peer).

        Example::

            transport.sendto(b"ping", ("127.0.0.1", 9999))
        """
        self._core.sendto(data, addr)

    # --------------------------------------------------------- flow control

    def get_write_buffer_size(self) -> int:
        return self._core._buffer_size  # type: ignore[no-any-return]

    def get_write_buffer_limits(self) -> tuple[int, int]:
        core = self._core
        return (core._low_water, core._high_water)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._core.set_write_buffer_limits(high, low)

    # ------------------------------------------------------------- closing

    def close(self) -> None:
        self._core.close()

    def abort(self) -> None:
        self._core._force_close(None)


# ------------------------------------------------------------------ endpoint creation


def _set_reuseport(sock: socket.socket) -> None:
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("reuse_port not supported by socket module")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError:
        raise ValueError(
            "reuse_port not supported by socket module, SO_REUSEPORT defined but not implemented."
        )


def _numeric_addrinfo(host: Any, port: Any, family: int, proto: int, extra: tuple) -> Any:
    """The getaddrinfo entry for a literal IP ``host`` (datagram socket), or None.

    asyncio skips the resolver round-trip through the executor for addresses that are already
    numeric; so does this (same rules: a numeric or empty port, no IPv6 zone index, UDP or
    unspecified protocol).
    """
    if host is None or proto not in (0, socket.IPPROTO_UDP):
        return None
    if port is None or port == "" or port == b"":
        port = 0
    else:
        try:
            port = int(port)
        except (TypeError, ValueError):
            return None  # a service name: let getaddrinfo map it
    if family == socket.AF_UNSPEC:
        families: tuple[int, ...] = (
            (socket.AF_INET, socket.AF_INET6) if _HAS_IPV6 else (socket.AF_INET,)
        )
    else:
        families = (family,)
    if isinstance(host, bytes):
        host = host.decode("idna")
    if not isinstance(host, str) or "%" in host:
        return None  # inet_pton rejects a zone index (``fe80::1%eth0``); the resolver does not
    for af in families:
        try:
            socket.inet_pton(af, host)
        except (OSError, ValueError):
            continue
        if _HAS_IPV6 and af == socket.AF_INET6:
            flowinfo = extra[0] if len(extra) > 0 else 0
            scopeid = extra[1] if len(extra) > 1 else 0
            sockaddr: tuple = (host, port, flowinfo, scopeid)
        else:
            sockaddr = (host, port)
        return (af, socket.SOCK_DGRAM, socket.IPPROTO_UDP, "", sockaddr)
    return None


async def _resolve(loop: Any, address: Any, family: int, proto: int, flags: int) -> list:
    host, port = address[:2]
    info = _numeric_addrinfo(host, port, family, proto, tuple(address[2:]))
    if info is not None:
        return [info]
    return await loop.getaddrinfo(  # type: ignore[no-any-return]
        host, port, family=family, type=socket.SOCK_DGRAM, proto=proto, flags=flags
    )


def _remove_stale_unix_socket(path: str) -> None:
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        # The directory may allow creating the socket but not looking at it: bind() decides.
        _logger.error("Unable to check or remove stale UNIX socket %r: %r", path, err)


async def _address_pairs(
    loop: Any, local_addr: Any, remote_addr: Any, family: int, proto: int, flags: int
) -> list[tuple[tuple[int, int], tuple[Any, Any]]]:
    """``((family, proto), (local, remote))`` candidates to try, in asyncio's order."""
    if not (local_addr or remote_addr):
        if family == 0:
            raise ValueError("unexpected address family")
        return [((family, proto), (None, None))]
    if _HAS_AF_UNIX and family == socket.AF_UNIX:
        for addr in (local_addr, remote_addr):
            if addr is not None and not isinstance(addr, str):
                raise TypeError("string is expected")
        if local_addr and local_addr[0] not in (0, "\x00"):
            _remove_stale_unix_socket(local_addr)
        return [((family, proto), (local_addr, remote_addr))]
    # Group the resolved local and remote addresses by (family, proto), keeping first-seen order.
    by_key: dict[tuple[int, int], list[Any]] = {}
    for index, addr in ((0, local_addr), (1, remote_addr)):
        if addr is None:
            continue
        if not (isinstance(addr, tuple) and len(addr) == 2):
            raise TypeError("2-tuple is expected")
        infos = await _resolve(loop, addr, family, proto, flags)
        if not infos:
            raise OSError("getaddrinfo() returned empty list")
        for fam, _type, pro, _canon, sockaddr in infos:
            pair = by_key.setdefault((fam, pro), [None, None])
            if pair[index] is None:
                pair[index] = sockaddr
    # Only the families in which every given address resolved.
    pairs = [
        (key, (pair[0], pair[1]))
        for key, pair in by_key.items()
        if not ((local_addr and pair[0] is None) or (remote_addr and pair[1] is None))
    ]
    if not pairs:
        raise ValueError("can not get address information")
    return pairs


async def create_datagram_endpoint(
    loop: Any,
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    local_addr: Any = None,
    remote_addr: Any = None,
    *,
    family: int = 0,
    proto: int = 0,
    flags: int = 0,
    reuse_port: bool | None = None,
    allow_broadcast: bool | None = None,
    sock: socket.socket | None = None,
) -> tuple[DatagramTransport, asyncio.BaseProtocol]:
    """Create a datagram endpoint; return ``(transport, protocol)`` once connected.

    Bound on the loop as ``loop.create_datagram_endpoint`` (asyncio's signature; since Python
    3.11 there is no ``reuse_address``). ``local_addr`` is bound, ``remote_addr`` connected to
    (only recorded, not connected, with ``allow_broadcast``); for ``family=socket.AF_UNIX`` both
    are paths and a stale socket file at ``local_addr`` is removed first. ``sock`` is an
    existing datagram socket, exclusive with every other socket argument.

    Example::

        transport, protocol = await loop.create_datagram_endpoint(
            EchoProtocol, local_addr=("127.0.0.1", 9999))
    """
    created = sock is None
    r_addr: Any = None
    if sock is not None:
        if _ANY_NON_STREAM_SOCK:
            if sock.type == socket.SOCK_STREAM:
                raise ValueError(f"A datagram socket was expected, got {sock!r}")
        elif sock.type != socket.SOCK_DGRAM:
            raise ValueError(f"A UDP Socket was expected, got {sock!r}")
        if (
            local_addr
            or remote_addr
            or family
            or proto
            or flags
            or reuse_port
            or allow_broadcast
        ):
            given = {
                "local_addr": local_addr,
                "remote_addr": remote_addr,
                "family": family,
                "proto": proto,
                "flags": flags,
                "reuse_port": reuse_port,
                "allow_broadcast": allow_broadcast,
            }
            problems = ", ".join(f"{k}={v}" for k, v in given.items() if v)
            raise ValueError(
                f"socket modifier keyword arguments can not be used "
                f"when sock is specified. ({problems})"
            )
        sock.setblocking(False)
    else:
        pairs = await _address_pairs(loop, local_addr, remote_addr, family, proto, flags)
        errors: list[OSError] = []
        for (fam, pro), (local_address, remote_address) in pairs:
            sock = None
            r_addr = None
            try:
                sock = socket.socket(family=fam, type=socket.SOCK_DGRAM, proto=pro)
                if reuse_port:
                    _set_reuseport(sock)
                if allow_broadcast:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                sock.setblocking(False)
                if local_addr:
                    sock.bind(local_address)
                if remote_addr:
                    if not allow_broadcast:
                        await loop.sock_connect(sock, remote_address)
                    r_addr = remote_address
            except OSError as exc:
                if sock is not None:
                    sock.close()
                errors.append(exc)
            except BaseException:
                if sock is not None:
                    sock.close()
                raise
            else:
                break
        else:
            try:
                raise errors[0]
            finally:
                errors = None  # type: ignore[assignment]  # no traceback -> frame cycle

    assert sock is not None
    try:
        protocol = protocol_factory()
    except BaseException:
        if created:
            sock.close()  # asyncio leaves this one to the garbage collector
        raise
    waiter = loop.create_future()
    transport = DatagramTransport(loop, sock, protocol, r_addr, waiter)
    if loop.get_debug():
        if local_addr:
            _logger.info(
                "Datagram endpoint local_addr=%r remote_addr=%r created: (%r, %r)",
                local_addr,
                remote_addr,
                transport,
                protocol,
            )
        else:
            _logger.debug(
                "Datagram endpoint remote_addr=%r created: (%r, %r)",
                remote_addr,
                transport,
                protocol,
            )
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return transport, protocol
