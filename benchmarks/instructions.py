"""Instructions per operation of benchmark workloads, by callgrind (repeatable on a noisy machine).

    python benchmarks/instructions.py --loops rloop,nexusloop --workloads call_soon_chain,call_soon_batch

For each loop and workload, runs the workload under ``valgrind --tool=callgrind`` with N
operations and with none (the same process otherwise: interpreter start, imports, loop
creation), and prints (total(N) - total(0)) / N. Needs valgrind. The workloads are those of
``benchmarks/run.py`` (``nexusloop._bench._workloads``), called directly on a fresh loop.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

CHILD = """
import sys
loop_name, workload, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
from nexusloop._bench import _workloads
if loop_name == "asyncio":
    import asyncio
    loop = asyncio.new_event_loop()
elif loop_name == "uvloop":
    import uvloop
    loop = uvloop.new_event_loop()
elif loop_name == "rloop":
    import rloop
    loop = rloop.new_event_loop()
else:
    import nexusloop
    loop = nexusloop.new_event_loop()
if n:
    getattr(_workloads, workload)(loop, n)
loop.close()
"""


def instructions(loop: str, workload: str, n: int) -> int:
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, "-c", CHILD, loop, workload, str(n)],
        capture_output=True, text=True, check=True, env=dict(os.environ))
    match = re.search(r"refs:\s+([\d,]+)", proc.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{proc.stderr[-2000:]}")
    return int(match.group(1).replace(",", ""))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--loops", default="asyncio,rloop,nexusloop")
    p.add_argument("--workloads", default="call_soon_chain,call_soon_batch,call_later_cancel")
    p.add_argument("-n", type=int, default=100_000, help="operations (default 100,000)")
    a = p.parse_args()
    loops = a.loops.split(",")
    workloads = a.workloads.split(",")
    print(f"instructions per operation, (total(N={a.n:,}) - total(0)) / N, callgrind")
    print(f"{'workload':<22}" + "".join(f"{name:>14}" for name in loops))
    for workload in workloads:
        cells = []
        for loop in loops:
            base = instructions(loop, workload, 0)
            total = instructions(loop, workload, a.n)
            cells.append(f"{(total - base) / a.n:>14,.0f}")
        print(f"{workload:<22}" + "".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
