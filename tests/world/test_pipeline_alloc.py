"""Built pipelines, batches, DAGs and fan-outs allocate nothing per dispatch.

tracemalloc traces heap allocations not served by a free list. Each case dispatches 10 000
events through a built object whose steps themselves allocate nothing (small ints, in-place
writes) and compares the traced peak and the retained total with the same loop calling a
do-nothing function. A per-event wrapper object, argument tuple, closure, bound method or
intermediate list would raise the peak by at least its size; state that grew per event would
raise the retained total. A negative control shows the harness notices one allocating step.
"""
from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from nexusloop.world import (
    Broadcast,
    Cell,
    Dag,
    FanOut,
    Local,
    Pipeline,
    Res,
    ResMut,
    Seq,
    World,
    WorldBuilder,
    into_handler,
)

from ._alloc import measure

EVENTS = [i % 50 for i in range(10_000)]   # small ints: cached, no allocation to create


def _measure(run: Callable[[Any, Any], Any], world: World) -> tuple[int, int]:
    return measure(run, world, EVENTS, warmup=300)


def _nothing(world: World, event: object) -> None:
    return None


@pytest.fixture
def world() -> World:
    wb = WorldBuilder()
    wb.register(Cell(0))
    wb.register(Cell("cfg"))
    return wb.build()


def inc(x: int) -> int:
    return x + 1


def scale(cfg: Res[Cell[str]], x: int) -> int:
    return x


def store(c: ResMut[Cell[int]], n: Local[Cell[int]], seq: Seq, x: int) -> int:
    c.value = x
    return x


def positive(x: int) -> bool:
    return x > 3


def ignore(exc: BaseException) -> None:
    return None


def _cases(world: World) -> dict[str, Callable[[Any, Any], Any]]:
    reg = world.registry
    handler = into_handler(lambda c, e: None, reg, params=[ResMut[Cell[int]]])
    three = Pipeline.start(reg, int).then(inc).then(scale).then(store).build()
    option = (Pipeline.start(reg, int).filter(positive).map(inc).dedup().scan(0, lambda a, x: x)
              .inspect(ignore).unwrap_or(0).dispatch(handler).build())
    routed = Pipeline.start(reg, int).route(
        positive, Pipeline.start(reg).then(inc), Pipeline.start(reg).then(store)).build()
    dag = (Dag.start(reg, int).root(inc).fork()
           .arm(lambda a: a.then(scale)).arm(lambda b: b.filter(positive))
           .merge(lambda a, b: a).then(store).build())
    fan = FanOut(three, handler, dag)
    bus: Broadcast[int] = Broadcast(three, handler)
    return {
        "three_steps": three.run,
        "option_chain": option.run,
        "route": routed.run,
        "dag": dag.run,
        "fanout": fan.run,
        "broadcast": bus.run,
    }


@pytest.mark.parametrize(
    "kind", ["three_steps", "option_chain", "route", "dag", "fanout", "broadcast"]
)
def test_dispatch_allocates_nothing(world: World, kind: str) -> None:
    run = _cases(world)[kind]
    base_net, base_peak = _measure(_nothing, world)
    net, peak = _measure(run, world)
    assert net <= base_net, f"{kind}: {net} bytes retained over {len(EVENTS)} dispatches"
    assert peak <= base_peak, f"{kind}: peak {peak} bytes vs {base_peak} for a bare call"


def test_batch_run_allocates_nothing_per_item(world: World) -> None:
    # Filling the input list (its growth) is the driver's side; run() itself allocates one
    # list iterator per run and nothing per item, so the peak does not grow with the batch.
    reg = world.registry
    batch = (Pipeline.start(reg, int).then(inc).filter(positive).then(scale).dedup()
             .then(store).build_batch(len(EVENTS)))
    batch.input.extend(EVENTS[:300])
    batch.run(world)  # warm up
    batch.input.extend(EVENTS)
    gc.disable()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        batch.run(world)
        end, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    assert batch.input == []
    assert peak - start <= 256, f"peak {peak - start} bytes for {len(EVENTS)} items"
    assert end - start <= 0


class Big:
    __slots__ = ("a", "b", "c", "d")


def test_harness_detects_an_allocating_step(world: World) -> None:
    p = Pipeline.start(world.registry, int).then(inc).then(lambda x: Big()).build()
    _base_net, base_peak = _measure(_nothing, world)
    _net, peak = _measure(p.run, world)
    assert peak > base_peak
