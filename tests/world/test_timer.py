"""The timer driver: standalone heap with poll(world, now), Periodic, loop-backed mode."""
from __future__ import annotations

import asyncio

import pytest

from nexusloop.world import (
    Cell,
    HandlerTemplate,
    Periodic,
    ResMut,
    Seq,
    TimerInstaller,
    TimerPoller,
    TimerQueue,
    World,
    WorldBuilder,
    into_callback,
    into_handler,
)

from .conftest import Log


def setup(loop: asyncio.AbstractEventLoop | None = None) -> tuple[World, TimerPoller, TimerQueue]:
    wb = WorldBuilder()
    wb.register(Log())
    timers = wb.install_driver(TimerInstaller(loop=loop))
    world = wb.build()
    return world, timers, world.resource(TimerQueue)


def note(ctx: str, log: ResMut[Log], now: float) -> None:
    log.lines.append((ctx, now))


def cb(world: World, name: str) -> object:
    return into_callback(note, name, world.registry)


def test_installer_registers_the_wheel_and_returns_the_poller() -> None:
    _world, timers, queue = setup()
    assert isinstance(timers, TimerPoller) and timers.queue is queue
    assert not queue.attached and len(queue) == 0


def test_poll_fires_due_timers_in_deadline_then_fifo_order() -> None:
    world, timers, queue = setup()
    queue.schedule(2.0, cb(world, "c"))
    queue.schedule(1.0, cb(world, "a"))
    queue.schedule(1.0, cb(world, "b"))
    queue.schedule(5.0, cb(world, "late"))
    assert timers.next_deadline() == 1.0
    assert timers.poll(world, 0.5) == 0
    assert timers.poll(world, 2.0) == 3
    assert world.resource(Log).lines == [("a", 2.0), ("b", 2.0), ("c", 2.0)]
    assert len(queue) == 1 and timers.next_deadline() == 5.0
    # each fire is its own event: the sequence advanced three times, Log stamped at the last
    assert world.sequence == 3 and world.changed_at(Log) == 3


def test_timers_never_fire_early() -> None:
    world, timers, queue = setup()
    queue.schedule(1.0, cb(world, "x"))
    assert timers.poll(world, 0.999999) == 0
    assert timers.poll(world, 1.0) == 1


def test_cancel_is_lazy_and_idempotent() -> None:
    world, timers, queue = setup()
    key = queue.schedule(1.0, cb(world, "x"))
    other = queue.schedule(1.0, cb(world, "y"))
    assert key.active and queue.cancel(key) and not key.active
    assert not queue.cancel(key)
    assert len(queue) == 1
    assert timers.poll(world, 3.0) == 1
    assert world.resource(Log).lines == [("y", 3.0)]
    assert not queue.cancel(other)  # already fired


def test_handler_reschedules_via_resource_fires_next_poll_not_same() -> None:
    world, timers, queue = setup()

    def again(queue: ResMut[TimerQueue], log: ResMut[Log], now: float) -> None:
        log.lines.append(("again", now))
        if len(log.lines) < 3:
            queue.schedule(now, template.generate())  # due immediately

    template = HandlerTemplate(again, world.registry)
    queue.schedule(1.0, template.generate())
    assert timers.poll(world, 1.0) == 1  # the rescheduled one waits for the next poll
    assert timers.poll(world, 1.0) == 1
    assert timers.poll(world, 2.0) == 1
    assert timers.poll(world, 3.0) == 0
    assert [n for _, n in world.resource(Log).lines] == [1.0, 1.0, 2.0]


def test_schedule_after_uses_last_poll_time() -> None:
    world, timers, queue = setup()
    timers.poll(world, 10.0)
    key = queue.schedule_after(0.5, cb(world, "x"))
    assert key.when == 10.5 and queue.now() == 10.0


@pytest.mark.parametrize(
    ("missed", "fires"),
    [
        ("skip", [1.0, 3.5, 4.0]),     # 2.0, 3.0 missed -> next on grid after 3.5 is 4.0
        ("burst", [1.0, 3.5, 4.0]),    # grid kept: 2.0 then 3.0 due -> fired at next polls
        ("delay", [1.0, 3.5, 4.0]),
    ],
)
def test_periodic_missed_tick_policies(missed: str, fires: list[float]) -> None:
    world, timers, queue = setup()
    beat = Periodic(queue, 1.0, cb(world, "beat"), start=1.0, missed=missed)  # type: ignore[arg-type]
    timers.poll(world, 1.0)
    timers.poll(world, 3.5)
    timers.poll(world, 4.0)
    times = [t for _, t in world.resource(Log).lines]
    if missed == "skip":
        assert times == [1.0, 3.5, 4.0] and beat.deadline == 5.0
    elif missed == "burst":
        assert times == [1.0, 3.5, 4.0] and beat.deadline == 4.0  # still catching up
        timers.poll(world, 4.0)
        assert beat.deadline == 5.0
    else:
        assert times == [1.0, 3.5] and beat.deadline == 4.5
    assert beat.fired == len(world.resource(Log).lines)
    assert beat.cancel() and not beat.active and not beat.cancel()
    timers.poll(world, 100.0)
    assert beat.fired == len(world.resource(Log).lines)


def test_periodic_validates_arguments() -> None:
    world, _timers, queue = setup()
    with pytest.raises(ValueError, match="interval"):
        Periodic(queue, 0, cb(world, "x"))
    with pytest.raises(ValueError, match="missed"):
        Periodic(queue, 1.0, cb(world, "x"), missed="sometimes")  # type: ignore[arg-type]


def test_periodic_handler_can_cancel_itself() -> None:
    world, timers, queue = setup()
    beats: list[Periodic] = []

    def three_times(log: ResMut[Log], now: float) -> None:
        log.lines.append(("b", now))
        if len(log.lines) == 3:
            beats[0].cancel()

    beats.append(Periodic(queue, 1.0, into_handler(three_times, world.registry), start=1.0))
    for t in range(1, 10):
        timers.poll(world, float(t))
    assert len(world.resource(Log).lines) == 3 and len(queue) == 0


def test_loop_backed_timers_fire_on_the_loop() -> None:
    async def main() -> tuple[list[tuple[str, float]], int]:
        loop = asyncio.get_running_loop()
        world, timers, queue = setup(loop)
        assert queue.attached
        done = loop.create_future()

        def fire(log: ResMut[Log], seq: Seq, now: float) -> None:
            log.lines.append((f"seq{seq}", now))
            if len(log.lines) == 2:
                done.set_result(None)

        start = loop.time()
        queue.schedule_after(0.02, into_handler(fire, world.registry))
        queue.schedule(start + 0.01, into_handler(fire, world.registry))
        cancelled = queue.schedule_after(0.015, into_handler(fire, world.registry))
        queue.cancel(cancelled)
        assert timers.poll(world, 1e9) == 0  # the loop drives, poll is a no-op
        await asyncio.wait_for(done, 5)
        lines = world.resource(Log).lines
        assert all(t >= start + 0.01 for _, t in lines)
        return lines, len(queue)

    lines, pending = asyncio.run(main())
    assert [name for name, _ in lines] == ["seq1", "seq2"]
    assert pending == 0


def test_attach_moves_pending_timers_onto_the_loop() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        world, timers, queue = setup()
        queue.schedule(loop.time() + 0.01, cb(world, "moved"))
        dead = queue.schedule(loop.time() + 0.01, cb(world, "cancelled"))
        queue.cancel(dead)
        timers.attach(loop, world)
        with pytest.raises(RuntimeError, match="already attached"):
            timers.attach(loop, world)
        for _ in range(200):
            if world.resource(Log).lines:
                break
            await asyncio.sleep(0.005)
        return world.resource(Log).lines

    assert [n for n, _ in asyncio.run(main())] == ["moved"]


def test_cell_counter_driven_by_timers() -> None:
    wb = WorldBuilder()
    wb.register(Cell(0))
    timers = wb.install_driver(TimerInstaller())
    world = wb.build()

    def count(c: ResMut[Cell[int]], now: float) -> None:
        c.value += 1

    Periodic(world.resource(TimerQueue), 0.25, into_handler(count, world.registry), start=0.25)
    for i in range(1, 9):
        timers.poll(world, i * 0.25)
    assert world.resource(Cell[int]).value == 8
    assert world.changed_at(Cell[int]) == world.sequence


def test_former_timer_wheel_names_are_aliases() -> None:
    from nexusloop.world import TestHarness, TimerQueue, TimerWheel

    assert TimerWheel is TimerQueue
    w, timers, queue = setup()
    assert timers.wheel is timers.queue is queue
    assert w.resource(TimerWheel) is queue
    harness = TestHarness(w)
    assert harness.wheel is harness.queue is queue
