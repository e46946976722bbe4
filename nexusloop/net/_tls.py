"""TLS: ``ssl=`` connections and servers, ``loop.start_tls``, and the compiled TLS layer.

How TLS is layered
------------------
A TLS connection is two transports and two protocols, as in asyncio::

    app protocol  <->  SSLTransport      (the app's asyncio.Transport: plaintext)
                            |
                        _TLSCore         (compiled: the TLS state machine, OpenSSL memory BIOs)
                            |
                       SSLProtocol       (the raw transport's BufferedProtocol: ciphertext)
                            |
                    SocketTransport      (the compiled stream transport: the socket)

OpenSSL never touches the socket: ciphertext received by the socket transport goes straight
into the protocol's buffer (``recv_into``) and from there into the *incoming* memory BIO;
records OpenSSL writes to the *outgoing* BIO leave through the raw transport's ``write``.
``SSLProtocol`` and ``SSLTransport`` are thin Python faces (``isinstance`` checks against
``asyncio.BufferedProtocol`` / ``asyncio.Transport`` must hold, and code that looks for "ssl" in
the transport's class name, as CPython's tests do, finds it) whose hot methods are bound on the
instance to the compiled core's, as the socket transport does.

Why our own compiled layer, not ``asyncio.sslproto.SSLProtocol``
    Measured first (``benchmarks/run.py --workloads tls_echo_protocol``): with the standard
    library's SSLProtocol over our transport, TLS echo ran at ~0.62x uvloop; compiling that same
    Python code with Cython changed nothing measurable. The profile said why: per message, the
    state machine allocates a 256 KiB ``bytes`` for every ``SSLObject.read`` and reads once more
    than needed, which raises (and allocates) an ``SSLWantReadError`` every time; plus some
    fifteen Python calls. The core here reads into one preallocated buffer and stops when the
    incoming BIO is empty (no exception on the common path), writes through OpenSSL straight to
    the raw transport when nothing is queued, and keeps state in C integers.

The state machine (asyncio's, so behaviour and errors are the same)
    ``UNWRAPPED -> DO_HANDSHAKE -> WRAPPED -> FLUSHING -> SHUTDOWN``, and back to UNWRAPPED from
    anywhere when the connection is lost or aborted. The application's own states are
    ``INIT -> CON_MADE [-> EOF] -> CON_LOST``: ``connection_made`` after the handshake,
    ``eof_received`` when the peer's close_notify arrives (returning true has no effect, with
    asyncio's warning), ``connection_lost`` exactly once and only if ``connection_made`` was.

    * Handshake: a timer of ``ssl_handshake_timeout`` (default 60 s) aborts it with
      ``ConnectionAbortedError``; a failure is the ``ssl`` exception (``SSLCertVerificationError``,
      ``SSLError``), logged as asyncio does (debug only for ``OSError``s, which ssl errors are),
      and the socket is closed; an EOF during the handshake is ``ConnectionResetError``.
    * Writes before the handshake completes are queued and sent after it.
    * ``close()``: flush what the app wrote, read what is pending, send close_notify
      (``unwrap``), then close the socket; ``ssl_shutdown_timeout`` (default 30 s) force-closes
      a peer that never answers. ``abort()`` drops everything at once.
    * Half-close is refused: ``can_write_eof()`` is false, ``write_eof()`` raises
      ``NotImplementedError``.
    * Flow control: the app is paused when OpenSSL's outgoing BIO plus the queued plaintext
      exceed the write high-water mark (512 KiB by default); the socket stops being read while
      the incoming BIO holds more than the read high-water mark (256 KiB) because the app paused
      reading.

What else nexusloop adds around it
    * Accepted TLS connections: asyncio starts a task per connection to await the handshake;
      here the handshake's waiter gets a done-callback (no task), which closes the transport
      and, in debug mode, reports the error as asyncio does.
    * ``start_tls`` on a server-side ``asyncio.StreamReaderProtocol`` moves bytes the
      ``StreamReader`` had already buffered (a ClientHello that arrived together with the
      plaintext line before the upgrade, as behind a PROXY-protocol balancer) into the TLS
      layer. Without this the handshake never sees them and hangs (CPython gh-142352,
      uvloop #707).

Contract with the loop and the raw transport
    Uses ``loop.create_future``, ``loop.call_soon``, ``loop.call_later`` (the timeouts),
    ``loop.call_exception_handler`` and ``loop._debug``. Of the raw transport (any
    ``_start_tls_compatible`` transport, normally a ``SocketTransport``): ``write``,
    ``close``, ``abort``, ``_force_close``, ``pause_reading``/``resume_reading``,
    ``get_extra_info``; it calls ``connection_made``, ``get_buffer``/``buffer_updated``,
    ``eof_received``, ``pause_writing``/``resume_writing`` and ``connection_lost`` on the
    ``SSLProtocol``.
"""
from __future__ import annotations

import asyncio
import collections
import functools
import logging
import threading
import warnings
from asyncio import constants, protocols, transports
from typing import Any

try:
    import cython
except ImportError:  # pragma: no cover
    from nexusloop._core import _cyshim as cython  # type: ignore[no-redef]

from nexusloop import _compat
from nexusloop.net._flow import notify_protocol, water_marks

try:
    import ssl as _ssl

    _AGAIN: tuple[type[BaseException], ...] = (_ssl.SSLWantReadError, _ssl.SSLSyscallError)
except ImportError:  # pragma: no cover - Python built without ssl
    _ssl = None  # type: ignore[assignment]
    _AGAIN = ()

__all__ = ["SSLProtocol", "SSLTransport", "TLSConfig", "start_tls"]

_logger = logging.getLogger("asyncio")

# TLS states (asyncio.sslproto.SSLProtocolState).
UNWRAPPED = cython.declare(cython.int, 0)
DO_HANDSHAKE = cython.declare(cython.int, 1)
WRAPPED = cython.declare(cython.int, 2)
FLUSHING = cython.declare(cython.int, 3)
SHUTDOWN = cython.declare(cython.int, 4)
_STATE_NAMES = ("UNWRAPPED", "DO_HANDSHAKE", "WRAPPED", "FLUSHING", "SHUTDOWN")
# Application protocol states (asyncio.sslproto.AppProtocolState).
APP_INIT = cython.declare(cython.int, 0)
APP_CON_MADE = cython.declare(cython.int, 1)
APP_EOF = cython.declare(cython.int, 2)
APP_CON_LOST = cython.declare(cython.int, 3)

#: Bytes received from the socket per read event, and plaintext read per SSL_read call.
MAX_SIZE = 256 * 1024
_CONNLOST_WARN = constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES
# Water marks of the TLS layer (asyncio's): plaintext queued for writing, ciphertext received.
_WRITE_HIGH = constants.FLOW_CONTROL_HIGH_WATER_SSL_WRITE * 1024
_READ_HIGH = constants.FLOW_CONTROL_HIGH_WATER_SSL_READ * 1024
_BYTES_LIKE = (bytes, bytearray, memoryview)
_FATAL = (SystemExit, KeyboardInterrupt)


def _default_context(server_side: bool, server_hostname: str | None) -> Any:
    # ssl=True on a client: the default (verifying) context, as asyncio.
    if server_side:
        raise ValueError("Server side SSL needs a valid SSLContext")
    context = _ssl.create_default_context()
    if not server_hostname:
        context.check_hostname = False
    return context


_buffers = threading.local()


def _thread_buffers() -> tuple[memoryview, bytearray]:
    """The ciphertext receive view and the plaintext read buffer shared by this thread's TLS
    connections (2 x 256 KiB per thread, not per connection).

    Sharing is safe: a connection's loop runs in one thread, and each buffer's content is copied
    out (into the incoming BIO, into ``bytes``) before any application code runs.
    """
    try:
        return _buffers.pair  # type: ignore[no-any-return]
    except AttributeError:
        _buffers.pair = pair = (memoryview(bytearray(MAX_SIZE)), bytearray(MAX_SIZE))
        return pair


@cython.cclass
class _TLSCore:
    """The compiled state and logic of one TLS connection (see the module docstring)."""

    def __init__(self, loop: Any, app_protocol: Any, context: Any, waiter: Any,
                 server_side: bool, server_hostname: str | None, call_connection_made: bool,
                 handshake_timeout: Any, shutdown_timeout: Any) -> None:
        if _ssl is None:  # pragma: no cover - Python built without ssl
            raise RuntimeError("stdlib ssl module not available")
        if handshake_timeout is None:
            handshake_timeout = constants.SSL_HANDSHAKE_TIMEOUT
        elif handshake_timeout <= 0:
            raise ValueError(
                f"ssl_handshake_timeout should be a positive number, got {handshake_timeout}")
        if shutdown_timeout is None:
            shutdown_timeout = constants.SSL_SHUTDOWN_TIMEOUT
        elif shutdown_timeout <= 0:
            raise ValueError(
                f"ssl_shutdown_timeout should be a positive number, got {shutdown_timeout}")
        if not context:
            context = _default_context(server_side, server_hostname)
        self._loop = loop
        self._waiter = waiter
        self._handshake_timeout = handshake_timeout
        self._shutdown_timeout = shutdown_timeout
        self._handshake_timer: Any = None
        self._shutdown_timer: Any = None
        self._handshake_start = 0.0
        self._server_side = server_side
        self._context = context
        self._extra = {"sslcontext": context}
        self._incoming = _ssl.MemoryBIO()
        self._outgoing = _ssl.MemoryBIO()
        self._sslobj = context.wrap_bio(
            self._incoming, self._outgoing, server_side=server_side,
            server_hostname=server_hostname if server_hostname and not server_side else None)
        # The C object under ssl.SSLObject: its methods without the Python wrapper's frame.
        self._sslc = self._sslobj._sslobj
        self._recv_view, self._read_buffer = _thread_buffers()
        self._state = UNWRAPPED
        self._app_state = APP_INIT if call_connection_made else APP_CON_MADE
        self._conn_lost = 0
        self._eof_received = False
        self._backlog: Any = collections.deque()
        self._backlog_size = 0
        self._transport: Any = None
        self._transport_write: Any = None
        self._app_transport: Any = None
        self._protocol: Any = None
        self._ssl_writing_paused = False
        self._app_reading_paused = False
        self._ssl_reading_paused = False
        self._app_writing_paused = False
        self._incoming_high, self._incoming_low = water_marks(None, None, _READ_HIGH)
        self._outgoing_high, self._outgoing_low = water_marks(None, None, _WRITE_HIGH)
        self.set_app_protocol(app_protocol)

    def set_app_protocol(self, app_protocol: Any) -> None:
        self._app_protocol = app_protocol
        self._app_buffered = isinstance(app_protocol, protocols.BufferedProtocol)
        self._app_data_received: Any
        if self._app_buffered:
            self._app_data_received = None
        else:
            self._app_data_received = app_protocol.data_received

    def __repr__(self) -> str:
        return f"<nexusloop TLS {_STATE_NAMES[self._state]} app={self._app_protocol!r}>"

    # ------------------------------------------------------------------ state

    def _set_state(self, new_state: int) -> None:
        old = self._state
        if not (
            new_state == UNWRAPPED
            or (old == UNWRAPPED and new_state == DO_HANDSHAKE)
            or (old == DO_HANDSHAKE and new_state == WRAPPED)
            or (old == WRAPPED and new_state == FLUSHING)
            or (old == FLUSHING and new_state == SHUTDOWN)
        ):
            raise RuntimeError(
                f"cannot switch state from {_STATE_NAMES[old]} to {_STATE_NAMES[new_state]}")
        self._state = new_state

    def _wakeup_waiter(self, exc: Any = None) -> None:
        waiter = self._waiter
        if waiter is None:
            return
        self._waiter = None
        if not waiter.cancelled():
            if exc is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name in self._extra:
            return self._extra[name]
        if self._transport is not None:
            return self._transport.get_extra_info(name, default)
        return default

    # ------------------------------------------- the raw transport's protocol

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        self._transport_write = transport.write
        self._start_handshake()

    def connection_lost(self, exc: Any) -> None:
        self._backlog.clear()
        self._backlog_size = 0
        self._outgoing.read()
        self._conn_lost += 1
        if self._app_transport is not None:
            self._app_transport._closed = True
        if self._state != DO_HANDSHAKE and (
            self._app_state == APP_CON_MADE or self._app_state == APP_EOF
        ):
            self._app_state = APP_CON_LOST
            self._loop.call_soon(self._app_protocol.connection_lost, exc)
        self._state = UNWRAPPED
        self._transport = None
        self._transport_write = None
        self._app_transport = None
        self._app_protocol = None
        self._app_data_received = None
        self._wakeup_waiter(exc)
        self._cancel_timers()

    def _cancel_timers(self) -> None:
        if self._shutdown_timer is not None:
            self._shutdown_timer.cancel()
            self._shutdown_timer = None
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None

    def get_buffer(self, n: Any) -> Any:
        return self._recv_view

    def buffer_updated(self, nbytes: int) -> None:
        self._incoming.write(self._recv_view[:nbytes])
        state = self._state
        if state == WRAPPED:
            self._do_read()
        elif state == DO_HANDSHAKE:
            self._do_handshake()
        elif state == FLUSHING:
            self._do_flush()
        elif state == SHUTDOWN:
            self._do_shutdown()

    def eof_received(self) -> Any:
        self._eof_received = True
        try:
            if self._loop._debug:
                _logger.debug("%r received EOF", self)
            state = self._state
            if state == DO_HANDSHAKE:
                self._on_handshake_complete(ConnectionResetError)
            elif state == WRAPPED:
                self._set_state(FLUSHING)
                if self._app_reading_paused:
                    return True
                self._do_flush()
            elif state == FLUSHING:
                self._do_write()
                self._set_state(SHUTDOWN)
                self._do_shutdown()
            elif state == SHUTDOWN:
                self._do_shutdown()
        except BaseException:
            self._transport.close()
            raise
        return None

    def pause_writing(self) -> None:
        # The raw transport's buffer is full: stop handing it records.
        self._ssl_writing_paused = True

    def resume_writing(self) -> None:
        self._ssl_writing_paused = False
        self._process_outgoing()

    # -------------------------------------------------------------- handshake

    def _start_handshake(self) -> None:
        if self._loop._debug:
            _logger.debug("%r starts SSL handshake", self)
            self._handshake_start = self._loop.time()
        self._set_state(DO_HANDSHAKE)
        self._handshake_timer = self._loop.call_later(
            self._handshake_timeout, self._check_handshake_timeout)
        self._do_handshake()

    def _check_handshake_timeout(self) -> None:
        if self._state == DO_HANDSHAKE:
            self._fatal_error(ConnectionAbortedError(
                f"SSL handshake is taking longer than {self._handshake_timeout} seconds: "
                f"aborting the connection"))

    def _do_handshake(self) -> None:
        try:
            self._sslc.do_handshake()
        except _AGAIN:
            self._process_outgoing()
        except _ssl.SSLError as exc:
            self._on_handshake_complete(exc)
        else:
            self._on_handshake_complete(None)

    def _on_handshake_complete(self, handshake_exc: Any) -> None:
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        sslobj = self._sslobj
        try:
            if handshake_exc is not None:
                raise handshake_exc
            self._set_state(WRAPPED)
            peercert = sslobj.getpeercert()
        except Exception as exc:
            handshake_exc = None
            self._state = UNWRAPPED
            if isinstance(exc, _ssl.CertificateError):
                message = "SSL handshake failed on verifying the certificate"
            else:
                message = "SSL handshake failed"
            self._fatal_error(exc, message)
            self._wakeup_waiter(exc)
            return
        if self._loop._debug:
            elapsed = self._loop.time() - self._handshake_start
            _logger.debug("%r: SSL handshake took %.1f ms", self, elapsed * 1e3)
        extra = self._extra
        extra["peercert"] = peercert
        extra["cipher"] = sslobj.cipher()
        extra["compression"] = sslobj.compression()
        extra["ssl_object"] = sslobj
        if self._app_state == APP_INIT:
            self._app_state = APP_CON_MADE
            self._app_protocol.connection_made(self.app_transport())
        self._wakeup_waiter()
        self._do_read()

    def app_transport(self) -> Any:
        if self._app_transport is None:
            raise RuntimeError("the TLS transport is gone (connection lost)")
        return self._app_transport

    # --------------------------------------------------------------- shutdown

    def _start_shutdown(self) -> None:
        state = self._state
        if state == FLUSHING or state == SHUTDOWN or state == UNWRAPPED:
            return
        if self._app_transport is not None:
            self._app_transport._closed = True
        if state == DO_HANDSHAKE:
            self._abort(None)
        else:
            self._set_state(FLUSHING)
            self._shutdown_timer = self._loop.call_later(
                self._shutdown_timeout, self._check_shutdown_timeout)
            self._do_flush()

    def _check_shutdown_timeout(self) -> None:
        if self._state == FLUSHING or self._state == SHUTDOWN:
            self._transport._force_close(TimeoutError("SSL shutdown timed out"))

    def _do_flush(self) -> None:
        self._do_read()
        self._set_state(SHUTDOWN)
        self._do_shutdown()

    def _do_shutdown(self) -> None:
        try:
            if not self._eof_received:
                self._sslc.shutdown()
        except _AGAIN:
            self._process_outgoing()
        except _ssl.SSLError as exc:
            self._on_shutdown_complete(exc)
        else:
            self._process_outgoing()
            self._call_eof_received()
            self._on_shutdown_complete(None)

    def _on_shutdown_complete(self, shutdown_exc: Any) -> None:
        if self._shutdown_timer is not None:
            self._shutdown_timer.cancel()
            self._shutdown_timer = None
        if shutdown_exc is not None:
            self._fatal_error(shutdown_exc)
        elif self._transport is not None:
            self._loop.call_soon(self._transport.close)

    def _abort(self, exc: Any) -> None:
        self._state = UNWRAPPED
        if self._transport is not None:
            self._transport._force_close(exc)

    # --------------------------------------------------------------- writing

    def write(self, data: Any) -> None:
        """The app transport's ``write``: encrypt at once when nothing is queued."""
        if not isinstance(data, _BYTES_LIKE):
            raise TypeError(
                f"data: expecting a bytes-like instance, got {type(data).__name__}")
        if not data:
            return
        state = self._state
        if state != WRAPPED or self._backlog_size or self._ssl_writing_paused:
            self._write_appdata((data,))
            return
        try:
            written = self._sslc.write(data)
            if written < len(data):  # a memory BIO takes everything; keep the rest if not
                self._backlog.append(data[written:])
                self._backlog_size += len(data) - written
            self._process_outgoing()
        except Exception as exc:
            self._fatal_error(exc, "Fatal error on SSL protocol")

    def writelines(self, list_of_data: Any) -> None:
        self._write_appdata(list_of_data)

    def _write_appdata(self, list_of_data: Any) -> None:
        state = self._state
        if state == FLUSHING or state == SHUTDOWN or state == UNWRAPPED:
            if self._conn_lost >= _CONNLOST_WARN:
                _logger.warning("SSL connection is closed")
            self._conn_lost += 1
            return
        for data in list_of_data:
            self._backlog.append(data)
            self._backlog_size += len(data)
        try:
            if state == WRAPPED:
                self._do_write()
        except Exception as exc:
            self._fatal_error(exc, "Fatal error on SSL protocol")

    def _do_write(self) -> None:
        backlog = self._backlog
        sslc = self._sslc
        try:
            while backlog:
                data = backlog[0]
                size = len(data)
                written = sslc.write(data)
                if written < size:
                    backlog[0] = data[written:]
                    self._backlog_size -= written
                else:
                    backlog.popleft()
                    self._backlog_size -= size
        except _AGAIN:
            pass
        self._process_outgoing()

    def _process_outgoing(self) -> None:
        if not self._ssl_writing_paused and self._outgoing.pending:
            self._transport_write(self._outgoing.read())
        self._control_app_writing()

    # --------------------------------------------------------------- reading

    def _do_read(self) -> None:
        state = self._state
        if state != WRAPPED and state != FLUSHING:
            return
        try:
            if not self._app_reading_paused:
                if self._app_buffered:
                    self._do_read_buffered()
                else:
                    self._do_read_copied()
                if self._backlog:
                    self._do_write()
                else:
                    self._process_outgoing()
            self._control_ssl_reading()
        except Exception as exc:
            self._fatal_error(exc, "Fatal error on SSL protocol")

    def _do_read_copied(self) -> None:
        # Plaintext is read into one preallocated buffer. While a read fills less than the
        # buffer, another can only return something if ciphertext is still waiting in the
        # incoming BIO: otherwise stop, instead of reading until OpenSSL raises
        # SSLWantReadError (an exception per message).
        sslc = self._sslc
        buffer = self._read_buffer
        incoming = self._incoming
        chunks: Any = None
        eof = False
        try:
            while True:
                count = sslc.read(MAX_SIZE, buffer)
                if count == 0:
                    eof = True  # close_notify
                    break
                if cython.compiled:
                    chunk = _head(buffer, count)  # type: ignore[name-defined]  # noqa: F821
                else:
                    chunk = bytes(memoryview(buffer)[:count])
                if chunks is None:
                    chunks = chunk
                elif type(chunks) is bytes:
                    chunks = [chunks, chunk]
                else:
                    chunks.append(chunk)
                if count < MAX_SIZE and not incoming.pending:
                    break
        except _AGAIN:
            pass
        if chunks is not None:
            self._app_data_received(chunks if type(chunks) is bytes else b"".join(chunks))
        if eof:
            self._call_eof_received()
            self._start_shutdown()

    def _do_read_buffered(self) -> None:
        sslc = self._sslc
        offset = 0
        count = 1
        buf = self._app_protocol.get_buffer(self._incoming.pending)
        wants = len(buf)
        try:
            count = sslc.read(wants, buf)
            if count > 0:
                offset = count
                view = memoryview(buf)
                while offset < wants:
                    if not self._incoming.pending and not sslc.pending():
                        break
                    count = sslc.read(wants - offset, view[offset:])
                    if count > 0:
                        offset += count
                    else:
                        break
                else:
                    # The app's buffer is full: read the rest in a later callback.
                    self._loop.call_soon(self._do_read)
        except _AGAIN:
            pass
        if offset > 0:
            self._app_protocol.buffer_updated(offset)
        if not count:
            self._call_eof_received()
            self._start_shutdown()

    def _call_eof_received(self) -> None:
        try:
            if self._app_state == APP_CON_MADE:
                self._app_state = APP_EOF
                keep_open = self._app_protocol.eof_received()
                if keep_open:
                    _logger.warning(
                        "returning true from eof_received() has no effect when using ssl")
        except _FATAL:
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Error calling eof_received()")

    # ---------------------------------------------------------- flow control

    def write_buffer_size(self) -> int:
        return self._outgoing.pending + self._backlog_size

    def _control_app_writing(self) -> None:
        size = self._outgoing.pending + self._backlog_size
        if size >= self._outgoing_high and not self._app_writing_paused:
            self._app_writing_paused = True
            notify_protocol(self._loop, self._app_transport, self._app_protocol, "pause_writing")
        elif size <= self._outgoing_low and self._app_writing_paused:
            self._app_writing_paused = False
            notify_protocol(self._loop, self._app_transport, self._app_protocol,
                            "resume_writing")

    def set_write_buffer_limits(self, high: Any = None, low: Any = None) -> None:
        self._outgoing_high, self._outgoing_low = water_marks(high, low, _WRITE_HIGH)
        self._control_app_writing()

    def set_read_buffer_limits(self, high: Any = None, low: Any = None) -> None:
        self._incoming_high, self._incoming_low = water_marks(high, low, _READ_HIGH)
        self._control_ssl_reading()

    def pause_reading(self) -> None:
        self._app_reading_paused = True

    def resume_reading(self) -> None:
        if self._app_reading_paused:
            self._app_reading_paused = False
            self._loop.call_soon(self._resume)

    def _resume(self) -> None:
        state = self._state
        if state == WRAPPED:
            self._do_read()
        elif state == FLUSHING:
            self._do_flush()
        elif state == SHUTDOWN:
            self._do_shutdown()

    def _control_ssl_reading(self) -> None:
        size = self._incoming.pending
        if size >= self._incoming_high and not self._ssl_reading_paused:
            self._ssl_reading_paused = True
            self._transport.pause_reading()
        elif size <= self._incoming_low and self._ssl_reading_paused:
            self._ssl_reading_paused = False
            self._transport.resume_reading()

    # ---------------------------------------------------------------- errors

    def _fatal_error(self, exc: BaseException, message: str = "Fatal error on transport") -> None:
        if self._transport is not None:
            self._transport._force_close(exc)
        if isinstance(exc, OSError):
            if self._loop._debug:
                _logger.debug("%r: %s", self, message, exc_info=True)
        elif not isinstance(exc, asyncio.CancelledError):
            self._loop.call_exception_handler({
                "message": message,
                "exception": exc,
                "transport": self._transport,
                "protocol": self,
            })


class SSLProtocol(protocols.BufferedProtocol):
    """The protocol the raw (socket) transport of a TLS connection sees: ciphertext in and out.

    A Python face over the compiled core (``isinstance(p, asyncio.BufferedProtocol)`` holds);
    ``get_buffer``/``buffer_updated`` are the core's, bound on the instance.
    """

    def __init__(self, loop: Any, app_protocol: Any, sslcontext: Any, waiter: Any,
                 server_side: bool = False, server_hostname: str | None = None,
                 call_connection_made: bool = True, ssl_handshake_timeout: Any = None,
                 ssl_shutdown_timeout: Any = None) -> None:
        core = _TLSCore(loop, app_protocol, sslcontext, waiter, server_side, server_hostname,
                        call_connection_made, ssl_handshake_timeout, ssl_shutdown_timeout)
        self._core = core
        self.get_buffer = core.get_buffer  # type: ignore[method-assign,assignment]
        self.buffer_updated = core.buffer_updated  # type: ignore[method-assign]
        core._app_transport = SSLTransport(loop, self, core)

    def __repr__(self) -> str:
        return repr(self._core)

    @property
    def _app_transport(self) -> Any:
        return self._core._app_transport

    @property
    def _sslobj(self) -> Any:
        return self._core._sslobj

    def connection_made(self, transport: Any) -> None:
        self._core.connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._core.connection_lost(exc)

    def get_buffer(self, sizehint: int) -> Any:  # replaced per instance (see __init__)
        return self._core.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:  # replaced per instance (see __init__)
        self._core.buffer_updated(nbytes)

    def eof_received(self) -> Any:
        return self._core.eof_received()

    def pause_writing(self) -> None:
        self._core.pause_writing()

    def resume_writing(self) -> None:
        self._core.resume_writing()


class SSLTransport(transports.Transport):
    """The transport a TLS connection's application protocol sees: plaintext in and out.

    ``write``/``writelines`` are the compiled core's, bound on the instance.
    """

    _start_tls_compatible = True  # TLS in TLS (a proxy's tunnel) works as in asyncio
    _sendfile_compatible = _compat.SendfileMode.FALLBACK

    def __init__(self, loop: Any, ssl_protocol: SSLProtocol, core: _TLSCore) -> None:
        super().__init__()
        self._loop = loop
        self._ssl_protocol: Any = ssl_protocol
        self._core: Any = core
        self._closed = False
        self.write = core.write  # type: ignore[method-assign]
        self.writelines = core.writelines  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return f"<nexusloop SSLTransport {'closed' if self._closed else 'open'}>"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if not self._closed:
            self._closed = True
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if self._core is None:
            return default
        return self._core.get_extra_info(name, default)

    def set_protocol(self, protocol: Any) -> None:
        self._core.set_app_protocol(protocol)

    def get_protocol(self) -> Any:
        return self._core._app_protocol

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._core._start_shutdown()
        else:
            # Closed already (by the app or by the peer's close_notify): as asyncio, let go of
            # the TLS state, so a transport the app keeps does not keep it (and its SSL
            # context) alive. The transport is unusable from here on, as asyncio's.
            self._ssl_protocol = None
            self._core = None
            self.__dict__.pop("write", None)
            self.__dict__.pop("writelines", None)

    def abort(self) -> None:
        self._force_close(None)

    def _force_close(self, exc: BaseException | None) -> None:
        self._closed = True
        if self._core is not None:
            self._core._abort(exc)

    def is_reading(self) -> bool:
        return not self._core._app_reading_paused

    def pause_reading(self) -> None:
        self._core.pause_reading()

    def resume_reading(self) -> None:
        self._core.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._core.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._core._outgoing_low, self._core._outgoing_high)

    def get_write_buffer_size(self) -> int:
        return self._core.write_buffer_size()  # type: ignore[no-any-return]

    def set_read_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._core.set_read_buffer_limits(high, low)

    def get_read_buffer_limits(self) -> tuple[int, int]:
        return (self._core._incoming_low, self._core._incoming_high)

    def get_read_buffer_size(self) -> int:
        return self._core._incoming.pending  # type: ignore[no-any-return]

    @property
    def _protocol_paused(self) -> bool:
        # asyncio's sendfile fallback reads it.
        return self._core._app_writing_paused  # type: ignore[no-any-return]

    def write(self, data: Any) -> None:  # replaced per instance (see __init__)
        self._core.write(data)

    def writelines(self, list_of_data: Any) -> None:  # replaced per instance (see __init__)
        self._core.writelines(list_of_data)

    def write_eof(self) -> None:
        raise NotImplementedError("TLS does not support half-closed connections")

    def can_write_eof(self) -> bool:
        return False

    def _test__append_write_backlog(self, data: bytes) -> None:
        # asyncio's TLS transport has this hook; CPython's test_ssl fills the backlog with it.
        self._core._backlog.append(data)
        self._core._backlog_size += len(data)


# ------------------------------------------------------------------ configuration


class TLSConfig:
    """The TLS settings of one connection or server: what wraps a protocol in TLS."""

    __slots__ = ("context", "server_side", "server_hostname", "handshake_timeout",
                 "shutdown_timeout")

    def __init__(self, context: Any, server_side: bool, server_hostname: str | None,
                 handshake_timeout: float | None, shutdown_timeout: float | None) -> None:
        if _ssl is None:  # pragma: no cover - Python built without ssl
            raise RuntimeError("Python ssl module is not available")
        # ssl=True: the default context for the side is made per connection (asyncio's choice).
        self.context = None if isinstance(context, bool) else context
        self.server_side = server_side
        self.server_hostname = server_hostname
        self.handshake_timeout = handshake_timeout
        self.shutdown_timeout = shutdown_timeout

    def wrap(self, loop: Any, app_protocol: Any, waiter: Any,
             call_connection_made: bool = True) -> SSLProtocol:
        """A SSLProtocol for ``app_protocol``; ``waiter`` is resolved after the handshake."""
        return SSLProtocol(
            loop, app_protocol, self.context, waiter, self.server_side, self.server_hostname,
            call_connection_made, self.handshake_timeout, self.shutdown_timeout,
        )


def client_config(ssl: Any, server_hostname: str | None, handshake_timeout: float | None,
                  shutdown_timeout: float | None) -> TLSConfig | None:
    """The client side's TLSConfig, or None for a plain connection (``ssl`` falsy)."""
    if not ssl:
        return None
    return TLSConfig(ssl, False, server_hostname, handshake_timeout, shutdown_timeout)


def server_config(ssl: Any, handshake_timeout: float | None,
                  shutdown_timeout: float | None) -> TLSConfig | None:
    """The server side's TLSConfig, or None for a plain server (``ssl`` is None)."""
    if not ssl:
        return None
    return TLSConfig(ssl, True, None, handshake_timeout, shutdown_timeout)


def accepted_handshake_done(loop: Any, app_protocol: Any, app_transport: Any,
                            waiter: asyncio.Future[Any]) -> None:
    """The handshake of an accepted connection ended: on failure, close and (debug) report.

    This is what asyncio's per-connection ``_accept_connection2`` task does after awaiting the
    handshake; the TLS layer has already logged the failure and aborted the socket by then.
    """
    if waiter.cancelled():
        return
    exc = waiter.exception()
    if exc is None:
        return
    app_transport.close()
    if loop._debug:
        loop.call_exception_handler(
            {
                "message": "Error on transport creation for incoming connection",
                "exception": exc,
                "protocol": app_protocol,
                "transport": app_transport,
            }
        )


def watch_accepted_handshake(loop: Any, app_protocol: Any, ssl_protocol: SSLProtocol,
                             waiter: asyncio.Future[Any]) -> None:
    waiter.add_done_callback(
        functools.partial(accepted_handshake_done, loop, app_protocol, ssl_protocol._app_transport)
    )


def _hand_over_stream_buffer(protocol: Any, ssl_protocol: SSLProtocol) -> None:
    """Move what a StreamReader buffered before a server-side upgrade into the TLS layer."""
    if not isinstance(protocol, asyncio.StreamReaderProtocol):
        return
    reader = protocol._stream_reader  # type: ignore[attr-defined]
    if reader is None or not reader._buffer:
        return
    ssl_protocol._core._incoming.write(bytes(reader._buffer))
    reader._buffer.clear()
    # The reader may have paused the raw transport for its limit; start_tls resumes reading,
    # and the reader's bookkeeping must agree.
    reader._paused = False


async def start_tls(
    loop: Any,
    transport: Any,
    protocol: Any,
    sslcontext: Any,
    *,
    server_side: bool = False,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> Any:
    """Upgrade ``transport`` to TLS; return the new transport ``protocol`` must use from now.

    Example::

        transport = await loop.start_tls(transport, protocol, ctx, server_hostname="example.com")
    """
    if _ssl is None:  # pragma: no cover - Python built without ssl
        raise RuntimeError("Python ssl module is not available")
    if not isinstance(sslcontext, _ssl.SSLContext):
        raise TypeError(
            f"sslcontext is expected to be an instance of ssl.SSLContext, got {sslcontext!r}"
        )
    if not getattr(transport, "_start_tls_compatible", False):
        raise TypeError(f"transport {transport!r} is not supported by start_tls()")
    waiter = loop.create_future()
    config = TLSConfig(sslcontext, server_side, server_hostname, ssl_handshake_timeout,
                       ssl_shutdown_timeout)
    ssl_protocol = config.wrap(loop, protocol, waiter, call_connection_made=False)
    # Pause at once, so no data reaches the TLS layer before its connection_made.
    transport.pause_reading()
    if server_side:
        _hand_over_stream_buffer(protocol, ssl_protocol)
    transport.set_protocol(ssl_protocol)
    conmade_cb = loop.call_soon(ssl_protocol.connection_made, transport)
    resume_cb = loop.call_soon(transport.resume_reading)
    try:
        await waiter
    except BaseException:
        transport.close()
        conmade_cb.cancel()
        resume_cb.cancel()
        raise
    finally:
        waiter = None  # an exception's traceback must not keep a cycle through the protocol
    return ssl_protocol._app_transport
