"""The timer driver: deadlines that fire handlers, standalone or on an asyncio loop.

Design
------
A driver is a resource plus a poller. :class:`TimerInstaller` registers a :class:`TimerQueue`
resource into the builder and returns a :class:`TimerPoller`. Handlers schedule, reschedule
and cancel through the resource (``ResMut[TimerQueue]``); whoever runs the World drives expiry
with ``poller.poll(world, now)``.

:class:`TimerQueue` is a priority queue of deadlines with two backends, so handlers do not know
which one runs them:

* **standalone** (the default): a binary heap of :class:`TimerKey` entries. ``poll`` drains
  every entry due at ``now``, in deadline order with FIFO order among equal deadlines. Time is
  whatever the caller passes as ``now`` (``time.monotonic()``, or a
  :class:`~nexusloop.world.VirtualClock` for deterministic replay). A heap rather than a
  hierarchical timer wheel like the loop's: both are cheap for the timer counts a World driver
  holds, and the heap's order is exact, which deterministic replay wants.
* **loop-backed** (after :meth:`TimerPoller.attach`): each timer is a ``loop.call_at`` handle,
  so on nexusloop it lives in the loop's timer wheel (``nexusloop._core._wheel``) and fires on
  time without any ``poll`` call. Time is ``loop.time()``. Pending standalone timers move onto
  the loop on attach.

The class was called ``TimerWheel`` before; that name stays as an alias, but it named the
wrong structure (and clashed with the core's wheel).

Firing is move-out-fire: a fired timer is gone; its handler reschedules (a new deadline, the
same or another handler) if it wants to run again. :class:`Periodic` does that for recurring
work, with a missed-tick policy. Each fire is one event: the World's sequence advances and the
handler runs with the fire time as its event.

Timers scheduled while ``poll`` is firing are not fired by that same ``poll`` even if already
due (a handler rescheduling itself at ``now`` would otherwise loop forever); the next ``poll``
fires them. Cancelled timers are dropped lazily: cancelling is O(1) and costs nothing later.
"""
from __future__ import annotations

import asyncio
import heapq
from typing import TYPE_CHECKING, Any, Literal

from ._world import LoopDriverInstaller, World

if TYPE_CHECKING:
    from ._handler import Handler

__all__ = [
    "Periodic",
    "TimerInstaller",
    "TimerKey",
    "TimerPoller",
    "TimerQueue",
    "TimerWheel",
]

MissedTick = Literal["burst", "delay", "skip"]


class TimerKey:
    """Identifies a scheduled timer; pass it to :meth:`TimerQueue.cancel`."""

    __slots__ = ("handler", "loop_handle", "order", "when")

    def __init__(self, when: float, order: int, handler: Handler[float] | None) -> None:
        self.when = when
        self.order = order
        self.handler = handler  # None once fired or cancelled
        self.loop_handle: asyncio.TimerHandle | None = None

    def __lt__(self, other: TimerKey) -> bool:  # heap order: deadline, then FIFO
        if self.when != other.when:
            return self.when < other.when
        return self.order < other.order

    @property
    def active(self) -> bool:
        """True until the timer fires or is cancelled."""
        return self.handler is not None

    def __repr__(self) -> str:
        state = "active" if self.handler is not None else "done"
        return f"<TimerKey when={self.when} {state}>"


class TimerQueue:
    """The timer driver's resource: schedule and cancel timers (``ResMut[TimerQueue]``).

    Example::

        def on_timeout(queue: ResMut[TimerQueue], now: float) -> None:
            queue.schedule(now + 1.0, retry_template.generate())

        key = queue.schedule_after(0.5, into_handler(on_timeout, registry))
        queue.cancel(key)
    """

    __slots__ = ("_active", "_heap", "_loop", "_now", "_order", "_world")

    def __init__(self) -> None:
        self._heap: list[TimerKey] = []
        self._order = 0
        self._now = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._world: World | None = None
        self._active = 0

    # -- scheduling ------------------------------------------------------------------------------
    def now(self) -> float:
        """The driver's time: ``loop.time()`` when attached, else the last ``poll`` time."""
        loop = self._loop
        return loop.time() if loop is not None else self._now

    def schedule(self, when: float, handler: Handler[float]) -> TimerKey:
        """Fire ``handler.run(world, fire_time)`` once the driver's time reaches ``when``."""
        self._order += 1
        key = TimerKey(when, self._order, handler)
        self._active += 1
        loop = self._loop
        if loop is None:
            heapq.heappush(self._heap, key)
        else:
            key.loop_handle = loop.call_at(when, self._fire_on_loop, key)
        return key

    def schedule_after(self, delay: float, handler: Handler[float]) -> TimerKey:
        """Schedule ``delay`` seconds after :meth:`now`."""
        return self.schedule(self.now() + delay, handler)

    def cancel(self, key: TimerKey) -> bool:
        """Cancel a pending timer; False when it already fired or was cancelled."""
        if key.handler is None:
            return False
        key.handler = None
        self._active -= 1
        if key.loop_handle is not None:
            key.loop_handle.cancel()
            key.loop_handle = None
        return True

    def __len__(self) -> int:
        """The number of pending (not fired, not cancelled) timers."""
        return self._active

    def next_deadline(self) -> float | None:
        """The earliest pending deadline (standalone mode), or None."""
        heap = self._heap
        while heap and heap[0].handler is None:
            heapq.heappop(heap)
        return heap[0].when if heap else None

    @property
    def attached(self) -> bool:
        """True when timers run on an asyncio loop."""
        return self._loop is not None

    # -- firing ----------------------------------------------------------------------------------
    def _fire_on_loop(self, key: TimerKey) -> None:
        handler = key.handler
        if handler is None:
            return
        key.handler = None
        key.loop_handle = None
        self._active -= 1
        world = self._world
        assert world is not None
        world.next_sequence()
        handler.run(world, self._loop.time() if self._loop is not None else key.when)

    def __repr__(self) -> str:
        mode = "loop" if self._loop is not None else "standalone"
        return f"<TimerQueue {mode} pending={self._active}>"


#: The former name of :class:`TimerQueue`, kept so existing code keeps working.
TimerWheel = TimerQueue


class TimerPoller:
    """Drives a :class:`TimerQueue`: ``poll(world, now)`` fires every due timer.

    Example::

        timers = wb.install_driver(TimerInstaller())
        world = wb.build()
        while not world.is_shutdown():
            timers.poll(world, time.monotonic())
    """

    __slots__ = ("queue",)

    def __init__(self, queue: TimerQueue) -> None:
        self.queue = queue

    def poll(self, world: World, now: float) -> int:
        """Fire the timers due at ``now`` (standalone mode); returns how many fired.

        Each fire advances the World's sequence and runs the handler with ``now`` as the event.
        A no-op returning 0 when the queue is attached to a loop (the loop fires the timers).
        """
        queue = self.queue
        if queue._loop is not None:
            return 0
        queue._now = max(queue._now, now)
        heap = queue._heap
        limit = queue._order  # timers scheduled during this poll wait for the next one
        deferred: list[TimerKey] = []
        fired = 0
        pop = heapq.heappop
        while heap and heap[0].when <= now:
            key = pop(heap)
            handler = key.handler
            if handler is None:
                continue
            if key.order > limit:
                deferred.append(key)
                continue
            key.handler = None
            queue._active -= 1
            world.next_sequence()
            handler.run(world, now)
            fired += 1
        for key in deferred:
            heapq.heappush(heap, key)
        return fired

    @property
    def wheel(self) -> TimerQueue:
        """The former name of :attr:`queue`."""
        return self.queue

    def next_deadline(self) -> float | None:
        """The earliest pending deadline (standalone mode): how long an executor may sleep."""
        return self.queue.next_deadline()

    def attach(self, loop: asyncio.AbstractEventLoop, world: World) -> None:
        """Run the timers on ``loop`` from now on (``loop.call_at``); pending timers move over.

        Deadlines keep their values, so standalone time must have been ``loop.time()`` based.
        """
        queue = self.queue
        if queue._loop is not None:
            raise RuntimeError("the timer driver is already attached to a loop")
        queue._loop = loop
        queue._world = world
        pending, queue._heap = queue._heap, []
        for key in sorted(pending):
            if key.handler is not None:
                key.loop_handle = loop.call_at(key.when, queue._fire_on_loop, key)

    def __len__(self) -> int:
        return len(self.queue)

    def __repr__(self) -> str:
        return f"<TimerPoller {self.queue!r}>"


class TimerInstaller(LoopDriverInstaller[TimerPoller]):
    """Installs the timer driver: registers a :class:`TimerQueue`, returns a :class:`TimerPoller`.

    With ``loop=`` the timers run on that asyncio loop from the start (``loop.call_at``).

    Example::

        wb = WorldBuilder()
        timers = wb.install_driver(TimerInstaller())
        world = wb.build()
        timers.poll(world, 10.0)
    """

    def _create(self, world: World) -> tuple[TimerQueue, TimerPoller]:
        queue = TimerQueue()
        queue._world = world
        return queue, TimerPoller(queue)


class Periodic:
    """A recurring timer: runs ``handler`` every ``interval`` seconds and reschedules itself.

    ``missed`` decides what happens when a poll comes late by more than an interval:
    ``"skip"`` (default) jumps to the next deadline after now, ``"burst"`` keeps the original
    grid and fires the missed ticks back to back (one per poll), ``"delay"`` restarts the grid
    from the late fire time.

    Example::

        def heartbeat(log: ResMut[Log], now: float) -> None:
            log.lines.append(f"beat {now}")

        beat = Periodic(queue, 1.0, into_handler(heartbeat, registry), start=0.0)
        ...
        beat.cancel()
    """

    __slots__ = ("deadline", "fired", "handler", "interval", "key", "missed", "queue")

    def __init__(
        self,
        queue: TimerQueue,
        interval: float,
        handler: Handler[float],
        *,
        start: float | None = None,
        missed: MissedTick = "skip",
    ) -> None:
        if interval <= 0:
            raise ValueError(f"Periodic interval must be > 0, got {interval!r}")
        if missed not in ("burst", "delay", "skip"):
            raise ValueError(f"missed must be 'burst', 'delay' or 'skip', got {missed!r}")
        self.queue = queue
        self.interval = interval
        self.handler = handler
        self.missed = missed
        self.fired = 0
        self.deadline = queue.now() + interval if start is None else start
        self.key: TimerKey | None = queue.schedule(self.deadline, self)

    def run(self, world: World, now: float) -> Any:
        """Fire: reschedule first (so the handler may cancel), then run the handler."""
        interval = self.interval
        deadline = self.deadline + interval
        if now >= deadline:
            if self.missed == "skip":
                deadline += ((now - deadline) // interval + 1) * interval
            elif self.missed == "delay":
                deadline = now + interval
        self.deadline = deadline
        self.key = self.queue.schedule(deadline, self)
        self.fired += 1
        return self.handler.run(world, now)

    def cancel(self) -> bool:
        """Stop recurring; False when already cancelled."""
        key, self.key = self.key, None
        return key is not None and self.queue.cancel(key)

    @property
    def active(self) -> bool:
        """True until :meth:`cancel`."""
        return self.key is not None

    def __repr__(self) -> str:
        return f"<Periodic every {self.interval}s next={self.deadline} fired={self.fired}>"
