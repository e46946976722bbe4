"""Low-level socket coroutines: ``loop.sock_recv`` … ``loop.sock_accept``.

Design
------
Every operation tries the system call first and only falls back to readiness
notification when the kernel says it would block (``BlockingIOError``) or the
call was interrupted (``InterruptedError``).  When data is already queued, when
the send buffer has room, or when a Unix-socket connect completes at once, the
coroutine returns without creating a future or touching the poller at all: the
fast path costs one syscall.  On the slow path a future is created, a reader
or writer callback is registered for the socket's fd, and a done-callback on
the future removes that registration however the future ends (result,
exception or cancellation), so a cancelled ``sock_recv`` never leaves its fd
registered.

The done-callback removes the registration only if it is still the one this
operation installed: if another operation replaced the reader/writer for the
same fd in the meantime (a retry right after cancelling, within one loop tick),
its registration survives.  The loop's private ``_add_reader``/``_add_writer``
(as in CPython's ``BaseSelectorEventLoop``) return the registration's Handle,
which is cancelled when the registration is replaced: that says so exactly.

Semantics follow CPython 3.11 ``selector_events.BaseSelectorEventLoop``
(the specification): the same exceptions, including ``ValueError("the socket
must be non-blocking")`` for a blocking socket, which CPython raises only in
debug mode (a socket whose ``gettimeout() != 0``); ``TypeError`` for an
``ssl.SSLSocket``; ``OSError`` from ``SO_ERROR`` after a non-blocking connect;
accepted sockets are made non-blocking.  ``sock_connect`` resolves non-numeric
host names with ``loop.getaddrinfo`` for AF_INET/AF_INET6 sockets only (Unix
socket paths are passed through).  ``sock_sendfile`` is not here.

Each ``sock_*`` is a plain coroutine function whose first parameter is the loop;
``nexusloop.Loop`` binds it as a method (``sock_recv = _sock.sock_recv``), so
``loop.sock_recv(sock, n)`` calls it directly, with no extra frame.

Contract with the loop
----------------------
What these functions call on the loop, with CPython ``BaseEventLoop`` semantics:

* ``loop._debug`` (bool) -- enables the blocking-socket check.
* ``loop.create_future()``.
* ``loop.remove_reader(fd) -> bool`` / ``loop.remove_writer(fd) -> bool`` (``fd``
  an int here); they must return False (not raise) on a closed loop.
* ``loop.getaddrinfo(...)`` (coroutine; ``nexusloop.net._dns`` provides it).
* ``loop._add_reader(fd, cb, *args) -> Handle`` / ``loop._add_writer(...)``:
  register (without the transport check) and return the registered Handle,
  which must be cancelled when the registration is replaced or removed; they
  must raise ``RuntimeError('Event loop is closed')`` on a closed loop.
* ``loop._ensure_fd_no_transport(fd)`` -- optional; called before ``_add_*``
  when it exists, as CPython does.

What the loop provides in return: nothing else -- the functions keep no state
on the loop (no service, nothing to close), so any loop with the members above
can bind them (the tests bind them on CPython's selector loop).
"""
from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

try:
    import ssl
except ImportError:  # pragma: no cover - Python built without ssl
    ssl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from nexusloop.loop import Loop

__all__ = [
    "sock_accept",
    "sock_connect",
    "sock_recv",
    "sock_recv_into",
    "sock_recvfrom",
    "sock_recvfrom_into",
    "sock_sendall",
    "sock_sendto",
]

_HAS_IPV6 = socket.has_ipv6
_INET_FAMILIES = (socket.AF_INET, socket.AF_INET6) if _HAS_IPV6 else (socket.AF_INET,)
_NUMERIC_TYPES = {socket.SOCK_STREAM: socket.IPPROTO_TCP, socket.SOCK_DGRAM: socket.IPPROTO_UDP}
_NUMERIC_PROTOS = (0, socket.IPPROTO_TCP, socket.IPPROTO_UDP)

_WOULD_BLOCK = (BlockingIOError, InterruptedError)
_FATAL = (SystemExit, KeyboardInterrupt)


def _check_sock(loop: Loop, sock: socket.socket) -> None:
    """The argument checks every ``sock_*`` function makes before its first syscall."""
    if ssl is not None and isinstance(sock, ssl.SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")
    if loop._debug and sock.gettimeout() != 0:
        raise ValueError("the socket must be non-blocking")


def _numeric_sockaddr(sock: socket.socket, address: Any) -> Any:
    """Return ``address`` ready for ``connect()`` if its host is a literal IP, else None.

    Mirrors the shortcut asyncio takes before calling getaddrinfo: numeric
    hosts with a numeric (or empty) port on a TCP/UDP socket need no resolver
    round-trip through the executor.
    """
    if sock.type not in _NUMERIC_TYPES or sock.proto not in _NUMERIC_PROTOS:
        return None
    host, port = address[0], address[1]
    if host is None:
        return None
    if port is None or port == "" or port == b"":
        port = 0
    else:
        try:
            port = int(port)
        except (TypeError, ValueError):
            return None  # a service name such as "http": let getaddrinfo map it
    if isinstance(host, bytes):
        host = host.decode("idna")
    if "%" in host:
        return None  # IPv6 zone index: inet_pton rejects it, the resolver handles it
    family = sock.family
    try:
        socket.inet_pton(family, host)
    except OSError:
        return None
    if family == socket.AF_INET6:
        extra = tuple(address[2:4])
        return (host, port) + extra + (0,) * (2 - len(extra))
    return (host, port)


# -- registration (slow path only) ---------------------------------------------------------
#
# A registration is removed when its future is done -- but only if it is still the
# registration this operation made: the loop cancels a replaced registration's Handle.


def _wait(
    loop: Loop,
    writable: bool,
    fut: asyncio.Future[Any],
    fd: int,
    callback: Callable[..., None],
    *args: Any,
) -> None:
    """Call ``callback(*args)`` whenever ``fd`` is readable/writable until ``fut`` is done."""
    ensure = getattr(loop, "_ensure_fd_no_transport", None)
    if ensure is not None:
        ensure(fd)
    adder = loop._add_writer if writable else loop._add_reader
    handle = adder(fd, callback, *args)
    fut.add_done_callback(functools.partial(_unwatch, loop, writable, fd, handle))


def _unwatch(loop: Loop, writable: bool, fd: int, handle: Any, fut: object) -> None:
    # A cancelled handle means someone re-registered this fd after us: leave theirs alone.
    if not handle.cancelled():
        if writable:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


def _on_ready(fut: asyncio.Future[Any], sock: socket.socket, method: str, *args: Any) -> None:
    """Readiness callback of the single-syscall operations: retry ``sock.<method>(*args)``.

    The method is looked up at each retry, as CPython does (its tests patch it meanwhile).
    """
    if fut.done():
        return  # cancelled while this wake-up was already queued
    try:
        result = getattr(sock, method)(*args)
    except _WOULD_BLOCK:
        return  # spurious wake-up: stay registered
    except _FATAL:
        raise
    except BaseException as exc:  # noqa: BLE001 - delivered to the awaiting caller
        fut.set_exception(exc)
    else:
        fut.set_result(result)


# -- receiving -----------------------------------------------------------------------------


async def sock_recv(loop: Loop, sock: socket.socket, n: int) -> bytes:
    """Receive up to ``n`` bytes from the non-blocking ``sock``.

    Example::

        data = await loop.sock_recv(sock, 65536)
    """
    _check_sock(loop, sock)
    try:
        return sock.recv(n)
    except _WOULD_BLOCK:
        pass
    fut = loop.create_future()
    _wait(loop, False, fut, sock.fileno(), _on_ready, fut, sock, "recv", n)
    return await fut  # type: ignore[no-any-return]


async def sock_recv_into(loop: Loop, sock: socket.socket, buf: Any) -> int:
    """Receive into the writable buffer ``buf``; return the number of bytes written.

    Example::

        buf = bytearray(4096)
        n = await loop.sock_recv_into(sock, buf)
    """
    _check_sock(loop, sock)
    try:
        return sock.recv_into(buf)
    except _WOULD_BLOCK:
        pass
    fut = loop.create_future()
    _wait(loop, False, fut, sock.fileno(), _on_ready, fut, sock, "recv_into", buf)
    return await fut  # type: ignore[no-any-return]


async def sock_recvfrom(loop: Loop, sock: socket.socket, bufsize: int) -> tuple[bytes, Any]:
    """Receive a datagram of up to ``bufsize`` bytes; return ``(data, address)``.

    Example::

        data, peer = await loop.sock_recvfrom(udp_sock, 2048)
    """
    _check_sock(loop, sock)
    try:
        return sock.recvfrom(bufsize)
    except _WOULD_BLOCK:
        pass
    fut = loop.create_future()
    _wait(loop, False, fut, sock.fileno(), _on_ready, fut, sock, "recvfrom", bufsize)
    return await fut  # type: ignore[no-any-return]


async def sock_recvfrom_into(
    loop: Loop, sock: socket.socket, buf: Any, nbytes: int = 0
) -> tuple[int, Any]:
    """Receive a datagram into ``buf``; return ``(nbytes, address)``.

    ``nbytes`` 0 means ``len(buf)``.

    Example::

        buf = bytearray(2048)
        n, peer = await loop.sock_recvfrom_into(udp_sock, buf)
    """
    _check_sock(loop, sock)
    if not nbytes:
        nbytes = len(buf)
    try:
        return sock.recvfrom_into(buf, nbytes)
    except _WOULD_BLOCK:
        pass
    fut = loop.create_future()
    _wait(loop, False, fut, sock.fileno(), _on_ready, fut, sock, "recvfrom_into", buf, nbytes)
    return await fut  # type: ignore[no-any-return]


# -- sending -------------------------------------------------------------------------------


async def sock_sendall(loop: Loop, sock: socket.socket, data: Any) -> None:
    """Send all of ``data`` on the connected ``sock``, continuing after partial sends.

    On error the exception propagates and how much was sent is unknown.

    Example::

        await loop.sock_sendall(sock, b"PING\\r\\n")
    """
    _check_sock(loop, sock)
    try:
        sent = sock.send(data)
    except _WOULD_BLOCK:
        sent = 0
    if sent == len(data):
        return
    fut = loop.create_future()
    # The offset lives in a one-element list so the callback can advance it in place.
    _wait(loop, True, fut, sock.fileno(), _on_sendall, fut, sock, memoryview(data), [sent])
    await fut


def _on_sendall(
    fut: asyncio.Future[Any], sock: socket.socket, view: memoryview, offset: list[int]
) -> None:
    if fut.done():
        return  # cancelled while this wake-up was already queued
    pos = offset[0]
    try:
        pos += sock.send(view[pos:])
    except _WOULD_BLOCK:
        return
    except _FATAL:
        raise
    except BaseException as exc:  # noqa: BLE001 - delivered to the awaiting caller
        fut.set_exception(exc)
        return
    if pos == len(view):
        fut.set_result(None)
    else:
        offset[0] = pos


async def sock_sendto(loop: Loop, sock: socket.socket, data: Any, address: Any) -> int:
    """Send the datagram ``data`` to ``address``; return the number of bytes sent.

    Example::

        await loop.sock_sendto(udp_sock, b"hello", ("127.0.0.1", 9999))
    """
    _check_sock(loop, sock)
    try:
        return sock.sendto(data, address)
    except _WOULD_BLOCK:
        pass
    fut = loop.create_future()
    _wait(loop, True, fut, sock.fileno(), _on_ready, fut, sock, "sendto", data, address)
    return await fut  # type: ignore[no-any-return]


# -- connecting and accepting --------------------------------------------------------------


async def sock_connect(loop: Loop, sock: socket.socket, address: Any) -> None:
    """Connect the non-blocking ``sock`` to ``address``.

    For AF_INET/AF_INET6 sockets a host name is resolved with ``loop.getaddrinfo``
    and the first result is used; Unix socket paths are used as given.

    Example::

        await loop.sock_connect(sock, ("localhost", 8080))
    """
    _check_sock(loop, sock)
    if sock.family in _INET_FAMILIES:
        address = await _resolve(loop, sock, address)
    try:
        sock.connect(address)
    except _WOULD_BLOCK:
        # In progress (EINPROGRESS, or EINTR: the kernel carries on with the connect).
        # Writability says it finished; SO_ERROR says how.
        pass
    else:
        return
    fut = loop.create_future()
    _wait(loop, True, fut, sock.fileno(), _on_connect, fut, sock, address)
    try:
        await fut
    finally:
        # The exception's traceback references this frame, which references fut:
        # drop it so a failed connect does not keep a reference cycle alive.
        fut = None  # type: ignore[assignment]


async def _resolve(loop: Loop, sock: socket.socket, address: Any) -> Any:
    sockaddr = _numeric_sockaddr(sock, address)
    if sockaddr is not None:
        return sockaddr
    host, port = address[0], address[1]
    infos = await loop.getaddrinfo(host, port, family=sock.family, type=sock.type, proto=sock.proto)
    if not infos:
        raise OSError(f"getaddrinfo({host!r}) returned empty list")
    return infos[0][4]


def _on_connect(fut: asyncio.Future[Any], sock: socket.socket, address: Any) -> None:
    if fut.done():
        return
    try:
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err != 0:
            raise OSError(err, f"Connect call failed {address}")
    except _WOULD_BLOCK:
        pass  # still connecting: stay registered
    except _FATAL:
        raise
    except BaseException as exc:  # noqa: BLE001 - delivered to the awaiting caller
        fut.set_exception(exc)
    else:
        fut.set_result(None)
    finally:
        fut = None  # type: ignore[assignment]  # break the traceback cycle, as above


async def sock_accept(loop: Loop, sock: socket.socket) -> tuple[socket.socket, Any]:
    """Accept a connection on the listening ``sock``; return ``(conn, address)``.

    ``conn`` is non-blocking.

    Example::

        conn, peer = await loop.sock_accept(listener)
    """
    _check_sock(loop, sock)
    try:
        conn, address = sock.accept()
    except _WOULD_BLOCK:
        pass
    else:
        conn.setblocking(False)
        return conn, address
    fut = loop.create_future()
    _wait(loop, False, fut, sock.fileno(), _on_accept, fut, sock)
    return await fut  # type: ignore[no-any-return]


def _on_accept(fut: asyncio.Future[Any], sock: socket.socket) -> None:
    if fut.done():
        return
    try:
        conn, address = sock.accept()
        conn.setblocking(False)
    except _WOULD_BLOCK:
        return
    except _FATAL:
        raise
    except BaseException as exc:  # noqa: BLE001 - delivered to the awaiting caller
        fut.set_exception(exc)
    else:
        fut.set_result((conn, address))
