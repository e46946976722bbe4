"""The signal service: Unix signal handlers of a loop (``add_signal_handler`` and friends).

How a signal reaches a callback
-------------------------------
Python runs signal handlers in the main thread between bytecodes, which can be
arbitrarily late while the loop is parked in the poller.  So, as asyncio does, the
loop asks the interpreter's C-level handler to write the signal number into a file
descriptor (``signal.set_wakeup_fd``); that write wakes the poller, and the loop
reads the byte(s) like any other readiness event and schedules the registered
callbacks with ``call_soon``.  The Python-level handler installed with
``signal.signal`` is a no-op: it only exists so the C handler records the signal.

The wakeup fd is the write end of a non-blocking socket pair owned by this service,
not the loop's own wake-up channel: the core may wake itself with an eventfd, whose
8-byte protocol does not fit the one-byte-per-signal writes of ``set_wakeup_fd``.
The pair is created on the first ``add_signal_handler``, so loops without signal
handlers spend no fds on it, and its read end is registered with ``add_reader``.

Semantics follow CPython 3.11 ``unix_events._UnixSelectorEventLoop`` (the
specification): ``TypeError`` for coroutine callbacks and non-int signals,
``ValueError`` for signal numbers outside ``signal.valid_signals()``,
``RuntimeError`` when not in the main thread (``set_wakeup_fd`` refuses) and for
uncatchable signals (SIGKILL, SIGSTOP); removing restores
``signal.default_int_handler`` for SIGINT and ``SIG_DFL`` otherwise. The last removal
(and ``close()``) puts back the wakeup fd that was installed before the first handler
(asyncio sets -1, discarding a wakeup fd another library had installed; -1 is also what
nexusloop restores when there was none). Child processes are watched without signals
(``nexusloop.net._subprocess``), so a ``SIGCHLD`` handler added here is the application's own.  Callbacks run as ``asyncio.Handle`` objects
(exceptions go to the loop's exception handler with the handle in the context).

Contract with the loop
----------------------
The loop's ``add_signal_handler`` and ``remove_signal_handler`` delegate to the methods of the
same names here.

What this service calls on the loop (CPython semantics): ``loop._check_closed()``,
``loop.call_soon(cb, *args)``, ``loop.add_reader(fd, cb)`` / ``loop.remove_reader(fd)``,
``loop.is_closed()``; through ``asyncio.Handle``, ``loop.get_debug()`` and
``loop.call_exception_handler(ctx)``.

What the loop calls on it: the two methods above, and ``close()`` from ``Loop.close()`` (a
:class:`nexusloop._service.LoopService`): removes every handler (restoring the default
dispositions and the wakeup fd), unregisters the read end while the loop is still open, and
closes both sockets.  It is idempotent.

State: ``handlers`` (``{signum: asyncio.Handle}``; the loop exposes it under CPython's name,
``loop._signal_handlers``) and the socket pair.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import sys
import warnings
import weakref
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, TypeVarTuple, Unpack

if TYPE_CHECKING:
    from nexusloop.loop import Loop

__all__ = ["SignalService"]

_logger = logging.getLogger("asyncio")
_Ts = TypeVarTuple("_Ts")

if sys.platform == "win32":  # pragma: no cover
    raise ImportError("nexusloop signal handling is Unix only")

_VALID_SIGNALS = frozenset(signal.valid_signals())


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    """Python-level handler: the work happens when the wakeup fd is read by the loop."""


class SignalService:
    """Signal handlers of one loop; see the module docstring for the contract."""

    __slots__ = ("_loop", "handlers", "_rsock", "_wsock", "_reader_added", "_prev_wakeup_fd",
                 "shutdown_installed", "shutdown_received", "_shutdown_waiters")

    def __init__(self, loop: Loop) -> None:
        # Weak: the loop owns this service (see nexusloop._service).
        self._loop: weakref.ref[Loop] = weakref.ref(loop)
        self.handlers: dict[int, asyncio.Handle] = {}
        self._rsock: socket.socket | None = None
        self._wsock: socket.socket | None = None
        self._reader_added = False
        # The wakeup fd installed before our first handler, restored after the last one.
        self._prev_wakeup_fd: int | None = None
        # LoopOptions.signal_handlers: SIGINT/SIGTERM resolve nexusloop.shutdown_signal().
        self.shutdown_installed = False
        self.shutdown_received: signal.Signals | None = None
        self._shutdown_waiters: list[asyncio.Future[signal.Signals]] = []

    def _live_loop(self) -> Loop:
        loop = self._loop()
        assert loop is not None, "the loop calls its services only while it is alive"
        return loop

    def close(self) -> None:
        """Drop all handlers, then the wakeup socket pair (``Loop.close()``)."""
        loop = self._loop()  # None only while a reference cycle holding the loop is collected
        handlers = self.handlers
        if handlers:
            if sys.is_finalizing():
                # signal.signal() may no longer work this late; leave dispositions alone.
                warnings.warn(
                    f"Closing the loop {loop!r} on interpreter shutdown stage, "
                    f"skipping signal handlers removal",
                    ResourceWarning,
                    source=loop,
                    stacklevel=1,
                )
                handlers.clear()
            else:
                for sig in list(handlers):
                    self.remove_signal_handler(sig)
        rsock, wsock = self._rsock, self._wsock
        self._rsock = self._wsock = None
        if rsock is not None:
            if self._reader_added and loop is not None and not loop.is_closed():
                loop.remove_reader(rsock.fileno())
            rsock.close()
        self._reader_added = False
        if wsock is not None:
            wsock.close()

    def add_signal_handler(
        self, sig: int, callback: Callable[[Unpack[_Ts]], object], *args: *_Ts
    ) -> None:
        """``loop.add_signal_handler``: run ``callback(*args)`` on the loop when ``sig`` arrives."""
        if asyncio.iscoroutine(callback) or asyncio.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        _check_signal(sig)
        loop = self._live_loop()
        loop._check_closed()
        wsock = self._wsock
        if wsock is None:
            rsock, wsock = socket.socketpair()
            rsock.setblocking(False)
            wsock.setblocking(False)
            self._rsock, self._wsock = rsock, wsock
        try:
            # Raises ValueError outside the main thread: doing it first keeps a loop in
            # another thread from installing anything.
            previous = signal.set_wakeup_fd(wsock.fileno())
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc)) from None
        if self._prev_wakeup_fd is None and previous != wsock.fileno():
            self._prev_wakeup_fd = previous
        if not self._reader_added:
            assert self._rsock is not None
            loop.add_reader(self._rsock.fileno(), self._read_wakeup)
            self._reader_added = True

        handlers = self.handlers
        handlers[sig] = asyncio.Handle(callback, args, loop, None)  # type: ignore[arg-type]
        try:
            signal.signal(sig, _ignore_signal)
            # SA_RESTART: fewer EINTRs in unrelated blocking calls.
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del handlers[sig]
            if not handlers:
                self._restore_wakeup_fd()
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from None
            raise

    def remove_signal_handler(self, sig: int) -> bool:
        """``loop.remove_signal_handler``: True if a handler for ``sig`` was removed."""
        _check_signal(sig)
        handlers = self.handlers
        if sig not in handlers:
            return False
        del handlers[sig]
        default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, default)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from None
            raise
        if not handlers:
            self._restore_wakeup_fd()
        return True

    # -- shutdown signals (LoopOptions.signal_handlers) -------------------------------------

    def install_shutdown(self) -> None:
        """Handle SIGINT and SIGTERM: the first resolves every :meth:`shutdown_waiter`; a
        second one, while the program shuts down, raises ``KeyboardInterrupt`` out of the loop
        (so a stuck shutdown can still be interrupted)."""
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.add_signal_handler(sig, self._on_shutdown_signal, sig)
        except RuntimeError as exc:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.remove_signal_handler(sig)
            raise RuntimeError(
                f"signal_handlers=True needs a loop made in the main thread ({exc})"
            ) from None
        self.shutdown_installed = True

    def shutdown_waiter(self) -> asyncio.Future[signal.Signals]:
        """A future resolved with the first shutdown signal (at once if it already came)."""
        fut: asyncio.Future[signal.Signals] = self._live_loop().create_future()
        if self.shutdown_received is not None:
            fut.set_result(self.shutdown_received)
        else:
            self._shutdown_waiters.append(fut)
        return fut

    def _on_shutdown_signal(self, sig: int) -> None:
        if self.shutdown_received is not None:
            raise KeyboardInterrupt
        self.shutdown_received = signal.Signals(sig)
        waiters, self._shutdown_waiters = self._shutdown_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(self.shutdown_received)

    # -- internals -------------------------------------------------------------------------

    def _restore_wakeup_fd(self) -> None:
        previous = self._prev_wakeup_fd
        self._prev_wakeup_fd = None
        if previous is None or previous == -1:
            _clear_wakeup_fd()
            return
        try:
            signal.set_wakeup_fd(previous)
        except (ValueError, OSError) as exc:  # closed since: leave none rather than a stale fd
            _logger.info("restoring wakeup fd %d failed: %s", previous, exc)
            _clear_wakeup_fd()

    def _read_wakeup(self) -> None:
        """Reader callback of the wakeup socket: each byte is one delivered signal number."""
        rsock = self._rsock
        if rsock is None:
            return
        while True:
            try:
                data = rsock.recv(4096)
            except InterruptedError:
                continue
            except BlockingIOError:
                return
            if not data:
                return
            for signum in data:
                if signum:
                    self._handle_signal(signum)

    def _handle_signal(self, sig: int) -> None:
        handle = self.handlers.get(sig)
        if handle is None:
            return  # removed after the signal was recorded, or meant for another loop
        if handle.cancelled():
            self.remove_signal_handler(sig)
        else:
            self._live_loop().call_soon(_run_signal_handle, handle)


def _check_signal(sig: object) -> None:
    if not isinstance(sig, int):
        raise TypeError(f"sig must be an int, not {sig!r}")
    if sig not in _VALID_SIGNALS:
        raise ValueError(f"invalid signal number {sig}")


def _clear_wakeup_fd() -> None:
    try:
        signal.set_wakeup_fd(-1)
    except (ValueError, OSError) as exc:
        _logger.info("set_wakeup_fd(-1) failed: %s", exc)


def _run_signal_handle(handle: asyncio.Handle) -> None:
    # Handle._run runs the callback in the handle's context and reports exceptions to the
    # loop's exception handler with the handle in the context, as asyncio's loop does.
    if not handle.cancelled():
        handle._run()  # type: ignore[attr-defined]
