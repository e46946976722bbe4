# cython: cdivision=True
"""The timer store of the loop: a hierarchical timer wheel with an exact "near" heap.

A Discussion About Time
=======================

asyncio keeps its timers in a binary heap: O(log n) to schedule, and a cancelled timer stays in
the heap until it reaches the top or until cancelled timers make up half of the heap, when the
heap is rebuilt. Under the common pattern "arm a timeout, then cancel it because the operation
finished first" most of the heap is garbage, and every schedule pays log of the garbage too.

This module stores timers in a hierarchical wheel, as the Linux kernel and tokio do:

* Time is counted in **ticks** of ``resolution`` seconds (1 ms by default) since the wheel was
  created: ``tick(t) = floor((t - origin) / resolution)``. The wheel's ``_elapsed`` is the last
  tick it has processed.
* **Level** ``k`` (``k = 0..5``) has 64 slots, each spanning ``64**k`` ticks: level 0 covers the
  next 64 ms one millisecond per slot, level 1 the next 4 s, level 2 4.4 min, level 3 4.7 h,
  level 4 12.4 days and level 5 2.2 years. A timer goes to the level given by the highest 6-bit
  group in which its tick differs from ``_elapsed`` (one XOR and one count-leading-zeros), into the
  slot its tick has in that group. Six levels of 64 are the same shape as tokio's wheel: the
  64 slots of a level fit one machine word of "occupied" bits, and six levels reach past any
  timeout a program sets in practice.
* Deadlines more than 2**36 ticks away (over two years at 1 ms) wait in an **overflow** list,
  re-examined when time enters their top-level block; deadlines that no tick can ever reach
  (``inf``, or beyond 2**62 ticks) sit in a **never** list and never fire.
* Each slot is a plain list of handles. The handle records the list and its index
  (``_bucket``/``_pos``), so cancelling is an O(1) swap-remove: the last element moves into the
  hole. A cancelled timer leaves nothing behind (no tombstone, no sweep, no growth).
* Advancing time visits only *occupied* slots, in order, found with one bitmap per level
  (count-trailing-zeros finds the next occupied slot: every occupied slot of a level lies ahead of
  the current position in the same rotation, so the lowest set bit is the next one). Reaching a
  slot of level ``k > 0`` cascades its timers to lower levels; reaching a level-0 slot moves its
  timers into the **near heap**.
* The near heap is a binary min-heap keyed by ``(when, seq)`` holding only timers whose tick has
  been reached. ``pop_expired(now)`` returns exactly the timers with ``when <= now``, compared as
  floats: a tick is only a coarse bucket, and a slot's timers straddle ``now`` within it, so the
  final decision is made on the real deadlines. Timers therefore **never fire early**, whatever
  the resolution, and equal deadlines fire in insertion order (``seq``).
* A level-0 slot whose tick is before the tick of ``now`` is wholly due (``tick(when) <
  tick(now)`` implies ``when < now``, the tick function being monotonic). When the loop falls
  behind - an iteration busy for several milliseconds while it schedules thousands of timers -
  such slots skip the heap: their ``(when, seq, handle)`` records are sorted in C and appended in
  order. Slots are visited in tick order and ticks order deadlines, so the output stays globally
  sorted, and the heap keeps to one tick's worth of timers instead of the whole backlog.

Why the near heap removes instead of marking: a timer cancelled while in the near heap is
removed at once (O(log k)), rather than marked and skipped later. Either way the timer must
leave the heap once, so the total work is the same, and real removal keeps the invariant that a
detached handle is referenced by nothing in the wheel (a handle can be re-inserted safely). The
bound: ``k`` is the number of timers due by the end of the current tick - those fall due within
``resolution`` of ``now`` - plus timers inserted with deadlines already in the past, which the
next ``pop_expired`` returns. Everywhere else (levels, overflow) cancel is O(1).

The resolution is a pure performance knob, never a correctness one. Finer ticks mean more
cascades per timer (one per level crossed, ``log64(delay / resolution)``); coarser ticks mean
bigger near heaps. 1 ms matches the granularity of ``epoll_wait``'s timeout, so a finer tick could
not make the loop wake more precisely anyway.

Invariant that makes O(1) cancel possible: ``_elapsed`` never moves past the start of an occupied
slot that has not been processed. Hence a stored timer's level relative to the current
``_elapsed`` is still the level it was stored at, and the slot of a bucket that becomes empty can
be recomputed from the timer's deadline to clear its bitmap bit (checked by identity, so a
deadline mutated behind the wheel's back cannot corrupt another slot). To move a timer, unlink
it, change ``_when``, insert it again (``insert`` of a stored timer does the unlink itself).

With a million pending timers the cost is memory, not arithmetic: a cascade touches handles
scattered over a few hundred megabytes. Compiled, the slot walks prefetch a few handles ahead and
move the slot's references instead of copying and then dropping them.

``next_deadline()`` returns a lower bound of the earliest pending deadline: exact when the near
heap is non-empty or when the earliest occupied slot holds a few timers (scanned), otherwise
the start of that slot. The loop then wakes at most once per level the earliest timer still has to
cascade through.

The same source runs as plain Python (``NEXUSLOOP_NO_EXTENSIONS=1``) and compiled by Cython with
the types of ``_wheel.pxd`` (64-bit bitmaps, ``__builtin_ctzll``/``__builtin_clzll``).
"""
from __future__ import annotations

from operator import attrgetter
from typing import Any

try:
    import cython
except ImportError:  # pragma: no cover - exercised on machines without Cython
    from nexusloop._core import _cyshim as cython  # type: ignore[no-redef]

from nexusloop._core._handles import TimerHandle, WheelBase

__all__ = ["TimerWheel"]

#: Levels of the wheel and slots per level (64 = one bit per slot in a 64-bit word).
_LEVELS = 6
_SLOT_BITS = 6
_SLOTS = 64
_SLOT_MASK = 63
#: Ticks spanned by the whole wheel, as a shift: 6 levels * 6 bits.
_WHEEL_BITS = 36
#: Deadlines at or beyond this many ticks (and inf) can never be reached: they never fire.
_TICK_LIMIT = 4611686018427387904.0  # 2.0 ** 62
#: A timer count above which next_deadline() does not scan a slot for its exact minimum.
_SCAN_LIMIT = 16
#: The constant 1 as an unsigned 64-bit integer when compiled (for bit shifts up to 63).
_ONE = 1
_INF = float("inf")
_SORT_KEY = attrgetter("_when", "_seq")
#: How many handles ahead a slot walk prefetches (compiled mode).
_PREFETCH = 4


def _ctz64(x: int) -> int:
    """Index of the lowest set bit of a non-zero 64-bit mask."""
    if cython.compiled:
        return __builtin_ctzll(x)  # type: ignore[name-defined]  # noqa: F821 (.pxd)
    return (x & -x).bit_length() - 1


def _level_for(elapsed: int, tick: int) -> int:
    """Level of a tick ahead of ``elapsed``: highest 6-bit group in which they differ."""
    masked = (elapsed ^ tick) | _SLOT_MASK
    if cython.compiled:
        return (63 - __builtin_clzll(masked)) // _SLOT_BITS  # type: ignore[name-defined]  # noqa: F821
    return (masked.bit_length() - 1) // _SLOT_BITS


class TimerWheel(WheelBase):
    """Hierarchical timer wheel storing the loop's :class:`TimerHandle` objects.

    ``now`` is the current ``loop.time()``; ``resolution`` the tick length in seconds.

    >>> wheel = TimerWheel(now=100.0)
    >>> # wheel.insert(timer); wheel.next_deadline(); wheel.pop_expired(loop.time(), out)
    """

    def __init__(self, now: float, resolution: float = 0.001) -> None:
        if not (resolution > 0.0 and resolution < _INF):
            raise ValueError(f"resolution must be a positive finite number, got {resolution!r}")
        if not (now > -_INF and now < _INF):
            raise ValueError(f"now must be finite, got {now!r}")
        self._origin = now
        self._res = resolution
        self._inv_res = 1.0 / resolution
        self._elapsed = 0
        self._seq = 0
        self._count = 0
        self._cancelled_count = 0
        self._slots: list[list[TimerHandle]] = [[] for _ in range(_LEVELS * _SLOTS)]
        self._near: list[TimerHandle] = []
        self._overflow: list[TimerHandle] = []
        self._never: list[TimerHandle] = []
        if cython.compiled:
            for i in range(_LEVELS):
                self._bitmap[i] = 0
        else:
            self._bitmap: list[int] = [0] * _LEVELS

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return (
            f"<TimerWheel pending={self._count} near={len(self._near)} "
            f"overflow={len(self._overflow)} never={len(self._never)} "
            f"resolution={self._res}>"
        )

    # -- scheduling -------------------------------------------------------------------------

    def insert(self, timer: TimerHandle) -> None:
        """Schedule ``timer`` at ``timer._when`` (O(1); re-inserting a stored timer moves it)."""
        if timer._wheel is not None:
            timer._wheel._unlink(timer)
        timer._seq = self._seq
        self._seq += 1
        timer._wheel = self
        timer._scheduled = True
        if cython.compiled:
            _gc_untrack(timer)  # type: ignore[name-defined]  # noqa: F821
        self._count += 1
        x = (timer._when - self._origin) * self._inv_res
        elapsed = self._elapsed
        if x < elapsed + 1:
            # Its tick has been reached already: only the exact comparison remains.
            self._push_near(timer)
            return
        if not x < _TICK_LIMIT:
            bucket = self._never
        else:
            # _place() inlined: this is the call_later path.
            if cython.compiled:
                tick = cython.cast(cython.longlong, x)
            else:
                tick = int(x)
            masked = tick ^ elapsed
            if masked >> _WHEEL_BITS:
                bucket = self._overflow
            else:
                if cython.compiled:
                    level = _level_for(elapsed, tick)
                else:
                    level = ((masked | _SLOT_MASK).bit_length() - 1) // _SLOT_BITS
                slot = (tick >> (level * _SLOT_BITS)) & _SLOT_MASK
                bucket = self._slots[level * _SLOTS + slot]
                self._bitmap[level] |= _ONE << slot
        timer._bucket = bucket
        timer._pos = len(bucket)
        bucket.append(timer)

    def _place(self, timer: TimerHandle, tick: int) -> int:
        """Store a timer whose tick is known, relative to the current ``_elapsed``."""
        elapsed = self._elapsed
        if tick <= elapsed:
            self._push_near(timer)
            return 0
        if (tick ^ elapsed) >> _WHEEL_BITS:
            bucket = self._overflow
        else:
            if cython.compiled:
                level = _level_for(elapsed, tick)
            else:
                level = (((tick ^ elapsed) | _SLOT_MASK).bit_length() - 1) // _SLOT_BITS
            slot = (tick >> (level * _SLOT_BITS)) & _SLOT_MASK
            bucket = self._slots[level * _SLOTS + slot]
            self._bitmap[level] |= _ONE << slot
        timer._bucket = bucket
        timer._pos = len(bucket)
        bucket.append(timer)
        return 0

    def _unlink(self, timer: TimerHandle) -> None:
        """Remove a stored timer in O(1) (O(log k) in the near heap); no trace is left."""
        bucket = timer._bucket
        if bucket is None:
            return
        pos = timer._pos
        if bucket is self._near:
            self._heap_remove(pos)
        else:
            last = bucket.pop()
            if last is not timer:
                bucket[pos] = last
                last._pos = pos
            elif not bucket and bucket is not self._overflow and bucket is not self._never:
                self._clear_slot_bit(timer, bucket)
        timer._bucket = None
        timer._wheel = None
        if cython.compiled:
            _gc_track(timer)  # type: ignore[name-defined]  # noqa: F821
        timer._scheduled = False
        self._count -= 1
        self._cancelled_count += 1

    def _clear_slot_bit(self, timer: TimerHandle, bucket: list) -> int:
        """A level bucket became empty: clear its bit in the level's bitmap."""
        x = (timer._when - self._origin) * self._inv_res
        if cython.compiled:
            tick = cython.cast(cython.longlong, x)
        else:
            tick = int(x)
        level = _level_for(self._elapsed, tick)
        if level < _LEVELS:
            slot = (tick >> (level * _SLOT_BITS)) & _SLOT_MASK
            if self._slots[level * _SLOTS + slot] is bucket:
                self._bitmap[level] &= ~(_ONE << slot)
                return 0
        # The deadline was changed while stored; find the bucket by identity (rare path).
        for index in range(_LEVELS * _SLOTS):
            if self._slots[index] is bucket:
                level = index // _SLOTS
                self._bitmap[level] &= ~(_ONE << (index % _SLOTS))
                return 0
        return 0

    # -- time -------------------------------------------------------------------------------

    def next_deadline(self) -> float:
        """Lower bound of the earliest pending deadline (``inf`` when nothing can fire)."""
        if self._near:
            first = self._near[0]
            return first._when
        level = 0
        while level < _LEVELS:
            bm = self._bitmap[level]
            if bm:
                if cython.compiled:
                    slot = _ctz64(bm)
                else:
                    slot = (bm & -bm).bit_length() - 1
                shift = level * _SLOT_BITS
                start = ((self._elapsed >> (shift + _SLOT_BITS)) << (shift + _SLOT_BITS)) | (
                    slot << shift
                )
                bucket = self._slots[level * _SLOTS + slot]
                if len(bucket) <= _SCAN_LIMIT:
                    # The earliest timer of all is in this slot: report it exactly.
                    return self._min_when(bucket)
                return self._tick_time(start)
            level += 1
        if self._overflow:
            if len(self._overflow) <= _SCAN_LIMIT:
                return self._min_when(self._overflow)
            start = ((self._elapsed >> _WHEEL_BITS) + 1) << _WHEEL_BITS
            return self._tick_time(start)
        return _INF

    def _min_when(self, bucket: list) -> float:
        best = _INF
        for item in bucket:
            timer = item
            when = timer._when
            best = min(best, when)
        return best

    def _tick_time(self, tick: int) -> float:
        """A time no later than the start of ``tick`` (a margin absorbs float rounding)."""
        return self._origin + (tick - 0.001) * self._res

    def pop_expired(self, now: float, out: list) -> int:
        """Append the timers with ``when <= now`` to ``out`` in (when, seq) order; count them."""
        x = (now - self._origin) * self._inv_res
        near = self._near
        count = 0
        if x >= self._elapsed + 1:
            if x < _TICK_LIMIT:
                if cython.compiled:
                    target = cython.cast(cython.longlong, x)
                else:
                    target = int(x)
            else:
                target = 4611686018427387903  # 2**62 - 1: the never list stays put
            count += self._advance(target, out)
        while near:
            timer = near[0]
            if not timer._when <= now:
                break
            self._take_near_top(out)
            count += 1
        self._count -= count
        return count

    def _advance(self, target: int, out: list) -> int:
        """Process every occupied slot starting at or before tick ``target``, in order.

        Level-0 slots before ``target`` are wholly due: their timers go straight to ``out``,
        sorted (the number is returned). The slot of ``target`` itself goes to the near heap.
        """
        emitted = 0
        while True:
            level = 0
            while level < _LEVELS and not self._bitmap[level]:
                level += 1
            if level == _LEVELS:
                if self._overflow and self._advance_overflow(target):
                    continue
                break
            bm = self._bitmap[level]
            if cython.compiled:
                slot = _ctz64(bm)
            else:
                slot = (bm & -bm).bit_length() - 1
            shift = level * _SLOT_BITS
            start = ((self._elapsed >> (shift + _SLOT_BITS)) << (shift + _SLOT_BITS)) | (
                slot << shift
            )
            if start > target:
                break
            self._bitmap[level] = bm & (bm - 1)
            self._elapsed = start
            bucket = self._slots[level * _SLOTS + slot]
            # The handles of a slot lie scattered in memory; with many pending timers each one
            # is a cache miss. Compiled, fetch a few ahead of the one being moved, and take the
            # slot's reference to it over (no second pass touching every handle to decref it).
            size = len(bucket)
            if level == 0 and start < target:
                # The near heap holds ticks before this slot (up to the old _elapsed, or
                # cascaded at an earlier slot start): all due, and all earlier than this slot.
                if self._near:
                    emitted += self._flush_near(out)
                emitted += self._emit_sorted(bucket, out)
            elif level == 0:
                for i in range(size):
                    if cython.compiled and i + _PREFETCH < size:
                        _prefetch_item(bucket, i + _PREFETCH)  # type: ignore[name-defined]  # noqa: F821 (.pxd)
                    if cython.compiled:
                        item = _list_take(bucket, i)  # type: ignore[name-defined]  # noqa: F821 (.pxd)
                    else:
                        item = bucket[i]
                    self._push_near(item)
            else:
                origin = self._origin
                inv_res = self._inv_res
                for i in range(size):
                    if cython.compiled and i + _PREFETCH < size:
                        _prefetch_item(bucket, i + _PREFETCH)  # type: ignore[name-defined]  # noqa: F821 (.pxd)
                    if cython.compiled:
                        item = _list_take(bucket, i)  # type: ignore[name-defined]  # noqa: F821 (.pxd)
                    else:
                        item = bucket[i]
                    timer = item
                    x = (timer._when - origin) * inv_res
                    if cython.compiled:
                        tick = cython.cast(cython.longlong, x)
                    else:
                        tick = int(x)
                    self._place(timer, tick)
            del bucket[:]
        self._elapsed = max(self._elapsed, target)
        return emitted

    def _flush_near(self, out: list) -> int:
        """Move the whole near heap to ``out`` in (when, seq) order."""
        near = self._near
        count = 0
        while near:
            self._take_near_top(out)
            count += 1
        return count

    def _take_near_top(self, out: list) -> None:
        """Pop the earliest timer of the (non-empty) near heap, detach it, append it to ``out``."""
        near = self._near
        timer = near[0]
        last = near.pop()
        if near:
            self._sift_down(last, 0)
        timer._bucket = None
        timer._wheel = None
        if cython.compiled:
            _gc_track(timer)  # type: ignore[name-defined]  # noqa: F821
        timer._scheduled = False
        out.append(timer)

    def _emit_sorted(self, bucket: list, out: list) -> int:
        """Detach a due slot's timers and append them to ``out`` in (when, seq) order."""
        size = len(bucket)
        if size == 0:
            return 0
        if size == 1:
            timer = bucket[0]
            timer._bucket = None
            timer._wheel = None
            if cython.compiled:
                _gc_track(timer)  # type: ignore[name-defined]  # noqa: F821
            timer._scheduled = False
            out.append(timer)
        elif cython.compiled:
            # Sort (when, seq, pointer) records in C: no key tuple per timer, and the sort
            # touches the records rather than the scattered handles.
            entries = cython.cast(
                cython.pointer(_Entry),  # type: ignore[name-defined]  # noqa: F821 (.pxd)
                PyMem_Malloc(size * cython.sizeof(_Entry)),  # type: ignore[name-defined]  # noqa: F821
            )
            if not entries:
                raise MemoryError()
            try:
                for i in range(size):
                    if i + _PREFETCH < size:
                        _prefetch_item(bucket, i + _PREFETCH)  # type: ignore[name-defined]  # noqa: F821
                    timer = bucket[i]
                    entries[i].when = timer._when
                    entries[i].seq = timer._seq
                    entries[i].obj = cython.cast(cython.pointer(PyObject), timer)  # type: ignore[name-defined]  # noqa: F821
                # The bucket keeps every handle alive until it is cleared below.
                _sort_entries(entries, size)  # type: ignore[name-defined]  # noqa: F821
                for i in range(size):
                    timer = cython.cast(TimerHandle, entries[i].obj)
                    timer._bucket = None
                    timer._wheel = None
                    if cython.compiled:
                        _gc_track(timer)  # type: ignore[name-defined]  # noqa: F821
                    timer._scheduled = False
                    out.append(timer)
            finally:
                PyMem_Free(entries)  # type: ignore[name-defined]  # noqa: F821
        else:
            bucket.sort(key=_SORT_KEY)
            for item in bucket:
                timer = item
                timer._bucket = None
                timer._wheel = None
                if cython.compiled:
                    _gc_track(timer)  # type: ignore[name-defined]  # noqa: F821
                timer._scheduled = False
            out.extend(bucket)
        del bucket[:]
        return size

    def _advance_overflow(self, target: int) -> bool:
        """The levels are empty: enter the top-level block of the earliest overflow timer.

        Returns whether time moved (then the caller looks at the levels again).
        """
        origin = self._origin
        inv_res = self._inv_res
        first = -1
        for item in self._overflow:
            timer = item
            x = (timer._when - origin) * inv_res
            if cython.compiled:
                tick = cython.cast(cython.longlong, x)
            else:
                tick = int(x)
            if first < 0 or tick < first:
                first = tick
        start = (first >> _WHEEL_BITS) << _WHEEL_BITS
        if start > target:
            return False
        self._elapsed = start
        pending = self._overflow
        self._overflow = []
        for item in pending:
            timer = item
            x = (timer._when - origin) * inv_res
            if cython.compiled:
                tick = cython.cast(cython.longlong, x)
            else:
                tick = int(x)
            self._place(timer, tick)
        return True

    # -- the near heap: min-heap on (when, seq), positions kept in the handles ----------------

    def _push_near(self, timer: TimerHandle) -> int:
        near = self._near
        timer._bucket = near
        near.append(timer)
        self._sift_up(timer, len(near) - 1)
        return 0

    def _sift_up(self, timer: TimerHandle, pos: int) -> int:
        near = self._near
        when = timer._when
        seq = timer._seq
        while pos > 0:
            parent_pos = (pos - 1) >> 1
            parent = near[parent_pos]
            if when < parent._when or (when == parent._when and seq < parent._seq):
                near[pos] = parent
                parent._pos = pos
                pos = parent_pos
            else:
                break
        near[pos] = timer
        timer._pos = pos
        return 0

    def _sift_down(self, timer: TimerHandle, pos: int) -> int:
        near = self._near
        size = len(near)
        when = timer._when
        seq = timer._seq
        child_pos = 2 * pos + 1
        while child_pos < size:
            child = near[child_pos]
            right_pos = child_pos + 1
            if right_pos < size:
                right = near[right_pos]
                if right._when < child._when or (
                    right._when == child._when and right._seq < child._seq
                ):
                    child = right
                    child_pos = right_pos
            if child._when < when or (child._when == when and child._seq < seq):
                near[pos] = child
                child._pos = pos
                pos = child_pos
                child_pos = 2 * pos + 1
            else:
                break
        near[pos] = timer
        timer._pos = pos
        return 0

    def _heap_remove(self, pos: int) -> int:
        near = self._near
        last = near.pop()
        if pos < len(near):
            # ``last`` fills the hole; it may belong above or below it.
            parent_pos = (pos - 1) >> 1
            if pos > 0:
                parent = near[parent_pos]
                if last._when < parent._when or (
                    last._when == parent._when and last._seq < parent._seq
                ):
                    self._sift_up(last, pos)
                    return 0
            self._sift_down(last, pos)
        return 0

    # -- shutdown and introspection ---------------------------------------------------------

    def clear(self) -> list:
        """Detach every scheduled timer and return them (in no particular order)."""
        timers: list = []
        timers.extend(self._near)
        self._near = []
        for index in range(_LEVELS * _SLOTS):
            bucket = self._slots[index]
            if bucket:
                timers.extend(bucket)
                self._slots[index] = []
        for level in range(_LEVELS):
            self._bitmap[level] = 0
        timers.extend(self._overflow)
        self._overflow = []
        timers.extend(self._never)
        self._never = []
        for item in timers:
            timer = item
            timer._bucket = None
            timer._wheel = None
            if cython.compiled:
                _gc_track(timer)  # type: ignore[name-defined]  # noqa: F821
            timer._scheduled = False
        self._count = 0
        return timers

    def _check_invariants(self) -> None:
        """Verify the internal structure (tests call this after every step)."""
        seen = 0
        origin = self._origin
        inv_res = self._inv_res
        elapsed = self._elapsed
        near = self._near
        for pos, item in enumerate(near):
            timer: Any = item
            assert timer._bucket is near and timer._pos == pos and timer._wheel is self
            assert timer._scheduled
            assert int((timer._when - origin) * inv_res) <= elapsed or (
                (timer._when - origin) * inv_res < elapsed + 1
            )
            if pos:
                parent: Any = near[(pos - 1) >> 1]
                assert (parent._when, parent._seq) <= (timer._when, timer._seq)
            seen += 1
        for index in range(_LEVELS * _SLOTS):
            level, slot = divmod(index, _SLOTS)
            bucket = self._slots[index]
            occupied = bool(int(self._bitmap[level]) >> slot & 1)
            assert occupied == bool(bucket), (level, slot)
            for pos, item in enumerate(bucket):
                timer = item
                assert timer._bucket is bucket and timer._pos == pos and timer._wheel is self
                tick = int((timer._when - origin) * inv_res)
                assert tick > elapsed
                assert _level_for(elapsed, tick) == level
                assert (tick >> (level * _SLOT_BITS)) & _SLOT_MASK == slot
                seen += 1
        for bucket in (self._overflow, self._never):
            for pos, item in enumerate(bucket):
                timer = item
                assert timer._bucket is bucket and timer._pos == pos and timer._wheel is self
                seen += 1
        for item in self._overflow:
            tick = int((item._when - origin) * inv_res)
            assert (tick ^ elapsed) >> _WHEEL_BITS and tick > elapsed
        assert seen == self._count, (seen, self._count)


if cython.compiled:
    _install_traverse(TimerWheel, _visit_pending)  # type: ignore[name-defined]  # noqa: F821
