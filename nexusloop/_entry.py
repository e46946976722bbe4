"""Entry points users of other loops already know: ``new_event_loop``, ``run``, the policy.

Each takes the loop options as a :class:`nexusloop.LoopOptions`, as keyword arguments, or both
(keywords override), and turns them into one ``LoopOptions`` with ``LoopOptions.from_kwargs``
before anything else, so a bad option fails at the call that named it.
"""
from __future__ import annotations

import asyncio
import sys
import warnings
from collections.abc import Coroutine
from typing import Any, TypeVar, Unpack

from nexusloop._options import LoopOptions, LoopOptionsKwargs
from nexusloop.loop import Loop

_T = TypeVar("_T")


def new_event_loop(
    options: LoopOptions | None = None, **kwargs: Unpack[LoopOptionsKwargs]
) -> Loop:
    """Create a new :class:`nexusloop.Loop` with the given options (see ``LoopOptions``).

    Example::

        loop = nexusloop.new_event_loop(event_interval=32)
        loop = nexusloop.new_event_loop(nexusloop.LoopOptions(busy_poll=True))
        with asyncio.Runner(loop_factory=nexusloop.new_event_loop) as runner: ...
    """
    return Loop(options, **kwargs)


def run(
    main: Coroutine[Any, Any, _T],
    *,
    debug: bool | None = None,
    options: LoopOptions | None = None,
    **kwargs: Unpack[LoopOptionsKwargs],
) -> _T:
    """Run coroutine ``main`` on a new nexusloop loop, like :func:`asyncio.run`.

    The loop gets ``options`` and the option keywords (see ``LoopOptions``)::

        nexusloop.run(main(), event_interval=16)
        nexusloop.run(main(), options=nexusloop.LoopOptions(timers_first=True))
    """
    resolved = LoopOptions.from_kwargs(options, **kwargs)
    with asyncio.Runner(debug=debug, loop_factory=lambda: new_event_loop(resolved)) as runner:
        return runner.run(main)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):  # type: ignore[misc,valid-type]
    """Event loop policy whose loops are nexusloop loops (for code that still uses policies).

    Takes the loop options (see ``LoopOptions``) for every loop it makes.

    Example::

        asyncio.set_event_loop_policy(nexusloop.EventLoopPolicy(event_interval=16))
    """

    def __init__(
        self, options: LoopOptions | None = None, **kwargs: Unpack[LoopOptionsKwargs]
    ) -> None:
        super().__init__()
        self._nexus_options = LoopOptions.from_kwargs(options, **kwargs)

    def new_event_loop(self) -> Loop:  # type: ignore[override]
        return new_event_loop(self._nexus_options)


def install(options: LoopOptions | None = None, **kwargs: Unpack[LoopOptionsKwargs]) -> None:
    """Make nexusloop the loop of ``asyncio.get_event_loop_policy()``-based code.

    Takes the loop options (see ``LoopOptions``). Policies are deprecated from Python 3.14;
    there this warns as Python does.

    Example::

        nexusloop.install(tasks_per_cycle=32)
    """
    if sys.version_info >= (3, 14):
        warnings.warn(
            "nexusloop.install() relies on asyncio event loop policies, deprecated since "
            "Python 3.14; use nexusloop.run() or asyncio.Runner(loop_factory=nexusloop.new_event_loop)",
            DeprecationWarning,
            stacklevel=2,
        )
    asyncio.set_event_loop_policy(EventLoopPolicy(options, **kwargs))
