"""TLS: ``ssl=`` connections and servers, ``loop.start_tls``.

How TLS is layered
------------------
A TLS connection is two transports and two protocols, as in asyncio::

    app protocol  <->  app transport (sslproto._SSLProtocolTransport)
                            |
                        SSLProtocol   (a BufferedProtocol: ciphertext in, plaintext out)
                            |
                   SocketTransport    (nexusloop's compiled stream transport: the socket)

The TLS state machine is the standard library's :class:`asyncio.sslproto.SSLProtocol`
(memory BIOs: OpenSSL never touches the socket). It sits on nexusloop's own stream transport as
an ordinary buffered protocol: ciphertext is received straight into the protocol's buffer
(``recv_into``, no copy in between) and the encrypted records it writes leave through the
transport's compiled ``write``. Handshake and shutdown timeouts, ``get_extra_info('ssl_object'
/ 'peercert' / 'cipher' / 'compression')``, flow control through the TLS layer, the refusal of
``write_eof`` and the handshake errors are therefore exactly the running Python's.

Why the standard library's state machine and not our own
    Measured (``docs/benchmarks.md``, TLS rows): the time per TLS record is OpenSSL's and
    the SSLProtocol's Python; the transport below it is already compiled. uvloop carries a
    Cython translation of the same state machine. Reusing the standard library's keeps every
    TLS edge case (close_notify, renegotiation refusal, ``ssl_shutdown_timeout``, the
    ``SSLProtocolState`` transitions CPython's ``test_ssl``/``test_sslproto`` check) as correct
    as CPython's own loop; the closing note of issue #7 records the measured gap to uvloop.

What nexusloop adds around it
    * Accepted TLS connections: asyncio starts a task per connection to await the handshake;
      here the handshake's waiter gets a done-callback (no task), which closes the transport
      and, in debug mode, reports the error as asyncio does.
    * ``start_tls`` on a server-side ``asyncio.StreamReaderProtocol`` moves bytes the
      ``StreamReader`` had already buffered (a ClientHello that arrived together with the
      plaintext line before the upgrade, as behind a PROXY-protocol balancer) into the TLS
      layer. Without this the handshake never sees them and hangs (CPython gh-142352,
      uvloop #707).

Contract with the loop
    Uses ``loop.create_future``, ``loop.call_soon``, ``loop.call_later`` (SSLProtocol's
    timeouts), ``loop.call_exception_handler`` and ``loop._debug``; the raw transport is a
    :class:`nexusloop.net._stream.SocketTransport` (``_start_tls_compatible``, ``set_protocol``,
    ``pause_reading``/``resume_reading``, ``_force_close``).
"""
from __future__ import annotations

import asyncio
import functools
from asyncio import sslproto as _sslproto
from typing import Any

try:
    import ssl as _ssl
except ImportError:  # pragma: no cover - Python built without ssl
    _ssl = None  # type: ignore[assignment]

__all__ = ["TLSConfig", "start_tls"]

# typeshed types SSLProtocol narrower than asyncio accepts (context None, float timeouts).
sslproto: Any = _sslproto


class TLSConfig:
    """The TLS settings of one connection or server: what wraps a protocol in TLS."""

    __slots__ = ("context", "server_side", "server_hostname", "handshake_timeout",
                 "shutdown_timeout")

    def __init__(self, context: Any, server_side: bool, server_hostname: str | None,
                 handshake_timeout: float | None, shutdown_timeout: float | None) -> None:
        if _ssl is None:  # pragma: no cover - Python built without ssl
            raise RuntimeError("Python ssl module is not available")
        # ssl=True: SSLProtocol makes the default context for the side (asyncio's choice).
        self.context = None if isinstance(context, bool) else context
        self.server_side = server_side
        self.server_hostname = server_hostname
        self.handshake_timeout = handshake_timeout
        self.shutdown_timeout = shutdown_timeout

    def wrap(self, loop: Any, app_protocol: Any, waiter: Any,
             call_connection_made: bool = True) -> Any:
        """An SSLProtocol for ``app_protocol``; ``waiter`` is resolved after the handshake."""
        return sslproto.SSLProtocol(
            loop, app_protocol, self.context, waiter, self.server_side, self.server_hostname,
            call_connection_made=call_connection_made,
            ssl_handshake_timeout=self.handshake_timeout,
            ssl_shutdown_timeout=self.shutdown_timeout,
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
    handshake; SSLProtocol has already logged the failure and aborted the socket by then.
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


def watch_accepted_handshake(loop: Any, app_protocol: Any, ssl_protocol: Any,
                             waiter: asyncio.Future[Any]) -> None:
    waiter.add_done_callback(
        functools.partial(accepted_handshake_done, loop, app_protocol, ssl_protocol._app_transport)
    )


def _hand_over_stream_buffer(protocol: Any, ssl_protocol: Any) -> None:
    """Move what a StreamReader buffered before a server-side upgrade into the TLS layer."""
    if not isinstance(protocol, asyncio.StreamReaderProtocol):
        return
    reader = protocol._stream_reader  # type: ignore[attr-defined]
    if reader is None or not reader._buffer:
        return
    ssl_protocol._incoming.write(bytes(reader._buffer))
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
    # Pause at once, so no data_received reaches the SSLProtocol before its connection_made.
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
