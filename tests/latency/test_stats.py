"""Loop statistics (``loop.stats()``, issue #10): the histograms and counters the core records,
read as a typed snapshot, resettable."""
from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from typing import Any

import pytest

import nexusloop
from nexusloop._core._stats import BOUNDS, Histogram
from nexusloop.latency import HistogramSnapshot, LoopStats

HANG_GUARD = 30.0


# ------------------------------------------------------------------------- the histogram


def test_buckets_are_log_linear_and_bound_every_sample() -> None:
    assert list(BOUNDS) == sorted(BOUNDS) and BOUNDS[-1] == math.inf
    h = Histogram()
    samples = [0.0, 5e-7, 1.1e-6, 3e-6, 1e-3, 0.0123, 1.0, 100.0]
    for x in samples:
        h.record(x)
    snap = h.snapshot("x")
    assert snap.count == len(samples) and sum(snap.counts) == len(samples)
    assert snap.max == 100.0 and snap.sum == pytest.approx(sum(samples))
    # Each sample is in the first bucket whose upper bound exceeds it, with at most 25% error.
    for x in samples:
        i = next(i for i, b in enumerate(BOUNDS) if x < b or (x == 0 and b > 0))
        assert snap.counts[i] >= 1
        if 1.1e-6 < x < 60:
            assert BOUNDS[i] <= x * 1.25 + 1e-12


def test_negative_samples_count_as_zero() -> None:
    h = Histogram()
    h.record(-1.0)
    assert h.snapshot("x").counts[0] == 1 and h.snapshot("x").max == 0.0


def test_percentiles_from_the_buckets() -> None:
    h = Histogram()
    for i in range(1, 101):
        h.record(i * 1e-3)  # 1 ms ... 100 ms
    snap = h.snapshot("x")
    assert snap.percentile(50) == pytest.approx(0.05, rel=0.25)
    assert snap.percentile(99) == pytest.approx(0.099, rel=0.25)
    assert snap.percentile(100) == pytest.approx(0.1)  # never above the largest sample
    assert snap.mean == pytest.approx(0.0505)
    with pytest.raises(ValueError, match="percentile"):
        snap.percentile(101)
    empty = Histogram().snapshot("e")
    assert empty.percentile(99) == 0.0 and empty.mean == 0.0


def test_reset_empties_the_histogram() -> None:
    h = Histogram()
    h.record(0.5)
    h.reset()
    snap = h.snapshot("x")
    assert snap.count == 0 and not any(snap.counts) and snap.max == 0.0


# ----------------------------------------------------------------------- the loop's stats


def _run(loop: Any, coro: Any) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, HANG_GUARD))


def test_counters_and_histograms_of_a_run(nloop: Any) -> None:
    async def main() -> None:
        for _ in range(100):
            await asyncio.sleep(0)
        await asyncio.sleep(0.005)
        nloop.call_later(10, lambda: None).cancel()

    nloop.reset_stats()
    _run(nloop, main())
    s = nloop.stats()
    assert isinstance(s, LoopStats)
    assert s.ticks >= 100 and s.callbacks >= 100
    assert s.timers_fired >= 1 and s.timers_cancelled >= 1
    assert s.timer_lateness.count == s.timers_fired
    # The 5 ms sleep fired late, never early (the histogram has no negative bucket: a timer
    # run before its deadline would show as 0 here; the minimum lateness is checked instead).
    assert s.timer_lateness.max >= 0.0
    # Sampled every 8th tick (the largest tick exactly).
    assert s.tick_duration.count >= 100 // 8
    assert s.ready_delay.count >= 100 // 8
    assert all(isinstance(h, HistogramSnapshot) for h in s.histograms())
    assert s.gc is None  # no GC control on this loop


def test_timer_lateness_records_how_late_each_timer_ran(nloop: Any) -> None:
    # A callback that blocks the loop for 30 ms makes a 1 ms timer at least ~29 ms late.
    def block() -> None:
        time.sleep(0.03)

    async def main() -> None:
        nloop.call_soon(block)
        await asyncio.sleep(0.001)

    nloop.reset_stats()
    _run(nloop, main())
    s = nloop.stats()
    assert s.timer_lateness.max >= 0.02
    assert s.tick_duration.max >= 0.02  # the tick that ran block()


def test_io_events_and_delay(nloop: Any) -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    try:
        async def main() -> bytes:
            waiter = asyncio.ensure_future(nloop.sock_recv(a, 10))
            await asyncio.sleep(0.01)
            b.send(b"x")
            return await waiter

        nloop.reset_stats()
        assert _run(nloop, main()) == b"x"
        s = nloop.stats()
        assert s.io_events >= 1 and s.io_delay.count == s.io_events
    finally:
        a.close()
        b.close()


def test_wakeups_are_counted(nloop: Any) -> None:
    async def main() -> None:
        done = asyncio.get_running_loop().create_future()

        def other() -> None:
            time.sleep(0.02)  # the loop parks meanwhile
            nloop.call_soon_threadsafe(done.set_result, None)

        thread = threading.Thread(target=other)
        thread.start()
        await done
        thread.join()

    nloop.reset_stats()
    _run(nloop, main())
    assert nloop.stats().wakeups >= 1


def test_reset_stats_starts_from_zero(nloop: Any) -> None:
    _run(nloop, asyncio.sleep(0.002))
    nloop.reset_stats()
    s = nloop.stats()
    assert (s.ticks, s.callbacks, s.timers_fired, s.timers_cancelled, s.polls) == (0, 0, 0, 0, 0)
    assert all(h.count == 0 for h in s.histograms())
    _run(nloop, asyncio.sleep(0))
    assert nloop.stats().ticks > 0


def test_slow_callbacks_in_debug_mode(nloop: Any, caplog: pytest.LogCaptureFixture) -> None:
    def slow_one() -> None:
        time.sleep(0.03)

    nloop.set_debug(True)
    nloop.slow_callback_duration = 0.01
    try:
        async def main() -> None:
            nloop.call_soon(slow_one)
            await asyncio.sleep(0.001)

        _run(nloop, main())
    finally:
        nloop.set_debug(False)
    slow = nloop.stats().slow_callbacks
    assert any("slow_one" in entry.name and entry.seconds >= 0.02 for entry in slow), slow


def test_stats_with_gc_control_include_the_collections() -> None:
    loop = nexusloop.new_event_loop(gc_control=True)
    try:
        loop.run_until_complete(asyncio.sleep(0.001))
        assert loop.stats().gc is not None
    finally:
        loop.close()


def test_prometheus_scrape_of_a_real_loop(nloop: Any) -> None:
    prometheus_client = pytest.importorskip("prometheus_client", reason="optional extra")
    from prometheus_client.parser import text_string_to_metric_families

    from nexusloop.latency import prometheus_collector

    _run(nloop, asyncio.sleep(0.002))
    registry = prometheus_client.CollectorRegistry()
    registry.register(prometheus_collector(nloop.stats))
    text = prometheus_client.generate_latest(registry).decode()
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
              if not s.labels}
    assert values["nexusloop_ticks_total"] == nloop.stats().ticks
    assert values["nexusloop_timer_lateness_seconds_count"] >= 1
