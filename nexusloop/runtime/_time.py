"""Time for tasks: sleeps, timeouts, intervals, the tick's time and yielding.

A Discussion About Time
=======================

**One clock.** Every function here speaks the loop's clock: ``loop.time()`` seconds, as floats,
and every deadline is an absolute value of that clock (``sleep_until(loop.time() + 5)``). It is
the clock ``call_at`` uses, so deadlines mix freely with asyncio's own (``asyncio.timeout_at``,
``loop.call_at``) and with virtual time (``nexusloop.testing.VirtualClock`` moves exactly this
clock).

**One timer store.** Nothing here keeps timers of its own: every wait is a future and a
``loop.call_at`` handle that is cancelled when the wait ends, however it ends. On nexusloop that
handle lives in the loop's hierarchical timer wheel (``nexusloop/_core/_wheel.py``): O(1) to arm
and to cancel, and a cancelled wait leaves nothing behind. On any other loop the very same code
runs on that loop's ``call_at``: this is the fallback, and it has the same meaning, because it
*is* the same code over asyncio's public loop API.

**Never early.** A wait for ``when`` ends when ``loop.time() >= when``, never before. nexusloop's
wheel gives that for free (it compares real deadlines with the tick's time before firing).
Other loops only promise it "within the clock's resolution" (stock asyncio fires timers up to
its clock resolution early, uvloop rounds to milliseconds), so on them a wait that wakes early
reads the clock and waits again for the remainder.

**Bad input.** Durations and deadlines are real numbers (``int``, ``float`` or any
``numbers.Real``); anything else is a ``TypeError``. NaN is a ``ValueError`` everywhere, with the
message Python 3.13's ``asyncio.sleep`` uses ("Invalid delay: NaN (not a number)"), because NaN
compares false with everything and would otherwise mean "never" on one loop and "now" on
another. Infinity is allowed where asyncio allows it (``sleep(inf)`` sleeps forever).

sleep, sleep_until, yield_now
-----------------------------
``sleep(delay, result)`` is ``asyncio.sleep`` (a ``delay <= 0`` yields once and returns);
``sleep_until(deadline, result)`` is the same with an absolute deadline. ``yield_now()`` gives the
loop one turn: it returns an awaitable whose iterator yields ``None`` once. A task that sees a
bare ``None`` yield reschedules its next step with ``call_soon`` and returns to the loop, exactly
what ``asyncio.sleep(0)`` achieves, minus the two coroutine objects (``sleep`` and its inner
``__sleep0`` generator) that ``sleep(0)`` creates per call; compiled, the awaitable comes from a
freelist. It is an awaitable, not a coroutine: ``await yield_now()`` anywhere, but
``asyncio.create_task(yield_now())`` is refused as for any non-coroutine (there is nothing to run
as a task anyway).

timeout, timeout_at
-------------------
These return asyncio's own ``asyncio.Timeout`` (``asyncio.timeout`` / ``asyncio.timeout_at``),
so ``TimeoutError``, ``reschedule()``, ``expired()`` and the ``uncancel`` bookkeeping that makes
timeouts nest with each other, with ``TaskGroup`` and with an outer ``cancel()`` are asyncio's
code, not a copy. What is added is validation up front: NaN and non-numbers are refused when the
context manager is made, not when the timer is armed. The timer goes through ``loop.call_at``,
which is the wheel on nexusloop. (``reschedule(nan)`` is asyncio's method: nexusloop's
``call_at`` refuses NaN with ``ValueError``; stock asyncio accepts it.)

Intervals
---------
An :class:`Interval` produces the deadlines ``start, start + period, start + 2*period, ...``
(tokio's ``Interval``). Four decisions shape it:

* **No drift.** The k-th deadline is computed as ``anchor + k * period`` by one multiplication,
  never by adding ``period`` to the previous deadline: a sum of floats accumulates rounding
  (0.1 added 10,000 times is not 1000.0), a product does not. The anchor moves only when the
  missed-tick policy says so (``delay``) or on ``reset()``.
* **What a tick returns.** ``await iv.tick()`` returns the *deadline* of the tick that fired
  (a loop time), not the time it fired: the deadline is the schedule, and ``event_time()`` or
  ``loop.time()`` tell the lateness if it matters.
* **Missed ticks.** A consumer that is busy for longer than a period misses ticks. What happens
  next is the interval's ``missed_tick`` policy, exactly tokio's ``MissedTickBehavior``: a tick
  taken at time ``now`` more than 5 ms after its deadline (tokio's tolerance: a tick that is
  merely a little late is not "missed") schedules the next deadline as

  - ``burst`` (the default): the next one on the original schedule, ``deadline + period``;
    missed ticks then fire at once, one per ``tick()``, until the interval has caught up;
  - ``delay``: ``now + period``: the schedule restarts from the late tick;
  - ``skip``: the first ``anchor + k * period`` strictly after ``now``: missed ticks are dropped
    and the schedule stays on its grid.

  A tick taken within the tolerance always schedules ``deadline + period``. ``now`` is the
  tick's time when the wait ends: ``event_time()`` on nexusloop (no clock read), ``loop.time()``
  elsewhere.
* **Every tick goes through the loop.** When the deadline has already passed, ``tick()`` still
  yields once (like ``sleep(0)``) before returning. A Python consumer that is always behind a
  ``burst`` interval would otherwise never give the loop a turn; tokio has a cooperative budget
  for this, asyncio does not. It also makes ``tick()`` a cancellation point, always.

``tick()`` is cancellation-safe (tokio's guarantee): a ``tick()`` cancelled before it returns
consumes nothing, so ``asyncio.timeout`` around it, or ``asyncio.wait`` with other awaitables,
loses no tick. One task waits on an interval at a time (a second concurrent ``tick()`` raises
``RuntimeError``: two consumers of one schedule would each get half of it). ``reset()`` restarts
the schedule one period from now and re-times a ``tick()`` that is waiting. An interval belongs
to the loop that was running when it was made.

event_time
----------
``event_time()`` is the time nexusloop captured at the start of the current loop tick: no
clock read, and the same value for every callback of the tick (``LoopCore._event_time``). Two
timestamps taken in one tick compare equal, which is what an event handler stamping messages
wants. On another loop it is ``loop.time()``; outside a running loop, ``RuntimeError`` as
``asyncio.get_running_loop()`` raises.
"""
from __future__ import annotations

import asyncio
import enum
import math
import numbers
from collections.abc import Awaitable
from typing import Any, Literal, TypeAlias, TypeVar, overload

try:
    import cython
except ImportError:  # pragma: no cover
    from nexusloop._core import _cyshim as cython

from nexusloop import _compat
from nexusloop._core._loopcore import LoopCore

__all__ = [
    "Interval",
    "MissedTick",
    "MissedTickBehavior",
    "event_time",
    "interval",
    "interval_at",
    "sleep",
    "sleep_until",
    "timeout",
    "timeout_at",
    "yield_now",
]

_T = TypeVar("_T")

_get_running_loop = asyncio.get_running_loop
_get_running_loop_or_none = _compat.get_running_loop_or_none
_Real = numbers.Real
_floor = math.floor
_asyncio_timeout = asyncio.timeout
_asyncio_timeout_at = asyncio.timeout_at

# Policy codes (the enum is for users; the tick compares ints).
_BURST = 0
_DELAY = 1
_SKIP = 2
# tokio's rule: a tick taken later than this after its deadline has been missed.
_MISSED_TICK_TOLERANCE = 0.005
# Beyond 2**52 ticks from its anchor, adding 1 to a float tick index no longer counts: re-anchor.
_INDEX_LIMIT = 4503599627370496.0


class MissedTickBehavior(enum.StrEnum):
    """What an :class:`Interval` does after missing ticks (tokio's ``MissedTickBehavior``).

    Members are strings, so ``"skip"`` and ``MissedTickBehavior.SKIP`` are interchangeable.

    Example::

        iv = nexusloop.time.interval(1.0, missed_tick=MissedTickBehavior.SKIP)
        assert iv.missed_tick == "skip"
    """

    #: Fire the missed ticks at once, one per ``tick()``, until caught up (the default).
    BURST = "burst"
    #: Restart the schedule one period after the late tick.
    DELAY = "delay"
    #: Drop the missed ticks; the next tick is the next one on the original grid.
    SKIP = "skip"


#: A missed-tick policy: the enum, or its value as a string.
MissedTick: TypeAlias = MissedTickBehavior | Literal["burst", "delay", "skip"]

_POLICY_CODES = {MissedTickBehavior.BURST: _BURST, MissedTickBehavior.DELAY: _DELAY,
                 MissedTickBehavior.SKIP: _SKIP}


# ----------------------------------------------------------------------------- validation

def _seconds(value: Any, what: str) -> float:
    """``value`` as float seconds: TypeError for a non-number, ValueError for NaN."""
    if type(value) is float:
        seconds = value
    elif isinstance(value, (int, float, _Real)):  # bool too: asyncio.sleep(True) is 1 s
        seconds = float(value)
    else:
        raise TypeError(
            f"{what} must be a number of seconds (int or float), not {type(value).__name__}"
        )
    if seconds != seconds:  # noqa: PLR0124 - the NaN test
        raise ValueError(f"Invalid {what}: NaN (not a number)")
    return seconds


def _policy(value: Any) -> MissedTickBehavior:
    if isinstance(value, MissedTickBehavior):
        return value
    if isinstance(value, str):
        try:
            return MissedTickBehavior(value)
        except ValueError:
            raise ValueError(
                f"missed_tick must be 'burst', 'delay' or 'skip', got {value!r}"
            ) from None
    raise TypeError(
        f"missed_tick must be a MissedTickBehavior or str, not {type(value).__name__}"
    )


# --------------------------------------------------------------------------- yield and sleep

@cython.freelist(64)
@cython.final
@cython.cclass
class _YieldNow:
    """The awaitable of :func:`yield_now` (and of ``sleep(0)``): its iterator yields ``None``
    once, which makes the awaiting task reschedule itself and return to the loop."""

    _yielded: bool

    def __await__(self) -> Any:
        self._yielded = False  # awaiting the object again yields again
        return self

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> None:
        if self._yielded:
            raise StopIteration
        self._yielded = True
        return None


def yield_now() -> Awaitable[None]:
    """Give the loop one turn: the current task is rescheduled behind the callbacks that are
    ready now, as ``await asyncio.sleep(0)`` does, and cheaper (no coroutine per call).

    Example::

        for i, item in enumerate(items):
            process(item)
            if i % 100 == 0:
                await nexusloop.time.yield_now()   # let I/O and other tasks run
    """
    return _YieldNow()


def _wake(future: Any) -> None:
    if not future.done():
        future.set_result(None)


async def _wait_until(loop: Any, when: float) -> None:
    """Wait on ``loop`` until ``loop.time() >= when`` (``when`` is in the future)."""
    core = isinstance(loop, LoopCore)
    while True:
        future = loop.create_future()
        handle = loop.call_at(when, _wake, future)
        try:
            await future
        finally:
            handle.cancel()
        # nexusloop's wheel never fires early; other loops may, by up to their resolution.
        if core or loop.time() >= when:
            return


@overload
async def sleep(delay: float) -> None: ...
@overload
async def sleep(delay: float, result: _T) -> _T: ...
async def sleep(delay: float, result: Any = None) -> Any:
    """Sleep ``delay`` seconds and return ``result``: ``asyncio.sleep`` on the loop's timers.

    ``delay <= 0`` yields to the loop once. NaN is a ``ValueError`` (as on Python 3.13), a
    non-number a ``TypeError``.

    Example::

        await nexusloop.time.sleep(0.5)
        value = await nexusloop.time.sleep(1, result="done")
    """
    seconds = _seconds(delay, "delay")
    if seconds <= 0:
        await _YieldNow()
        return result
    loop = _get_running_loop()
    await _wait_until(loop, loop.time() + seconds)
    return result


@overload
async def sleep_until(deadline: float) -> None: ...
@overload
async def sleep_until(deadline: float, result: _T) -> _T: ...
async def sleep_until(deadline: float, result: Any = None) -> Any:
    """Sleep until the loop time ``deadline`` (``loop.time()`` clock) and return ``result``.

    A deadline that has passed yields to the loop once, like ``sleep(0)``.

    Example::

        loop = asyncio.get_running_loop()
        start = loop.time()
        await nexusloop.time.sleep_until(start + 2.0)
        assert loop.time() >= start + 2.0
    """
    when = _seconds(deadline, "deadline")
    loop = _get_running_loop()
    if when <= loop.time():
        await _YieldNow()
        return result
    await _wait_until(loop, when)
    return result


# ----------------------------------------------------------------------------- timeouts

def timeout(delay: float | None) -> asyncio.Timeout:
    """``asyncio.timeout(delay)``, with NaN and non-numbers refused up front.

    Returns asyncio's own ``Timeout``: ``TimeoutError`` when the block overruns, ``when()``,
    ``reschedule()``, ``expired()``; ``None`` means no timeout. Needs a running loop.

    Example::

        async with nexusloop.time.timeout(2.0):
            await fetch()
    """
    if delay is None:
        return _asyncio_timeout(None)
    return _asyncio_timeout(_seconds(delay, "delay"))


def timeout_at(when: float | None) -> asyncio.Timeout:
    """``asyncio.timeout_at(when)`` (``when`` in the ``loop.time()`` clock), validated.

    Example::

        loop = asyncio.get_running_loop()
        async with nexusloop.time.timeout_at(loop.time() + 2.0):
            await fetch()
    """
    if when is None:
        return _asyncio_timeout_at(None)
    return _asyncio_timeout_at(_seconds(when, "deadline"))


# ----------------------------------------------------------------------------- event_time

def event_time() -> float:
    """The time captured at the start of the current loop tick (no clock read on nexusloop).

    Every callback and task step of one tick sees the same value; on a loop that is not
    nexusloop this is ``loop.time()``. ``RuntimeError`` outside a running loop.

    Example::

        stamp = nexusloop.time.event_time()   # cheap: no syscall
    """
    loop = _get_running_loop_or_none()
    if loop is None:
        raise RuntimeError("no running event loop")
    if isinstance(loop, LoopCore):
        core: LoopCore = loop
        return core._event_time
    return loop.time()  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- intervals

@cython.cclass
class Interval:
    """A schedule of deadlines ``start + k * period``, made by :func:`interval` or
    :func:`interval_at` (tokio's ``Interval``).

    ``await iv.tick()`` waits for the next deadline and returns it (a ``loop.time()`` value);
    ``async for deadline in iv`` does the same forever. What happens after missed ticks is
    :attr:`missed_tick` (see :class:`MissedTickBehavior`). ``tick()`` is cancellation-safe: if
    it is cancelled, no tick was consumed.

    Example::

        iv = nexusloop.time.interval(1.0, missed_tick="skip")
        async for deadline in iv:
            publish_snapshot(deadline)
    """

    # Declared for type checkers; compiled, the .pxd makes these C fields.
    _loop: Any
    _core: bool
    _period: float
    _anchor: float
    _index: float
    _deadline: float
    _policy: int
    _behavior: MissedTickBehavior
    _generation: int
    _waiting: bool
    _waiter: Any

    def __init__(self, start: float, period: float, *, missed_tick: MissedTick = "burst") -> None:
        first = _seconds(start, "start")
        seconds = _seconds(period, "period")
        if not seconds > 0:
            raise ValueError(f"the period of an interval must be > 0 seconds, got {period!r}")
        if seconds == math.inf:
            raise ValueError("the period of an interval must be finite, got inf")
        behavior = _policy(missed_tick)
        loop = _get_running_loop()
        self._loop = loop
        self._core = isinstance(loop, LoopCore)
        self._period = seconds
        self._anchor = first
        self._index = 0.0
        self._deadline = first
        self._behavior = behavior
        self._policy = _POLICY_CODES[behavior]
        self._generation = 0
        self._waiting = False
        self._waiter = None

    @property
    def period(self) -> float:
        """Seconds between two deadlines."""
        return self._period

    @property
    def missed_tick(self) -> MissedTickBehavior:
        """The missed-tick policy (settable, as tokio's ``set_missed_tick_behavior``)."""
        return self._behavior

    @missed_tick.setter
    def missed_tick(self, value: MissedTick) -> None:
        behavior = _policy(value)
        self._behavior = behavior
        self._policy = _POLICY_CODES[behavior]

    def reset(self) -> None:
        """Restart the schedule: the next tick is one period from now (``loop.time()``).

        A ``tick()`` that is waiting is re-timed to the new deadline.

        Example::

            iv.reset()   # e.g. a heartbeat after traffic was seen: next one a period later
        """
        self._set_anchor(self._loop.time())
        self._generation += 1
        waiter = self._waiter
        if waiter is not None:
            _wake(waiter)

    def _set_anchor(self, anchor: float) -> None:
        self._anchor = anchor
        self._index = 1.0
        self._deadline = anchor + self._period

    def _now(self) -> float:
        """The time a tick is taken at: the tick's time on nexusloop, the clock elsewhere."""
        if self._core:
            core: LoopCore = self._loop
            return core._event_time
        return self._loop.time()  # type: ignore[no-any-return]

    def _advance(self, deadline: float, now: float) -> None:
        """Schedule the deadline after ``deadline``, a tick taken at ``now``."""
        period = self._period
        if now <= deadline + _MISSED_TICK_TOLERANCE or self._policy == _BURST:
            index = self._index + 1.0
        elif self._policy == _DELAY:
            self._set_anchor(now)
            return
        else:  # _SKIP: the first grid point strictly after now
            index = _floor((now - self._anchor) / period) + 1.0
            if self._anchor + index * period <= now:  # rounding put it at or before now
                index += 1.0
            if self._anchor + index * period <= now:  # past float precision: re-anchor
                self._set_anchor(now)
                return
        if index >= _INDEX_LIMIT:
            self._anchor = self._anchor + index * period
            index = 0.0
        self._index = index
        self._deadline = self._anchor + index * period

    async def tick(self) -> float:
        """Wait for the next deadline and return it (a ``loop.time()`` value).

        Yields to the loop once even when the deadline has passed. Cancellation-safe: a
        cancelled ``tick()`` consumes no tick. ``RuntimeError`` if another task is already
        waiting in ``tick()``, or outside the interval's loop.

        Example::

            iv = nexusloop.time.interval(0.25)
            first = await iv.tick()      # at once: the first tick is the start
            second = await iv.tick()     # first + 0.25
        """
        loop = self._loop
        if _get_running_loop_or_none() is not loop:
            raise RuntimeError(f"this interval belongs to another event loop: {loop!r}")
        if self._waiting:
            raise RuntimeError("another task is already waiting for this interval's tick")
        self._waiting = True
        try:
            while True:
                generation = self._generation
                deadline = self._deadline
                if loop.time() >= deadline:
                    await _YieldNow()
                else:
                    future = loop.create_future()
                    handle = loop.call_at(deadline, _wake, future)
                    self._waiter = future
                    try:
                        await future
                    finally:
                        handle.cancel()
                        self._waiter = None
                if generation != self._generation:
                    continue  # reset() while waiting: wait for the new deadline
                now = self._now()
                if now >= deadline:  # else another loop woke us early: wait for the rest
                    break
        finally:
            self._waiting = False
        self._advance(deadline, now)
        return deadline

    def __aiter__(self) -> Interval:
        return self

    def __anext__(self) -> Awaitable[float]:
        return self.tick()

    def __repr__(self) -> str:
        return (
            f"<Interval period={self._period!r} missed_tick={self._behavior.value} "
            f"next={self._deadline!r}>"
        )


def interval(period: float, *, missed_tick: MissedTick = "burst") -> Interval:
    """An :class:`Interval` whose first tick is now (it completes at once), then every
    ``period`` seconds. Needs a running loop. ``ValueError`` for a period that is not > 0 and
    finite (or NaN).

    Example::

        iv = nexusloop.time.interval(0.1)
        while True:
            await iv.tick()
            sample()
    """
    return Interval(_get_running_loop().time(), period, missed_tick=missed_tick)


def interval_at(start: float, period: float, *, missed_tick: MissedTick = "burst") -> Interval:
    """An :class:`Interval` whose first tick is at loop time ``start``, then every ``period``
    seconds. A ``start`` in the past has missed ticks already (the policy applies).

    Example::

        loop = asyncio.get_running_loop()
        iv = nexusloop.time.interval_at(loop.time() + 5.0, 1.0)
        await iv.tick()   # 5 seconds from now
    """
    return Interval(start, period, missed_tick=missed_tick)
