"""``mpsc`` and ``spsc``: producers on any thread, one receiver on an event loop.

Compiled with ``_cross.pxd``: the handles' behaviour lives in ``cdef`` classes (``_SenderCore``,
``_ReceiverCore``); the public classes subclass them with ``Generic[T]`` (a ``cdef`` class cannot)
and restate the item-typed signatures for type checkers only.

Why it is shaped as it is
=========================

The buffer is a ``collections.deque``: ``append`` and ``popleft`` are atomic with respect to
other threads, so a producer thread and the loop thread share it with no lock. Waiting is
delegated to :mod:`._park`: the receiver's tasks park on futures of their loop and are woken
through ``call_soon_threadsafe`` *only while parked* (a producer reads one flag per message;
a busy receiver costs producers no wake-up at all); producers park on a lock (threads,
``send_blocking``) or on a future of their own loop (tasks, ``await send``) and the receiver
wakes the oldest one each time it frees room in a full buffer.

Capacity
--------

``len(items) < limit`` followed by ``append`` must not interleave with another producer doing
the same, or a bounded buffer could overshoot. Compiled (Cython), the two steps run without
releasing the GIL, so they cannot interleave; in pure Python (and on a free-threaded
interpreter) bounded multi-producer channels take a lock around them. ``spsc`` has one producer
by contract: it never locks. The receiver only ever shrinks the buffer, so it needs no lock.

Ends
----

As for ``local``: the shared state counts open senders (under a lock: ``clone``/``close`` run on
any thread, and a sender collected without ``close`` counts as closed, from whichever thread the
collector runs in). When the count reaches zero the receiver is notified; it reports
:class:`EndOfChannel` once the buffer is drained. It reads the count *before* looking at the
buffer, and a sender appends before it closes, so a last item is never mistaken for an end.
When the receiver closes (or is collected), the buffer is cleared, ``limit`` drops to 0 so no
send fits any more, and every parked producer is woken to raise :class:`ReceiverGone` with its
own item.

Cancellation
------------

A ``recv`` takes an item only when it runs, so a ``recv`` cancelled after its wake-up loses
nothing. A cancelled ``send`` never appends; if it had been woken for room it passes the wake-up
to the next parked producer. ``send_blocking(timeout=...)`` does the same when it times out.
"""
from __future__ import annotations

import sys
import threading
import time
from asyncio import get_running_loop
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

try:
    import cython
except ImportError:  # pragma: no cover
    from nexusloop._core import _cyshim as cython

from nexusloop._compat import get_running_loop_or_none as _get_running_loop

from ._errors import ChannelEmpty, ChannelFull, EndOfChannel, HandleClosed, ReceiverGone
from ._local import ChannelStatistics, _check_capacity
from ._park import RecvPark, SendPark

__all__ = [
    "MpscReceiver", "MpscSender", "SpscReceiver", "SpscSender", "mpsc", "spsc",
]

T = TypeVar("T")

_UNBOUNDED = sys.maxsize
#: A closed sender's view of the buffer: never has room (see ``local``).
_CLOSED_ITEMS: Any = range(_UNBOUNDED)
#: Compiled code runs check-and-append without releasing the GIL; pure Python and free-threaded
#: builds need a lock for bounded multi-producer sends.
_GIL_ATOMIC = cython.compiled and getattr(sys, "_is_gil_enabled", lambda: True)()


class _Shared:
    """What the handles share. See the module docstring."""

    __slots__ = (
        "items", "capacity", "limit", "senders", "receiver_open", "rx", "tx", "lock",
        "count_lock",
    )

    def __init__(self, capacity: int | None, single_producer: bool) -> None:
        self.items: deque[Any] = deque()
        self.capacity = capacity
        self.limit = _UNBOUNDED if capacity is None else capacity
        self.senders = 1
        self.receiver_open = True
        self.rx = RecvPark()
        self.tx = SendPark()
        # Around check-and-append, when two producers could interleave (module docstring).
        self.lock: threading.Lock | None = (
            None if capacity is None or single_producer or _GIL_ATOMIC else threading.Lock()
        )
        self.count_lock = threading.Lock()

    def drop_sender(self) -> None:
        with self.count_lock:
            self.senders -= 1
            last = self.senders == 0
        if last:
            self.rx.notify()

    def drop_receiver(self) -> None:
        self.receiver_open = False
        self.limit = 0
        self.items.clear()
        self.tx.notify_all()
        self.rx.notify()

    def stats(self) -> ChannelStatistics:
        return ChannelStatistics(
            len(self.items), self.capacity, self.senders, 1 if self.receiver_open else 0,
            self.tx.count(), self.rx.count(),
        )


class _SenderCore:
    """What :class:`SpscSender` and :class:`MpscSender` do (see the module docstring)."""

    __slots__ = ("_st", "_items", "_append", "_closed", "__weakref__")

    def __init__(self, state: _Shared) -> None:
        self._st = state
        self._items = state.items
        self._append = state.items.append
        self._closed = False

    def _put(self, value: Any) -> bool:
        """Append ``value`` if it fits; True if it did."""
        st = self._st
        lock = st.lock
        if lock is None:
            if len(self._items) < st.limit:
                self._append(value)
                if st.rx.parked:
                    st.rx.notify()
                return True
            return False
        with lock:
            if len(self._items) >= st.limit:
                return False
            self._append(value)
        if st.rx.parked:
            st.rx.notify()
        return True

    def _refuse(self, value: Any, what: str) -> int:
        """Raise the reason ``value`` did not fit, unless it was only a full buffer."""
        if self._closed:
            raise HandleClosed(f"{what} on a closed Sender")
        if not self._st.receiver_open:
            raise ReceiverGone(value)
        return 0

    def try_send(self, value: Any) -> None:
        """Put ``value`` in the buffer now, or raise without sending it. Any thread.

        Raises :class:`ChannelFull` (bounded, no room), :class:`ReceiverGone` (the receiver is
        closed; ``exc.value`` is ``value``), :class:`HandleClosed` (this sender is closed).

        Example::

            tx, rx = mpsc(1)
            tx.try_send("a")
            try:
                tx.try_send("b")
            except ChannelFull:
                pass
        """
        if self._put(value):
            return
        self._refuse(value, "try_send")
        raise ChannelFull(value)

    def send_blocking(self, value: Any, timeout: float | None = None) -> None:
        """Send ``value`` from a thread, blocking it while the buffer is full.

        Raises :class:`ChannelFull` if still full after ``timeout`` seconds (the item was not
        sent), :class:`ReceiverGone` / :class:`HandleClosed` as :meth:`try_send`, and
        ``RuntimeError`` if it would block the receiver's own running loop (a deadlock).

        Example::

            def producer(tx: MpscSender[int]) -> None:
                with tx:
                    for i in range(1000):
                        tx.send_blocking(i)
        """
        if self._put(value):
            return
        st = self._st
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._refuse(value, "send_blocking")
            loop = _get_running_loop()
            if loop is not None and loop is st.rx.loop:
                raise RuntimeError(
                    "send_blocking() would block the receiver's own event loop (a deadlock); "
                    "use 'await sender.send(...)' or try_send() on the loop's thread"
                )
            lock, waker = st.tx.thread_waiter()
            # Look again after registering: the receiver may have made room just before.
            if self._put(value):
                st.tx.remove(waker)  # if it was woken already, this producer used the room
                return
            if self._closed or not st.receiver_open:
                st.tx.pass_on(waker)  # a wake-up already given to it must not be lost
                continue  # _refuse raises
            if deadline is None:
                lock.acquire()
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not lock.acquire(timeout=remaining):
                    st.tx.pass_on(waker)
                    raise ChannelFull(value)
            if self._put(value):
                return

    async def send(self, value: Any) -> None:
        """Send ``value`` from a task of any event loop (on any thread), waiting while the
        buffer is full. A cancelled ``send`` does not enqueue ``value``.

        Raises :class:`ReceiverGone` / :class:`HandleClosed` as :meth:`try_send`.

        Example::

            async def produce(tx: MpscSender[str]) -> None:   # on another thread's loop
                for line in lines:
                    await tx.send(line)
        """
        if self._put(value):
            return
        st = self._st
        loop = get_running_loop()
        while True:
            self._refuse(value, "send")
            fut, waker = st.tx.task_waiter(loop)
            if self._put(value):
                st.tx.remove(waker)
                return
            if self._closed or not st.receiver_open:
                st.tx.pass_on(waker)
                continue
            try:
                await fut
            except BaseException:
                st.tx.pass_on(waker)
                raise
            if self._put(value):
                return

    def close(self) -> None:
        """Close this sender; when it was the last open one, the receiver sees the end after
        the buffered items. A second ``close()`` raises :class:`HandleClosed`.

        Example::

            tx, rx = mpsc()
            tx.try_send(1)
            tx.close()
        """
        if self._closed:
            raise HandleClosed("Sender.close() on a closed Sender")
        self._release()

    def _release(self) -> None:
        self._closed = True
        self._items = _CLOSED_ITEMS
        st = self._st
        st.drop_sender()
        st.tx.notify_all()  # producers parked on this handle look again and see it closed

    @property
    def closed(self) -> bool:
        """Whether this handle was closed."""
        return self._closed

    @property
    def capacity(self) -> int | None:
        """The buffer's size, ``None`` if unbounded."""
        return self._st.capacity

    def statistics(self) -> ChannelStatistics:
        """A snapshot of the channel (``tasks_waiting_send`` counts threads and tasks)."""
        return self._st.stats()

    def __len__(self) -> int:
        return len(self._st.items)

    def __exit__(self, *exc_info: object) -> None:
        if not self._closed:
            self._release()

    def __del__(self) -> None:
        try:
            closed = self._closed
        except AttributeError:  # __init__ did not run
            return
        if not closed:
            self._release()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        st = self._st
        return f"<{type(self).__name__} {state} buffered={len(st.items)} capacity={st.capacity}>"


class SpscSender(_SenderCore, Generic[T]):
    """The sending end of an :func:`spsc` channel: usable from any thread, by one producer at
    a time. :class:`MpscSender` adds ``clone()``.

    Example::

        tx, rx = spsc(1024)
        def produce() -> None:
            with tx:
                for i in range(3):
                    tx.send_blocking(i)
        threading.Thread(target=produce).start()
    """

    __slots__ = ()

    if TYPE_CHECKING:
        def try_send(self, value: T) -> None: ...
        def send_blocking(self, value: T, timeout: float | None = None) -> None: ...
        async def send(self, value: T) -> None: ...

    def __enter__(self) -> SpscSender[T]:
        return self


class MpscSender(SpscSender[T]):
    """The sending end of an :func:`mpsc` channel: any thread, any number of producers
    (``clone()`` one per producer; the receiver sees the end when every clone is closed).

    Example::

        tx, rx = mpsc(1024)
        for n in range(4):
            threading.Thread(target=produce, args=(tx.clone(),)).start()
        tx.close()
    """

    __slots__ = ()

    def clone(self) -> MpscSender[T]:
        """Another sender of the same channel. Any thread.

        Example::

            tx, rx = mpsc()
            tx2 = tx.clone()
        """
        st = self._st
        with st.count_lock:
            if self._closed:
                raise HandleClosed("clone of a closed Sender")
            st.senders += 1
        return MpscSender(st)

    def __enter__(self) -> MpscSender[T]:
        return self


class _ReceiverCore:
    """What :class:`SpscReceiver` and :class:`MpscReceiver` do (see the module docstring)."""

    __slots__ = ("_st", "_items", "_popleft", "_closed", "__weakref__")

    def __init__(self, state: _Shared) -> None:
        self._st = state
        self._items = state.items
        self._popleft = state.items.popleft
        self._closed = False

    def try_recv(self) -> Any:
        """Take the oldest item now, or raise :class:`ChannelEmpty` (a sender is open),
        :class:`EndOfChannel` (every sender gone, buffer drained) or :class:`HandleClosed`.

        Example::

            tx, rx = mpsc()
            tx.try_send("a")
            assert rx.try_recv() == "a"
        """
        if self._items:
            return self._take()
        return self._empty()

    def _take(self) -> Any:
        """Pop the oldest item (there is one) and wake a producer waiting for room."""
        value = self._popleft()
        tx = self._st.tx
        if tx.waiters:
            tx.notify_one()
        return value

    def _empty(self) -> Any:
        """No item was buffered: an item after all, or the exception that says why not."""
        if self._closed:
            raise HandleClosed("recv on a closed Receiver")
        if self._st.senders == 0:
            if self._items:  # appended just before the last sender closed
                return self.try_recv()
            raise EndOfChannel()
        raise ChannelEmpty()

    async def recv(self) -> Any:
        """Take the oldest item, waiting while the buffer is empty.

        Raises :class:`EndOfChannel` once every sender is gone and the buffer is drained,
        :class:`HandleClosed` if this receiver is or gets closed. A cancelled ``recv`` takes
        nothing.

        Example::

            item = await rx.recv()
        """
        st = self._st
        while True:
            if self._items:
                return self._take()
            if self._closed or st.senders == 0:
                return self._empty()  # an item, or EndOfChannel / HandleClosed
            rx = st.rx
            fut = rx.prepare()
            # Look again now that producers can see this task parked.
            if self._items or st.senders == 0 or self._closed:
                rx.drop(fut)
                continue
            try:
                await fut
            except BaseException:
                rx.drop(fut)
                raise

    def close(self) -> None:
        """Close the receiver: buffered items are discarded, every send (parked or later, on
        any thread) raises :class:`ReceiverGone` with its item, parked ``recv`` calls raise
        :class:`HandleClosed`. A second ``close()`` raises :class:`HandleClosed`.

        Example::

            tx, rx = mpsc()
            rx.close()
        """
        if self._closed:
            raise HandleClosed("Receiver.close() on a closed Receiver")
        self._closed = True
        self._st.drop_receiver()

    @property
    def closed(self) -> bool:
        """Whether this handle was closed."""
        return self._closed

    @property
    def capacity(self) -> int | None:
        """The buffer's size, ``None`` if unbounded."""
        return self._st.capacity

    def statistics(self) -> ChannelStatistics:
        """A snapshot of the channel: see :class:`ChannelStatistics`."""
        return self._st.stats()

    def __len__(self) -> int:
        return len(self._st.items)

    def __aiter__(self) -> Any:
        return self

    async def __anext__(self) -> Any:
        if self._items:  # without a second coroutine when an item is ready
            return self._take()
        try:
            return await self.recv()
        except EndOfChannel:
            raise StopAsyncIteration from None

    def __exit__(self, *exc_info: object) -> None:
        if not self._closed:
            self.close()

    def __del__(self) -> None:
        try:
            closed = self._closed
        except AttributeError:
            return
        if not closed:
            self._closed = True
            self._st.drop_receiver()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        st = self._st
        return f"<{type(self).__name__} {state} buffered={len(st.items)} capacity={st.capacity}>"


class SpscReceiver(_ReceiverCore, Generic[T]):
    """The receiving end of an :func:`spsc` channel, used by tasks of one event loop (it
    binds to the first loop on which a ``recv`` waits).

    Example::

        async for reading in rx:
            process(reading)
    """

    __slots__ = ()

    if TYPE_CHECKING:
        def try_recv(self) -> T: ...
        async def recv(self) -> T: ...
        def __aiter__(self) -> AsyncIterator[T]: ...
        async def __anext__(self) -> T: ...

    def __enter__(self) -> SpscReceiver[T]:
        return self


class MpscReceiver(SpscReceiver[T]):
    """The receiving end of an :func:`mpsc` channel (as :class:`SpscReceiver`).

    Example::

        tx, rx = mpsc(64)
        tx.try_send(1)
        tx.close()
        async for item in rx:
            print(item)
    """

    __slots__ = ()

    def __enter__(self) -> MpscReceiver[T]:
        return self


def mpsc(capacity: int | None = None) -> tuple[MpscSender[T], MpscReceiver[T]]:
    """A channel from producers on any thread to tasks of one event loop.

    ``capacity`` bounds the buffer (``send_blocking``/``send`` wait, ``try_send`` raises
    :class:`ChannelFull` while full); ``None`` makes it unbounded. ``clone()`` the sender for
    each producer. The receiving loop is woken only while a ``recv`` is parked.

    Example::

        tx: MpscSender[float]
        rx: MpscReceiver[float]
        tx, rx = mpsc(1024)
        threading.Thread(target=sensor, args=(tx,)).start()   # tx.send_blocking(...)
        async for reading in rx:
            ...
    """
    _check_capacity(capacity, "an mpsc")
    state = _Shared(capacity, single_producer=False)
    return MpscSender(state), MpscReceiver(state)


def spsc(capacity: int | None = None) -> tuple[SpscSender[T], SpscReceiver[T]]:
    """Like :func:`mpsc` for exactly one producer (no ``clone()``; it never takes a lock).

    Example::

        tx, rx = spsc(4096)
    """
    _check_capacity(capacity, "an spsc")
    state = _Shared(capacity, single_producer=True)
    return SpscSender(state), SpscReceiver(state)
