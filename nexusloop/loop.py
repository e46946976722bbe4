"""``nexusloop.Loop``: asyncio's ``AbstractEventLoop`` API over the compiled core.

The hot operations (``call_soon``, ``call_later``, ``call_at``, ``call_soon_threadsafe``,
``time``, readiness registration, the tick) live in :mod:`nexusloop._core._loopcore`. This module
adds the lifecycle (``run_forever``, ``run_until_complete``, ``close``), futures and tasks, the
exception-handler API, debug mode and async-generator bookkeeping, with the semantics of
CPython's ``asyncio.BaseEventLoop``. It also holds, and only delegates to:

* the options (``loop.options``, a frozen :class:`nexusloop._options.LoopOptions`);
* the *services*, objects that hold the loop and own resources released by ``close()``: the
  executors (``_executor.ExecutorService``) and signal handlers (``_signals.SignalService``),
  closed in reverse registration order (the rule is in :mod:`nexusloop._service`);
* the I/O layer, :mod:`nexusloop.net`: plain functions whose first parameter is the loop, bound
  as methods in the "network" section at the end of the class (``sock_*``, DNS, connections,
  servers).
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import os
import sys
import threading
import traceback
import warnings
import weakref
from collections.abc import Callable
from typing import Any, TypeVar, TypeVarTuple, Unpack

import nexusloop.net._pipe as _pipe
import nexusloop.net._subprocess as _subprocess
from nexusloop import _compat
from nexusloop._core._loopcore import LoopCore, TransportTable
from nexusloop._executor import ExecutorService
from nexusloop._options import LoopOptions, LoopOptionsKwargs
from nexusloop._service import LoopService
from nexusloop._signals import SignalService
from nexusloop.latency._gc import GcControl, GcStats
from nexusloop.latency._snapshot import LoopStats, SlowCallback
from nexusloop.net import _connect, _datagram, _dns, _sendfile, _server, _sock, _tls

# asyncio's submodules as Any-typed aliases (their logger and public helpers are looked up at
# call time); its private helpers come from nexusloop._compat.
base_events: Any = asyncio.base_events
futures: Any = asyncio.futures
tasks: Any = asyncio.tasks

__all__ = ["Loop"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")
_S = TypeVar("_S", bound=LoopService)

_DEBUG_STACK_DEPTH = 10
# Logging goes through ``base_events.logger`` looked up at call time (the same "asyncio" logger),
# so code and tests that patch asyncio's loop logger see nexusloop's records too.


def _run_until_complete_cb(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        exc = fut.exception()
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            # run_forever() is already unwinding with this exception: don't stop twice.
            return
    _compat.future_loop(fut).stop()


def _format_handle(handle: Any) -> str:
    callback = handle._callback
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, tasks.Task):
        return repr(owner)
    return str(handle)


# Python 3.12+ runs a custom exception handler in the context of the task, future or handle
# the report is about (gh-96704); 3.11 runs it in the caller's context.
_HANDLER_IN_CONTEXT = sys.version_info >= (3, 12)


def _handler_context(context: dict[str, Any]) -> Any:
    thing = context.get("task")
    if thing is None:
        thing = context.get("future")  # a Task may be reported as the future
    if thing is None:
        thing = context.get("handle")
    get_context = getattr(thing, "get_context", None)
    if get_context is None:
        return None
    ctx = get_context()
    return ctx if hasattr(ctx, "run") else None


_PR_SET_TIMERSLACK = 29
_PR_GET_TIMERSLACK = 30


@functools.cache
def _prctl() -> Any:
    """libc's ``prctl`` (Linux), loaded once."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.restype = ctypes.c_long
    return prctl


def _set_timer_slack(ns: int) -> int:
    """``timer_slack_ns``: set the calling thread's timer slack (Linux); return the previous one."""
    import ctypes

    prctl = _prctl()
    previous = prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0)
    if previous < 0 or prctl(_PR_SET_TIMERSLACK, ctypes.c_ulong(ns), 0, 0, 0) < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_TIMERSLACK): {os.strerror(err)}")
    return int(previous)


# The core's scheduling methods take Any-typed callbacks and return nexusloop handles (which
# behave as, but do not inherit, asyncio.Handle): mypy reports that as a base-class mismatch.
class Loop(LoopCore, asyncio.AbstractEventLoop):  # type: ignore[misc]
    """A drop-in asyncio event loop.

    Use it like any asyncio loop::

        import asyncio, nexusloop
        nexusloop.run(main())                                        # like asyncio.run
        with asyncio.Runner(loop_factory=nexusloop.new_event_loop) as runner:
            runner.run(main())                                       # Python 3.11+
        asyncio.run(main(), loop_factory=nexusloop.new_event_loop)   # Python 3.12+

    Options: a :class:`nexusloop.LoopOptions`, its fields as keyword arguments, or both (the
    keywords override); see ``LoopOptions`` for what each one means. An unknown option is a
    ``TypeError``. ``loop.options`` gives them back; the ``world`` option is also
    ``loop.world``::

        loop = nexusloop.Loop(tasks_per_cycle=32, timers_first=True)
    """

    def __init__(
        self, options: LoopOptions | None = None, **kwargs: Unpack[LoopOptionsKwargs]
    ) -> None:
        options = LoopOptions.from_kwargs(options, **kwargs)
        LoopCore.__init__(
            self,
            options.tasks_per_cycle,
            options.event_interval,
            options.busy_poll,
            options.timers_first,
        )
        self._options = options
        # Services, in registration order; close() closes them in reverse (see _service.py).
        self._services: list[LoopService] = []
        self._task_factory = None
        self._exception_handler: Callable[..., Any] | None = None
        self._asyncgens: weakref.WeakSet[Any] = weakref.WeakSet()
        self._asyncgens_shutdown_called = False
        self._coroutine_origin_tracking_enabled = False
        self._coroutine_origin_tracking_saved_depth: int | None = None
        self._clock_resolution = __import__("time").get_clock_info("monotonic").resolution
        self._debug = _compat.is_debug_mode()
        self.world = options.world
        # loop.stats(): the slowest callbacks (debug mode measures them, as asyncio does), and
        # the counters at the last reset_stats().
        self._slow_callbacks: collections.deque[SlowCallback] = collections.deque(maxlen=32)
        self._stats_base: dict[str, int] = {}
        if options.gc_control:
            self._gc_control = GcControl()
        # Network state (nexusloop.net): transports by fd (add_reader on a transport's fd is an
        # error, as in asyncio), the listener of each serving socket, Unix paths to clean up.
        self._transports = TransportTable()
        self._listeners: dict[Any, Any] = {}
        self._unix_server_sockets: dict[Any, int] = {}
        self._executor = self._add_service(ExecutorService(self))
        self._signals = self._add_service(SignalService(self))
        if options.signal_handlers:
            try:
                self._signals.install_shutdown()
            except BaseException:
                self.close()
                raise

    def __repr__(self) -> str:
        return (
            f"<{self.__class__.__name__} running={self.is_running()} "
            f"closed={self.is_closed()} debug={self.get_debug()}>"
        )

    def __del__(
        self,
        _warn: Callable[..., Any] = warnings.warn,
        _finalizing: Callable[[], bool] = sys.is_finalizing,
    ) -> None:
        if not hasattr(self, "_exception_handler"):
            return  # __init__ failed before the loop was set up: nothing to release
        if not self.is_closed():
            _warn(f"unclosed event loop {self!r}", ResourceWarning, source=self)
            # At interpreter shutdown the loop's modules (and, compiled, its own fields) may be
            # torn down already, so close() could fail half-way; the process is exiting and the
            # OS reclaims the descriptors, so only a loop dropped while Python runs is closed.
            if not self.is_running() and not _finalizing():
                self.close()

    # ------------------------------------------------------------- running

    def _check_running(self) -> None:
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        if _compat.get_running_loop_or_none() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")

    def run_forever(self) -> None:
        """Run until :meth:`stop` is called."""
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self._debug)
        old_hooks = sys.get_asyncgen_hooks()
        pinned: set[int] | None = None
        slack: int | None = None
        try:
            self._thread_id = threading.get_ident()
            sys.set_asyncgen_hooks(
                firstiter=self._asyncgen_firstiter_hook,
                finalizer=self._asyncgen_finalizer_hook,
            )
            _compat.set_running_loop(self)
            if self._gc_control is not None:
                self._gc_control.start()
            pinned = self._pin_thread()
            if self._options.timer_slack_ns is not None:
                slack = _set_timer_slack(self._options.timer_slack_ns)
            self._run_forever_core()
        finally:
            if self._gc_control is not None:
                self._gc_control.stop()
            if pinned is not None:
                os.sched_setaffinity(0, pinned)
            if slack is not None:
                _set_timer_slack(slack)
            self._stopping = False
            self._thread_id = None
            _compat.set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*old_hooks)

    def _pin_thread(self) -> set[int] | None:
        """``cpu_affinity``: pin this (the loop's) thread; return its previous CPU set."""
        cpus = self._options.cpu_affinity
        if cpus is None:
            return None
        previous = os.sched_getaffinity(0)
        os.sched_setaffinity(0, cpus)  # on Linux, pid 0 is the calling thread
        return previous

    def stats(self) -> LoopStats:
        """What the loop did since it was made (or since :meth:`reset_stats`): counters,
        histograms of tick duration, ready-queue delay, timer lateness and I/O delay, the
        slowest callbacks (debug mode), and GC control's collections.

        Example::

            s = loop.stats()
            print(s.timer_lateness.percentile(99), s.callbacks / s.ticks)
        """
        core = self._core_stats()
        base = self._stats_base

        def since(key: str) -> int:
            return int(core[key]) - base.get(key, 0)

        return LoopStats(
            ticks=since("ticks"),
            polls=since("polls"),
            wakeups=since("wakeups"),
            callbacks=since("callbacks"),
            timers_fired=self._h_timer.count,
            timers_cancelled=since("timers_cancelled"),
            io_events=since("io_events"),
            tick_duration=self._h_tick.snapshot("tick_duration"),
            ready_delay=self._h_ready.snapshot("ready_delay"),
            timer_lateness=self._h_timer.snapshot("timer_lateness"),
            io_delay=self._h_io.snapshot("io_delay"),
            slow_callbacks=tuple(self._slow_callbacks),
            gc=self.gc_stats(),
            ready=int(core["ready"]),
            timers_pending=int(core["timers"]),
        )

    def reset_stats(self) -> None:
        """Start :meth:`stats` from zero (GC control's counts are not reset)."""
        self._stats_base = dict(self._core_stats())
        for histogram in (self._h_tick, self._h_ready, self._h_timer, self._h_io):
            histogram.reset()
        self._slow_callbacks.clear()

    def gc_stats(self) -> GcStats | None:
        """The collections the loop's GC control ran (``gc_control=True``), else None."""
        return None if self._gc_control is None else self._gc_control.stats()

    def run_until_complete(self, future: Any) -> Any:
        """Run until ``future`` (a future, task or coroutine) is done; return its result."""
        self._check_closed()
        self._check_running()
        new_task = not futures.isfuture(future)
        future = tasks.ensure_future(future, loop=self)
        if new_task:
            # An exception escaping run_forever() must not also be logged as "never retrieved".
            future._log_destroy_pending = False
        future.add_done_callback(_run_until_complete_cb)
        try:
            self.run_forever()
        except BaseException:
            if new_task and future.done() and not future.cancelled():
                future.exception()  # mark it retrieved
            raise
        finally:
            future.remove_done_callback(_run_until_complete_cb)
        if not future.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return future.result()

    def is_running(self) -> bool:
        return self._thread_id is not None

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the loop: drop pending callbacks, release fds, shut the default executor down."""
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        if self._debug:
            base_events.logger.debug("Close %r", self)
        # Services first, last registered first, while the loop is still open (_service.py).
        services = self._services
        while services:
            services[-1].close()
            services.pop()
        self._closed = True
        self._close_core()
        if self._gc_control is not None:
            self._gc_control.close()

    @property
    def options(self) -> LoopOptions:
        """The options this loop was made with (frozen).

        Example::

            assert nexusloop.new_event_loop(event_interval=8).options.event_interval == 8
        """
        return self._options

    # ------------------------------------------------------------- services

    def _add_service(self, service: _S) -> _S:
        """Register ``service`` to be closed by :meth:`close` (reverse registration order)."""
        self._check_closed()
        self._services.append(service)
        return service

    # ------------------------------------------------------ futures and tasks

    def set_task_factory(self, factory: Callable[..., Any] | None) -> None:
        if factory is not None and not callable(factory):
            raise TypeError("task factory must be a callable or None")
        self._task_factory = factory

    def get_task_factory(self) -> Callable[..., Any] | None:
        return self._task_factory

    # ----------------------------------------------------- exception handling

    def get_exception_handler(self) -> Callable[..., Any] | None:
        return self._exception_handler

    def set_exception_handler(self, handler: Callable[..., Any] | None) -> None:
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """Log ``context`` the way asyncio's default handler does."""
        message = context.get("message") or "Unhandled exception in event loop"
        exception = context.get("exception")
        exc_info: Any = False
        if exception is not None:
            exc_info = (type(exception), exception, exception.__traceback__)
        current = self._current_handle
        if (
            "source_traceback" not in context
            and current is not None
            and current._source_traceback
        ):
            context["handle_traceback"] = current._source_traceback
        lines = [message]
        for key in sorted(context):
            if key in ("message", "exception"):
                continue
            value = context[key]
            if key == "source_traceback":
                text = "".join(traceback.format_list(value)).rstrip()
                value = "Object created at (most recent call last):\n" + text
            elif key == "handle_traceback":
                text = "".join(traceback.format_list(value)).rstrip()
                value = "Handle created at (most recent call last):\n" + text
            else:
                value = repr(value)
            lines.append(f"{key}: {value}")
        base_events.logger.error("\n".join(lines), exc_info=exc_info)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        """Pass ``context`` to the installed exception handler (or the default one)."""
        if self._exception_handler is None:
            try:
                self.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                base_events.logger.error("Exception in default exception handler", exc_info=True)
            return
        try:
            handler_context = _handler_context(context) if _HANDLER_IN_CONTEXT else None
            if handler_context is None:
                self._exception_handler(self, context)
            else:
                handler_context.run(self._exception_handler, self, context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            try:
                self.default_exception_handler(
                    {
                        "message": "Unhandled error in exception handler",
                        "exception": exc,
                        "context": context,
                    }
                )
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                base_events.logger.error(
                    "Exception in default exception handler while handling an "
                    "unexpected error in custom exception handler",
                    exc_info=True,
                )

    # ---------------------------------------------------------------- debug

    def set_debug(self, enabled: bool) -> None:
        self._debug = bool(enabled)
        if self.is_running():
            self.call_soon_threadsafe(self._set_coroutine_origin_tracking, enabled)

    def _set_coroutine_origin_tracking(self, enabled: bool) -> None:
        if bool(enabled) == bool(self._coroutine_origin_tracking_enabled):
            return
        if enabled:
            self._coroutine_origin_tracking_saved_depth = sys.get_coroutine_origin_tracking_depth()
            sys.set_coroutine_origin_tracking_depth(_DEBUG_STACK_DEPTH)
        else:
            sys.set_coroutine_origin_tracking_depth(self._coroutine_origin_tracking_saved_depth or 0)
        self._coroutine_origin_tracking_enabled = enabled

    def _outside_activity(self) -> int:
        """For virtual time (``LoopCore._park_virtual``): 2 while a service has work in flight
        outside the loop (executor jobs, children), else 1 while fds other than the loop's own
        are watched, else 0."""
        for service in self._services:
            in_flight = getattr(service, "in_flight", None)
            if in_flight is not None and in_flight():
                return 2
        own = 1 if self._signals._reader_added else 0  # the signal wake-up socket
        return 1 if len(self._readers) + len(self._writers) > own else 0

    def _warn_slow(self, handle: Any, dt: float) -> None:
        name = _format_handle(handle)
        self._slow_callbacks.append(SlowCallback(name, dt, self.time() - dt))
        base_events.logger.warning("Executing %s took %.3f seconds", name, dt)

    # ------------------------------------------------------ async generators

    def _asyncgen_firstiter_hook(self, agen: Any) -> None:
        if self._asyncgens_shutdown_called:
            warnings.warn(
                f"asynchronous generator {agen!r} was scheduled after "
                f"loop.shutdown_asyncgens() call",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )
        self._asyncgens.add(agen)

    def _asyncgen_finalizer_hook(self, agen: Any) -> None:
        self._asyncgens.discard(agen)
        if not self.is_closed():
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    async def shutdown_asyncgens(self) -> None:
        """Close every async generator still alive on this loop."""
        self._asyncgens_shutdown_called = True
        if not len(self._asyncgens):
            return
        closing = list(self._asyncgens)
        self._asyncgens.clear()
        results = await tasks.gather(*[agen.aclose() for agen in closing], return_exceptions=True)
        for result, agen in zip(results, closing, strict=True):
            if isinstance(result, Exception):
                self.call_exception_handler(
                    {
                        "message": f"an error occurred during closing of "
                        f"asynchronous generator {agen!r}",
                        "exception": result,
                        "asyncgen": agen,
                    }
                )

    # ----------------------------------------------- executors (ExecutorService)

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[[Unpack[_Ts]], _T],
        *args: *_Ts,
    ) -> asyncio.Future[_T]:
        """Run ``func(*args)`` in ``executor`` (``None``: the default thread pool).

        Example::

            digest = await loop.run_in_executor(None, hashlib.sha256, payload)
        """
        return self._executor.run_in_executor(executor, func, *args)

    def set_default_executor(self, executor: Any) -> None:
        """Use ``executor`` (a ``ThreadPoolExecutor``) for ``run_in_executor(None, ...)``.

        Example::

            loop.set_default_executor(ThreadPoolExecutor(max_workers=4))
        """
        self._executor.set_default_executor(executor)

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        """Shut the default executor down and wait for its threads, without blocking the loop.

        ``timeout`` (Python 3.12 semantics) bounds the wait: when it expires a
        RuntimeWarning is issued and the executor is left to finish on its own.

        Example::

            await loop.shutdown_default_executor()
        """
        await self._executor.shutdown_default_executor(timeout)

    # CPython's names for the executor state: its tests (test_asyncio.utils) and tools read them.
    @property
    def _default_executor(self) -> concurrent.futures.ThreadPoolExecutor | None:
        return self._executor.default_executor

    @property
    def _executor_shutdown_called(self) -> bool:
        return self._executor.shutdown_called

    # ---------------------------------------------------- signals (SignalService)

    def add_signal_handler(
        self, sig: int, callback: Callable[[Unpack[_Ts]], object], *args: *_Ts
    ) -> None:
        """Run ``callback(*args)`` on the loop whenever signal ``sig`` arrives.  Unix, main thread.

        Raises ValueError for an invalid signal number and RuntimeError when the
        handler cannot be installed (not the main thread, uncatchable signal).

        Example::

            loop.add_signal_handler(signal.SIGTERM, stop_event.set)
        """
        self._signals.add_signal_handler(sig, callback, *args)

    def remove_signal_handler(self, sig: int) -> bool:
        """Remove the handler for ``sig``; return True if one was removed.  Unix only.

        Example::

            loop.remove_signal_handler(signal.SIGTERM)
        """
        return self._signals.remove_signal_handler(sig)

    @property
    def _signal_handlers(self) -> dict[int, asyncio.Handle]:
        """CPython's name for ``{signum: handle}`` (its tests read it)."""
        return self._signals.handlers

    # ----------------------------------------------------------- statistics

    # ------------------------------------------------- network (nexusloop.net)
    # Plain functions of nexusloop.net whose first parameter is the loop, bound as methods:
    # ``loop.sock_recv(sock, n)`` is ``_sock.sock_recv(loop, sock, n)``, with no extra frame.

    # CPython's selector loop names sock_recv's size ``n`` (callers may pass n=); typeshed, nbytes.
    sock_recv = _sock.sock_recv  # type: ignore[assignment]
    sock_recv_into = _sock.sock_recv_into
    sock_recvfrom = _sock.sock_recvfrom
    sock_recvfrom_into = _sock.sock_recvfrom_into
    sock_sendall = _sock.sock_sendall
    sock_sendto = _sock.sock_sendto
    sock_connect = _sock.sock_connect
    sock_accept = _sock.sock_accept
    getaddrinfo = _dns.getaddrinfo
    getnameinfo = _dns.getnameinfo
    create_connection = _connect.create_connection
    create_unix_connection = _connect.create_unix_connection
    connect_accepted_socket = _connect.connect_accepted_socket
    create_server = _server.create_server
    create_unix_server = _server.create_unix_server
    _start_serving = _server.start_serving
    _stop_serving = _server.stop_serving
    create_datagram_endpoint = _datagram.create_datagram_endpoint  # type: ignore[assignment]
    sock_sendfile = _sendfile.sock_sendfile  # type: ignore[assignment]
    sendfile = _sendfile.sendfile
    start_tls = _tls.start_tls
    # asyncio's private hooks, which CPython's sendfile tests replace on the loop instance.
    _sock_sendfile_native = _sendfile._sock_sendfile_native
    _sendfile_native = _sendfile._sendfile_native
    connect_read_pipe = _pipe.connect_read_pipe
    connect_write_pipe = _pipe.connect_write_pipe
    subprocess_exec = _subprocess.subprocess_exec  # type: ignore[assignment]
    subprocess_shell = _subprocess.subprocess_shell  # type: ignore[assignment]

    def _ensure_fd_no_transport(self, fd: Any) -> None:
        """RuntimeError if ``fd`` belongs to an open transport (asyncio's rule for add_reader)."""
        fileno = fd
        if not isinstance(fileno, int):
            try:
                fileno = int(fileno.fileno())
            except (AttributeError, TypeError, ValueError):
                raise ValueError(f"Invalid file object: {fd!r}") from None
        transport = self._transports.get(fileno)
        if transport is not None and not transport.is_closing():
            raise RuntimeError(f"File descriptor {fd!r} is used by transport {transport!r}")

    def add_reader(self, fd: Any, callback: Any, *args: Any) -> None:  # type: ignore[override]
        """Call ``callback(*args)`` whenever ``fd`` is readable."""
        self._ensure_fd_no_transport(fd)
        self._add_reader(fd, callback, *args)

    def add_writer(self, fd: Any, callback: Any, *args: Any) -> None:  # type: ignore[override]
        """Call ``callback(*args)`` whenever ``fd`` is writable."""
        self._ensure_fd_no_transport(fd)
        self._add_writer(fd, callback, *args)

    def remove_reader(self, fd: Any) -> bool:
        """Stop watching ``fd`` for reading; True if it was watched."""
        self._ensure_fd_no_transport(fd)
        return LoopCore.remove_reader(self, fd)

    def remove_writer(self, fd: Any) -> bool:
        """Stop watching ``fd`` for writing; True if it was watched."""
        self._ensure_fd_no_transport(fd)
        return LoopCore.remove_writer(self, fd)
