"""Entry points users of other loops already know: ``new_event_loop``, ``run``, the policy."""
from __future__ import annotations

import asyncio
import sys
import warnings
from collections.abc import Coroutine
from typing import Any, TypeVar

from nexusloop.loop import Loop

_T = TypeVar("_T")


def new_event_loop(**options: Any) -> Loop:
    """Create a new :class:`nexusloop.Loop`.

    Accepts the runtime options as keyword arguments (``tasks_per_cycle``, ``event_interval``,
    ``busy_poll``, ``world``)::

        loop = nexusloop.new_event_loop(event_interval=32)
        with asyncio.Runner(loop_factory=nexusloop.new_event_loop) as runner: ...
    """
    # Loop does not implement the transport/server/subprocess methods yet (NotImplementedError).
    return Loop(**options)  # type: ignore[abstract]


def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None, **options: Any) -> _T:
    """Run coroutine ``main`` on a new nexusloop loop, like :func:`asyncio.run`.

    ``options`` are passed to :func:`new_event_loop`::

        nexusloop.run(main(), event_interval=16)
    """
    with asyncio.Runner(debug=debug, loop_factory=lambda: new_event_loop(**options)) as runner:
        return runner.run(main)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):  # type: ignore[misc,valid-type]
    """Event loop policy whose loops are nexusloop loops (for code that still uses policies).

    Example::

        asyncio.set_event_loop_policy(nexusloop.EventLoopPolicy())
    """

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self._nexus_options = options

    def new_event_loop(self) -> Loop:  # type: ignore[override]
        return new_event_loop(**self._nexus_options)


def install(**options: Any) -> None:
    """Make nexusloop the loop of ``asyncio.get_event_loop_policy()``-based code.

    Policies are deprecated from Python 3.14; there this warns as Python does.
    """
    if sys.version_info >= (3, 14):
        warnings.warn(
            "nexusloop.install() relies on asyncio event loop policies, deprecated since "
            "Python 3.14; use nexusloop.run() or asyncio.Runner(loop_factory=nexusloop.new_event_loop)",
            DeprecationWarning,
            stacklevel=2,
        )
    asyncio.set_event_loop_policy(EventLoopPolicy(**options))
