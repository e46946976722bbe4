"""``local``: a channel for tasks of one event loop, many senders, one receiver, no locks.

Why it is shaped as it is
=========================

Everything runs on one loop thread, so no operation needs a lock: the shared state
(:class:`_State`) is a ring of items (a list whose length is a power of two, between a head and
a tail counter, doubled when full), a few counters, and two FIFO deques of parked futures
(senders waiting for room, receivers waiting for an item). ``try_send`` and ``try_recv`` touch
the ring and the counters only; they never create a future.

Compiled with ``_local.pxd``: the state and the handles' behaviour are ``cdef`` classes
(``_SenderCore``, ``_ReceiverCore``), so a ``try_send`` + ``try_recv`` pair is a few C operations
on the list (measured: a ``deque`` there, whose methods are Python calls, was ~1.7x slower). The
public ``Sender``/``Receiver`` subclass them with ``Generic[T]`` (a ``cdef`` class cannot) and
restate the item-typed signatures for type checkers only. A future is
created only when a task must park, with ``loop.create_future()`` (the one loop call the channel
makes), so the channel works on every asyncio loop: stock, uvloop, nexusloop.

Hand-over without loss: claims and reservations
-----------------------------------------------

A woken task does not run at once; it runs when the loop gets to it, and it may be cancelled
before then. The channel therefore never moves an item *into* a waking task. Instead:

* **A parked receiver is woken with a claim.** The sender appends the item to the buffer and
  resolves the first receiver future with ``_ITEM``; ``claimed`` counts buffered items promised
  to woken receivers. ``try_recv`` only takes items beyond the claimed ones, so a woken
  receiver is guaranteed an item when it runs (no spurious wake-up, no starvation). A receiver
  cancelled after its wake-up takes nothing: the item never left the buffer, and the claim
  passes to the next parked receiver. *A cancelled ``recv`` loses nothing.*
* **A parked sender is woken with a reservation.** When an item leaves a full buffer, the
  receiver resolves the first sender future with ``_SLOT`` and lowers ``limit`` (capacity minus
  reserved slots) by one, so no ``try_send`` can take that slot. The sender appends its own
  item when it runs. A sender cancelled after its wake-up appends nothing and passes the slot on.
  *A cancelled ``send`` never enqueues*, and parked senders are served in FIFO order.

Quiescent invariants (whenever no woken task is still waiting to run):

* parked receivers exist only while the buffer is empty;
* parked senders exist only while the buffer is full;
* ``len(buffer) <= capacity`` always (reserved slots count against it).

Items leave the buffer in FIFO order, so items of one sender arrive in the order they were sent.
Between senders, the order is the order in which their items entered the buffer.

Ends: counting handles
----------------------

The state counts open senders (a clone is a sender) and whether the receiver is open; the
handles hold the state, never the other way round, so a handle dropped without ``close()`` is
collected and its ``__del__`` closes it. When the last sender goes, parked receivers wake up and,
the buffer being empty, raise :class:`EndOfChannel` (``async for`` ends). Items still buffered
are received first. When the receiver goes, the buffer is discarded (nobody can read it) and
every send, parked or future, raises :class:`ReceiverGone` carrying its item. Closing a handle
twice, or using a closed handle, raises :class:`HandleClosed`; a ``send``/``recv`` parked on a
handle that gets closed raises it too.

The loop
--------

The state binds to the running loop the first time a ``send``/``recv`` has to wait (like
asyncio's primitives since 3.10, e.g. ``Queue.get`` on an empty queue); a ``send``/``recv`` that
has to wait in a task of another loop raises ``RuntimeError``. The check is made only when a task
parks because ``asyncio.events._get_running_loop()`` costs a ``getpid()`` system call per call on
CPython 3.11 (it checks the loop holder's pid): checking on every call made ``send`` slower than
``Queue.put``. A call that need not wait touches no loop, so it is correct from any loop of the
thread.
``try_send``/``try_recv`` need no loop (they may run before the loop starts, e.g. to pre-fill a
channel) but, like everything here, must run on the loop's thread: for producers on other
threads, use ``mpsc`` (to come).

Contract with the loop: the channel calls ``loop.create_future()`` and, through the futures,
``call_soon`` (``Future.set_result``); it calls nothing else and the loop calls nothing on it.
"""
from __future__ import annotations

import sys
from asyncio import AbstractEventLoop, Future
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from nexusloop._compat import get_running_loop_or_none as _get_running_loop

from ._errors import ChannelEmpty, ChannelFull, EndOfChannel, HandleClosed, ReceiverGone

__all__ = ["ChannelStatistics", "Receiver", "Sender", "local"]

T = TypeVar("T")

#: What a parked future is resolved with.
_ITEM = 1    # receiver: an item is claimed for you
_SLOT = 2    # sender: a slot is reserved for you
_CHECK = 3   # either: something closed, look again

_UNBOUNDED = sys.maxsize


class ChannelStatistics(NamedTuple):
    """A snapshot of a channel, as returned by ``statistics()`` (trio's names, shortened).

    Example::

        tx, rx = local(8)
        tx.try_send("a")
        assert rx.statistics().buffer_used == 1
    """

    buffer_used: int
    """Items in the buffer now."""
    capacity: int | None
    """The buffer's size; ``None`` when unbounded."""
    open_senders: int
    """Sender handles neither closed nor garbage-collected."""
    open_receivers: int
    """1 while the receiver is open, else 0."""
    tasks_waiting_send: int
    """Tasks parked in ``send`` (buffer full)."""
    tasks_waiting_receive: int
    """Tasks parked in ``recv`` (buffer empty)."""


class _State:
    """What the handles share. See the module docstring for the invariants."""

    __slots__ = (
        "ring", "mask", "head", "tail", "capacity", "limit", "claimed", "senders", "receiver_open",
        "recv_waiters", "send_waiters", "loop",
    )

    def __init__(self, capacity: int | None) -> None:
        # The buffer: a ring (a list whose length is a power of two) between two counters;
        # compiled, push and pop are a few C operations on the list (a deque's methods are calls).
        self.ring: list[Any] = [None] * 8
        self.mask = 7
        self.head = 0  # the oldest item is ring[head & mask]
        self.tail = 0  # the next item goes to ring[tail & mask]; tail - head items are buffered
        self.capacity = capacity
        # tail - head < limit  <=>  a new item fits; limit = capacity - slots reserved for woken senders
        self.limit = _UNBOUNDED if capacity is None else capacity
        self.claimed = 0  # buffered items promised to woken receivers
        self.senders = 1
        self.receiver_open = True
        self.recv_waiters: deque[Future[int]] = deque()
        self.send_waiters: deque[Future[int]] = deque()
        self.loop: AbstractEventLoop | None = None

    def push(self, value: Any) -> None:
        """Append ``value`` (the caller checked it fits)."""
        if self.tail - self.head > self.mask:
            self.grow()  # re-bases head and tail
        tail = self.tail
        self.ring[tail & self.mask] = value
        self.tail = tail + 1

    def pop(self) -> Any:
        """Remove and return the oldest item (the caller checked there is one)."""
        ring = self.ring
        i = self.head & self.mask
        value = ring[i]
        ring[i] = None
        self.head += 1
        return value

    def items(self) -> list[Any]:
        """The buffered items, oldest first (a copy)."""
        return [self.ring[(self.head + k) & self.mask] for k in range(self.tail - self.head)]

    def grow(self) -> None:
        """Double the ring, keeping the items in order."""
        size = self.tail - self.head
        items = self.items()
        n = len(self.ring) * 2
        self.ring = items + [None] * (n - size)
        self.mask = n - 1
        self.head = 0
        self.tail = size

    def bind(self) -> AbstractEventLoop:
        """Bind to the running loop (first time) or check it is the bound one."""
        loop = _get_running_loop()
        if loop is None:
            raise RuntimeError("channel send/recv must be awaited in a running event loop")
        if self.loop is None:
            self.loop = loop
        elif loop is not self.loop:
            raise RuntimeError(
                f"this channel is bound to a different event loop ({self.loop!r}); a local "
                "channel serves the tasks of one loop"
            )
        return loop

    def wake_receiver(self) -> None:
        """Claim an unclaimed buffered item for the first parked receiver, if both exist."""
        waiters = self.recv_waiters
        while waiters and self.tail - self.head > self.claimed:
            fut = waiters.popleft()
            if not fut.done():  # a cancelled one may sit here until its task runs
                self.claimed += 1
                fut.set_result(_ITEM)
                return

    def wake_sender(self) -> None:
        """Reserve a free slot for the first parked sender, if both exist."""
        waiters = self.send_waiters
        while waiters and self.tail - self.head < self.limit:
            fut = waiters.popleft()
            if not fut.done():
                self.limit -= 1
                fut.set_result(_SLOT)
                return

    def wake_all(self, waiters: deque[Future[int]]) -> None:
        """Resolve every parked future with ``_CHECK`` (something closed)."""
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                try:
                    fut.set_result(_CHECK)
                except RuntimeError:  # its loop is closed (handle collected late): nobody waits
                    pass

    def drop_sender(self) -> None:
        self.senders -= 1
        if self.senders == 0:
            # Parked receivers exist only while the buffer is empty: they will see the end.
            self.wake_all(self.recv_waiters)

    def drop_receiver(self) -> None:
        self.receiver_open = False
        self.ring = [None] * 8
        self.mask = 7
        self.head = self.tail = 0
        self.claimed = 0
        self.limit = 0  # nothing fits any more; woken senders will see receiver_open False
        self.wake_all(self.send_waiters)
        self.wake_all(self.recv_waiters)

    def stats(self) -> ChannelStatistics:
        return ChannelStatistics(
            self.tail - self.head, self.capacity, self.senders, 1 if self.receiver_open else 0,
            _undone(self.send_waiters), _undone(self.recv_waiters),
        )


def _undone(waiters: deque[Future[int]]) -> int:
    """How many of ``waiters`` still wait (a cancelled one may linger until its task runs)."""
    n = 0
    for fut in waiters:
        if not fut.done():
            n += 1
    return n


def _discard(waiters: deque[Future[int]], fut: Future[int]) -> None:
    try:
        waiters.remove(fut)
    except ValueError:
        pass


class _SenderCore:
    """What :class:`Sender` does (see the module docstring)."""

    __slots__ = ("_st", "_closed", "_pending", "__weakref__")

    def __init__(self, state: _State) -> None:
        self._st = state
        self._closed = False
        self._pending: set[Future[int]] = set()  # futures of sends parked on this handle

    def try_send(self, value: Any) -> None:
        """Put ``value`` in the buffer now, or raise without sending it.

        Raises :class:`ChannelFull` (bounded, no room), :class:`ReceiverGone` (the receiver is
        closed; ``exc.value`` is ``value``), :class:`HandleClosed` (this sender is closed).

        Example::

            tx, rx = local(1)
            tx.try_send("a")
            try:
                tx.try_send("b")
            except ChannelFull:
                pass
        """
        st = self._st
        if st.tail - st.head < st.limit and not self._closed:
            st.push(value)
            if st.recv_waiters:
                st.wake_receiver()
            return
        if self._closed:
            raise HandleClosed("try_send on a closed Sender")
        if not st.receiver_open:
            raise ReceiverGone(value)
        raise ChannelFull(value)

    async def send(self, value: Any) -> None:
        """Send ``value``, waiting while a bounded buffer is full (parked senders are served
        in FIFO order).

        Raises :class:`ReceiverGone` (with ``exc.value``) if the receiver is closed or goes away
        while waiting, :class:`HandleClosed` if this sender is or gets closed. If the task is
        cancelled while waiting, ``value`` is not enqueued.

        Example::

            tx, rx = local(1)
            await tx.send("a")   # room: returns at once
            # a second send waits until the receiver takes "a"
        """
        st = self._st
        while True:
            if self._closed:
                raise HandleClosed("send on a closed Sender")
            if st.tail - st.head < st.limit:
                st.push(value)
                if st.recv_waiters:
                    st.wake_receiver()
                return
            if not st.receiver_open:
                raise ReceiverGone(value)
            fut: Future[int] = st.bind().create_future()
            st.send_waiters.append(fut)
            self._pending.add(fut)
            try:
                signal = await fut
            except BaseException:
                self._pending.discard(fut)
                if fut.done() and not fut.cancelled():
                    if fut.result() == _SLOT and st.receiver_open:
                        st.limit += 1  # give the reserved slot to the next parked sender
                        st.wake_sender()
                else:
                    _discard(st.send_waiters, fut)
                    fut.cancel()
                raise
            self._pending.discard(fut)
            if signal == _SLOT:
                if not st.receiver_open:
                    continue  # raises ReceiverGone above
                st.limit += 1
                if self._closed:
                    st.wake_sender()
                    continue  # raises HandleClosed
                st.push(value)
                if st.recv_waiters:
                    st.wake_receiver()
                return
            # _CHECK: something closed; look again

    def clone(self) -> Sender[Any]:
        """Another sender of the same channel (the receiver waits for every one to close).

        Example::

            tx, rx = local()
            tx2 = tx.clone()
            tx.close()
            tx2.try_send(1)   # still open
        """
        if self._closed:
            raise HandleClosed("clone of a closed Sender")
        self._st.senders += 1
        return Sender(self._st)

    def close(self) -> None:
        """Close this sender. Sends parked on it raise :class:`HandleClosed`; when it was the
        last open sender, the receiver sees the end after the buffered items. A second
        ``close()`` raises :class:`HandleClosed`.

        Example::

            tx, rx = local()
            tx.try_send(1)
            tx.close()
            assert rx.try_recv() == 1   # then EndOfChannel
        """
        if self._closed:
            raise HandleClosed("Sender.close() on a closed Sender")
        self._release()

    def _release(self) -> None:
        self._closed = True
        st = self._st
        if self._pending:
            for fut in list(self._pending):
                if not fut.done():
                    _discard(st.send_waiters, fut)
                    try:
                        fut.set_result(_CHECK)
                    except RuntimeError:  # its loop is closed (collected with its task)
                        pass
        st.drop_sender()

    @property
    def closed(self) -> bool:
        """Whether this handle was closed (by ``close()`` or a ``with`` block).

        Example::

            tx, rx = local()
            tx.close()
            assert tx.closed
        """
        return self._closed

    @property
    def capacity(self) -> int | None:
        """The buffer's size, ``None`` if unbounded.

        Example::

            assert local(8)[0].capacity == 8
        """
        return self._st.capacity

    def statistics(self) -> ChannelStatistics:
        """A snapshot of the channel: see :class:`ChannelStatistics`.

        Example::

            tx, rx = local(8)
            assert tx.statistics().open_senders == 1
        """
        return self._st.stats()

    def __len__(self) -> int:
        st = self._st
        return st.tail - st.head

    def __exit__(self, *exc_info: object) -> None:
        if not self._closed:
            self._release()

    def __del__(self) -> None:
        # A sender collected without close() counts as closed (the receiver sees the end).
        try:
            closed = self._closed
        except AttributeError:  # __init__ did not run
            return
        if not closed:
            self._release()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {state} buffered={len(self)} capacity={self._st.capacity}>"


class Sender(_SenderCore, Generic[T]):
    """The sending end of a :func:`local` channel. ``clone()`` makes another sender.

    The receiver sees the end of the channel once every sender is closed or garbage-collected.
    Usable as a context manager (closes it on exit, unless already closed).

    Example::

        tx, rx = local(16)
        async def produce(tx: Sender[int]) -> None:
            with tx:
                for i in range(3):
                    await tx.send(i)
        # the consumer: async for i in rx: ...
    """

    __slots__ = ()

    if TYPE_CHECKING:
        def try_send(self, value: T) -> None: ...
        async def send(self, value: T) -> None: ...
        def clone(self) -> Sender[T]: ...

    def __enter__(self) -> Sender[T]:
        return self


class _ReceiverCore:
    """What :class:`Receiver` does (see the module docstring)."""

    __slots__ = ("_st", "_closed", "__weakref__")

    def __init__(self, state: _State) -> None:
        self._st = state
        self._closed = False

    def try_recv(self) -> Any:
        """Take the oldest item now, or raise.

        Raises :class:`ChannelEmpty` (nothing buffered, a sender is open),
        :class:`EndOfChannel` (nothing buffered, every sender gone), :class:`HandleClosed`
        (this receiver is closed).

        Example::

            tx, rx = local()
            tx.try_send("a")
            assert rx.try_recv() == "a"
        """
        st = self._st
        if st.tail - st.head > st.claimed:
            value = st.pop()
            if st.send_waiters:
                st.wake_sender()
            return value
        if self._closed:
            raise HandleClosed("try_recv on a closed Receiver")
        if st.senders == 0 and st.tail - st.head <= st.claimed:
            raise EndOfChannel()
        raise ChannelEmpty()

    async def recv(self) -> Any:
        """Take the oldest item, waiting while the buffer is empty.

        Raises :class:`EndOfChannel` when every sender is gone and the buffer is drained,
        :class:`HandleClosed` if this receiver is or gets closed. A ``recv`` cancelled while
        waiting, even after an item was promised to it, takes nothing: the item stays for the
        next ``recv``.

        Example::

            tx, rx = local()
            tx.try_send("a")
            assert await rx.recv() == "a"
        """
        st = self._st
        while True:
            if st.tail - st.head > st.claimed:
                value = st.pop()
                if st.send_waiters:
                    st.wake_sender()
                return value
            if self._closed:
                raise HandleClosed("recv on a closed Receiver")
            if st.senders == 0 and st.tail - st.head <= st.claimed:
                raise EndOfChannel()
            fut: Future[int] = st.bind().create_future()
            st.recv_waiters.append(fut)
            try:
                signal = await fut
            except BaseException:
                if fut.done() and not fut.cancelled():
                    if fut.result() == _ITEM and st.receiver_open:
                        st.claimed -= 1  # leave the item for the next receiver
                        st.wake_receiver()
                else:
                    _discard(st.recv_waiters, fut)
                    fut.cancel()
                raise
            if signal == _ITEM:
                if self._closed:
                    continue  # raises HandleClosed (the buffer was discarded)
                st.claimed -= 1
                value = st.pop()
                if st.send_waiters:
                    st.wake_sender()
                return value
            # _CHECK: something closed; look again

    def close(self) -> None:
        """Close the receiver: buffered items are discarded, every send (parked or later)
        raises :class:`ReceiverGone` with its item, parked ``recv`` calls raise
        :class:`HandleClosed`. A second ``close()`` raises :class:`HandleClosed`.

        Example::

            tx, rx = local()
            rx.close()
            try:
                tx.try_send(1)
            except ReceiverGone as exc:
                assert exc.value == 1
        """
        if self._closed:
            raise HandleClosed("Receiver.close() on a closed Receiver")
        self._closed = True
        self._st.drop_receiver()

    @property
    def closed(self) -> bool:
        """Whether this handle was closed.

        Example::

            tx, rx = local()
            rx.close()
            assert rx.closed
        """
        return self._closed

    @property
    def capacity(self) -> int | None:
        """The buffer's size, ``None`` if unbounded.

        Example::

            assert local()[1].capacity is None
        """
        return self._st.capacity

    def statistics(self) -> ChannelStatistics:
        """A snapshot of the channel: see :class:`ChannelStatistics`.

        Example::

            tx, rx = local(8)
            assert rx.statistics().tasks_waiting_receive == 0
        """
        return self._st.stats()

    def __len__(self) -> int:
        st = self._st
        return st.tail - st.head

    def __aiter__(self) -> Any:
        return self

    async def __anext__(self) -> Any:
        st = self._st
        if st.tail - st.head > st.claimed:  # without a second coroutine when an item is ready
            value = st.pop()
            if st.send_waiters:
                st.wake_sender()
            return value
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
        return f"<{type(self).__name__} {state} buffered={len(self)} capacity={self._st.capacity}>"


class Receiver(_ReceiverCore, Generic[T]):
    """The receiving end of a :func:`local` channel (one per channel; several tasks may await
    ``recv`` on it, served in FIFO order).

    ``async for`` yields items until every sender is closed and the buffer is drained. Usable
    as a context manager (closes it on exit, unless already closed).

    Example::

        tx, rx = local()
        tx.try_send(1)
        tx.close()
        async for item in rx:
            print(item)        # 1, then the loop ends
    """

    __slots__ = ()

    if TYPE_CHECKING:
        def try_recv(self) -> T: ...
        async def recv(self) -> T: ...
        def __aiter__(self) -> AsyncIterator[T]: ...
        async def __anext__(self) -> T: ...

    def __enter__(self) -> Receiver[T]:
        return self


def _check_capacity(capacity: object, flavour: str) -> None:
    """``TypeError``/``ValueError`` unless ``capacity`` is ``None`` or an int >= 1."""
    if capacity is not None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(f"capacity must be an int or None, not {type(capacity).__name__}")
        if capacity < 1:
            raise ValueError(
                f"capacity must be >= 1 (or None for an unbounded channel), got {capacity}; "
                f"{flavour} channel has no rendezvous (capacity 0) mode"
            )


def local(capacity: int | None = None) -> tuple[Sender[T], Receiver[T]]:
    """A channel between tasks of one event loop: ``(sender, receiver)``.

    ``capacity`` bounds the buffer (``send`` waits and ``try_send`` raises
    :class:`ChannelFull` while it is full); ``None`` (default) makes it unbounded. Clone the
    sender for more producers. Annotate the result to give the item type.

    Example::

        tx: Sender[int]
        rx: Receiver[int]
        tx, rx = local(64)

        async def main() -> None:
            async def produce() -> None:
                with tx:
                    for i in range(100):
                        await tx.send(i)
            task = asyncio.create_task(produce())
            async for i in rx:
                ...
            await task
    """
    _check_capacity(capacity, "a local")
    state = _State(capacity)
    return Sender(state), Receiver(state)
