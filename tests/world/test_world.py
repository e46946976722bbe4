"""WorldBuilder / World: registration, ids, cold-path access, sequences, change detection."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from nexusloop.world import (
    Cell,
    DuplicateResourceError,
    FrozenWorldError,
    Registry,
    ResourceId,
    Shutdown,
    UnknownResourceError,
    World,
    WorldBuilder,
)


@dataclass
class Book:
    bids: list[float] = field(default_factory=list)


@dataclass
class Stats:
    count: int = 0


@dataclass(frozen=True)
class Config:
    depth: int = 5


def test_register_returns_dense_ids_in_order() -> None:
    wb = WorldBuilder()
    a = wb.register(Book())
    b = wb.register(Stats())
    c = wb.register_default(Config)
    assert [a, b, c] == [a, a + 1, a + 2]
    world = wb.build()
    assert world.id_of(Book) == a and world.id_of(Config) == c
    assert world.registry.id_of(Stats) == b
    # ids are dense from 0 (Shutdown is always registered first)
    assert world.id_of(Shutdown) == ResourceId(0)
    assert sorted(world.id_of(k) for k in world.registry) == list(range(len(world)))


def test_resource_returns_the_registered_object() -> None:
    wb = WorldBuilder()
    book = Book()
    wb.register(book)
    world = wb.build()
    assert world.resource(Book) is book
    assert world.resource_mut(Book) is book
    assert Book in world and Stats not in world
    assert isinstance(world, World) and world.frozen
    assert isinstance(world.registry, Registry)


def test_register_default_constructs_the_type_and_cells() -> None:
    wb = WorldBuilder()
    wb.register_default(Stats)
    wb.register_default(Cell[int])
    wb.register_default(list[int])
    world = wb.build()
    assert world.resource(Stats) == Stats()
    assert world.resource(Cell[int]).value == 0
    assert world.resource(list[int]) == []


def test_cell_key_is_inferred_from_its_value_or_given() -> None:
    wb = WorldBuilder()
    wb.register(Cell(0))
    wb.register(Cell("x"))
    wb.register(Cell(1.5), as_type=Cell[float])
    world = wb.build()
    assert world.resource(Cell[int]).value == 0
    assert world.resource(Cell[str]).value == "x"
    assert world.resource(Cell[float]).value == 1.5


def test_ensure_registers_only_when_absent() -> None:
    wb = WorldBuilder()
    first = Stats(1)
    rid = wb.ensure(first)
    assert wb.ensure(Stats(2)) == rid
    assert wb.ensure_default(Stats) == rid
    assert wb.ensure_default(Book) != rid
    world = wb.build()
    assert world.resource(Stats) is first


def test_register_twice_names_the_type() -> None:
    wb = WorldBuilder()
    wb.register(Stats())
    with pytest.raises(DuplicateResourceError, match="Stats"):
        wb.register(Stats())
    with pytest.raises(DuplicateResourceError, match="Stats"):
        wb.register_default(Stats)
    wb.register(Cell(0))
    with pytest.raises(DuplicateResourceError, match=r"Cell\[int\]"):
        wb.register(Cell(5))


def test_register_after_build_names_the_type() -> None:
    wb = WorldBuilder()
    wb.build()
    with pytest.raises(FrozenWorldError, match="Stats"):
        wb.register(Stats())
    with pytest.raises(FrozenWorldError, match="Book"):
        wb.register_default(Book)
    with pytest.raises(FrozenWorldError, match="Book"):
        wb.ensure(Book())
    with pytest.raises(FrozenWorldError):
        wb.build()
    with pytest.raises(FrozenWorldError, match="plugin"):
        wb.install_plugin(object())  # type: ignore[arg-type]
    # The World itself offers no way to add resources.
    assert not hasattr(World, "register")


def test_fetch_unregistered_type_names_it() -> None:
    world = WorldBuilder().build()
    with pytest.raises(UnknownResourceError, match="Stats"):
        world.resource(Stats)
    with pytest.raises(UnknownResourceError, match="Stats"):
        world.resource_mut(Stats)
    with pytest.raises(UnknownResourceError, match="Stats"):
        world.changed_at(Stats)
    with pytest.raises(LookupError):  # it is a LookupError
        world.id_of(Stats)


def test_missing_cell_key_hints_at_the_registered_one() -> None:
    wb = WorldBuilder()
    wb.register(Cell(True))  # Cell[bool], not Cell[int]
    world = wb.build()
    with pytest.raises(UnknownResourceError, match=r"Cell\[int\].*Cell\[bool\]"):
        world.resource(Cell[int])


def test_resource_mut_refuses_immutable_types() -> None:
    wb = WorldBuilder()
    wb.register(7)
    wb.register(Config())
    world = wb.build()
    assert world.resource(int) == 7
    with pytest.raises(TypeError, match=r"int.*Cell\[int\]"):
        world.resource_mut(int)
    with pytest.raises(TypeError, match="Config"):
        world.resource_mut(Config)


def test_sequence_and_change_detection() -> None:
    wb = WorldBuilder()
    wb.register(Stats())
    wb.register(Book())
    world = wb.build()
    assert world.sequence == 0
    assert world.changed_at(Stats) == 0 and world.is_changed(Stats)  # registration counts
    assert world.next_sequence() == 1
    assert world.sequence == 1
    assert not world.is_changed(Stats)
    world.resource(Stats)  # reading does not stamp
    assert not world.is_changed(Stats)
    world.resource_mut(Stats).count += 1
    assert world.is_changed(Stats) and world.changed_at(Stats) == 1
    assert not world.is_changed(Book)
    world.next_sequence()
    world.next_sequence()
    assert world.changed_since(Stats, 0) and not world.changed_since(Stats, 1)
    world.mark_changed(Book)
    assert world.changed_at(Book) == 3


def test_shutdown_flag_and_callbacks() -> None:
    world = WorldBuilder().build()
    calls: list[str] = []
    world.shutdown.add_callback(lambda: calls.append("a"))
    assert not world.is_shutdown() and not world.shutdown.requested
    assert world.resource(Shutdown) is world.shutdown
    world.shutdown.trigger()
    world.shutdown.trigger()
    assert world.is_shutdown() and calls == ["a"]
    world.shutdown.add_callback(lambda: calls.append("late"))
    assert calls == ["a", "late"]


def test_shutdown_wait_on_a_loop() -> None:
    world = WorldBuilder().build()

    async def main() -> str:
        asyncio.get_running_loop().call_soon(world.shutdown.trigger)
        await asyncio.wait_for(world.shutdown.wait(), 5)
        await world.shutdown.wait()  # already triggered: returns at once
        return "done"

    assert asyncio.run(main()) == "done"


def test_plugins_register_and_compose() -> None:
    class Market:
        def build(self, builder: WorldBuilder) -> None:
            builder.register(Book())
            builder.ensure(Stats())

    class Risk:
        def build(self, builder: WorldBuilder) -> None:
            builder.ensure(Stats(99))
            builder.install_plugin(Limits())

    class Limits:
        def build(self, builder: WorldBuilder) -> None:
            builder.register(Config(10))

    wb = WorldBuilder()
    wb.install_plugin(Market())
    wb.install_plugin(Risk())
    world = wb.build()
    assert world.resource(Stats).count == 0  # first ensure wins
    assert world.resource(Config).depth == 10
    assert Book in world


def test_install_driver_returns_the_installers_poller() -> None:
    class Poller:
        def __init__(self, rid: ResourceId) -> None:
            self.rid = rid

    class Installer:
        def install(self, builder: WorldBuilder) -> Poller:
            return Poller(builder.register(Stats()))

    wb = WorldBuilder()
    poller = wb.install_driver(Installer())
    assert isinstance(poller, Poller)
    world = wb.build()
    assert world.get(poller.rid) is world.resource(Stats)
    with pytest.raises(FrozenWorldError, match="Installer"):
        wb.install_driver(Installer())


def test_unhashable_key_is_rejected() -> None:
    wb = WorldBuilder()
    with pytest.raises(TypeError, match="hashable"):
        wb.register(1, as_type=[1])
    world = wb.build()
    with pytest.raises(UnknownResourceError):
        world.resource([1])  # type: ignore[arg-type]


def test_missing_type_hints_at_the_boxed_or_unboxed_form() -> None:
    wb = WorldBuilder()
    wb.register(Cell(0))
    wb.register("name")
    world = wb.build()
    with pytest.raises(UnknownResourceError, match=r"resource int is not.*Cell\[int\]"):
        world.resource(int)
    with pytest.raises(UnknownResourceError, match=r"Cell\[str\].*similar key: .*str"):
        world.resource(Cell[str])
