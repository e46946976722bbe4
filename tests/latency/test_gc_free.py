"""GC-free scheduling (issue #10): a bare ``call_soon``/``call_later`` stores the caller's
context variables instead of a ``Context`` copy, and a plain handle that has run and that
nothing else references is reused by the next ``call_soon``. Each test runs the same scenario
on stock asyncio and on nexusloop and compares: the point is that nothing observable changed.
Cycles through handles (pending, run, cancelled, through a context variable) stay collectable.
"""
from __future__ import annotations

import asyncio
import contextvars
import gc
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import nexusloop
from nexusloop._compiled import is_compiled

VAR: contextvars.ContextVar[Any] = contextvars.ContextVar("VAR", default="unset")

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "nexusloop": nexusloop.new_event_loop,
}


@pytest.fixture(params=sorted(LOOPS))
def loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    lp = LOOPS[request.param]()
    try:
        yield lp
    finally:
        lp.close()


def run_briefly(loop: asyncio.AbstractEventLoop, seconds: float = 0.0) -> None:
    loop.call_later(seconds, loop.stop)
    loop.run_forever()


def ctx_of(handle: Any) -> contextvars.Context:
    """A handle's context (``get_context()`` is 3.12+ in asyncio; ``_context`` before)."""
    get = getattr(handle, "get_context", None)
    return get() if get is not None else handle._context


def contexts_scenario(new_loop: Callable[[], asyncio.AbstractEventLoop]) -> list[Any]:
    """What a program can see of the contexts its callbacks run in."""
    out: list[Any] = []
    loop = new_loop()

    def cb(tag: str) -> None:
        out.append((tag, VAR.get()))
        VAR.set(f"set by {tag}")  # stays in this callback's context
        out.append((tag, "after set", VAR.get()))

    def main() -> None:
        loop.call_later(5, loop.stop)  # whatever fails, the scenario ends
        VAR.set("first")
        h1 = loop.call_soon(cb, "a")
        VAR.set("second")  # after scheduling: a still sees "first"
        h2 = loop.call_soon(cb, "b")
        t1 = loop.call_later(0.001, cb, "c")
        ctx_before = ctx_of(h2)  # taken before the run: sees what b sets
        out.append(("h2 ctx before", ctx_before[VAR]))
        out.append(("caller", VAR.get()))

        def check() -> None:
            out.append(("caller later", VAR.get()))
            out.append(("h1 ctx after", ctx_of(h1)[VAR]))
            out.append(("h2 ctx after", ctx_before[VAR], ctx_of(h2) is ctx_before))
            out.append(("t1 ctx after", ctx_of(t1)[VAR]))
            out.append(("same object", ctx_of(h1) is ctx_of(h1)))
            loop.stop()

        loop.call_later(0.01, check)

    ctx = contextvars.copy_context()
    loop.call_soon(main, context=ctx)
    loop.run_forever()
    out.append(("outside", VAR.get()))
    loop.close()
    return out


def test_contexts_are_asyncio_s() -> None:
    expected = contexts_scenario(asyncio.new_event_loop)
    assert ("a", "first") in expected  # the scenario checks something
    assert contexts_scenario(nexusloop.new_event_loop) == expected


def test_a_handle_run_inside_another_sees_its_own_variables(
        loop: asyncio.AbstractEventLoop) -> None:
    # A nested run (the shared Context is entered) and the handle's own Context both work.
    seen: list[Any] = []

    def inner() -> None:
        seen.append(VAR.get())

    def outer(h: Any) -> None:
        VAR.set("outer's")
        h._run()
        seen.append(VAR.get())

    VAR.set("inner's")
    try:
        h = loop.call_soon(inner)  # runs first by itself, then inside outer
        VAR.set("outer schedules")
        loop.call_soon(outer, h)
        run_briefly(loop)
    finally:
        VAR.set("unset")
    assert seen == ["inner's", "inner's", "outer's"]


def test_two_loops_in_two_threads_keep_their_variables() -> None:
    # Both loops' callbacks run while the other thread is inside one (the GIL switches in
    # the middle of callbacks): each sees its own variables.
    errors: list[str] = []
    rounds = 3000

    def worker(name: str) -> None:
        loop = nexusloop.new_event_loop()
        left = rounds

        def cb(expected: str) -> None:
            nonlocal left
            if VAR.get() != expected:
                errors.append(f"{name}: {VAR.get()!r} != {expected!r}")
            VAR.set("scribbled")
            sum(range(200))  # long enough for the other thread to get the GIL at times
            left -= 1
            if left:
                value = f"{name}-{left}"
                VAR.set(value)
                loop.call_soon(cb, value)
                VAR.set("changed after scheduling")
            else:
                loop.stop()

        VAR.set(f"{name}-{rounds}")
        loop.call_soon(cb, f"{name}-{rounds}")
        loop.run_forever()
        loop.close()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=worker, args=(n,)) for n in ("x", "y")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        sys.setswitchinterval(old)
    assert errors == []


def test_exception_handler_runs_in_the_handle_context(loop: asyncio.AbstractEventLoop) -> None:
    if sys.version_info < (3, 12):
        pytest.skip("asyncio runs the exception handler in the handle's context from 3.12")
    seen: list[Any] = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(VAR.get()))

    def boom() -> None:
        raise ZeroDivisionError

    VAR.set("the caller's")
    try:
        loop.call_soon(boom)
    finally:
        VAR.set("unset")
    run_briefly(loop)
    assert seen == ["the caller's"]


def test_a_handle_kept_by_its_caller_is_never_reused(loop: asyncio.AbstractEventLoop) -> None:
    ran: list[str] = []
    kept = loop.call_soon(ran.append, "kept")
    run_briefly(loop)
    others = [loop.call_soon(ran.append, str(i)) for i in range(100)]
    assert all(h is not kept for h in others)
    run_briefly(loop)
    assert ran == ["kept"] + [str(i) for i in range(100)]
    assert "append" in repr(kept)  # still describes its own callback


class Payload:
    pass


def test_a_run_handle_releases_its_arguments_at_once(loop: asyncio.AbstractEventLoop) -> None:
    # Reused or freed, a discarded handle keeps nothing alive after its run.
    payload = Payload()
    ref = weakref.ref(payload)
    loop.call_soon(lambda p: None, payload)
    del payload
    gc.disable()  # reference counting alone must free it
    try:
        run_briefly(loop)
        assert ref() is None
    finally:
        gc.enable()


class Owner:
    """Holds a handle whose callback is its own method: a reference cycle through it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, how: str) -> None:
        self.handle: Any = None
        if how == "pending":
            self.handle = loop.call_later(3600, self.method)
        elif how == "run":
            self.handle = loop.call_soon(self.method)
        elif how == "cancelled":
            self.handle = loop.call_later(3600, self.method)
            self.handle.cancel()
        elif how == "context":
            # The cycle goes through the handle's context: VAR holds the owner.
            VAR.set(self)
            self.handle = loop.call_soon(self.method)
            VAR.set("unset")

    def method(self) -> None:
        pass


@pytest.mark.parametrize("how", ["run", "cancelled", "context", "pending"])
def test_cycles_through_handles_are_collected(how: str) -> None:
    loop = nexusloop.new_event_loop()
    owner = Owner(loop, how)
    ref = weakref.ref(owner)
    del owner
    run_briefly(loop)
    if how == "pending":
        assert ref() is not None  # the loop still has to run it
        loop.close()  # pending callbacks are dropped with the loop
    gc.collect()
    assert ref() is None
    loop.close()


def test_scheduling_makes_no_work_for_the_collector() -> None:
    # asyncio allocates a GC-tracked Handle and Context per call_soon: a batch of queued
    # callbacks triggers young collections. nexusloop, compiled, allocates neither (reused
    # handles, the caller's variables): the same batch, once warm, triggers none.
    if not is_compiled():
        pytest.skip("pure Python handles are Python objects with a Context copy each")

    def collections_in_batch(new_loop: Callable[[], asyncio.AbstractEventLoop]) -> int:
        loop = new_loop()
        count = 0

        def on_gc(phase: str, info: dict[str, int]) -> None:
            nonlocal count
            if phase == "start":
                count += 1

        def batch() -> None:
            for _ in range(5000):
                loop.call_soon(int)

        try:
            batch()
            run_briefly(loop)  # warm: the handles exist now
            gc.collect()
            gc.callbacks.append(on_gc)
            try:
                batch()
                run_briefly(loop)
            finally:
                gc.callbacks.remove(on_gc)
        finally:
            loop.close()
        return count

    assert collections_in_batch(asyncio.new_event_loop) >= 5  # the control: (2 x 5000) / 700
    assert collections_in_batch(nexusloop.new_event_loop) == 0


# ------------------------------------------------------------------ timers in the wheel
# Compiled, a pending timer is not tracked by the collector: the wheel reports the timer's
# references in its own traversal (once per traversal), and the timer is tracked again when
# it leaves the wheel (fired, cancelled, loop closed).


def test_pending_timers_are_reported_by_the_wheel() -> None:
    loop = nexusloop.new_event_loop()
    try:
        owner = Owner(loop, "pending")
        if is_compiled():
            assert not gc.is_tracked(owner.handle)
            assert owner.method.__self__ is owner
        handle = owner.handle
        handle.cancel()
        assert gc.is_tracked(handle)  # left the wheel: an ordinary tracked object again
        fired = loop.call_later(0, int)
        run_briefly(loop, 0.01)
        assert gc.is_tracked(fired)
    finally:
        loop.close()


def test_a_dropped_unclosed_loop_with_pending_timers_is_collected() -> None:
    # loop -> wheel -> timer -> future.set_result -> future -> loop: only the wheel's report
    # of the untracked timer's references lets the collector see this cycle.
    import warnings

    loop = nexusloop.new_event_loop()
    fut = loop.create_future()
    loop.call_later(3600, fut.set_result, 1)
    loop.call_later(7200, Owner(loop, "run").method)
    ref = weakref.ref(loop)
    del loop, fut
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # unclosed: asyncio warns too
        gc.collect()
    assert ref() is None


class Pinned:
    """A pending timer's only owner: must stay alive until its timer has fired."""

    alive = 0

    def __init__(self) -> None:
        Pinned.alive += 1
        self.other: Any = self  # a cycle of its own
        self.fired = False

    def fire(self, record: list[Any]) -> None:
        self.fired = True
        record.append(self)

    def __del__(self) -> None:
        Pinned.alive -= 1


def test_collections_while_timers_move_between_wheel_levels() -> None:
    # Timers spread over every wheel level (near heap, slots, overflow) are inserted,
    # cancelled and fired while collections run constantly (threshold 1 plus explicit
    # collect() calls inside callbacks). A wrong report would free a pending timer's owner
    # (whose only reference is the timer's callback) or crash; none may be freed early, and
    # everything is collected once the loop is closed.
    import random

    rng = random.Random(7)
    loop = nexusloop.new_event_loop()
    fired: list[Pinned] = []
    expected = 0
    old = gc.get_threshold()
    gc.set_threshold(1, 1, 1)
    try:
        def churn(round_: int) -> None:
            nonlocal expected
            handles = []
            for _ in range(200):
                delay = rng.choice([0, 0.0005, 0.002, 0.01, 0.05, 0.3, 2.0, 70.0, 5000.0])
                handles.append((delay, loop.call_later(delay * rng.random(),
                                                        Pinned().fire, fired)))
            for _delay, h in handles[::3]:
                h.cancel()
            expected += sum(1 for delay, h in handles if not h.cancelled() and delay <= 0.05)
            gc.collect()
            if round_ < 20:
                loop.call_later(0.003, churn, round_ + 1)
            else:
                loop.call_later(0.2, loop.stop)

        loop.call_soon(churn, 0)
        loop.run_forever()
        gc.collect()
        assert all(p.fired for p in fired)
        assert len(fired) >= expected  # every timer due in the run fired, on a live owner
        pending = len(loop._wheel)  # type: ignore[attr-defined]
        assert pending > 0
        assert Pinned.alive == len(fired) + pending  # the pending ones' owners are all alive
    finally:
        gc.set_threshold(*old)
        loop.close()
    fired.clear()
    gc.collect()
    assert Pinned.alive == 0


def test_a_finalizer_that_schedules_while_a_handle_is_recycled(
        loop: asyncio.AbstractEventLoop) -> None:
    # Releasing a run handle's arguments runs this finalizer, which schedules a callback: it
    # may get the very handle being recycled, and must run as scheduled.
    ran: list[str] = []

    class SchedulesOnDel:
        def __del__(self) -> None:
            loop.call_soon(ran.append, "scheduled by a finalizer")

    loop.call_soon(lambda obj: ran.append("first"), SchedulesOnDel())
    run_briefly(loop)
    run_briefly(loop)
    assert ran == ["first", "scheduled by a finalizer"]


def test_a_finalizer_that_recycles_many_handles_while_one_is_recycled() -> None:
    # Releasing a run handle's arguments runs a finalizer that runs another loop's callbacks,
    # each of them recycled: the handle pool can be full by the time the outer handle is
    # released, and it must then be dropped, not pooled past the pool's end.
    outer = nexusloop.new_event_loop()
    inner = nexusloop.new_event_loop()
    ran: list[str] = []
    inner_runs = 3000  # more than the pool holds

    class RunsAnotherLoopOnDel:
        def __del__(self) -> None:
            for _ in range(inner_runs):
                inner.call_soon(ran.append, "inner")
            inner._run_once()  # type: ignore[attr-defined]

    try:
        outer.call_soon(lambda obj: ran.append("outer"), RunsAnotherLoopOnDel())
        outer.call_soon(outer.stop)
        outer.run_forever()
        assert ran == ["outer"] + ["inner"] * inner_runs
        # The pool still works: both loops keep scheduling and running.
        for loop in (outer, inner):
            done: list[int] = []
            for i in range(2 * inner_runs):
                loop.call_soon(done.append, i)
            loop.call_soon(loop.stop)
            loop.run_forever()
            assert done == list(range(2 * inner_runs))
    finally:
        inner.close()
        outer.close()
