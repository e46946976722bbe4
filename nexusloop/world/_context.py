"""The World a running event loop carries, for code running on that loop.

``nexusloop.new_event_loop(world=w)`` stores the World as ``loop.world``. Tasks and callbacks
on the loop reach it with :func:`world` or :func:`with_world`, without threading it through
every call. The lookup is ``getattr(asyncio.get_running_loop(), "world", None)``, so any loop
that carries a ``world`` attribute works, and a loop without one gives a clear error.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from ._world import World

__all__ = ["current_world", "with_world", "world"]

R = TypeVar("R")


def current_world() -> World | None:
    """The running loop's World, or None (no running loop, or a loop without a World)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    found = getattr(loop, "world", None)
    return found if isinstance(found, World) else None


def world() -> World:
    """The running loop's World; :class:`RuntimeError` when there is none.

    Example::

        async def report() -> None:
            book = world().resource(OrderBook)
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "nexusloop.world.world() needs a running event loop (call it from a task or "
            "callback on a loop created with nexusloop.new_event_loop(world=...))"
        ) from None
    found = getattr(loop, "world", None)
    if found is None:
        raise RuntimeError(
            f"the running loop ({type(loop).__name__}) carries no World; create it with "
            "nexusloop.new_event_loop(world=...)"
        )
    if not isinstance(found, World):
        # A misconfigured loop rather than a bad argument, hence not TypeError.
        raise RuntimeError(f"loop.world is {found!r}, not a nexusloop.world.World")  # noqa: TRY004
    return found


def with_world(fn: Callable[[World], R]) -> R:
    """Call ``fn(world)`` with the running loop's World and return its result.

    Example::

        total = with_world(lambda w: w.resource(Cell[int]).value)
    """
    return fn(world())
