"""The typed snapshot of a loop's statistics (``loop.stats()``, issue #10).

Plain immutable values (named tuples): what the loop's compiled core records, copied out when
asked for, so that exporters (``nexusloop.latency`` Prometheus / OpenTelemetry / PNG) and users
read one shape whatever produced it.

Histograms are *log-linear*: fixed buckets, each power-of-two range of nanoseconds split into
``SUB_BUCKETS`` equal parts (so the relative error of a percentile is at most 1/SUB_BUCKETS),
from 1 µs... up to ~68 s, and one overflow bucket. Recording a sample is an index computation
and an increment: no allocation.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from nexusloop.latency._gc import GcStats

__all__ = ["HistogramSnapshot", "LoopStats", "SlowCallback"]


class HistogramSnapshot(NamedTuple):
    """One histogram: per-bucket counts under increasing upper bounds (seconds)."""

    name: str
    """``tick_duration``, ``ready_delay``, ``timer_lateness`` or ``io_delay``."""
    bounds: tuple[float, ...]
    """Upper bound of each bucket, seconds, increasing; the last one is ``math.inf``."""
    counts: tuple[int, ...]
    """Samples per bucket (same length as ``bounds``)."""
    count: int  # type: ignore[assignment]  # (the field, not tuple.count)
    """Samples in all."""
    sum: float
    """Sum of the samples, seconds."""
    max: float
    """Largest sample, seconds (0.0 when empty)."""

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0-100), seconds: the upper bound of the bucket holding it,
        never more than the largest sample; 0.0 when empty."""
        if not 0 <= q <= 100:
            raise ValueError(f"percentile must be between 0 and 100, not {q!r}")
        if self.count == 0:
            return 0.0
        rank = max(1, math.ceil(self.count * q / 100))
        seen = 0
        for bound, n in zip(self.bounds, self.counts, strict=True):
            seen += n
            if seen >= rank:
                return min(bound, self.max)
        return self.max

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else 0.0


class SlowCallback(NamedTuple):
    """A callback that ran longer than ``loop.slow_callback_duration``."""

    name: str
    """What ran (asyncio's format of the callback, e.g. ``Task.task_wakeup(...)``)."""
    seconds: float
    when: float
    """Loop time at which it started."""


class LoopStats(NamedTuple):
    """A snapshot of ``loop.stats()``: counters since the loop was made (or ``reset_stats()``),
    histograms, the slowest recent callbacks, and the GC control's collections."""

    ticks: int
    polls: int
    """I/O polls (``epoll_wait`` calls, parked or not)."""
    wakeups: int
    """Cross-thread wake-ups received (``call_soon_threadsafe`` while parked)."""
    callbacks: int
    """Callbacks run from the ready queue (task steps included)."""
    timers_fired: int
    timers_cancelled: int
    io_events: int
    """Readiness events dispatched to readers and writers."""
    tick_duration: HistogramSnapshot
    """Start of a tick to the start of the next (a parked wait excluded); sampled every 8th
    tick, its ``max`` exact."""
    ready_delay: HistogramSnapshot
    """How long the oldest ready callback had waited when a tick started: from the start of the
    tick that queued it (``call_soon``); sampled every 8th tick."""
    timer_lateness: HistogramSnapshot
    """From a timer's deadline to the start of its callback."""
    io_delay: HistogramSnapshot
    """From the end of the poll that saw an fd ready to the start of its callback."""
    slow_callbacks: tuple[SlowCallback, ...]
    gc: GcStats | None
    """Collections run by GC control (``gc_control=True``), else None."""
    ready: int = 0
    """Callbacks queued now (a gauge, not reset)."""
    timers_pending: int = 0
    """Timers scheduled now (a gauge, not reset)."""

    def histograms(self) -> tuple[HistogramSnapshot, ...]:
        return (self.tick_duration, self.ready_delay, self.timer_lateness, self.io_delay)

    def report(self) -> str:
        """The snapshot as text: counters, then p50/p99/max per histogram, the GC control's
        collections and the slowest callbacks (what ``nexusloop run --stats`` prints)."""

        def us(seconds: float) -> str:
            return f"{seconds * 1e6:,.0f} us"

        lines = [
            f"ticks {self.ticks:,}  polls {self.polls:,}  wake-ups {self.wakeups:,}  "
            f"callbacks {self.callbacks:,}  timers fired {self.timers_fired:,} / cancelled "
            f"{self.timers_cancelled:,}  I/O events {self.io_events:,}",
        ]
        for h in self.histograms():
            if h.count:
                lines.append(f"{h.name:<15} n={h.count:<10,} p50 {us(h.percentile(50)):>10}  "
                             f"p99 {us(h.percentile(99)):>10}  max {us(h.max):>10}")
            else:
                lines.append(f"{h.name:<15} n=0")
        if self.gc is not None:
            g = self.gc
            lines.append(f"gc control      young {g.young:,} ({us(g.young_seconds)}, max "
                         f"{us(g.max_young_seconds)})  full in idle {g.full_idle:,}, forced "
                         f"{g.full_forced:,} ({us(g.full_seconds)}, max {us(g.max_full_seconds)})")
        for slow in self.slow_callbacks:
            lines.append(f"slow callback   {slow.seconds * 1e3:.1f} ms  {slow.name}")
        return "\n".join(lines)

