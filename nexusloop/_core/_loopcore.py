"""The loop core: ready queue, timers, readiness dispatch and the tick.

This module is the answer to "where does a callback go when I call ``call_soon``, and who runs
it". Everything else in ``nexusloop.Loop`` (futures, tasks, executors, sockets, signals) is built
on the handful of operations defined here.

The ready queue
    A ring buffer (a Python list whose length is a power of two, with head and tail counters).
    Pushing and popping never allocate in the steady state and never move other entries, unlike
    a list used as a queue; unlike ``collections.deque`` every operation is a typed index
    computation in compiled mode. The ring is touched only by the loop's own thread. Callbacks
    handed over by other threads (``call_soon_threadsafe``) go through a separate
    ``collections.deque`` (atomic ``append``/``popleft``) that the tick drains into the ring.

The tick (``_run_once``)
    1. Drain the cross-thread queue.
    2. I/O: when the ready queue is empty, park in the poller until the earliest timer deadline
       (or forever). When work is pending, poll without blocking only every ``event_interval``
       ticks: a busy loop does not pay an ``epoll_wait`` syscall per iteration, and I/O latency
       stays bounded by ``event_interval`` ticks. ``busy_poll`` never parks.
    3. Read the clock once (``event_time``) and move expired timers into the ready queue.
    4. Run the callbacks that were ready when the tick started (asyncio's rule: callbacks
       scheduled by these run in the next tick), at most ``tasks_per_cycle`` of them when that
       limit is set.

Waking a parked loop
    ``call_soon_threadsafe`` writes to an eventfd (a pipe where eventfd is missing) only when the
    loop is parked in the poller and no wake-up is already pending; a loop that is awake picks
    the callback up at its next tick without any syscall. The loop sets ``_parked`` before its
    final look at the cross-thread queue, so a producer either sees the loop parked (and wakes
    it) or its callback is seen by that final look.

Timers
    ``call_at``/``call_later`` go to the hierarchical timer wheel (``_wheel.py``), which gives O(1)
    schedule and cancel and never fires a timer before its deadline.
"""
from __future__ import annotations

import collections
import os
import select as _select
import threading
import time as _time
import weakref as _weakref_module
from asyncio.futures import Future as _Future
from asyncio.tasks import Task as _Task
from sys import _getframe
from typing import Any

try:
    import cython
except ImportError:  # pragma: no cover
    from nexusloop._core import _cyshim as cython  # type: ignore[no-redef]

from nexusloop._compat import extract_stack as _extract_stack
from nexusloop._core._handles import Handle, TimerHandle, _new_handle, _new_timer
from nexusloop._core._poller import fileobj_to_fd as _fileobj_to_fd
from nexusloop._core._poller import new_poller
from nexusloop._core._stats import Histogram
from nexusloop._core._wheel import TimerWheel

_POLLIN = 0x001
_POLLOUT = 0x004
_MAX_TIMEOUT = 24 * 3600.0
#: Compiled: park with nanosecond timeouts (epoll_pwait2); cleared if the kernel refuses them,
#: off from the start with NEXUSLOOP_MS_TIMEOUTS=1 (asyncio's whole-millisecond rounding; an
#: escape hatch for a sandbox that would kill the process for an unknown system call).
_ns_timeouts = os.environ.get("NEXUSLOOP_MS_TIMEOUTS", "") in ("", "0")
_WAKE_BYTES = (1).to_bytes(8, "little")
_INF = float("inf")

_monotonic = _time.monotonic
_weakref = _weakref_module.ref
_get_ident = threading.get_ident
_deque = collections.deque


def _caller_stack(pure_depth: int) -> Any:
    """Debug mode: the stack of the user code that called into the loop.

    ``pure_depth`` is how many of the loop's own Python frames sit between this function and
    the user's frame in pure mode; compiled functions have no frames, so there the user's frame
    is the current one.
    """
    if cython.compiled:
        return _extract_stack(_getframe(0))
    return _extract_stack(_getframe(pure_depth + 1))


class Watcher:
    """Base class of the loop's own I/O objects (transports, listeners): readiness watchers.

    A watcher registered with :meth:`LoopCore._watch_read` / :meth:`LoopCore._watch_write` has
    its :meth:`_read_ready` / :meth:`_write_ready` called straight from the tick, inside its
    ``_context``: compiled, that is a C call through the vtable, with no Handle and no queueing.
    Objects that cannot derive from this class (Python classes with another layout, e.g.
    subclasses of ``asyncio.DatagramTransport``) may still be watchers by having the same
    three members; they are called through Python attribute lookup.
    """

    def __init__(self) -> None:
        self._context: Any = None

    def _read_ready(self) -> None:
        """Called when the watched fd is readable."""

    def _write_ready(self) -> None:
        """Called when the watched fd is writable."""


class TransportTable:
    """The loop's transports by file descriptor, held weakly (``loop._transports``).

    asyncio keeps a ``WeakValueDictionary`` so that ``add_reader`` on a transport's fd can be
    refused; its Python-level ``__setitem__`` showed in the profile of short connections. This
    is the same mapping in compiled code: a dict of ``weakref.ref`` (no callback). An entry
    whose transport was collected reads as absent and is replaced when the fd is reused.
    """

    def __init__(self) -> None:
        self._refs: dict[int, Any] = {}

    def __setitem__(self, fd: int, transport: Any) -> None:
        self._refs[fd] = _weakref(transport)

    def get(self, fd: int, default: Any = None) -> Any:
        ref = self._refs.get(fd)
        if ref is None:
            return default
        transport = ref()
        return default if transport is None else transport

    def pop(self, fd: int, default: Any = None) -> Any:
        ref = self._refs.pop(fd, None)
        transport = None if ref is None else ref()
        return default if transport is None else transport

    def values(self) -> list[Any]:
        live = []
        for ref in self._refs.values():
            transport = ref()
            if transport is not None:
                live.append(transport)
        return live

    def __len__(self) -> int:
        return len(self.values())


class LoopCore:
    """The compiled heart of :class:`nexusloop.Loop` (see the module docstring)."""

    def __init__(
        self,
        tasks_per_cycle: int = 0,
        event_interval: int = 61,
        busy_poll: bool = False,
        timers_first: bool = False,
    ) -> None:
        if tasks_per_cycle < 0:
            raise ValueError("tasks_per_cycle must be >= 0 (0 means unlimited)")
        if event_interval < 1:
            raise ValueError("event_interval must be >= 1")
        self._rq: list[Any] = [None] * 64
        self._rq_mask = 63
        self._rq_head = 0
        self._rq_tail = 0
        self._ts_queue: collections.deque[Any] = _deque()
        # Virtual time (nexusloop.testing): loop time = monotonic clock + _clock_offset.
        self._clock_offset = 0.0
        self._virtual = False
        self._autojump = 0.0
        self._wheel = TimerWheel(self._now())
        self._expired: list[Any] = []
        self._readers: dict[int, Any] = {}
        self._writers: dict[int, Any] = {}
        self._closed = False
        self._stopping = False
        self._debug = False
        self._thread_id: int | None = None
        self._event_time = self._now()
        self._tasks_per_cycle = tasks_per_cycle
        self._event_interval = event_interval
        self._busy_poll = bool(busy_poll)
        self._timers_first = bool(timers_first)
        self._last_poll_tick = 0
        self._parked = False
        self._wake_pending = False
        self._current_handle: Any = None
        self._task_factory: Any = None
        # nexusloop.runtime's per-loop state (task pool, unpooled tasks), made on first spawn.
        self._spawner: Any = None
        # nexusloop.latency.GcControl when LoopOptions.gc_control is on: called between ticks
        # and before parking.
        self._gc_control: Any = None
        self._gc_wait = 0
        # loop.stats(): histograms recorded as the loop runs (see nexusloop.latency).
        self._h_tick = Histogram()
        self._h_ready = Histogram()
        self._h_timer = Histogram()
        self._h_io = Histogram()
        self._stat_io_events = 0
        self.slow_callback_duration = 0.1
        self._stat_ticks = 0
        self._stat_polls = 0
        self._stat_wakeups = 0
        self._poller: Any = new_poller()
        # Compiled, with epoll, the tick calls epoll_wait() itself into an array of this object
        # (no list of tuples built per poll); _epfd is -1 where that path does not apply.
        self._epfd = -1
        if cython.compiled and isinstance(self._poller, _select.epoll):
            self._epfd = self._poller.fileno()
        if hasattr(os, "eventfd"):
            self._wake_rfd = self._wake_wfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        else:  # pragma: no cover - macOS
            self._wake_rfd, self._wake_wfd = os.pipe()
            os.set_blocking(self._wake_rfd, False)
            os.set_blocking(self._wake_wfd, False)
        self._poller.register(self._wake_rfd, _POLLIN)

    # ------------------------------------------------------------------ clock

    def _now(self) -> float:
        if cython.compiled:
            return _c_monotonic() + self._clock_offset  # type: ignore[name-defined]  # noqa: F821
        return _monotonic() + self._clock_offset

    def time(self) -> float:
        """Return the loop's current time (``time.monotonic()`` seconds; plus the virtual
        clock's lead under ``nexusloop.testing.VirtualClock``)."""
        if cython.compiled:
            return _c_monotonic() + self._clock_offset  # type: ignore[name-defined]  # noqa: F821
        return _monotonic() + self._clock_offset

    def get_debug(self) -> bool:
        """Whether the loop is in debug mode (asyncio's futures ask at every creation)."""
        return self._debug

    def create_future(self) -> Any:
        """Create an ``asyncio.Future`` attached to the loop."""
        return _Future(loop=self)  # type: ignore[arg-type]  # Loop is the AbstractEventLoop

    def create_task(self, coro: Any, *, name: Any = None, context: Any = None) -> Any:
        """Schedule a coroutine object; return a task (honours the task factory)."""
        if self._closed:
            raise RuntimeError("Event loop is closed")
        factory = self._task_factory
        if factory is None:
            task = _Task(coro, loop=self, name=name, context=context)  # type: ignore[arg-type]
            if task._source_traceback and not cython.compiled:  # type: ignore[attr-defined]
                # Pure mode: drop this method's own frame (compiled, it has none).
                frames = task._source_traceback  # type: ignore[attr-defined]
                del frames[len(frames) - 1]
            return task
        if context is None:
            task = factory(self, coro)
        else:
            task = factory(self, coro, context=context)
        if name is not None:
            task.set_name(name)  # asyncio.tasks._set_task_name is gone in 3.13; 3.13 does this
        return task

    def event_time(self) -> float:
        """The time captured at the start of the current tick (no clock read)."""
        return self._event_time

    # ------------------------------------------------------------ ready queue

    def _push(self, handle: Handle) -> int:
        handle._queued_at = self._event_time
        if self._rq_tail - self._rq_head > self._rq_mask:
            self._grow()
        if cython.compiled:
            _rq_put(self._rq, self._rq_tail & self._rq_mask, handle)  # type: ignore[name-defined]  # noqa: F821
        else:
            self._rq[self._rq_tail & self._rq_mask] = handle
        self._rq_tail += 1
        return 0

    def _grow(self) -> None:
        # Head and tail are absolute counters (the head doubles as the count of dispatched
        # callbacks), so doubling the ring keeps them and re-slots the live entries.
        old = self._rq
        old_mask = self._rq_mask
        new_mask = old_mask * 2 + 1
        new = [None] * (new_mask + 1)
        i = self._rq_head
        while i != self._rq_tail:
            new[i & new_mask] = old[i & old_mask]
            i += 1
        self._rq = new
        self._rq_mask = new_mask

    # ------------------------------------------------------------- scheduling

    def _check_closed(self) -> None:
        if self._closed:
            raise RuntimeError("Event loop is closed")

    def call_soon(self, callback: Any, *args: Any, context: Any = None) -> Any:
        """Schedule ``callback(*args)`` to run in the next tick (``asyncio`` semantics)."""
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_soon")
            handle = _new_handle(self, callback, args, context)
            handle._source_traceback = _caller_stack(1)
        else:
            if not callable(callback):
                self._check_callback(callback, "call_soon")
            handle = _new_handle(self, callback, args, context)
        if cython.compiled:
            self._push(handle)
        else:  # _push inlined: a method call is a large part of call_soon in pure Python
            handle._queued_at = self._event_time
            tail = self._rq_tail
            if tail - self._rq_head > self._rq_mask:
                self._grow()
            self._rq[tail & self._rq_mask] = handle
            self._rq_tail = tail + 1
        return handle

    def call_soon_threadsafe(self, callback: Any, *args: Any, context: Any = None) -> Any:
        """Like :meth:`call_soon`, callable from any thread; wakes the loop only if parked."""
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._debug:
            self._check_callback(callback, "call_soon_threadsafe")
            handle = _new_handle(self, callback, args, context)
            handle._source_traceback = _caller_stack(1)
        else:
            if not callable(callback):
                self._check_callback(callback, "call_soon_threadsafe")
            handle = _new_handle(self, callback, args, context)
        thread_id = self._thread_id
        if thread_id is None or _get_ident() == thread_id:
            # On the loop's thread, or while the loop is not running: queue directly, which
            # keeps FIFO order with call_soon (asyncio uses one queue for both). In compiled
            # mode _push runs without releasing the GIL, so it cannot interleave with the loop.
            self._push(handle)
            if self._parked and not self._wake_pending:
                # On the loop's thread while it is parked: we are in a signal handler that ran
                # inside the poll (asyncio.Runner's SIGINT handler does this). The poll would be
                # resumed with its old timeout, so wake it.
                self._wake_pending = True
                self._write_to_self()
            return handle
        self._ts_queue.append(handle)
        if self._parked and not self._wake_pending:
            self._wake_pending = True
            self._write_to_self()
        return handle

    def _write_to_self(self) -> None:
        self._stat_wakeups += 1
        try:
            os.write(self._wake_wfd, _WAKE_BYTES)
        except (BlockingIOError, InterruptedError):
            pass  # already readable: the loop will wake up anyway
        except OSError:
            if not self._closed:
                raise

    def call_later(self, delay: Any, callback: Any, *args: Any, context: Any = None) -> Any:
        """Schedule ``callback(*args)`` after ``delay`` seconds (``asyncio`` semantics)."""
        if delay is None:
            raise TypeError("delay must not be None")
        return self._call_at(self.time() + delay, callback, args, context, "call_later")

    def call_at(self, when: Any, callback: Any, *args: Any, context: Any = None) -> Any:
        """Schedule ``callback(*args)`` at loop time ``when`` (``asyncio`` semantics)."""
        if when is None:
            raise TypeError("when cannot be None")
        return self._call_at(when, callback, args, context, "call_at")

    def _call_at(self, when: Any, callback: Any, args: Any, context: Any, method: str) -> TimerHandle:
        if self._closed:
            raise RuntimeError("Event loop is closed")
        deadline = float(when)
        if deadline != deadline:  # noqa: PLR0124 - NaN test, cheap in C
            raise ValueError(f"{method}(): the time must not be NaN")
        if self._debug:
            self._check_thread()
            self._check_callback(callback, method)
            timer = _new_timer(deadline, self, callback, args, context)
            timer._source_traceback = _caller_stack(2)
        else:
            if not callable(callback):
                self._check_callback(callback, method)
            timer = _new_timer(deadline, self, callback, args, context)
        self._wheel.insert(timer)
        return timer

    def _check_callback(self, callback: Any, method: str) -> None:
        from asyncio import coroutines

        if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
            raise TypeError(f"coroutines cannot be used with {method}()")
        if not callable(callback):
            raise TypeError(f"a callable object was expected by {method}(), got {callback!r}")

    def _check_thread(self) -> None:
        """In debug mode: RuntimeError when called from a thread other than the loop's."""
        if self._thread_id is None:
            return
        if _get_ident() != self._thread_id:
            raise RuntimeError(
                "Non-thread-safe operation invoked on an event loop other "
                "than the current one"
            )

    # -------------------------------------------------------------- readiness

    def _update_registration(self, fd: int, had: int) -> None:
        mask = 0
        if fd in self._readers:
            mask |= _POLLIN
        if fd in self._writers:
            mask |= _POLLOUT
        poller = self._poller
        if mask == 0:
            if had:
                try:
                    poller.unregister(fd)
                except (OSError, ValueError, KeyError):
                    pass  # fd already closed: the kernel dropped it
        elif had == 0:
            try:
                poller.register(fd, mask)
            except FileExistsError:
                poller.modify(fd, mask)
        else:
            try:
                poller.modify(fd, mask)
            except FileNotFoundError:
                # The fd was closed and reused since it was registered.
                poller.register(fd, mask)

    def _mask_of(self, fd: int) -> int:
        mask = 0
        if fd in self._readers:
            mask |= _POLLIN
        if fd in self._writers:
            mask |= _POLLOUT
        return mask

    def _add_io(self, table: dict, fd: Any, callback: Any, args: Any) -> Handle:
        self._check_closed()
        fileno = _fileobj_to_fd(fd)
        if self._debug:
            self._check_thread()
        handle = _new_handle(self, callback, args, None)
        if self._debug:
            handle._source_traceback = _caller_stack(3)
        self._set_io(table, fileno, handle)
        return handle

    def _set_io(self, table: dict, fileno: int, entry: Any) -> None:
        """Make ``entry`` (a Handle or a watcher) the reader/writer of ``fileno``."""
        old = table.get(fileno)
        if old is None:
            had = self._mask_of(fileno)
            table[fileno] = entry
            try:
                self._update_registration(fileno, had)
            except BaseException:
                del table[fileno]
                raise
        else:
            table[fileno] = entry
            if isinstance(old, Handle):
                old.cancel()

    def _remove_io(self, table: dict, fd: Any) -> bool:
        if self._closed:
            return False
        fileno = _fileobj_to_fd(fd)
        if self._debug:
            self._check_thread()
        return self._remove_fd(table, fileno)

    def _remove_fd(self, table: dict, fileno: int) -> bool:
        old = table.get(fileno)
        if old is None:
            return False
        had = self._mask_of(fileno)
        del table[fileno]
        self._update_registration(fileno, had)
        if isinstance(old, Handle):
            old.cancel()
        return True

    # Watchers: transports, servers and other I/O objects of nexusloop itself. A watcher is any
    # object with a ``_context`` (a contextvars.Context) and ``_read_ready()`` /
    # ``_write_ready()`` methods; the tick calls the method directly, inside the context, when
    # the fd is ready: no Handle is allocated and nothing is queued per readiness event.
    # Exceptions escaping the method go to the loop's exception handler.

    def _watch_read(self, fd: int, watcher: Any) -> None:
        """Call ``watcher._read_ready()`` from the tick whenever ``fd`` is readable."""
        self._check_closed()
        self._set_io(self._readers, fd, watcher)

    def _watch_write(self, fd: int, watcher: Any) -> None:
        """Call ``watcher._write_ready()`` from the tick whenever ``fd`` is writable."""
        self._check_closed()
        self._set_io(self._writers, fd, watcher)

    def _unwatch_read(self, fd: int) -> bool:
        """Stop watching ``fd`` for reading (a Handle or a watcher); True if it was watched."""
        if self._closed:
            return False
        return self._remove_fd(self._readers, fd)

    def _unwatch_write(self, fd: int) -> bool:
        """Stop watching ``fd`` for writing; True if it was watched."""
        if self._closed:
            return False
        return self._remove_fd(self._writers, fd)

    def _add_reader(self, fd: Any, callback: Any, *args: Any) -> Handle:
        """Like :meth:`add_reader`, returning the registered handle (as asyncio's selector loop)."""
        return self._add_io(self._readers, fd, callback, args)

    def _add_writer(self, fd: Any, callback: Any, *args: Any) -> Handle:
        """Like :meth:`add_writer`, returning the registered handle."""
        return self._add_io(self._writers, fd, callback, args)

    def add_reader(self, fd: Any, callback: Any, *args: Any) -> None:  # type: ignore[override]
        """Call ``callback(*args)`` whenever ``fd`` is readable."""
        self._add_io(self._readers, fd, callback, args)

    def remove_reader(self, fd: Any) -> bool:
        """Stop watching ``fd`` for reading; True if it was watched."""
        return self._remove_io(self._readers, fd)

    def add_writer(self, fd: Any, callback: Any, *args: Any) -> None:  # type: ignore[override]
        """Call ``callback(*args)`` whenever ``fd`` is writable."""
        self._add_io(self._writers, fd, callback, args)

    def remove_writer(self, fd: Any) -> bool:
        """Stop watching ``fd`` for writing; True if it was watched."""
        return self._remove_io(self._writers, fd)

    def _poll(self, timeout: float, park: bool) -> None:
        """Wait up to ``timeout`` seconds (-1: forever) for I/O, then dispatch what is ready.

        Ready Handles (``add_reader``/``add_writer``) are queued; watchers are called at once.
        ``park``: called from :meth:`_park`, which marked the loop parked; the mark is cleared
        as soon as the wait is over, before anything is dispatched.
        """
        self._stat_polls += 1
        self._last_poll_tick = self._stat_ticks
        if cython.compiled:
            if self._epfd >= 0:
                count = self._epoll_wait(timeout, park)
                behind = self._rq_tail != self._rq_head
                if count:
                    self._stat_io_events += count
                    polled = self._now()
                for i in range(count):
                    self._h_io.record(self._now() - polled)
                    self._dispatch(
                        self._events[i].data.fd,  # type: ignore[attr-defined]
                        self._events[i].events,  # type: ignore[attr-defined]
                        behind,
                    )
                return
        if park:  # _park() raised _parked; take it down however the wait ends
            try:
                events = self._poller.poll(timeout)
            finally:
                self._parked = False
        else:
            events = self._poller.poll(timeout)
        behind = self._rq_tail != self._rq_head
        self._stat_io_events += len(events)
        polled = self._now()
        for fd, mask in events:
            self._h_io.record(self._now() - polled)
            self._dispatch(fd, mask, behind)

    def _epoll_wait(self, timeout: float, park: bool) -> int:
        """Compiled only: epoll_wait() into ``self._events``, without the GIL while waiting.

        A positive timeout is waited to the nanosecond (rounded up) with ``epoll_pwait2()``
        (Linux >= 5.11), so a parked loop wakes at its next timer's
        deadline instead of up to 1 ms after it. Where that call is missing (older kernels, or
        a seccomp filter that refuses it: ENOSYS / EPERM) the loop falls back for good to
        ``epoll_wait()`` with the timeout rounded up to whole milliseconds, as
        ``select.epoll.poll`` (and so asyncio) rounds it. Either way a timer is never seen
        before its deadline. EINTR runs the signal handlers (which may raise) and counts as
        "nothing ready": the tick recomputes its timeout.
        """
        global _ns_timeouts
        epfd = self._epfd
        events = self._events  # type: ignore[attr-defined]
        waited = False
        if timeout > 0 and _ns_timeouts:
            ns = int(_ceil(timeout * 1e9))  # type: ignore[name-defined]  # noqa: F821 (.pxd)
            with cython.nogil:
                count = _epoll_wait_ns(epfd, events, _MAX_EVENTS, ns)  # type: ignore[name-defined]  # noqa: F821
            waited = True
            if count < 0 and _errno() in (_ENOSYS, _EPERM):  # type: ignore[name-defined]  # noqa: F821
                _ns_timeouts = False
                waited = False
        if not waited:
            ms = -1 if timeout < 0 else int(_ceil(timeout * 1000.0))  # type: ignore[name-defined]  # noqa: F821
            with cython.nogil:
                count = _epoll_wait(epfd, events, _MAX_EVENTS, ms)  # type: ignore[name-defined]  # noqa: F821
        self._parked = False
        if count < 0:
            if _errno() != _EINTR:  # type: ignore[name-defined]  # noqa: F821
                _raise_errno()  # type: ignore[name-defined]  # noqa: F821
            _check_signals()  # type: ignore[name-defined]  # noqa: F821
            return 0
        return count

    def _dispatch(self, fd: int, mask: int, behind: bool) -> None:
        """Hand one readiness event to its Handle (queued) or watcher.

        A watcher is called at once when no callback was queued when the poll returned (the
        parked case, nearly always): then nothing would run before it in asyncio either.
        Otherwise (``behind``: the loop polled between callbacks) it is queued, as asyncio
        queues every I/O callback behind the ready ones, so a readiness event never overtakes
        work scheduled before it (say, the task step that sets up what the data is awaited
        with).
        """
        if fd == self._wake_rfd:
            self._drain_wakeups()
            return
        if mask & ~_POLLOUT:
            entry = self._readers.get(fd)
            if entry is not None:
                if isinstance(entry, Handle):
                    if entry._cancelled:
                        self._remove_io(self._readers, fd)
                    else:
                        self._push(entry)
                elif behind:
                    self._push(_new_handle(self, self._run_queued_watcher, (fd, entry, False),
                                           entry._context))
                else:
                    self._run_watcher(entry, False)
        if mask & ~_POLLIN:
            entry = self._writers.get(fd)
            if entry is not None:
                if isinstance(entry, Handle):
                    if entry._cancelled:
                        self._remove_io(self._writers, fd)
                    else:
                        self._push(entry)
                elif behind:
                    self._push(_new_handle(self, self._run_queued_watcher, (fd, entry, True),
                                           entry._context))
                else:
                    self._run_watcher(entry, True)

    def _run_queued_watcher(self, fd: int, watcher: Any, writable: bool) -> None:
        """A queued readiness event (see :meth:`_dispatch`), run in the watcher's context.

        Skipped if a callback before it unwatched the fd (asyncio cancels the reader's handle
        then). Exceptions are reported by the Handle, as for any callback.
        """
        table = self._writers if writable else self._readers
        if table.get(fd) is not watcher:
            return
        if writable:
            watcher._write_ready()  # type: ignore[union-attr]
        else:
            watcher._read_ready()  # type: ignore[union-attr]

    def _run_watcher(self, watcher: Any, writable: bool) -> None:
        context = watcher._context
        try:
            if cython.compiled:
                _enter_context(context)  # type: ignore[name-defined]  # noqa: F821 (the .pxd)
                try:
                    if isinstance(watcher, Watcher):
                        typed = cython.cast(Watcher, watcher)
                        if writable:
                            typed._write_ready()
                        else:
                            typed._read_ready()
                    elif writable:
                        watcher._write_ready()
                    else:
                        watcher._read_ready()
                finally:
                    _exit_context(context)  # type: ignore[name-defined]  # noqa: F821
            elif writable:
                context.run(watcher._write_ready)
            else:
                context.run(watcher._read_ready)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            method = "_write_ready" if writable else "_read_ready"
            self.call_exception_handler(  # type: ignore[attr-defined]
                {
                    "message": f"Exception in callback {watcher!r}.{method}()",
                    "exception": exc,
                    "transport": watcher,
                }
            )

    def _drain_wakeups(self) -> None:
        while True:
            try:
                data = os.read(self._wake_rfd, 4096)
            except (BlockingIOError, InterruptedError):
                break
            if len(data) < 4096:
                break
        # Clear only after draining: a producer that sets the flag later also writes.
        self._wake_pending = False

    # --------------------------------------------------------------- the tick

    def _drain_threadsafe(self) -> None:
        queue = self._ts_queue
        while queue:
            self._push(queue.popleft())

    def _run_once(self) -> None:
        if self._gc_control is not None:
            # Between two ticks (no callback is running), every so many ticks: the control
            # says when to look again.
            self._gc_wait -= 1
            if self._gc_wait <= 0:
                self._gc_wait = self._gc_control.tick()
        if cython.compiled:
            waiting = _deque_len(self._ts_queue)  # type: ignore[name-defined]  # noqa: F821
        else:
            waiting = len(self._ts_queue)
        if waiting:
            self._drain_threadsafe()
        parked = False
        if self._rq_tail != self._rq_head or self._stopping:
            if self._busy_poll or self._stat_ticks - self._last_poll_tick >= self._event_interval:
                self._poll(0, False)
        else:
            # The tick that ends here: from its start to the park (the wait is not in it).
            if self._stat_ticks:
                self._h_tick.record(self._now() - self._event_time)
            parked = True
            self._park()
            if self._ts_queue:
                self._drain_threadsafe()
        self._stat_ticks += 1
        now = self._now()
        # Tick duration and ready delay go into their histograms every 8th tick (a sample:
        # two records per tick cost ~10% on a one-callback-per-tick chain); the largest tick
        # is kept exactly.
        if not parked and self._stat_ticks > 1:
            tick = now - self._event_time  # the tick that ended: start to start
            if tick > self._h_tick._max:
                self._h_tick._max = tick
            if self._stat_ticks & 7 == 0:
                self._h_tick.record(tick)
        self._event_time = now
        if self._rq_tail != self._rq_head and self._stat_ticks & 7 == 0:
            # How long the oldest ready callback waited (since the tick that queued it).
            handle = self._rq[self._rq_head & self._rq_mask]
            self._h_ready.record(now - handle._queued_at)
        if self._wheel._count and self._wheel.next_deadline() <= now:
            wheel = self._wheel
            expired = self._expired
            wheel.pop_expired(now, expired)
            if self._timers_first and not self._debug:
                self._run_expired_now(expired)
            else:
                for timer in expired:
                    self._push(timer)
            expired.clear()
        head = self._rq_head
        end = self._rq_tail
        if self._tasks_per_cycle and end - head > self._tasks_per_cycle:
            end = head + self._tasks_per_cycle
        if self._debug:
            self._run_debug(end - head)
            return
        rq = self._rq
        mask = self._rq_mask
        while head != end:
            index = head & mask
            if cython.compiled:
                handle = cython.cast(Handle, _rq_take(rq, index))  # type: ignore[name-defined]  # noqa: F821
            else:
                handle = rq[index]
                rq[index] = None
            head += 1
            self._rq_head = head
            if handle._cancelled:
                continue
            if type(handle) is TimerHandle:
                self._h_timer.record(self._now() - cython.cast(TimerHandle, handle)._when)
            if cython.compiled:
                # Handle._run's snapshot case called directly (one call less per callback);
                # a subclass that overrides _run gets its own.
                if handle._vars is not None and (type(handle) is Handle
                                                 or type(handle) is TimerHandle):
                    _run_in_scratch(handle)  # type: ignore[name-defined]  # noqa: F821
                else:
                    handle._run()
                # Only this frame references it: the next call_soon takes it (see _recycle).
                if _refcount(handle) == 1 and type(handle) is Handle:  # type: ignore[name-defined]  # noqa: F821
                    _recycle(handle)  # type: ignore[name-defined]  # noqa: F821
            else:  # Handle._run inlined (pure mode): one Python call less per callback
                try:
                    handle._ctx.run(handle._callback, *handle._args)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    handle._report(exc)
            if self._rq is not rq:  # a callback grew the ring
                rq = self._rq
                mask = self._rq_mask

    def _run_expired_now(self, expired: list[Any]) -> None:
        # timers_first: expired timers run at the start of the tick instead of queueing behind
        # the callbacks that are already ready, so their lateness is bounded by one tick rather
        # than two. A timer cancelled by an earlier one in this batch does not run.
        for timer in expired:
            if not timer._cancelled:
                self._h_timer.record(self._now() - timer._when)
                timer._run()

    def _park(self) -> None:
        if self._busy_poll:
            self._poll(0, False)
            return
        if self._virtual and self._park_virtual():
            return
        if self._gc_control is not None and not self._ts_queue:
            deadline = self._wheel.next_deadline()
            self._gc_control.idle(_INF if deadline == _INF else deadline - self._now())
        # _parked goes up before the last look at the cross-thread queue (the wake-up race
        # invariant in the module docstring); the poll takes it down once the wait is over.
        self._parked = True
        try:
            if self._ts_queue:
                timeout = 0.0
            else:
                deadline = self._wheel.next_deadline()
                if deadline == _INF:
                    timeout = -1.0
                else:
                    timeout = deadline - self._now()
                    if timeout < 0:
                        timeout = 0.0
                    elif timeout > _MAX_TIMEOUT:
                        timeout = _MAX_TIMEOUT
        except BaseException:
            self._parked = False
            raise
        self._poll(timeout, True)

    def _park_virtual(self) -> bool:
        """``_park`` under virtual time; False: park in real time instead.

        The rule (documented in ``nexusloop.testing``): when nothing is ready, the clock jumps
        to the next timer deadline instead of the loop sleeping until it - unless something
        outside the loop may still act. Executor jobs and child processes in flight (reported
        by ``_outside_activity()``: 2) stop the jumps: time flows in real time until they are
        done. Other watched fds (sockets, pipes: 1) get ``_autojump`` real seconds to become
        ready before the jump. With no timer, no fd and nothing in flight, nothing can ever
        wake the loop: ``RuntimeError`` instead of hanging.
        """
        outside = self._outside_activity()
        if outside == 2:
            return False
        deadline = self._wheel.next_deadline()
        if deadline == _INF and outside:
            return False  # only real I/O can wake the loop: wait for it
        self._parked = True
        wait = 0.0
        if not self._ts_queue and (outside or deadline == _INF):
            # Watched fds get the threshold to become ready; with nothing at all, so does a
            # thread of the test's own that may still call_soon_threadsafe().
            wait = self._autojump
            if deadline != _INF and deadline - self._now() < wait:
                wait = max(deadline - self._now(), 0.0)
        self._poll(wait, True)
        if self._rq_tail != self._rq_head or self._ts_queue or self._stopping:
            return True
        if deadline == _INF:
            deadline = self._wheel.next_deadline()  # the poll may have armed one
            if deadline == _INF:
                raise RuntimeError(
                    "virtual time: the loop would wait forever (no timer is scheduled, no I/O "
                    "is watched, no executor job or child process is running): a deadlock"
                )
        gap = deadline - self._now()
        if gap > 0:
            self._clock_offset += gap
        return True

    def _outside_activity(self) -> int:
        raise NotImplementedError  # provided by nexusloop.Loop

    def _run_debug(self, ntodo: int) -> None:
        while ntodo:
            ntodo -= 1
            index = self._rq_head & self._rq_mask
            handle = self._rq[index]
            self._rq[index] = None
            self._rq_head += 1
            if handle._cancelled:
                continue
            self._current_handle = handle
            try:
                t0 = self.time()
                if type(handle) is TimerHandle:
                    self._h_timer.record(t0 - cython.cast(TimerHandle, handle)._when)
                handle._run()
                dt = self.time() - t0
                if dt >= self.slow_callback_duration:
                    self._warn_slow(handle, dt)
            finally:
                self._current_handle = None

    def _warn_slow(self, handle: Handle, dt: float) -> None:
        raise NotImplementedError  # provided by nexusloop.Loop

    def _run_forever_core(self) -> None:
        """Tick until ``stop()``; the caller sets up and tears down the running state."""
        # The first tick always polls I/O, even with callbacks ready: asyncio promises that
        # run_forever() after stop() polls the selector once, and one-iteration helpers
        # (call_soon(stop); run_forever()) rely on seeing ready I/O.
        self._last_poll_tick = self._stat_ticks - self._event_interval
        # _run_once is overridable (asyncio's tests wrap it on the instance); when it is not
        # overridden, the tick is called directly, without the per-call override lookup.
        direct = cython.compiled and type(self)._run_once is _PLAIN_RUN_ONCE and (
            "_run_once" not in getattr(self, "__dict__", ()))
        try:
            while True:
                if direct:
                    LoopCore._run_once(self)
                else:
                    self._run_once()
                if self._stopping:
                    break
        finally:
            self._stopping = False

    def stop(self) -> None:
        """Stop after the current tick (``asyncio`` semantics)."""
        self._stopping = True

    # ------------------------------------------------------------- lifecycle

    def _close_core(self) -> None:
        """Drop queued work and release the poller and wake-up fds."""
        rq = self._rq
        while self._rq_head != self._rq_tail:
            rq[self._rq_head & self._rq_mask] = None
            self._rq_head += 1
        self._ts_queue.clear()
        self._wheel.clear()
        for table in (self._readers, self._writers):
            for entry in table.values():
                if isinstance(entry, Handle):
                    entry.cancel()
            table.clear()
        self._poller.close()
        os.close(self._wake_rfd)
        if self._wake_wfd != self._wake_rfd:
            os.close(self._wake_wfd)

    def _core_stats(self) -> dict:
        return {
            "ticks": self._stat_ticks,
            "callbacks": self._rq_head,
            "polls": self._stat_polls,
            "wakeups": self._stat_wakeups,
            "io_events": self._stat_io_events,
            "timers_cancelled": self._wheel._cancelled_count,
            "ready": self._rq_tail - self._rq_head,
            "timers": len(self._wheel),
            "readers": len(self._readers),
            "writers": len(self._writers),
        }


#: LoopCore's own tick, to tell when a subclass or an instance replaced it (_run_forever_core).
_PLAIN_RUN_ONCE = LoopCore.__dict__["_run_once"]

