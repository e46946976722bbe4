"""FanOut (fixed) and Broadcast (dynamic): one event to many handlers, by reference."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from nexusloop.world import (
    Broadcast,
    BuildError,
    FanOut,
    Handler,
    Pipeline,
    ResMut,
    World,
    WorldBuilder,
    into_handler,
)


@dataclass
class A:
    seen: list[Any] = field(default_factory=list)


@dataclass
class B:
    seen: list[Any] = field(default_factory=list)


def write_a(a: ResMut[A], event: Any) -> None:
    a.seen.append(event)


def write_b(b: ResMut[B], event: Any) -> None:
    b.seen.append(event)


@pytest.fixture
def world() -> World:
    wb = WorldBuilder()
    wb.register(A())
    wb.register(B())
    return wb.build()


class Recorder:
    def __init__(self, log: list[Any], tag: str) -> None:
        self.log = log
        self.tag = tag

    def run(self, world: World, event: Any) -> None:
        self.log.append((self.tag, event))


def test_fanout_dispatches_to_all_in_order_by_reference(world: World) -> None:
    log: list[Any] = []
    event = {"px": 1}
    fan = FanOut(into_handler(write_a, world.registry), into_handler(write_b, world.registry),
                 Recorder(log, "r"))
    assert isinstance(fan, Handler)
    world.next_sequence()
    fan.run(world, event)
    assert world.resource(A).seen[0] is event and world.resource(B).seen[0] is event
    assert log == [("r", event)]
    assert world.changed_at(A) == world.changed_at(B) == 1
    assert len(fan) == 3


def test_fanout_mutation_is_visible_to_later_handlers(world: World) -> None:
    seen: list[Any] = []

    class Mutate:
        def run(self, world: World, event: list[int]) -> None:
            event.append(2)

    fan = FanOut(Mutate(), Recorder(seen, "after"))
    fan.run(world, [1])
    assert seen == [("after", [1, 2])]


def test_fanout_of_pipelines_and_fanouts(world: World) -> None:
    out: list[Any] = []
    p = Pipeline.start(world.registry, int).then(lambda x: x * 2).inspect(out.append).build()
    inner = FanOut(p, p)
    FanOut(inner, Recorder(out, "x")).run(world, 1)
    assert out == [2, 2, ("x", 1)]


def test_fanout_exception_stops_dispatch(world: World) -> None:
    log: list[Any] = []

    class Boom:
        def run(self, world: World, event: Any) -> None:
            raise RuntimeError

    fan = FanOut(Recorder(log, "1"), Boom(), Recorder(log, "3"))
    with pytest.raises(RuntimeError):
        fan.run(world, 0)
    assert log == [("1", 0)]


def test_fanout_bad_input() -> None:
    with pytest.raises(BuildError):
        FanOut()
    with pytest.raises(BuildError, match="not a handler"):
        FanOut(42)


def test_broadcast_add_remove(world: World) -> None:
    log: list[Any] = []
    bus: Broadcast[int] = Broadcast()
    assert isinstance(bus, Handler)
    bus.run(world, 0)                         # no handlers: nothing
    r1, r2 = Recorder(log, "1"), Recorder(log, "2")
    k1 = bus.add(r1)
    bus.add(r2)
    bus.run(world, 1)
    bus.remove(k1)
    bus.run(world, 2)
    bus.remove(r2)                            # by handler object
    bus.run(world, 3)
    assert log == [("1", 1), ("2", 1), ("2", 2)]
    assert len(bus) == 0
    with pytest.raises(KeyError):
        bus.remove(k1)


def test_broadcast_changes_during_dispatch_apply_next_event(world: World) -> None:
    log: list[Any] = []
    bus: Broadcast[int] = Broadcast()
    late = Recorder(log, "late")

    class AddsAndRemovesItself:
        def __init__(self) -> None:
            self.key = 0

        def run(self, world: World, event: int) -> None:
            log.append(("self", event))
            bus.remove(self.key)
            bus.add(late)

    first = AddsAndRemovesItself()
    first.key = bus.add(first)
    bus.add(Recorder(log, "other"))
    bus.run(world, 1)
    bus.run(world, 2)
    assert log == [("self", 1), ("other", 1), ("other", 2), ("late", 2)]


def test_broadcast_initial_handlers_clear_and_iter(world: World) -> None:
    log: list[Any] = []
    r = Recorder(log, "r")
    bus: Broadcast[int] = Broadcast(r, into_handler(write_a, world.registry))
    assert next(iter(bus)) is r and len(bus.handlers) == 2
    bus.run(world, 5)
    assert log == [("r", 5)] and world.resource(A).seen == [5]
    bus.clear()
    bus.run(world, 6)
    assert log == [("r", 5)]
    with pytest.raises(BuildError):
        bus.add(object())
