"""Channel benchmark: ``nexusloop.channels`` against ``asyncio.Queue``, janus, call_soon_threadsafe.

Run ``python benchmarks/channels.py`` (``--quick`` for a short run, ``--repeat N``,
``--workloads pair,pipe,mpsc_thread,spsc_thread,wakeup`` for a subset).

Workloads (issue 9 targets in brackets):

* ``pair``: ``try_send`` + ``try_recv`` of one item, N times, against
  ``Queue.put_nowait`` + ``get_nowait`` (no loop involved) [>= 5x];
* ``pipe``: a producer task sends N items to a consumer task through a bounded channel
  (capacity 64, ``await send`` / ``await recv``) against the same through ``asyncio.Queue(64)``
  (``await put`` / ``await get``), on stock asyncio and on nexusloop [>= 2x];
* ``mpsc_thread``: one producer thread sends N items (1M) to a consumer task on the loop through
  ``mpsc(1024)`` (``send_blocking`` / ``async for``), against janus (``janus.Queue(maxsize=1024)``:
  ``sync_q.put`` in the thread, ``await async_q.get()`` in the task) and against a
  ``call_soon_threadsafe`` hand-off (the thread calls ``loop.call_soon_threadsafe(q.put_nowait,
  item)`` into an unbounded ``asyncio.Queue``, the task awaits ``q.get()``), on stock asyncio and
  on nexusloop as the receiving loop [>= 3x janus, >= 3x call_soon_threadsafe];
* ``spsc_thread``: the same through ``spsc(1024)``, compared with ``mpsc_thread``'s subjects of
  the same run [spsc >= mpsc];
* ``wakeup``: latency of waking a parked receiver: the producer thread sleeps ~1 ms before each
  of N messages (2000), stamps ``time.perf_counter()`` into it and sends it; the receiver (parked
  in ``recv``) computes the latency when it gets it. Reported: p50/p99 in microseconds for mpsc,
  spsc and a ``call_soon_threadsafe(fut.set_result, stamp)`` hand-off to a task awaiting ``fut``.

Every (workload, subject, loop, repetition) runs in a fresh process (``--child``), which prints
one JSON line; repetitions interleave the subjects. The median of ``--repeat`` (default 5) is
reported, and the ratio channel/Queue of the medians (for the thread workloads: of each
baseline; for ``wakeup``: the medians of the per-run p50 and p99). Time is
``time.perf_counter()`` around the measured part only (for the thread workloads: the whole
``run_until_complete``, thread start and join included); the collector stays enabled.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {"pair": 1_000_000, "pipe": 500_000, "mpsc_thread": 1_000_000,
         "spsc_thread": 1_000_000, "wakeup": 2000}
LOOPS = ["asyncio", "nexusloop"]
WORKLOADS = list(SIZES)
#: The subjects each workload runs (the first is the channel, the rest its baselines).
SUBJECTS = {
    "pair": ["channel", "queue"],
    "pipe": ["channel", "queue"],
    "mpsc_thread": ["mpsc", "janus", "cst"],
    "spsc_thread": ["spsc"],
    "wakeup": ["mpsc", "spsc", "cst"],
}
THREAD_CAPACITY = 1024
WAKEUP_SLEEP = 0.001


def _pair_channel(n: int) -> float:
    from nexusloop.channels import local

    tx, rx = local()
    send, recv = tx.try_send, rx.try_recv
    t0 = time.perf_counter()
    for i in range(n):
        send(i)
        recv()
    return time.perf_counter() - t0


def _pair_queue(n: int) -> float:
    q: asyncio.Queue[int] = asyncio.Queue()
    put, get = q.put_nowait, q.get_nowait
    t0 = time.perf_counter()
    for i in range(n):
        put(i)
        get()
    return time.perf_counter() - t0


async def _pipe_channel(n: int) -> None:
    from nexusloop.channels import Sender, local

    tx, rx = local(64)

    async def produce(tx: Sender[int]) -> None:
        send = tx.send
        for i in range(n):
            await send(i)
        tx.close()

    task = asyncio.get_running_loop().create_task(produce(tx))
    del tx
    recv = rx.recv
    for _ in range(n):
        await recv()
    await task


async def _pipe_queue(n: int) -> None:
    q: asyncio.Queue[int] = asyncio.Queue(64)

    async def produce() -> None:
        put = q.put
        for i in range(n):
            await put(i)

    task = asyncio.get_running_loop().create_task(produce())
    get = q.get
    for _ in range(n):
        await get()
    await task


async def _thread_channel(n: int, flavour: str) -> None:
    """One producer thread -> the consumer (this task) through mpsc/spsc(1024)."""
    from nexusloop import channels

    tx, rx = getattr(channels, flavour)(THREAD_CAPACITY)

    def produce() -> None:
        send = tx.send_blocking
        for i in range(n):
            send(i)
        tx.close()

    thread = threading.Thread(target=produce)
    thread.start()
    count = 0
    async for _ in rx:
        count += 1
    thread.join()
    assert count == n, count


async def _thread_janus(n: int) -> None:
    """One producer thread -> the consumer through janus.Queue(1024) (sync put, async get)."""
    import janus

    q: janus.Queue[int] = janus.Queue(maxsize=THREAD_CAPACITY)

    def produce() -> None:
        put = q.sync_q.put
        for i in range(n):
            put(i)

    thread = threading.Thread(target=produce)
    thread.start()
    get = q.async_q.get
    for _ in range(n):
        await get()
    thread.join()
    q.close()
    await q.wait_closed()


async def _thread_cst(n: int) -> None:
    """One producer thread -> the consumer: call_soon_threadsafe(queue.put_nowait, item) into an
    unbounded asyncio.Queue (no back-pressure), the task awaits queue.get()."""
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[int] = asyncio.Queue()

    def produce() -> None:
        cst, put = loop.call_soon_threadsafe, q.put_nowait
        for i in range(n):
            cst(put, i)

    thread = threading.Thread(target=produce)
    thread.start()
    get = q.get
    for _ in range(n):
        await get()
    thread.join()


async def _wakeup_channel(n: int, flavour: str) -> list[float]:
    """Latencies (s) of items sent by a thread ~1 ms apart to a receiver parked in recv."""
    from nexusloop import channels

    tx, rx = getattr(channels, flavour)(THREAD_CAPACITY)

    def produce() -> None:
        with tx:
            for _ in range(n):
                time.sleep(WAKEUP_SLEEP)
                tx.send_blocking(time.perf_counter())

    thread = threading.Thread(target=produce)
    thread.start()
    now = time.perf_counter
    latencies = []
    async for stamp in rx:
        latencies.append(now() - stamp)
    thread.join()
    return latencies


async def _wakeup_cst(n: int) -> list[float]:
    """The same through call_soon_threadsafe(fut.set_result, stamp): the task parks on a fresh
    future per message, handed to the thread through a queue.SimpleQueue."""
    import queue

    loop = asyncio.get_running_loop()
    futures: queue.SimpleQueue[asyncio.Future[float]] = queue.SimpleQueue()

    def produce() -> None:
        cst = loop.call_soon_threadsafe
        for _ in range(n):
            fut = futures.get()
            time.sleep(WAKEUP_SLEEP)
            cst(fut.set_result, time.perf_counter())

    thread = threading.Thread(target=produce)
    thread.start()
    now = time.perf_counter
    latencies = []
    for _ in range(n):
        fut = loop.create_future()
        futures.put(fut)
        stamp = await fut
        latencies.append(now() - stamp)
    thread.join()
    return latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "nexusloop":
        import nexusloop

        return nexusloop.new_event_loop()
    return asyncio.new_event_loop()


def _coro(workload: str, subject: str, n: int) -> Any:
    if workload == "pipe":
        return (_pipe_channel if subject == "channel" else _pipe_queue)(n)
    if workload in ("mpsc_thread", "spsc_thread"):
        if subject == "janus":
            return _thread_janus(n)
        if subject == "cst":
            return _thread_cst(n)
        return _thread_channel(n, subject)
    if workload == "wakeup":
        return _wakeup_cst(n) if subject == "cst" else _wakeup_channel(n, subject)
    raise ValueError(f"unknown workload {workload!r}")


def child(workload: str, subject: str, loop_name: str, n: int) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if workload == "pair":
        seconds = (_pair_channel if subject == "channel" else _pair_queue)(n)
    else:
        loop = _new_loop(loop_name)
        try:
            coro = _coro(workload, subject, n)
            t0 = time.perf_counter()
            result = loop.run_until_complete(coro)
            seconds = time.perf_counter() - t0
        finally:
            loop.close()
        if workload == "wakeup":
            assert len(result) == n, len(result)
            extra = {"p50_us": _percentile(result, 0.50) * 1e6,
                     "p99_us": _percentile(result, 0.99) * 1e6}
    return {"workload": workload, "subject": subject, "loop": loop_name, "n": n,
            "seconds": seconds, "ns_per_item": seconds / n * 1e9, **extra}


def _compiled() -> bool:
    from importlib.machinery import EXTENSION_SUFFIXES

    import nexusloop._core._loopcore as core

    return any(str(core.__file__).endswith(s) for s in EXTENSION_SUFFIXES)


def _ratio_cell(fast: list[float], slow: list[float]) -> str:
    """``slow/fast`` of the medians, with the range of the per-run ratios."""
    per_run = sorted(b / a for a, b in zip(fast, slow, strict=True))
    return (f"{statistics.median(slow) / statistics.median(fast):.2f}x "
            f"({per_run[0]:.2f}-{per_run[-1]:.2f})")


def _run_child(workload: str, subject: str, loop_name: str, n: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", workload, subject, loop_name, "--n", str(n)],
        capture_output=True, text=True, cwd=ROOT, env=os.environ, check=False)
    if out.returncode != 0:
        sys.exit(f"child {workload} {subject} {loop_name} failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _janus_version() -> str:
    try:
        from importlib.metadata import version

        return version("janus")
    except Exception:  # noqa: BLE001 - only a label
        return "missing"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="sizes / 10")
    ap.add_argument("--workloads", default=",".join(WORKLOADS),
                    help=f"comma-separated subset of {','.join(WORKLOADS)}")
    ap.add_argument("--child", nargs=3, metavar=("WORKLOAD", "SUBJECT", "LOOP"))
    ap.add_argument("--n", type=int, default=0)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.n)))
        return

    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for w in workloads:
        if w not in SIZES:
            ap.error(f"unknown workload {w!r} (known: {', '.join(WORKLOADS)})")
    if "spsc_thread" in workloads and "mpsc_thread" not in workloads:
        workloads.insert(workloads.index("spsc_thread"), "mpsc_thread")  # its baselines
    cases = [(w, lp) for w in WORKLOADS if w in workloads
             for lp in (["-"] if w == "pair" else LOOPS)]
    runs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for rep in range(args.repeat):
        for workload, loop_name in cases:
            n = SIZES[workload] // (10 if args.quick else 1)
            subjects = SUBJECTS[workload]
            k = rep % len(subjects)  # rotate: every subject runs first in some repetition
            for subject in subjects[k:] + subjects[:k]:
                res = _run_child(workload, subject, loop_name, n)
                runs.setdefault((workload, loop_name, subject), []).append(res)

    def ns(workload: str, loop_name: str, subject: str) -> list[float]:
        return [r["ns_per_item"] for r in runs[(workload, loop_name, subject)]]

    command = " ".join(["python benchmarks/channels.py", *sys.argv[1:]])
    print(f"# channels benchmark: python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cpus, nexusloop compiled: {_compiled()}, "
          f"NEXUSLOOP_NO_EXTENSIONS={os.environ.get('NEXUSLOOP_NO_EXTENSIONS', '')!r}, "
          f"janus {_janus_version()}, median of {args.repeat}, fresh process per run")
    print(f"# command: {command}")
    local_cases = [(w, lp) for w, lp in cases if w in ("pair", "pipe")]
    if local_cases:
        print()
        print("| workload | loop | channel ns/item | Queue ns/item | speed-up (per-run range) |")
        print("|---|---|---:|---:|---:|")
        for workload, loop_name in local_cases:
            ch, qu = ns(workload, loop_name, "channel"), ns(workload, loop_name, "queue")
            label = {"pair": "try_send+try_recv vs put_nowait+get_nowait",
                     "pipe": "task -> task, capacity 64, send/recv vs put/get"}[workload]
            print(f"| {label} | {loop_name} | {statistics.median(ch):.1f} | "
                  f"{statistics.median(qu):.1f} | {_ratio_cell(ch, qu)} |")
    thread_loops = [lp for w, lp in cases if w == "mpsc_thread"]
    if thread_loops:
        n = SIZES["mpsc_thread"] // (10 if args.quick else 1)
        print()
        print(f"Thread -> loop, {n} items, capacity {THREAD_CAPACITY} (call_soon_threadsafe: "
              "unbounded); ns/item, speed-up = baseline/channel (per-run range)")
        print()
        print("| channel | loop | channel ns/item | janus ns/item | call_soon_threadsafe ns/item "
              "| vs janus | vs call_soon_threadsafe | spsc vs mpsc |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for loop_name in thread_loops:
            ja, cst = ns("mpsc_thread", loop_name, "janus"), ns("mpsc_thread", loop_name, "cst")
            mp = ns("mpsc_thread", loop_name, "mpsc")
            rows = [("mpsc", mp)]
            if ("spsc_thread", loop_name) in cases:
                rows.append(("spsc", ns("spsc_thread", loop_name, "spsc")))
            for name, ch in rows:
                vs_mpsc = "-" if name == "mpsc" else _ratio_cell(ch, mp)
                print(f"| {name} | {loop_name} | {statistics.median(ch):.1f} | "
                      f"{statistics.median(ja):.1f} | {statistics.median(cst):.1f} | "
                      f"{_ratio_cell(ch, ja)} | {_ratio_cell(ch, cst)} | {vs_mpsc} |")
    wakeup_loops = [lp for w, lp in cases if w == "wakeup"]
    if wakeup_loops:
        n = SIZES["wakeup"] // (10 if args.quick else 1)
        print()
        print(f"Wake-up latency of a parked receiver, {n} messages ~{WAKEUP_SLEEP * 1e3:g} ms "
              "apart, microseconds (median over runs of each run's p50 / p99)")
        print()
        print("| loop | mpsc p50 | mpsc p99 | spsc p50 | spsc p99 "
              "| call_soon_threadsafe p50 | call_soon_threadsafe p99 |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for loop_name in wakeup_loops:
            cells = []
            for subject in SUBJECTS["wakeup"]:
                rs = runs[("wakeup", loop_name, subject)]
                for key in ("p50_us", "p99_us"):
                    cells.append(f"{statistics.median(r[key] for r in rs):.1f}")
            print(f"| {loop_name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
