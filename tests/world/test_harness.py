"""TestHarness and VirtualClock: deterministic dispatch and replay."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from nexusloop.world import (
    Cell,
    Periodic,
    Res,
    ResMut,
    Seq,
    TestHarness,
    TimerInstaller,
    TimerQueue,
    VirtualClock,
    WorldBuilder,
    into_handler,
)


@dataclass
class Book:
    bid: float = 0.0
    trades: list[tuple[int, float]] = field(default_factory=list)


def on_quote(book: ResMut[Book], bid: float) -> None:
    book.bid = bid


def on_trade(book: ResMut[Book], seq: Seq, price: float) -> None:
    book.trades.append((seq, price))


def read_bid(book: Res[Book], _: object) -> float:
    return book.bid


def test_virtual_clock() -> None:
    clock = VirtualClock(5)
    assert clock() == clock.now() == 5.0
    assert clock.advance(1.5) == 6.5
    assert clock.set(10) == 10.0
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(9)
    assert "10.0" in repr(clock)


def test_dispatch_advances_sequence_and_tracks_changes() -> None:
    wb = WorldBuilder()
    wb.register(Book())
    h = TestHarness(wb)
    h.dispatch(on_quote, 101.5)
    assert h.resource(Book).bid == 101.5
    h.assert_changed(Book)
    assert h.dispatch(read_bid, None) == 101.5
    h.assert_unchanged(Book)
    with pytest.raises(AssertionError, match="Book was not changed in sequence 2"):
        h.assert_changed(Book)
    h.dispatch(on_trade, 7.0)
    with pytest.raises(AssertionError, match="Book was changed"):
        h.assert_unchanged(Book)
    assert h.is_changed(Book)
    assert h.world.sequence == 3


def test_functions_are_built_once_and_handlers_pass_through() -> None:
    wb = WorldBuilder()
    wb.register(Book())
    h = TestHarness(wb)
    assert h.handler(on_quote) is h.handler(on_quote)
    built = into_handler(on_quote, h.world.registry)
    assert h.handler(built) is built


def test_replay_is_deterministic() -> None:
    def run() -> list[tuple[int, float]]:
        wb = WorldBuilder()
        wb.register(Book())
        h = TestHarness(wb)
        h.dispatch_all(on_trade, [1.0, 2.0, 3.0])
        h.dispatch(on_quote, 9.0)
        h.dispatch_all(on_trade, [4.0])
        return h.resource(Book).trades

    assert run() == run() == [(1, 1.0), (2, 2.0), (3, 3.0), (5, 4.0)]


def test_advance_fires_timers_at_their_deadlines() -> None:
    wb = WorldBuilder()
    wb.register(Cell(0))
    wb.register(Book())
    h = TestHarness(wb, clock=VirtualClock(100.0))
    fired_at: list[float] = []

    def tick(c: ResMut[Cell[int]], now: float) -> None:
        c.value += 1
        fired_at.append(now)

    Periodic(h.queue, 1.0, into_handler(tick, h.world.registry), start=101.0)
    assert h.advance(0.5) == 0
    assert h.advance(3.0) == 3  # 101, 102, 103 — each at its own deadline
    assert fired_at == [101.0, 102.0, 103.0]
    assert h.now() == 103.5
    assert h.advance_to(105.0) == 2
    assert h.resource(Cell[int]).value == 5


def test_harness_over_a_built_world_and_without_timers() -> None:
    wb = WorldBuilder()
    wb.register(Book())
    timers = wb.install_driver(TimerInstaller())
    world = wb.build()
    h = TestHarness(world)
    assert h.timers is not None and h.timers.queue is world.resource(TimerQueue)
    assert timers.queue is h.queue

    bare = TestHarness(WorldBuilder().build())
    assert bare.timers is None and bare.advance(5.0) == 0 and bare.now() == 5.0
    with pytest.raises(RuntimeError, match="no timer driver"):
        bare.queue  # noqa: B018


def test_advance_detects_a_timer_rescheduling_itself_at_now() -> None:
    wb = WorldBuilder()
    h = TestHarness(wb)

    def forever(wheel: ResMut[TimerQueue], now: float) -> None:
        wheel.schedule(now, into_handler(forever, h.world.registry))

    h.queue.schedule(1.0, into_handler(forever, h.world.registry))
    import nexusloop.world._harness as harness_mod

    old = harness_mod._MAX_POLLS
    harness_mod._MAX_POLLS = 50
    try:
        with pytest.raises(RuntimeError, match="reschedules itself"):
            h.advance(2.0)
    finally:
        harness_mod._MAX_POLLS = old
