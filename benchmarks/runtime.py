"""Runtime benchmark: ``spawn`` / ``spawn_slab`` / ``yield_now`` / ``abort`` against asyncio.

Run ``python benchmarks/runtime.py`` (``--quick`` for a short run, ``--repeat N``,
``--workloads spawn,yield,rss,abort`` for a subset, ``--markdown`` for tables only).

Workloads (issue 8 targets in brackets):

* ``spawn``: ``await spawn(coro())`` / ``await spawn_slab(coro())`` of a trivial coroutine, N
  times in one task, against ``await loop.create_task(coro())`` on stock asyncio (the baseline
  of the ratios), uvloop, rloop and nexusloop [spawn >= 2x, spawn_slab >= 2.5x asyncio];
* ``yield``: ``await nexusloop.time.yield_now()`` N times in one task on nexusloop, against
  ``await asyncio.sleep(0)`` on nexusloop [>= 1.2x] and on every other loop;
* ``rss``: 1,000,000 ``spawn_slab`` + completion (batches of 100 spawned, then awaited), and the
  same with ``create_task`` on asyncio and nexusloop: peak RSS of the process, RSS after 100k and
  after 1M operations [flat];
* ``abort``: ``spawn`` of a coroutine parked on a future, ``abort()``, ``await`` (CancelledError),
  N times; against ``create_task`` + ``cancel`` + ``await`` on asyncio [reported].

Every (workload, subject, repetition) runs in a fresh process (``--child``) that prints one JSON
line; repetitions interleave the subjects. Medians of ``--repeat`` (default 5) are reported,
with the ratio to the baseline of the same run. Time is ``time.perf_counter()`` around the
measured loop only; the garbage collector stays enabled.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {"spawn": 300_000, "yield": 1_000_000, "rss": 1_000_000, "abort": 100_000}
WORKLOADS = list(SIZES)
#: (subject, loop) pairs per workload; the first is the baseline of the ratios.
SUBJECTS: dict[str, list[tuple[str, str]]] = {
    "spawn": [("create_task", "asyncio"), ("create_task", "uvloop"), ("create_task", "rloop"),
              ("create_task", "nexusloop"), ("spawn", "nexusloop"),
              ("spawn_slab", "nexusloop")],
    "yield": [("sleep0", "asyncio"), ("sleep0", "uvloop"), ("sleep0", "rloop"),
              ("sleep0", "nexusloop"), ("yield_now", "nexusloop")],
    "rss": [("create_task", "asyncio"), ("create_task", "nexusloop"),
            ("spawn_slab", "nexusloop")],
    "abort": [("cancel", "asyncio"), ("cancel", "nexusloop"), ("abort", "nexusloop"),
              ("abort_slab", "nexusloop")],
}


def _new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "asyncio":
        return asyncio.new_event_loop()
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    if name == "rloop":
        import rloop

        return rloop.new_event_loop()  # type: ignore[no-any-return]
    import nexusloop

    return nexusloop.new_event_loop()


def _available(loop: str) -> bool:
    try:
        _new_loop(loop).close()
    except ImportError:
        return False
    return True


async def _trivial() -> int:
    return 1


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


async def _spawn(subject: str, n: int) -> dict[str, Any]:
    import nexusloop.runtime as rt

    make: Callable[[Any], Any]
    if subject == "create_task":
        make = asyncio.get_running_loop().create_task
    elif subject == "spawn":
        make = rt.spawn
    else:
        make = rt.spawn_slab
    t0 = time.perf_counter()
    for _ in range(n):
        await make(_trivial())
    return {"seconds": time.perf_counter() - t0}


async def _yield(subject: str, n: int) -> dict[str, Any]:
    if subject == "yield_now":
        from nexusloop.time import yield_now as pause
    else:
        pause = asyncio.sleep  # type: ignore[assignment]
    t0 = time.perf_counter()
    if subject == "yield_now":
        for _ in range(n):
            await pause()
    else:
        for _ in range(n):
            await pause(0)
    return {"seconds": time.perf_counter() - t0}


async def _rss(subject: str, n: int) -> dict[str, Any]:
    import nexusloop.runtime as rt

    make = asyncio.get_running_loop().create_task if subject == "create_task" else rt.spawn_slab
    batch = 100
    rss_100k = 0
    t0 = time.perf_counter()
    done = 0
    while done < n:
        handles = [make(_trivial()) for _ in range(batch)]
        for handle in handles:
            await handle
        done += batch
        if done == 100_000:
            rss_100k = _rss_kib()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rss_100k_kib": rss_100k, "rss_end_kib": _rss_kib(),
            "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


async def _parked(fut: asyncio.Future[None]) -> None:
    await fut


async def _abort(subject: str, n: int) -> dict[str, Any]:
    import nexusloop.runtime as rt

    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()
    t0 = time.perf_counter()
    if subject == "cancel":
        for _ in range(n):
            task = loop.create_task(_parked(fut))
            await asyncio.sleep(0)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
    else:
        spawn = rt.spawn if subject == "abort" else rt.spawn_slab
        for _ in range(n):
            handle = spawn(_parked(fut))
            await asyncio.sleep(0)
            handle.abort()
            try:
                await handle
            except asyncio.CancelledError:
                pass
    return {"seconds": time.perf_counter() - t0}


RUNNERS = {"spawn": _spawn, "yield": _yield, "rss": _rss, "abort": _abort}


def _child(workload: str, subject: str, loop_name: str, n: int) -> None:
    loop = _new_loop(loop_name)
    try:
        result = loop.run_until_complete(RUNNERS[workload](subject, n))
    finally:
        loop.close()
    result["ops_per_s"] = n / result["seconds"]
    print(json.dumps(result))


def _run_child(workload: str, subject: str, loop_name: str, n: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", workload, subject, loop_name, str(n)],
        capture_output=True, text=True, check=False, timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{workload}/{subject}/{loop_name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _fmt_rate(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M/s"
    return f"{value / 1e3:.1f}k/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", nargs=4, metavar=("WORKLOAD", "SUBJECT", "LOOP", "N"))
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes, 3 repeats")
    parser.add_argument("--markdown", action="store_true", help="print only the tables")
    args = parser.parse_args()
    if args.child:
        workload, subject, loop_name, n = args.child
        _child(workload, subject, loop_name, int(n))
        return
    repeat = 3 if args.quick else args.repeat
    workloads = [w for w in args.workloads.split(",") if w]
    loops_ok = {name: _available(name) for name in ("asyncio", "uvloop", "rloop", "nexusloop")}
    if not args.markdown:
        print(f"# runtime benchmark: {platform.python_implementation()} "
              f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus, "
              f"{time.strftime('%Y-%m-%d')}, median of {repeat}")
    for workload in workloads:
        n = SIZES[workload] // (10 if args.quick else 1)
        subjects = [s for s in SUBJECTS[workload] if loops_ok[s[1]]]
        results: dict[tuple[str, str], list[dict[str, Any]]] = {s: [] for s in subjects}
        for _ in range(repeat):
            for subject in subjects:
                results[subject].append(_run_child(workload, subject[0], subject[1], n))
        base = statistics.median(r["ops_per_s"] for r in results[subjects[0]])
        print(f"\n### `{workload}` (n = {n:,})\n")
        if workload == "rss":
            print("| subject | loop | ops/s | ratio | RSS after 100k | RSS at end | peak RSS |")
            print("|---|---|---:|---:|---:|---:|---:|")
        else:
            print("| subject | loop | ops/s | ratio (range) |")
            print("|---|---|---:|---:|")
        for subject in subjects:
            rates = [r["ops_per_s"] for r in results[subject]]
            med = statistics.median(rates)
            ratio = f"**{med / base:.2f}x** ({min(rates) / base:.2f}-{max(rates) / base:.2f})"
            row = f"| `{subject[0]}` | {subject[1]} | {_fmt_rate(med)} | {ratio} |"
            if workload == "rss":
                rs = results[subject]
                row += (f" {statistics.median(r['rss_100k_kib'] for r in rs) / 1024:.1f} MiB |"
                        f" {statistics.median(r['rss_end_kib'] for r in rs) / 1024:.1f} MiB |"
                        f" {statistics.median(r['peak_rss_kib'] for r in rs) / 1024:.1f} MiB |")
            print(row)


if __name__ == "__main__":
    main()
