"""``loop.sock_sendfile`` and ``loop.sendfile``: zero-copy file sending, with asyncio's fallback.

The fast path is ``os.sendfile``: the kernel copies file pages straight into the socket, no
bytes pass through Python. The socket is non-blocking, so each call sends what the send buffer
takes; a partial send means the buffer is full, so the coroutine then waits for the socket to
become writable (a write *watcher* of the loop core, registered once on the first wait and kept
until the transfer ends, so a transfer of many buffer-fulls costs one ``epoll_ctl`` pair, not one
per chunk) and calls ``os.sendfile`` again. The watcher is removed in a ``finally`` however the
transfer ends: completion, error or cancellation.

When ``os.sendfile`` cannot be used at all -- no ``os.sendfile``, a file without a real file
descriptor (``io.BytesIO``), or a first call that fails (a file system or socket type the
kernel cannot splice) -- the native attempt raises ``asyncio.SendfileNotAvailableError`` having
sent nothing, and with ``fallback=True`` the data is read into a buffer (in the default executor,
as asyncio does: file reads may block) and sent with ``sock_sendall`` / ``transport.write``.

Semantics (CPython's ``base_events.sock_sendfile`` / ``sendfile``, ``unix_events``'s native
path and ``selector_events._sendfile_native`` are the specification)
    * Argument checks before anything is sent: ``ValueError`` for a file not opened in binary
      mode, a socket that is not ``SOCK_STREAM``, ``count <= 0`` or ``offset < 0``; ``TypeError``
      for a non-integer ``count``/``offset`` and for an ``ssl.SSLSocket``; in debug mode
      ``ValueError`` for a blocking socket.
    * The native path sends from ``offset`` (absolute, the file position is not used); the
      fallback seeks to ``offset`` only when it is non-zero (so ``offset=0`` reads from the
      current position), as asyncio.
    * The file position is left after the last byte sent (``offset + total_sent``) whenever
      something was sent, also when an error ends the transfer; ``file.tell()`` then says how
      much went out. (asyncio also leaves it there on cancellation here; the stock loop usually
      leaves it unchanged when cancelled.)
    * A connection closed in the middle of a native transfer raises ``ConnectionError``
      (``ENOTCONN`` normalised as asyncio does).
    * ``loop.sendfile(transport, ...)``: ``RuntimeError`` for a closing transport or one whose
      ``_sendfile_compatible`` is ``UNSUPPORTED`` (datagram transports); for ``TRY_NATIVE``
      (stream transports) the transport's write buffer is flushed first, reading is paused
      during the transfer and resumed after, and ``write()`` raises while it runs; for
      ``FALLBACK`` (TLS) or when the native path is not available, the file is read and
      written through the transport with its flow control (``fallback=False``: the
      ``SendfileNotAvailableError``, or ``RuntimeError`` for a FALLBACK transport).

Contract with the loop and the transport
    Calls ``loop._watch_write``/``loop._unwatch_write`` (checking ``loop._writers`` so that a
    registration made by someone else is never removed), ``loop._ensure_fd_no_transport`` when
    the loop has it, ``loop.create_future``, ``loop.run_in_executor``, ``loop.sock_sendall``,
    ``loop.get_debug``, and ``loop._transports`` (the transport is taken out of it during a
    native transfer, since the transfer registers the transport's own fd). A stream transport
    exposes asyncio's ``_SelectorSocketTransport`` members: ``_sendfile_compatible``,
    ``_sock``, ``_sock_fd``, ``_make_empty_waiter()``, ``_reset_empty_waiter()``,
    ``is_reading``/``pause_reading``/``resume_reading``, and for the fallback ``get_protocol``,
    ``set_protocol``, ``_protocol_paused``, ``_loop``, ``write``, ``is_closing``.
    :func:`sock_sendfile` and :func:`sendfile` are bound on the Loop as methods of those names,
    and so are ``_sock_sendfile_native`` and ``_sendfile_native``: asyncio's private hooks,
    which these call through the loop when it has them, as asyncio does (CPython's tests replace
    them on a loop instance).
"""
from __future__ import annotations

import asyncio
import contextvars
import errno
import io
import os
import socket
from asyncio import constants, transports
from typing import Any

from nexusloop import _compat

try:
    import ssl
except ImportError:  # pragma: no cover - Python built without ssl
    ssl = None  # type: ignore[assignment]

__all__ = ["sendfile", "sock_sendfile"]

_WOULD_BLOCK = (BlockingIOError, InterruptedError)
_SendfileMode = _compat.SendfileMode
_SendfileNotAvailable = asyncio.SendfileNotAvailableError
_SOCK_FALLBACK_BLOCK = constants.SENDFILE_FALLBACK_READBUFFER_SIZE  # 256 KiB, as asyncio
_TRANSPORT_FALLBACK_BLOCK = 16384  # asyncio's read size for loop.sendfile's fallback
_HAS_SENDFILE = hasattr(os, "sendfile")
_copy_context = contextvars.copy_context


def _check_params(sock: Any, file: Any, offset: Any, count: Any) -> None:
    if "b" not in getattr(file, "mode", "b"):
        raise ValueError("file should be opened in binary mode")
    if not sock.type == socket.SOCK_STREAM:
        raise ValueError("only SOCK_STREAM type sockets are supported")
    if count is not None:
        if not isinstance(count, int):
            raise TypeError(f"count must be a positive integer (got {count!r})")
        if count <= 0:
            raise ValueError(f"count must be a positive integer (got {count!r})")
    if not isinstance(offset, int):
        raise TypeError(f"offset must be a non-negative integer (got {offset!r})")
    if offset < 0:
        raise ValueError(f"offset must be a non-negative integer (got {offset!r})")


class _Writable:
    """Write watcher that wakes the transfer waiting in :func:`_sock_sendfile_native`."""

    __slots__ = ("_context", "_waiter")

    def __init__(self) -> None:
        self._context = _copy_context()
        self._waiter: asyncio.Future[Any] | None = None

    def _write_ready(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _read_ready(self) -> None:  # never registered for reading
        pass


async def sock_sendfile(
    loop: Any,
    sock: socket.socket,
    file: Any,
    offset: int = 0,
    count: int | None = None,
    *,
    fallback: bool = True,
) -> int:
    """Send ``file`` over the connected non-blocking stream ``sock``; return the bytes sent.

    Bound on the loop as ``loop.sock_sendfile``. Sends ``count`` bytes (``None``: to the end of
    the file) starting at ``offset`` with ``os.sendfile`` when possible, else (``fallback=True``)
    by reading the file and sending with ``sock_sendall``.

    Example::

        with open("index.html", "rb") as f:
            sent = await loop.sock_sendfile(conn, f)
    """
    if loop.get_debug() and sock.gettimeout() != 0:
        raise ValueError("the socket must be non-blocking")
    if ssl is not None and isinstance(sock, ssl.SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")
    _check_params(sock, file, offset, count)
    # Through the loop (bound as Loop._sock_sendfile_native) as asyncio does, so that code and
    # tests that replace the native path on a loop instance are honoured.
    native = getattr(loop, "_sock_sendfile_native", None)
    try:
        if native is None:
            return await _sock_sendfile_native(loop, sock, file, offset, count)
        return await native(sock, file, offset, count)  # type: ignore[no-any-return]
    except _SendfileNotAvailable:
        if not fallback:
            raise
    return await _sock_sendfile_fallback(loop, sock, file, offset, count)


async def _sock_sendfile_native(
    loop: Any, sock: socket.socket, file: Any, offset: int, count: int | None
) -> int:
    """The ``os.sendfile`` transfer (``Loop._sock_sendfile_native``): see the module docstring.

    Raises ``SendfileNotAvailableError`` when nothing could be sent with ``os.sendfile``.
    """
    if not _HAS_SENDFILE:
        raise _SendfileNotAvailable("os.sendfile() is not available")
    try:
        fileno = file.fileno()
    except (AttributeError, io.UnsupportedOperation):
        raise _SendfileNotAvailable("not a regular file")
    try:
        fsize = os.fstat(fileno).st_size
    except OSError:
        raise _SendfileNotAvailable("not a regular file")
    blocksize = count if count else fsize
    if not blocksize:
        return 0  # empty file
    fd = sock.fileno()
    total_sent = 0
    watcher: _Writable | None = None
    try:
        while True:
            if count:
                blocksize = count - total_sent
                if blocksize <= 0:
                    return total_sent
            try:
                sent = os.sendfile(fd, fileno, offset, blocksize)
            except _WOULD_BLOCK:
                pass
            except OSError as exc:
                if total_sent == 0:
                    # Typically a file the kernel cannot send from (not mmap-able) or a socket
                    # it cannot send to: nothing went out, so the fallback can take over.
                    raise _SendfileNotAvailable("os.sendfile call failed")
                if (
                    watcher is not None
                    and exc.errno == errno.ENOTCONN
                    and type(exc) is not ConnectionError
                ):
                    # Closed in the middle of the transfer: the same exception on every POSIX.
                    lost = ConnectionError("socket is not connected", errno.ENOTCONN)
                    lost.__cause__ = exc
                    raise lost
                raise
            else:
                if sent == 0:
                    return total_sent  # end of file
                offset += sent
                total_sent += sent
            # The send buffer is full: wait until it drains.
            if watcher is None:
                ensure = getattr(loop, "_ensure_fd_no_transport", None)
                if ensure is not None:
                    ensure(fd)
                watcher = _Writable()
                loop._watch_write(fd, watcher)
            waiter = loop.create_future()
            watcher._waiter = waiter
            try:
                await waiter
            finally:
                watcher._waiter = None
                waiter = None
    finally:
        if watcher is not None and loop._writers.get(fd) is watcher:
            loop._unwatch_write(fd)
        if total_sent > 0:
            os.lseek(fileno, offset, os.SEEK_SET)


async def _sock_sendfile_fallback(
    loop: Any, sock: socket.socket, file: Any, offset: int, count: int | None
) -> int:
    if offset:
        file.seek(offset)
    blocksize = min(count, _SOCK_FALLBACK_BLOCK) if count else _SOCK_FALLBACK_BLOCK
    buf = bytearray(blocksize)
    total_sent = 0
    try:
        while True:
            if count:
                blocksize = min(count - total_sent, blocksize)
                if blocksize <= 0:
                    break
            view = memoryview(buf)[:blocksize]
            read = await loop.run_in_executor(None, file.readinto, view)
            if not read:
                break  # end of file
            await loop.sock_sendall(sock, view[:read])
            total_sent += read
        return total_sent
    finally:
        if total_sent > 0 and hasattr(file, "seek"):
            file.seek(offset + total_sent)


# ------------------------------------------------------------------ loop.sendfile


async def sendfile(
    loop: Any,
    transport: Any,
    file: Any,
    offset: int = 0,
    count: int | None = None,
    *,
    fallback: bool = True,
) -> int:
    """Send ``file`` through ``transport``; return the number of bytes sent.

    Bound on the loop as ``loop.sendfile``. Uses ``os.sendfile`` on the transport's socket
    when the transport allows it, else (``fallback=True``) reads the file and writes it through
    the transport with flow control. The file position is updated as for ``sock_sendfile``.

    Example::

        with open("video.mp4", "rb") as f:
            await loop.sendfile(writer.transport, f)
    """
    if transport.is_closing():
        raise RuntimeError("Transport is closing")
    mode = getattr(transport, "_sendfile_compatible", _SendfileMode.UNSUPPORTED)
    if mode is _SendfileMode.UNSUPPORTED:
        raise RuntimeError(f"sendfile is not supported for transport {transport!r}")
    if mode is _SendfileMode.TRY_NATIVE:
        native = getattr(loop, "_sendfile_native", None)  # as for sock_sendfile
        try:
            if native is None:
                return await _sendfile_native(loop, transport, file, offset, count)
            return await native(transport, file, offset, count)  # type: ignore[no-any-return]
        except _SendfileNotAvailable:
            if not fallback:
                raise
    if not fallback:
        raise RuntimeError(
            f"fallback is disabled and native sendfile is not supported for transport "
            f"{transport!r}"
        )
    return await _sendfile_fallback(loop, transport, file, offset, count)


async def _sendfile_native(
    loop: Any, transport: Any, file: Any, offset: int, count: int | None
) -> int:
    """``os.sendfile`` on a stream transport's socket (``Loop._sendfile_native``)."""
    # The transfer registers the transport's own fd: take the transport out of the table that
    # makes add_writer refuse it, for the duration.
    fd = transport._sock_fd
    table = loop._transports
    table.pop(fd, None)
    resume_reading = transport.is_reading()
    transport.pause_reading()
    try:
        # While the waiter is set the transport refuses write(); it resolves once everything
        # written so far has gone out.
        flushed = transport._make_empty_waiter()
        try:
            # Shielded: a cancelled sendfile must not cancel the transport's own future, which
            # the transport resolves when its buffer drains.
            await asyncio.shield(flushed)
            return await loop.sock_sendfile(  # type: ignore[no-any-return]
                transport._sock, file, offset, count, fallback=False
            )
        finally:
            # Also when cancelled while the buffer drains (asyncio leaves the waiter set then,
            # and the transport refuses every later write()).
            transport._reset_empty_waiter()
    finally:
        if resume_reading:
            transport.resume_reading()
        if not transport.is_closing():
            # A closed transport's fd may already belong to someone else.
            table[fd] = transport


class _FallbackProtocol(asyncio.Protocol):
    """Stands in for the transport's protocol while ``sendfile`` writes the file through it.

    It takes over the flow-control callbacks (``drain`` waits while the transport is paused),
    forwards ``connection_lost`` to the real protocol, and must see no data (reading is paused).
    """

    def __init__(self, transport: Any) -> None:
        if not (
            isinstance(transport, transports._FlowControlMixin)
            or hasattr(transport, "_protocol_paused")
        ):
            raise TypeError("transport should be _FlowControlMixin instance")
        self._transport = transport
        self._proto = transport.get_protocol()
        self._should_resume_reading = transport.is_reading()
        self._should_resume_writing = transport._protocol_paused
        transport.pause_reading()
        transport.set_protocol(self)
        self._write_ready_fut: asyncio.Future[Any] | None = (
            transport._loop.create_future() if self._should_resume_writing else None
        )

    async def drain(self) -> None:
        if self._transport.is_closing():
            raise ConnectionError("Connection closed by peer")
        fut = self._write_ready_fut
        if fut is not None:
            await fut

    def connection_made(self, transport: Any) -> None:
        raise RuntimeError("Invalid state: connection should have been established already.")

    def connection_lost(self, exc: BaseException | None) -> None:
        fut = self._write_ready_fut
        if fut is not None and not fut.done():
            # The whole file was not written: a disconnection is an error for the sender.
            error = exc if exc is not None else ConnectionError("Connection is closed by peer")
            fut.set_exception(error)
        self._proto.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._write_ready_fut is None:
            self._write_ready_fut = self._transport._loop.create_future()

    def resume_writing(self) -> None:
        fut = self._write_ready_fut
        if fut is not None:
            self._write_ready_fut = None
            fut.set_result(False)

    def data_received(self, data: bytes) -> None:
        raise RuntimeError("Invalid state: reading should be paused")

    def eof_received(self) -> bool | None:
        raise RuntimeError("Invalid state: reading should be paused")

    def restore(self) -> None:
        transport = self._transport
        transport.set_protocol(self._proto)
        if self._should_resume_reading:
            transport.resume_reading()
        fut = self._write_ready_fut
        if fut is not None:
            fut.cancel()  # nobody waits on it any more
        if self._should_resume_writing:
            self._proto.resume_writing()


async def _sendfile_fallback(
    loop: Any, transport: Any, file: Any, offset: int, count: int | None
) -> int:
    if offset:
        file.seek(offset)
    blocksize = min(count, _TRANSPORT_FALLBACK_BLOCK) if count else _TRANSPORT_FALLBACK_BLOCK
    buf = bytearray(blocksize)
    total_sent = 0
    proto = _FallbackProtocol(transport)
    try:
        while True:
            if count:
                blocksize = min(count - total_sent, blocksize)
                if blocksize <= 0:
                    return total_sent
            view = memoryview(buf)[:blocksize]
            read = await loop.run_in_executor(None, file.readinto, view)
            if not read:
                return total_sent  # end of file
            await proto.drain()
            transport.write(view[:read])  # the transport copies what it must keep
            total_sent += read
    finally:
        if total_sent > 0 and hasattr(file, "seek"):
            file.seek(offset + total_sent)
        proto.restore()
