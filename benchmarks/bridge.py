"""Thread-bridge benchmark: ``compat.run_on`` against ``run_coroutine_threadsafe`` + ``wrap_future``.

Run ``python benchmarks/bridge.py`` (``--quick`` for a short run, ``--repeat N``,
``--foreign asyncio,uvloop`` for a subset).

One round trip: a task on the *caller* loop hands ``f(x)`` (``async def f(x): return x``) to the
*target* loop, running in another thread, and awaits the result. N (20,000) round trips in
sequence, one at a time, so each pays the whole hand-off both ways including the wake-up of the
parked thread on each side. Subjects:

* ``run_on``: ``await compat.run_on(target, f(i))``;
* ``cf``: ``await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(f(i), target))``, the
  standard way.

Directions: ``nexus->foreign`` (nexusloop calls a stock asyncio or uvloop loop: the hot path hands
work to the cold one) and ``foreign->nexus`` (the other way). The caller runs in the main thread,
the target in a ``compat.LoopThread``. Issue #8's target: ``run_on`` >= 2x ``cf``.

Every (direction, foreign loop, subject, repetition) runs in a fresh process (``--child``), which
prints one JSON line; repetitions rotate the subjects' order. The median of ``--repeat`` (default
5) is reported, and the ratio cf/run_on of the medians, with the range of the per-repetition
ratios. Time is ``time.perf_counter()`` around the N round trips only (after 500 warm-up round
trips and a ``gc.collect()``); the collector stays enabled. The JSON also has the process CPU
time of the section: both threads together, close to the wall time when nothing else competes.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
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

N = 20_000
WARMUP = 500
SUBJECTS = ["run_on", "cf"]
DIRECTIONS = ["nexus->foreign", "foreign->nexus"]
FOREIGN = ["asyncio", "uvloop"]


async def f(x: int) -> int:
    return x


async def _round_trips(subject: str, target: asyncio.AbstractEventLoop, n: int) -> int:
    total = 0
    if subject == "run_on":
        from nexusloop.compat import run_on

        for i in range(n):
            total += await run_on(target, f(i))
    else:
        run_coroutine_threadsafe, wrap_future = asyncio.run_coroutine_threadsafe, asyncio.wrap_future
        for i in range(n):
            total += await wrap_future(run_coroutine_threadsafe(f(i), target))
    return total


async def _measure(subject: str, target: asyncio.AbstractEventLoop, n: int) -> dict[str, float]:
    await _round_trips(subject, target, WARMUP)
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    total = await _round_trips(subject, target, n)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert total == n * (n - 1) // 2, total
    return {"seconds": seconds, "cpu_seconds": cpu}


def _factory(name: str) -> Any:
    if name == "nexusloop":
        import nexusloop

        return nexusloop.new_event_loop
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def child(direction: str, foreign: str, subject: str, n: int) -> dict[str, Any]:
    from nexusloop.compat import LoopThread

    caller_name, target_name = (("nexusloop", foreign) if direction == "nexus->foreign"
                                else (foreign, "nexusloop"))
    with LoopThread(_factory(target_name)) as thread:
        loop = _factory(caller_name)()
        try:
            res = loop.run_until_complete(_measure(subject, thread.loop, n))
        finally:
            loop.close()
    return {"direction": direction, "foreign": foreign, "subject": subject, "n": n,
            "caller": caller_name, "target": target_name, **res,
            "rate": n / res["seconds"], "us_per_round_trip": res["seconds"] / n * 1e6}


def _run_child(direction: str, foreign: str, subject: str, n: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", direction, foreign, subject, "--n", str(n)],
        capture_output=True, text=True, cwd=ROOT, env=os.environ, check=False)
    if out.returncode != 0:
        sys.exit(f"child {direction} {foreign} {subject} failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _compiled() -> bool:
    import nexusloop

    return bool(nexusloop.is_compiled())


def _available(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help=f"N / 10 ({N // 10} round trips)")
    ap.add_argument("--foreign", default=",".join(FOREIGN),
                    help=f"comma-separated subset of {','.join(FOREIGN)}")
    ap.add_argument("--json", metavar="PATH", help="write every run and the medians here")
    ap.add_argument("--child", nargs=3, metavar=("DIRECTION", "FOREIGN", "SUBJECT"))
    ap.add_argument("--n", type=int, default=0)
    args = ap.parse_args()
    if args.child:
        direction, foreign_name, subject = args.child
        print(json.dumps(child(direction, foreign_name, subject, args.n)))
        return

    foreign = [name.strip() for name in args.foreign.split(",") if name.strip()]
    for name in foreign:
        if name not in FOREIGN:
            ap.error(f"unknown foreign loop {name!r} (known: {', '.join(FOREIGN)})")
    missing = [name for name in foreign if not _available(name)]
    foreign = [name for name in foreign if name not in missing]
    n = N // 10 if args.quick else N
    cases = [(d, fl) for fl in foreign for d in DIRECTIONS]
    runs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for rep in range(args.repeat):
        for direction, foreign_name in cases:
            k = rep % len(SUBJECTS)
            for subject in SUBJECTS[k:] + SUBJECTS[:k]:
                res = _run_child(direction, foreign_name, subject, n)
                runs.setdefault((direction, foreign_name, subject), []).append(res)

    command = " ".join(["python benchmarks/bridge.py", *sys.argv[1:]])
    print(f"# bridge benchmark: python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cpus, nexusloop compiled: {_compiled()}, "
          f"NEXUSLOOP_NO_EXTENSIONS={os.environ.get('NEXUSLOOP_NO_EXTENSIONS', '')!r}, "
          f"median of {args.repeat}, fresh process per run, {n} sequential round trips")
    print(f"# command: {command}")
    if missing:
        print(f"# not installed, skipped: {', '.join(missing)}")
    print()
    print("| direction | caller -> target | run_on round trips/s | cf round trips/s "
          "| run_on µs | cf µs | speed-up (per-run range) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    medians: dict[str, Any] = {}
    for direction, foreign_name in cases:
        ours = runs[(direction, foreign_name, "run_on")]
        theirs = runs[(direction, foreign_name, "cf")]
        ours_s = [r["seconds"] for r in ours]
        theirs_s = [r["seconds"] for r in theirs]
        per_run = sorted(b / a for a, b in zip(ours_s, theirs_s, strict=True))
        ratio = statistics.median(theirs_s) / statistics.median(ours_s)
        pair = f"{ours[0]['caller']} -> {ours[0]['target']}"
        print(f"| {direction} | {pair} | {n / statistics.median(ours_s):,.0f} | "
              f"{n / statistics.median(theirs_s):,.0f} | "
              f"{statistics.median(ours_s) / n * 1e6:.1f} | "
              f"{statistics.median(theirs_s) / n * 1e6:.1f} | "
              f"{ratio:.2f}x ({per_run[0]:.2f}-{per_run[-1]:.2f}) |")
        medians[f"{direction} {foreign_name}"] = {
            "run_on_seconds": statistics.median(ours_s),
            "cf_seconds": statistics.median(theirs_s), "ratio": ratio}
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"command": command, "n": n, "repeat": args.repeat, "medians": medians,
             "runs": [r for rs in runs.values() for r in rs]}, indent=1))


if __name__ == "__main__":
    main()
