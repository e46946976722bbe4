"""``LoopOptions.profile``, ``cpu_affinity`` and ``timer_slack_ns`` (issue #10)."""
from __future__ import annotations

import asyncio
import os
import sys
import threading
from typing import Any

import pytest

import nexusloop
from nexusloop import LoopOptions

LINUX = sys.platform.startswith("linux")


def test_latency_profile_turns_on_the_latency_settings() -> None:
    options = LoopOptions(profile="latency")
    assert options.timers_first and options.gc_control and options.tasks_per_cycle == 32
    assert LoopOptions(profile="latency", tasks_per_cycle=8).tasks_per_cycle == 8  # set: kept
    assert options.timer_slack_ns == (1_000 if LINUX else None)
    if LINUX:
        assert LoopOptions(profile="latency", timer_slack_ns=7).timer_slack_ns == 7
    loop = nexusloop.new_event_loop(profile="latency")
    try:
        assert loop.gc_stats() is not None
    finally:
        loop.close()


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"profile": "fast"}, ValueError, "unknown profile"),
    ({"cpu_affinity": set()}, ValueError, "non-empty"),
    ({"cpu_affinity": {-1}}, ValueError, "CPU numbers"),
    ({"cpu_affinity": {True}}, ValueError, "CPU numbers"),
    ({"cpu_affinity": 3}, TypeError, "cpu_affinity"),
    ({"timer_slack_ns": 0}, ValueError, ">= 1"),
    ({"timer_slack_ns": True}, TypeError, "timer_slack_ns"),
    ({"timer_slack_ns": 1.5}, TypeError, "timer_slack_ns"),
])
def test_bad_values_are_refused(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        LoopOptions(**kwargs)


def test_cpu_affinity_is_stored_as_a_frozenset() -> None:
    assert LoopOptions(cpu_affinity=[0, 0]).cpu_affinity == frozenset({0})


@pytest.mark.skipif(not LINUX, reason="sched_setaffinity is Linux-only")
def test_cpu_affinity_pins_the_loops_thread_while_it_runs() -> None:
    allowed = os.sched_getaffinity(0)
    cpu = min(allowed)
    seen: list[Any] = []

    def in_thread() -> None:
        before = os.sched_getaffinity(0)

        async def main() -> None:
            seen.append(os.sched_getaffinity(0))

        nexusloop.run(main(), cpu_affinity={cpu})
        seen.append(os.sched_getaffinity(0) == before)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(30)
    assert seen == [{cpu}, True]
    assert os.sched_getaffinity(0) == allowed  # the main thread was never pinned


@pytest.mark.skipif(not LINUX, reason="sched_setaffinity is Linux-only")
def test_an_unusable_cpu_is_an_oserror_and_nothing_is_left_pinned() -> None:
    allowed = os.sched_getaffinity(0)
    loop = nexusloop.new_event_loop(cpu_affinity={10_000})
    try:
        done = loop.create_future()
        done.set_result(None)
        with pytest.raises(OSError):
            loop.run_until_complete(done)
        assert not loop.is_running()
    finally:
        loop.close()
    assert os.sched_getaffinity(0) == allowed


def _timer_slack() -> int:
    """The calling thread's timer slack, read with prctl(PR_GET_TIMERSLACK)."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.restype = ctypes.c_long
    value = prctl(30, 0, 0, 0, 0)
    assert value >= 0, ctypes.get_errno()
    return int(value)


@pytest.mark.skipif(not LINUX, reason="PR_SET_TIMERSLACK is Linux-only")
def test_timer_slack_is_set_on_the_loops_thread_while_it_runs_and_restored() -> None:
    seen: list[Any] = []

    def in_thread() -> None:
        before = _timer_slack()

        async def main() -> None:
            seen.append(_timer_slack())
            await asyncio.sleep(0.0005)  # a timed park with that slack

        nexusloop.run(main(), timer_slack_ns=1_234)
        seen.append(_timer_slack() == before)
        nexusloop.run(main(), profile="latency")
        seen.append(_timer_slack() == before)

    main_thread_slack = _timer_slack()
    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(30)
    assert seen == [1_234, True, 1_000, True]
    assert _timer_slack() == main_thread_slack  # other threads untouched
