"""Dispatch allocates nothing beyond the call itself (tracemalloc over many dispatches).

tracemalloc sees heap allocations that are not served from a free list. Each measurement runs
10 000 dispatches and compares the traced peak with the same loop calling a do-nothing function:
a per-dispatch allocation (a bound method, an argument tuple, a kwargs dict of a non-freelisted
size, a wrapper object) would raise the peak by at least its size, and a leak would raise the
final total. A negative control proves the harness notices an allocating dispatcher.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nexusloop.world import (
    Cell,
    HandlerTemplate,
    Local,
    Res,
    ResMut,
    Seq,
    World,
    WorldBuilder,
    compile_step,
    into_callback,
    into_handler,
)

from ._alloc import measure

EVENTS = [1] * 10_000


def _measure(run: Callable[[Any, Any], Any], world: World) -> tuple[int, int]:
    return measure(run, world, EVENTS, warmup=200)


class Big:
    """Not served by any free list."""

    __slots__ = ("a", "b", "c", "d")


@pytest.fixture
def world() -> World:
    wb = WorldBuilder()
    wb.register(Cell(0))
    wb.register(Cell("s"))
    wb.register(Cell(1.0))
    return wb.build()


def _baseline(world: World) -> tuple[int, int]:
    def nothing(world: World, event: object) -> None:
        return None

    return _measure(nothing, world)


def write(
    c: ResMut[Cell[int]], s: Res[Cell[str]], f: ResMut[Cell[float]], n: Local[Cell[int]],
    seq: Seq, event: int,
) -> None:
    c.value = event  # no allocation in the body: small ints are cached


def cb_write(ctx: list[int], c: ResMut[Cell[int]], event: int) -> None:
    c.value = event


def _dispatchers(world: World) -> dict[str, Callable[[Any, Any], Any]]:
    step = compile_step(write, world.registry)
    return {
        "into_handler": into_handler(write, world.registry).run,
        "template": HandlerTemplate(write, world.registry).generate().run,
        "callback": into_callback(cb_write, [], world.registry).run,
        "lambda": into_handler(
            lambda c, e: None, world.registry, params=[ResMut[Cell[int]]]
        ).run,
        "compile_step": lambda w, e: step(e),
    }


@pytest.mark.parametrize(
    "kind", ["into_handler", "template", "callback", "lambda", "compile_step"]
)
def test_dispatch_allocates_nothing(world: World, kind: str) -> None:
    run = _dispatchers(world)[kind]
    base_net, base_peak = _baseline(world)
    net, peak = _measure(run, world)
    assert net <= base_net, f"{kind}: {net} bytes retained over {len(EVENTS)} dispatches"
    assert peak <= base_peak, f"{kind}: peak {peak} bytes vs {base_peak} for a bare call"


def test_harness_detects_a_per_dispatch_allocation(world: World) -> None:
    def allocating(c: ResMut[Cell[int]], event: int) -> None:
        c.value = Big()  # type: ignore[assignment]

    _base_net, base_peak = _baseline(world)
    _net, peak = _measure(into_handler(allocating, world.registry).run, world)
    assert peak > base_peak
