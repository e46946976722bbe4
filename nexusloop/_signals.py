"""Unix signal handlers for nexusloop's Loop: ``add_signal_handler`` / ``remove_signal_handler``.

How a signal reaches a callback
-------------------------------
Python runs signal handlers in the main thread between bytecodes, which can be
arbitrarily late while the loop is parked in the poller.  So, as asyncio does, the
loop asks the interpreter's C-level handler to write the signal number into a file
descriptor (``signal.set_wakeup_fd``); that write wakes the poller, and the loop
reads the byte(s) like any other readiness event and schedules the registered
callbacks with ``call_soon``.  The Python-level handler installed with
``signal.signal`` is a no-op: it only exists so the C handler records the signal.

The wakeup fd is the write end of a non-blocking socket pair owned by this mixin,
not the loop's own wake-up channel: the core may wake itself with an eventfd, whose
8-byte protocol does not fit the one-byte-per-signal writes of ``set_wakeup_fd``.
The pair is created on the first ``add_signal_handler``, so loops without signal
handlers spend no fds on it, and its read end is registered with ``add_reader``.

Semantics follow CPython 3.11 ``unix_events._UnixSelectorEventLoop`` (the
specification): ``TypeError`` for coroutine callbacks and non-int signals,
``ValueError`` for signal numbers outside ``signal.valid_signals()``,
``RuntimeError`` when not in the main thread (``set_wakeup_fd`` refuses) and for
uncatchable signals (SIGKILL, SIGSTOP); removing restores
``signal.default_int_handler`` for SIGINT and ``SIG_DFL`` otherwise, and the last
removal sets the wakeup fd back to -1.  Callbacks run as ``asyncio.Handle`` objects
(exceptions go to the loop's exception handler with the handle in the context).

Contract with the Loop
----------------------
Members this mixin relies on (CPython semantics): ``self._check_closed()``,
``self.get_debug()`` (via ``asyncio.Handle``), ``self.call_soon(cb, *args)``,
``self.call_exception_handler(ctx)`` (via ``asyncio.Handle``),
``self.add_reader(fd, cb)`` / ``self.remove_reader(fd)``, ``self.is_closed()``.

State: ``self._signal_handlers`` (``{signum: asyncio.Handle}``, CPython's name) and the
socket pair.  The Loop calls

* ``self._init_signal_state()`` from ``Loop.__init__``;
* ``self._close_signal_state()`` from ``Loop.close()`` -- removes every handler
  (restoring the default dispositions and the wakeup fd), unregisters the read end
  unless the loop is already marked closed, and closes both sockets.  It may run
  before or after the loop is marked closed; it is idempotent.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import sys
import warnings
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, TypeVarTuple, Unpack

__all__ = ["SignalMixin"]

# Type checkers see the mixin as an event loop (so self.create_future() etc. are typed);
# at runtime it is a plain mixin and the Loop supplies AbstractEventLoop itself.
if TYPE_CHECKING:
    _LoopBase = asyncio.AbstractEventLoop
else:
    _LoopBase = object

_logger = logging.getLogger("asyncio")
_Ts = TypeVarTuple("_Ts")

if sys.platform == "win32":  # pragma: no cover
    raise ImportError("nexusloop signal handling is Unix only")

_VALID_SIGNALS = frozenset(signal.valid_signals())


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    """Python-level handler: the work happens when the wakeup fd is read by the loop."""


class SignalMixin(_LoopBase):
    """Signal handler methods for the Loop; see the module docstring for the contract."""

    __slots__ = ()

    _signal_handlers: dict[int, asyncio.Handle] | None = None
    _signal_rsock: socket.socket | None = None
    _signal_wsock: socket.socket | None = None
    _signal_reader_added: bool = False

    if TYPE_CHECKING:
        def _check_closed(self) -> None: ...

    # -- lifecycle hooks -------------------------------------------------------------------

    def _init_signal_state(self) -> None:
        """Called from ``Loop.__init__``."""
        self._signal_handlers = {}
        self._signal_rsock = None
        self._signal_wsock = None
        self._signal_reader_added = False

    def _close_signal_state(self) -> None:
        """Called from ``Loop.close()``: drop all handlers, then the wakeup socket pair."""
        handlers = self._signal_handlers
        if handlers:
            if sys.is_finalizing():
                # signal.signal() may no longer work this late; leave dispositions alone.
                warnings.warn(
                    f"Closing the loop {self!r} on interpreter shutdown stage, "
                    f"skipping signal handlers removal",
                    ResourceWarning,
                    source=self,
                    stacklevel=1,
                )
                handlers.clear()
            else:
                for sig in list(handlers):
                    self.remove_signal_handler(sig)
        rsock, wsock = self._signal_rsock, self._signal_wsock
        self._signal_rsock = self._signal_wsock = None
        if rsock is not None:
            if self._signal_reader_added and not self.is_closed():
                self.remove_reader(rsock.fileno())
            rsock.close()
        self._signal_reader_added = False
        if wsock is not None:
            wsock.close()

    # -- public API ------------------------------------------------------------------------

    def add_signal_handler(
        self, sig: int, callback: Callable[[Unpack[_Ts]], object], *args: *_Ts
    ) -> None:
        """Run ``callback(*args)`` on the loop whenever signal ``sig`` arrives.  Unix, main thread.

        Raises ValueError for an invalid signal number and RuntimeError when the
        handler cannot be installed (not the main thread, uncatchable signal).

        Example::

            loop.add_signal_handler(signal.SIGTERM, stop_event.set)
        """
        if asyncio.iscoroutine(callback) or asyncio.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._check_signal(sig)
        self._check_closed()
        wsock = self._signal_wsock
        if wsock is None:
            rsock, wsock = socket.socketpair()
            rsock.setblocking(False)
            wsock.setblocking(False)
            self._signal_rsock, self._signal_wsock = rsock, wsock
        try:
            # Raises ValueError outside the main thread: doing it first keeps a loop in
            # another thread from installing anything.
            signal.set_wakeup_fd(wsock.fileno())
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc)) from None
        if not self._signal_reader_added:
            assert self._signal_rsock is not None
            self.add_reader(self._signal_rsock.fileno(), self._read_signal_wakeup)
            self._signal_reader_added = True

        handlers = self._signal_handlers
        if handlers is None:
            handlers = self._signal_handlers = {}
        handlers[sig] = asyncio.Handle(callback, args, self, None)  # type: ignore[arg-type]
        try:
            signal.signal(sig, _ignore_signal)
            # SA_RESTART: fewer EINTRs in unrelated blocking calls.
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del handlers[sig]
            if not handlers:
                self._clear_wakeup_fd()
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from None
            raise

    def remove_signal_handler(self, sig: int) -> bool:
        """Remove the handler for ``sig``; return True if one was removed.  Unix only.

        Example::

            loop.remove_signal_handler(signal.SIGTERM)
        """
        self._check_signal(sig)
        handlers = self._signal_handlers
        if not handlers or sig not in handlers:
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
            self._clear_wakeup_fd()
        return True

    # -- internals -------------------------------------------------------------------------

    def _check_signal(self, sig: object) -> None:
        if not isinstance(sig, int):
            raise TypeError(f"sig must be an int, not {sig!r}")
        if sig not in _VALID_SIGNALS:
            raise ValueError(f"invalid signal number {sig}")

    @staticmethod
    def _clear_wakeup_fd() -> None:
        try:
            signal.set_wakeup_fd(-1)
        except (ValueError, OSError) as exc:
            _logger.info("set_wakeup_fd(-1) failed: %s", exc)

    def _read_signal_wakeup(self) -> None:
        """Reader callback of the wakeup socket: each byte is one delivered signal number."""
        rsock = self._signal_rsock
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
        handlers = self._signal_handlers
        handle = handlers.get(sig) if handlers else None
        if handle is None:
            return  # removed after the signal was recorded, or meant for another loop
        if handle.cancelled():
            self.remove_signal_handler(sig)
        else:
            self.call_soon(_run_signal_handle, handle)


def _run_signal_handle(handle: asyncio.Handle) -> None:
    # Handle._run runs the callback in the handle's context and reports exceptions to the
    # loop's exception handler with the handle in the context, as asyncio's loop does.
    if not handle.cancelled():
        handle._run()  # type: ignore[attr-defined]
