"""GC control: CPython's cyclic garbage collector kept out of callbacks (issue #10).

CPython runs a collection whenever the count of allocated container objects crosses a
threshold, i.e. inside whatever code allocates next: for an event loop, inside a callback, where
a collection of a big heap takes milliseconds off a timer's punctuality. With the loop option
``gc_control=True`` the loop takes collection over, using only the documented ``gc`` API:

* **Automatic collection off while the loop runs** (``gc.disable()``; the interpreter's settings
  come back when the last controlled loop stops running).
* **Young collections at tick boundaries.** Between two ticks the loop reads ``gc.get_count()``
  (not at every tick: as many ticks later as the young generation's growth per tick says it
  takes to reach the threshold, at most ``MAX_WAIT_TICKS``); past the interpreter's own
  threshold it collects the young generation (``gc.collect(0)``, or
  generation 1 when CPython would have) between two ticks, never inside a callback: the work
  CPython would have done, at a better moment, in pauses as short as CPython's own young
  collections. (Waiting for slack before the next timer was tried and measured worse: a
  program with many short sleeps is never far from a timer, so collections only got bigger.)
* **The heap frozen at start.** When the loop first starts running it collects once and
  *freezes* what is left (``gc.collect()``, ``gc.freeze()``): what the application set up before
  running the loop is long-lived, and moved to the permanent generation, which later full
  collections skip. Once per loop, not per ``run_forever``/``run_until_complete`` (``asyncio.run``
  runs the loop four times); unfrozen when the last controlled loop is *closed* (a loop never
  closed keeps it frozen). Not if the application froze objects itself (more frozen than when
  this module was imported: CPython 3.12 starts with a few hundred frozen objects of its own):
  then the application manages freezing.
* **Full collections in idle slack.** When the loop is about to park and the next timer deadline
  is further away than twice the running estimate of a full collection's duration (plus a
  margin), it runs a full collection there, if young collections have promoted anything since
  the last one.
* **A memory bound.** A loop that never idles still collects: after ``FORCE_AFTER`` young
  (generation-1) collections without a full one, a full collection runs at the next tick
  boundary, counted as *forced*. Garbage in cycles therefore never grows without limit.

Several loops (threads) may use it at once: the first to start saves the interpreter's settings,
the last to stop restores them (``gc.enable()`` if it was enabled; ``gc.unfreeze()``, if a loop
froze, when the last one is closed). Code that calls ``gc.disable()``/``gc.enable()`` while a controlled loop runs is
overridden when the last one stops; ``gc.collect()`` works as always. ``docs/latency.md`` has the
measured effect.
"""
from __future__ import annotations

import gc
import threading
import time
from typing import NamedTuple

__all__ = ["GcControl", "GcStats"]

#: Young (generation-1) collections without a full one after which a full one is forced.
FORCE_AFTER = 40
#: At most this many ticks between two looks at the young generation.
MAX_WAIT_TICKS = 64
#: Slack needed for an idle full collection: ``IDLE_FACTOR * estimate + IDLE_MARGIN`` seconds.
IDLE_FACTOR = 2.0
IDLE_MARGIN = 0.0005

_lock = threading.Lock()
_users = 0  # controlled loops running now
_holders = 0  # controlled loops started at least once and not closed (they keep the freeze)
_saved_enabled = True
# Whether the first controlled loop froze the heap (unfrozen when the last one stops); a heap
# the application had frozen already is left alone.
_froze_it = False
# Frozen objects when this module was imported (the interpreter's own: 0 on 3.11, ~375 on 3.12).
_FROZEN_AT_IMPORT = gc.get_freeze_count()


class GcStats(NamedTuple):
    """Collections run by a loop's GC control, and their durations (seconds)."""

    young: int
    """Young collections (generations 0 and 1) at tick boundaries and in idle slack."""
    full_idle: int
    """Full collections run in idle slack."""
    full_forced: int
    """Full collections forced by the memory bound, at a tick boundary."""
    collected: int
    """Unreachable objects found."""
    young_seconds: float
    full_seconds: float
    max_young_seconds: float
    max_full_seconds: float
    full_estimate: float
    """Running estimate of a full collection's duration (what idle slack must exceed)."""


class GcControl:
    """The GC policy of one loop (``LoopOptions.gc_control``): see the module docstring."""

    def __init__(self, force_after: int = FORCE_AFTER) -> None:
        if force_after < 1:
            raise ValueError("force_after must be >= 1")
        self._force_after = force_after
        self._running = False
        self._holds_freeze = False
        # Growth of the young generation: its count at the last look, ticks waited since.
        self._last_count0 = 0
        self._waited = 1
        self._young = 0
        self._full_idle = 0
        self._full_forced = 0
        self._collected = 0
        self._young_seconds = 0.0
        self._full_seconds = 0.0
        self._max_young = 0.0
        self._max_full = 0.0
        # Unknown until measured: the first idle full collection needs this much slack.
        self._full_estimate = 0.002
        # Seconds per young object looked at (a young collection of 700 takes ~100 µs).
        self._young_per_object = 1.5e-7

    # ------------------------------------------------------------ loop lifecycle

    def start(self) -> None:
        """The loop starts running: automatic collection off (the first running loop saves
        the state); the first start of the first controlled loop freezes the heap."""
        global _users, _saved_enabled, _froze_it, _holders
        if self._running:
            return
        with _lock:
            if _users == 0:
                _saved_enabled = gc.isenabled()
                gc.disable()
            _users += 1
            if not self._holds_freeze:
                # Once per loop, not per run: asyncio.run() alone runs the loop four times.
                if _holders == 0:
                    _froze_it = gc.get_freeze_count() <= _FROZEN_AT_IMPORT
                    if _froze_it:
                        gc.collect()
                        gc.freeze()
                _holders += 1
                self._holds_freeze = True
        self._running = True

    def stop(self) -> None:
        """The loop stops running: the last running loop restores automatic collection."""
        global _users
        if not self._running:
            return
        self._running = False
        with _lock:
            _users -= 1
            if _users == 0 and _saved_enabled:
                gc.enable()

    def close(self) -> None:
        """The loop is closed: the last controlled loop to close unfreezes what it froze."""
        global _holders, _froze_it
        self.stop()
        with _lock:
            if self._holds_freeze:
                self._holds_freeze = False
                _holders -= 1
                if _holders == 0 and _froze_it:
                    gc.unfreeze()
                    _froze_it = False

    # ------------------------------------------------------------ the policy

    def tick(self) -> int:
        """Between two ticks: a young collection past the threshold, or a forced full one
        past the memory bound. Returns in how many ticks to look again."""
        count0, count1, count2 = gc.get_count()
        threshold0, threshold1, _ = gc.get_threshold()
        growth = max(count0 - self._last_count0, 1) / self._waited  # objects per tick
        if count0 > threshold0:
            if count2 >= self._force_after:
                self._full(forced=True)
            else:
                self._collect_young(1 if count1 >= threshold1 else 0)
            count0 = gc.get_count()[0]
        wait = int((threshold0 - count0) / growth) + 1
        wait = 1 if wait < 1 else MAX_WAIT_TICKS if wait > MAX_WAIT_TICKS else wait
        self._last_count0 = count0
        self._waited = wait
        return wait

    def idle(self, slack: float) -> None:
        """The loop is about to park for up to ``slack`` seconds (``math.inf``: no timer)."""
        count0, count1, count2 = gc.get_count()
        if count2 and slack >= IDLE_FACTOR * self._full_estimate + IDLE_MARGIN:
            # Young collections promoted objects to the old generation since the last one.
            self._full(forced=False)
        elif count0 > 0:
            generation = 1 if count1 >= gc.get_threshold()[1] else 0
            if slack >= IDLE_FACTOR * self._young_cost(count0, count1, generation) + IDLE_MARGIN:
                self._collect_young(generation)

    @staticmethod
    def _young_objects(count0: int, count1: int, generation: int) -> int:
        # Generation 1 holds about a threshold's worth of survivors per young collection since
        # its last collection (an upper bound: most young objects die in generation 0).
        return count0 + (count1 * gc.get_threshold()[0] if generation else 0)

    def _young_cost(self, count0: int, count1: int, generation: int) -> float:
        return self._young_per_object * self._young_objects(count0, count1, generation)

    def _collect_young(self, generation: int) -> None:
        count0, count1, _ = gc.get_count()
        t0 = time.perf_counter()
        self._collected += gc.collect(generation)
        dt = time.perf_counter() - t0
        self._young += 1
        self._young_seconds += dt
        self._max_young = max(self._max_young, dt)
        objects = self._young_objects(count0, count1, generation)
        if objects:
            self._young_per_object = 0.75 * self._young_per_object + 0.25 * dt / objects

    def _full(self, *, forced: bool) -> None:
        t0 = time.perf_counter()
        self._collected += gc.collect()
        dt = time.perf_counter() - t0
        if forced:
            self._full_forced += 1
        else:
            self._full_idle += 1
        self._full_seconds += dt
        self._max_full = max(self._max_full, dt)
        # The estimate follows rises at once and falls slowly: idle slack must fit a full
        # collection, so it is better to wait for a longer gap than to overrun a timer.
        self._full_estimate = max(dt, 0.9 * self._full_estimate + 0.1 * dt)

    def stats(self) -> GcStats:
        return GcStats(
            young=self._young,
            full_idle=self._full_idle,
            full_forced=self._full_forced,
            collected=self._collected,
            young_seconds=self._young_seconds,
            full_seconds=self._full_seconds,
            max_young_seconds=self._max_young,
            max_full_seconds=self._max_full,
            full_estimate=self._full_estimate,
        )

