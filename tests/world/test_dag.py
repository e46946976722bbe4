"""DAGs: root, fork into arms reading the same value, merge, join, nested forks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from nexusloop.world import (
    BuildError,
    Cell,
    Dag,
    DagStart,
    Handler,
    Pipeline,
    Res,
    ResMut,
    World,
    WorldBuilder,
)


@dataclass
class Trace:
    steps: list[Any] = field(default_factory=list)


@dataclass
class Offset:
    value: int = 100


@pytest.fixture
def world() -> World:
    wb = WorldBuilder()
    wb.register(Trace())
    wb.register(Offset())
    wb.register(Cell(0))
    return wb.build()


def test_seed_example(world: World) -> None:
    dag = (
        Dag.start(world.registry, int)
        .root(lambda x: x * 2)
        .fork()
        .arm(lambda a: a.then(lambda x: x + 1))
        .arm(lambda b: b.then(lambda x: x * 3))
        .merge(lambda a, b: a + b)
        .build()
    )
    assert isinstance(dag, Dag) and isinstance(dag, Handler)
    assert dag.run(world, 5) == 41   # root 10, arms 11 and 30, merge 41


def test_arms_receive_the_same_object(world: World) -> None:
    seen: list[Any] = []
    payload = {"k": 1}
    dag = (DagStart(world.registry).root(lambda x: x)
           .fork()
           .arm(lambda a: a.tap(seen.append))
           .arm(lambda b: b.tap(seen.append))
           .join()
           .build())
    assert dag.run(world, payload) is payload
    assert seen[0] is payload and seen[1] is payload


def test_arms_run_in_order_with_resources(world: World) -> None:
    def note(trace: ResMut[Trace], x: int) -> int:
        trace.steps.append(x)
        return x

    def shift(off: Res[Offset], x: int) -> int:
        return x + off.value

    dag = (Dag.start(world.registry, int).root(note)
           .fork()
           .arm(lambda a: a.then(shift).then(note))
           .arm(lambda b: b.then(lambda x: -x).then(note))
           .merge(lambda a, b: (a, b))
           .then(note)
           .build())
    world.next_sequence()
    assert dag.run(world, 1) == (101, -1)
    assert world.resource(Trace).steps == [1, 101, -1, (101, -1)]
    assert world.changed_at(Trace) == 1


def test_merge_with_resources(world: World) -> None:
    def combine(off: Res[Offset], a: int, b: int) -> int:
        return a + b + off.value

    dag = (Dag.start(world.registry, int).root(abs).fork()
           .arm(lambda a: a).arm(lambda b: b).merge(combine).build())
    assert dag.run(world, -2) == 104


def test_nested_forks(world: World) -> None:
    dag = (
        Dag.start(world.registry, int)
        .root(lambda x: x + 1)
        .fork()
        .arm(lambda a: a.then(lambda x: x * 10)
             .fork()
             .arm(lambda c: c.then(lambda x: x + 1))
             .arm(lambda d: d.then(lambda x: x + 2))
             .arm(lambda e: e)
             .merge(lambda c, d, e: c + d + e))
        .arm(lambda b: b.then(lambda x: -x))
        .merge(lambda a, b: (a, b))
        .build()
    )
    # root 2; arm a: 20 -> (21 + 22 + 20) = 63; arm b: -2
    assert dag.run(world, 1) == (63, -2)


def test_arm_without_value_passes_none_to_merge(world: World) -> None:
    dag = (Dag.start(world.registry, int).root(lambda x: x)
           .fork()
           .arm(lambda a: a.filter(lambda x: x > 0).map(lambda x: x * 2))
           .arm(lambda b: b.then(str))
           .merge(lambda a, b: (a, b))
           .build())
    assert dag.run(world, 3) == (6, "3")
    assert dag.run(world, -3) == (None, "-3")


def test_guard_in_arm_stops_the_whole_event(world: World) -> None:
    seen: list[int] = []
    dag = (Dag.start(world.registry, int).root(lambda x: x)
           .fork()
           .arm(lambda a: a.guard(lambda x: x != 0))
           .arm(lambda b: b.tap(seen.append))
           .merge(lambda a, b: a)
           .build())
    assert dag.run(world, 0) is None
    assert seen == []
    assert dag.run(world, 4) == 4 and seen == [4]


def test_catch_inside_arm_isolates_it(world: World) -> None:
    errors: list[Any] = []
    dag = (Dag.start(world.registry, str).root(str.strip)
           .fork()
           .arm(lambda a: a.then(int).catch(errors.append))
           .arm(lambda b: b.then(len))
           .merge(lambda a, b: (a, b))
           .build())
    assert dag.run(world, " 12 ") == (12, 2)
    assert dag.run(world, " x ") == (None, 1)
    assert len(errors) == 1


def test_fork_after_filter_is_skipped_without_value(world: World) -> None:
    calls: list[int] = []
    dag = (Dag.start(world.registry, int).root(lambda x: x)
           .filter(lambda x: x > 0)
           .fork()
           .arm(lambda a: a.tap(calls.append))
           .merge(lambda a: a * 2)
           .unwrap_or(0)
           .build())
    assert (dag.run(world, 5), dag.run(world, -5)) == (10, 0)
    assert calls == [5]


def test_any_pipeline_can_fork_and_arms_can_be_chains(world: World) -> None:
    reg = world.registry
    p = (Pipeline.start(reg, int).then(lambda x: x + 1)
         .fork().arm(Pipeline.start(reg).then(lambda x: x * 2)).arm(lambda b: b)
         .merge(lambda a, b: a - b).build())
    assert p.run(world, 4) == 5


def test_dag_batch(world: World) -> None:
    out: list[Any] = []
    batch = (Dag.start(world.registry, int).root(lambda x: x)
             .fork().arm(lambda a: a.then(lambda x: x + 1)).arm(lambda b: b)
             .merge(lambda a, b: a * b).inspect(out.append).build_batch(8))
    batch.input.extend([1, 2, 3])
    batch.run(world)
    assert out == [2, 6, 12]


def test_generated_source_is_flat(world: World) -> None:
    dag = (Dag.start(world.registry, int).root(abs).fork()
           .arm(lambda a: a.then(str)).arm(lambda b: b.then(float))
           .merge(lambda a, b: (a, b)).build())
    # one function, arms as locals: no nested def per node
    assert dag.source.count("def ") == 2   # the factory and run
    assert "_arm_" in dag.source


def test_bad_dag_input(world: World) -> None:
    fork = Dag.start(world.registry, int).root(abs).fork()
    with pytest.raises(BuildError, match="at least one arm"):
        fork.merge(lambda: 0)
    with pytest.raises(BuildError, match="at least one arm"):
        fork.join()
    with pytest.raises(BuildError, match="not a Pipeline"):
        fork.arm(lambda a: 42)  # type: ignore[arg-type,return-value]
    with pytest.raises(BuildError, match="neither"):
        fork.arm(42)  # type: ignore[arg-type]

    def two(a: int, b: int) -> int:
        return a

    with pytest.raises(BuildError, match="two"):
        Dag.start(world.registry).root(two)
    with pytest.raises(BuildError, match="two"):
        fork.arm(lambda a: a).merge(two, name="two")  # one arm, merge takes two
