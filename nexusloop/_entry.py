"""Entry points users of other loops already know: ``new_event_loop``, ``run``, the policy.

Each takes the loop options as a :class:`nexusloop.LoopOptions`, as keyword arguments, or both
(keywords override), and turns them into one ``LoopOptions`` with ``LoopOptions.from_kwargs``
before anything else, so a bad option fails at the call that named it.
"""
from __future__ import annotations

import asyncio
import inspect
import sys
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, Unpack

from nexusloop import _compat
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
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
    options: LoopOptions | None = None,
    **kwargs: Unpack[LoopOptionsKwargs],
) -> _T:
    """Run coroutine ``main`` on a new nexusloop loop, like :func:`asyncio.run`.

    The loop gets ``options`` and the option keywords (see ``LoopOptions``)::

        nexusloop.run(main(), event_interval=16)
        nexusloop.run(main(), options=nexusloop.LoopOptions(timers_first=True))

    ``loop_factory`` replaces the loop construction, as in ``uvloop.run`` and ``asyncio.run``
    (3.12+); it cannot be combined with loop options. Called from a running event loop, this
    raises ``RuntimeError`` as ``asyncio.run`` does, and closes ``main`` so that it does not
    warn "never awaited".
    """
    if _compat.get_running_loop_or_none() is not None:
        if inspect.iscoroutine(main):
            main.close()
        raise RuntimeError("nexusloop.run() cannot be called from a running event loop")
    if loop_factory is None:
        try:
            resolved = LoopOptions.from_kwargs(options, **kwargs)
        except BaseException:
            if inspect.iscoroutine(main):
                main.close()
            raise

        def factory() -> asyncio.AbstractEventLoop:
            return new_event_loop(resolved)

        loop_factory = factory
    elif options is not None or kwargs:
        if inspect.iscoroutine(main):
            main.close()
        names = ", ".join(["options"] * (options is not None) + list(kwargs))
        raise TypeError(f"nexusloop.run(): pass loop options ({names}) or loop_factory, not both")
    with asyncio.Runner(debug=debug, loop_factory=loop_factory) as runner:
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
