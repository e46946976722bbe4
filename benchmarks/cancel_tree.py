"""Cancellation-tree benchmark: the cost of building and cancelling a tree of CancellationTokens.

Run ``python benchmarks/cancel_tree.py`` (``--repeat N`` fresh processes per cell, default 5;
``--quick`` for 2; ``--size N`` tokens, default 10,000; ``--json FILE`` to keep the raw runs).

Cells (issue #8: "cancellation of a 10,000-token tree ... costs, reported"):

* ``flat``: one root and ``size`` children (``root.child_token()`` each);
* ``deep``: a chain ``size`` long (each token the child of the previous one; only the root and
  the leaf are held, as a program holding a leaf would);
* waiters: ``none``; ``task`` — one task parked in ``await token.cancelled()`` on every 10th
  token (``size / 10`` waiters), and ``cancel()`` called by a task of the same loop; ``thread`` —
  the same waiters, ``cancel()`` called from another thread (one ``call_soon_threadsafe`` per
  loop carries the whole batch).

Measured with ``time.perf_counter()``: **build** (creating the tokens, not the waiter tasks),
**cancel()** (the call itself: marking the tree and handing the waiters their wake-up) and,
with waiters, **all resumed** (from just before ``cancel()`` until the last waiter task has run
again: the ``await gather(...)`` of the waiters returns; for ``thread`` the start is stamped by
the cancelling thread). Each (cell, repetition) runs in a fresh process, after one unmeasured
warm-up round in the same process; the table shows the median over repetitions and, per token,
the cancel cost. The collector stays enabled, but ``gc.collect()`` runs before each measured
phase: otherwise whether a full collection (prompted by the 20,000 objects of the tree) falls
inside a phase depends on what the process allocated before, and the same 1,000-waiter wake-up
measured 3 ms in one process and 13 ms in another. The nexusloop loop is the compiled one (the
header says so, and warns otherwise); the tokens themselves are pure Python (compiling
``nexusloop/cancel.py`` as a plain module measured no gain: allocation dominates).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
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

SHAPES = ["flat", "deep"]
WAITERS = ["none", "task", "thread"]
LOOPS = ["asyncio", "nexusloop"]
WAITER_EVERY = 10


def _build(shape: str, size: int) -> tuple[Any, list[Any]]:
    """The root and the tokens of the tree (for ``deep`` only every 10th, the rest dropped)."""
    from nexusloop.cancel import CancellationToken

    root = CancellationToken()
    kept: list[Any] = []
    if shape == "flat":
        child = root.child_token
        kept = [child() for _ in range(size)]
    else:
        token = root
        for i in range(size):
            token = token.child_token()
            if i % WAITER_EVERY == 0 or i == size - 1:
                kept.append(token)
    return root, kept


def _no_waiters(shape: str, size: int) -> dict[str, float]:
    root, kept = _build(shape, size)  # warm-up round
    root.cancel()
    del root, kept
    gc.collect()
    t0 = time.perf_counter()
    root, kept = _build(shape, size)
    t1 = time.perf_counter()
    gc.collect()
    t2 = time.perf_counter()
    root.cancel()
    t3 = time.perf_counter()
    assert all(t.is_cancelled() for t in kept)
    return {"build": t1 - t0, "cancel": t3 - t2}


async def _with_waiters(shape: str, size: int, mode: str) -> dict[str, float]:
    gc.collect()
    t0 = time.perf_counter()
    root, kept = _build(shape, size)
    t1 = time.perf_counter()
    targets = kept[::WAITER_EVERY] if shape == "flat" else kept[:-1]
    tasks = [asyncio.create_task(t.cancelled()) for t in targets]
    for _ in range(3):
        await asyncio.sleep(0)  # every waiter parked
    gc.collect()
    stamps: dict[str, float] = {}
    if mode == "task":
        c0 = time.perf_counter()
        root.cancel()
        c1 = time.perf_counter()
        await asyncio.gather(*tasks)
        done = time.perf_counter()
    else:
        def cancel_from_thread() -> None:
            stamps["c0"] = time.perf_counter()
            root.cancel()
            stamps["c1"] = time.perf_counter()

        thread = threading.Thread(target=cancel_from_thread)
        thread.start()
        await asyncio.gather(*tasks)
        done = time.perf_counter()
        thread.join()
        c0, c1 = stamps["c0"], stamps["c1"]
    assert all(t.is_cancelled() for t in kept)
    return {"build": t1 - t0, "cancel": c1 - c0, "resumed": done - c0, "waiters": len(tasks)}


def _new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "nexusloop":
        import nexusloop

        return nexusloop.new_event_loop()
    return asyncio.new_event_loop()


def child(shape: str, waiters: str, loop_name: str, size: int) -> dict[str, Any]:
    if waiters == "none":
        return _no_waiters(shape, size)
    result: dict[str, Any] = {}
    for _ in range(2):  # a warm-up round, then the measured one, each on a fresh loop
        loop = _new_loop(loop_name)
        try:
            result = loop.run_until_complete(_with_waiters(shape, size, waiters))
        finally:
            loop.close()
    return result


def _compiled() -> bool:
    import nexusloop

    return bool(nexusloop.is_compiled())


def _cells() -> list[tuple[str, str, str]]:
    cells = []
    for shape in SHAPES:
        cells.append((shape, "none", "-"))
        for waiters in WAITERS[1:]:
            for loop in LOOPS:
                cells.append((shape, waiters, loop))
    return cells


def _fmt_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 repetitions")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--shape", choices=SHAPES, help=argparse.SUPPRESS)
    parser.add_argument("--waiters", choices=WAITERS, help=argparse.SUPPRESS)
    parser.add_argument("--loop", default="-", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(child(args.shape, args.waiters, args.loop, args.size)))
        return

    repeat = 2 if args.quick else args.repeat
    cells = _cells()
    runs: dict[str, list[dict[str, Any]]] = {"|".join(c): [] for c in cells}
    for rep in range(repeat):
        order = cells[rep % len(cells):] + cells[:rep % len(cells)]  # rotate: spread drift
        for shape, waiters, loop in order:
            cmd = [sys.executable, __file__, "--child", "--shape", shape, "--waiters", waiters,
                   "--loop", loop, "--size", str(args.size)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
            if proc.returncode != 0:
                sys.exit(f"child failed: {' '.join(cmd)}\n{proc.stderr}")
            runs["|".join((shape, waiters, loop))].append(json.loads(proc.stdout))

    compiled = _compiled()
    command = "python benchmarks/cancel_tree.py " + " ".join(sys.argv[1:])
    print(f"### Cancelling a {args.size:,}-token tree (median of {repeat} fresh processes)\n")
    print(f"- Command: `{command.strip()}`")
    print(f"- Date: {datetime.date.today().isoformat()}; Python {platform.python_version()}; "
          f"{platform.machine()}, {os.cpu_count()} CPUs; nexusloop loop "
          f"{'compiled' if compiled else '**NOT COMPILED**'}")
    if not compiled:
        print("\n**Warning: the nexusloop loop is not compiled: build it first "
              "(`python setup.py build_ext --inplace`).**")
    print("- waiters: one task in `await token.cancelled()` on every "
          f"{WAITER_EVERY}th token ({args.size // WAITER_EVERY:,}); `task`: cancel() from a task "
          "of the loop, `thread`: from another thread\n")
    print("| tree | waiters | loop | build ms | cancel() ms | cancel() ns/token "
          "| all resumed ms |")
    print("|---|---|---|---:|---:|---:|---:|")
    for shape, waiters, loop in cells:
        data = runs["|".join((shape, waiters, loop))]
        build = statistics.median(r["build"] for r in data)
        cancel = statistics.median(r["cancel"] for r in data)
        resumed = statistics.median(r["resumed"] for r in data) if waiters != "none" else None
        per_token = cancel / args.size * 1e9
        print(f"| {shape} | {waiters} | {loop} | {_fmt_ms(build)} | {_fmt_ms(cancel)} "
              f"| {per_token:.0f} | {_fmt_ms(resumed)} |")
    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "repeat": repeat,
                                         "compiled": compiled, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
