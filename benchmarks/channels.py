"""Channel benchmark: ``nexusloop.channels.local`` against ``asyncio.Queue``.

Run ``python benchmarks/channels.py`` (``--quick`` for a short run, ``--repeat N``).

Workloads (issue 9 targets in brackets):

* ``pair``: ``try_send`` + ``try_recv`` of one item, N times, against
  ``Queue.put_nowait`` + ``get_nowait`` (no loop involved) [>= 5x];
* ``pipe``: a producer task sends N items to a consumer task through a bounded channel
  (capacity 64, ``await send`` / ``await recv``) against the same through ``asyncio.Queue(64)``
  (``await put`` / ``await get``), on stock asyncio and on nexusloop [>= 2x].

Every (workload, subject, loop, repetition) runs in a fresh process (``--child``), which prints
one JSON line; repetitions interleave the subjects. The median of ``--repeat`` (default 5) is
reported, and the ratio channel/Queue of the medians. Time is ``time.perf_counter()`` around the
measured part only; the collector stays enabled.
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
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {"pair": 1_000_000, "pipe": 500_000}
LOOPS = ["asyncio", "nexusloop"]


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


def _new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "nexusloop":
        import nexusloop

        return nexusloop.new_event_loop()
    return asyncio.new_event_loop()


def child(workload: str, subject: str, loop_name: str, n: int) -> dict[str, Any]:
    if workload == "pair":
        seconds = (_pair_channel if subject == "channel" else _pair_queue)(n)
    else:
        loop = _new_loop(loop_name)
        try:
            coro = (_pipe_channel if subject == "channel" else _pipe_queue)(n)
            t0 = time.perf_counter()
            loop.run_until_complete(coro)
            seconds = time.perf_counter() - t0
        finally:
            loop.close()
    return {"workload": workload, "subject": subject, "loop": loop_name, "n": n,
            "seconds": seconds, "ns_per_item": seconds / n * 1e9}


def _compiled() -> bool:
    from importlib.machinery import EXTENSION_SUFFIXES

    import nexusloop._core._loopcore as core

    return any(str(core.__file__).endswith(s) for s in EXTENSION_SUFFIXES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="sizes / 10")
    ap.add_argument("--child", nargs=3, metavar=("WORKLOAD", "SUBJECT", "LOOP"))
    ap.add_argument("--n", type=int, default=0)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.n)))
        return

    cases = [("pair", "-")] + [("pipe", lp) for lp in LOOPS]
    runs: dict[tuple[str, str, str], list[float]] = {}
    for rep in range(args.repeat):
        for workload, loop_name in cases:
            n = SIZES[workload] // (10 if args.quick else 1)
            subjects = ["channel", "queue"] if rep % 2 == 0 else ["queue", "channel"]
            for subject in subjects:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", workload, subject, loop_name,
                     "--n", str(n)],
                    capture_output=True, text=True, check=True, cwd=ROOT, env=os.environ)
                res = json.loads(out.stdout.strip().splitlines()[-1])
                runs.setdefault((workload, loop_name, subject), []).append(res["ns_per_item"])

    print(f"# channels benchmark: python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cpus, nexusloop compiled: {_compiled()}, "
          f"NEXUSLOOP_NO_EXTENSIONS={os.environ.get('NEXUSLOOP_NO_EXTENSIONS', '')!r}, "
          f"median of {args.repeat}, fresh process per run")
    print("| workload | loop | channel ns/item | Queue ns/item | speed-up (per-run range) |")
    print("|---|---|---:|---:|---:|")
    for workload, loop_name in cases:
        ch = runs[(workload, loop_name, "channel")]
        qu = runs[(workload, loop_name, "queue")]
        mc, mq = statistics.median(ch), statistics.median(qu)
        per_run = sorted(q / c for c, q in zip(ch, qu, strict=True))
        label = {"pair": "try_send+try_recv vs put_nowait+get_nowait",
                 "pipe": "task -> task, capacity 64, send/recv vs put/get"}[workload]
        print(f"| {label} | {loop_name} | {mc:.1f} | {mq:.1f} | {mq / mc:.2f}x "
              f"({per_run[0]:.2f}-{per_run[-1]:.2f}) |")


if __name__ == "__main__":
    main()
