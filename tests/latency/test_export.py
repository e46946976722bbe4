"""Exporters of loop statistics (issue #10): a Prometheus collector scraped through a real
registry, OpenTelemetry instruments collected by the real SDK, and a PNG from matplotlib.

The snapshots are real ``LoopStats`` values built from known sample lists, so every exported
number is checked against a brute-force count of those samples.
"""
from __future__ import annotations

import bisect
import io
import math
import os
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from nexusloop.latency._export import (
    LoopStatsCollector,
    otel_instruments,
    plot_stats,
    prometheus_collector,
)
from nexusloop.latency._export import _stats_figure as stats_figure
from nexusloop.latency._gc import GcStats
from nexusloop.latency._snapshot import HistogramSnapshot, LoopStats, SlowCallback

# Log-linear-ish bounds like the core's: 4 buckets per power of two from 1 µs, then +Inf.
BOUNDS = (*(1e-6 * 2 ** (i / 4) for i in range(100)), math.inf)

TICK_SAMPLES = [2e-6, 3e-6, 3e-6, 5e-6, 1e-5, 1e-5, 2.5e-5, 1e-4, 1.5e-3, 0.02]
READY_SAMPLES = [1e-6, 1e-6, 4e-6, 8e-6, 8e-6, 8e-6, 3e-5, 3e-4]
LATE_SAMPLES = [5e-5, 6e-5, 1e-4, 2e-4, 2e-3, 1000.0]  # 1000 s: the overflow bucket
GC = GcStats(young=17, full_idle=2, full_forced=1, collected=321, young_seconds=0.0042,
             full_seconds=0.031, max_young_seconds=0.0009, max_full_seconds=0.02,
             full_estimate=0.015)


def hist(name: str, samples: Sequence[float], bounds: tuple[float, ...] = BOUNDS
         ) -> HistogramSnapshot:
    """A snapshot of ``samples``: each goes to the first bucket whose upper bound is >= it."""
    counts = [0] * len(bounds)
    for s in samples:
        counts[bisect.bisect_left(bounds, s)] += 1
    return HistogramSnapshot(name, bounds, tuple(counts), len(samples), float(sum(samples)),
                             max(samples, default=0.0))


def make_stats(*, ticks: int = 1000, gc: GcStats | None = GC, tick: Sequence[float] = TICK_SAMPLES,
               ready: Sequence[float] = READY_SAMPLES, late: Sequence[float] = LATE_SAMPLES,
               io_samples: Sequence[float] = ()) -> LoopStats:
    return LoopStats(
        ticks=ticks, polls=400, wakeups=7, callbacks=5000, timers_fired=90, timers_cancelled=12,
        io_events=33,
        tick_duration=hist("tick_duration", tick), ready_delay=hist("ready_delay", ready),
        timer_lateness=hist("timer_lateness", late), io_delay=hist("io_delay", io_samples),
        slow_callbacks=(SlowCallback("Task.task_wakeup()", 0.2, 12.5),), gc=gc)


def empty_stats() -> LoopStats:
    return make_stats(ticks=0, gc=None, tick=(), ready=(), late=(), io_samples=())


class Source:
    """A stats source that counts its calls and whose snapshot a test can replace."""

    def __init__(self, stats: LoopStats) -> None:
        self.stats = stats
        self.calls = 0

    def __call__(self) -> LoopStats:
        self.calls += 1
        return self.stats


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (same mode, same path)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          cwd=Path(__file__).resolve().parents[2], capture_output=True,
                          text=True, timeout=120)


def test_importing_the_module_imports_no_optional_library() -> None:
    r = run_python("""
        import sys
        import nexusloop.latency._export
        loaded = [m for m in ("prometheus_client", "opentelemetry", "matplotlib")
                  if m in sys.modules]
        print("loaded:", loaded)
        """)
    assert r.returncode == 0, r.stderr
    assert "loaded: []" in r.stdout


# ==================================================================== Prometheus

COUNTERS = {"ticks": 1000, "polls": 400, "wakeups": 7, "callbacks": 5000, "timers_fired": 90,
            "timers_cancelled": 12, "io_events": 33}
HISTOGRAMS = {"tick_duration": TICK_SAMPLES, "ready_delay": READY_SAMPLES,
              "timer_lateness": LATE_SAMPLES, "io_delay": []}


def scrape(registry: Any) -> dict[str, Any]:
    """The registry's text exposition, parsed back: family name -> family."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    text = generate_latest(registry).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(family: Any, suffix: str) -> list[Any]:
    return [s for s in family.samples if s.name == family.name + suffix]


@pytest.fixture
def registry() -> Any:
    """A real registry of prometheus_client (the ``prometheus`` extra)."""
    prometheus_client = pytest.importorskip("prometheus_client", reason="the prometheus extra")
    return prometheus_client.CollectorRegistry()


def test_prometheus_counters(registry: Any) -> None:
    registry.register(prometheus_collector(Source(make_stats())))
    families = scrape(registry)
    for stem, value in COUNTERS.items():
        fam = families[f"nexusloop_{stem}"]
        assert fam.type == "counter"
        (sample,) = samples(fam, "_total")
        assert sample.value == value
        assert sample.labels == {}


def test_prometheus_histograms_are_cumulative_with_inf_last(registry: Any) -> None:
    registry.register(prometheus_collector(Source(make_stats())))
    families = scrape(registry)
    for field, values in HISTOGRAMS.items():
        fam = families[f"nexusloop_{field}_seconds"]
        assert fam.type == "histogram"
        buckets = samples(fam, "_bucket")
        assert len(buckets) == len(BOUNDS)
        les = [float(b.labels["le"]) for b in buckets]
        assert les == pytest.approx(list(BOUNDS))
        assert buckets[-1].labels["le"] == "+Inf"
        counts = [b.value for b in buckets]
        assert counts == sorted(counts)  # cumulative
        for le, n in zip(les, counts, strict=True):
            # Brute force: the samples at or below the bound (bounds are exactly representable
            # through repr, so a sample on a bound counts under it, as the snapshot put it).
            assert n == sum(1 for v in values if v <= le), (field, le)
        (count,) = samples(fam, "_count")
        (total,) = samples(fam, "_sum")
        assert counts[-1] == count.value == len(values)
        assert total.value == pytest.approx(sum(values))
    # The overflow sample (1000 s) is only in +Inf.
    late = samples(families["nexusloop_timer_lateness_seconds"], "_bucket")
    assert late[-2].value == len(LATE_SAMPLES) - 1
    assert late[-1].value == len(LATE_SAMPLES)


def test_prometheus_gc_counters(registry: Any) -> None:
    registry.register(prometheus_collector(Source(make_stats())))
    families = scrape(registry)
    coll = {s.labels["kind"]: s.value
            for s in samples(families["nexusloop_gc_collections"], "_total")}
    assert coll == {"young": 17, "full_idle": 2, "full_forced": 1}
    secs = {s.labels["kind"]: s.value
            for s in samples(families["nexusloop_gc_seconds"], "_total")}
    assert secs == pytest.approx({"young": 0.0042, "full": 0.031})


def test_prometheus_no_gc_metrics_without_gc_control(registry: Any) -> None:
    registry.register(prometheus_collector(Source(make_stats(gc=None))))
    families = scrape(registry)
    assert "nexusloop_gc_collections" not in families
    assert "nexusloop_gc_seconds" not in families
    assert "nexusloop_ticks" in families


def test_prometheus_constant_labels_and_prefix(registry: Any) -> None:
    registry.register(prometheus_collector(Source(make_stats()), prefix="app_loop",
                                           labels={"loop": "main", "shard": "3"}))
    families = scrape(registry)
    assert not any(name.startswith("nexusloop") for name in families)
    every = [s for f in families.values() if f.name.startswith("app_loop") for s in f.samples]
    assert len(every) > 4 * len(BOUNDS)
    for s in every:
        assert s.labels["loop"] == "main" and s.labels["shard"] == "3", s
    kinds = {s.labels["kind"] for s in samples(families["app_loop_gc_collections"], "_total")}
    assert kinds == {"young", "full_idle", "full_forced"}


def test_prometheus_two_loops_in_one_registry(registry: Any) -> None:
    registry.register(prometheus_collector(Source(make_stats(ticks=1)), labels={"loop": "a"}))
    with pytest.raises(ValueError, match="Duplicated"):
        # Same names: describe() lets the registry refuse at registration.
        registry.register(prometheus_collector(Source(make_stats()), labels={"loop": "b"}))
    registry.register(prometheus_collector(Source(make_stats(ticks=2)), prefix="other"))
    families = scrape(registry)
    assert samples(families["nexusloop_ticks"], "_total")[0].value == 1
    assert samples(families["other_ticks"], "_total")[0].value == 2


def test_prometheus_reads_the_source_at_each_scrape_only(registry: Any) -> None:
    source = Source(make_stats(ticks=10))
    registry.register(prometheus_collector(source))
    assert source.calls == 0  # registering describes without reading
    assert samples(scrape(registry)["nexusloop_ticks"], "_total")[0].value == 10
    assert source.calls == 1
    source.stats = make_stats(ticks=25, tick=[*TICK_SAMPLES, 0.5, 0.5])
    families = scrape(registry)
    assert source.calls == 2
    assert samples(families["nexusloop_ticks"], "_total")[0].value == 25
    (count,) = samples(families["nexusloop_tick_duration_seconds"], "_count")
    assert count.value == len(TICK_SAMPLES) + 2


def test_prometheus_coarse_buckets(registry: Any) -> None:
    wanted = [1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0]
    exact = BOUNDS[20]  # 1e-6 * 2**5 = 32 µs: a bound of the snapshot itself
    registry.register(prometheus_collector(Source(make_stats()), buckets=[exact, *wanted[1:]]))
    fam = scrape(registry)["nexusloop_tick_duration_seconds"]
    buckets = samples(fam, "_bucket")
    les = [b.labels["le"] for b in buckets]
    assert [float(x) for x in les[:-1]] == pytest.approx([exact, *wanted[1:]])
    assert les[-1] == "+Inf"
    values = [b.value for b in buckets]
    assert values == sorted(values)
    assert values[-1] == len(TICK_SAMPLES) == samples(fam, "_count")[0].value
    # On a snapshot bound the count is exact; elsewhere never more than the truth.
    assert values[0] == sum(1 for v in TICK_SAMPLES if v <= exact)
    for le, n in zip(les[:-1], values, strict=False):
        assert n <= sum(1 for v in TICK_SAMPLES if v <= float(le))
    assert values[les.index("1.0")] == len(TICK_SAMPLES)  # 0.02 s <= 1 s: all of them


def test_prometheus_bad_input() -> None:
    good = Source(make_stats())
    with pytest.raises(TypeError, match="callable"):
        prometheus_collector(make_stats())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prefix"):
        prometheus_collector(good, prefix="nexus-loop")
    with pytest.raises(TypeError, match="prefix"):
        prometheus_collector(good, prefix=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="label"):
        prometheus_collector(good, labels={"le": "x"})
    with pytest.raises(ValueError, match="label"):
        prometheus_collector(good, labels={"kind": "x"})
    with pytest.raises(ValueError, match="label name"):
        prometheus_collector(good, labels={"1loop": "x"})
    with pytest.raises(TypeError, match="str"):
        prometheus_collector(good, labels={"loop": 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="mapping"):
        prometheus_collector(good, labels=[("loop", "x")])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="increasing"):
        prometheus_collector(good, buckets=[0.1, 0.01])
    with pytest.raises(ValueError, match="positive"):
        prometheus_collector(good, buckets=[0.0, 0.01])
    with pytest.raises(ValueError, match="finite"):
        prometheus_collector(good, buckets=[math.inf])
    with pytest.raises(TypeError, match="buckets"):
        prometheus_collector(good, buckets="0.1")  # type: ignore[arg-type]


def test_prometheus_bad_snapshot_fails_the_scrape_clearly(registry: Any) -> None:
    source: Source | Any = Source(make_stats())
    collector = prometheus_collector(lambda: source())
    registry.register(collector)
    source = lambda: {"ticks": 1}  # noqa: E731
    with pytest.raises(TypeError, match="not nexusloop.latency.LoopStats"):
        scrape(registry)
    bad = make_stats()
    short = bad.tick_duration._replace(counts=bad.tick_duration.counts[:-1])
    source = Source(bad._replace(tick_duration=short))
    with pytest.raises(ValueError, match="bounds but"):
        scrape(registry)
    no_inf = hist("io_delay", [1e-6], bounds=(1e-6, 1e-3))
    source = Source(bad._replace(io_delay=no_inf))
    with pytest.raises(ValueError, match="math.inf"):
        scrape(registry)
    source = Source(make_stats())  # and a good one scrapes again
    assert "nexusloop_ticks" in scrape(registry)


def test_prometheus_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.setitem(sys.modules, "prometheus_client.metrics_core", None)
    with pytest.raises(ImportError, match=r"nexusloop\[prometheus\]"):
        prometheus_collector(Source(make_stats()))


@pytest.mark.usefixtures("registry")
def test_collector_class_is_what_the_factory_returns() -> None:
    c = prometheus_collector(Source(make_stats()))
    assert isinstance(c, LoopStatsCollector)
    names = {m.name for m in c.describe()}
    assert "nexusloop_ticks" in names and "nexusloop_gc_seconds" in names
    assert all(not m.samples for m in c.describe())


# ==================================================================== OpenTelemetry

@pytest.fixture
def otel() -> Iterator[tuple[Any, Any]]:
    """A meter of the real SDK and its in-memory reader (the ``otel`` extra)."""
    pytest.importorskip("opentelemetry.sdk.metrics", reason="the otel extra")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    try:
        yield provider.get_meter("nexusloop-test"), reader
    finally:
        provider.shutdown()


def collect(reader: Any) -> dict[str, Any]:
    """name -> metric of one collection."""
    data = reader.get_metrics_data()
    if data is None:
        return {}
    return {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics
            for m in sm.metrics}


def points(metric: Any) -> dict[tuple[tuple[str, Any], ...], float]:
    return {tuple(sorted((p.attributes or {}).items())): p.value
            for p in metric.data.data_points}


def test_otel_counters_and_gauges(otel: tuple[Any, Any]) -> None:
    meter, reader = otel
    stats = make_stats()
    instruments = otel_instruments(meter, Source(stats))
    assert len(instruments) == 7 + 4 + 2
    metrics = collect(reader)
    for stem, value in COUNTERS.items():
        m = metrics[f"nexusloop.{stem}"]
        assert m.data.is_monotonic
        assert points(m) == {(): value}
    for field in ("tick_duration", "ready_delay", "timer_lateness"):
        h: HistogramSnapshot = getattr(stats, field)
        m = metrics[f"nexusloop.{field}"]
        assert m.unit == "s"
        assert points(m) == {(("quantile", "p50"),): h.percentile(50),
                             (("quantile", "p99"),): h.percentile(99),
                             (("quantile", "max"),): h.max}
    # The brute-force truth for one of them: p50 of the tick samples lies in the bucket that
    # holds the 5th smallest sample (within one bucket, i.e. a factor 2**(1/4)).
    p50 = points(metrics["nexusloop.tick_duration"])[(("quantile", "p50"),)]
    fifth = sorted(TICK_SAMPLES)[4]
    assert fifth <= p50 < fifth * 2 ** 0.25
    assert points(metrics["nexusloop.timer_lateness"])[(("quantile", "max"),)] == 1000.0
    # An empty histogram reports no percentile rather than a made-up 0.
    assert "nexusloop.io_delay" not in metrics or points(metrics["nexusloop.io_delay"]) == {}
    assert points(metrics["nexusloop.gc.collections"]) == {
        (("kind", "young"),): 17, (("kind", "full_idle"),): 2, (("kind", "full_forced"),): 1}
    assert points(metrics["nexusloop.gc.time"]) == pytest.approx({
        (("kind", "young"),): 0.0042, (("kind", "full"),): 0.031})


def test_otel_one_source_call_per_collection(otel: tuple[Any, Any]) -> None:
    meter, reader = otel
    source = Source(make_stats(ticks=5))
    otel_instruments(meter, source)
    assert source.calls == 0
    assert points(collect(reader)["nexusloop.ticks"]) == {(): 5}
    assert source.calls == 1
    source.stats = make_stats(ticks=9, gc=None)
    metrics = collect(reader)
    assert source.calls == 2
    assert points(metrics["nexusloop.ticks"]) == {(): 9}
    assert "nexusloop.gc.collections" not in metrics or not points(
        metrics["nexusloop.gc.collections"])
    collect(reader)
    assert source.calls == 3


def test_otel_after_reset_stats_reports_from_the_reset(otel: tuple[Any, Any]) -> None:
    # A real loop. reset_stats() restarts the counters: the (cumulative) observable counters
    # report the new, lower value (a counter reset, as for Prometheus), and the percentile
    # gauges cover only the samples taken since.
    import asyncio

    import nexusloop

    meter, reader = otel
    loop = nexusloop.new_event_loop()
    try:
        otel_instruments(meter, loop.stats)

        async def timers(n: int, delay: float) -> None:
            for _ in range(n):
                await asyncio.sleep(delay)

        loop.run_until_complete(timers(30, 0.001))
        before = collect(reader)
        assert points(before["nexusloop.timers_fired"]) == {(): 30}
        loop.reset_stats()
        loop.run_until_complete(timers(5, 0.0005))
        after = collect(reader)
        assert points(after["nexusloop.timers_fired"]) == {(): 5}
        assert 0 < points(after["nexusloop.ticks"])[()] < points(before["nexusloop.ticks"])[()]
        lateness = points(after["nexusloop.timer_lateness"])
        assert lateness[(("quantile", "max"),)] == loop.stats().timer_lateness.max
        assert loop.stats().timer_lateness.count == 5
    finally:
        loop.close()


@pytest.mark.usefixtures("otel")
def test_otel_two_readers_each_see_a_fresh_snapshot() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    first, second = InMemoryMetricReader(), InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[first, second])
    try:
        source = Source(make_stats(ticks=1))
        otel_instruments(provider.get_meter("t"), source, prefix="svc.loop")
        assert points(collect(first)["svc.loop.ticks"]) == {(): 1}
        source.stats = make_stats(ticks=2)
        assert points(collect(second)["svc.loop.ticks"]) == {(): 2}
        assert source.calls == 2
    finally:
        provider.shutdown()


def test_otel_bad_input(otel: tuple[Any, Any]) -> None:
    meter, _reader = otel
    with pytest.raises(TypeError, match="callable"):
        otel_instruments(meter, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Meter"):
        otel_instruments(object(), Source(make_stats()))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prefix"):
        otel_instruments(meter, Source(make_stats()), prefix="9lives")


def test_otel_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.setitem(sys.modules, "opentelemetry.metrics", None)
    with pytest.raises(ImportError, match=r"nexusloop\[otel\]"):
        otel_instruments(object(), Source(make_stats()))  # type: ignore[arg-type]


# ==================================================================== PNG

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def matplotlib_installed() -> None:
    pytest.importorskip("matplotlib", reason="the plot extra")


@pytest.mark.usefixtures("matplotlib_installed")
def test_plot_full_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "stats.svg"  # the extension does not matter: always PNG
    plot_stats(make_stats(), path, title="unit test")
    data = path.read_bytes()
    assert png_size(data) == (1100, 750)
    assert len(data) > 20_000


@pytest.mark.usefixtures("matplotlib_installed")
def test_plot_empty_snapshot_and_file_object(tmp_path: Path) -> None:
    buf = io.BytesIO()
    plot_stats(empty_stats(), buf)
    data = buf.getvalue()
    assert png_size(data) == (1100, 750)
    assert len(data) > 10_000
    plot_stats(make_stats(), str(tmp_path / "full.png"))
    assert (tmp_path / "full.png").read_bytes() != data


@pytest.mark.usefixtures("matplotlib_installed")
def test_plot_panels_show_counts_and_marks() -> None:
    fig = stats_figure(make_stats(), None)
    axes = fig.get_axes()
    titles = [ax.get_title() for ax in axes]
    assert titles[0].startswith(f"tick_duration: {len(TICK_SAMPLES):,} samples")
    assert titles[2].startswith(f"timer_lateness: {len(LATE_SAMPLES):,} samples")
    assert titles[3] == "io_delay: 0 samples"
    assert [t.get_text() for t in axes[3].texts] == ["no samples"]
    legend = [t.get_text() for t in axes[0].get_legend().get_texts()]  # type: ignore[union-attr]
    assert [x.split()[0] for x in legend] == ["p50", "p99", "max"]
    assert legend[2] == "max 20 ms"
    assert axes[0].get_xscale() == "log"
    # The overflow bucket (a 1000 s sample) is marked as such.
    late_legend = [t.get_text() for t in axes[2].get_legend().get_texts()]  # type: ignore[union-attr]
    assert late_legend[0].startswith("> ") and late_legend[3] == "max 1,000 s"
    assert axes[2].patches[-1].get_hatch() == "//"
    assert axes[2].patches[0].get_hatch() is None
    # One bar per bucket from the first non-empty to the last.
    h = make_stats().tick_duration
    used = [i for i, n in enumerate(h.counts) if n]
    assert len(axes[0].patches) == used[-1] - used[0] + 1
    assert "1,000 ticks" in fig.get_suptitle()
    assert "17 young" in fig.get_supxlabel()
    empty = stats_figure(empty_stats(), "quiet")
    assert all(t.get_text() == "no samples" for ax in empty.get_axes() for t in ax.texts)
    assert empty.get_suptitle().startswith("quiet")
    assert empty.get_supxlabel() == ""  # no GC line without GC control


@pytest.mark.usefixtures("matplotlib_installed")
def test_plot_leaves_pyplot_and_the_backend_alone(tmp_path: Path) -> None:
    r = run_python(f"""
        import sys, matplotlib
        matplotlib.use("svg")
        from nexusloop.latency._export import plot_stats
        from tests.latency.test_export import make_stats
        plot_stats(make_stats(), {str(tmp_path / 'x.png')!r})
        print("backend:", matplotlib.get_backend(), "pyplot:", "matplotlib.pyplot" in sys.modules)
        """)
    assert r.returncode == 0, r.stderr
    assert "backend: svg pyplot: False" in r.stdout
    assert (tmp_path / "x.png").read_bytes()[:8] == PNG_SIGNATURE


def test_plot_bad_input(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="LoopStats"):
        plot_stats(make_stats()._asdict(), tmp_path / "x.png")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path"):
        plot_stats(make_stats(), 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="title"):
        plot_stats(make_stats(), tmp_path / "x.png", title=3)  # type: ignore[arg-type]
    bad = make_stats()
    bad = bad._replace(ready_delay=bad.ready_delay._replace(bounds=tuple(reversed(BOUNDS))))
    with pytest.raises(ValueError, match="increasing|math.inf"):
        plot_stats(bad, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_plot_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends",
                 "matplotlib.backends.backend_agg", "matplotlib.ticker"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"nexusloop\[plot\]"):
        plot_stats(make_stats(), tmp_path / "x.png")
