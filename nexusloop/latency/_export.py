"""Loop statistics out of the process: Prometheus, OpenTelemetry and a PNG (issue #10).

The loop records; this module only reads. Every exporter takes a *source*, any zero-argument
callable returning a :class:`~nexusloop.latency.LoopStats` (normally ``loop.stats``), and
calls it when the outside world asks (a scrape, a collection cycle), never on a timer of its
own. It is called on the asking thread: prometheus_client's HTTP server and OpenTelemetry's
periodic reader each use their own thread, not the loop's. A snapshot is a copy of a few
hundred integers, so a scrape costs a busy loop next to nothing; one taken while the loop runs
may see a tick half-counted (a histogram's total one sample ahead of its buckets, say), so the
Prometheus ``_count`` is taken from the ``+Inf`` bucket, keeping each exported histogram
consistent in itself.

Why the shapes chosen here:

* **Prometheus gets the whole histogram**, cumulative buckets under the snapshot's own upper
  bounds (``le``), so ``histogram_quantile()`` over ``rate()`` gives percentiles *over any
  window*, which is what a dashboard wants. The counts in a snapshot are cumulative since the
  loop was made (or ``reset_stats()``), exactly Prometheus's counter semantics; a
  ``reset_stats()`` shows up as a counter reset, which ``rate()`` already handles. The core's
  log-linear layout has ~100 buckets; ``buckets=`` exports a coarser set when series count
  matters more than resolution.
* **OpenTelemetry gets counters and p50/p99/max gauges.** The metrics API has no asynchronous
  histogram, so a histogram cannot be reported as one; the gauges are percentiles over all the
  samples of the snapshot (since start or ``reset_stats()``); after ``reset_stats()`` the
  observable counters report the new, lower totals, which a cumulative reader (the SDK's
  default) passes on as a counter reset (tested with the SDK). All instruments share one
  snapshot per collection cycle: the first callback of a cycle calls the source, the others
  reuse its result (a cycle is recognised by an instrument asking a second time).
* **The PNG is for a human** looking at one snapshot: bucket counts on a log time axis (a
  latency distribution spans microseconds to seconds) and a log count axis (the tail is the
  point), p50/p99/max marked.

The optional libraries (``prometheus_client``, ``opentelemetry-api``, ``matplotlib``) are
imported when an exporter is made or used, never when this module is imported: a missing one
is an ``ImportError`` naming the extra to install.
"""
from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

from nexusloop.latency._snapshot import HistogramSnapshot, LoopStats

if TYPE_CHECKING:
    from matplotlib.figure import Figure  # type: ignore[import-not-found,unused-ignore]
    from opentelemetry.metrics import (  # type: ignore[import-not-found,unused-ignore]
        CallbackOptions,
        Instrument,
        Meter,
        Observation,
    )
    from prometheus_client.metrics_core import Metric  # type: ignore[import-not-found,unused-ignore]

__all__ = ["LoopStatsCollector", "otel_instruments", "plot_stats", "prometheus_collector"]

StatsSource = Callable[[], LoopStats]
"""What every exporter reads: a zero-argument callable returning a snapshot (``loop.stats``)."""

# (LoopStats field, metric stem, help text, OpenTelemetry unit)
_COUNTERS: tuple[tuple[str, str, str, str], ...] = (
    ("ticks", "ticks", "Loop iterations (ticks) run.", "{tick}"),
    ("polls", "polls", "I/O polls (epoll_wait calls, parked or not).", "{poll}"),
    ("wakeups", "wakeups", "Cross-thread wake-ups received while parked.", "{wakeup}"),
    ("callbacks", "callbacks", "Callbacks run from the ready queue (task steps included).",
     "{callback}"),
    ("timers_fired", "timers_fired", "Timers whose callback was run.", "{timer}"),
    ("timers_cancelled", "timers_cancelled", "Timers cancelled before they fired.", "{timer}"),
    ("io_events", "io_events", "Readiness events dispatched to readers and writers.", "{event}"),
)

_HISTOGRAM_HELP = {
    "tick_duration": "Duration of one loop iteration (tick).",
    "ready_delay": "Delay from call_soon to the start of the callback.",
    "timer_lateness": "Delay from a timer's deadline to the start of its callback.",
    "io_delay": "Delay from the poll that saw an fd ready to the start of its callback.",
}
_HISTOGRAM_FIELDS = tuple(_HISTOGRAM_HELP)

# OpenTelemetry gauge: attribute value of ``quantile`` -> percentile (None: the maximum).
_QUANTILES: tuple[tuple[str, float | None], ...] = (("p50", 50.0), ("p99", 99.0), ("max", None))

_PROM_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_PROM_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_RESERVED_LABELS = frozenset({"le", "kind", "quantile"})
_OTEL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-/]*")

# A snapshot older than this is taken again even within what looks like one collection cycle.
_OTEL_MAX_AGE = 1.0


# ---------------------------------------------------------------- shared checks


def _check_source(source: object) -> None:
    if not callable(source):
        raise TypeError(
            f"source must be a zero-argument callable returning LoopStats (e.g. loop.stats), "
            f"not {type(source).__name__}")


def _read(source: StatsSource) -> LoopStats:
    stats = source()
    if not isinstance(stats, LoopStats):
        raise TypeError(f"the stats source {source!r} returned {type(stats).__name__}, "
                        f"not nexusloop.latency.LoopStats")
    for h in stats.histograms():
        _check_histogram(h)
    return stats


def _check_histogram(h: HistogramSnapshot) -> None:
    if not isinstance(h, HistogramSnapshot):
        raise TypeError(f"expected a HistogramSnapshot, not {type(h).__name__}")
    if len(h.bounds) != len(h.counts):
        raise ValueError(f"histogram {h.name!r}: {len(h.bounds)} bounds but "
                         f"{len(h.counts)} counts")
    if len(h.bounds) < 2 or h.bounds[-1] != math.inf:
        raise ValueError(f"histogram {h.name!r}: bounds must be at least one finite upper "
                         f"bound followed by math.inf")
    if any(not a < b for a, b in zip(h.bounds, h.bounds[1:], strict=False)):
        raise ValueError(f"histogram {h.name!r}: bounds must be increasing")
    if any(n < 0 for n in h.counts):
        raise ValueError(f"histogram {h.name!r}: negative bucket count")


def _check_prefix(prefix: object, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
    if not pattern.fullmatch(prefix):
        raise ValueError(f"prefix {prefix!r} is not a valid {what} metric name prefix")
    return prefix


# ---------------------------------------------------------------- Prometheus


def _import_prometheus() -> Any:
    try:
        import prometheus_client.metrics_core as core  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise ImportError("prometheus_collector needs prometheus_client, which is not "
                          "installed: pip install 'nexusloop[prometheus]'") from None
    return core


def _le(bound: float) -> str:
    # The exposition format's spelling: "+Inf" for the last bucket, a float otherwise.
    return "+Inf" if bound == math.inf else repr(float(bound))


class LoopStatsCollector:
    """A Prometheus custom collector over a stats source (made by :func:`prometheus_collector`).

    Each scrape (``collect()``) takes one snapshot from the source and yields counters, one
    histogram per recorded distribution and, with GC control, the GC counters.
    ``describe()`` names the metrics without calling the source, so registering it is cheap and
    name clashes are found at registration.
    """

    def __init__(self, source: StatsSource, *, prefix: str = "nexusloop",
                 labels: Mapping[str, str] | None = None,
                 buckets: Sequence[float] | None = None) -> None:
        _check_source(source)
        self._core = _import_prometheus()
        self._source = source
        self._prefix = _check_prefix(prefix, _PROM_NAME, "Prometheus")
        self._label_names, self._label_values = _check_labels(labels)
        self._buckets = _check_buckets(buckets)

    def __repr__(self) -> str:
        return f"<LoopStatsCollector prefix={self._prefix!r} source={self._source!r}>"

    def describe(self) -> Iterator[Metric]:
        """The metric families this collector yields, without samples."""
        return iter(self._families(None))

    def collect(self) -> Iterator[Metric]:
        """One snapshot from the source, as Prometheus metric families."""
        return iter(self._families(_read(self._source)))

    def _families(self, stats: LoopStats | None) -> list[Metric]:
        core = self._core
        p = self._prefix
        names = self._label_names
        values = self._label_values
        out: list[Metric] = []
        for field, stem, doc, _unit in _COUNTERS:
            fam = core.CounterMetricFamily(f"{p}_{stem}_total", doc, labels=names)
            if stats is not None:
                fam.add_metric(values, float(getattr(stats, field)))
            out.append(fam)
        for field, doc in _HISTOGRAM_HELP.items():
            fam = core.HistogramMetricFamily(f"{p}_{field}_seconds", doc, labels=names)
            if stats is not None:
                h: HistogramSnapshot = getattr(stats, field)
                fam.add_metric(values, self._cumulative(h), float(h.sum))
            out.append(fam)
        gc = stats.gc if stats is not None else None
        if stats is None or gc is not None:
            kinds = [*names, "kind"]
            coll = core.CounterMetricFamily(
                f"{p}_gc_collections_total",
                "Collections run by the loop's GC control: young at tick boundaries, full in "
                "idle slack or forced by the memory bound.", labels=kinds)
            secs = core.CounterMetricFamily(
                f"{p}_gc_seconds_total", "Time spent in collections run by GC control.",
                labels=kinds)
            if gc is not None:
                coll.add_metric([*values, "young"], float(gc.young))
                coll.add_metric([*values, "full_idle"], float(gc.full_idle))
                coll.add_metric([*values, "full_forced"], float(gc.full_forced))
                secs.add_metric([*values, "young"], float(gc.young_seconds))
                secs.add_metric([*values, "full"], float(gc.full_seconds))
            out += [coll, secs]
        return out

    def _cumulative(self, h: HistogramSnapshot) -> list[tuple[str, float]]:
        total = 0
        out: list[tuple[str, float]] = []
        if self._buckets is None:
            for bound, n in zip(h.bounds, h.counts, strict=True):
                total += n
                out.append((_le(bound), float(total)))
            return out
        # Coarse buckets: a sample counts under ``le=b`` when its whole bucket lies at or
        # below b (so a count is never more than the samples truly <= b).
        i = 0
        nb = len(h.bounds)
        for b in self._buckets:
            limit = b * (1.0 + 1e-9)
            while i < nb and h.bounds[i] <= limit:
                total += h.counts[i]
                i += 1
            out.append((_le(b), float(total)))
        out.append(("+Inf", float(sum(h.counts))))
        return out


def _check_labels(labels: Mapping[str, str] | None) -> tuple[list[str], list[str]]:
    if labels is None:
        return [], []
    if not isinstance(labels, Mapping):
        raise TypeError(f"labels must be a mapping of label name to value, "
                        f"not {type(labels).__name__}")
    names: list[str] = []
    values: list[str] = []
    for name, value in labels.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"label names and values must be str, not {name!r}: {value!r}")
        if not _PROM_LABEL.fullmatch(name) or name.startswith("__"):
            raise ValueError(f"{name!r} is not a valid Prometheus label name")
        if name in _RESERVED_LABELS:
            raise ValueError(f"label {name!r} is used by the exported metrics themselves")
        names.append(name)
        values.append(value)
    return names, values


def _check_buckets(buckets: Sequence[float] | None) -> tuple[float, ...] | None:
    if buckets is None:
        return None
    if isinstance(buckets, str | bytes) or not isinstance(buckets, Iterable):
        raise TypeError(f"buckets must be a sequence of upper bounds in seconds, "
                        f"not {type(buckets).__name__}")
    out = tuple(float(b) for b in buckets)
    if out and out[-1] == math.inf:
        out = out[:-1]  # the +Inf bucket is always there
    if not out:
        raise ValueError("buckets needs at least one finite upper bound")
    if any(not (0 < b < math.inf) for b in out):
        raise ValueError("bucket bounds must be positive and finite (+Inf is added)")
    if any(not a < b for a, b in zip(out, out[1:], strict=False)):
        raise ValueError("bucket bounds must be increasing")
    return out


def prometheus_collector(source: StatsSource, *, prefix: str = "nexusloop",
                         labels: Mapping[str, str] | None = None,
                         buckets: Sequence[float] | None = None) -> LoopStatsCollector:
    """A Prometheus collector that reads ``source()`` (e.g. ``loop.stats``) on every scrape.

    Metrics (``<prefix>`` is ``nexusloop`` by default): the counters ``<prefix>_ticks_total``,
    ``_polls_total``, ``_wakeups_total``, ``_callbacks_total``, ``_timers_fired_total``,
    ``_timers_cancelled_total``, ``_io_events_total``; the histograms
    ``<prefix>_tick_duration_seconds``, ``_ready_delay_seconds``, ``_timer_lateness_seconds``,
    ``_io_delay_seconds`` (cumulative buckets at the snapshot's bounds, ``+Inf`` last, and
    ``_sum``/``_count``); with GC control, ``<prefix>_gc_collections_total{kind=young|full_idle|
    full_forced}`` and ``<prefix>_gc_seconds_total{kind=young|full}``. ``labels`` are constant
    labels put on every sample (e.g. ``{"loop": "main"}`` when a process runs several loops).
    ``buckets``, upper bounds in seconds, exports fewer histogram buckets: a sample counts under
    ``le=b`` when its whole bucket of the snapshot lies at or below ``b``.

    Needs ``prometheus_client`` (``pip install 'nexusloop[prometheus]'``). Example::

        import prometheus_client
        from nexusloop.latency import prometheus_collector

        prometheus_client.REGISTRY.register(
            prometheus_collector(loop.stats, labels={"loop": "main"}))
        prometheus_client.start_http_server(9100)
    """
    return LoopStatsCollector(source, prefix=prefix, labels=labels, buckets=buckets)


# ---------------------------------------------------------------- OpenTelemetry


class _SharedSnapshot:
    """One snapshot per collection cycle, shared by all the instruments' callbacks.

    The SDK runs every instrument's callbacks one after the other on each collection; when an
    instrument asks again, a new cycle has begun and the source is read again. Also read again
    when the snapshot is older than ``_OTEL_MAX_AGE`` (a cycle that skipped instruments).
    """

    def __init__(self, source: StatsSource) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._stats: LoopStats | None = None
        self._served: set[str] = set()
        self._taken = 0.0

    def get(self, instrument: str) -> LoopStats:
        with self._lock:
            now = time.monotonic()
            if (self._stats is None or instrument in self._served
                    or now - self._taken > _OTEL_MAX_AGE):
                self._stats = None
                self._served.clear()
                self._stats = _read(self._source)
                self._taken = now
            self._served.add(instrument)
            return self._stats


def otel_instruments(meter: Meter, source: StatsSource, *,
                     prefix: str = "nexusloop") -> list[Instrument]:
    """OpenTelemetry observable instruments that read ``source()`` (e.g. ``loop.stats``).

    Creates, on ``meter``, observable counters ``<prefix>.ticks``, ``.polls``, ``.wakeups``,
    ``.callbacks``, ``.timers_fired``, ``.timers_cancelled``, ``.io_events``; observable gauges
    ``<prefix>.tick_duration``, ``.ready_delay``, ``.timer_lateness``, ``.io_delay`` (unit
    ``s``) with one point per attribute ``quantile`` = ``p50``, ``p99``, ``max``, over all the
    samples of the snapshot (none while a histogram is empty); with GC control, the counters
    ``<prefix>.gc.collections`` (attribute ``kind`` = ``young``, ``full_idle``,
    ``full_forced``) and ``<prefix>.gc.time`` (unit ``s``, ``kind`` = ``young``, ``full``).
    ``source`` is called once per collection cycle, shared by all the instruments. Returns the
    instruments (keep them referenced as long as they should report).

    Needs ``opentelemetry-api`` (``pip install 'nexusloop[otel]'``). Example::

        from opentelemetry import metrics
        from nexusloop.latency import otel_instruments

        instruments = otel_instruments(metrics.get_meter("myapp"), loop.stats)
    """
    _check_source(source)
    p = _check_prefix(prefix, _OTEL_NAME, "OpenTelemetry")
    try:
        from opentelemetry.metrics import (  # type: ignore[import-not-found,unused-ignore]
            Observation,
        )
    except ImportError:
        raise ImportError("otel_instruments needs opentelemetry-api, which is not installed: "
                          "pip install 'nexusloop[otel]'") from None
    for method in ("create_observable_counter", "create_observable_gauge"):
        if not callable(getattr(meter, method, None)):
            raise TypeError(f"meter must be an opentelemetry.metrics.Meter, "
                            f"not {type(meter).__name__}")
    shared = _SharedSnapshot(source)
    instruments: list[Instrument] = []

    def counter(name: str, field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(getattr(shared.get(name), field))]
        return observe

    def gauge(name: str, field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            h: HistogramSnapshot = getattr(shared.get(name), field)
            if h.count == 0:
                return []
            return [Observation(h.max if q is None else h.percentile(q), {"quantile": label})
                    for label, q in _QUANTILES]
        return observe

    def gc_counts(options: CallbackOptions) -> Iterable[Observation]:
        gc = shared.get(f"{p}.gc.collections").gc
        if gc is None:
            return []
        return [Observation(gc.young, {"kind": "young"}),
                Observation(gc.full_idle, {"kind": "full_idle"}),
                Observation(gc.full_forced, {"kind": "full_forced"})]

    def gc_time(options: CallbackOptions) -> Iterable[Observation]:
        gc = shared.get(f"{p}.gc.time").gc
        if gc is None:
            return []
        return [Observation(gc.young_seconds, {"kind": "young"}),
                Observation(gc.full_seconds, {"kind": "full"})]

    for field, stem, doc, unit in _COUNTERS:
        name = f"{p}.{stem}"
        instruments.append(meter.create_observable_counter(
            name, callbacks=[counter(name, field)], unit=unit, description=doc))
    for field, doc in _HISTOGRAM_HELP.items():
        name = f"{p}.{field}"
        instruments.append(meter.create_observable_gauge(
            name, callbacks=[gauge(name, field)], unit="s",
            description=f"{doc} Percentiles (quantile=p50/p99) and maximum since the loop "
                        f"started or reset_stats()."))
    instruments.append(meter.create_observable_counter(
        f"{p}.gc.collections", callbacks=[gc_counts], unit="{collection}",
        description="Collections run by the loop's GC control."))
    instruments.append(meter.create_observable_counter(
        f"{p}.gc.time", callbacks=[gc_time], unit="s",
        description="Time spent in collections run by the loop's GC control."))
    return instruments


# ---------------------------------------------------------------- PNG


def _fmt_seconds(s: float) -> str:
    if s == 0:
        return "0"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(s) >= scale:
            v = s / scale
            return f"{v:,.0f} {unit}" if abs(v) >= 1000 else f"{v:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def plot_stats(stats: LoopStats, path: str | os.PathLike[str] | IO[bytes], *,
               title: str | None = None) -> None:
    """Write a PNG of ``stats``: one panel per histogram, p50/p99/max marked.

    Each panel shows the samples per bucket over a log time axis (and a log count axis, so the
    tail stays visible), with the sample count and mean in its title; an empty histogram says
    "no samples". ``path`` is a file name or a binary file object; the image is PNG whatever the
    extension. Uses matplotlib's ``Figure`` with the Agg canvas directly, so it neither needs a
    display nor touches pyplot or the selected backend.

    Needs matplotlib (``pip install 'nexusloop[plot]'``). Example::

        from nexusloop.latency import plot_stats

        plot_stats(loop.stats(), "latency.png", title="market-data feed")
    """
    if not isinstance(stats, LoopStats):
        raise TypeError(f"stats must be a nexusloop.latency.LoopStats, "
                        f"not {type(stats).__name__}")
    if not isinstance(path, str | os.PathLike) and not callable(getattr(path, "write", None)):
        raise TypeError(f"path must be a file name or a binary file object, "
                        f"not {type(path).__name__}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, not {type(title).__name__}")
    _stats_figure(stats, title).savefig(path, format="png")


def _stats_figure(stats: LoopStats, title: str | None) -> Figure:
    """The matplotlib ``Figure`` that :func:`plot_stats` saves (tests look at its artists)."""
    for h in stats.histograms():
        _check_histogram(h)
    try:
        from matplotlib.backends.backend_agg import (  # type: ignore[import-not-found,unused-ignore]
            FigureCanvasAgg,
        )
        from matplotlib.figure import Figure  # type: ignore[import-not-found,unused-ignore]
        from matplotlib.ticker import FuncFormatter  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise ImportError("plot_stats needs matplotlib, which is not installed: "
                          "pip install 'nexusloop[plot]'") from None

    fig = Figure(figsize=(11, 7.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2).flatten()
    seconds_formatter = FuncFormatter(lambda x, _pos: _fmt_seconds(x))
    # Counts on a log axis: whole numbers only (minor ticks too, the range is often small).
    count_formatter = FuncFormatter(
        lambda y, _pos: f"{y:,.0f}" if y >= 1 and abs(y - round(y)) < 1e-6 else "")
    for ax, h in zip(axes, stats.histograms(), strict=True):
        if h.count == 0:
            ax.set_title(f"{h.name}: 0 samples")
            ax.text(0.5, 0.5, "no samples", ha="center", va="center", fontsize=14,
                    color="0.4", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        # Bucket i spans (bounds[i-1], bounds[i]]; the first starts at half its bound and the
        # overflow bucket ends past the largest sample, so both have a width on a log axis.
        lows = [h.bounds[0] / 2, *h.bounds[:-1]]
        highs = [*h.bounds[:-1], max(h.max, h.bounds[-2]) * 1.25]
        used = [i for i, n in enumerate(h.counts) if n]
        first, last = used[0], used[-1]
        bars = ax.bar(lows[first:last + 1], h.counts[first:last + 1],
                      width=[hi - lo for lo, hi in zip(lows[first:last + 1],
                                                       highs[first:last + 1], strict=True)],
                      align="edge", log=True, color="tab:blue", alpha=0.75,
                      edgecolor="tab:blue")
        if last == len(h.counts) - 1:
            bars[-1].set_hatch("//")  # the overflow bucket: no upper bound
            bars[-1].set_label(f"> {_fmt_seconds(h.bounds[-2])}")
        ax.set_xscale("log")
        ax.set_ylim(0.5, max(h.counts) * 2)  # a bucket of one sample still shows
        ax.yaxis.set_major_formatter(count_formatter)
        if max(h.counts) < 10:  # within one decade the minor ticks are the only labels
            ax.yaxis.set_minor_formatter(count_formatter)
        ax.set_xlim(lows[first] / 1.5, highs[last] * 1.5)
        ax.xaxis.set_major_formatter(seconds_formatter)
        marks = (("p50", h.percentile(50), "tab:green", "--"),
                 ("p99", h.percentile(99), "tab:orange", "--"),
                 ("max", h.max, "tab:red", ":"))
        for label, x, color, style in marks:
            if x > 0:
                ax.axvline(x, color=color, linestyle=style, linewidth=1.5,
                           label=f"{label} {_fmt_seconds(x)}")
        ax.legend(loc="upper right", fontsize=8)
        ax.set_title(f"{h.name}: {h.count:,} samples, mean {_fmt_seconds(h.mean)}")
        ax.set_xlabel("seconds")
        ax.set_ylabel("samples per bucket")
    heading = title if title is not None else "nexusloop loop statistics"
    fig.suptitle(f"{heading}\n{stats.ticks:,} ticks, {stats.callbacks:,} callbacks, "
                 f"{stats.timers_fired:,} timers, {stats.io_events:,} I/O events, "
                 f"slow callbacks: {len(stats.slow_callbacks)}")
    if stats.gc is not None:
        gc = stats.gc
        fig.supxlabel(f"GC control: {gc.young:,} young ({_fmt_seconds(gc.young_seconds)}), "
                      f"{gc.full_idle:,} full in idle slack, {gc.full_forced:,} forced "
                      f"({_fmt_seconds(gc.full_seconds)}); longest full "
                      f"{_fmt_seconds(gc.max_full_seconds)}", fontsize=9)
    return fig
