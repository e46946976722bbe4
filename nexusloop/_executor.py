"""Executors for nexusloop's Loop: ``run_in_executor`` and the default executor.

Blocking work (and the C resolver, which has no non-blocking interface: see
``nexusloop.net._dns``) runs in a
``concurrent.futures`` executor; its ``concurrent.futures.Future`` is bridged to an
asyncio future of this loop with ``asyncio.wrap_future(..., loop=self)``, whose
completion is delivered through ``call_soon_threadsafe``.  The default executor is a
``ThreadPoolExecutor(thread_name_prefix='asyncio')`` created on first use, so loops
that never touch it start no threads.

Semantics follow CPython 3.11 ``base_events.BaseEventLoop`` (the specification):
``RuntimeError('Executor shutdown has been called')`` once the default executor was
shut down (only when the default executor is requested); ``TypeError`` for coroutines
and non-callables (checked in debug mode only, like CPython); ``set_default_executor``
accepts only a ``ThreadPoolExecutor``; ``shutdown_default_executor()`` joins the
executor's threads from a helper thread so the loop keeps running meanwhile.  It also
takes Python 3.12's optional ``timeout`` (warn with RuntimeWarning and stop waiting),
because ``asyncio.Runner`` on 3.12+ passes one.

Contract with the Loop
----------------------
Members this mixin relies on (CPython semantics): ``self._check_closed()``,
``self._debug``, ``self.create_future()``, ``self.call_soon_threadsafe(...)``,
``self.is_closed()``.

State (attribute names as CPython's, since tests and tools poke them):
``self._default_executor`` and ``self._executor_shutdown_called``.  Class-level
defaults make the mixin work even if the hook is not called, but the Loop should call

* ``self._init_executor_state()`` from ``Loop.__init__``;
* ``self._close_executor_state()`` from ``Loop.close()``: marks shutdown as called
  and shuts the default executor down with ``wait=False``, as ``BaseEventLoop.close``.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple, Unpack

__all__ = ["ExecutorMixin"]

# Type checkers see the mixin as an event loop (so self.create_future() etc. are typed);
# at runtime it is a plain mixin and the Loop supplies AbstractEventLoop itself.
if TYPE_CHECKING:
    _LoopBase = asyncio.AbstractEventLoop
else:
    _LoopBase = object

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


class ExecutorMixin(_LoopBase):
    """Executor methods for the Loop; see the module docstring for the contract."""

    __slots__ = ()

    _default_executor: concurrent.futures.ThreadPoolExecutor | None = None
    _executor_shutdown_called: bool = False

    if TYPE_CHECKING:
        _debug: bool

        def _check_closed(self) -> None: ...

    # -- lifecycle hooks -------------------------------------------------------------------

    def _init_executor_state(self) -> None:
        """Called from ``Loop.__init__``."""
        self._default_executor = None
        self._executor_shutdown_called = False

    def _close_executor_state(self) -> None:
        """Called from ``Loop.close()``: stop the default executor without waiting for it."""
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is not None:
            self._default_executor = None
            executor.shutdown(wait=False)

    # -- executors -------------------------------------------------------------------------

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[[Unpack[_Ts]], _T],
        *args: *_Ts,
    ) -> asyncio.Future[_T]:
        """Run ``func(*args)`` in ``executor`` (``None``: the default thread pool).

        Example::

            digest = await loop.run_in_executor(None, hashlib.sha256, payload)
        """
        self._check_closed()
        if self._debug:
            if asyncio.iscoroutine(func) or asyncio.iscoroutinefunction(func):
                raise TypeError("coroutines cannot be used with run_in_executor()")
            if not callable(func):
                raise TypeError(
                    f"a callable object was expected by run_in_executor(), got {func!r}"
                )
        if executor is None:
            if self._executor_shutdown_called:
                raise RuntimeError("Executor shutdown has been called")
            executor = self._default_executor
            if executor is None:
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio")
                self._default_executor = executor
        return asyncio.wrap_future(executor.submit(func, *args), loop=self)  # type: ignore[arg-type]

    def set_default_executor(self, executor: Any) -> None:
        """Use ``executor`` (a ``ThreadPoolExecutor``) for ``run_in_executor(None, ...)``.

        Example::

            loop.set_default_executor(ThreadPoolExecutor(max_workers=4))
        """
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError("executor must be ThreadPoolExecutor instance")
        self._default_executor = executor

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        """Shut the default executor down and wait for its threads, without blocking the loop.

        ``timeout`` (Python 3.12 semantics) bounds the wait: when it expires a
        RuntimeWarning is issued and the executor is left to finish on its own.

        Example::

            await loop.shutdown_default_executor()
        """
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is None:
            return
        done = self.create_future()
        # Joining blocks, so it happens in a helper thread that reports back thread-safely.
        joiner = threading.Thread(target=self._join_default_executor, args=(executor, done))
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
                stacklevel=2,
            )
            executor.shutdown(wait=False)
        else:
            joiner.join()

    def _join_default_executor(
        self, executor: concurrent.futures.Executor, done: asyncio.Future[None]
    ) -> None:
        try:
            executor.shutdown(wait=True)
        except Exception as exc:  # noqa: BLE001 - delivered to the awaiting caller
            if not self.is_closed():
                self.call_soon_threadsafe(_set_exception_unless_done, done, exc)
        else:
            if not self.is_closed():
                self.call_soon_threadsafe(_set_result_unless_done, done, None)


def _set_result_unless_done(fut: asyncio.Future[Any], result: Any) -> None:
    # The awaiting coroutine may have been cancelled (or timed out) in the meantime.
    if not fut.done():
        fut.set_result(result)


def _set_exception_unless_done(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
