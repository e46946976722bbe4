"""The task slab: bounded and growing pools, claims, FIFO claim waiters, generations, stats.

A bounded slab (``slab=N``) has exactly N task objects, made up front; a slot is in use from
the spawn (or claim) until the task's outcome can no longer be asked for (its handle awaited it,
or was detached) or the claim is released. The hypothesis test at the end drives random
sequences of spawns, claims, completions, awaits and detaches against that rule as a model.
Loops come from ``new_event_loop`` (closed and checked for leaked fds by ``fd_check``) or from
``tests/conftest.py``'s ``nloop``.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import os
import warnings
import weakref
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nexusloop
from nexusloop.runtime import (
    JoinHandle,
    SlabClaim,
    SlabFullError,
    claim_slab,
    runtime_stats,
    spawn,
    spawn_slab,
    try_claim_slab,
)

HANG_GUARD = 30.0  # seconds: only detects hangs
COMPILED = nexusloop.is_compiled()


def _open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


@pytest.fixture
def fd_check() -> Iterator[None]:
    before = _open_fds()
    yield
    leaked = _open_fds() - before
    if leaked:
        gc.collect()
        leaked = _open_fds() - before
    assert not leaked, f"file descriptors leaked: {sorted(leaked)}"


def run_slab(capacity: int, main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``main()`` on a fresh loop with ``slab=capacity`` (closed after)."""
    loop = nexusloop.new_event_loop(slab=capacity)
    try:
        return loop.run_until_complete(asyncio.wait_for(main(), HANG_GUARD))
    finally:
        loop.close()


async def settle(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def hold(gate: asyncio.Event, value: Any = None) -> Any:
    await gate.wait()
    return value


def in_use() -> int:
    return runtime_stats()["slab_in_use"]


# ----------------------------------------------------------------------- bounded slab


def test_bounded_slab_is_made_up_front(fd_check: None) -> None:
    async def main() -> dict[str, int]:
        return runtime_stats()

    assert run_slab(3, main) == {
        "slab_capacity": 3, "slab_size": 3, "slab_in_use": 0, "slab_made": 3, "spawned_running": 0,
    }


def test_full_slab_refuses_a_spawn_and_closes_the_coroutine(fd_check: None) -> None:
    async def main() -> None:
        gate = asyncio.Event()
        handles = [spawn_slab(hold(gate, i)) for i in range(2)]
        coro = hold(gate)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(SlabFullError) as info:
                spawn_slab(coro)
            assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
            del coro
            gc.collect()
        assert not [w for w in caught if "never awaited" in str(w.message)]
        assert isinstance(info.value, RuntimeError)
        message = str(info.value)
        assert "full" in message and "claim_slab()" in message and "slab" in message
        assert in_use() == 2
        # spawn (unpooled) is not limited by the slab
        extra = spawn(hold(gate, "unpooled"))
        gate.set()
        assert [await h for h in handles] == [0, 1]
        assert await extra == "unpooled"
        await settle()  # see test_slot_is_free_as_soon_as_await_handle_returns
        assert in_use() == 0
        assert await spawn_slab(hold(gate, "again")) == "again"

    run_slab(2, main)


def test_slab_full_error_is_exported_from_the_package() -> None:
    assert nexusloop.runtime.SlabFullError is SlabFullError
    assert issubclass(SlabFullError, RuntimeError)


def test_a_finished_task_holds_its_slot_until_its_outcome_is_collected(fd_check: None) -> None:
    async def main() -> None:
        gate = asyncio.Event()
        gate.set()
        handle = spawn_slab(hold(gate, "kept"))
        await settle()
        assert handle.is_finished()
        assert in_use() == 1  # the slot holds the result (tokio's task cell does the same)
        coro = hold(gate)
        with pytest.raises(SlabFullError):
            spawn_slab(coro)
        assert await handle == "kept"
        assert in_use() == 0

    run_slab(1, main)


@pytest.mark.parametrize("how", ["await", "detach", "abort-await", "error-await"])
def test_ways_a_slot_is_released(fd_check: None, how: str) -> None:
    async def fails() -> None:
        raise ValueError("x")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, ctx: None)  # the detached "error" report
        gate = asyncio.Event()
        handle = spawn_slab(fails() if how == "error-await" else hold(gate, 1))
        await settle()
        assert in_use() == 1
        if how == "await":
            gate.set()
            assert await handle == 1
        elif how == "detach":
            handle.detach()
            assert in_use() == 1  # still running
            gate.set()
            await settle()
        elif how == "abort-await":
            assert handle.abort()
            with pytest.raises(asyncio.CancelledError):
                await handle
        else:
            with pytest.raises(ValueError):
                await handle
        await settle()  # see test_slot_is_free_as_soon_as_await_handle_returns
        assert in_use() == 0

    run_slab(1, main)


@pytest.mark.parametrize("awaiter", ["create_task", "spawn"])
def test_slot_is_free_as_soon_as_await_handle_returns(fd_check: None, awaiter: str) -> None:
    async def job(i: int) -> int:
        await asyncio.sleep(0)  # still running when the await starts
        return i

    async def sequential() -> list[int]:
        got = []
        for i in range(3):
            got.append(await spawn_slab(job(i)))
            assert in_use() == 0
        return got

    async def main() -> list[int]:
        # The awaiting task holds no slot itself (slab=1 is for the jobs).
        if awaiter == "spawn":
            return await spawn(sequential())  # type: ignore[no-any-return]
        return await asyncio.get_running_loop().create_task(sequential())

    assert run_slab(1, main) == [0, 1, 2]


def test_growing_slab_stops_growing_for_a_sequential_spawn_await_loop(nloop: Any) -> None:
    # `await handle` returns inside the finished task's queued done-callback run, which still
    # refers to that task object: the next spawn_slab of the same step gets another object
    # (the slot itself is free, see test_slot_is_free_as_soon_as_await_handle_returns). So a
    # strictly sequential loop alternates between two objects, and makes no more.
    async def job() -> int:
        await asyncio.sleep(0)
        return id(asyncio.current_task())

    async def main() -> None:
        ids = [await spawn_slab(job()) for _ in range(50)]
        assert len(set(ids)) == 2
        assert runtime_stats()["slab_size"] == 2

    nloop.run_until_complete(asyncio.wait_for(main(), HANG_GUARD))


@pytest.mark.parametrize("awaiter", ["create_task", "spawn"])
@pytest.mark.parametrize("when", ["pending", "done"])
@pytest.mark.parametrize("outcome", ["result", "error", "cancel", "detached-error"])
def test_task_objects_are_recycled_whatever_the_outcome(
    nloop: Any, outcome: str, when: str, awaiter: str
) -> None:
    # An exception keeps the frames it passed through: none may keep the task, or the pool
    # could not reuse it. Compiled there are none. In pure Python the task's own methods are
    # such frames (they drop `self`, as asyncio's do), and so are, through f_back, the loop's
    # dispatch frames with their last handle: the pool lets go of a task woken with an
    # exception while pending, and the garbage collector frees it.
    nloop.set_exception_handler(lambda loop, context: None)  # detached errors are reported
    seen: list[weakref.ref[Any]] = []
    reused = COMPILED or when == "done" or outcome in ("result", "detached-error")

    async def job(gate: asyncio.Future[None]) -> str:
        seen.append(weakref.ref(asyncio.current_task()))  # type: ignore[arg-type]
        await gate
        if outcome.endswith("error"):
            raise KeyError("x")
        return "ok"

    async def one_round() -> None:
        gate = asyncio.get_running_loop().create_future()
        handle = spawn_slab(job(gate))
        if when == "done":
            gate.set_result(None) if outcome != "cancel" else handle.abort()
            await settle()
        else:
            asyncio.get_running_loop().call_soon(
                gate.set_result if outcome != "cancel" else lambda _: handle.abort(), None)
        if outcome == "detached-error":
            handle.detach()
            await settle()
            return
        with contextlib.suppress(KeyError, asyncio.CancelledError):
            await handle

    async def rounds() -> None:
        for _ in range(3):  # warm-up
            await one_round()
            await settle()
        made = runtime_stats()["slab_made"]
        for _ in range(20):
            await one_round()
            await settle()
        if reused:
            assert runtime_stats()["slab_made"] == made  # every round reused a task object
        assert runtime_stats()["slab_size"] <= 2
        assert runtime_stats()["slab_in_use"] == 0
        gc.collect()
        assert len({id(ref()) for ref in seen if ref() is not None}) <= 2  # nothing leaked

    async def main() -> None:
        if awaiter == "spawn":
            await spawn(rounds())
        else:
            await asyncio.get_running_loop().create_task(rounds())

    nloop.run_until_complete(asyncio.wait_for(main(), HANG_GUARD))


def test_released_tasks_let_go_of_their_results_without_further_spawns(nloop: Any) -> None:
    # Spawns recycle released tasks as they need them; when nobody spawns, a queued sweep
    # bounds how many released tasks still hold a result (and their finished coroutine).
    class Payload:
        pass

    refs: list[weakref.ref[Payload]] = []

    async def job() -> Payload:
        payload = Payload()
        refs.append(weakref.ref(payload))
        return payload

    async def main() -> None:
        handles = [spawn_slab(job()) for _ in range(100)]
        for handle in handles:
            await handle
        del handles, handle
        await settle()
        alive = sum(ref() is not None for ref in refs)
        assert alive < 16, f"{alive} results of released tasks still alive"
        assert runtime_stats()["slab_in_use"] == 0

    nloop.run_until_complete(asyncio.wait_for(main(), HANG_GUARD))


def test_a_task_object_is_recycled_only_when_nothing_else_refers_to_it(nloop: Any) -> None:
    async def job(box: list[Any]) -> str:
        box.append(asyncio.current_task())
        return "first"

    async def current_id() -> int:
        return id(asyncio.current_task())

    async def main() -> None:
        box: list[Any] = []
        assert await spawn_slab(job(box)) == "first"
        await settle()
        kept = box.pop()
        # Held here: the pool lets go of it, and it is never handed to a later spawn ...
        ids = {await spawn_slab(current_id()) for _ in range(5)}
        assert id(kept) not in ids
        assert kept.done() and kept.result() == "first"  # ... and its outcome stays readable
        assert "first" in repr(kept)
        made = runtime_stats()["slab_made"]
        del kept
        ids = {await spawn_slab(current_id()) for _ in range(5)}
        assert runtime_stats()["slab_made"] == made  # the pool's own objects are reused

    nloop.run_until_complete(asyncio.wait_for(main(), HANG_GUARD))


# ------------------------------------------------------------------------------ claims


def test_try_claim_slab(fd_check: None) -> None:
    async def main() -> None:
        first = try_claim_slab()
        second = try_claim_slab()
        assert isinstance(first, SlabClaim) and isinstance(second, SlabClaim)
        assert in_use() == 2
        assert try_claim_slab() is None
        coro = hold(asyncio.Event())
        with pytest.raises(SlabFullError):  # claims count against the capacity
            spawn_slab(coro)
        first.release()
        assert in_use() == 1
        third = try_claim_slab()
        assert third is not None
        third.release()
        second.release()
        assert in_use() == 0

    run_slab(2, main)


def test_claim_spawn_runs_in_the_reserved_slot(fd_check: None) -> None:
    async def main() -> None:
        claim = try_claim_slab()
        assert claim is not None
        assert not claim.used
        assert "reserved" in repr(claim)
        handle = claim.spawn(hold(asyncio.Event(), None))
        assert isinstance(handle, JoinHandle)
        assert claim.used
        assert "used" in repr(claim)
        assert in_use() == 1  # the claim's slot, not a second one
        claim.release()  # no-op after spawn
        assert in_use() == 1
        handle.abort()
        with pytest.raises(asyncio.CancelledError):
            await handle
        await settle()
        assert in_use() == 0

    run_slab(1, main)


@pytest.mark.parametrize("first", ["spawn", "release"])
def test_claim_spawn_twice_is_refused_and_closes_the_coroutine(fd_check: None, first: str) -> None:
    async def job() -> int:
        return 1

    async def main() -> None:
        claim = try_claim_slab()
        assert claim is not None
        handle = claim.spawn(job()) if first == "spawn" else None
        if first == "release":
            claim.release()
        coro = job()
        with pytest.raises(RuntimeError, match="already used or released"):
            claim.spawn(coro)
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
        if handle is not None:
            assert await handle == 1
        await settle()
        assert in_use() == 0

    run_slab(1, main)


def test_claim_released_by_its_with_block(fd_check: None) -> None:
    async def main() -> None:
        claim = try_claim_slab()
        assert claim is not None
        with claim:
            assert in_use() == 1
        assert in_use() == 0
        assert claim.used
        with try_claim_slab() as claim2:  # type: ignore[union-attr]
            handle = claim2.spawn(hold(asyncio.Event(), None))
        assert in_use() == 1  # spawned inside the block: the task keeps the slot
        handle.abort()
        with pytest.raises(asyncio.CancelledError):
            await handle
        await settle()
        assert in_use() == 0

    run_slab(1, main)


def test_every_claim_collected_unused_returns_its_slot(fd_check: None) -> None:
    async def main() -> None:
        for _ in range(4):  # from the second round on, the claim comes from the freelist
            claim = try_claim_slab()
            assert claim is not None, "a dropped claim kept its slot"
            assert in_use() == 1
            del claim
            gc.collect()
            assert in_use() == 0

    run_slab(1, main)


# --------------------------------------------------------------------- claim waiters


def test_claim_slab_returns_at_once_when_a_slot_is_free(fd_check: None) -> None:
    async def main() -> None:
        ran: list[int] = []
        asyncio.get_running_loop().call_soon(ran.append, 1)
        claim = await claim_slab()
        assert ran == []  # did not give up the loop
        assert isinstance(claim, SlabClaim)
        claim.release()

    run_slab(1, main)


@pytest.mark.parametrize("release", ["await", "detach", "claim-release"])
def test_claim_waiters_are_served_in_fifo_order(fd_check: None, release: str) -> None:
    async def main() -> None:
        order: list[int] = []
        gates = [asyncio.Event() for _ in range(4)]
        handles: dict[int, Any] = {}
        claims: dict[int, SlabClaim] = {}

        async def claimer(i: int) -> None:
            claim = await claim_slab()
            order.append(i)
            if release == "claim-release":
                claims[i] = claim
            else:
                handles[i] = claim.spawn(hold(gates[i], i))

        if release == "claim-release":
            first = try_claim_slab()
            assert first is not None
            claims[0] = first
        else:
            handles[0] = spawn_slab(hold(gates[0], 0))
        loop = asyncio.get_running_loop()
        waiters = [loop.create_task(claimer(i)) for i in (1, 2, 3)]
        await settle()
        assert order == []
        for i in range(4):
            assert in_use() == 1
            if release == "claim-release":
                claims.pop(i).release()
            else:
                gates[i].set()
                if release == "await":
                    assert await handles.pop(i) == i
                else:
                    handles.pop(i).detach()
            await settle()
            assert order == [1, 2, 3][: i + 1]
        await asyncio.gather(*waiters)
        assert in_use() == 0

    run_slab(1, main)


def test_cancelled_claim_waiter_does_not_lose_a_slot(fd_check: None) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        gate = asyncio.Event()
        handle = spawn_slab(hold(gate, "x"))
        cancelled = loop.create_task(claim_slab())
        served = loop.create_task(claim_slab())
        await settle()
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        gate.set()
        assert await handle == "x"
        claim = await served  # the slot skipped the cancelled waiter
        assert in_use() == 1
        claim.release()
        assert in_use() == 0

    run_slab(1, main)


def test_claim_waiter_cancelled_after_it_was_handed_a_slot(fd_check: None) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        gate = asyncio.Event()
        gate.set()
        handle = spawn_slab(hold(gate, "x"))
        waiter = loop.create_task(claim_slab())
        await settle()
        assert handle.is_finished() and not waiter.done()
        assert await handle == "x"  # releases the slot: handed to the waiter's future
        waiter.cancel()  # before the waiter task resumed
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert in_use() == 0
        again = try_claim_slab()
        assert again is not None
        again.release()

    run_slab(1, main)


def test_claim_functions_need_a_running_nexusloop_loop() -> None:
    with pytest.raises(RuntimeError, match="running nexusloop event loop"):
        try_claim_slab()
    with pytest.raises(RuntimeError, match="running nexusloop event loop"):
        runtime_stats()
    coro = claim_slab()
    with pytest.raises(RuntimeError, match="running nexusloop event loop"):
        coro.send(None)

    async def on_stock() -> None:
        with pytest.raises(RuntimeError, match="nexusloop"):
            try_claim_slab()
        with pytest.raises(RuntimeError, match="nexusloop"):
            await claim_slab()

    asyncio.run(on_stock())


# ----------------------------------------------------------------- generation check


def test_an_old_handle_never_touches_the_next_task_of_its_slot(fd_check: None) -> None:
    async def job(box: list[Any]) -> str:
        box.append(id(asyncio.current_task()))  # not the task: a reference would keep it
        return "old"

    async def main() -> None:
        old_box: list[Any] = []
        old = spawn_slab(job(old_box))
        assert await old == "old"
        await settle()  # see test_slot_is_free_as_soon_as_await_handle_returns
        gate = asyncio.Event()
        new_box: list[Any] = []

        async def new_job() -> str:
            new_box.append(asyncio.current_task())
            await gate.wait()
            return "new"

        new = spawn_slab(new_job())
        await settle()
        assert id(new_box[0]) == old_box[0], "slab=1: the slot's task object was reused"
        assert old.is_finished() is True
        assert new.is_finished() is False
        assert old.abort() is False
        await settle()
        assert not new_box[0].cancelled() and new.is_finished() is False
        assert await old == "old"  # the old result, not the new task's
        gate.set()
        assert await new == "new"
        assert await old == "old"

    run_slab(1, main)


def test_old_handle_of_a_failed_task_keeps_its_exception(fd_check: None) -> None:
    async def fails() -> None:
        raise KeyError("old")

    async def main() -> None:
        old = spawn_slab(fails())
        with pytest.raises(KeyError) as first:
            await old
        await settle()
        new = spawn_slab(hold(asyncio.Event()))
        await settle()
        assert old.abort() is False
        with pytest.raises(KeyError) as again:
            await old
        assert again.value is first.value
        assert new.abort() is True
        with pytest.raises(asyncio.CancelledError):
            await new

    run_slab(1, main)


# ----------------------------------------------------------------------- growing slab


def test_growing_slab_takes_many_concurrent_tasks_and_reuses_them(nloop: Any) -> None:
    n = 500

    async def job(gate: asyncio.Event, i: int) -> int:
        await gate.wait()
        return i

    async def main() -> None:
        assert runtime_stats()["slab_capacity"] == 0
        assert runtime_stats()["slab_size"] == 0  # made on demand
        for round_ in range(2):
            gate = asyncio.Event()
            handles = [spawn_slab(job(gate, i)) for i in range(n)]
            stats = runtime_stats()
            assert stats["slab_in_use"] == n
            assert stats["slab_size"] == n  # grew to the peak, and not beyond in round 2
            gate.set()
            assert [await h for h in handles] == list(range(n))
            await settle()
            assert runtime_stats()["slab_in_use"] == 0
            assert runtime_stats()["slab_size"] == n, round_

    nloop.run_until_complete(asyncio.wait_for(main(), HANG_GUARD))


def test_growing_slab_reuses_task_objects_for_sequential_spawns(nloop: Any) -> None:
    async def job() -> int:
        return id(asyncio.current_task())

    async def spawn_await_settle() -> int:
        task_id: int = await spawn_slab(job())
        await settle()  # see test_slot_is_free_as_soon_as_await_handle_returns
        return task_id

    async def main() -> None:
        ids = [await spawn_await_settle() for _ in range(10)]
        assert len(set(ids)) == 1
        assert runtime_stats()["slab_size"] == 1
        # spawn (unpooled) makes a new task object each time: the control
        keep = [asyncio.current_task()]
        tasks = []
        for _ in range(3):
            box: list[Any] = []

            async def record(box: list[Any] = box) -> None:
                box.append(asyncio.current_task())

            await spawn(record())
            tasks.append(box[0])
        assert len({id(t) for t in tasks}) == 3
        del keep

    nloop.run_until_complete(asyncio.wait_for(main(), HANG_GUARD))


def test_runtime_stats_counts_unpooled_tasks(nloop: Any) -> None:
    async def main() -> None:
        gate = asyncio.Event()
        handles = [spawn(hold(gate)) for _ in range(3)]
        slab_handle = spawn_slab(hold(gate))
        stats = runtime_stats()
        assert stats["spawned_running"] == 3
        assert stats["slab_in_use"] == 1
        gate.set()
        for h in [*handles, slab_handle]:
            await h
        assert runtime_stats()["spawned_running"] == 0
        assert runtime_stats()["slab_in_use"] == 0

    nloop.run_until_complete(asyncio.wait_for(main(), HANG_GUARD))


# ---------------------------------------------------------------------- model test

# Operations on a bounded slab of CAPACITY slots; the model counts the slots that must be in
# use: claims held + tasks whose outcome can still be asked for (running, or finished with a
# handle that has not collected it).
CAPACITY = 3
OPS = st.lists(
    st.tuples(
        st.sampled_from(["spawn", "claim", "claim_spawn", "claim_release", "finish", "fail",
                         "await", "detach", "abort"]),
        st.integers(min_value=0, max_value=7),
    ),
    max_size=40,
)


class _Model:
    def __init__(self) -> None:
        self.claims: list[SlabClaim] = []
        # entries: [handle, gate, state, detached, outcome]; state "running" | "done" |
        # "collected"; outcome "result" | "error" | "cancel" once done
        self.tasks: list[list[Any]] = []

    def expected_in_use(self) -> int:
        held = sum(1 for _, _, state, detached, _ in self.tasks
                   if state == "running" or (state == "done" and not detached))
        return len(self.claims) + held

    def full(self) -> bool:
        return self.expected_in_use() >= CAPACITY


async def _job(gate: asyncio.Future[str]) -> str:
    return await gate


def _pick(items: list[Any], k: int) -> Any:
    return items[k % len(items)] if items else None


async def _drive(ops: list[tuple[str, int]]) -> None:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, ctx: None)  # detached failures are reported
    model = _Model()
    for op, k in ops:
        running = [t for t in model.tasks if t[2] == "running"]
        if op == "spawn":
            gate: asyncio.Future[str] = loop.create_future()
            if model.full():
                with pytest.raises(SlabFullError):
                    spawn_slab(_job(gate))
            else:
                model.tasks.append([spawn_slab(_job(gate)), gate, "running", False, None])
        elif op == "claim":
            claim = try_claim_slab()
            assert (claim is None) == model.full()
            if claim is not None:
                model.claims.append(claim)
        elif op == "claim_spawn" and model.claims:
            claim = model.claims.pop(k % len(model.claims))
            gate = loop.create_future()
            model.tasks.append([claim.spawn(_job(gate)), gate, "running", False, None])
        elif op == "claim_release" and model.claims:
            model.claims.pop(k % len(model.claims)).release()
        elif op in ("finish", "fail") and running:
            entry = _pick(running, k)  # detached tasks too: they hold a slot until done
            if op == "finish":
                entry[1].set_result(f"r{k}")
                entry[4] = "result"
            else:
                entry[1].set_exception(ValueError(k))
                entry[4] = "error"
            entry[2] = "done"
        elif op == "abort":
            entry = _pick([t for t in running if not t[3]], k)
            if entry is not None:
                assert entry[0].abort() is True
                entry[2], entry[4] = "done", "cancel"
        elif op == "await":
            entry = _pick([t for t in model.tasks if t[2] == "done" and not t[3]], k)
            if entry is not None:
                try:
                    await entry[0]
                except ValueError:
                    got = "error"
                except asyncio.CancelledError:
                    got = "cancel"
                else:
                    got = "result"
                assert got == entry[4]
                entry[2] = "collected"
        elif op == "detach":
            entry = _pick([t for t in model.tasks if not t[3] and t[2] != "collected"], k)
            if entry is not None:
                entry[0].detach()
                entry[3] = True
        await settle(3)
        assert in_use() == model.expected_in_use(), (op, k)
        assert runtime_stats()["slab_size"] == CAPACITY
    # clean up: finish everything, detach every handle, release every claim
    for claim in model.claims:
        claim.release()
    for handle, gate, _, detached, _ in model.tasks:
        if not gate.done():
            gate.cancel()
        if not detached:
            handle.detach()
    await settle(3)
    assert in_use() == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_slot_accounting_matches_the_model(ops: list[tuple[str, int]]) -> None:
    before = _open_fds()
    run_slab(CAPACITY, lambda: _drive(ops))
    assert _open_fds() == before
