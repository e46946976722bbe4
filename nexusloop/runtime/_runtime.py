"""``Runtime``: a loop with its options, World and task pool that runs a main coroutine.

The seed's quick start (``Runtime::new(&mut world).block_on(main)``) in Python. A ``Runtime`` is
a thin, typed wrapper around ``asyncio.Runner`` with a nexusloop loop factory: the same
lifecycle (the loop is made on the first ``block_on``, reused by later ones, and closed by
``close()`` or the ``with`` block, after cancelling leftover tasks and shutting down async
generators and the default executor), so nothing here re-implements asyncio's shutdown rules.

``shutdown_signal()`` is the other half of the seed's graceful shutdown: with
``signal_handlers=True`` the loop handles SIGINT and SIGTERM itself, and the first one resolves
every ``await shutdown_signal()``; the program then cancels its token tree and joins its tasks.
"""
from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar, Unpack

from nexusloop._entry import new_event_loop
from nexusloop._options import LoopOptions, LoopOptionsKwargs
from nexusloop.loop import Loop

__all__ = ["Runtime", "shutdown_signal"]

_T = TypeVar("_T")


class Runtime:
    """A nexusloop loop with its options (World, slab, signal handlers ...) that runs coroutines.

    Example::

        world = WorldBuilder().register(Config()).build()
        with nexusloop.Runtime(world=world, slab=1024, signal_handlers=True) as rt:
            rt.block_on(main())

    ``block_on`` may be called several times; each runs on the same loop. The loop is closed
    when the ``with`` block ends or ``close()`` is called (``block_on`` outside a ``with`` block
    also works; then call ``close()``).
    """

    def __init__(
        self,
        options: LoopOptions | None = None,
        *,
        debug: bool | None = None,
        **kwargs: Unpack[LoopOptionsKwargs],
    ) -> None:
        self._options = LoopOptions.from_kwargs(options, **kwargs)
        self._runner = asyncio.Runner(debug=debug, loop_factory=self._new_loop)

    def _new_loop(self) -> Loop:
        return new_event_loop(self._options)

    @property
    def options(self) -> LoopOptions:
        return self._options

    @property
    def loop(self) -> Loop:
        """The runtime's loop (made now if no ``block_on`` made it yet)."""
        loop = self._runner.get_loop()
        assert isinstance(loop, Loop)
        return loop

    def block_on(self, main: Coroutine[Any, Any, _T]) -> _T:
        """Run ``main`` to completion on the runtime's loop and return its result."""
        return self._runner.run(main)

    def close(self) -> None:
        """Cancel what is left, shut down async generators and executors, close the loop."""
        self._runner.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<nexusloop.Runtime options={self._options!r}>"


async def shutdown_signal() -> signal.Signals:
    """Wait for SIGINT or SIGTERM; return the signal that came (at once if one already did).

    Needs a loop made with ``signal_handlers=True`` (in the main thread); then the loop handles
    both signals itself: the first resolves every waiter (no ``KeyboardInterrupt``), a second
    one raises ``KeyboardInterrupt`` out of the loop, so a shutdown that hangs can still be
    interrupted.

    Example::

        async def main():
            token = CancellationToken()
            workers = [nexusloop.spawn(worker(token.child_token())) for _ in range(4)]
            await nexusloop.shutdown_signal()
            token.cancel()
            for handle in workers:
                await handle

        nexusloop.Runtime(signal_handlers=True).block_on(main())
    """
    loop = asyncio.get_running_loop()
    if not isinstance(loop, Loop):
        raise RuntimeError(
            "shutdown_signal() needs a running nexusloop loop made with signal_handlers=True, "
            f"not {type(loop).__name__}"
        )
    service = loop._signals
    if not service.shutdown_installed:
        raise RuntimeError(
            "shutdown_signal() needs the loop option signal_handlers=True "
            "(nexusloop.Runtime(signal_handlers=True) or nexusloop.run(main(), "
            "signal_handlers=True))"
        )
    return await service.shutdown_waiter()
