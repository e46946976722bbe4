"""GC control (``LoopOptions.gc_control``, issue #10): collections between ticks and in idle
slack, never inside a callback; garbage bounded without idle time; the interpreter's settings
restored. Each property has a control case that shows the test can fail."""
from __future__ import annotations

import asyncio
import collections
import gc
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import nexusloop
from nexusloop.latency import GcControl, GcStats

HANG_GUARD = 60.0


class Node:
    """One half of a reference cycle; counts the live ones."""

    __slots__ = ("other", "__weakref__")
    live = 0

    def __init__(self) -> None:
        Node.live += 1
        self.other: Node | None = None

    def __del__(self) -> None:
        Node.live -= 1


def make_cycle() -> Node:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a


@pytest.fixture
def gc_state() -> Iterator[None]:
    """The interpreter's GC state restored after the test, whatever it did."""
    enabled = gc.isenabled()
    gc.collect()
    Node.live = 0
    try:
        yield
    finally:
        gc.collect()
        if enabled:
            gc.enable()
        else:
            gc.disable()


def _loop(control: bool) -> Any:
    return nexusloop.new_event_loop(gc_control=control)


def _chain(loop: Any, n: int, body: Any) -> None:
    """``n`` callbacks, each scheduling the next (the loop never idles); ``body(i)`` in each."""
    done = loop.create_future()

    def step(i: int) -> None:
        body(i)
        if i + 1 < n:
            loop.call_soon(step, i + 1)
        else:
            done.set_result(None)

    loop.call_soon(step, 0)
    loop.run_until_complete(asyncio.wait_for(done, HANG_GUARD))


@pytest.mark.parametrize("control", [True, False])
def test_no_collection_runs_inside_a_callback(gc_state: None, control: bool) -> None:
    gc.enable()
    inside = [False]
    starts: list[bool] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            starts.append(inside[0])

    def body(i: int) -> None:
        inside[0] = True
        for _ in range(20):
            make_cycle()
        inside[0] = False

    loop = _loop(control)
    gc.callbacks.append(on_gc)
    try:
        _chain(loop, 5_000, body)
    finally:
        gc.callbacks.remove(on_gc)
        loop.close()
    assert starts, "no collection at all: the workload does not exercise the GC"
    if control:
        assert not any(starts), f"{sum(starts)} of {len(starts)} collections inside callbacks"
        stats = loop.gc_stats()
        assert isinstance(stats, GcStats) and stats.young > 0
    else:  # the control case: CPython collects wherever the allocation happens
        assert any(starts)
        assert loop.gc_stats() is None


@pytest.mark.parametrize("control", [True, False])
def test_cyclic_garbage_stays_bounded_without_idle_time(gc_state: None, control: bool) -> None:
    # Cycles that live a while (the last 2,000 are kept) survive young collections and reach
    # the old generation: only full collections free them. The loop never parks, so none runs
    # in idle slack: the memory bound forces them. Control: automatic collection off and no
    # control, as a loop that kept the GC out of callbacks without a bound would be.
    keep: collections.deque[Node] = collections.deque(maxlen=2_000)
    peak = [0]
    total = 60_000

    def body(i: int) -> None:
        keep.append(make_cycle())
        if i % 500 == 0:
            peak[0] = max(peak[0], Node.live)

    loop = _loop(False)
    if control:
        loop._gc_control = GcControl(force_after=4)
    gc.disable()
    try:
        _chain(loop, total, body)
        stats = loop.gc_stats()
    finally:
        loop.close()
    if control:
        assert stats is not None and stats.full_forced > 0 and stats.full_idle == 0
        assert peak[0] < total, f"peak {peak[0]} live nodes of {2 * total} made"
    else:
        assert peak[0] > 1.8 * total  # nothing was collected: every node still alive


def test_full_collection_in_idle_slack_and_settings_restored(gc_state: None) -> None:
    gc.enable()
    during: list[bool] = []

    async def main() -> None:
        for _ in range(200):
            make_cycle()
        gc.collect(1)  # as a young collection does: survivors promoted to the old generation
        await asyncio.sleep(0.05)  # idle: far from any timer
        during.append(gc.isenabled())

    loop = _loop(True)
    try:
        loop.run_until_complete(main())
        stats = loop.gc_stats()
    finally:
        loop.close()
    assert during == [False]  # automatic collection off while the loop runs
    assert gc.isenabled()  # and back on after
    assert stats is not None and stats.full_idle >= 1 and stats.full_forced == 0
    assert stats.max_full_seconds > 0 and stats.full_estimate > 0


def test_a_disabled_gc_stays_disabled(gc_state: None) -> None:
    gc.disable()
    loop = _loop(True)
    try:
        loop.run_until_complete(asyncio.sleep(0.01))
    finally:
        loop.close()
    assert not gc.isenabled()


def test_two_controlled_loops_in_two_threads_restore_once(gc_state: None) -> None:
    gc.enable()
    started = threading.Barrier(2, timeout=HANG_GUARD)
    first_done = threading.Event()
    seen: list[bool] = []

    async def first() -> None:
        started.wait()
        await asyncio.sleep(0.01)

    async def second() -> None:
        started.wait()
        await asyncio.get_running_loop().run_in_executor(None, first_done.wait, HANG_GUARD)
        seen.append(gc.isenabled())  # the first loop has stopped: still off for this one

    def run(coro: Any) -> None:
        loop = _loop(True)
        try:
            loop.run_until_complete(coro)
        finally:
            loop.close()

    thread = threading.Thread(target=run, args=(second(),))
    thread.start()
    run(first())
    first_done.set()
    thread.join(HANG_GUARD)
    assert seen == [False]
    assert gc.isenabled()


def test_force_after_is_checked() -> None:
    with pytest.raises(ValueError, match="force_after"):
        GcControl(force_after=0)


def test_gc_control_option_is_a_bool() -> None:
    with pytest.raises(TypeError, match="gc_control"):
        nexusloop.LoopOptions(gc_control=1)  # type: ignore[arg-type]


def test_heap_frozen_when_the_loop_starts_and_unfrozen_after() -> None:
    # In a fresh interpreter: the test session itself froze its heap (conftest), and a process
    # that froze objects already manages freezing itself (the control leaves it alone).
    script = textwrap.dedent("""
        import asyncio, gc, nexusloop
        counts = []
        async def main():
            counts.append(gc.get_freeze_count())
        nexusloop.run(main(), gc_control=True)
        counts.append(gc.get_freeze_count())
        gc.freeze()  # the application's own freeze: the control does not undo it
        frozen = gc.get_freeze_count()
        nexusloop.run(main(), gc_control=True)
        counts.append(gc.get_freeze_count() == frozen)
        print(counts[0] > 0, counts[1] == 0, counts[2] == frozen, counts[3])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=HANG_GUARD, check=True).stdout.split()
    assert out == ["True", "True", "True", "True"], out


def test_heap_frozen_once_per_loop_and_unfrozen_when_it_closes() -> None:
    # asyncio.run() runs its loop four times: one full collection and freeze, not four.
    script = textwrap.dedent("""
        import asyncio, gc, nexusloop
        baseline = gc.get_freeze_count()
        full = []
        gc.callbacks.append(lambda phase, info: phase == "start" and info["generation"] == 2
                            and full.append(1))
        async def noop():
            pass
        loop = nexusloop.new_event_loop(gc_control=True)
        loop.run_until_complete(noop())
        first = len(full)
        frozen = gc.get_freeze_count()
        for _ in range(3):
            loop.run_until_complete(noop())
        print(first, len(full) - first, frozen > baseline, gc.get_freeze_count() == frozen,
              gc.isenabled())
        loop.close()
        print(gc.get_freeze_count() < frozen)  # unfrozen (3.12: its own ~375 go too)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=HANG_GUARD, check=True).stdout.split()
    # One full collection at the first start, none at the next three; frozen while the loop
    # lives (automatic collection back on between runs); unfrozen by close().
    assert out == ["1", "0", "True", "True", "True", "True"], out
