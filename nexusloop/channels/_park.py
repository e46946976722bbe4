"""Parking for cross-thread channels: who waits, and how another thread wakes them.

Compiled with ``_park.pxd`` (``cdef`` classes whose methods the channels call directly).

Two small pieces shared by ``mpsc``/``spsc`` (``_cross.py``) and the byte rings (``_bytes.py``).
Neither knows what a channel holds: a waiter is woken when *something may have changed*, and the
caller looks at its buffer again (a wake-up may be spurious; it is never lost).

:class:`RecvPark` — tasks of the receiver's loop wait for data
    Producers on any thread call :meth:`RecvPark.notify` after making data visible. It costs one
    attribute test while no task waits: the loop is woken (``call_soon_threadsafe``, which on
    nexusloop writes its eventfd only when the loop itself is parked in the poller) only when a
    receiver task is parked, and at most once until that wake-up has run. A parked task is
    registered with :meth:`prepare` *before* it looks at the buffer a last time, so a producer
    either sees the task parked or the task sees the data: with the GIL, the two threads' steps
    interleave but each sees the other's earlier writes.

    A wake-up resolves every parked task's future (they re-check; with one consumer task, the
    usual case, that is exactly one). So a task cancelled after its wake-up passes nothing on:
    every other parked task was woken too, and the data never left the buffer.

:class:`SendPark` — producers wait for room
    Producers are threads (``send_blocking``, parked on a ``threading.Lock`` held until woken) or
    tasks of any loop (``await send``, parked on a future of their own loop, resolved through that
    loop's ``call_soon_threadsafe``). Each waiter is one callable in a FIFO; the receiver calls
    :meth:`SendPark.notify_one` after freeing room, which pops the oldest waiter and calls it.
    A waiter that was popped (woken) but will not use the room (timed out, cancelled) passes the
    wake-up on with :meth:`SendPark.pass_on`, so a wake-up is never lost to a producer that left.
"""
from __future__ import annotations

import threading
from asyncio import AbstractEventLoop, Future
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from nexusloop._compat import get_running_loop_or_none as _get_running_loop

__all__: list[str] = []  # internal: used by _cross and _bytes


def _resolve(fut: Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class RecvPark:
    """Tasks of one loop waiting for data; woken from any thread. See the module docstring."""

    __slots__ = ("loop", "waiters", "parked", "wake_scheduled")

    def __init__(self) -> None:
        self.loop: AbstractEventLoop | None = None
        self.waiters: deque[Future[None]] = deque()
        #: True while a task is (or is about to be) parked: producers read it on every send.
        self.parked = False
        #: True from a producer's ``call_soon_threadsafe`` until the wake-up runs.
        self.wake_scheduled = False

    def prepare(self) -> Future[None]:
        """Register the current task as parked (on the loop's thread); return its future.

        The caller must look at its buffer once more after this and :meth:`drop` the future if
        it need not wait after all.
        """
        loop = _get_running_loop()
        if loop is None:
            raise RuntimeError("a channel's recv must be awaited in a running event loop")
        if self.loop is None:
            self.loop = loop
        elif loop is not self.loop:
            raise RuntimeError(
                f"this receiver is bound to a different event loop ({self.loop!r}); a channel's "
                "receiver serves the tasks of one loop"
            )
        fut: Future[None] = loop.create_future()
        self.waiters.append(fut)
        self.parked = True
        return fut

    def drop(self, fut: Future[None]) -> None:
        """Forget ``fut`` (it did not wait, or its task was cancelled); on the loop's thread."""
        try:
            self.waiters.remove(fut)
        except ValueError:
            pass
        if not self.waiters:
            self.parked = False

    def notify(self) -> None:
        """Data may be available or an end reached: wake the parked tasks. Any thread."""
        loop = self.loop
        if self.parked and not self.wake_scheduled and loop is not None:
            self.wake_scheduled = True
            try:
                loop.call_soon_threadsafe(self.wake)
            except RuntimeError:  # the loop is closed: nobody is left to wake
                self.wake_scheduled = False

    def wake(self) -> None:
        """Resolve every parked future (on the loop's thread)."""
        self.wake_scheduled = False
        self.parked = False
        waiters = self.waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    def count(self) -> int:
        """Parked tasks (for statistics)."""
        n = 0
        for fut in self.waiters:
            if not fut.done():
                n += 1
        return n


class SendPark:
    """Producers (threads or tasks of any loop) waiting for room. See the module docstring."""

    __slots__ = ("waiters",)

    def __init__(self) -> None:
        self.waiters: deque[Callable[[], Any]] = deque()

    def notify_one(self) -> None:
        """Wake the oldest parked producer, if any (the receiver freed room). Any thread."""
        waiters = self.waiters
        while waiters:
            try:
                waker = waiters.popleft()
            except IndexError:  # another thread took the last one
                return
            try:
                waker()
                return
            except RuntimeError:  # a task whose loop is closed: nobody waits there
                continue

    def notify_all(self) -> None:
        """Wake every parked producer (the channel closed)."""
        waiters = self.waiters
        while waiters:
            try:
                waker = waiters.popleft()
            except IndexError:
                return
            try:
                waker()
            except RuntimeError:
                pass

    def remove(self, waker: Callable[[], Any]) -> bool:
        """Unregister ``waker``; False if it was already popped (its wake-up is under way)."""
        try:
            self.waiters.remove(waker)
            return True
        except ValueError:
            return False

    def pass_on(self, waker: Callable[[], Any]) -> None:
        """A waiter leaves without using its room: unregister it, or, if it was already
        woken, hand the wake-up to the next waiter."""
        if not self.remove(waker):
            self.notify_one()

    def thread_waiter(self) -> tuple[threading.Lock, Callable[[], Any]]:
        """Park the calling thread: returns a held lock (acquire it to wait) and its waker,
        already registered."""
        lock = threading.Lock()
        lock.acquire()
        waker = lock.release
        self.waiters.append(waker)
        return lock, waker

    def task_waiter(self, loop: AbstractEventLoop) -> tuple[Future[None], Callable[[], Any]]:
        """Park the current task of ``loop``: returns its future and its waker, registered."""
        fut: Future[None] = loop.create_future()
        waker = partial(loop.call_soon_threadsafe, _resolve, fut)
        self.waiters.append(waker)
        return fut, waker

    def count(self) -> int:
        """Parked producers (for statistics)."""
        return len(self.waiters)
