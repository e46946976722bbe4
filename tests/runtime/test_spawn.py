"""spawn / spawn_slab / JoinHandle: spawned tasks behave as asyncio tasks, handles as awaitables.

Most bodies run four ways (``KINDS``): ``asyncio-create_task`` on the stock asyncio loop (the
reference: asyncio is the specification, so a body that fails there is a wrong test), and
``spawn``, ``spawn_slab`` and ``claim`` (``try_claim_slab().spawn``) on nexusloop. The adapter
``start`` returns what the caller awaits: the ``asyncio.Task`` or the ``JoinHandle``.
Nexus-only behaviour (detach, dropped handles, bad input) runs on the spawn kinds only.

Loops come from ``tests/conftest.py`` (``any_loop`` by indirect parametrisation, ``nloop``): each
is closed after the test and checked for leaked file descriptors. ``run`` bounds every test body
with a generous hang guard; nothing asserts on timing.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import inspect
import re
import sys
import warnings
import weakref
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

import nexusloop
from nexusloop.runtime import (
    JoinHandle,
    RuntimeTask,
    SlabClaim,
    runtime_stats,
    spawn,
    spawn_slab,
    try_claim_slab,
)

HANG_GUARD = 30.0  # seconds: only detects hangs
COMPILED = nexusloop.is_compiled()


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, HANG_GUARD))


async def settle(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def _claim_spawn(coro: Any, **kwargs: Any) -> JoinHandle:
    claim = try_claim_slab()
    assert claim is not None
    return claim.spawn(coro, **kwargs)


SPAWNERS: dict[str, Callable[..., Any]] = {
    "spawn": spawn,
    "spawn_slab": spawn_slab,
    "claim": _claim_spawn,
}


def start(kind: str, coro: Any, **kwargs: Any) -> Any:
    """Run ``coro`` as a task of ``kind``; return what to await (Task or JoinHandle)."""
    if kind == "create_task":
        return asyncio.get_running_loop().create_task(coro, **kwargs)
    return SPAWNERS[kind](coro, **kwargs)


def abort(handle: Any) -> bool:
    if isinstance(handle, asyncio.Task):
        return handle.cancel()
    return bool(handle.abort())


def finished(handle: Any) -> bool:
    if isinstance(handle, asyncio.Task):
        return handle.done()
    return bool(handle.is_finished())


# Each case: (loop for any_loop, kind).
KINDS = pytest.mark.parametrize(
    ("any_loop", "kind"),
    [
        pytest.param("asyncio", "create_task", id="asyncio-create_task"),
        pytest.param("nexusloop", "spawn", id="spawn"),
        pytest.param("nexusloop", "spawn_slab", id="spawn_slab"),
        pytest.param("nexusloop", "claim", id="claim"),
    ],
    indirect=["any_loop"],
)

# Nexus-only: the spawn functions.
SPAWN_KINDS = pytest.mark.parametrize("kind", ["spawn", "spawn_slab", "claim"])


@pytest.fixture
def handler_calls(nloop: Any) -> list[dict[str, Any]]:
    """Contexts given to ``nloop``'s exception handler."""
    calls: list[dict[str, Any]] = []
    nloop.set_exception_handler(lambda loop, context: calls.append(context))
    return calls


@contextlib.contextmanager
def no_never_awaited_warning() -> Iterator[None]:
    """Fail if a coroutine is garbage collected unawaited inside the block."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()
    never = [w for w in caught if "was never awaited" in str(w.message)]
    assert not never, [str(w.message) for w in never]


# ------------------------------------------------------------------------ await semantics


@KINDS
def test_await_gives_the_result(any_loop: Any, kind: str) -> None:
    async def job(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    async def main() -> int:
        return await start(kind, job(21))  # type: ignore[no-any-return]

    assert run(any_loop, main()) == 42


@KINDS
def test_await_raises_the_tasks_own_exception_object(any_loop: Any, kind: str) -> None:
    raised: list[BaseException] = []

    async def job() -> None:
        await asyncio.sleep(0)
        exc = ValueError("boom")
        raised.append(exc)
        raise exc

    async def main() -> BaseException:
        with pytest.raises(ValueError) as info:
            await start(kind, job())
        return info.value

    assert run(any_loop, main()) is raised[0]


@KINDS
def test_await_twice_returns_the_same_result(any_loop: Any, kind: str) -> None:
    result = object()

    async def job() -> object:
        await asyncio.sleep(0)
        return result

    async def main() -> None:
        handle = start(kind, job())
        assert await handle is result
        assert await handle is result
        assert finished(handle)

    run(any_loop, main())


@KINDS
def test_await_twice_raises_again(any_loop: Any, kind: str) -> None:
    async def job() -> None:
        await asyncio.sleep(0)
        raise KeyError("k")

    async def main() -> None:
        handle = start(kind, job())
        with pytest.raises(KeyError) as first:
            await handle
        with pytest.raises(KeyError) as second:
            await handle
        assert first.value is second.value

    run(any_loop, main())


@KINDS
@pytest.mark.parametrize("outcome", ["result", "error"])
def test_two_awaiters_at_once(any_loop: Any, kind: str, outcome: str) -> None:
    async def job(gate: asyncio.Event) -> str:
        await gate.wait()
        if outcome == "error":
            raise LookupError("shared")
        return "shared"

    async def waiter(handle: Any) -> Any:
        try:
            return await handle
        except LookupError as exc:
            return exc

    async def main() -> None:
        gate = asyncio.Event()
        handle = start(kind, job(gate))
        # The awaiters are tasks of the same kind (spawned tasks awaiting a handle).
        waiters = [start(kind, waiter(handle)) for _ in range(2)]
        await settle()
        assert not finished(handle)
        gate.set()
        got = [await w for w in waiters]
        if outcome == "result":
            assert got == ["shared", "shared"]
            assert await handle == "shared"
        else:
            assert isinstance(got[0], LookupError)
            assert got[0] is got[1]
            with pytest.raises(LookupError) as info:
                await handle
            assert info.value is got[0]

    run(any_loop, main())


# --------------------------------------------------------------- asyncio citizenship


@KINDS
def test_current_task_has_the_task_api(any_loop: Any, kind: str) -> None:
    seen: dict[str, Any] = {}
    callbacks: list[tuple[Any, bool]] = []

    async def job() -> None:
        task = asyncio.current_task()
        assert task is not None
        for name in ("cancel", "cancelling", "uncancel", "get_name", "get_coro", "done",
                     "add_done_callback", "remove_done_callback", "result", "exception",
                     "cancelled", "get_loop", "get_stack", "set_name"):
            assert callable(getattr(task, name)), name
        seen["task"] = task
        seen["coro"] = task.get_coro()
        # Task.get_context() is new in 3.12; runtime tasks have it on every version.
        if kind != "create_task" or sys.version_info >= (3, 12):
            seen["context"] = task.get_context()  # type: ignore[attr-defined]
            assert seen["context"].get(VAR, "unset") == VAR.get()
        else:
            seen["context"] = contextvars.copy_context()
        seen["done"] = task.done()
        seen["cancelling"] = task.cancelling()
        seen["loop"] = task.get_loop()
        seen["isfuture"] = asyncio.isfuture(task)
        task.add_done_callback(lambda t: callbacks.append((t, t.done())))
        await asyncio.sleep(0)

    async def main() -> None:
        coro = job()
        await start(kind, coro)
        await settle()
        assert seen["coro"] is coro
        assert isinstance(seen["context"], contextvars.Context)
        assert seen["done"] is False
        assert seen["cancelling"] == 0
        assert seen["loop"] is asyncio.get_running_loop()
        assert callbacks == [(seen["task"], True)]

    run(any_loop, main())


@SPAWN_KINDS
def test_spawned_task_is_a_future_for_asyncio(nloop: Any, kind: str) -> None:
    async def job() -> bool:
        return asyncio.isfuture(asyncio.current_task())

    async def main() -> bool:
        return await start(kind, job())  # type: ignore[no-any-return]

    assert run(nloop, main()) is True


@SPAWN_KINDS
def test_current_task_is_a_runtime_task(nloop: Any, kind: str) -> None:
    async def job() -> Any:
        return asyncio.current_task()

    async def main() -> None:
        task: Any = await start(kind, job())
        assert isinstance(task, RuntimeTask)
        assert asyncio.current_task() is not task

    run(nloop, main())


@KINDS
def test_timeout_fires_inside(any_loop: Any, kind: str) -> None:
    async def job() -> str:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await asyncio.sleep(HANG_GUARD * 2)
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        await asyncio.sleep(0)  # still usable after the timeout
        return "after"

    async def main() -> str:
        return await start(kind, job())  # type: ignore[no-any-return]

    assert run(any_loop, main()) == "after"


@KINDS
def test_timeout_that_does_not_fire(any_loop: Any, kind: str) -> None:
    async def job() -> str:
        async with asyncio.timeout(HANG_GUARD) as cm:
            await asyncio.sleep(0)
        assert not cm.expired()
        return "in time"

    async def main() -> str:
        return await start(kind, job())  # type: ignore[no-any-return]

    assert run(any_loop, main()) == "in time"


@KINDS
def test_taskgroup_child_failure_cancels_the_spawned_body(any_loop: Any, kind: str) -> None:
    log: list[str] = []

    async def failing() -> None:
        await asyncio.sleep(0)
        raise ValueError("child")

    async def sibling() -> None:
        try:
            await asyncio.sleep(HANG_GUARD * 2)
        except asyncio.CancelledError:
            log.append("sibling cancelled")
            raise

    async def body() -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(failing())
                tg.create_task(sibling())
                try:
                    await asyncio.sleep(HANG_GUARD * 2)
                except asyncio.CancelledError:
                    log.append("body cancelled")
                    raise
        finally:
            task = asyncio.current_task()
            assert task is not None
            log.append(f"cancelling={task.cancelling()}")

    async def main() -> None:
        with pytest.raises(ExceptionGroup) as info:
            await start(kind, body())
        assert [type(e) for e in info.value.exceptions] == [ValueError]
        assert sorted(log) == ["body cancelled", "cancelling=0", "sibling cancelled"]

    run(any_loop, main())


@KINDS
def test_wait_for_inside(any_loop: Any, kind: str) -> None:
    async def job() -> str:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(HANG_GUARD * 2), 0.01)
        value = await asyncio.wait_for(asyncio.sleep(0, "value"), HANG_GUARD)
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        return value

    async def main() -> str:
        return await start(kind, job())  # type: ignore[no-any-return]

    assert run(any_loop, main()) == "value"


@KINDS
def test_shield_inside_keeps_the_inner_running(any_loop: Any, kind: str) -> None:
    async def inner_job(gate: asyncio.Event) -> str:
        await gate.wait()
        return "inner done"

    async def body(inner: asyncio.Task[str]) -> None:
        await asyncio.shield(inner)

    async def main() -> None:
        gate = asyncio.Event()
        inner = asyncio.get_running_loop().create_task(inner_job(gate))
        handle = start(kind, body(inner))
        await settle()
        assert abort(handle)
        with pytest.raises(asyncio.CancelledError):
            await handle
        assert not inner.done()
        gate.set()
        assert await inner == "inner done"

    run(any_loop, main())


VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


@KINDS
def test_task_runs_in_a_copy_of_the_spawners_context(any_loop: Any, kind: str) -> None:
    async def job() -> str:
        seen = VAR.get()
        VAR.set("changed inside")
        await asyncio.sleep(0)
        assert VAR.get() == "changed inside"
        return seen

    async def main() -> None:
        VAR.set("spawner")
        handle = start(kind, job())
        VAR.set("changed after spawn")  # the copy was taken at spawn
        assert await handle == "spawner"
        assert VAR.get() == "changed after spawn"

    run(any_loop, main())


@KINDS
def test_context_argument_is_the_tasks_context(any_loop: Any, kind: str) -> None:
    async def job() -> str:
        seen = VAR.get()
        VAR.set("set inside")
        return seen

    async def main() -> None:
        ctx = contextvars.copy_context()
        ctx.run(VAR.set, "given")
        handle = start(kind, job(), context=ctx)
        assert await handle == "given"
        # As asyncio: the task runs in that very context (not a copy of it).
        assert ctx[VAR] == "set inside"
        assert VAR.get() == "unset"

    run(any_loop, main())


@KINDS
def test_all_tasks_lists_a_pending_task_and_not_a_finished_one(any_loop: Any, kind: str) -> None:
    async def job(gate: asyncio.Event, box: list[Any]) -> None:
        box.append(asyncio.current_task())
        await gate.wait()

    async def main() -> None:
        gate = asyncio.Event()
        box: list[Any] = []
        handle = start(kind, job(gate, box))
        await settle()
        task = box[0]
        assert task in asyncio.all_tasks()
        gate.set()
        await handle
        assert task not in asyncio.all_tasks()

    run(any_loop, main())


@KINDS
@pytest.mark.parametrize(("name", "expected"), [("worker-1", "worker-1"), (7, "7")])
def test_name_argument(any_loop: Any, kind: str, name: Any, expected: str) -> None:
    async def job() -> str:
        task = asyncio.current_task()
        assert task is not None
        return task.get_name()

    async def main() -> str:
        return await start(kind, job(), name=name)  # type: ignore[no-any-return]

    assert run(any_loop, main()) == expected


@SPAWN_KINDS
def test_default_names_differ(nloop: Any, kind: str) -> None:
    async def job() -> str:
        task = asyncio.current_task()
        assert task is not None
        return task.get_name()

    async def main() -> list[str]:
        return [await start(kind, job()) for _ in range(3)]

    names = run(nloop, main())
    assert len(set(names)) == 3
    assert all(isinstance(n, str) and n for n in names)


# ------------------------------------------------------------------------------ abort


@KINDS
def test_abort_cancels_and_finally_runs(any_loop: Any, kind: str) -> None:
    log: list[str] = []

    async def job() -> None:
        try:
            await asyncio.sleep(HANG_GUARD * 2)
        finally:
            log.append("finally")

    async def main() -> None:
        handle = start(kind, job())
        await settle()
        assert abort(handle) is True
        with pytest.raises(asyncio.CancelledError):
            await handle
        assert log == ["finally"]
        assert finished(handle)

    run(any_loop, main())


@KINDS
def test_abort_before_the_first_step(any_loop: Any, kind: str) -> None:
    started: list[bool] = []

    async def job() -> None:
        started.append(True)

    async def main() -> None:
        handle = start(kind, job())
        assert abort(handle) is True
        with pytest.raises(asyncio.CancelledError):
            await handle
        assert started == []

    run(any_loop, main())


@KINDS
def test_abort_of_a_finished_task_returns_false(any_loop: Any, kind: str) -> None:
    async def job() -> int:
        return 1

    async def main() -> None:
        handle = start(kind, job())
        await settle()
        assert finished(handle)
        assert abort(handle) is False
        assert await handle == 1
        assert abort(handle) is False  # after await as well
        assert await handle == 1

    run(any_loop, main())


@KINDS
def test_abort_message_reaches_the_task(any_loop: Any, kind: str) -> None:
    async def job() -> Any:
        try:
            await asyncio.sleep(HANG_GUARD * 2)
        except asyncio.CancelledError as exc:
            return exc.args

    async def main() -> None:
        handle = start(kind, job())
        await settle()
        if isinstance(handle, asyncio.Task):
            handle.cancel()
        else:
            handle.abort()
        assert await handle == ()

    run(any_loop, main())


@KINDS
def test_cancelling_the_awaiter_cancels_the_spawned_task(any_loop: Any, kind: str) -> None:
    log: list[str] = []

    async def job() -> None:
        try:
            await asyncio.sleep(HANG_GUARD * 2)
        finally:
            log.append("job finally")

    async def waiter(handle: Any) -> None:
        await handle

    async def main() -> None:
        handle = start(kind, job())
        w = asyncio.get_running_loop().create_task(waiter(handle))
        await settle()
        w.cancel()
        with pytest.raises(asyncio.CancelledError):
            await w
        assert log == ["job finally"]
        with pytest.raises(asyncio.CancelledError):
            await handle

    run(any_loop, main())


@KINDS
def test_shield_of_a_handle_keeps_the_task_running(any_loop: Any, kind: str) -> None:
    async def job(gate: asyncio.Event) -> str:
        await gate.wait()
        return "survived"

    async def waiter(handle: Any) -> None:
        await asyncio.shield(handle)

    async def main() -> None:
        gate = asyncio.Event()
        handle = start(kind, job(gate))
        w = asyncio.get_running_loop().create_task(waiter(handle))
        await settle()
        w.cancel()
        with pytest.raises(asyncio.CancelledError):
            await w
        await settle()
        assert not finished(handle)
        gate.set()
        assert await handle == "survived"

    run(any_loop, main())


@KINDS
def test_task_that_swallows_cancellation(any_loop: Any, kind: str) -> None:
    async def job() -> str:
        try:
            await asyncio.sleep(HANG_GUARD * 2)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            assert task is not None
            assert task.cancelling() == 1
            task.uncancel()
        return "swallowed"

    async def main() -> None:
        handle = start(kind, job())
        await settle()
        assert abort(handle)
        assert await handle == "swallowed"

    run(any_loop, main())


# ----------------------------------------------------------------- detach and drop


@SPAWN_KINDS
def test_detach_lets_the_task_run_to_completion(nloop: Any, kind: str) -> None:
    log: list[str] = []

    async def job(gate: asyncio.Event) -> str:
        await gate.wait()
        log.append("done")
        return "discarded"

    async def main() -> None:
        gate = asyncio.Event()
        handle = start(kind, job(gate))
        await settle()
        assert handle.is_finished() is False
        handle.detach()
        handle.detach()  # idempotent
        assert handle.abort() is False  # a detached handle no longer controls the task
        gate.set()
        await settle()
        assert log == ["done"]
        with pytest.raises(RuntimeError, match="detached"):
            await handle

    run(nloop, main())


@SPAWN_KINDS
def test_is_finished(nloop: Any, kind: str) -> None:
    async def job(gate: asyncio.Event) -> int:
        await gate.wait()
        return 5

    async def main() -> None:
        gate = asyncio.Event()
        handle = start(kind, job(gate))
        assert handle.is_finished() is False
        await settle()
        assert handle.is_finished() is False
        gate.set()
        await settle()
        assert handle.is_finished() is True  # done, not yet awaited
        assert await handle == 5
        assert handle.is_finished() is True

    run(nloop, main())


@SPAWN_KINDS
def test_dropped_handle_lets_the_task_run_to_completion(nloop: Any, kind: str) -> None:
    log: list[str] = []

    async def job(gate: asyncio.Event) -> None:
        try:
            await gate.wait()
            log.append("done")
        finally:
            log.append("finally")

    async def main() -> None:
        gate = asyncio.Event()
        handle = start(kind, job(gate))
        await settle()
        del handle
        gc.collect()
        await settle()
        assert log == []
        gate.set()
        await settle()
        assert log == ["done", "finally"]

    run(nloop, main())


HOW = pytest.mark.parametrize("how", ["detach", "drop"])


async def _prime_handle_freelist() -> None:
    """Drop one handle whose ``__del__`` has run: compiled, the next handle reuses it."""
    async def nothing() -> None:
        pass

    handle = spawn(nothing())
    await settle()
    del handle
    gc.collect()


@SPAWN_KINDS
@HOW
def test_exception_of_a_detached_task_reaches_the_exception_handler_once(
    nloop: Any, handler_calls: list[dict[str, Any]], kind: str, how: str
) -> None:
    errors: list[BaseException] = []
    tasks: list[Any] = []

    async def job(gate: asyncio.Event) -> None:
        tasks.append(asyncio.current_task())
        await gate.wait()
        exc = ZeroDivisionError("lost")
        errors.append(exc)
        raise exc

    async def main() -> None:
        await _prime_handle_freelist()
        gate = asyncio.Event()
        handle = start(kind, job(gate))
        await settle()
        if how == "detach":
            handle.detach()
        else:
            del handle
            gc.collect()
        assert handler_calls == []
        gate.set()
        await settle()
        gc.collect()
        await settle()
        assert runtime_stats()["slab_in_use"] == 0

    run(nloop, main())
    assert len(handler_calls) == 1, handler_calls
    context = handler_calls[0]
    assert "detached task" in context["message"]
    assert context["exception"] is errors[0]
    assert context["task"] is tasks[0]


@SPAWN_KINDS
@HOW
def test_dropping_the_handle_of_a_failed_task_reports_at_drop(
    nloop: Any, handler_calls: list[dict[str, Any]], kind: str, how: str
) -> None:
    async def job() -> None:
        raise OSError("already failed")

    async def main() -> None:
        await _prime_handle_freelist()
        handle = start(kind, job())
        await settle()
        assert handle.is_finished()
        assert handler_calls == []
        if how == "detach":
            handle.detach()
        else:
            del handle
        assert len(handler_calls) == 1  # at once, not at some later collection
        assert "detached task" in handler_calls[0]["message"]
        assert isinstance(handler_calls[0]["exception"], OSError)
        await settle()
        gc.collect()
        assert len(handler_calls) == 1
        assert runtime_stats()["slab_in_use"] == 0

    run(nloop, main())


@SPAWN_KINDS
def test_every_dropped_handle_detaches_its_task(
    nloop: Any, handler_calls: list[dict[str, Any]], kind: str
) -> None:
    # Several rounds: from the second on, handles come from the freelist (compiled).
    async def job(i: int, gate: asyncio.Event) -> None:
        await gate.wait()
        raise ValueError(i)

    async def main() -> None:
        for i in range(4):
            gate = asyncio.Event()
            handle = start(kind, job(i, gate))
            await settle()
            del handle  # while the task is pending
            gc.collect()
            gate.set()
            await settle()
            gc.collect()
            assert runtime_stats()["slab_in_use"] == 0
        assert [c["exception"].args for c in handler_calls] == [(0,), (1,), (2,), (3,)]
        assert all("detached task" in c["message"] for c in handler_calls)

    run(nloop, main())


@pytest.mark.parametrize("kind", ["spawn_slab", "claim"])
def test_detached_slab_task_is_not_garbage_collected_while_pending(
    nloop: Any, handler_calls: list[dict[str, Any]], kind: str
) -> None:
    _dropped_task_survives_gc(nloop, handler_calls, kind)


def test_detached_spawn_task_is_not_garbage_collected_while_pending(
    nloop: Any, handler_calls: list[dict[str, Any]]
) -> None:
    _dropped_task_survives_gc(nloop, handler_calls, "spawn")


def _dropped_task_survives_gc(nloop: Any, handler_calls: list[dict[str, Any]], kind: str) -> None:
    refs: list[weakref.ref[Any]] = []

    async def orphan() -> None:
        refs.append(weakref.ref(asyncio.current_task()))
        await asyncio.get_running_loop().create_future()  # nobody else holds it

    async def main() -> None:
        handle = start(kind, orphan())
        await settle()
        handle.detach()
        del handle
        gc.collect()
        await settle()
        assert handler_calls == []  # no "Task was destroyed but it is pending!"
        task = refs[0]()
        assert task is not None, "the running task was garbage collected"
        assert runtime_stats()["slab_in_use" if kind != "spawn" else "spawned_running"] == 1
        assert task.cancel()
        del task
        await settle()
        assert runtime_stats()["slab_in_use"] == 0
        assert runtime_stats()["spawned_running"] == 0

    run(nloop, main())


# ----------------------------------------------------------------- awaiting handles


@SPAWN_KINDS
def test_chain_of_1000_nested_spawns(nloop: Any, kind: str) -> None:
    async def chain(n: int) -> int:
        if n == 0:
            return 0
        return await start(kind, chain(n - 1)) + 1  # type: ignore[no-any-return]

    async def main() -> int:
        return await start(kind, chain(1000))  # type: ignore[no-any-return]

    assert run(nloop, main()) == 1000


@SPAWN_KINDS
def test_chain_propagates_an_exception(nloop: Any, kind: str) -> None:
    async def chain(n: int) -> int:
        if n == 0:
            raise ArithmeticError("bottom")
        return await start(kind, chain(n - 1)) + 1  # type: ignore[no-any-return]

    async def main() -> None:
        with pytest.raises(ArithmeticError, match="bottom"):
            await start(kind, chain(200))

    run(nloop, main())


@KINDS
def test_gather_of_handles(any_loop: Any, kind: str) -> None:
    async def job(i: int) -> int:
        await asyncio.sleep(0)
        if i == 3:
            raise ValueError(i)
        return i

    async def main() -> None:
        handles = [start(kind, job(i)) for i in range(6)]
        got = await asyncio.gather(*handles, return_exceptions=True)
        assert got[:3] == [0, 1, 2] and got[4:] == [4, 5]
        assert isinstance(got[3], ValueError)
        handles = [start(kind, job(i)) for i in (0, 1, 2)]
        assert await asyncio.gather(*handles) == [0, 1, 2]

    run(any_loop, main())


@KINDS
def test_wait_for_a_handle(any_loop: Any, kind: str) -> None:
    log: list[str] = []

    async def slow() -> None:
        try:
            await asyncio.sleep(HANG_GUARD * 2)
        finally:
            log.append("slow finally")

    async def quick() -> str:
        await asyncio.sleep(0)
        return "quick"

    async def main() -> None:
        assert await asyncio.wait_for(start(kind, quick()), HANG_GUARD) == "quick"
        handle = start(kind, slow())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(handle, 0.01)
        # As with a task: the timeout cancelled what it waited for.
        assert log == ["slow finally"]
        with pytest.raises(asyncio.CancelledError):
            await handle

    run(any_loop, main())


@SPAWN_KINDS
def test_asyncio_task_awaits_a_handle_and_handle_awaits_a_task(nloop: Any, kind: str) -> None:
    async def leaf() -> str:
        await asyncio.sleep(0)
        return "leaf"

    async def middle() -> str:
        return await asyncio.get_running_loop().create_task(leaf())

    async def outer() -> str:
        return await start(kind, middle())  # type: ignore[no-any-return]

    async def main() -> str:
        return await asyncio.get_running_loop().create_task(outer())

    assert run(nloop, main()) == "leaf"


@SPAWN_KINDS
def test_awaiting_the_task_object_itself(nloop: Any, kind: str) -> None:
    async def job(gate: asyncio.Event, box: list[Any]) -> str:
        box.append(asyncio.current_task())
        await gate.wait()
        return "via task"

    async def main() -> None:
        gate = asyncio.Event()
        box: list[Any] = []
        handle = start(kind, job(gate, box))
        await settle()
        task = box[0]
        waiter = asyncio.get_running_loop().create_task(_await(task))
        await settle()
        gate.set()
        assert await waiter == "via task"
        assert await handle == "via task"

    run(nloop, main())


async def _await(awaitable: Any) -> Any:
    return await awaitable


# ------------------------------------------------------------- task errors (as asyncio)


class _Yields:
    """An awaitable that yields ``value`` to the task (what a broken library might do)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Any:
        yield self.value


@KINDS
def test_bad_yield(any_loop: Any, kind: str) -> None:
    async def job() -> None:
        await _Yields(42)

    async def main() -> str:
        with pytest.raises(RuntimeError) as info:
            await start(kind, job())
        return str(info.value)

    assert run(any_loop, main()) == "Task got bad yield: 42"


@KINDS
def test_yield_of_a_generator(any_loop: Any, kind: str) -> None:
    def gen() -> Iterator[None]:
        yield None

    async def job() -> None:
        await _Yields(gen())

    async def main() -> str:
        with pytest.raises(RuntimeError) as info:
            await start(kind, job())
        return str(info.value)

    assert run(any_loop, main()).startswith(
        "yield was used instead of yield from for generator in task "
    )


@KINDS
def test_yield_of_a_non_blocking_future(any_loop: Any, kind: str) -> None:
    async def job() -> None:
        fut = asyncio.get_running_loop().create_future()
        await _Yields(fut)  # _asyncio_future_blocking is False: a bare "yield fut"

    async def main() -> str:
        with pytest.raises(RuntimeError) as info:
            await start(kind, job())
        return str(info.value)

    assert re.fullmatch(
        r"yield was used instead of yield from in task .* with <Future pending.*>",
        run(any_loop, main()),
    )


@KINDS
def test_await_a_future_of_another_loop(any_loop: Any, kind: str) -> None:
    other = asyncio.new_event_loop()
    try:
        async def job() -> None:
            await other.create_future()

        async def main() -> str:
            with pytest.raises(RuntimeError) as info:
                await start(kind, job())
            return str(info.value)

        message = run(any_loop, main())
    finally:
        other.close()
    assert re.fullmatch(r"Task .* got Future <Future pending> attached to a different loop",
                        message)


@KINDS
def test_await_its_own_task(any_loop: Any, kind: str) -> None:
    async def job() -> None:
        await asyncio.current_task()  # type: ignore[misc]

    async def main() -> str:
        with pytest.raises(RuntimeError) as info:
            await start(kind, job())
        return str(info.value)

    assert run(any_loop, main()).startswith("Task cannot await on itself: ")


@KINDS
def test_task_survives_an_error_thrown_in_by_a_bad_yield(any_loop: Any, kind: str) -> None:
    async def job() -> str:
        try:
            await _Yields(42)
        except RuntimeError:
            pass
        await asyncio.sleep(0)
        return "recovered"

    async def main() -> str:
        return await start(kind, job())  # type: ignore[no-any-return]

    assert run(any_loop, main()) == "recovered"


# ------------------------------------------------------------------------- bad input


def _not_coroutines() -> list[Any]:
    async def coro_fn() -> None:
        pass

    return [coro_fn, None, 42, asyncio.Future]


@pytest.mark.parametrize("bad", _not_coroutines(), ids=["coroutine-function", "None", "int",
                                                        "future-class"])
@pytest.mark.parametrize("kind", ["spawn", "spawn_slab", "claim"])
def test_non_coroutine_is_a_type_error_as_create_task(
    any_loop: Any, kind: str, bad: Any
) -> None:
    # Compared with create_task on each loop of any_loop (same message); spawning needs
    # nexusloop, so on stock asyncio only the reference message is taken.
    async def main() -> tuple[str, str | None]:
        with pytest.raises(TypeError) as ref:
            asyncio.get_running_loop().create_task(bad)
        if not isinstance(asyncio.get_running_loop(), nexusloop.Loop):
            return str(ref.value), None
        with pytest.raises(TypeError) as info:
            start(kind, bad)
        return str(ref.value), str(info.value)

    reference, ours = run(any_loop, main())
    assert reference == f"a coroutine was expected, got {bad!r}"
    if ours is not None:
        assert ours == reference


@SPAWN_KINDS
def test_future_instance_is_a_type_error(nloop: Any, kind: str) -> None:
    async def main() -> None:
        fut = asyncio.get_running_loop().create_future()
        with pytest.raises(TypeError, match="a coroutine was expected"):
            start(kind, fut)
        assert not fut.done()

    run(nloop, main())


@pytest.mark.parametrize("func", [spawn, spawn_slab])
def test_spawn_outside_a_running_loop(func: Callable[..., Any]) -> None:
    async def job() -> None:
        pass

    coro = job()
    with no_never_awaited_warning():
        with pytest.raises(RuntimeError) as info:
            func(coro)
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
        del coro
    message = str(info.value)
    assert f"{func.__name__}() needs a running nexusloop event loop" in message
    assert "nexusloop.run()" in message  # says what to do


@pytest.mark.parametrize("func", [spawn, spawn_slab])
def test_spawn_on_a_stock_asyncio_loop(func: Callable[..., Any]) -> None:
    async def job() -> None:
        pass

    async def main() -> tuple[str, str]:
        coro = job()
        with pytest.raises(RuntimeError) as info:
            func(coro)
        return str(info.value), inspect.getcoroutinestate(coro)

    with no_never_awaited_warning():
        message, state = asyncio.run(main())
    assert state == inspect.CORO_CLOSED
    assert re.search(r"_UnixSelectorEventLoop|SelectorEventLoop", message), message
    assert "nexusloop.run(main())" in message
    assert "asyncio.create_task()" in message


def test_claim_spawn_of_a_non_coroutine_keeps_the_claim(nloop: Any) -> None:
    async def job() -> str:
        return "ok"

    async def main() -> None:
        claim = try_claim_slab()
        assert claim is not None
        with pytest.raises(TypeError):
            claim.spawn(None)
        assert not claim.used
        assert await claim.spawn(job()) == "ok"

    run(nloop, main())


@pytest.mark.parametrize("cls", [JoinHandle, RuntimeTask, SlabClaim])
def test_runtime_objects_cannot_be_made_directly(cls: type) -> None:
    unraisable: list[Any] = []
    saved = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        with pytest.raises(TypeError, match="made by"):
            cls()
        gc.collect()
    finally:
        sys.unraisablehook = saved
    assert [u.exc_value for u in unraisable] == []


@SPAWN_KINDS
def test_set_result_and_set_exception_are_refused(nloop: Any, kind: str) -> None:
    async def job() -> None:
        task = asyncio.current_task()
        assert task is not None
        with pytest.raises(RuntimeError, match="set_result"):
            task.set_result(1)
        with pytest.raises(RuntimeError, match="set_exception"):
            task.set_exception(ValueError())

    async def main() -> None:
        await start(kind, job())

    run(nloop, main())


# ------------------------------------------------------- KeyboardInterrupt / SystemExit


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("kind", ["create_task", "spawn", "spawn_slab"])
def test_fatal_exceptions_propagate_out_of_run(kind: str, exc_type: type[BaseException]) -> None:
    async def job() -> None:
        await asyncio.sleep(0)
        raise exc_type()

    async def main() -> None:
        await start(kind, job())

    runner = asyncio.run if kind == "create_task" else nexusloop.run
    with pytest.raises(exc_type):
        runner(main())
