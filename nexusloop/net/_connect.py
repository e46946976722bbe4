"""Client connections: ``create_connection``, ``create_unix_connection``, ``connect_accepted_socket``.

Semantics are asyncio's (``base_events.BaseEventLoop`` and ``unix_events``): the same argument
checks and exceptions, the same address resolution (numeric hosts skip the resolver), Happy
Eyeballs (RFC 8305) through ``asyncio.staggered.staggered_race`` when ``happy_eyeballs_delay``
is given, ``interleave`` of address families, ``local_addr`` binding, ``all_errors`` (an
``ExceptionGroup`` of every attempt's error), and the errors of several failed attempts folded
into one ``OSError`` otherwise. The connected socket becomes a
:class:`nexusloop.net._stream.SocketTransport`; the call returns after the protocol's
``connection_made`` ran, as asyncio's does.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import socket
from asyncio import staggered
from typing import Any

from nexusloop import _compat
from nexusloop._core._loopcore import Watcher
from nexusloop.net._server import resolve
from nexusloop.net._stream import SocketTransport
from nexusloop.net._tls import TLSConfig, client_config, server_config

_WOULD_BLOCK = (BlockingIOError, InterruptedError)
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)

# asyncio's private helpers are not in typeshed: reach them through an Any-typed alias.
base_events: Any = asyncio.base_events

__all__ = ["connect_accepted_socket", "create_connection", "create_unix_connection"]


def _check_client_tls_args(
    ssl: Any, host: Any, server_hostname: Any, ssl_handshake_timeout: Any, ssl_shutdown_timeout: Any
) -> Any:
    if server_hostname is not None and not ssl:
        raise ValueError("server_hostname is only meaningful with ssl")
    if server_hostname is None and ssl:
        if not host:
            raise ValueError("You must set server_hostname when using ssl without a host")
        server_hostname = host
    if ssl_handshake_timeout is not None and not ssl:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if ssl_shutdown_timeout is not None and not ssl:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
    return server_hostname


def wrap_socket(loop: Any, sock: socket.socket, protocol: Any, waiter: Any,
                tls: TLSConfig | None) -> Any:
    """The transport ``protocol`` sees on ``sock``: the socket's own, or TLS over it.

    ``waiter`` is resolved after the protocol's ``connection_made`` (after the handshake with
    TLS).
    """
    if tls is None:
        return SocketTransport(loop, sock, protocol, waiter)
    ssl_protocol = tls.wrap(loop, protocol, waiter)
    SocketTransport(loop, sock, ssl_protocol)
    return ssl_protocol._app_transport


async def make_transport(loop: Any, sock: socket.socket, protocol_factory: Any, host: Any = None,
                         port: Any = None, own: bool = False,
                         tls: TLSConfig | None = None) -> Any:
    """Wrap the connected ``sock``; return ``(transport, protocol)`` after connection_made.

    ``own``: the socket was made here, so it is closed if no transport could take it.
    ``tls``: wrap the connection in TLS; the call returns after the handshake.
    """
    if sock.gettimeout() != 0:  # sockets made here are non-blocking already: no extra ioctl
        sock.setblocking(False)
    try:
        protocol = protocol_factory()
        waiter = loop.create_future()
        transport = wrap_socket(loop, sock, protocol, waiter, tls)
    except BaseException:
        if own:
            sock.close()
        raise
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    finally:
        waiter = None  # a handshake error's traceback must not keep a cycle through it
    if loop._debug:
        base_events.logger.debug("%r connected to %s:%r: (%r, %r)",
                                 transport.get_extra_info("socket"), host, port, transport, protocol)
    return transport, protocol


class _Connector(Watcher):
    """A client connection on its way: the connect in progress, then the transport.

    While the non-blocking ``connect()`` is in progress the connector watches the socket for
    writability (the connect finished; ``SO_ERROR`` says how). Once connected it creates the
    protocol and the transport at once, so the caller waits only once: ``waiter`` is resolved
    by the transport after ``connection_made`` (asyncio suspends the caller twice).
    """

    __slots__ = ("_loop", "_sock", "_fd", "_waiter", "_address", "_protocol_factory", "_tls",
                 "transport", "protocol")

    def __init__(self, loop: Any, sock: socket.socket, waiter: Any, address: Any,
                 protocol_factory: Any, tls: TLSConfig | None) -> None:
        self._loop = loop
        self._tls = tls
        self._sock = sock
        self._fd = sock.fileno()
        self._waiter = waiter
        self._address = address
        self._protocol_factory = protocol_factory
        self._context = contextvars.copy_context()
        self.transport: Any = None
        self.protocol: Any = None

    def connect(self) -> None:
        try:
            self._sock.connect(self._address)
        except _WOULD_BLOCK:
            self._loop._watch_write(self._fd, self)
        else:
            self._connected()

    def _write_ready(self) -> None:
        self._loop._unwatch_write(self._fd)
        if self._waiter is None or self._waiter.done():
            return
        try:
            err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError as exc:
            self._waiter.set_exception(exc)
            return
        if err == 0:
            self._connected()
        else:
            self._waiter.set_exception(OSError(err, f"Connect call failed {self._address}"))

    def _connected(self) -> None:
        try:
            self.protocol = self._protocol_factory()
            self.transport = wrap_socket(self._loop, self._sock, self.protocol, self._waiter,
                                         self._tls)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._waiter.set_exception(exc)

    def abandon(self) -> None:
        """The caller stopped waiting (error or cancellation): release what was made."""
        if self.transport is not None:
            self.transport.close()
        else:
            self._loop._unwatch_write(self._fd)
            self._sock.close()


async def _open_connection(loop: Any, addr_info: Any, protocol_factory: Any,
                           tls: TLSConfig | None) -> Any:
    """Connect to one resolved address and wrap the socket; ``(transport, protocol)``."""
    family, type_, proto, _, address = addr_info
    sock = socket.socket(family, type_ | _NONBLOCK, proto)  # non-blocking from the start
    waiter = loop.create_future()
    connector = _Connector(loop, sock, waiter, address, protocol_factory, tls)
    try:
        if not _NONBLOCK:
            sock.setblocking(False)
        connector.connect()
        await waiter
    except BaseException:
        connector.abandon()
        raise
    finally:
        # The exception's traceback holds this frame: neither it nor the connector may keep
        # the waiter (which holds the exception), or they form a reference cycle.
        waiter = connector._waiter = None
    return connector.transport, connector.protocol


async def _connect_sock(
    loop: Any, exceptions: list[list[OSError]], addr_info: Any, local_addr_infos: Any = None
) -> socket.socket:
    """One connection attempt (one address); its errors go to its own list in ``exceptions``."""
    my_exceptions: list[OSError] = []
    exceptions.append(my_exceptions)
    family, type_, proto, _, address = addr_info
    sock = None
    try:
        sock = socket.socket(family=family, type=type_, proto=proto)
        sock.setblocking(False)
        if local_addr_infos is not None:
            for lfamily, _, _, _, laddr in local_addr_infos:
                if lfamily != family:
                    continue
                try:
                    sock.bind(laddr)
                    break
                except OSError as exc:
                    msg = (f"error while attempting to bind on address {laddr!r}: "
                           f"{(exc.strerror or '').lower()}")
                    my_exceptions.append(OSError(exc.errno, msg))
            else:
                if my_exceptions:
                    raise my_exceptions.pop()
                raise OSError(f"no matching local address with family={family!r} found")
        await loop.sock_connect(sock, address)
        return sock
    except OSError as exc:
        my_exceptions.append(exc)
        if sock is not None:
            sock.close()
        raise
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    finally:
        exceptions = my_exceptions = None  # type: ignore[assignment]  # no traceback cycles


def _connection_error(exceptions: list[list[OSError]], all_errors: bool) -> BaseException:
    flat = [exc for sub in exceptions for exc in sub]
    if all_errors:
        return ExceptionGroup("create_connection failed", flat)
    if len(flat) == 1:
        return flat[0]
    model = str(flat[0])
    if all(str(exc) == model for exc in flat):
        return flat[0]
    return OSError("Multiple exceptions: {}".format(", ".join(str(exc) for exc in flat)))


async def create_connection(
    loop: Any,
    protocol_factory: Any,
    host: Any = None,
    port: Any = None,
    *,
    ssl: Any = None,
    family: int = 0,
    proto: int = 0,
    flags: int = 0,
    sock: socket.socket | None = None,
    local_addr: Any = None,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    happy_eyeballs_delay: float | None = None,
    interleave: int | None = None,
    all_errors: bool = False,
) -> Any:
    """Open a TCP connection to ``host``/``port`` (or wrap ``sock``); asyncio's semantics.

    Example::

        transport, protocol = await loop.create_connection(MyProtocol, "127.0.0.1", 8888)
    """
    server_hostname = _check_client_tls_args(
        ssl, host, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout
    )
    if sock is not None:
        _compat.check_ssl_socket(sock)
    tls = client_config(ssl, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout)
    if happy_eyeballs_delay is not None and interleave is None:
        interleave = 1  # RFC 8305: interleave families when racing
    if host is not None or port is not None:
        if sock is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        if local_addr is None and happy_eyeballs_delay is None and not all_errors:
            # The common case, a numeric address: no resolver, one attempt, one coroutine.
            info = _compat.ipaddr_info(host, port, family, socket.SOCK_STREAM, proto)
            if info is not None:
                transport, protocol = await _open_connection(loop, info, protocol_factory, tls)
                if loop._debug:
                    base_events.logger.debug("%r connected to %s:%r: (%r, %r)",
                                             transport.get_extra_info("socket"), host, port,
                                             transport, protocol)
                return transport, protocol
        infos = await resolve(loop, (host, port), family=family, type=socket.SOCK_STREAM,
                              proto=proto, flags=flags)
        if not infos:
            raise OSError("getaddrinfo() returned empty list")
        laddr_infos = None
        if local_addr is not None:
            laddr_infos = await resolve(loop, local_addr, family=family,
                                        type=socket.SOCK_STREAM, proto=proto, flags=flags)
            if not laddr_infos:
                raise OSError("getaddrinfo() returned empty list")
        if interleave:
            infos = _compat.interleave_addrinfos(infos, interleave)
        exceptions: list[list[OSError]] = []
        if happy_eyeballs_delay is None:
            for addr_info in infos:
                try:
                    sock = await _connect_sock(loop, exceptions, addr_info, laddr_infos)
                    break
                except OSError:
                    continue
        else:
            sock, _, _ = await staggered.staggered_race(
                (functools.partial(_connect_sock, loop, exceptions, addr_info, laddr_infos)
                 for addr_info in infos),
                happy_eyeballs_delay,
                loop=loop,
            )
        if sock is None:
            error = _connection_error(exceptions, all_errors)
            exceptions = []
            try:
                raise error
            finally:
                error = None  # type: ignore[assignment]
    else:
        if sock is None:
            raise ValueError("host and port was not specified and no sock specified")
        if sock.type != socket.SOCK_STREAM:
            # AF_INET, AF_INET6 and AF_UNIX are all fine, as long as they are streams.
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")
    return await make_transport(loop, sock, protocol_factory, host, port,
                                own=host is not None or port is not None, tls=tls)


async def create_unix_connection(
    loop: Any,
    protocol_factory: Any,
    path: Any = None,
    *,
    ssl: Any = None,
    sock: socket.socket | None = None,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> Any:
    """Open a Unix stream connection to ``path`` (or wrap ``sock``); asyncio's semantics."""
    if ssl:
        if server_hostname is None:
            raise ValueError("you have to pass server_hostname when using ssl")
    else:
        if server_hostname is not None:
            raise ValueError("server_hostname is only meaningful with ssl")
        if ssl_handshake_timeout is not None:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
    tls = client_config(ssl, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout)
    if path is not None:
        if sock is not None:
            raise ValueError("path and sock can not be specified at the same time")
        path = os.fspath(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, path)
        except BaseException:
            sock.close()
            raise
    else:
        if sock is None:
            raise ValueError("no path and sock were specified")
        if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
    return await make_transport(loop, sock, protocol_factory, own=path is not None, tls=tls)


async def connect_accepted_socket(
    loop: Any,
    protocol_factory: Any,
    sock: socket.socket,
    *,
    ssl: Any = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> Any:
    """Wrap a connection accepted outside asyncio; return ``(transport, protocol)``."""
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"A Stream Socket was expected, got {sock!r}")
    if ssl_handshake_timeout is not None and not ssl:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if ssl_shutdown_timeout is not None and not ssl:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
    _compat.check_ssl_socket(sock)
    tls = server_config(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    return await make_transport(loop, sock, protocol_factory, tls=tls)
