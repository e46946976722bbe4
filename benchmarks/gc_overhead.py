"""What GC control (``LoopOptions.gc_control``) costs or saves on the scheduling workloads.

``python benchmarks/gc_overhead.py [--repeat 5]``: each (workload, variant, repetition) in a
fresh process; inside it one loop runs the workload twice and the second run is timed, so the
one-off cost of the first ``run_until_complete`` with GC control (a full collection and
``gc.freeze()`` of the heap, a few ms, reported apart) is not in the rate. Median of the
repetitions; the ratio is ``gc_control=True`` over the same loop without it.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WORKLOADS = ["call_soon_chain", "call_soon_batch", "call_later_cancel", "sleep0", "create_task",
             "future_pingpong"]


def child(workload: str, gc_control: bool) -> dict[str, float]:
    import nexusloop
    from nexusloop._bench import _workloads as W

    loop = nexusloop.new_event_loop(gc_control=gc_control)
    try:
        t0 = time.perf_counter()
        loop.run_until_complete(_noop())
        first = time.perf_counter() - t0
        size = W.size_for(workload, False)
        W.WORKLOADS[workload](loop, size)  # warm-up
        result = W.WORKLOADS[workload](loop, size)
    finally:
        loop.close()
    return {"rate": result.get("ops", size) / result["seconds"], "first_run_ms": first * 1e3}


async def _noop() -> None:
    pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--child", nargs=2, metavar=("WORKLOAD", "GC"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1] == "1")))
        return
    print(f"# gc_control overhead: CPython {sys.version.split()[0]}, median of {args.repeat} "
          "fresh processes, second run of each loop timed\n")
    print("| workload | default ops/s | gc_control ops/s | ratio (range) | first run with gc_control |")
    print("|---|---:|---:|---:|---:|")
    for workload in WORKLOADS:
        runs: dict[str, list[dict[str, float]]] = {"0": [], "1": []}
        for _ in range(args.repeat):
            for variant in ("0", "1"):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", workload, variant],
                    capture_output=True, text=True, check=True, timeout=300,
                ).stdout
                runs[variant].append(json.loads(out))
        base = statistics.median(r["rate"] for r in runs["0"])
        ctl = statistics.median(r["rate"] for r in runs["1"])
        pairs = [c["rate"] / b["rate"] for b, c in zip(runs["0"], runs["1"], strict=True)]
        first = statistics.median(r["first_run_ms"] for r in runs["1"])
        print(f"| `{workload}` | {base / 1e3:,.0f}k | {ctl / 1e3:,.0f}k | **{ctl / base:.2f}x** "
              f"({min(pairs):.2f}-{max(pairs):.2f}) | {first:.1f} ms |")


if __name__ == "__main__":
    main()
