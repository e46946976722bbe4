"""Virtual time (``nexusloop.testing.VirtualClock``): the same scenarios in real and virtual time.

Each scenario is a coroutine that records what happened, in order, with the loop time at which
it happened relative to the start. It runs in real time (stock asyncio and nexusloop, short
durations) and under virtual time (nexusloop, the same durations and scaled up to hours): the
order must be identical, and virtual timestamps must be at least the durations asked for (timers
never fire early) and exactly what a perfect clock would give (a jump lands on the deadline).
"""
from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import nexusloop
from nexusloop.testing import VirtualClock

Scenario = Callable[[float], Coroutine[Any, Any, list[tuple[str, float]]]]


async def sleeps_in_parallel(unit: float) -> list[tuple[str, float]]:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    log: list[tuple[str, float]] = []

    async def nap(tag: str, n: float) -> None:
        await asyncio.sleep(n * unit)
        log.append((tag, loop.time() - t0))

    await asyncio.gather(nap("c", 3), nap("a", 1), nap("b", 2), nap("a2", 1))
    return log


async def timeouts_and_wait_for(unit: float) -> list[tuple[str, float]]:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    log: list[tuple[str, float]] = []
    try:
        async with asyncio.timeout(2 * unit):
            await asyncio.Event().wait()
    except TimeoutError:
        log.append(("timeout", loop.time() - t0))
    try:
        await asyncio.wait_for(asyncio.sleep(5 * unit), timeout=unit)
    except TimeoutError:
        log.append(("wait_for", loop.time() - t0))
    done = await asyncio.wait_for(asyncio.sleep(unit, "fine"), timeout=3 * unit)
    log.append((done, loop.time() - t0))
    return log


async def call_later_with_cancellations(unit: float) -> list[tuple[str, float]]:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    log: list[tuple[str, float]] = []
    finished = loop.create_future()

    def fire(tag: str) -> None:
        log.append((tag, loop.time() - t0))
        if tag == "last":
            finished.set_result(None)

    handles = [loop.call_later(n * unit, fire, f"t{n}") for n in range(1, 6)]
    handles[1].cancel()
    handles[3].cancel()
    loop.call_later(6 * unit, fire, "last")
    await finished
    return log


SCENARIOS: dict[str, tuple[Scenario, list[float]]] = {
    # scenario: (coroutine, the virtual times at which its events happen, in units)
    "sleeps": (sleeps_in_parallel, [1, 1, 2, 3]),
    "timeouts": (timeouts_and_wait_for, [2, 3, 4]),
    "call_later": (call_later_with_cancellations, [1, 3, 5, 6]),
}


def _run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_virtual_time_keeps_the_order_of_real_time(name: str) -> None:
    scenario, expected_units = SCENARIOS[name]
    unit = 0.03
    real_asyncio = _run(asyncio.new_event_loop(), scenario(unit))
    real_nexus = _run(nexusloop.new_event_loop(), scenario(unit))
    loop = nexusloop.new_event_loop()
    VirtualClock(loop)
    virtual = _run(loop, scenario(unit))
    order = [tag for tag, _ in real_asyncio]
    assert [tag for tag, _ in real_nexus] == order
    assert [tag for tag, _ in virtual] == order
    for (_, at), units in zip(virtual, expected_units, strict=True):
        assert at >= units * unit  # never early
        assert at == pytest.approx(units * unit, abs=0.02)  # a jump lands on the deadline


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_hours_of_virtual_time_pass_without_waiting(name: str) -> None:
    scenario, expected_units = SCENARIOS[name]
    unit = 3600.0
    loop = nexusloop.new_event_loop()
    clock = VirtualClock(loop)
    real0 = time.monotonic()
    log = _run(loop, scenario(unit))
    real = time.monotonic() - real0
    for (_, at), units in zip(log, expected_units, strict=True):
        assert at >= units * unit
        assert at == pytest.approx(units * unit, abs=0.05)
    # The clock ran ahead of the real one by (almost) all of it: hours, while the run took
    # a small fraction of one hour of real time.
    assert clock.lead >= expected_units[-1] * unit - real - 1
    assert real < unit


def test_timers_never_fire_early_under_virtual_time() -> None:
    loop = nexusloop.new_event_loop()
    VirtualClock(loop)
    seen: list[tuple[float, float]] = []
    done = loop.create_future()

    def check(when: float) -> None:
        seen.append((when, loop.time()))
        if len(seen) == 200:
            done.set_result(None)

    base = loop.time()
    for i in range(200):
        when = base + (i * 7919 % 1000) * 0.37  # scattered over 6 minutes, out of order
        loop.call_at(when, check, when)
    _run(loop, done)
    assert all(now >= when for when, now in seen)
    assert [w for w, _ in seen] == sorted(w for w, _ in seen)


def test_executor_jobs_run_in_real_time() -> None:
    """A thread job in flight stops the jumps: wait_for around it does not time out early."""
    async def main() -> str:
        return await asyncio.wait_for(asyncio.to_thread(time.sleep, 0.2), timeout=1.0) or "ok"

    loop = nexusloop.new_event_loop()
    VirtualClock(loop)
    assert _run(loop, main()) == "ok"


def test_child_processes_run_in_real_time() -> None:
    async def main() -> int:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import time; time.sleep(0.2)"
        )
        return await asyncio.wait_for(proc.wait(), timeout=1.0)

    loop = nexusloop.new_event_loop()
    VirtualClock(loop)
    assert _run(loop, main()) == 0


def test_a_peer_answering_within_the_threshold_is_seen_before_the_jump() -> None:
    """A socket peer (a thread) answers after 20 ms; the threshold is 0.5 s, the timeout 1 s of
    virtual time: the answer must arrive first, as it would in real time."""
    a, b = socket.socketpair()

    def peer() -> None:
        b.recv(1)
        time.sleep(0.02)
        b.send(b"!")

    thread = threading.Thread(target=peer)
    thread.start()

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        a.setblocking(False)
        await loop.sock_sendall(a, b"?")
        return await asyncio.wait_for(loop.sock_recv(a, 1), timeout=1.0)

    loop = nexusloop.new_event_loop()
    VirtualClock(loop, autojump_threshold=0.5)
    try:
        assert _run(loop, main()) == b"!"
    finally:
        thread.join()
        a.close()
        b.close()


def test_a_silent_peer_lets_the_clock_jump_after_the_threshold() -> None:
    """The other side of the rule: a watched socket that stays silent does not stop time."""
    a, b = socket.socketpair()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        a.setblocking(False)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(loop.sock_recv(a, 1), timeout=600)

    loop = nexusloop.new_event_loop()
    clock = VirtualClock(loop, autojump_threshold=0.01)
    try:
        _run(loop, main())
        assert clock.lead > 500
    finally:
        a.close()
        b.close()


def test_a_deadlock_is_an_error_not_a_hang() -> None:
    async def main() -> None:
        await asyncio.Event().wait()

    loop = nexusloop.new_event_loop()
    VirtualClock(loop, autojump_threshold=0.01)
    with pytest.raises(RuntimeError, match="would wait forever"):
        _run(loop, main())


def test_a_thread_calling_back_within_the_threshold_is_not_a_deadlock() -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        threading.Timer(0.01, loop.call_soon_threadsafe, (fut.set_result, "woken")).start()
        return await fut

    loop = nexusloop.new_event_loop()
    VirtualClock(loop, autojump_threshold=0.5)
    assert _run(loop, main()) == "woken"


def test_advance_moves_the_clock_and_due_timers_run() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        clock = VirtualClock.of()
        log: list[str] = []
        loop.call_later(10, log.append, "10s")
        t0 = loop.time()
        clock.advance(10)
        assert loop.time() - t0 >= 10
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return log

    loop = nexusloop.new_event_loop()
    VirtualClock(loop)
    assert _run(loop, main()) == ["10s"]


def test_close_switches_virtual_time_off_and_time_never_goes_back() -> None:
    loop = nexusloop.new_event_loop()
    with VirtualClock(loop) as clock:
        loop.run_until_complete(asyncio.sleep(100))
        ahead = loop.time()
    assert not loop._virtual  # type: ignore[attr-defined]
    assert loop.time() >= ahead  # the lead stays
    assert clock.lead >= 99
    loop.run_until_complete(asyncio.sleep(0.01))  # real time again
    loop.close()


def test_bad_input() -> None:
    with pytest.raises(TypeError, match="needs a nexusloop loop"):
        VirtualClock(asyncio.new_event_loop())
    loop = nexusloop.new_event_loop()
    try:
        clock = VirtualClock(loop)
        with pytest.raises(RuntimeError, match="already"):
            VirtualClock(loop)
        with pytest.raises(ValueError):
            clock.autojump_threshold = -1
        with pytest.raises(ValueError):
            clock.autojump_threshold = float("nan")
        with pytest.raises(TypeError):
            clock.autojump_threshold = "1"  # type: ignore[assignment]
        with pytest.raises(ValueError, match="only moves forward"):
            clock.advance(-1)
        with pytest.raises(RuntimeError, match="not under virtual time"):
            VirtualClock.of(nexusloop.new_event_loop())
        with pytest.raises(RuntimeError, match="no running event loop"):
            VirtualClock()
    finally:
        loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        VirtualClock(loop)


# -- through the pytest plugin (this project's ini sets nexusloop_mode = both) ------------------

@pytest.mark.asyncio
async def test_the_plugin_runs_pytest_asyncio_tests_on_both_loops(request: pytest.FixtureRequest
                                                                   ) -> None:
    loop = asyncio.get_running_loop()
    variant = request.node.callspec.id
    assert isinstance(loop, nexusloop.Loop) == (variant == "nexusloop"), variant


@pytest.mark.asyncio
async def test_a_day_of_ticks_under_the_virtual_clock_fixture(virtual_clock: Any) -> None:
    """86,400 one-second ticks, each deadline computed from the start (no drift), in virtual
    time; every tick runs at or after its deadline and before the next one."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in range(1, 86_401):
        await asyncio.sleep(start + n - loop.time())
        assert start + n <= loop.time() < start + n + 1
    assert virtual_clock.time() - start >= 86_400
