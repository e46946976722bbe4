"""Deterministic testing: a virtual clock and a harness that dispatches events into a World.

A World's behaviour is a function of its initial resources and the sequence of events (and fire
times) it is given; nothing reads the wall clock unless told to. :class:`VirtualClock` is the
time source for tests and replays, and :class:`TestHarness` plays the executor: it advances the
sequence before each event, as a driver would, fires due timers when the clock moves, and gives
assertions on resources and their change stamps.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ._handler import Handler, into_handler
from ._timer import TimerInstaller, TimerPoller, TimerQueue
from ._world import World, WorldBuilder, type_name

__all__ = ["TestHarness", "VirtualClock"]

T = TypeVar("T")

#: advance() gives up after this many polls within one call (a timer rescheduling itself at
#: "now" forever would otherwise hang the test).
_MAX_POLLS = 100_000


class VirtualClock:
    """A clock that only moves when told to: ``clock()`` / ``clock.now()`` read it.

    Example::

        clock = VirtualClock(start=100.0)
        clock.advance(0.5)
        clock.now()          # 100.5
    """

    __slots__ = ("_now",)

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        """The current virtual time."""
        return self._now

    __call__ = now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (>= 0); returns the new time."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance({seconds!r}))")
        self._now += seconds
        return self._now

    def set(self, when: float) -> float:
        """Jump to ``when`` (not earlier than now); returns it."""
        if when < self._now:
            raise ValueError(f"a clock cannot go backwards ({when!r} < {self._now!r})")
        self._now = float(when)
        return self._now

    def __repr__(self) -> str:
        return f"VirtualClock({self._now!r})"


class TestHarness:
    """Build a World, dispatch events, assert on resources; time is a :class:`VirtualClock`.

    Pass a :class:`WorldBuilder` (the harness installs a timer driver if none was, then builds
    it) or an already built World with its timer poller.

    Example::

        wb = WorldBuilder()
        wb.register(Cell(0))
        h = TestHarness(wb)
        h.dispatch(tick, 5)                      # functions are turned into handlers (cached)
        assert h.resource(Cell[int]).value == 5
        h.assert_changed(Cell[int])
        h.advance(1.0)                           # fires timers due by then
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self,
        world: WorldBuilder | World,
        *,
        clock: VirtualClock | None = None,
        timers: TimerPoller | None = None,
    ) -> None:
        self.clock = clock if clock is not None else VirtualClock()
        if isinstance(world, WorldBuilder):
            if timers is None and TimerQueue not in world:
                timers = world.install_driver(TimerInstaller())
            world = world.build()
        self.world: World = world
        if timers is None and TimerQueue in world:
            timers = TimerPoller(world.resource(TimerQueue))
        self.timers = timers
        self._handlers: dict[Any, Handler[Any]] = {}

    # -- dispatch ----------------------------------------------------------------------------
    def handler(self, fn: Callable[..., Any] | Handler[Any]) -> Handler[Any]:
        """``fn`` as a handler: handlers pass through, functions are built once and cached."""
        if isinstance(fn, Handler):
            return fn
        cached = self._handlers.get(fn)
        if cached is None:
            cached = self._handlers[fn] = into_handler(fn, self.world.registry)
        return cached

    def dispatch(self, fn: Callable[..., Any] | Handler[Any], event: Any) -> Any:
        """Advance the sequence and run ``fn`` with ``event``; returns its result."""
        handler = self.handler(fn)
        self.world.next_sequence()
        return handler.run(self.world, event)

    def dispatch_all(self, fn: Callable[..., Any] | Handler[Any], events: Iterable[Any]) -> list[Any]:
        """Dispatch each event in order (one sequence each); returns the results."""
        handler = self.handler(fn)
        world = self.world
        results = []
        for event in events:
            world.next_sequence()
            results.append(handler.run(world, event))
        return results

    # -- time --------------------------------------------------------------------------------
    @property
    def queue(self) -> TimerQueue:
        """The timer driver's queue (schedule timers through it)."""
        if self.timers is None:
            raise RuntimeError("this harness has no timer driver")
        return self.timers.queue

    @property
    def wheel(self) -> TimerQueue:
        """The former name of :attr:`queue`."""
        return self.queue

    def now(self) -> float:
        """The virtual time."""
        return self.clock.now()

    def advance(self, seconds: float) -> int:
        """Move the clock forward and fire the timers due by then; returns how many fired.

        Timers are fired at their own deadlines in order (the clock steps through them), so a
        handler that reschedules within the advanced span fires again within it.
        """
        return self.advance_to(self.clock.now() + seconds)

    def advance_to(self, when: float) -> int:
        """Like :meth:`advance`, to an absolute time."""
        fired = 0
        timers = self.timers
        if timers is not None:
            for _ in range(_MAX_POLLS):
                deadline = timers.next_deadline()
                if deadline is None or deadline > when:
                    break
                self.clock.set(max(deadline, self.clock.now()))
                fired += timers.poll(self.world, self.clock.now())
            else:
                raise RuntimeError(
                    f"timers kept coming due after {_MAX_POLLS} polls before {when}: "
                    "a handler probably reschedules itself at the current time"
                )
        self.clock.set(when)
        if timers is not None:
            fired += timers.poll(self.world, when)
        return fired

    # -- assertions ----------------------------------------------------------------------------
    def resource(self, key: type[T]) -> T:
        """The World's resource of type ``key`` (read; no stamp)."""
        return self.world.resource(key)

    def is_changed(self, key: Any) -> bool:
        """Whether ``key`` was written during the current sequence."""
        return self.world.is_changed(key)

    def assert_changed(self, key: Any) -> None:
        """Fail unless ``key`` was written during the current sequence."""
        if not self.world.is_changed(key):
            raise AssertionError(
                f"{type_name(key)} was not changed in sequence {self.world.sequence} "
                f"(last changed at {self.world.changed_at(key)})"
            )

    def assert_unchanged(self, key: Any) -> None:
        """Fail if ``key`` was written during the current sequence."""
        if self.world.is_changed(key):
            raise AssertionError(
                f"{type_name(key)} was changed in sequence {self.world.sequence}"
            )

    def __repr__(self) -> str:
        return f"<TestHarness {self.world!r} now={self.clock.now()}>"
