"""The executor service: ``run_in_executor`` and the default executor of a nexusloop loop.

Blocking work (and the C resolver, which has no non-blocking interface: see
``nexusloop.net._dns``) runs in a ``concurrent.futures`` executor; its
``concurrent.futures.Future`` is bridged to an asyncio future of the loop with
``asyncio.wrap_future(..., loop=loop)``, whose completion is delivered through
``call_soon_threadsafe``.  The default executor is a
``ThreadPoolExecutor(thread_name_prefix='asyncio')`` created on first use, so loops that never
touch it start no threads.

Semantics follow CPython 3.11 ``base_events.BaseEventLoop`` (the specification):
``RuntimeError('Executor shutdown has been called')`` once the default executor was shut down
(only when the default executor is requested); ``TypeError`` for coroutines and non-callables
(checked in debug mode only, like CPython); ``set_default_executor`` accepts only a
``ThreadPoolExecutor``; ``shutdown_default_executor()`` joins the executor's threads from a
helper thread so the loop keeps running meanwhile.  It also takes Python 3.12's optional
``timeout`` (warn with RuntimeWarning and stop waiting), because ``asyncio.Runner`` on 3.12+
passes one.

Contract with the loop
----------------------
The loop's ``run_in_executor``, ``set_default_executor`` and ``shutdown_default_executor``
delegate to the methods of the same names here.

What this service calls on the loop (CPython semantics): ``loop._check_closed()``,
``loop._debug``, ``loop.create_future()``, ``loop.call_soon_threadsafe(...)`` (from the joiner
thread), ``loop.is_closed()``.

What the loop calls on it: the three methods above, and ``close()`` from ``Loop.close()`` (a
:class:`nexusloop._service.LoopService`): marks shutdown as called and shuts the default
executor down with ``wait=False``, as ``BaseEventLoop.close`` does.

State: ``default_executor`` and ``shutdown_called``.  The loop exposes them under CPython's
names, ``loop._default_executor`` and ``loop._executor_shutdown_called``, because CPython's tests
(``test_asyncio.utils.close_loop``) and tools read them.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple, Unpack

if TYPE_CHECKING:
    from nexusloop.loop import Loop

__all__ = ["ExecutorService"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


class ExecutorService:
    """Executors of one loop; see the module docstring for the contract."""

    __slots__ = ("_loop", "default_executor", "shutdown_called", "_jobs")

    def __init__(self, loop: Loop) -> None:
        # Weak: the loop owns this service (see nexusloop._service). close() needs no loop.
        self._loop: weakref.ref[Loop] = weakref.ref(loop)
        self.default_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.shutdown_called = False
        # Jobs submitted and not finished (set.add/discard are atomic: workers discard).
        self._jobs: set[concurrent.futures.Future[Any]] = set()

    def in_flight(self) -> int:
        """Jobs running or queued outside the loop (virtual time does not jump past them)."""
        return len(self._jobs)

    def close(self) -> None:
        """Stop the default executor without waiting for it (``Loop.close()``)."""
        self.shutdown_called = True
        executor = self.default_executor
        if executor is not None:
            self.default_executor = None
            executor.shutdown(wait=False)

    def _live_loop(self) -> Loop:
        loop = self._loop()
        assert loop is not None, "the loop calls its services only while it is alive"
        return loop

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[[Unpack[_Ts]], _T],
        *args: *_Ts,
    ) -> asyncio.Future[_T]:
        """``loop.run_in_executor``: submit ``func(*args)``, return an asyncio future for it."""
        loop = self._live_loop()
        loop._check_closed()
        if loop._debug:
            if asyncio.iscoroutine(func) or asyncio.iscoroutinefunction(func):
                raise TypeError("coroutines cannot be used with run_in_executor()")
            if not callable(func):
                raise TypeError(
                    f"a callable object was expected by run_in_executor(), got {func!r}"
                )
        if executor is None:
            if self.shutdown_called:
                raise RuntimeError("Executor shutdown has been called")
            executor = self.default_executor
            if executor is None:
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio")
                self.default_executor = executor
        job = executor.submit(func, *args)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)
        return asyncio.wrap_future(job, loop=loop)

    def set_default_executor(self, executor: Any) -> None:
        """``loop.set_default_executor``: only a ``ThreadPoolExecutor`` is accepted."""
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError("executor must be ThreadPoolExecutor instance")
        self.default_executor = executor

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        """``loop.shutdown_default_executor``: join the threads without blocking the loop."""
        self.shutdown_called = True
        executor = self.default_executor
        if executor is None:
            return
        loop = self._live_loop()
        done = loop.create_future()
        # Joining blocks, so it happens in a helper thread that reports back thread-safely.
        joiner = threading.Thread(target=_join_executor, args=(loop, executor, done))
        joiner.start()
        if timeout is None:
            try:
                await done
            finally:
                joiner.join()
            return
        try:
            async with asyncio.timeout(timeout):
                await done
        except TimeoutError:
            warnings.warn(
                f"The executor did not finishing joining its threads within {timeout} seconds.",
                RuntimeWarning,
                stacklevel=3,  # the caller of loop.shutdown_default_executor(), as in asyncio
            )
            executor.shutdown(wait=False)
        else:
            joiner.join()


def _join_executor(
    loop: Loop, executor: concurrent.futures.Executor, done: asyncio.Future[None]
) -> None:
    """Joiner thread of ``shutdown_default_executor``: report back to the loop thread-safely."""
    try:
        executor.shutdown(wait=True)
    except Exception as exc:  # noqa: BLE001 - delivered to the awaiting caller
        if not loop.is_closed():
            loop.call_soon_threadsafe(_set_exception_unless_done, done, exc)
    else:
        if not loop.is_closed():
            loop.call_soon_threadsafe(_set_result_unless_done, done, None)


def _set_result_unless_done(fut: asyncio.Future[Any], result: Any) -> None:
    # The awaiting coroutine may have been cancelled (or timed out) in the meantime.
    if not fut.done():
        fut.set_result(result)


def _set_exception_unless_done(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
