"""The thread bridge, ``nexusloop.compat``: ``run_on`` between loops in different threads, and
``LoopThread``.

The calling loop is stock asyncio and nexusloop (``any_loop``, which checks for leaked file
descriptors); the loop called runs in a ``LoopThread`` and is stock asyncio, uvloop and nexusloop
(``remote``). Calls go both ways: a coroutine on the remote loop calls back into the caller's
loop. Every thread a test starts is joined before it ends (``no_thread_leak``).

No timing assertions: waits are on events, bounded by ``HANG`` (a hang detector) and by
pytest-timeout. Where a test needs the remote loop to be busy at a given moment it blocks the
loop with a callback waiting on a ``threading.Event``, so that what is asserted holds whatever
the scheduling.
"""
from __future__ import annotations

import asyncio
import contextvars
import gc
import inspect
import json
import os
import subprocess
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import nexusloop
from nexusloop import compat
from nexusloop.compat import LoopThread, run_on

pytestmark = pytest.mark.timeout(120)

R = TypeVar("R")
HANG = 30.0
ROOT = Path(__file__).resolve().parent.parent.parent

try:
    import uvloop as _uvloop
except ImportError:  # pragma: no cover - uvloop is a dev dependency
    pass
else:  # libuv opens two descriptors for the process on first use: not a leak of a test's
    _uvloop.new_event_loop().close()


def _uvloop_factory() -> asyncio.AbstractEventLoop:
    uvloop = pytest.importorskip("uvloop")
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


REMOTE_LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": _uvloop_factory,
    "nexusloop": nexusloop.new_event_loop,
}


@pytest.fixture(autouse=True)
def no_thread_leak() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for t in leaked:  # a thread may still be finishing its last line
        t.join(HANG)
    leaked = [t for t in leaked if t.is_alive()]
    assert not leaked, f"threads leaked: {leaked}"


@pytest.fixture(params=sorted(REMOTE_LOOPS))
def remote_factory(request: pytest.FixtureRequest) -> Callable[[], asyncio.AbstractEventLoop]:
    factory = REMOTE_LOOPS[request.param]
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    return factory


@pytest.fixture
def remote(
    any_loop: asyncio.AbstractEventLoop,
    remote_factory: Callable[[], asyncio.AbstractEventLoop],
) -> Iterator[LoopThread]:
    """A loop of each kind running in a LoopThread; stopped (and so closed) before ``any_loop``
    checks for leaked descriptors."""
    with LoopThread(remote_factory) as thread:
        yield thread
    assert thread.loop.is_closed() and not thread.thread.is_alive()


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, R]) -> R:
    return loop.run_until_complete(asyncio.wait_for(coro, HANG))


class Signal:
    """An ``asyncio.Event`` of ``loop`` that any thread may set."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.event = asyncio.Event()

    def set(self) -> None:
        self.loop.call_soon_threadsafe(self.event.set)

    async def wait(self) -> None:
        await self.event.wait()


def block(loop: asyncio.AbstractEventLoop, then: Callable[[], Any] = lambda: None
          ) -> threading.Event:
    """Hold ``loop`` (running in its thread) in a callback until the returned event is set,
    then call ``then()`` in that callback.

    Returns once the loop is inside that callback: whatever is handed to it meanwhile with
    ``call_soon_threadsafe`` runs in one later iteration, in order.
    """
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        inside.set()
        release.wait(HANG)
        then()

    loop.call_soon_threadsafe(hold)
    assert inside.wait(HANG)
    return release


async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def caught_unawaited_warnings(records: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in records if "was never awaited" in str(w.message)]


# ------------------------------------------------------------------ results, both ways


def test_result_and_the_remote_runs_on_its_own_loop_and_thread(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    async def where(x: int) -> tuple[Any, int, int]:
        await asyncio.sleep(0)
        return asyncio.get_running_loop(), threading.get_ident(), 2 * x

    async def main() -> tuple[Any, int, int]:
        return await run_on(remote.loop, where(21))

    loop, ident, value = run(any_loop, main())
    assert (loop, ident, value) == (remote.loop, remote.thread.ident, 42)


def test_the_remote_calls_back_into_the_callers_loop(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    caller_thread = threading.get_ident()

    async def on_caller(x: int) -> tuple[Any, int, int]:
        await asyncio.sleep(0)
        return asyncio.get_running_loop(), threading.get_ident(), x + 1

    async def on_remote(x: int) -> tuple[Any, int, int]:
        assert threading.get_ident() == remote.thread.ident
        return await run_on(any_loop, on_caller(x * 10))

    async def main() -> tuple[Any, int, int]:
        return await run_on(remote.loop, on_remote(4))

    assert run(any_loop, main()) == (any_loop, caller_thread, 41)


def test_a_thousand_concurrent_calls(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    async def maybe_fail(i: int) -> int:
        await asyncio.sleep(0)
        if i % 7 == 0:
            raise ValueError(i)
        return 2 * i

    async def main() -> list[Any]:
        return await asyncio.gather(*(run_on(remote.loop, maybe_fail(i)) for i in range(1000)),
                                    return_exceptions=True)

    results = run(any_loop, main())
    assert [r.args[0] if isinstance(r, ValueError) else r for r in results] == [
        i if i % 7 == 0 else 2 * i for i in range(1000)]


def test_a_thousand_concurrent_calls_back_from_the_remote(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    async def fan_out() -> list[int]:
        return await asyncio.gather(*(run_on(any_loop, double(i)) for i in range(1000)))

    async def main() -> list[int]:
        return await run_on(remote.loop, fan_out())

    assert run(any_loop, main()) == [2 * i for i in range(1000)]


def test_the_remote_coroutine_runs_in_a_task_of_its_loop(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    """current_task() is a task of the remote loop, so asyncio.timeout works inside."""

    async def timed() -> str:
        task = asyncio.current_task()
        assert task is not None and task.get_loop() is remote.loop
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(HANG)
        except TimeoutError:
            return "timed out inside"
        return "not timed out"

    async def main() -> str:
        return await run_on(remote.loop, timed())

    assert run(any_loop, main()) == "timed out inside"


# ------------------------------------------------------------------ exceptions


class RemoteError(Exception):
    pass


def test_the_exception_object_itself_crosses_with_its_traceback(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    raised: list[BaseException] = []

    async def remote_raiser() -> None:
        await asyncio.sleep(0)
        exc = RemoteError("from the remote loop")
        raised.append(exc)
        raise exc

    async def main() -> BaseException:
        try:
            await run_on(remote.loop, remote_raiser())
        except RemoteError as exc:
            return exc
        raise AssertionError("not raised")

    handler_calls: list[dict[str, Any]] = []
    remote.loop.set_exception_handler(lambda loop, context: handler_calls.append(context))
    caught = run(any_loop, main())
    assert caught is raised[0]
    names = [frame.name for frame in traceback.extract_tb(caught.__traceback__)]
    assert "remote_raiser" in names and "main" in names
    # delivered, so nobody on the remote side reports it ("Task exception was never retrieved")
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0), remote.loop).result(HANG)
    gc.collect()
    assert handler_calls == []


def test_an_exception_crosses_back_from_the_callers_loop(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    async def on_caller() -> None:
        raise KeyError("on the caller's loop")

    async def on_remote() -> str:
        try:
            await run_on(any_loop, on_caller())
        except KeyError as exc:
            return f"remote caught {exc.args[0]}"
        return "not raised"

    async def main() -> str:
        return await run_on(remote.loop, on_remote())

    assert run(any_loop, main()) == "remote caught on the caller's loop"


def test_an_unawaited_failed_call_is_reported_on_the_callers_loop(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    """No lost exceptions: a call nobody awaits reports its exception as any future does."""

    async def raiser() -> None:
        raise RemoteError("nobody awaits me")

    reported: list[dict[str, Any]] = []
    any_loop.set_exception_handler(lambda loop, context: reported.append(context))

    async def main() -> None:
        fut = run_on(remote.loop, raiser())
        await asyncio.wait([fut])  # done, exception not retrieved

    run(any_loop, main())
    # the remote thread may still be returning from the delivery (holding the future)
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0), remote.loop).result(HANG)
    gc.collect()
    assert [type(c.get("exception")) for c in reported] == [RemoteError]
    assert "exception was never retrieved" in reported[0]["message"]


# ------------------------------------------------------------------ cancellation


def test_cancelling_the_caller_cancels_the_remote_and_waits_for_it(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    events: list[Any] = []

    async def job(started: Signal) -> None:
        started.set()
        try:
            await asyncio.sleep(HANG)
        except asyncio.CancelledError as exc:
            events.append(("cancelled", exc.args))
            await asyncio.sleep(0.01)  # cleanup that takes time, on the remote loop
            events.append("cleanup done")
            raise

    async def call(started: Signal) -> None:
        await run_on(remote.loop, job(started))

    async def main() -> list[Any]:
        started = Signal(any_loop)
        task = asyncio.ensure_future(call(started))
        await started.wait()
        assert task.cancel("stop")
        with pytest.raises(asyncio.CancelledError):
            await task
        return list(events)  # what had happened when the caller saw CancelledError

    assert run(any_loop, main()) == [("cancelled", ("stop",)), "cleanup done"]


def test_cancelling_the_future_itself(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    async def job(started: Signal) -> None:
        started.set()
        await asyncio.sleep(HANG)

    async def main() -> None:
        started = Signal(any_loop)
        fut = run_on(remote.loop, job(started))
        await started.wait()
        assert fut.cancel() is True
        assert not fut.done()  # requested; the remote task has to finish cancelling first
        with pytest.raises(asyncio.CancelledError):
            await fut
        assert fut.cancelled() and fut.cancel() is False

    run(any_loop, main())


def test_a_timeout_around_run_on_cancels_the_remote(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    events: list[str] = []

    async def slow() -> None:
        try:
            await asyncio.sleep(HANG)
        finally:
            events.append("remote finally")

    async def main() -> list[str]:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await run_on(remote.loop, slow())
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        return list(events)

    assert run(any_loop, main()) == ["remote finally"]


def test_wait_for_around_run_on(any_loop: asyncio.AbstractEventLoop, remote: LoopThread) -> None:
    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(run_on(remote.loop, asyncio.sleep(HANG)), 0.01)

    run(any_loop, main())


def test_the_remote_task_cancelled_there_surfaces_as_cancelled_error(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    async def cancels_itself() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel("remote side")
        await asyncio.sleep(0)

    async def main() -> tuple[Any, int]:
        try:
            await run_on(remote.loop, cancels_itself())
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            assert task is not None
            return exc.args, task.cancelling()  # the caller itself was not cancelled
        raise AssertionError("not cancelled")

    assert run(any_loop, main()) == (("remote side",), 0)


@pytest.mark.parametrize("awaited", ["run_on", "local task"])
def test_a_remote_that_refuses_cancellation_delivers_its_value_like_an_awaited_task(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread, awaited: str
) -> None:
    """The same scenario awaiting run_on and awaiting a task of the caller's own loop: the
    outcome is the same (the value arrives, the caller is not cancelled)."""

    async def stubborn(started: Signal) -> str:
        started.set()
        try:
            await asyncio.sleep(HANG)
        except asyncio.CancelledError:
            return "finished anyway"
        return "not cancelled"

    async def call(started: Signal) -> str:
        if awaited == "run_on":
            return await run_on(remote.loop, stubborn(started))
        return await asyncio.get_running_loop().create_task(stubborn(started))

    async def main() -> tuple[str, bool]:
        started = Signal(any_loop)
        task = asyncio.ensure_future(call(started))
        await started.wait()
        task.cancel()
        result = await task
        return result, task.cancelled()

    assert run(any_loop, main()) == ("finished anyway", False)


def test_cancelled_before_the_remote_task_took_its_first_step(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    """The start and the cancellation reach the remote loop in one iteration: the coroutine
    never runs, the call is cancelled, nothing warns that it was never awaited."""
    ran: list[str] = []

    async def body() -> None:
        ran.append("body")

    async def main() -> None:
        release = block(remote.loop)
        try:
            fut = run_on(remote.loop, body())
            assert fut.cancel("early")
        finally:
            release.set()
        with pytest.raises(asyncio.CancelledError) as info:
            await fut
        assert info.value.args == ("early",)

    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        run(any_loop, main())
        gc.collect()
    assert ran == []
    assert caught_unawaited_warnings(records) == []


def test_done_callbacks_of_the_future(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    """The future runs its callbacks when the outcome arrives, each in its context; a failing
    one is reported and the others still run; removed ones do not run; added once done, they
    are scheduled; set_result/set_exception are refused, as by a Task."""
    reported: list[dict[str, Any]] = []
    any_loop.set_exception_handler(lambda loop, context: reported.append(context))
    seen: list[Any] = []

    def broken(fut: asyncio.Future[int]) -> None:
        raise RemoteError("in a done callback")

    def record(fut: asyncio.Future[int]) -> None:
        seen.append((VAR.get(), fut.result()))

    def removed(fut: asyncio.Future[int]) -> None:
        seen.append("removed callback ran")

    async def main() -> None:
        fut = run_on(remote.loop, double(3))
        fut.add_done_callback(removed)
        fut.add_done_callback(broken)
        context = contextvars.copy_context()
        context.run(VAR.set, "callback context")
        fut.add_done_callback(record, context=context)
        assert fut.remove_done_callback(removed) == 1
        assert fut.remove_done_callback(removed) == 0
        with pytest.raises(RuntimeError, match="does not support set_result"):
            fut.set_result(1)
        with pytest.raises(RuntimeError, match="does not support set_exception"):
            fut.set_exception(ValueError())
        assert await fut == 6
        fut.add_done_callback(record)  # done: scheduled with call_soon
        assert seen == [("callback context", 6)]
        await asyncio.sleep(0)
        assert seen == [("callback context", 6), ("unset", 6)]

    run(any_loop, main())
    assert [type(c["exception"]) for c in reported] == [RemoteError]
    assert "Exception in callback" in reported[0]["message"]


def test_in_debug_mode(
    any_loop: asyncio.AbstractEventLoop, remote_factory: Callable[[], asyncio.AbstractEventLoop]
) -> None:
    """Both loops in asyncio's debug mode (thread checks, callback checks, source tracebacks)."""

    def debug_factory() -> asyncio.AbstractEventLoop:
        loop = remote_factory()
        loop.set_debug(True)
        return loop

    async def raiser() -> None:
        raise RemoteError("debug")

    async def main(cold: LoopThread) -> None:
        assert await run_on(cold.loop, double(2)) == 4
        with pytest.raises(RemoteError):
            await run_on(cold.loop, raiser())
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await run_on(cold.loop, asyncio.sleep(HANG))

    any_loop.set_debug(True)
    with LoopThread(debug_factory) as cold:
        run(any_loop, main(cold))


# ------------------------------------------------------------------ context variables

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def test_the_remote_runs_in_a_copy_of_the_callers_context(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    async def remote_job() -> tuple[str, str]:
        seen = VAR.get()
        VAR.set("set remotely")
        await asyncio.sleep(0)
        return seen, VAR.get()

    async def main() -> tuple[tuple[str, str], str]:
        VAR.set("caller")
        fut = run_on(remote.loop, remote_job())
        VAR.set("changed after the call")  # the copy was taken at the call
        return await fut, VAR.get()

    assert run(any_loop, main()) == (("caller", "set remotely"), "changed after the call")


# ------------------------------------------------------------------ bad calls


def test_bad_arguments(any_loop: asyncio.AbstractEventLoop, remote: LoopThread) -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="needs a coroutine object, got int"):
            run_on(remote.loop, 42)  # type: ignore[arg-type]
        fut = any_loop.create_future()
        with pytest.raises(TypeError, match="needs a coroutine object, got"):
            run_on(remote.loop, fut)  # type: ignore[arg-type]
        coro = double(1)
        with pytest.raises(TypeError, match="needs an event loop, got str"):
            run_on("loop", coro)  # type: ignore[arg-type]
        assert inspect.getcoroutinestate(coro) == "CORO_CLOSED"  # closed: no "never awaited" warning

    run(any_loop, main())


def test_no_running_loop(remote: LoopThread) -> None:
    coro = double(1)
    with pytest.raises(RuntimeError, match="no running event loop"):
        run_on(remote.loop, coro)
    coro.close()


def test_closed_or_not_running_target(any_loop: asyncio.AbstractEventLoop) -> None:
    closed = asyncio.new_event_loop()
    closed.close()
    idle = nexusloop.new_event_loop()

    async def main() -> None:
        coro = double(1)
        with pytest.raises(RuntimeError, match="target loop is closed"):
            run_on(closed, coro)
        assert inspect.getcoroutinestate(coro) == "CORO_CLOSED"
        coro = double(1)
        with pytest.raises(RuntimeError, match="target loop is not running"):
            run_on(idle, coro)
        assert inspect.getcoroutinestate(coro) == "CORO_CLOSED"

    try:
        run(any_loop, main())
    finally:
        idle.close()


def test_the_callers_own_loop_is_a_local_task(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[bool, int]:
        fut = run_on(asyncio.get_running_loop(), double(5))
        return isinstance(fut, asyncio.Task), await fut

    assert run(any_loop, main()) == (True, 10)


# ------------------------------------------------------------------ dying loops


def _raw_thread(loop: asyncio.AbstractEventLoop) -> threading.Thread:
    """Run ``loop`` in a thread that closes it when it stops, *without* cancelling its tasks
    (what a careless program does; LoopThread and asyncio.run never do this)."""
    started = threading.Event()

    def body() -> None:
        loop.call_soon(started.set)
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=body)
    thread.start()
    assert started.wait(HANG)
    return thread


def test_target_closed_before_the_coroutine_started(
    any_loop: asyncio.AbstractEventLoop,
    remote_factory: Callable[[], asyncio.AbstractEventLoop],
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = remote_factory()
    thread = _raw_thread(target)

    async def body() -> None:
        raise AssertionError("never runs")

    async def main() -> None:
        release = block(target, then=target.stop)  # the loop stops after this iteration
        fut = run_on(target, body())  # queued during it: never run
        release.set()
        thread.join(HANG)
        # asyncio and nexusloop drop the queued start; uvloop runs it before it stops, and its
        # close drops the new task before its first step. The coroutine never runs either way.
        with pytest.raises(RuntimeError, match=r"was closed before the coroutine started|"
                                               r"was destroyed before it finished"):
            await fut

    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        run(any_loop, main())
        gc.collect()
    assert caught_unawaited_warnings(records) == []
    assert target.is_closed() and not thread.is_alive()


def test_target_closed_with_the_remote_task_pending(
    any_loop: asyncio.AbstractEventLoop,
    remote_factory: Callable[[], asyncio.AbstractEventLoop],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The loop drops a started task: when the collector frees it, the call fails."""
    target = remote_factory()
    thread = _raw_thread(target)
    events: list[str] = []

    async def job(started: Signal) -> None:
        started.set()
        try:
            await asyncio.sleep(HANG)
        finally:
            events.append("closed by the collector")

    async def main() -> None:
        started = Signal(any_loop)
        fut = run_on(target, job(started))
        await started.wait()
        target.call_soon_threadsafe(target.stop)
        thread.join(HANG)
        assert target.is_closed() and not fut.done()
        gc.collect()
        with pytest.raises(RuntimeError, match=r"was destroyed before it finished"):
            await fut

    run(any_loop, main())
    assert events == ["closed by the collector"]


def test_cancelling_a_call_whose_target_is_closed_is_immediate(
    any_loop: asyncio.AbstractEventLoop,
    remote_factory: Callable[[], asyncio.AbstractEventLoop],
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = remote_factory()
    thread = _raw_thread(target)

    async def job(started: Signal) -> None:
        started.set()
        await asyncio.sleep(HANG)

    async def main() -> None:
        started = Signal(any_loop)
        fut = run_on(target, job(started))
        await started.wait()
        target.call_soon_threadsafe(target.stop)
        thread.join(HANG)
        assert fut.cancel("gone") and fut.cancelled()  # at once: nothing there can finish
        gc.collect()  # the dropped task is freed; its RuntimeError finds the call done
        for _ in range(5):
            await asyncio.sleep(0)
        with pytest.raises(asyncio.CancelledError):
            await fut

    run(any_loop, main())


def test_an_exception_arriving_for_a_call_cancelled_meanwhile_is_reported(
    any_loop: asyncio.AbstractEventLoop,
) -> None:
    """White box: the one way an exception reaches a call that is done already - the target
    loop was closed, the call cancelled at once, and the collector then closes the dropped
    coroutine, whose cleanup raises - is reported on the caller's loop, not dropped."""
    reported: list[dict[str, Any]] = []
    any_loop.set_exception_handler(lambda loop, context: reported.append(context))
    call: compat._Call[Any] = compat._Call(any_loop, any_loop)
    asyncio.Future.cancel(call)
    error = RemoteError("raised by a cleanup")
    call._deliver_exception(error)
    call._deliver_lost(RuntimeError("dropped by its loop"))  # expected: not reported
    call._deliver_result(1)
    assert call.cancelled()
    assert [c["exception"] for c in reported] == [error]
    assert "raised after the call was cancelled" in reported[0]["message"]


def test_an_exception_for_a_closed_callers_loop_goes_to_the_remote_handler(
    any_loop: asyncio.AbstractEventLoop, remote: LoopThread
) -> None:
    reported: list[dict[str, Any]] = []
    handled = threading.Event()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        reported.append(context)
        handled.set()

    remote.loop.set_exception_handler(handler)
    go: list[asyncio.Event] = []

    async def job(ready: threading.Event, fail: bool) -> str:
        go.append(asyncio.Event())
        ready.set()
        await go[-1].wait()
        if fail:
            raise RemoteError("nobody is left to receive this")
        return "nobody is left to receive this either"

    async def start(ready: threading.Event, fail: bool) -> asyncio.Future[str]:
        return run_on(remote.loop, job(ready, fail))  # not awaited

    ready_ok, ready_fail = threading.Event(), threading.Event()
    futures = [run(any_loop, start(ready_ok, False)), run(any_loop, start(ready_fail, True))]
    assert ready_ok.wait(HANG) and ready_fail.wait(HANG)
    any_loop.close()
    for event in go:
        remote.loop.call_soon_threadsafe(event.set)
    assert handled.wait(HANG)
    # the result was dropped silently; one more round trip on the remote loop to be sure
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0), remote.loop).result(HANG)
    assert [type(c["exception"]) for c in reported] == [RemoteError]
    assert "the caller's loop is closed" in reported[0]["message"]
    assert not any(f.done() for f in futures)


# ------------------------------------------------------------------ the runtime's tasks


def test_from_a_spawned_task_and_abort(
    nloop: Any, remote_factory: Callable[[], asyncio.AbstractEventLoop]
) -> None:
    """A nexusloop.runtime task awaiting run_on: result, and abort() cancels the remote."""
    from nexusloop.runtime import spawn

    events: list[str] = []

    async def job(started: Signal) -> None:
        started.set()
        try:
            await asyncio.sleep(HANG)
        finally:
            events.append("remote finally")

    async def call(coro: Coroutine[Any, Any, R]) -> R:
        return await run_on(cold.loop, coro)

    async def main() -> None:
        assert await spawn(call(double(4))) == 8
        started = Signal(nloop)
        handle = spawn(call(job(started)))
        await started.wait()
        handle.abort()
        with pytest.raises(asyncio.CancelledError):
            await handle
        assert events == ["remote finally"]

    with LoopThread(remote_factory) as cold:
        run(nloop, main())


# ------------------------------------------------------------------ LoopThread


def test_loop_thread_lifecycle(remote_factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
    thread = LoopThread(remote_factory, name="cold-path")
    assert "not started" in repr(thread)
    with pytest.raises(RuntimeError, match="has not been started"):
        thread.loop  # noqa: B018
    thread.stop()  # never started: nothing to do
    with thread as same:
        assert same is thread
        assert thread.loop.is_running() and thread.thread.name == "cold-path"
        assert not thread.thread.daemon
        assert asyncio.run_coroutine_threadsafe(double(2), thread.loop).result(HANG) == 4
        with pytest.raises(RuntimeError, match="only be started once"):
            thread.start()
    assert thread.loop.is_closed() and not thread.thread.is_alive()
    assert "finished" in repr(thread)
    thread.stop()  # again: nothing to do


def test_loop_thread_shutdown_cancels_tasks_closes_asyncgens_and_the_executor() -> None:
    events: list[str] = []

    async def forever() -> None:
        try:
            await asyncio.sleep(HANG)
        except asyncio.CancelledError:
            events.append("task cancelled")
            raise

    async def agen() -> Any:
        try:
            yield 1
            yield 2
        finally:
            events.append("asyncgen closed")

    async def setup() -> None:
        asyncio.get_running_loop().create_task(forever())
        gen = agen()
        await gen.__anext__()  # left suspended: shutdown_asyncgens closes it
        setup.gen = gen  # type: ignore[attr-defined]  # keep it alive until the shutdown
        asyncio.get_running_loop().run_in_executor(None, events.append, "executor job")

    with LoopThread() as thread:
        asyncio.run_coroutine_threadsafe(setup(), thread.loop).result(HANG)
    del setup.gen  # type: ignore[attr-defined]
    assert sorted(events) == ["asyncgen closed", "executor job", "task cancelled"]


def test_loop_thread_shutdown_cancels_pending_run_on_calls(
    any_loop: asyncio.AbstractEventLoop
) -> None:
    async def main() -> None:
        async with LoopThread() as thread:
            fut = run_on(thread.loop, asyncio.sleep(HANG))
            await asyncio.sleep(0)
        # left the block: the call was cancelled by the shutdown, the loop closed
        assert thread.loop.is_closed()
        with pytest.raises(asyncio.CancelledError):
            await fut
        coro = double(1)
        with pytest.raises(RuntimeError, match="target loop is closed"):
            run_on(thread.loop, coro)

    run(any_loop, main())


def test_loop_thread_refuses_to_block_a_running_loop(any_loop: asyncio.AbstractEventLoop) -> None:
    thread = LoopThread().start()
    try:
        async def main() -> None:
            with pytest.raises(RuntimeError, match="would block the event loop"):
                thread.stop()
            await thread.aclose()
            await thread.aclose()  # again: nothing to do

        run(any_loop, main())
    finally:
        thread.stop()
    assert thread.loop.is_closed()


def test_loop_thread_cannot_close_itself_from_its_loop() -> None:
    with LoopThread() as thread:
        async def inside() -> str:
            try:
                await thread.aclose()
            except RuntimeError as exc:
                return str(exc)
            return "closed"

        assert "from its own loop" in asyncio.run_coroutine_threadsafe(
            inside(), thread.loop).result(HANG)


def test_loop_thread_factory_failure() -> None:
    def broken() -> asyncio.AbstractEventLoop:
        raise OSError("no loop today")

    thread = LoopThread(broken)
    with pytest.raises(OSError, match="no loop today"):
        thread.start()
    assert not thread.thread.is_alive()


def test_loop_thread_stop_timeout() -> None:
    thread = LoopThread().start()
    release = block(thread.loop)
    try:
        with pytest.raises(TimeoutError, match="did not stop within"):
            thread.stop(timeout=0.01)
    finally:
        release.set()
    thread.stop()
    assert thread.loop.is_closed()


def test_loop_thread_loop_stopped_by_its_own_code() -> None:
    with LoopThread() as thread:
        thread.loop.call_soon_threadsafe(thread.loop.stop)
        thread.thread.join(HANG)
        assert thread.loop.is_closed()
    # leaving the block after the loop ended on its own: nothing to stop


def test_loop_thread_reraises_what_ended_its_loop() -> None:
    async def exit_now() -> None:
        raise SystemExit(3)

    thread = LoopThread().start()
    thread.loop.call_soon_threadsafe(thread.loop.create_task, exit_now())
    thread.thread.join(HANG)
    with pytest.raises(SystemExit):
        thread.stop()
    thread.stop()  # reported once


def test_loop_threads_leak_no_descriptors(
    remote_factory: Callable[[], asyncio.AbstractEventLoop]
) -> None:
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(10):
        with LoopThread(remote_factory):
            pass
    assert set(os.listdir("/proc/self/fd")) - before == set()


def test_public_names() -> None:
    assert sorted(compat.__all__) == ["LoopThread", "run_on"]
    for name in compat.__all__:
        assert getattr(compat, name).__doc__


# ------------------------------------------------------------------ the example


def test_example_bridge_runs() -> None:
    """examples/bridge.py, in a subprocess, in this process's mode."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "bridge.py")], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120, check=False)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stdout + proc.stderr
    assert "all 3 cold-path jobs done" in proc.stdout, proc.stdout


def test_benchmark_runs(tmp_path: Path) -> None:
    """benchmarks/bridge.py in its smallest form: it runs, its output parses (no speed check)."""
    out = tmp_path / "bridge.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bridge.py"), "--quick", "--repeat", "1",
         "--foreign", "asyncio", "--json", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| nexus->foreign | nexusloop -> asyncio |" in proc.stdout
    assert "| foreign->nexus | asyncio -> nexusloop |" in proc.stdout
    data = json.loads(out.read_text())
    assert sorted(data["medians"]) == ["foreign->nexus asyncio", "nexus->foreign asyncio"]
    assert all(r["rate"] > 0 and r["n"] == 2000 for r in data["runs"])
    assert len(data["runs"]) == 4
