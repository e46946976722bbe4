"""The nexus runtime: spawned tasks with join handles, a task pool, and the ``Runtime``.

* :func:`spawn` runs a coroutine as a task and returns a :class:`JoinHandle` (``await`` it for
  the result, ``detach()`` or drop it to let the task run on, ``abort()`` to cancel it).
* :func:`spawn_slab` does the same with a task object from the loop's pre-allocated pool (the
  *slab*, ``LoopOptions.slab``): no task allocation per spawn, and a bounded pool refuses work
  when full (:class:`SlabFullError`). :func:`claim_slab` / :func:`try_claim_slab` reserve a slot
  first (admission control) and return a :class:`SlabClaim` whose ``spawn`` uses it.
* :class:`Runtime` holds the loop options (World, slab, signal handlers) and runs a main
  coroutine with ``block_on``; :func:`shutdown_signal` resolves on SIGINT/SIGTERM.

``docs/runtime.md`` says when to use ``spawn``, ``spawn_slab`` or ``asyncio.create_task``, with
the measured costs. The time functions are in :mod:`nexusloop.time`, cancellation tokens in
:mod:`nexusloop.cancel`, the thread bridge in :mod:`nexusloop.compat`.
"""
from nexusloop.runtime._runtime import Runtime, shutdown_signal
from nexusloop.runtime._task import (
    JoinHandle,
    RuntimeTask,
    SlabClaim,
    SlabFullError,
    claim_slab,
    runtime_stats,
    spawn,
    spawn_slab,
    try_claim_slab,
)

__all__ = [
    "JoinHandle",
    "Runtime",
    "RuntimeTask",
    "SlabClaim",
    "SlabFullError",
    "claim_slab",
    "runtime_stats",
    "shutdown_signal",
    "spawn",
    "spawn_slab",
    "try_claim_slab",
]
