"""``spsc_bytes`` and ``mpsc_bytes``: variable-length messages in one pre-allocated byte ring.

Compiled with ``_bytes.pxd``: the shared state and both handles are ``cdef`` classes (the public
:class:`BytesSender` and :class:`BytesReceiver` are those classes themselves: no item type to make
generic). The same source runs as pure Python.

Why it is shaped as it is
=========================

The ring
--------

One ``bytearray`` of ``capacity`` bytes (``capacity_bytes`` rounded up to a multiple of 8),
allocated once. A message is an 8-byte header (its payload length, a signed 64-bit integer read
and written through a ``memoryview.cast('q')`` of the ring) followed by the payload, padded to a
multiple of 8, so every header is 8-aligned. Two byte counters that only grow, ``tail`` (bytes
published by producers) and ``head`` (bytes the receiver gave back), locate everything:
``pos % capacity`` is the offset, ``tail - head`` the bytes in use. (64-bit counters in compiled
mode: they would overflow after 8 EiB.)

When a message does not fit between the write offset and the end of the ring, the producer writes
a *wrap marker* (header ``-1``: "continue at offset 0") in the rest of the ring and publishes it at
once, as soon as the receiver has freed the marker's 8 bytes; then the message goes to offset 0
when the receiver has freed enough room there. Because the marker is published on its own (the
receiver skips it, advancing ``head``, even with no message behind it; when the ring is empty
the producer advances ``head`` past it itself, the one store of ``head`` a producer makes, made
after publishing the marker so that a receiver skipping it concurrently stores the same value),
any message up to
``capacity - 8`` bytes (:attr:`BytesSender.max_message`) fits eventually, whatever the offsets.
A larger claim raises ``ValueError`` naming both sizes. A claim that has to wrap may therefore
leave a published marker behind even when it then fails (``try_claim``), times out or is
cancelled: it holds no space once the receiver has passed it (the ring's tail end is skipped
once). Messages are never empty: ``claim(n)`` needs ``n >= 1``, and ``commit(0)`` abandons a
claim.

Claim, fill, commit
-------------------

``view = tx.try_claim(n)`` / ``tx.claim_blocking(n)`` / ``await tx.claim(n)`` reserve room for an
``n``-byte message and return a writable ``memoryview`` of exactly ``n`` bytes inside the ring;
nobody else can see them. ``tx.commit(k)`` writes the header and publishes the first ``k`` bytes
(default ``n``; ``0`` publishes nothing) by advancing ``tail``; the receiver is woken if it is
parked. ``commit`` releases the view (``view.release()``), so a stale view raises ``ValueError``
instead of writing into the ring (slices or casts *of* the view are separate memoryviews of the
ring: drop them before committing). If something still holds a buffer exported *from* the view
(``numpy.frombuffer(view)``), ``commit`` raises ``BufferError``, publishes nothing, and the claim
stays open: drop the export and commit again.

A sender handle is used by one thread or task at a time (``clone()`` one per producer). It has
at most one claim at a time: a second claim while one is open (or waiting), and a
``commit`` without an open claim, raise ``RuntimeError`` (programming errors, not channel
outcomes). ``close()`` on a sender abandons its open claim. The copying conveniences
``try_send(data)``, ``send_blocking(data, timeout=None)`` and ``await send(data)`` claim
``len(data)`` bytes, copy ``data`` (a bytes-like object of single bytes: ``bytes``,
``bytearray``, a ``'B'`` memoryview) straight into the ring and commit; they create no view.

Producers
---------

``spsc_bytes``: one producer, no lock. ``mpsc_bytes``: ``clone()`` the sender for each producer,
on any thread. A claim needs the ring's write position until its commit, so an mpsc channel has
one *producer lock*, held by a sender **from its claim to its commit**: keep the fill short.
Compiled, the lock is a flag tested and set while holding the GIL (the two steps cannot
interleave with another thread: no Python code runs between them); pure Python takes a
non-blocking ``threading.Lock.acquire(False)`` instead (that call alone costs ~250 ns on 3.11:
it reads the clock). Either way nobody blocks *on* it: threads (``claim_blocking``) and tasks
(``claim``; the holder may be a task of the same loop) park in a FIFO (:class:`._park.SendPark`)
and the commit that releases the lock wakes the oldest. ``try_claim``/``try_send`` never
wait: they raise :class:`ChannelFull` when the ring has no room *or another producer holds the
lock*. Only the lock's holder can wait for room, so at most one producer waits for room at a
time, and it is woken only once ``head`` has reached the position it needs (it records it), not
on every release.

Cross-thread visibility relies on the GIL, as in ``_cross.py``: the producer writes the payload
and header, then stores ``tail``; the receiver reads ``tail``, then the header and payload. Each
store of a Python int attribute (or, compiled, of a C field while the GIL is held) is atomic, and
a thread switch is a full barrier, so the receiver never sees a ``tail`` before the bytes it
covers; the same holds for ``head`` and the room the producer reuses. Free-threaded builds are
not supported.

The receiver
------------

Used by tasks of one event loop (any asyncio loop), exactly like ``mpsc``'s receiver (waiting
through :class:`._park.RecvPark`: the loop is woken only while a ``recv`` is parked).
``try_recv()`` / ``await recv()`` / ``async for`` return a read-only ``memoryview`` of the next
message's payload, in place in the ring. The message's space is *held* until ``rx.release()``
or the next ``try_recv``/``recv``/``__anext__`` (which releases it first, even if that ``recv``
is then cancelled): the view is ``release()``d, so stale use raises ``ValueError``. Copy
(``bytes(view)``) what must outlive it. ``release()`` with nothing held does nothing; a view with
a buffer exported from it makes ``release()`` (and the next receive) raise ``BufferError``,
keeping the message held.

Counting and ends
-----------------

``len()`` and ``statistics().buffer_used`` count messages committed and not yet received (the
held message is received: it is not counted); ``capacity`` is the ring's size in **bytes**.
``tasks_waiting_send`` counts producers (threads and tasks) parked for room or for the producer
lock. Ends are those of ``mpsc``: open senders
are counted (clones included; a sender collected without ``close()`` counts as closed, and
abandons its open claim, releasing the lock); the receiver sees :class:`EndOfChannel` after the
last message. When the receiver is closed or collected, every claim (parked or later) raises
:class:`ReceiverGone` with ``value`` ``None``, a ``send`` raises it with its ``data``, and a
``commit`` raises it with the committed bytes as ``bytes`` (``commit(0)``: ``b""``), the claim
closed.

Cancellation
------------

A cancelled ``claim`` reserves nothing (it reserves only when it returns the view) and releases
the producer lock; a wake-up it received passes on. A ``recv`` takes a message only when it runs,
so a cancelled ``recv`` loses nothing.

Objects per message (honestly)
------------------------------

Compiled (read off the generated C): a claim creates the ``memoryview`` it returns, plus, to
slice it, two transient ``int`` objects (offsets above 256) and a ``slice`` object (CPython keeps
one spare slice, so no allocation in a loop); ``commit`` creates none. ``try_send`` /
``send_blocking`` / ``send`` copy with ``memcpy`` from ``data``'s buffer: no view, no slice,
only a transient ``int`` for ``len(data)`` above 256. A receive creates the ``memoryview`` it
returns (and the same two transient ints and slice); ``release`` creates none. Pure Python adds
transient ints for every position above 256, bound methods and the like. Everything but the
views is freed at once, and each view is released and freed when the next one is handed out
(unless the caller keeps it): the steady state allocates nothing per message
(``tests/channels/test_bytes.py``: tracemalloc, current and peak, flat from N to 10N messages,
with a control case that keeps a copy per message and fails the same bound). The one view per
message is the price of the memoryview API: a released memoryview cannot be re-pointed. A
reusable object exporting the current message through the buffer protocol (a ``cdef`` class
with ``__getbuffer__``), or a ``recv_into(buffer)`` copy, would avoid it.

Compiled vs pure Python: a ``try_send`` + ``try_recv`` pair of 64 bytes (spsc) takes ~0.35 µs
compiled, ~2.5 µs pure (same machine, same run); mpsc ~0.4 µs vs ~3.8 µs.
"""
from __future__ import annotations

import threading
import time
from asyncio import get_running_loop
from typing import Any

try:
    import cython
except ImportError:  # pragma: no cover
    from nexusloop._core import _cyshim as cython

from nexusloop._compat import get_running_loop_or_none as _get_running_loop

from ._errors import ChannelEmpty, ChannelFull, EndOfChannel, HandleClosed, ReceiverGone
from ._local import ChannelStatistics
from ._park import RecvPark, SendPark

__all__ = ["BytesReceiver", "BytesSender", "mpsc_bytes", "spsc_bytes"]

# Literals in the code below (plain names would be Python globals once compiled):
#   8   the header's size and every record's alignment (bytes); ``(k + 7) & ~7`` pads to it;
#   -1  the header of a wrap marker;
#   a sender's ``_state``: 0 idle, 1 inside claim_blocking/claim (not yet returned),
#   2 the view is out (commit() next).
#: The smallest ring: one 1-byte message (header + 8 aligned bytes).
_MIN_CAPACITY = 16


def _check_size(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{what} must be an int, not {type(n).__name__}")
    return 0


class _Shared:
    """What the handles share. See the module docstring."""

    __slots__ = (
        "ring", "rw", "ro", "words", "size", "head", "tail", "need", "committed", "taken",
        "senders", "receiver_open", "single", "lock", "busy", "rx", "room", "gate", "count_lock",
    )

    def __init__(self, size: int, single_producer: bool) -> None:
        self.ring = bytearray(size)
        self.rw = memoryview(self.ring)
        self.ro = self.rw.toreadonly()
        self.words = self.rw.cast("q")
        if cython.compiled:  # the bytearray is never resized (its memoryviews forbid it)
            self.base = PyByteArray_AS_STRING(self.ring)  # type: ignore  # noqa: F821 (.pxd)
        self.size = size
        self.head = 0       # bytes given back by the receiver (grows only)
        self.tail = 0       # bytes published by producers (grows only)
        self.need = 0       # the head the producer waiting for room needs
        self.committed = 0  # messages published
        self.taken = 0      # messages received
        self.senders = 1
        self.receiver_open = True
        self.single = single_producer
        #: Held from claim to commit (mpsc only): see the module docstring.
        self.lock: threading.Lock | None = None if single_producer else threading.Lock()
        self.busy = False  # compiled mode's producer lock
        self.rx = RecvPark()
        self.room = SendPark()  # the producer waiting for room (at most one)
        self.gate = SendPark()  # producers waiting for the producer lock
        self.count_lock = threading.Lock()

    def try_lock(self) -> bool:
        """Take the producer lock if it is free (mpsc). See the module docstring."""
        if cython.compiled:
            if self.busy:
                return False
            self.busy = True
            return True
        else:
            lock: Any = self.lock
            return lock.acquire(False)  # type: ignore[no-any-return]

    def unlock(self) -> None:
        """Release the producer lock (mpsc) and wake the oldest producer waiting for it."""
        if cython.compiled:
            self.busy = False
        else:
            lock: Any = self.lock
            lock.release()
        if self.gate.waiters:
            self.gate.notify_one()

    def wake_all(self) -> None:
        self.room.notify_all()
        self.gate.notify_all()

    def drop_sender(self) -> None:
        with self.count_lock:
            self.senders -= 1
            last = self.senders == 0
        if last:
            self.rx.notify()

    def drop_receiver(self) -> None:
        self.receiver_open = False
        self.wake_all()
        self.rx.notify()

    def stats(self) -> ChannelStatistics:
        return ChannelStatistics(
            self.committed - self.taken, self.size, self.senders,
            1 if self.receiver_open else 0, self.room.count() + self.gate.count(),
            self.rx.count(),
        )


class BytesSender:
    """The sending end of an :func:`spsc_bytes` or :func:`mpsc_bytes` channel: claim room in
    the ring, fill the ``memoryview``, commit. Any thread; ``clone()`` (mpsc only) for more
    producers.

    Example::

        tx, rx = spsc_bytes(1 << 20)
        view = tx.try_claim(5)
        view[:] = b"hello"
        tx.commit()
        tx.try_send(b"world")      # claim + copy + commit
    """

    __slots__ = ("_st", "_state", "_locked", "_pos", "_n", "_view", "_closed", "__weakref__")

    def __init__(self, state: _Shared) -> None:
        self._st = state
        self._state = 0
        self._locked = False  # this handle holds the producer lock (mpsc)
        self._pos = 0         # ring offset of the open claim's header
        self._n = 0           # bytes claimed
        self._view: memoryview | None = None
        self._closed = False

    # -- the steps -------------------------------------------------------------------------

    def _total(self, n: object) -> int:
        """Validate a claim of ``n`` bytes; the record's size (header + padded payload)."""
        _check_size(n, "a claim's size")
        size = self._st.size
        if n <= 0:  # type: ignore[operator]
            raise ValueError(f"a claim needs at least 1 byte, got {n}")
        if n > size - 8:  # type: ignore[operator]
            raise ValueError(
                f"a claim of {n} bytes is larger than the largest message a {size}-byte ring "
                f"holds ({size - 8} bytes: 8 bytes go to the header)"
            )
        m: int = n  # type: ignore[assignment]
        return 8 + ((m + 7) & ~7)

    def _begin(self) -> None:
        if self._closed:
            raise HandleClosed("claim on a closed BytesSender")
        if self._state != 0:
            raise RuntimeError(
                "this sender already has a claim open (or waiting): commit() it first"
            )

    def _fit(self, total: int) -> int:
        """Room for a ``total``-byte record: its ring offset, or -1 (``need`` recorded).

        Publishes a wrap marker first when the record does not fit before the ring's end and
        the marker's own room is free. The caller holds the producer lock (mpsc)."""
        st = self._st
        size = st.size
        tail = st.tail
        used = tail - st.head
        off = tail % size
        rest = size - off
        if total <= rest:
            if used + total <= size:
                return off
            st.need = tail + total - size
            return -1
        if used + rest > size:  # not even the marker fits yet
            st.need = tail + rest - size
            return -1
        st.words[off >> 3] = -1
        tail += rest
        st.tail = tail
        if used == 0:
            # The receiver holds nothing and has nothing to read: move past the marker for it
            # (after publishing it: a receiver reading now skips it and stores this same head).
            st.head = tail
            return 0
        if st.rx.parked:  # the receiver must skip it to free the room at offset 0
            st.rx.notify()
        if used + rest + total <= size:
            return 0
        st.need = tail + total - size
        return -1

    def _refuse(self, value: Any) -> int:
        """Raise why nothing can be claimed, unless the ring is only full."""
        if self._closed:
            raise HandleClosed("claim on a closed BytesSender")
        if not self._st.receiver_open:
            raise ReceiverGone(value)
        return 0

    def _lock_now(self) -> bool:
        """Take the producer lock without waiting (True at once for spsc)."""
        st = self._st
        if st.single:
            return True
        if st.try_lock():
            self._locked = True
            return True
        return False

    def _unlock(self) -> None:
        if self._locked:
            self._locked = False
            self._st.unlock()

    def _try_reserve(self, total: int, value: Any) -> int:
        """The offset of a record reserved now, or -1 (no room / lock busy): try_* paths."""
        if not self._lock_now():
            self._refuse(value)
            return -1
        if not self._st.receiver_open or self._closed:
            self._unlock()
            self._refuse(value)
        pos = self._fit(total)
        if pos < 0:
            self._unlock()
        return pos

    def _check_deadlock(self) -> int:
        loop = _get_running_loop()
        if loop is not None and loop is self._st.rx.loop:
            raise RuntimeError(
                "a blocking claim would block the receiver's own event loop (a deadlock); use "
                "'await sender.claim(...)' or try_claim() on the loop's thread"
            )
        return 0

    def _reserve_blocking(self, total: int, timeout: float | None, value: Any) -> int:
        """Reserve a record, blocking the thread; its offset. Lock held on return (mpsc)."""
        st = self._st
        deadline = None if timeout is None else time.monotonic() + timeout
        self._state = 1
        try:
            while not self._lock_now():
                self._refuse(value)
                self._check_deadlock()
                waiter, waker = st.gate.thread_waiter()
                if self._lock_now():
                    st.gate.remove(waker)  # if it was woken already, this thread used the lock
                    break
                if self._closed or not st.receiver_open:
                    st.gate.pass_on(waker)
                    continue  # _refuse raises
                if deadline is None:
                    waiter.acquire()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not waiter.acquire(timeout=remaining):
                        st.gate.pass_on(waker)
                        raise ChannelFull(value)
            while True:
                self._refuse(value)
                pos = self._fit(total)
                if pos >= 0:
                    return pos
                self._check_deadlock()
                waiter, waker = st.room.thread_waiter()
                # Look again after registering: the receiver may have freed room just before.
                pos = self._fit(total)
                if pos >= 0:
                    st.room.remove(waker)
                    return pos
                if self._closed or not st.receiver_open:
                    st.room.remove(waker)
                    continue  # _refuse raises
                if deadline is None:
                    waiter.acquire()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not waiter.acquire(timeout=remaining):
                        st.room.pass_on(waker)
                        raise ChannelFull(value)
        except BaseException:
            self._state = 0
            self._unlock()
            raise

    async def _reserve_async(self, total: int, value: Any) -> int:
        """Reserve a record from a task of any loop; its offset. Lock held on return (mpsc)."""
        st = self._st
        loop = get_running_loop()
        self._state = 1
        try:
            while not self._lock_now():
                self._refuse(value)
                fut, waker = st.gate.task_waiter(loop)
                if self._lock_now():
                    st.gate.remove(waker)  # if it was woken already, this task used the lock
                    break
                if self._closed or not st.receiver_open:
                    st.gate.pass_on(waker)
                    continue
                try:
                    await fut
                except BaseException:
                    st.gate.pass_on(waker)
                    raise
            while True:
                self._refuse(value)
                pos = self._fit(total)
                if pos >= 0:
                    return pos
                fut, waker = st.room.task_waiter(loop)
                pos = self._fit(total)
                if pos >= 0:
                    st.room.remove(waker)
                    return pos
                if self._closed or not st.receiver_open:
                    st.room.remove(waker)
                    continue
                try:
                    await fut
                except BaseException:
                    st.room.pass_on(waker)
                    raise
        except BaseException:
            self._state = 0
            self._unlock()
            raise

    def _open(self, pos: int, n: int) -> memoryview:
        start = pos + 8
        view = self._st.rw[start:start + n]
        self._pos = pos
        self._n = n
        self._view = view
        self._state = 2
        return view

    def _publish(self, pos: int, k: int) -> None:
        """Write the header of a ``k``-byte message at ``pos``, publish it, unlock, wake."""
        st = self._st
        st.words[pos >> 3] = k
        st.tail = st.tail + 8 + ((k + 7) & ~7)
        st.committed += 1
        if self._locked:
            self._locked = False
            st.unlock()
        if st.rx.parked:
            st.rx.notify()

    # -- claims ----------------------------------------------------------------------------

    def try_claim(self, n: int) -> memoryview:
        """Reserve an ``n``-byte message now: a writable ``memoryview`` of exactly ``n`` bytes
        in the ring; fill it, then :meth:`commit`. Any thread.

        Raises :class:`ChannelFull` (no room, or another producer's claim is open: mpsc;
        ``value`` is ``None``), :class:`ReceiverGone` (``value`` ``None``),
        :class:`HandleClosed`, ``ValueError``/``TypeError`` (``n`` not an int in
        ``1..max_message``), ``RuntimeError`` (a claim is already open on this sender).

        Example::

            tx, rx = spsc_bytes(4096)
            view = tx.try_claim(3)
            view[:] = b"abc"
            tx.commit()
        """
        total = self._total(n)
        self._begin()
        pos = self._try_reserve(total, None)
        if pos < 0:
            raise ChannelFull(None)
        return self._open(pos, n)

    def claim_blocking(self, n: int, timeout: float | None = None) -> memoryview:
        """Reserve an ``n``-byte message from a thread, blocking it while the ring is full
        (mpsc: and while another producer holds the producer lock).

        Raises :class:`ChannelFull` if that lasts beyond ``timeout`` seconds (nothing is
        reserved), ``RuntimeError`` if it would block the receiver's own running loop, and the
        rest as :meth:`try_claim`.

        Example::

            def producer(tx: BytesSender, sock: socket.socket) -> None:
                while True:
                    view = tx.claim_blocking(65536)
                    tx.commit(sock.recv_into(view))   # commit(0) publishes nothing
        """
        total = self._total(n)
        self._begin()
        return self._open(self._reserve_blocking(total, timeout, None), n)

    async def claim(self, n: int) -> memoryview:
        """Reserve an ``n``-byte message from a task of any event loop, waiting while the ring
        is full (mpsc: and while another producer holds the producer lock). A cancelled
        ``claim`` reserves nothing.

        Raises as :meth:`try_claim` (but waits instead of :class:`ChannelFull`).

        Example::

            view = await tx.claim(len(header) + len(body))
            view[:len(header)] = header
            view[len(header):] = body
            tx.commit()
        """
        total = self._total(n)
        self._begin()
        return self._open(await self._reserve_async(total, None), n)

    def commit(self, k: int | None = None) -> None:
        """Publish the first ``k`` bytes of the open claim (default: all of them; ``0``
        abandons the claim, publishing nothing) and release its view.

        Raises ``RuntimeError`` (no claim open), ``ValueError``/``TypeError`` (``k`` not an
        int in ``0..n``: the claim stays open), ``BufferError`` (a buffer exported from the view
        is still alive: the claim stays open), :class:`ReceiverGone` (the receiver is gone:
        ``value`` is the committed bytes, the claim is closed), :class:`HandleClosed`.

        Example::

            view = tx.try_claim(100)
            k = fill(view)          # up to 100 bytes
            tx.commit(k)
        """
        if self._state != 2:
            if self._closed:
                raise HandleClosed("commit on a closed BytesSender")
            raise RuntimeError("commit() without an open claim")
        n = self._n
        if k is None:
            k = n
        else:
            _check_size(k, "commit's k")
            if k < 0 or k > n:
                raise ValueError(f"commit({k}) of a {n}-byte claim: k must be in 0..{n}")
        view: Any = self._view
        if not self._st.receiver_open:
            value = bytes(view[:k])
            self._abandon()
            raise ReceiverGone(value)
        view.release()  # BufferError: nothing changed
        self._view = None
        self._state = 0
        if k:
            self._publish(self._pos, k)
        else:
            self._unlock()

    def _abandon(self) -> None:
        """Drop the open claim: nothing is published."""
        view = self._view
        self._view = None
        self._state = 0
        if view is not None:
            try:
                view.release()
            except BufferError:  # the holder of the export keeps a live window: its problem
                pass
        self._unlock()

    # -- copying conveniences --------------------------------------------------------------

    def _copy(self, pos: int, data: Any, n: int) -> None:
        st = self._st
        start = pos + 8
        try:
            if cython.compiled:  # memcpy from data's buffer: no slice, no sub-view
                # (buf: a Py_buffer local, and these C functions: declared in the .pxd)
                PyObject_GetBuffer(data, cython.address(buf), PyBUF_SIMPLE)  # type: ignore  # noqa: F821
                try:
                    if buf.len != n:  # type: ignore  # noqa: F821
                        raise ValueError("data must be bytes-like with 1-byte items")
                    memcpy(st.base + start, buf.buf, n)  # type: ignore  # noqa: F821
                finally:
                    PyBuffer_Release(cython.address(buf))  # type: ignore  # noqa: F821
            else:
                st.rw[start:start + n] = data
        except BaseException:
            self._state = 0
            self._unlock()
            raise
        self._state = 0
        self._publish(pos, n)

    def try_send(self, data: bytes | bytearray | memoryview) -> None:
        """Copy ``data`` into the ring as one message now (claim + copy + commit), or raise
        without sending it: :class:`ChannelFull` / :class:`ReceiverGone` with ``value`` the
        ``data`` object, and the rest as :meth:`try_claim`.

        Example::

            tx, rx = mpsc_bytes(1 << 16)
            tx.try_send(b"ping")
        """
        n = len(data)
        total = self._total(n)
        self._begin()
        pos = self._try_reserve(total, data)
        if pos < 0:
            raise ChannelFull(data)
        self._copy(pos, data, n)

    def send_blocking(self, data: bytes | bytearray | memoryview,
                      timeout: float | None = None) -> None:
        """Copy ``data`` into the ring as one message from a thread, blocking it while the ring
        is full; raises as :meth:`claim_blocking`, with ``value`` the ``data`` object.

        Example::

            def producer(tx: BytesSender) -> None:
                with tx:
                    for line in open("log.txt", "rb"):
                        tx.send_blocking(line)
        """
        n = len(data)
        total = self._total(n)
        self._begin()
        self._copy(self._reserve_blocking(total, timeout, data), data, n)

    async def send(self, data: bytes | bytearray | memoryview) -> None:
        """Copy ``data`` into the ring as one message from a task of any loop, waiting while
        the ring is full; a cancelled ``send`` sends nothing. Raises as :meth:`claim`.

        Example::

            await tx.send(b"frame")
        """
        n = len(data)
        total = self._total(n)
        self._begin()
        self._copy(await self._reserve_async(total, data), data, n)

    # -- handles ---------------------------------------------------------------------------

    def clone(self) -> BytesSender:
        """Another sender of the same :func:`mpsc_bytes` channel (``RuntimeError`` on an
        ``spsc_bytes`` channel: it has one producer). Any thread.

        Example::

            tx, rx = mpsc_bytes(1 << 20)
            threading.Thread(target=producer, args=(tx.clone(),)).start()
        """
        st = self._st
        if st.single:
            raise RuntimeError("an spsc_bytes channel has one producer: use mpsc_bytes to clone")
        with st.count_lock:
            if self._closed:
                raise HandleClosed("clone of a closed BytesSender")
            st.senders += 1
        return BytesSender(st)

    def close(self) -> None:
        """Close this sender, abandoning its open claim; when it was the last open one, the
        receiver sees the end after the committed messages. A second ``close()`` raises
        :class:`HandleClosed`.

        Example::

            tx, rx = spsc_bytes(4096)
            tx.try_send(b"last")
            tx.close()
        """
        if self._closed:
            raise HandleClosed("BytesSender.close() on a closed BytesSender")
        self._release()

    def _release(self) -> None:
        self._closed = True
        if self._state == 2:  # a waiting claim (1) cleans up after itself
            self._abandon()
        st = self._st
        st.drop_sender()
        st.wake_all()  # claims parked on this handle look again and see it closed

    @property
    def closed(self) -> bool:
        """Whether this handle was closed."""
        return self._closed

    @property
    def capacity(self) -> int:
        """The ring's size in bytes."""
        return self._st.size

    @property
    def max_message(self) -> int:
        """The largest claim (bytes): the ring's size minus the 8-byte header."""
        return self._st.size - 8

    def statistics(self) -> ChannelStatistics:
        """A snapshot of the channel (see the module docstring for the byte channels' terms)."""
        return self._st.stats()

    def __len__(self) -> int:
        st = self._st
        return st.committed - st.taken

    def __enter__(self) -> BytesSender:
        return self

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
        return (f"<BytesSender {state} buffered={st.committed - st.taken} "
                f"used_bytes={st.tail - st.head} capacity={st.size}>")


class BytesReceiver:
    """The receiving end of a byte channel, used by tasks of one event loop (it binds to the
    first loop on which a ``recv`` waits). Each message is a read-only ``memoryview`` into the
    ring, valid until :meth:`release` or the next receive.

    Example::

        async for view in rx:          # the previous view is released on each step
            handle(bytes(view[:4]), len(view))
    """

    __slots__ = ("_st", "_view", "_held", "_closed", "__weakref__")

    def __init__(self, state: _Shared) -> None:
        self._st = state
        self._view: memoryview | None = None
        self._held = 0  # bytes of the held record (header and padding included)
        self._closed = False

    def _drop_held(self) -> None:
        """Give the held message's space back (release its view first)."""
        view = self._view
        if view is not None:
            view.release()  # BufferError: still held
            self._view = None
            self._advance(self._st.head + self._held)

    def _advance(self, head: int) -> int:
        """Give the bytes before ``head`` back, and a wrap marker right after them; wake the
        producer waiting for room if it now fits. The new head."""
        st = self._st
        if head != st.tail:
            size = st.size
            off = head % size
            if st.words[off >> 3] < 0:
                head += size - off
        st.head = head
        room = st.room
        if room.waiters and head >= st.need:
            room.notify_one()
        return head

    def _take(self) -> memoryview | None:
        """The next message's view (now held), or None; skips wrap markers."""
        st = self._st
        head = st.head
        while head != st.tail:
            size = st.size
            off = head % size
            h = st.words[off >> 3]
            if h < 0:  # a wrap marker (published after the last release): skip it
                head = self._advance(head)
                continue
            start = off + 8
            view = st.ro[start:start + h]
            self._view = view
            self._held = 8 + ((h + 7) & ~7)
            st.taken += 1
            return view
        return None

    def _empty(self) -> memoryview:
        """Nothing was available: a message after all, or the exception that says why not."""
        if self._closed:
            raise HandleClosed("recv on a closed BytesReceiver")
        if self._st.senders == 0:
            view = self._take()  # committed just before the last sender closed
            if view is not None:
                return view
            raise EndOfChannel()
        raise ChannelEmpty()

    def try_recv(self) -> memoryview:
        """Release the held message, then take the next one now: a read-only ``memoryview`` of
        its payload. Raises :class:`ChannelEmpty` (a sender is open), :class:`EndOfChannel`
        (every sender gone, all received) or :class:`HandleClosed`.

        Example::

            tx, rx = spsc_bytes(4096)
            tx.try_send(b"abc")
            assert rx.try_recv() == b"abc"
        """
        if self._closed:
            raise HandleClosed("recv on a closed BytesReceiver")
        self._drop_held()
        view = self._take()
        if view is not None:
            return view
        return self._empty()

    async def recv(self) -> memoryview:
        """Release the held message, then take the next one, waiting while the ring is empty.

        Raises :class:`EndOfChannel` once every sender is gone and everything was received,
        :class:`HandleClosed` if this receiver is or gets closed, ``RuntimeError`` in a task of
        another loop than the one it is bound to. A cancelled ``recv`` takes nothing.

        Example::

            view = await rx.recv()
            header = bytes(view[:8])
        """
        if self._closed:
            raise HandleClosed("recv on a closed BytesReceiver")
        self._drop_held()
        st = self._st
        while True:
            view = self._take()
            if view is not None:
                return view
            if self._closed or st.senders == 0:
                return self._empty()
            rx = st.rx
            fut = rx.prepare()
            # Look again now that producers can see this task parked.
            if st.head != st.tail or st.senders == 0 or self._closed:
                rx.drop(fut)
                continue
            try:
                await fut
            except BaseException:
                rx.drop(fut)
                raise

    def release(self) -> None:
        """Give the held message's space back to producers and release its view (stale use
        raises ``ValueError``). Nothing held: does nothing. ``BufferError`` if a buffer
        exported from the view is alive (the message stays held).

        Example::

            view = rx.try_recv()
            out.write(view)
            rx.release()
        """
        self._drop_held()

    def close(self) -> None:
        """Close the receiver: the held view is released, committed messages are discarded,
        every claim and send (parked or later, on any thread) raises :class:`ReceiverGone`,
        parked ``recv`` calls raise :class:`HandleClosed`. A second ``close()`` raises
        :class:`HandleClosed`.

        Example::

            tx, rx = mpsc_bytes(4096)
            rx.close()
        """
        if self._closed:
            raise HandleClosed("BytesReceiver.close() on a closed BytesReceiver")
        self._release()

    def _release(self) -> None:
        self._closed = True
        view = self._view
        self._view = None
        if view is not None:
            try:
                view.release()
            except BufferError:
                pass
        self._st.drop_receiver()

    @property
    def closed(self) -> bool:
        """Whether this handle was closed."""
        return self._closed

    @property
    def capacity(self) -> int:
        """The ring's size in bytes."""
        return self._st.size

    @property
    def max_message(self) -> int:
        """The largest message (bytes): the ring's size minus the 8-byte header."""
        return self._st.size - 8

    def statistics(self) -> ChannelStatistics:
        """A snapshot of the channel (see the module docstring for the byte channels' terms)."""
        return self._st.stats()

    def __len__(self) -> int:
        st = self._st
        return st.committed - st.taken

    def __aiter__(self) -> BytesReceiver:
        return self

    async def __anext__(self) -> memoryview:
        if not self._closed:  # without a second coroutine when a message is ready
            self._drop_held()
            view = self._take()
            if view is not None:
                return view
        try:
            return await self.recv()
        except EndOfChannel:
            raise StopAsyncIteration from None

    def __enter__(self) -> BytesReceiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._closed:
            self._release()

    def __del__(self) -> None:
        try:
            closed = self._closed
        except AttributeError:
            return
        if not closed:
            self._release()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        st = self._st
        return (f"<BytesReceiver {state} buffered={st.committed - st.taken} "
                f"used_bytes={st.tail - st.head} capacity={st.size}>")


def _make(capacity_bytes: object, single: bool, name: str) -> tuple[BytesSender, BytesReceiver]:
    _check_size(capacity_bytes, "capacity_bytes")
    if capacity_bytes < _MIN_CAPACITY:  # type: ignore[operator]
        raise ValueError(
            f"capacity_bytes must be >= {_MIN_CAPACITY} (an 8-byte header and 8 bytes of "
            f"payload), got {capacity_bytes}; {name} rings are always bounded"
        )
    size = (capacity_bytes + 7) & ~7  # type: ignore[operator]
    state = _Shared(size, single)
    return BytesSender(state), BytesReceiver(state)


def spsc_bytes(capacity_bytes: int) -> tuple[BytesSender, BytesReceiver]:
    """A byte-message channel from one producer (any thread, one at a time; no ``clone()``)
    to tasks of one event loop, through a ring of ``capacity_bytes`` (rounded up to a multiple
    of 8) allocated once. Messages up to ``capacity - 8`` bytes; no allocation per message.

    Example::

        tx, rx = spsc_bytes(1 << 20)
        def produce() -> None:
            with tx:
                for i in range(100):
                    view = tx.claim_blocking(4)
                    view[:] = i.to_bytes(4, "little")
                    tx.commit()
        threading.Thread(target=produce).start()
        async for view in rx:
            print(int.from_bytes(view, "little"))
    """
    return _make(capacity_bytes, True, "spsc_bytes")


def mpsc_bytes(capacity_bytes: int) -> tuple[BytesSender, BytesReceiver]:
    """Like :func:`spsc_bytes` for producers on any thread: ``clone()`` the sender for each.
    A producer lock is held by a sender from its claim to its commit (keep fills short).

    Example::

        tx, rx = mpsc_bytes(1 << 20)
        for n in range(4):
            threading.Thread(target=produce, args=(tx.clone(),)).start()
        tx.close()
        async for view in rx:
            handle(view)
    """
    return _make(capacity_bytes, False, "mpsc_bytes")
