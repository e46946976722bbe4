"""with_world() / world(): the running loop's World."""
from __future__ import annotations

import asyncio

import pytest

from nexusloop.world import Cell, World, current_world, with_world, world

from .conftest import make_world


class WorldLoop(asyncio.SelectorEventLoop):
    """A stock loop carrying a World, as nexusloop.new_event_loop(world=...) does."""

    def __init__(self, world: World | None) -> None:
        super().__init__()
        self.world = world



def run_on(loop: asyncio.AbstractEventLoop, coro: object) -> object:
    try:
        return loop.run_until_complete(coro)  # type: ignore[arg-type]
    finally:
        loop.close()


def test_world_and_with_world_inside_tasks() -> None:
    w = make_world(cell=41)

    async def main() -> tuple[bool, int]:
        async def child() -> int:
            return with_world(lambda wd: wd.resource(Cell[int]).value + 1)

        same = world() is w and current_world() is w
        return same, await asyncio.create_task(child())

    assert run_on(WorldLoop(w), main()) == (True, 42)


def test_no_running_loop_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="needs a running event loop"):
        world()
    with pytest.raises(RuntimeError, match="running event loop"):
        with_world(lambda w: w)
    assert current_world() is None


def test_loop_without_world_is_a_clear_error() -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match="carries no World"):
            world()
        assert current_world() is None

    run_on(WorldLoop(None), main())
    asyncio.run(main())  # a stock loop has no `world` attribute at all


def test_loop_world_of_the_wrong_type() -> None:
    loop = WorldLoop(None)
    loop.world = "not a world"  # type: ignore[assignment]

    async def main() -> None:
        with pytest.raises(RuntimeError, match="not a nexusloop.world.World"):
            world()

    run_on(loop, main())
