"""Servers: listening sockets, accepting connections, ``create_server`` / ``create_unix_server``.

The ``Server`` object is asyncio's own ``asyncio.Server`` (``base_events.Server``), so
``serve_forever``, ``start_serving``, ``close``, ``wait_closed``, ``is_serving``, ``sockets`` and
the async context manager behave exactly as on the running Python version; on Python < 3.13 a
subclass adds 3.13's ``close_clients()`` / ``abort_clients()``. The server drives the loop through
two methods, ``loop._start_serving(...)`` and ``loop._stop_serving(sock)``, defined here.

Accepting
    Each listening socket gets a :class:`_Listener`, a readiness watcher of the loop core. When
    the socket is readable it accepts up to ``backlog`` connections in a row (the kernel reports
    readiness once for all of them) and creates each connection's protocol and transport at
    once, in the same tick — asyncio instead creates a task per accepted connection.
    ``connection_made`` still runs in the next tick, as asyncio orders it.
Running out of descriptors
    ``EMFILE``/``ENFILE``/``ENOBUFS``/``ENOMEM`` on accept are reported to the exception handler
    ("socket.accept() out of system resource"), accepting pauses for
    ``asyncio.constants.ACCEPT_RETRY_DELAY`` seconds (the listening socket would otherwise stay
    readable and spin the loop), then resumes while the server is still serving.
"""
from __future__ import annotations

import _socket
import asyncio
import collections.abc
import contextvars
import errno
import itertools
import logging
import os
import socket
import stat
import sys
import weakref
from asyncio import constants, trsock
from typing import Any

from nexusloop import _compat
from nexusloop._core._loopcore import Watcher
from nexusloop.net._stream import SocketTransport
from nexusloop.net._tls import TLSConfig, server_config, watch_accepted_handshake

# asyncio's private helpers are not in typeshed: reach them through an Any-typed alias.
base_events: Any = asyncio.base_events

__all__ = ["Server", "create_server", "create_unix_server"]

_logger = logging.getLogger("asyncio")
_HAS_IPV6 = hasattr(socket, "AF_INET6")
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_CLEANUP_DEFAULT = sys.version_info >= (3, 13)

if sys.version_info >= (3, 13):
    Server = base_events.Server
else:

    class Server(base_events.Server):  # type: ignore[no-redef]
        """``asyncio.Server`` with Python 3.13's ``close_clients`` / ``abort_clients``."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._clients: weakref.WeakSet[Any] = weakref.WeakSet()

        def _attach(self, transport: Any = None) -> None:  # type: ignore[override]
            super()._attach()  # type: ignore[misc]
            if transport is not None:
                self._clients.add(transport)

        def _detach(self, transport: Any = None) -> None:  # type: ignore[override]
            if transport is not None:
                self._clients.discard(transport)
            super()._detach()  # type: ignore[misc]

        def close_clients(self) -> None:
            """Close every connection accepted by this server (its buffers drain first)."""
            for transport in self._clients.copy():
                transport.close()

        def abort_clients(self) -> None:
            """Abort every connection accepted by this server (buffers are dropped)."""
            for transport in self._clients.copy():
                transport.abort()


class _Listener(Watcher):
    """Readiness watcher of one listening socket: accepts and builds transports."""

    __slots__ = ("_loop", "_sock", "_fd", "_protocol_factory", "_server", "_backlog", "_retry",
                 "_family", "_type", "_proto", "_tls")

    def __init__(self, loop: Any, sock: socket.socket, protocol_factory: Any, server: Any,
                 backlog: int, tls: TLSConfig | None) -> None:
        self._loop = loop
        self._tls = tls
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol_factory = protocol_factory
        self._server = server
        self._backlog = backlog
        self._context = contextvars.copy_context()
        self._retry: Any = None
        # What socket.accept() would pass to socket.socket(), read once as plain ints (the
        # socket's own properties convert to IntEnum on every access).
        self._family = _socket.socket.family.__get__(sock)
        self._type = _socket.socket.type.__get__(sock)
        self._proto = sock.proto

    def __repr__(self) -> str:
        return f"<nexusloop listener fd={self._fd} server={self._server!r}>"

    def _read_ready(self) -> None:
        sock = self._sock
        loop = self._loop
        for _ in range(self._backlog):
            try:
                fd, addr = sock._accept()  # type: ignore[attr-defined]
                conn = socket.socket(self._family, self._type, self._proto, fileno=fd)
                conn.setblocking(False)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # the accept queue is empty
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise  # reported by the loop; the listener stays registered
                loop.call_exception_handler(
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": exc,
                        "socket": trsock.TransportSocket(sock),
                    }
                )
                loop._unwatch_read(self._fd)
                self._retry = loop.call_later(constants.ACCEPT_RETRY_DELAY, self._resume)
                return
            if loop._debug:
                _logger.debug("%r got a new connection from %r: %r", self._server, addr, conn)
            self._accept(conn, addr)

    def _accept(self, conn: socket.socket, addr: Any) -> None:
        protocol = None
        try:
            protocol = self._protocol_factory()
            if self._tls is None:
                SocketTransport(self._loop, conn, protocol, None, {"peername": addr},
                                self._server)
            else:
                # The handshake's outcome is watched by a callback, not a task per connection.
                waiter = self._loop.create_future()
                ssl_protocol = self._tls.wrap(self._loop, protocol, waiter)
                SocketTransport(self._loop, conn, ssl_protocol, None, {"peername": addr},
                                self._server)
                watch_accepted_handshake(self._loop, protocol, ssl_protocol, waiter)
        except (SystemExit, KeyboardInterrupt):
            conn.close()
            raise
        except BaseException as exc:
            conn.close()
            context = {
                "message": "Error on transport creation for incoming connection",
                "exception": exc,
            }
            if protocol is not None:
                context["protocol"] = protocol
            self._loop.call_exception_handler(context)

    def _resume(self) -> None:
        self._retry = None
        if self._sock.fileno() != -1 and not self._loop.is_closed():
            self._loop._watch_read(self._fd, self)

    def stop(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self._loop._unwatch_read(self._fd)


def start_serving(
    loop: Any,
    protocol_factory: Any,
    sock: socket.socket,
    sslcontext: Any = None,
    server: Any = None,
    backlog: int = 100,
    ssl_handshake_timeout: Any = None,
    ssl_shutdown_timeout: Any = None,
) -> None:
    """``loop._start_serving``: what ``asyncio.Server`` calls for each of its sockets."""
    tls = server_config(sslcontext, ssl_handshake_timeout, ssl_shutdown_timeout)
    listener = _Listener(loop, sock, protocol_factory, server, backlog, tls)
    loop._watch_read(listener._fd, listener)
    loop._listeners[sock] = listener


def stop_serving(loop: Any, sock: socket.socket) -> None:
    """``loop._stop_serving``: stop accepting on ``sock``, close it, unlink its Unix path."""
    listener = loop._listeners.pop(sock, None)
    if listener is not None:
        listener.stop()
    path = None
    inode = loop._unix_server_sockets.pop(sock, None)
    if inode is not None:
        path = sock.getsockname()
    sock.close()
    if path is not None:
        try:
            if os.stat(path).st_ino == inode:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            _logger.error("Unable to clean up listening UNIX socket %r: %r", path, err)


def _check_server_tls_args(ssl: Any, ssl_handshake_timeout: Any, ssl_shutdown_timeout: Any) -> None:
    if isinstance(ssl, bool):
        raise TypeError("ssl argument must be an SSLContext or None")
    if ssl_handshake_timeout is not None and ssl is None:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if ssl_shutdown_timeout is not None and ssl is None:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")


async def _serve(loop: Any, sockets: list[socket.socket], protocol_factory: Any, ssl: Any,
                 backlog: int, ssl_handshake_timeout: Any, ssl_shutdown_timeout: Any,
                 start: bool) -> Any:
    for sock in sockets:
        sock.setblocking(False)
    server = Server(loop, sockets, protocol_factory, ssl, backlog, ssl_handshake_timeout,
                    ssl_shutdown_timeout)
    if start:
        server._start_serving()  # type: ignore[attr-defined]
        await asyncio.sleep(0)  # as asyncio: one tick, so the listeners are in place
    if loop._debug:
        _logger.info("%r is serving", server)
    return server


async def create_server(
    loop: Any,
    protocol_factory: Any,
    host: Any = None,
    port: Any = None,
    *,
    family: int = socket.AF_UNSPEC,
    flags: int = socket.AI_PASSIVE,
    sock: socket.socket | None = None,
    backlog: int = 100,
    ssl: Any = None,
    reuse_address: bool | None = None,
    reuse_port: bool | None = None,
    keep_alive: bool | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    start_serving: bool = True,
) -> Any:
    """Create a TCP server listening on ``host``/``port`` (or ``sock``); asyncio's semantics.

    ``host`` may be a sequence of hosts; each address is bound once. Example::

        server = await loop.create_server(EchoProtocol, "127.0.0.1", 8888)
        async with server:
            await server.serve_forever()
    """
    _check_server_tls_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    if sock is not None:
        _compat.check_ssl_socket(sock)
    if host is not None or port is not None:
        if sock is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        if reuse_address is None:
            reuse_address = os.name == "posix" and sys.platform != "cygwin"
        if host == "":
            hosts: list[Any] = [None]
        elif isinstance(host, str) or not isinstance(host, collections.abc.Iterable):
            hosts = [host]
        else:
            hosts = list(host)
        resolved = await asyncio.gather(
            *[_resolve_passive(loop, h, port, family, flags) for h in hosts]
        )
        infos = set(itertools.chain.from_iterable(resolved))
        sockets = _bind_all(loop, infos, reuse_address, reuse_port, keep_alive)
    else:
        if sock is None:
            raise ValueError("Neither host/port nor sock were specified")
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        sockets = [sock]
    return await _serve(loop, sockets, protocol_factory, ssl, backlog, ssl_handshake_timeout,
                        ssl_shutdown_timeout, start_serving)


async def _resolve_passive(loop: Any, host: Any, port: Any, family: int, flags: int) -> Any:
    infos = await resolve(loop, (host, port), family=family, type=socket.SOCK_STREAM, flags=flags)
    if not infos:
        raise OSError(f"getaddrinfo({host!r}) returned empty list")
    return infos


async def resolve(loop: Any, address: Any, *, family: int = 0, type: int = socket.SOCK_STREAM,
                  proto: int = 0, flags: int = 0) -> Any:
    """``getaddrinfo`` without the executor round trip for numeric hosts (as asyncio)."""
    host, port = address[:2]
    info = _compat.ipaddr_info(host, port, family, type, proto, *address[2:])
    if info is not None:
        return [info]
    return await loop.getaddrinfo(host, port, family=family, type=type, proto=proto, flags=flags)


def _bind_all(loop: Any, infos: Any, reuse_address: Any, reuse_port: Any,
              keep_alive: Any) -> list[socket.socket]:
    sockets: list[socket.socket] = []
    completed = False
    try:
        for af, socktype, proto, _canonname, sa in infos:
            try:
                sock = socket.socket(af, socktype, proto)
            except OSError:
                # A family/type/protocol combination this host cannot open.
                if loop._debug:
                    _logger.warning("create_server() failed to create socket.socket(%r, %r, %r)",
                                    af, socktype, proto, exc_info=True)
                continue
            sockets.append(sock)
            if reuse_address:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
            if reuse_port:
                _compat.set_reuseport(sock)
            if keep_alive:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)
            if _HAS_IPV6 and af == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                # One socket per family: no dual-stack listening on the IPv6 socket.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
            try:
                sock.bind(sa)
            except OSError as err:
                msg = f"error while attempting to bind on address {sa!r}: {(err.strerror or '').lower()}"
                if err.errno == errno.EADDRNOTAVAIL:
                    # The family is not enabled on this host (bpo-30945): skip it.
                    sockets.pop()
                    sock.close()
                    if loop._debug:
                        _logger.warning(msg)
                    continue
                raise OSError(err.errno, msg) from None
        if not sockets:
            raise OSError(f"could not bind on any address out of {[info[4] for info in infos]!r}")
        completed = True
    finally:
        if not completed:
            for sock in sockets:
                sock.close()
    return sockets


async def create_unix_server(
    loop: Any,
    protocol_factory: Any,
    path: Any = None,
    *,
    sock: socket.socket | None = None,
    backlog: int = 100,
    ssl: Any = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    start_serving: bool = True,
    cleanup_socket: bool = _CLEANUP_DEFAULT,
) -> Any:
    """Create a Unix stream server on ``path`` (a file or, starting with NUL, abstract).

    A stale socket file at ``path`` is removed first, as asyncio does; with ``cleanup_socket``
    (Python 3.13's option, accepted on every version) the file is removed when the server
    closes, if it is still the one the server created. Its default follows the running Python,
    as asyncio does: true from 3.13, false before (where asyncio never removes it).
    """
    _check_server_tls_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    if path is not None:
        if sock is not None:
            raise ValueError("path and sock can not be specified at the same time")
        path = os.fspath(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if path[0] not in (0, "\x00"):  # not an abstract-namespace address
            try:
                if stat.S_ISSOCK(os.stat(path).st_mode):
                    os.remove(path)
            except FileNotFoundError:
                pass
            except OSError as err:
                # The directory may allow creating the socket but not checking it.
                _logger.error("Unable to check or remove stale UNIX socket %r: %r", path, err)
        try:
            sock.bind(path)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise OSError(errno.EADDRINUSE, f"Address {path!r} is already in use") from None
            raise
        except BaseException:
            sock.close()
            raise
    else:
        if sock is None:
            raise ValueError("path was not specified, and no sock specified")
        if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
    if cleanup_socket:
        bound = sock.getsockname()
        if bound and bound[0] not in (0, "\x00"):
            try:
                loop._unix_server_sockets[sock] = os.stat(bound).st_ino
            except FileNotFoundError:
                pass
    return await _serve(loop, [sock], protocol_factory, ssl, backlog, ssl_handshake_timeout,
                        ssl_shutdown_timeout, start_serving)
