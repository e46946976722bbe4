"""``nexusloop.time``: sleeps, timeouts, intervals, ``event_time`` and ``yield_now``.

Every behavioural test runs on stock asyncio and on nexusloop (``any_loop``): on stock asyncio
the same functions run on asyncio's own ``call_at`` (the fallback). Scenarios that need long
durations (10-second intervals, 5,000 ticks) run on nexusloop under virtual time
(``nexusloop.testing.VirtualClock``), where they finish at once. Each run checks at the end that
no task is left pending and that no live timer is left behind (on nexusloop: the timer wheel is
empty; on stock asyncio: every scheduled handle is cancelled).

Policies are checked in real time as rules between observed times (the next deadline of
``skip`` is the first grid point after the tick was taken, whenever that was), never as
durations, so a slow machine cannot fail them; the exact tick-by-tick sequences are checked
under virtual time here and against a reference model in ``test_interval_model.py``.
"""
from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from fractions import Fraction
from typing import Any

import pytest

import nexusloop
import nexusloop.time as ntime
from nexusloop.testing import VirtualClock
from nexusloop.time import Interval, MissedTickBehavior

NAN = float("nan")
INF = float("inf")


# ------------------------------------------------------------------------------- helpers

def live_timers(loop: asyncio.AbstractEventLoop) -> int:
    """Timers that can still fire: the wheel's count on nexusloop, the uncancelled handles of
    stock asyncio's heap (it removes cancelled ones lazily)."""
    if isinstance(loop, nexusloop.Loop):
        return len(loop._wheel)
    scheduled: list[Any] = loop._scheduled  # type: ignore[attr-defined]
    return len([handle for handle in scheduled if not handle.cancelled()])


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro``; then no task may be pending and no timer left armed."""
    result = loop.run_until_complete(coro)
    assert not asyncio.all_tasks(loop), asyncio.all_tasks(loop)
    assert live_timers(loop) == 0
    return result


@pytest.fixture
def vloop(nloop: Any) -> Iterator[Any]:
    """A nexusloop loop under virtual time."""
    with VirtualClock(nloop):
        yield nloop


async def turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def is_grid_point(value: float, anchor: float, period: float) -> bool:
    k = round((value - anchor) / period)
    return value == anchor + k * period


# ------------------------------------------------------------------------------ public API

def test_public_names() -> None:
    assert sorted(ntime.__all__) == sorted(
        ["Interval", "MissedTick", "MissedTickBehavior", "event_time", "interval",
         "interval_at", "sleep", "sleep_until", "timeout", "timeout_at", "yield_now"]
    )
    for name in ntime.__all__:
        assert getattr(ntime, name).__doc__ or name == "MissedTick", name
    assert asyncio.iscoroutinefunction(ntime.sleep)
    assert asyncio.iscoroutinefunction(ntime.sleep_until)


def test_missed_tick_behavior_is_a_string_enum() -> None:
    assert MissedTickBehavior("skip") is MissedTickBehavior.SKIP
    assert MissedTickBehavior.BURST == "burst"  # type: ignore[comparison-overlap]
    assert [m.value for m in MissedTickBehavior] == ["burst", "delay", "skip"]


# -------------------------------------------------------------------------- sleep / yield

def test_sleep_returns_result_never_early(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[Any]:
        out = []
        for delay in (0.01, 0.02, Fraction(1, 100), 0):
            t0 = any_loop.time()
            out.append(await ntime.sleep(delay, result=delay))  # type: ignore[arg-type]
            assert any_loop.time() >= t0 + float(delay)
        assert await ntime.sleep(0.001) is None  # type: ignore[func-returns-value]
        return out

    assert run(any_loop, main()) == [0.01, 0.02, Fraction(1, 100), 0]


def test_sleep_until_returns_result_never_early(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        deadline = any_loop.time() + 0.02
        assert await ntime.sleep_until(deadline, "r") == "r"
        assert any_loop.time() >= deadline
        past = ntime.sleep_until(any_loop.time() - 5)  # past: returns after a turn
        assert await past is None  # type: ignore[func-returns-value]

    run(any_loop, main())


def test_sleep_is_on_the_wheel(nloop: Any) -> None:
    async def main() -> None:
        task = asyncio.ensure_future(ntime.sleep(100))
        await turns(1)
        assert len(nloop._wheel) == 1  # one timer, in nexusloop's wheel
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(nloop, main())


async def interleave(pause: Callable[[], Awaitable[Any]]) -> list[str]:
    log: list[str] = []

    async def worker(tag: str) -> None:
        for i in range(3):
            log.append(f"{tag}{i}")
            await pause()

    await asyncio.gather(worker("a"), worker("b"))
    return log


async def no_pause() -> None:
    pass


@pytest.mark.parametrize(
    "pause",
    [ntime.yield_now, lambda: ntime.sleep(0), lambda: ntime.sleep(-1),
     lambda: ntime.sleep_until(-INF)],
    ids=["yield_now", "sleep0", "sleep-1", "sleep_until_past"],
)
def test_zero_waits_give_exactly_one_turn(any_loop: asyncio.AbstractEventLoop, pause: Any) -> None:
    expected = run(any_loop, interleave(lambda: asyncio.sleep(0)))
    assert expected == ["a0", "b0", "a1", "b1", "a2", "b2"]
    assert run(any_loop, interleave(pause)) == expected
    # control: an await that does not give up the loop does not interleave
    assert run(any_loop, interleave(no_pause)) == ["a0", "a1", "a2", "b0", "b1", "b2"]


def test_yield_now_runs_ready_callbacks_first(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[str]:
        log: list[str] = []
        any_loop.call_soon(log.append, "ready before")
        waiter = ntime.yield_now()
        await waiter
        log.append("task")
        any_loop.call_soon(log.append, "ready again")
        await waiter  # awaiting the same object again yields again
        log.append("task again")
        return log

    assert run(any_loop, main()) == ["ready before", "task", "ready again", "task again"]


def test_yield_now_is_a_cancellation_point(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        reached: list[str] = []

        async def spin() -> None:
            while True:
                reached.append("turn")
                await ntime.yield_now()

        task = asyncio.ensure_future(spin())
        await turns(3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(reached) >= 2

    run(any_loop, main())


def test_yield_now_in_spawned_tasks(nloop: Any) -> None:
    from nexusloop.runtime import spawn

    async def main() -> list[str]:
        log: list[str] = []

        async def worker(tag: str) -> None:
            for i in range(3):
                log.append(f"{tag}{i}")
                await ntime.yield_now()

        first, second = spawn(worker("a")), spawn(worker("b"))
        await first
        await second
        return log

    assert run(nloop, main()) == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_yield_now_is_not_a_coroutine(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with pytest.raises(TypeError):
            asyncio.create_task(ntime.yield_now())  # type: ignore[arg-type]
        await asyncio.ensure_future(ntime.yield_now())  # any awaitable may be wrapped

    run(any_loop, main())


# --------------------------------------------------------------------------- bad input

def _bad_inputs() -> list[tuple[str, Callable[[], Any], type[Exception], str]]:
    cases: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
        ("sleep-nan", lambda: ntime.sleep(NAN), ValueError, "Invalid delay: NaN (not a number)"),
        ("sleep_until-nan", lambda: ntime.sleep_until(NAN), ValueError,
         "Invalid deadline: NaN (not a number)"),
        ("timeout-nan", lambda: ntime.timeout(NAN), ValueError,
         "Invalid delay: NaN (not a number)"),
        ("timeout_at-nan", lambda: ntime.timeout_at(NAN), ValueError,
         "Invalid deadline: NaN (not a number)"),
        ("interval-nan", lambda: ntime.interval(NAN), ValueError,
         "Invalid period: NaN (not a number)"),
        ("interval-0", lambda: ntime.interval(0), ValueError,
         "the period of an interval must be > 0 seconds, got 0"),
        ("interval-negative", lambda: ntime.interval(-1.5), ValueError,
         "the period of an interval must be > 0 seconds, got -1.5"),
        ("interval-inf", lambda: ntime.interval(INF), ValueError,
         "the period of an interval must be finite, got inf"),
        ("interval_at-nan-start", lambda: ntime.interval_at(NAN, 1), ValueError,
         "Invalid start: NaN (not a number)"),
        ("interval_at-0", lambda: ntime.interval_at(0.0, 0.0), ValueError,
         "the period of an interval must be > 0 seconds, got 0.0"),
        ("interval-policy", lambda: ntime.interval(1, missed_tick="sometimes"),  # type: ignore[arg-type]
         ValueError, "missed_tick must be 'burst', 'delay' or 'skip', got 'sometimes'"),
        ("interval-policy-type", lambda: ntime.interval(1, missed_tick=None),  # type: ignore[arg-type]
         TypeError, "missed_tick must be a MissedTickBehavior or str, not NoneType"),
        ("sleep-str", lambda: ntime.sleep("1"), TypeError,  # type: ignore[call-overload]
         "delay must be a number of seconds (int or float), not str"),
        ("sleep-none", lambda: ntime.sleep(None), TypeError,  # type: ignore[call-overload]
         "delay must be a number of seconds (int or float), not NoneType"),
        ("timeout-str", lambda: ntime.timeout("1"), TypeError,  # type: ignore[arg-type]
         "delay must be a number of seconds (int or float), not str"),
        ("interval-complex", lambda: ntime.interval(1j), TypeError,  # type: ignore[arg-type]
         "period must be a number of seconds (int or float), not complex"),
    ]
    return cases


BAD = _bad_inputs()


@pytest.mark.parametrize(("call", "error", "message"), [c[1:] for c in BAD],
                         ids=[c[0] for c in BAD])
def test_bad_input(any_loop: asyncio.AbstractEventLoop, call: Callable[[], Any],
                   error: type[Exception], message: str) -> None:
    async def main() -> None:
        with pytest.raises(error, match=f"^{re.escape(message)}$"):
            made = call()
            if asyncio.iscoroutine(made):
                await made

    run(any_loop, main())


def test_nan_message_is_that_of_python_313_asyncio_sleep(
    any_loop: asyncio.AbstractEventLoop,
) -> None:
    async def main() -> None:
        with pytest.raises(ValueError) as ours:
            await ntime.sleep(NAN)
        assert str(ours.value) == "Invalid delay: NaN (not a number)"
        if sys.version_info >= (3, 13):
            with pytest.raises(ValueError) as theirs:
                await asyncio.sleep(NAN)
            assert str(theirs.value) == str(ours.value)

    run(any_loop, main())


def test_missed_tick_setter_validates(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        iv = ntime.interval(1.0)
        assert iv.missed_tick is MissedTickBehavior.BURST
        iv.missed_tick = "skip"
        assert iv.missed_tick is MissedTickBehavior.SKIP
        iv.missed_tick = MissedTickBehavior.DELAY
        assert iv.missed_tick == "delay"  # type: ignore[comparison-overlap]
        with pytest.raises(ValueError, match="got 'never'"):
            iv.missed_tick = "never"  # type: ignore[assignment]
        with pytest.raises(TypeError):
            iv.missed_tick = 2  # type: ignore[assignment]
        assert iv.missed_tick == "delay"
        assert iv.period == 1.0
        assert "period=1.0 missed_tick=delay" in repr(iv)

    run(any_loop, main())


def test_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="no running event loop"):
        ntime.event_time()
    with pytest.raises(RuntimeError, match="no running event loop"):
        ntime.interval(1.0)
    with pytest.raises(RuntimeError, match="no running event loop"):
        ntime.interval_at(0.0, 1.0)
    with pytest.raises(RuntimeError, match="no running event loop"):
        ntime.timeout(1.0)
    assert isinstance(ntime.timeout_at(5.0), asyncio.Timeout)  # as asyncio: binds at entry


# ------------------------------------------------------------------------------- timeouts

def test_timeout_raises_timeout_error(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        t0 = any_loop.time()
        with pytest.raises(TimeoutError):
            async with ntime.timeout(0.02) as cm:
                assert isinstance(cm, asyncio.Timeout)
                await ntime.sleep(10)
        assert cm.expired()
        assert any_loop.time() >= t0 + 0.02
        with pytest.raises(TimeoutError):
            async with ntime.timeout_at(any_loop.time() + 0.01):
                await asyncio.Event().wait()

    run(any_loop, main())


def test_timeout_none_reschedule_and_body_in_time(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with ntime.timeout(None) as cm:
            assert cm.when() is None
            await ntime.sleep(0.001)
        assert not cm.expired()
        async with ntime.timeout(10) as cm:
            await ntime.sleep(0.001)
        assert not cm.expired()
        with pytest.raises(TimeoutError):
            async with ntime.timeout_at(None) as cm:
                cm.reschedule(any_loop.time() + 0.01)
                await ntime.sleep(10)
        assert cm.expired()
        with pytest.raises(TimeoutError):
            async with ntime.timeout(0):  # already due: expires at the first await
                await ntime.yield_now()

    run(any_loop, main())


def test_timeout_composes_with_outer_cancellation(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        inner_expired: list[bool] = []

        async def body() -> None:
            async with ntime.timeout(10) as cm:
                try:
                    await ntime.sleep(10)
                finally:
                    inner_expired.append(cm.expired())

        task = asyncio.ensure_future(body())
        await turns(2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):  # not turned into TimeoutError
            await task
        assert inner_expired == [False]

        # nested: the outer timeout fires, the inner one is not the one that expired
        with pytest.raises(TimeoutError):
            async with ntime.timeout(0.01) as outer:
                async with ntime.timeout(10) as inner:
                    await ntime.sleep(10)
        assert outer.expired() and not inner.expired()

    run(any_loop, main())


def test_timeout_uses_the_wheel(nloop: Any) -> None:
    async def main() -> None:
        async with ntime.timeout(100):
            assert len(nloop._wheel) == 1
        assert len(nloop._wheel) == 0

    run(nloop, main())


def test_thirty_second_timeout_in_virtual_time(vloop: Any) -> None:
    async def main() -> float:
        t0 = vloop.time()
        with pytest.raises(TimeoutError):
            async with ntime.timeout(30):
                await ntime.sleep(3600)
        return float(vloop.time() - t0)

    real0 = time.monotonic()
    elapsed = run(vloop, main())
    assert elapsed >= 30
    assert elapsed == pytest.approx(30, abs=0.5)
    assert time.monotonic() - real0 < 30  # hang detection only


# ----------------------------------------------------------------------------- event_time

def test_event_time_is_the_ticks_time(nloop: Any) -> None:
    async def main() -> None:
        first = ntime.event_time()
        time.sleep(0.002)  # the clock moves, the tick's time does not
        assert ntime.event_time() == first == nloop.event_time()
        assert first <= nloop.time()
        await ntime.yield_now()
        assert ntime.event_time() > first  # a new tick, a new time

    run(nloop, main())


def test_event_time_elsewhere_is_loop_time(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        before = any_loop.time()
        stamp = ntime.event_time()
        assert before - 0.01 <= stamp <= any_loop.time()

    run(any_loop, main())


def test_event_time_follows_virtual_time(vloop: Any) -> None:
    async def main() -> None:
        t0 = ntime.event_time()
        await ntime.sleep(100)
        assert ntime.event_time() >= t0 + 100

    run(vloop, main())


# ----------------------------------------------------------------------------- intervals

def test_interval_ticks_on_schedule(any_loop: asyncio.AbstractEventLoop) -> None:
    period = 0.01

    async def main() -> None:
        before = any_loop.time()
        iv = ntime.interval(period)
        after = any_loop.time()
        deadlines = []
        for _ in range(6):
            deadline = await iv.tick()
            assert any_loop.time() >= deadline  # never early
            deadlines.append(deadline)
        start = deadlines[0]
        assert before <= start <= after  # the first tick is the start, at once
        assert deadlines == [start + k * period for k in range(6)]

    run(any_loop, main())


def test_interval_async_for_and_interval_at(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        start = any_loop.time() + 0.02
        iv = ntime.interval_at(start, 0.005, missed_tick="skip")
        seen = []
        async for deadline in iv:
            assert any_loop.time() >= deadline
            seen.append(deadline)
            if len(seen) == 3:
                break
        assert seen == [start, start + 0.005, start + 0.01]

    run(any_loop, main())


def test_interval_never_early_on_a_loop_that_fires_early() -> None:
    """The fallback re-checks the clock: a loop whose timers fire 10 ms early (as uvloop's
    millisecond rounding can, a little) still never ends a wait before its deadline."""

    class EarlyLoop(asyncio.SelectorEventLoop):
        def call_at(  # type: ignore[override]
            self, when: float, callback: Any, *args: Any, context: Any = None
        ) -> Any:
            return super().call_at(when - 0.01, callback, *args, context=context)

    loop = EarlyLoop()
    try:
        async def main() -> None:
            t0 = loop.time()
            await ntime.sleep(0.03)
            assert loop.time() >= t0 + 0.03
            await ntime.sleep_until(t0 + 0.05)
            assert loop.time() >= t0 + 0.05
            iv = ntime.interval(0.02)
            for _ in range(3):
                deadline = await iv.tick()
                assert loop.time() >= deadline
            # control: the loop really does fire early
            fired = loop.create_future()
            t1 = loop.time()
            loop.call_at(t1 + 0.03, lambda: fired.set_result(loop.time()))
            assert await fired < t1 + 0.03

        run(loop, main())
    finally:
        loop.close()


@pytest.mark.parametrize("policy", ["burst", "delay", "skip"])
def test_missed_tick_policies_in_real_time(any_loop: asyncio.AbstractEventLoop,
                                           policy: str) -> None:
    """A consumer blocked for 2.5 periods: each policy's rule, checked against observed
    times (so a slow machine changes the numbers, not the verdict)."""
    period = 0.02

    async def main() -> None:
        iv = ntime.interval(period, missed_tick=policy)  # type: ignore[arg-type]
        start = await iv.tick()
        time.sleep(2.5 * period)  # busy: misses ticks
        called = any_loop.time()
        late = await iv.tick()
        taken = any_loop.time()
        assert late == start + period  # the missed tick itself is returned first
        following = await iv.tick()
        assert any_loop.time() >= following
        if policy == "burst":
            assert following == start + 2 * period
        elif policy == "skip":
            assert is_grid_point(following, start, period)
            assert called < following and following - period <= taken
        else:
            assert called + period <= following <= taken + period

    run(any_loop, main())


def _virtual_policy_run(loop: Any, policy: str, works: list[float], period: float = 10.0,
                        ) -> tuple[float, list[tuple[float, float]]]:
    """Tick, then block for each of ``works`` (virtual seconds), then tick; return the start
    and (deadline, return time) of every tick."""
    clock = VirtualClock.of(loop)

    async def main() -> tuple[float, list[tuple[float, float]]]:
        iv = ntime.interval(period, missed_tick=policy)  # type: ignore[arg-type]
        start = await iv.tick()
        out = []
        for work in works:
            clock.advance(work)
            deadline = await iv.tick()
            out.append((deadline, loop.time()))
        return start, out

    result: tuple[float, list[tuple[float, float]]] = run(loop, main())
    return result


def test_burst_in_virtual_time(vloop: Any) -> None:
    start, ticks = _virtual_policy_run(vloop, "burst", [25, 0, 0, 0])
    assert [d for d, _ in ticks] == [start + k * 10.0 for k in (1, 2, 3, 4)]
    returned = [t - start for _, t in ticks]
    assert returned == pytest.approx([25, 25, 30, 40], abs=0.05)  # two at once, then on time


def test_delay_in_virtual_time(vloop: Any) -> None:
    start, ticks = _virtual_policy_run(vloop, "delay", [25, 0, 0])
    assert [d - start for d, _ in ticks] == pytest.approx([10, 35, 45], abs=0.05)
    assert ticks[0][0] == start + 1 * 10.0
    assert [t - start for _, t in ticks] == pytest.approx([25, 35, 45], abs=0.05)


def test_skip_in_virtual_time(vloop: Any) -> None:
    start, ticks = _virtual_policy_run(vloop, "skip", [25, 0, 17, 0])
    # taken at 25 -> next on the grid after 25 is 30; taken at 47 -> next after 47 is 50
    assert [d for d, _ in ticks] == [start + k * 10.0 for k in (1, 3, 4, 5)]
    assert [t - start for _, t in ticks] == pytest.approx([25, 30, 47, 50], abs=0.05)


def test_a_tick_within_5ms_is_not_missed(vloop: Any) -> None:
    """tokio's tolerance: 1 ms late is on time (delay keeps the grid); 0.5 s and 10 ms late
    are missed (delay re-anchors at the late tick)."""
    start, ticks = _virtual_policy_run(vloop, "delay", [10.001, 10.5 - 0.001, 10.01, 0])
    assert ticks[0][0] == start + 1 * 10.0
    assert ticks[1][0] == start + 2 * 10.0  # the grid held: the 1 ms-late tick was not missed
    assert ticks[2][0] == pytest.approx(start + 30.5, abs=0.003)  # re-anchored at 20.5
    assert ticks[3][0] == pytest.approx(start + 40.51, abs=0.003)  # re-anchored at 30.51


def test_burst_catch_up_still_gives_the_loop_turns(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        period = 1.0
        iv = ntime.interval_at(any_loop.time() - 100 * period, period)  # 100 missed ticks
        turns_taken = 0
        stop = False

        async def other() -> None:
            nonlocal turns_taken
            while not stop:
                turns_taken += 1
                await ntime.yield_now()

        task = asyncio.ensure_future(other())
        await ntime.yield_now()
        first = await iv.tick()
        for k in range(1, 100):
            assert await iv.tick() == first + k * period
        stop = True
        await task
        assert turns_taken >= 99  # the other task ran between the burst's ticks

    run(any_loop, main())


def test_no_drift_over_many_ticks(vloop: Any) -> None:
    period = 0.1
    count = 5000

    async def main() -> list[float]:
        iv = ntime.interval(period)
        out = []
        for _ in range(count):
            deadline = await iv.tick()
            assert vloop.time() >= deadline
            out.append(deadline)
        return out

    deadlines = run(vloop, main())
    start = deadlines[0]
    assert deadlines == [start + k * period for k in range(count)]
    # control: a schedule that adds the period to the previous deadline differs
    added, acc = [], start
    for _ in range(count):
        added.append(acc)
        acc += period
    assert added != deadlines


def test_ten_second_interval_in_virtual_time(vloop: Any) -> None:
    async def main() -> list[float]:
        t0 = vloop.time()
        iv = ntime.interval_at(t0 + 10, 10)
        return [await iv.tick() - t0 for _ in range(360)]  # an hour of ticks

    real0 = time.monotonic()
    ticks = run(vloop, main())
    assert ticks == pytest.approx([10.0 * (k + 1) for k in range(360)], abs=1e-6)
    assert time.monotonic() - real0 < 60  # hang detection only


def test_reset(vloop: Any) -> None:
    async def main() -> None:
        iv = ntime.interval(10)
        await iv.tick()
        await ntime.sleep(4)
        before = vloop.time()
        iv.reset()
        after = vloop.time()
        deadline = await iv.tick()
        assert before + 10 <= deadline <= after + 10
        assert await iv.tick() == deadline + 10

    run(vloop, main())


def test_reset_retimes_a_waiting_tick(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        iv = ntime.interval_at(any_loop.time() + 3600, 0.01)  # an hour away
        waiter = asyncio.ensure_future(iv.tick())
        await turns(2)
        assert not waiter.done()
        before = any_loop.time()
        iv.reset()
        after = any_loop.time()
        deadline = await asyncio.wait_for(waiter, 10)
        assert before + 0.01 <= deadline <= after + 0.01
        assert any_loop.time() >= deadline

    run(any_loop, main())


def test_tick_is_cancellation_safe(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        iv = ntime.interval(0.05)
        start = await iv.tick()
        with pytest.raises(TimeoutError):
            async with ntime.timeout(0.001):
                await iv.tick()
        assert live_timers(any_loop) == 0
        assert await iv.tick() == start + 0.05  # the cancelled wait consumed nothing

    run(any_loop, main())


@pytest.mark.parametrize("what", ["sleep", "sleep_until", "tick", "timeout"])
def test_cancelled_waits_leave_no_timer(any_loop: asyncio.AbstractEventLoop, what: str) -> None:
    async def blocked() -> None:
        loop = asyncio.get_running_loop()
        if what == "sleep":
            await ntime.sleep(100)
        elif what == "sleep_until":
            await ntime.sleep_until(loop.time() + 100)
        elif what == "tick":
            await ntime.interval_at(loop.time() + 100, 1).tick()
        else:
            async with ntime.timeout(100):
                await asyncio.Event().wait()

    async def main() -> None:
        task = asyncio.ensure_future(blocked())
        await turns(2)
        assert live_timers(any_loop) == 1  # control: the wait had armed its timer
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert live_timers(any_loop) == 0

    run(any_loop, main())


def test_one_waiter_per_interval(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        iv = ntime.interval_at(any_loop.time() + 100, 1)
        first = asyncio.ensure_future(iv.tick())
        await turns(1)
        with pytest.raises(RuntimeError, match="already waiting"):
            await iv.tick()
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        iv.reset()  # after the cancelled wait another tick may wait again
        second = asyncio.ensure_future(iv.tick())
        await turns(1)
        assert not second.done()
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)

    run(any_loop, main())


def test_an_interval_belongs_to_its_loop(any_loop: asyncio.AbstractEventLoop) -> None:
    async def make() -> Interval:
        return ntime.interval(1.0)

    iv = run(any_loop, make())
    other = nexusloop.new_event_loop()
    try:
        with pytest.raises(RuntimeError, match="another event loop"):
            other.run_until_complete(iv.tick())
    finally:
        other.close()


def test_periods_below_the_clocks_precision_do_not_hang(vloop: Any) -> None:
    """A period too small to move a deadline at this clock value: skip re-anchors instead of
    looking for a grid point that float arithmetic cannot reach; burst repeats the deadline."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        iv = ntime.interval_at(loop.time() - 1.0, 1e-16, missed_tick="skip")
        first = await iv.tick()
        second = await iv.tick()  # skip: the next grid point after now
        assert first < second
        assert loop.time() >= second
        burst = ntime.interval_at(loop.time(), 1e-300)
        a = await burst.tick()
        b = await burst.tick()
        assert b >= a

    run(vloop, main())


def test_compiled_module_matches_mode() -> None:
    """The module is compiled exactly when the core is (setup.py compiles it from the .pxd)."""
    from nexusloop.runtime import _time

    compiled = not str(_time.__file__).endswith(".py")
    assert compiled == nexusloop.is_compiled()

