""""Slab-pooled" is measured, not claimed: what a ``spawn_slab`` allocates in the steady state.

Method. tracemalloc counts the live memory blocks the allocator handed out; an object served by
a free list (the compiled ``JoinHandle``'s and the loop's handle freelists, CPython's context
freelist) or recycled (a pooled ``RuntimeTask``) never reaches the allocator, so it does not
show. After a warm-up round (the pool, the freelists and the ready ring reach their size), with
the cyclic GC off:

1. K coroutine objects are made (the caller's part: not counted);
2. snapshot; each is ``spawn_slab``-ed, the handles stored in a preallocated list; snapshot:
   the blocks that appeared between the two snapshots, per spawn, must be ~0;
3. the tasks run to completion, the handles are awaited and dropped: the pool's in-use count is
   back to 0 and no block is retained compared with the start.

Controls prove the measurement can fail: the same steps with ``loop.create_task`` (an
``asyncio.Task`` per call) count at least one block per task, and in pure-Python mode (no
freelists) the spawn step shows its ``JoinHandle`` allocations. The steady-state test runs
20,000 spawn+await and compares tracemalloc's current size after 2,000 and after 20,000; its
control keeps every handle and must show growth.

The per-spawn assertion is about the compiled build ("pure Python has no freelists"); the
controls and the steady-state test run in both modes.
"""
from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

import nexusloop
from nexusloop.runtime import runtime_stats, spawn_slab

K = 200
HANG_GUARD = 60.0  # seconds: only detects hangs
COMPILED = nexusloop.is_compiled()


async def job() -> None:
    await asyncio.sleep(0)


async def settle(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def _blocks(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> int:
    """Net change in live blocks between two snapshots (tracemalloc's own objects left out).

    Net over the whole process: a block freed while another is allocated (the allocator
    reusing memory) is not growth; what a spawn keeps alive is.
    """
    own = tracemalloc.Filter(False, tracemalloc.__file__)
    after = after.filter_traces([own])
    before = before.filter_traces([own])
    return sum(stat.count_diff for stat in after.compare_to(before, "traceback"))


@pytest.fixture
def traced() -> Iterator[None]:
    """The cyclic GC off and tracemalloc on for the test body; both restored after."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()
        if was_enabled:
            gc.enable()


async def _warm(start: Callable[[Any], Any]) -> None:
    for _ in range(2):
        handles = [start(job()) for _ in range(K)]
        for handle in handles:
            await handle
        del handles
        await settle()


async def _measure(start: Callable[[Any], Any]) -> tuple[int, int]:
    """(blocks of the spawn step, blocks retained after completion) for K spawns."""
    # The first use of tracemalloc.Filter compiles and caches a pattern: not ours to count.
    # Collected before the warm-up: a full collection also empties CPython's freelists
    # (contexts among them), which the warm-up then refills.
    _blocks(tracemalloc.take_snapshot(), tracemalloc.take_snapshot())
    gc.collect()
    await _warm(start)
    handles: list[Any] = [None] * K
    s0 = tracemalloc.take_snapshot()
    coros = [job() for _ in range(K)]
    s1 = tracemalloc.take_snapshot()
    for i in range(K):
        handles[i] = start(coros[i])
    s2 = tracemalloc.take_snapshot()
    spawn_blocks = _blocks(s1, s2)
    for handle in handles:
        await handle
    del coros, handles, handle
    await settle()
    s3 = tracemalloc.take_snapshot()
    # s0, s1 and s2 are alive here: their own blocks are filtered out by _blocks.
    retained = _blocks(s0, s3)
    return spawn_blocks, retained


def _run(loop: Any, coro: Coroutine[Any, Any, Any]) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, HANG_GUARD))


@pytest.mark.skipif(not COMPILED, reason=(
    "pure Python has no freelists: the claim is about the compiled build"))
def test_spawn_slab_allocates_nothing_per_spawn(nloop: Any, traced: None) -> None:
    async def main() -> tuple[int, int, dict[str, int]]:
        spawn_blocks, retained = await _measure(spawn_slab)
        return spawn_blocks, retained, runtime_stats()

    spawn_blocks, retained, stats = _run(nloop, main())
    assert spawn_blocks / K < 0.05, f"{spawn_blocks} blocks for {K} spawn_slab calls"
    assert stats["slab_in_use"] == 0
    assert stats["slab_size"] == K  # the pool did not grow beyond the warm-up's peak
    assert retained / K < 0.05, f"{retained} blocks retained after {K} spawns completed"


def test_control_create_task_allocates_per_task(nloop: Any, traced: None) -> None:
    async def main() -> tuple[int, int]:
        return await _measure(asyncio.get_running_loop().create_task)

    spawn_blocks, retained = _run(nloop, main())
    assert spawn_blocks / K >= 1, f"{spawn_blocks} blocks for {K} create_task calls"
    assert retained / K < 0.05  # tasks are freed after completion: no leak either


@pytest.mark.skipif(COMPILED, reason="the control of the pure build (JoinHandle per spawn)")
def test_control_pure_spawn_slab_allocates_its_handle(nloop: Any, traced: None) -> None:
    async def main() -> tuple[int, int]:
        return await _measure(spawn_slab)

    spawn_blocks, _ = _run(nloop, main())
    assert spawn_blocks / K >= 1, f"{spawn_blocks} blocks for {K} pure-mode spawn_slab calls"
    # (No retention check here: pure Python keeps each task's name number as an int object,
    # and which of those are small cached ints depends on how many tasks ran before.)


# ------------------------------------------------------------------------- steady state

ROUNDS_EARLY = 2_000
ROUNDS = 20_000
GROWTH_LIMIT = 10 * 1024  # bytes


async def _steady(keep: list[Any] | None) -> tuple[int, int]:
    early = 0
    for i in range(ROUNDS):
        handle = spawn_slab(job())
        await handle
        if keep is not None:
            keep.append(handle)
        del handle
        if i + 1 == ROUNDS_EARLY:
            await settle()
            early = tracemalloc.get_traced_memory()[0]
    await settle()
    return early, tracemalloc.get_traced_memory()[0]


def test_steady_state_spawn_await_does_not_grow(nloop: Any, traced: None) -> None:
    early, late = _run(nloop, _steady(None))
    assert late - early < GROWTH_LIMIT, f"grew by {late - early} bytes over {ROUNDS} spawns"


def test_control_keeping_the_handles_grows(nloop: Any, traced: None) -> None:
    keep: list[Any] = []
    early, late = _run(nloop, _steady(keep))
    assert len(keep) == ROUNDS
    assert late - early >= GROWTH_LIMIT, f"grew by only {late - early} bytes"
