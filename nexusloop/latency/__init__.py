"""Latency features of nexusloop (SPEC section 5): GC control (``LoopOptions.gc_control``), the
loop's statistics (``loop.stats()``: counters and log-linear histograms, as typed snapshots) and
their exporters (Prometheus, OpenTelemetry, a PNG; optional extras).

``docs/latency.md`` says what each feature changes and what it measured.
"""
from nexusloop.latency._export import (
    LoopStatsCollector,
    otel_instruments,
    plot_stats,
    prometheus_collector,
)
from nexusloop.latency._gc import GcControl, GcStats
from nexusloop.latency._snapshot import HistogramSnapshot, LoopStats, SlowCallback

__all__ = [
    "GcControl",
    "GcStats",
    "HistogramSnapshot",
    "LoopStats",
    "LoopStatsCollector",
    "SlowCallback",
    "otel_instruments",
    "plot_stats",
    "prometheus_collector",
]
