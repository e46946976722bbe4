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
    TimerWheel,
    World,
    WorldBuilder,
    into_callback,
    into_handler,
)

from .conftest import Log


def setup(loop: asyncio.AbstractEventLoop | None = None) -> tuple[World, TimerPoller, TimerWheel]:
    wb = WorldBuilder()
    wb.register(Log())
    timers = wb.install_driver(TimerInstaller(loop=loop))
    world = wb.build()
    return world, timers, world.resource(TimerWheel)


def note(ctx: str, log: ResMut[Log], now: float) -> None:
    log.lines.append((ctx, now))


def cb(world: World, name: str) -> object:
    return into_callback(note, name, world.registry)


def test_installer_registers_the_wheel_and_returns_the_poller() -> None:
    _world, timers, wheel = setup()
    assert isinstance(timers, TimerPoller) and timers.wheel is wheel
    assert not wheel.attached and len(wheel) == 0


def test_poll_fires_due_timers_in_deadline_then_fifo_order() -> None:
    world, timers, wheel = setup()
    wheel.schedule(2.0, cb(world, "c"))
    wheel.schedule(1.0, cb(world, "a"))
    wheel.schedule(1.0, cb(world, "b"))
    wheel.schedule(5.0, cb(world, "late"))
    assert timers.next_deadline() == 1.0
    assert timers.poll(world, 0.5) == 0
    assert timers.poll(world, 2.0) == 3
    assert world.resource(Log).lines == [("a", 2.0), ("b", 2.0), ("c", 2.0)]
    assert len(wheel) == 1 and timers.next_deadline() == 5.0
    # each fire is its own event: the sequence advanced three times, Log stamped at the last
    assert world.sequence == 3 and world.changed_at(Log) == 3


def test_timers_never_fire_early() -> None:
    world, timers, wheel = setup()
    wheel.schedule(1.0, cb(world, "x"))
    assert timers.poll(world, 0.999999) == 0
    assert timers.poll(world, 1.0) == 1


def test_cancel_is_lazy_and_idempotent() -> None:
    world, timers, wheel = setup()
    key = wheel.schedule(1.0, cb(world, "x"))
    other = wheel.schedule(1.0, cb(world, "y"))
    assert key.active and wheel.cancel(key) and not key.active
    assert not wheel.cancel(key)
    assert len(wheel) == 1
    assert timers.poll(world, 3.0) == 1
    assert world.resource(Log).lines == [("y", 3.0)]
    assert not wheel.cancel(other)  # already fired


def test_handler_reschedules_via_resource_fires_next_poll_not_same() -> None:
    world, timers, wheel = setup()

    def again(wheel: ResMut[TimerWheel], log: ResMut[Log], now: float) -> None:
        log.lines.append(("again", now))
        if len(log.lines) < 3:
            wheel.schedule(now, template.generate())  # due immediately

    template = HandlerTemplate(again, world.registry)
    wheel.schedule(1.0, template.generate())
    assert timers.poll(world, 1.0) == 1  # the rescheduled one waits for the next poll
    assert timers.poll(world, 1.0) == 1
    assert timers.poll(world, 2.0) == 1
    assert timers.poll(world, 3.0) == 0
    assert [n for _, n in world.resource(Log).lines] == [1.0, 1.0, 2.0]


def test_schedule_after_uses_last_poll_time() -> None:
    world, timers, wheel = setup()
    timers.poll(world, 10.0)
    key = wheel.schedule_after(0.5, cb(world, "x"))
    assert key.when == 10.5 and wheel.now() == 10.0


@pytest.mark.parametrize(
    ("missed", "fires"),
    [
        ("skip", [1.0, 3.5, 4.0]),     # 2.0, 3.0 missed -> next on grid after 3.5 is 4.0
        ("burst", [1.0, 3.5, 4.0]),    # grid kept: 2.0 then 3.0 due -> fired at next polls
        ("delay", [1.0, 3.5, 4.0]),
    ],
)
def test_periodic_missed_tick_policies(missed: str, fires: list[float]) -> None:
    world, timers, wheel = setup()
    beat = Periodic(wheel, 1.0, cb(world, "beat"), start=1.0, missed=missed)  # type: ignore[arg-type]
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
    world, _timers, wheel = setup()
    with pytest.raises(ValueError, match="interval"):
        Periodic(wheel, 0, cb(world, "x"))
    with pytest.raises(ValueError, match="missed"):
        Periodic(wheel, 1.0, cb(world, "x"), missed="sometimes")  # type: ignore[arg-type]


def test_periodic_handler_can_cancel_itself() -> None:
    world, timers, wheel = setup()
    beats: list[Periodic] = []

    def three_times(log: ResMut[Log], now: float) -> None:
        log.lines.append(("b", now))
        if len(log.lines) == 3:
            beats[0].cancel()

    beats.append(Periodic(wheel, 1.0, into_handler(three_times, world.registry), start=1.0))
    for t in range(1, 10):
        timers.poll(world, float(t))
    assert len(world.resource(Log).lines) == 3 and len(wheel) == 0


def test_loop_backed_timers_fire_on_the_loop() -> None:
    async def main() -> tuple[list[tuple[str, float]], int]:
        loop = asyncio.get_running_loop()
        world, timers, wheel = setup(loop)
        assert wheel.attached
        done = loop.create_future()

        def fire(log: ResMut[Log], seq: Seq, now: float) -> None:
            log.lines.append((f"seq{seq}", now))
            if len(log.lines) == 2:
                done.set_result(None)

        start = loop.time()
        wheel.schedule_after(0.02, into_handler(fire, world.registry))
        wheel.schedule(start + 0.01, into_handler(fire, world.registry))
        cancelled = wheel.schedule_after(0.015, into_handler(fire, world.registry))
        wheel.cancel(cancelled)
        assert timers.poll(world, 1e9) == 0  # the loop drives, poll is a no-op
        await asyncio.wait_for(done, 5)
        lines = world.resource(Log).lines
        assert all(t >= start + 0.01 for _, t in lines)
        return lines, len(wheel)

    lines, pending = asyncio.run(main())
    assert [name for name, _ in lines] == ["seq1", "seq2"]
    assert pending == 0


def test_attach_moves_pending_timers_onto_the_loop() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        world, timers, wheel = setup()
        wheel.schedule(loop.time() + 0.01, cb(world, "moved"))
        dead = wheel.schedule(loop.time() + 0.01, cb(world, "cancelled"))
        wheel.cancel(dead)
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

    Periodic(world.resource(TimerWheel), 0.25, into_handler(count, world.registry), start=0.25)
    for i in range(1, 9):
        timers.poll(world, i * 0.25)
    assert world.resource(Cell[int]).value == 8
    assert world.changed_at(Cell[int]) == world.sequence
