"""nexusloop: a drop-in asyncio event loop for latency-sensitive, single-threaded systems.

Quick start::

    import nexusloop

    async def main():
        ...

    nexusloop.run(main())                     # like asyncio.run, on nexusloop
    # or: asyncio.Runner(loop_factory=nexusloop.new_event_loop)
    nexusloop.run(main(), tasks_per_cycle=32)  # runtime options: see nexusloop.LoopOptions

    async def main():
        handle = nexusloop.spawn(work())          # a task with a JoinHandle (nexusloop.runtime)
        result = await handle

The loop is imported lazily on first use, so ``import nexusloop.world`` or
``import nexusloop.channels`` does not import the ``Loop`` class or the network layer (only the
compiled core, a few milliseconds). ``nexusloop.is_compiled()`` says whether that core runs
compiled; ``python -m nexusloop info`` says why not.
"""

import importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

__version__ = "0.1.0"

__all__ = [
    "CancellationToken",
    "EventLoopPolicy",
    "JoinHandle",
    "Loop",
    "LoopOptions",
    "Runtime",
    "SlabClaim",
    "SlabFullError",
    "claim_slab",
    "install",
    "is_compiled",
    "new_event_loop",
    "run",
    "shutdown_signal",
    "spawn",
    "spawn_slab",
    "try_claim_slab",
    "__version__",
]

_LAZY = {
    "EventLoopPolicy": "nexusloop._entry",
    "install": "nexusloop._entry",
    "is_compiled": "nexusloop._compiled",
    "new_event_loop": "nexusloop._entry",
    "run": "nexusloop._entry",
    "Loop": "nexusloop.loop",
    "LoopOptions": "nexusloop._options",
    "CancellationToken": "nexusloop.cancel",
    "JoinHandle": "nexusloop.runtime",
    "Runtime": "nexusloop.runtime",
    "SlabClaim": "nexusloop.runtime",
    "SlabFullError": "nexusloop.runtime",
    "claim_slab": "nexusloop.runtime",
    "shutdown_signal": "nexusloop.runtime",
    "spawn": "nexusloop.runtime",
    "spawn_slab": "nexusloop.runtime",
    "try_claim_slab": "nexusloop.runtime",
}

if _TYPE_CHECKING:
    from nexusloop._compiled import is_compiled
    from nexusloop._entry import EventLoopPolicy, install, new_event_loop, run
    from nexusloop._options import LoopOptions
    from nexusloop.cancel import CancellationToken
    from nexusloop.loop import Loop
    from nexusloop.runtime import (
        JoinHandle,
        Runtime,
        SlabClaim,
        SlabFullError,
        claim_slab,
        shutdown_signal,
        spawn,
        spawn_slab,
        try_claim_slab,
    )


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nexusloop' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
