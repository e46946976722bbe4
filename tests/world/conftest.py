"""Helpers shared by the World tests: the ``Log`` resource, ``make_world`` and loops with options.

Test modules import the helpers (``from .conftest import Log, make_world``); the fixtures are
found by pytest as usual.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import _checked

import nexusloop
from nexusloop.world import Cell, World, WorldBuilder


@dataclass
class Log:
    """A resource handlers append to; tests read ``lines`` to see what ran, in order."""

    lines: list[Any] = field(default_factory=list)


def make_world(*extra: object, cell: int = 0) -> World:
    """A built World holding a :class:`Log`, a ``Cell(cell)`` and the ``extra`` resources."""
    wb = WorldBuilder()
    wb.register(Log())
    wb.register(Cell(cell))
    for resource in extra:
        wb.register(resource)
    return wb.build()


@pytest.fixture
def nloop_with() -> Iterator[Callable[..., asyncio.AbstractEventLoop]]:
    """Make nexusloop loops with options (``nloop_with(world=w)``), closed and fd-checked after.

    The same leak check as the ``nloop`` fixture of ``tests/conftest.py``, for tests whose loop
    needs options that fixture cannot pass.
    """
    with ExitStack() as stack:

        def make(**options: Any) -> asyncio.AbstractEventLoop:
            loop: asyncio.AbstractEventLoop = stack.enter_context(
                _checked(lambda: nexusloop.new_event_loop(**options))
            )
            return loop

        yield make
