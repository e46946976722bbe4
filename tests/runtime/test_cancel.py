"""nexusloop.cancel: CancellationToken, its scopes, waiters and guard, on both loops.

Every loop test uses the ``any_loop`` fixture (stock asyncio and nexusloop, closed and checked
for leaked fds afterwards); ``run`` also checks that no task is left behind. Thread tests join
their threads with a bound and close the loops they made.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import os
import signal
import subprocess
import sys
import threading
import tracemalloc
import warnings
import weakref
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from nexusloop.cancel import CancellationToken, CancelScope, DropGuard

R = TypeVar("R")
HANG = 30.0  # seconds: only detects a hang, never a speed


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, R]) -> R:
    """Run ``coro`` as the main task of ``loop`` (bounded), and check no task is left over."""

    async def main() -> R:
        async with asyncio.timeout(HANG):
            return await coro

    result = loop.run_until_complete(main())
    assert not asyncio.all_tasks(loop)
    return result


async def settle(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Prove that something is freed by reference counting alone (no cycle involved)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def recursion_limit(limit: int) -> Iterator[None]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def chain(depth: int) -> tuple[CancellationToken, CancellationToken]:
    root = leaf = CancellationToken()
    for _ in range(depth):
        leaf = leaf.child_token()
    return root, leaf


class Threads:
    """Start threads, join them all with a bound, re-raise the first error."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def start(self, fn: Callable[..., Any], *args: Any) -> None:
        def body() -> None:
            try:
                fn(*args)
            except BaseException as exc:  # re-raised by join
                self.errors.append(exc)

        t = threading.Thread(target=body, daemon=True)
        self.threads.append(t)
        t.start()

    def join(self) -> None:
        for t in self.threads:
            t.join(HANG)
        assert not any(t.is_alive() for t in self.threads), "threads did not end"
        if self.errors:
            raise self.errors[0]


@pytest.fixture
def threads() -> Iterator[Threads]:
    ts = Threads()
    yield ts
    for t in ts.threads:
        t.join(HANG)
    assert not any(t.is_alive() for t in ts.threads), "threads did not end"


# ---------------------------------------------------------------------------------- the token


def test_new_token_is_active_and_cancel_is_idempotent() -> None:
    token = CancellationToken()
    assert not token.is_cancelled()
    assert repr(token) == "<CancellationToken active children=0 waiters=0>"
    token.cancel()
    assert token.is_cancelled()
    token.cancel()
    assert token.is_cancelled()
    assert repr(token) == "<CancellationToken cancelled>"


def test_child_is_cancelled_with_its_parent_not_the_other_way_round() -> None:
    root = CancellationToken()
    a, b = root.child_token(), root.child_token()
    a1 = a.child_token()
    assert repr(root) == "<CancellationToken active children=2 waiters=0>"
    a.cancel()
    assert a.is_cancelled() and a1.is_cancelled()
    assert not root.is_cancelled() and not b.is_cancelled()
    assert repr(root) == "<CancellationToken active children=1 waiters=0>"  # a unlinked
    root.cancel()
    assert b.is_cancelled()


def test_child_of_a_cancelled_token_is_born_cancelled() -> None:
    root = CancellationToken()
    root.cancel()
    child = root.child_token()
    assert child.is_cancelled()
    assert child.child_token().is_cancelled()


def test_cancelled_child_does_not_keep_its_parent_alive() -> None:
    with no_gc():
        parent = CancellationToken()
        child = parent.child_token()
        parent_ref = weakref.ref(parent)
        del parent
        assert parent_ref() is not None  # a live child keeps its ancestors (cancel goes through)
        child.cancel()
        assert parent_ref() is None


def test_dropped_child_is_freed_at_once_and_unlinked() -> None:
    root = CancellationToken()
    with no_gc():
        child = root.child_token()
        grandchild = child.child_token()
        refs = [weakref.ref(child), weakref.ref(grandchild)]
        del child
        assert refs[0]() is not None  # the grandchild still needs it
        assert repr(root) == "<CancellationToken active children=1 waiters=0>"
        del grandchild
        assert [r() for r in refs] == [None, None]
        assert repr(root) == "<CancellationToken active children=0 waiters=0>"
    root.cancel()


def test_dropped_intermediate_tokens_still_relay_cancellation() -> None:
    root, leaf = chain(3)
    gc.collect()
    root.cancel()
    assert leaf.is_cancelled()


def test_short_lived_children_do_not_grow_the_parent() -> None:
    root = CancellationToken()

    def churn(n: int, keep: list[CancellationToken] | None) -> None:
        for _ in range(n):
            child = root.child_token()
            child.child_token()
            if keep is not None:
                keep.append(child)

    churn(1000, None)  # warm up caches and free lists
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        churn(100_000, None)
        dropped_growth = tracemalloc.get_traced_memory()[0] - before
        kept: list[CancellationToken] = []
        before = tracemalloc.get_traced_memory()[0]
        churn(10_000, kept)  # control: live children do cost memory, so the measure can fail
        kept_growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept_growth > 10_000 * 100, kept_growth
    assert dropped_growth < 64 * 1024, dropped_growth
    assert repr(root) == "<CancellationToken active children=10000 waiters=0>"
    del kept
    assert repr(root) == "<CancellationToken active children=0 waiters=0>"


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_deep_chain_cancels_without_recursion(depth: int) -> None:
    with recursion_limit(1000):
        root, leaf = chain(depth)  # the tokens in between are held by their children only
        root.cancel()
        assert leaf.is_cancelled()
        assert repr(leaf) == "<CancellationToken cancelled>"


def test_deep_chain_cancelled_from_the_middle() -> None:
    with recursion_limit(1000):
        root = token = CancellationToken()
        middle = None
        for i in range(20_000):
            token = token.child_token()
            if i == 10_000:
                middle = token
        assert middle is not None
        middle.cancel()
        assert token.is_cancelled() and not root.is_cancelled()
        # the cancelled middle let go of its parent: nothing holds the upper half any more
        assert repr(root) == "<CancellationToken active children=0 waiters=0>"


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_dropped_deep_chain_is_freed_without_recursion(depth: int) -> None:
    with recursion_limit(1000), no_gc():
        root, leaf = chain(depth)
        root_ref = weakref.ref(root)
        del root
        assert root_ref() is not None
        del leaf  # frees the whole chain, leaf first
        assert root_ref() is None


def test_flat_tree_of_10000_children() -> None:
    root = CancellationToken()
    children = [root.child_token() for _ in range(10_000)]
    assert repr(root) == "<CancellationToken active children=10000 waiters=0>"
    root.cancel()
    assert all(c.is_cancelled() for c in children)


def test_concurrent_child_creation_and_cancel(threads: Threads) -> None:
    """Children created from several threads while another cancels: each ends cancelled,
    whether it was linked before the cancel (reached by it) or after (born cancelled)."""
    root = CancellationToken()
    mids = [root.child_token() for _ in range(4)]
    made: list[list[CancellationToken]] = [[] for _ in mids]
    barrier = threading.Barrier(len(mids) + 1)

    def make(mid: CancellationToken, out: list[CancellationToken]) -> None:
        barrier.wait(HANG)
        for i in range(3000):
            out.append(mid.child_token() if i % 2 else root.child_token().child_token())

    def cancel() -> None:
        barrier.wait(HANG)
        while sum(len(m) for m in made) < 2000:
            pass
        root.cancel()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for mid, out in zip(mids, made, strict=True):
            threads.start(make, mid, out)
        threads.start(cancel)
        threads.join()
    finally:
        sys.setswitchinterval(old)
    tokens = [t for out in made for t in out]
    assert len(tokens) == 12_000
    assert all(t.is_cancelled() for t in tokens)


# ---------------------------------------------------------------------------------- waiters


def test_cancelled_returns_at_once_when_already_cancelled() -> None:
    token = CancellationToken()
    token.cancel()
    coro = token.cancelled()
    with pytest.raises(StopIteration):  # finished on its first step: no suspension
        coro.send(None)


def test_many_waiters_are_woken(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()
    woken: list[int] = []

    async def waiter(i: int) -> None:
        await token.cancelled()
        woken.append(i)

    async def main() -> None:
        tasks = [asyncio.create_task(waiter(i)) for i in range(1000)]
        await settle()
        assert repr(token) == "<CancellationToken active children=0 waiters=1000>"
        assert not woken
        token.cancel()
        await asyncio.gather(*tasks)

    run(any_loop, main())
    assert sorted(woken) == list(range(1000))


def test_waiters_on_descendants_are_woken(any_loop: asyncio.AbstractEventLoop) -> None:
    root = CancellationToken()
    leaves = [root.child_token().child_token() for _ in range(10)]

    async def main() -> None:
        tasks = [asyncio.create_task(t.cancelled()) for t in leaves for _ in range(3)]
        await settle()
        root.cancel()
        await asyncio.gather(*tasks)

    run(any_loop, main())


def test_waiter_on_a_deep_chain_leaf(any_loop: asyncio.AbstractEventLoop) -> None:
    root, leaf = chain(10_000)

    async def main() -> None:
        task = asyncio.create_task(leaf.cancelled())
        await settle()
        with recursion_limit(1000):
            root.cancel()
        await task

    run(any_loop, main())


def test_cancelled_waiter_is_removed(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()

    async def main() -> None:
        tasks = [asyncio.create_task(token.cancelled()) for _ in range(3)]
        await settle()
        assert repr(token) == "<CancellationToken active children=0 waiters=3>"
        tasks[0].cancel()
        with pytest.raises(asyncio.CancelledError):
            await tasks[0]
        assert repr(token) == "<CancellationToken active children=0 waiters=2>"
        for t in tasks[1:]:
            t.cancel()
        await asyncio.gather(*tasks[1:], return_exceptions=True)
        assert repr(token) == "<CancellationToken active children=0 waiters=0>"
        # the token still works for later waiters
        later = asyncio.create_task(token.cancelled())
        await settle()
        token.cancel()
        await later

    run(any_loop, main())


def test_waiter_cancelled_in_the_same_tick_as_the_token(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()

    async def main() -> None:
        a = asyncio.create_task(token.cancelled())
        b = asyncio.create_task(token.cancelled())
        await settle()
        token.cancel()  # a's future is resolved first ...
        a.cancel()  # ... then a is cancelled before it runs: asyncio lets the cancel win
        assert (await asyncio.gather(a, b, return_exceptions=True))[1] is None
        assert repr(token) == "<CancellationToken cancelled>"

    run(any_loop, main())


def test_cancel_from_a_loop_callback_wakes_waiters(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()

    async def main() -> None:
        task = asyncio.create_task(token.cancelled())
        await settle()
        asyncio.get_running_loop().call_soon(token.cancel)
        await task

    run(any_loop, main())


def test_waiters_woken_from_another_thread(
    any_loop: asyncio.AbstractEventLoop, threads: Threads
) -> None:
    token = CancellationToken()
    child = token.child_token()
    ready = threading.Event()

    async def main() -> None:
        tasks = [asyncio.create_task(t.cancelled()) for t in (token, child) for _ in range(50)]
        await settle()
        def cancel() -> None:
            ready.wait(HANG)
            token.cancel()

        threads.start(cancel)
        ready.set()
        await asyncio.gather(*tasks)  # the loop is most likely parked when the thread cancels

    run(any_loop, main())
    threads.join()
    assert repr(token) == "<CancellationToken cancelled>"


def test_waiters_on_loops_in_two_threads(threads: Threads) -> None:
    """One cancel() from the main thread wakes waiters parked on two loops in two threads."""
    import nexusloop

    token = CancellationToken()
    parked = threading.Barrier(3)
    results: list[str] = []

    def loop_thread(factory: Callable[[], asyncio.AbstractEventLoop], name: str) -> None:
        loop = factory()
        try:
            async def main() -> None:
                tasks = [asyncio.create_task(token.child_token().cancelled()) for _ in range(100)]
                await settle()
                await loop.run_in_executor(None, parked.wait, HANG)
                await asyncio.gather(*tasks)
                results.append(name)

            run(loop, main())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    threads.start(loop_thread, asyncio.new_event_loop, "asyncio")
    threads.start(loop_thread, nexusloop.new_event_loop, "nexusloop")
    parked.wait(HANG)
    token.cancel()
    threads.join()
    assert sorted(results) == ["asyncio", "nexusloop"]


def test_cancel_with_a_waiter_on_a_closed_loop() -> None:
    token = CancellationToken()
    loop = asyncio.new_event_loop()
    reports: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reports.append(context))
    task = loop.create_task(token.cancelled())
    loop.run_until_complete(settle())
    loop.close()
    token.cancel()  # the waiter's loop is closed: dropped, no exception
    assert not task.done()
    del task
    gc.collect()  # the pending task is destroyed ("Task was destroyed but it is pending!")
    assert all("destroyed but it is pending" in c["message"] for c in reports)


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs signal.pthread_kill")
def test_cancel_from_a_signal_handler_wakes_a_parked_loop(
    any_loop: asyncio.AbstractEventLoop, threads: Threads
) -> None:
    """A ``signal.signal`` handler runs inside the loop's poll; cancel() must wake the loop
    (a plain call_soon from there would let the poll sleep on until the HANG bound)."""
    token = CancellationToken()
    ready = threading.Event()
    main_thread = threading.main_thread().ident
    assert main_thread == threading.get_ident()

    def send() -> None:
        ready.wait(HANG)
        threading.Event().wait(0.2)  # give the loop time to park (either way must work)
        signal.pthread_kill(main_thread, signal.SIGUSR1)

    old = signal.signal(signal.SIGUSR1, lambda *_: token.cancel())
    try:
        async def main() -> None:
            task = asyncio.create_task(token.cancelled())
            await settle()
            threads.start(send)
            ready.set()
            await task

        run(any_loop, main())
    finally:
        signal.signal(signal.SIGUSR1, old)
    threads.join()


# ---------------------------------------------------------------------------------- scopes


def test_scope_cancels_the_body_and_runs_finally(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()
    log: list[str] = []

    async def body() -> bool:
        async with token.scope() as scope:
            try:
                log.append("start")
                await asyncio.sleep(HANG)
                log.append("not reached")
            finally:
                log.append("finally")
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        await asyncio.sleep(0)  # no cancellation left pending
        log.append("after")
        return scope.cancelled_caught

    async def main() -> None:
        task = asyncio.create_task(body())
        await settle()
        token.cancel()
        assert await task is True

    run(any_loop, main())
    assert log == ["start", "finally", "after"]


def test_scope_without_cancellation(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()

    async def main() -> None:
        async with token.scope() as scope:
            await asyncio.sleep(0)
        assert not scope.cancelled_caught
        assert repr(token) == "<CancellationToken active children=0 waiters=0>"  # unregistered
        token.cancel()  # after the exit: nothing happens to the task
        await settle()

    run(any_loop, main())


def test_scope_already_cancelled_at_entry(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()
    token.cancel()
    log: list[str] = []

    async def main() -> None:
        async with token.scope() as scope:
            log.append("prefix")  # runs: the body is cancelled at its first suspension
            await asyncio.sleep(HANG)
            log.append("not reached")
        assert scope.cancelled_caught
        await settle()

    run(any_loop, main())
    assert log == ["prefix"]


def test_scope_already_cancelled_body_without_await_leaves_no_stray_cancel(
    any_loop: asyncio.AbstractEventLoop,
) -> None:
    """The cancel of an already-cancelled token waits for the body to suspend; a body that
    ends first must not get a CancelledError later (3.11/3.12 ``uncancel`` would not clear it)."""
    token = CancellationToken()
    token.cancel()

    async def main() -> None:
        async with token.scope() as scope:
            pass
        assert not scope.cancelled_caught
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        await asyncio.sleep(0)
        await asyncio.sleep(0.001)

    run(any_loop, main())


def test_body_cancels_its_own_token(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        token = CancellationToken()
        async with token.scope() as scope:
            token.cancel()
            await asyncio.sleep(HANG)
        assert scope.cancelled_caught

        token = CancellationToken()
        async with token.scope() as scope:
            token.cancel()  # and leaves without awaiting
        assert not scope.cancelled_caught
        await settle()  # no stray CancelledError

    run(any_loop, main())


def test_outer_cancellation_propagates_through_scope(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()
    log: list[str] = []

    async def body() -> None:
        async with token.scope() as scope:
            try:
                await asyncio.sleep(HANG)
            finally:
                log.append("finally")
        log.append(f"not reached {scope}")

    async def main() -> None:
        task = asyncio.create_task(body())
        await settle()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert repr(token) == "<CancellationToken active children=0 waiters=0>"

    run(any_loop, main())
    assert log == ["finally"]


@pytest.mark.parametrize("token_first", [True, False])
def test_outer_cancellation_at_the_same_time_propagates(
    any_loop: asyncio.AbstractEventLoop, token_first: bool
) -> None:
    token = CancellationToken()
    scopes: list[CancelScope] = []
    log: list[str] = []

    async def body() -> None:
        async with token.scope() as scope:
            scopes.append(scope)
            try:
                await asyncio.sleep(HANG)
            finally:
                log.append("finally")
        log.append("not reached")

    async def main() -> None:
        task = asyncio.create_task(body())
        await settle()
        if token_first:
            token.cancel()
            task.cancel()
        else:
            task.cancel()
            token.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()

    run(any_loop, main())
    assert log == ["finally"]
    assert not scopes[0].cancelled_caught


def test_outer_cancellation_from_another_thread_in_the_same_tick(
    any_loop: asyncio.AbstractEventLoop,
) -> None:
    """The token's hand-off callback and task.cancel() arrive in the same tick."""
    token = CancellationToken()

    async def body() -> None:
        async with token.scope():
            await asyncio.sleep(HANG)

    async def main() -> None:
        task = asyncio.create_task(body())
        await settle()
        t = threading.Thread(target=token.cancel)
        t.start()
        t.join(HANG)  # the hand-off is queued; the task has not run yet
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(any_loop, main())


def test_body_that_swallows_the_cancellation(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()

    async def body() -> str:
        async with token.scope() as scope:
            try:
                await asyncio.sleep(HANG)
            except asyncio.CancelledError:
                pass
            await asyncio.sleep(0)
            result = "swallowed"
        assert not scope.cancelled_caught  # the body ended normally
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        return result

    async def main() -> None:
        task = asyncio.create_task(body())
        await settle()
        token.cancel()
        assert await task == "swallowed"

    run(any_loop, main())


def test_body_raising_another_exception_after_cancel(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()

    async def body() -> None:
        async with token.scope():
            try:
                await asyncio.sleep(HANG)
            except asyncio.CancelledError:
                raise ValueError("cleanup failed") from None

    async def main() -> None:
        task = asyncio.create_task(body())
        await settle()
        token.cancel()
        with pytest.raises(ValueError, match="cleanup failed"):
            await task
        assert task.cancelling() == 0

    run(any_loop, main())


def test_scope_inside_timeout(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()

    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                async with token.scope() as scope:
                    await asyncio.sleep(HANG)
        assert not scope.cancelled_caught
        # and the token firing first is caught by the scope, the timeout does not expire
        async with asyncio.timeout(HANG) as cm:
            async with token.scope() as scope:
                asyncio.get_running_loop().call_soon(token.cancel)
                await asyncio.sleep(HANG)
        assert scope.cancelled_caught and not cm.expired()

    run(any_loop, main())


def test_timeout_inside_scope(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        token = CancellationToken()
        async with token.scope() as scope:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.01):
                    await asyncio.sleep(HANG)
            await asyncio.sleep(0)
        assert not scope.cancelled_caught

        token = CancellationToken()
        async with token.scope() as scope:
            async with asyncio.timeout(HANG) as cm:
                asyncio.get_running_loop().call_soon(token.cancel)
                await asyncio.sleep(HANG)
        assert scope.cancelled_caught and not cm.expired()

    run(any_loop, main())


def test_scope_under_wait_for(any_loop: asyncio.AbstractEventLoop) -> None:
    async def body(token: CancellationToken) -> bool:
        async with token.scope() as scope:
            await asyncio.sleep(HANG)
        return scope.cancelled_caught

    async def main() -> None:
        token = CancellationToken()
        asyncio.get_running_loop().call_later(0.001, token.cancel)
        assert await asyncio.wait_for(body(token), HANG) is True
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(body(CancellationToken()), 0.001)

    run(any_loop, main())


@pytest.mark.parametrize("scope_outside", [True, False])
def test_timeout_and_token_fire_in_the_same_tick(
    any_loop: asyncio.AbstractEventLoop, scope_outside: bool
) -> None:
    """Both cancel the task before it runs again: the outer context manager handles it."""
    token = CancellationToken()
    timeouts: list[asyncio.Timeout] = []
    scopes: list[CancelScope] = []

    async def body() -> str:
        try:
            if scope_outside:
                async with token.scope() as scope:
                    scopes.append(scope)
                    async with asyncio.timeout(HANG) as cm:
                        timeouts.append(cm)
                        await asyncio.sleep(HANG)
            else:
                async with asyncio.timeout(HANG) as cm:
                    timeouts.append(cm)
                    async with token.scope() as scope:
                        scopes.append(scope)
                        await asyncio.sleep(HANG)
        except TimeoutError:
            return "timeout"
        return "scope"

    async def main() -> None:
        task = asyncio.create_task(body())
        await settle()
        timeouts[0].reschedule(asyncio.get_running_loop().time() - 1)  # fires via call_soon
        token.cancel()
        assert await task == ("scope" if scope_outside else "timeout")
        assert task.cancelling() == 0
        assert scopes[0].cancelled_caught is scope_outside

    run(any_loop, main())


def test_taskgroup_inside_scope(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()
    log: list[str] = []

    async def child(i: int) -> None:
        try:
            await asyncio.sleep(HANG)
        finally:
            log.append(f"child {i} finally")

    async def body() -> bool:
        async with token.scope() as scope:
            async with asyncio.TaskGroup() as tg:
                for i in range(3):
                    tg.create_task(child(i))
                await asyncio.sleep(HANG)
        return scope.cancelled_caught

    async def main() -> None:
        task = asyncio.create_task(body())
        await settle()
        token.cancel()
        assert await task is True

    run(any_loop, main())
    assert sorted(log) == [f"child {i} finally" for i in range(3)]


def test_scopes_inside_taskgroup_children(any_loop: asyncio.AbstractEventLoop) -> None:
    root = CancellationToken()
    stopped: list[int] = []

    async def worker(i: int, token: CancellationToken) -> None:
        async with token.scope():
            await asyncio.sleep(HANG)
        stopped.append(i)

    async def main() -> None:
        async with asyncio.TaskGroup() as tg:
            for i in range(5):
                tg.create_task(worker(i, root.child_token()))
            await settle()
            root.cancel()

    run(any_loop, main())
    assert sorted(stopped) == list(range(5))


def test_taskgroup_failure_inside_scope_propagates(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()

    async def fail() -> None:
        raise ValueError("boom")

    async def main() -> None:
        with pytest.raises(ExceptionGroup) as info:
            async with token.scope() as scope:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(fail())
                    await asyncio.sleep(HANG)
        assert [type(e) for e in info.value.exceptions] == [ValueError]
        assert not scope.cancelled_caught
        assert not token.is_cancelled()

    run(any_loop, main())


def test_nested_scopes(any_loop: asyncio.AbstractEventLoop) -> None:
    async def body(outer: CancellationToken, inner: CancellationToken) -> tuple[bool, bool]:
        async with outer.scope() as o:
            async with inner.scope() as i:
                await asyncio.sleep(HANG)
            assert False, "not reached"  # noqa: B011
        return o.cancelled_caught, i.cancelled_caught

    async def main() -> None:
        # the outer token fires: the inner scope lets the cancellation through
        outer, inner = CancellationToken(), CancellationToken()
        task = asyncio.create_task(body(outer, inner))
        await settle()
        outer.cancel()
        assert await task == (True, False)
        # both fire (a parent and its child token): the outer scope catches it
        outer = CancellationToken()
        task = asyncio.create_task(body(outer, outer.child_token()))
        await settle()
        outer.cancel()
        assert await task == (True, False)

    run(any_loop, main())

    async def inner_only() -> None:
        outer, inner = CancellationToken(), CancellationToken()
        async with outer.scope() as o:
            async with inner.scope() as i:
                asyncio.get_running_loop().call_soon(inner.cancel)
                await asyncio.sleep(HANG)
            assert i.cancelled_caught
            await asyncio.sleep(0)
        assert not o.cancelled_caught

    run(any_loop, inner_only())


def test_scope_cancelled_from_another_thread(
    any_loop: asyncio.AbstractEventLoop, threads: Threads
) -> None:
    token = CancellationToken()

    async def main() -> None:
        async with token.scope() as scope:
            threads.start(token.cancel)
            await asyncio.sleep(HANG)
        assert scope.cancelled_caught

    run(any_loop, main())
    threads.join()


def test_scope_misuse(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()
    with pytest.raises(TypeError):
        CancelScope(object())  # type: ignore[arg-type]

    async def main() -> None:
        scope = token.scope()
        assert repr(scope).startswith("<CancelScope [created] token=<CancellationToken")
        assert scope.token is token
        async with scope:
            assert "[active]" in repr(scope)
            with pytest.raises(RuntimeError, match="already been entered"):
                async with scope:
                    pass
        assert "[exited]" in repr(scope)
        with pytest.raises(RuntimeError, match="already been entered"):
            async with scope:
                pass

    run(any_loop, main())

    outcome: list[BaseException] = []

    def in_callback() -> None:  # no current task
        coro = token.scope().__aenter__()
        try:
            coro.send(None)
        except BaseException as exc:
            outcome.append(exc)

    any_loop.call_soon(in_callback)
    any_loop.run_until_complete(asyncio.sleep(0))
    assert isinstance(outcome[0], RuntimeError)
    assert "inside a task" in str(outcome[0])


# ---------------------------------------------------------------------------------- run()


def test_run_returns_the_result(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()

    async def work() -> int:
        await asyncio.sleep(0)
        return 42

    async def main() -> None:
        assert await token.run(work()) == 42
        assert repr(token) == "<CancellationToken active children=0 waiters=0>"

    run(any_loop, main())


def test_run_returns_none_when_the_token_fires(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()
    log: list[str] = []

    async def work() -> int:
        try:
            await asyncio.sleep(HANG)
            return 1
        finally:
            log.append("finally")

    async def main() -> None:
        asyncio.get_running_loop().call_later(0.001, token.cancel)
        assert await token.run(work()) is None
        await settle()

    run(any_loop, main())
    assert log == ["finally"]


def test_run_propagates_exceptions(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()

    async def work() -> None:
        await asyncio.sleep(0)
        raise KeyError("x")

    async def main() -> None:
        with pytest.raises(KeyError):
            await token.run(work())

    run(any_loop, main())


def test_run_on_a_cancelled_token_closes_the_coroutine(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()
    token.cancel()
    started: list[bool] = []

    async def work() -> int:
        started.append(True)
        return 1

    async def main() -> None:
        coro = work()
        assert await token.run(coro) is None
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(any_loop, main())
        gc.collect()
    assert not started
    assert not [w for w in caught if "never awaited" in str(w.message)], caught


def test_run_with_a_future(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        token = CancellationToken()
        fut = loop.create_future()
        loop.call_soon(fut.set_result, "value")
        assert await token.run(fut) == "value"

        fut = loop.create_future()
        loop.call_soon(token.cancel)
        assert await token.run(fut) is None
        assert fut.cancelled()  # awaited in the cancelled body, as with asyncio.timeout

        done = loop.create_future()
        done.set_result("ready")
        assert await token.run(done) == "ready"  # already cancelled, but no suspension

    run(any_loop, main())


def test_run_requires_an_awaitable() -> None:
    token = CancellationToken()
    coro = token.run(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="awaitable is required"):
        coro.send(None)


# ---------------------------------------------------------------------------------- guard


def test_drop_guard() -> None:
    token = CancellationToken()
    with token.drop_guard() as guard:
        assert isinstance(guard, DropGuard) and guard.token is token
        assert repr(guard).startswith("<DropGuard armed")
        assert not token.is_cancelled()
    assert token.is_cancelled()

    token = CancellationToken()
    with pytest.raises(ValueError), token.drop_guard():
        raise ValueError
    assert token.is_cancelled()

    token = CancellationToken()
    with token.drop_guard() as guard:
        assert guard.disarm() is token
        assert repr(guard).startswith("<DropGuard disarmed")
    assert not token.is_cancelled()


def test_drop_guard_when_the_task_is_cancelled(any_loop: asyncio.AbstractEventLoop) -> None:
    token = CancellationToken()
    helper_stopped: list[bool] = []

    async def helper(t: CancellationToken) -> None:
        await t.cancelled()
        helper_stopped.append(True)

    async def handler() -> None:
        with token.drop_guard():
            asyncio.create_task(helper(token.child_token()))
            await asyncio.sleep(HANG)

    async def main() -> None:
        task = asyncio.create_task(handler())
        await settle()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert token.is_cancelled()
        await settle()

    run(any_loop, main())
    assert helper_stopped == [True]


def test_module_exports() -> None:
    import nexusloop.cancel as mod

    assert sorted(mod.__all__) == ["CancelScope", "CancellationToken", "DropGuard"]
    assert os.path.basename(mod.__file__ or "").startswith("cancel")


def test_benchmark_script_runs() -> None:
    """benchmarks/cancel_tree.py against bit rot (a tiny tree; no speed is asserted)."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "cancel_tree.py"
    proc = subprocess.run([sys.executable, str(script), "--repeat", "1", "--size", "500"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| flat") or
            line.startswith("| deep")]
    assert len(rows) == 10, proc.stdout
    assert "Cancelling a 500-token tree" in proc.stdout
