"""How often CPython's collector runs, and how long it pauses, under ``timer_lateness_gc`` (or,
with ``--workload``, its paced variant, the same work per second on every loop).

    python benchmarks/gc_collections.py [--loops asyncio,uvloop,rloop,nexusloop] [--repeat 3]
                                        [--workload timer_lateness_gc_paced]

Each (loop, repetition) in a fresh process: ``timer_lateness_gc`` (2,000 periods of the 1 ms
timer, 200 churning tasks, a 300k-object heap, a reference cycle per churn step) with a
``gc.callbacks`` hook counting collections per generation and timing them. Collections per
million churn steps compare the loops per unit of work (a faster loop makes more garbage per
second); the largest full-collection pause is what a timer can be late by, without GC control.
Full collections that free nothing happen while the workload builds its heap, before the timed
window; "freeing" counts the others (they collect the churn's cycles) and "freed" is the objects
they collect, more for a loop that churned more before the collection came.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def child(loop_name: str, seconds: float, workload: str) -> dict[str, Any]:
    import asyncio
    import gc

    from nexusloop._bench import _workloads as W

    if loop_name == "asyncio":
        loop = asyncio.new_event_loop()
    else:
        module = __import__(loop_name)
        loop = module.new_event_loop()
    counts = [0, 0, 0]
    largest = [0.0, 0.0, 0.0]
    started = [0.0]
    freeing: list[int] = []  # objects collected by each full collection that freed any

    def hook(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        generation = info["generation"]
        counts[generation] += 1
        largest[generation] = max(largest[generation], time.perf_counter() - started[0])
        if generation == 2 and info["collected"]:
            freeing.append(info["collected"])

    asyncio.set_event_loop(loop)
    gc.callbacks.append(hook)
    try:
        result = W.WORKLOADS[workload](loop, seconds)
    finally:
        gc.callbacks.remove(hook)
        loop.close()
    steps = result["ops"]
    return {"steps": steps, "counts": counts, "largest_ms": [x * 1e3 for x in largest],
            "full_per_msteps": counts[2] / steps * 1e6, "p99_us": result["lateness_us"]["p99"],
            "freeing": freeing}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--loops", default="asyncio,uvloop,rloop,nexusloop")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--workload", default="timer_lateness_gc",
                   choices=["timer_lateness_gc", "timer_lateness_gc_paced"])
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.seconds, a.workload)))
        return 0
    print(f"{'loop':<11}{'churn steps':>12}{'young':>7}{'gen 1':>7}{'full':>6}"
          f"{'full / M steps':>16}{'freeing':>9}{'freed':>14}{'largest full':>14}{'p99':>10}")
    for _ in range(a.repeat):
        for name in a.loops.split(","):
            out = subprocess.run([sys.executable, __file__, "--child", name,
                                  "--seconds", str(a.seconds), "--workload", a.workload],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            young, middle, full = r["counts"]
            freed = "/".join(f"{n:,}" for n in r["freeing"]) or "-"
            print(f"{name:<11}{r['steps']:>12,}{young:>7}{middle:>7}{full:>6}"
                  f"{r['full_per_msteps']:>16.2f}{len(r['freeing']):>9}{freed:>14}"
                  f"{r['largest_ms'][2]:>11.1f} ms{r['p99_us'] / 1e3:>7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
