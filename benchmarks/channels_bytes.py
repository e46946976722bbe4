"""Byte-channel benchmark: ``spsc_bytes`` / ``mpsc_bytes`` against ``bytes`` through ``mpsc``.

Run ``python benchmarks/channels_bytes.py`` (``--quick`` for a short run, ``--repeat N``).

One producer thread sends N messages of one size (64 B: 1M messages, 4 KiB: 200k) to a consumer
task on the loop (stock asyncio and nexusloop), which reads each message's length. Subjects:

* ``spsc_bytes claim`` / ``mpsc_bytes claim``: ``view = tx.claim_blocking(size)``,
  ``view[:] = src``, ``tx.commit()``; the consumer ``async for view in rx`` (zero-copy read);
* ``spsc_bytes send`` / ``mpsc_bytes send``: ``tx.send_blocking(src)`` (copies ``src`` into the
  ring, no view);
* ``mpsc bytes``: ``tx.send_blocking(bytes(src))`` through ``channels.mpsc`` (the same payload as
  a new ``bytes`` object per message, as a producer that fills a buffer must make), the consumer
  ``async for b in rx``.

``src`` is a ``bytearray`` of the message size: every subject copies the payload once. The rings
have 1 MiB; ``mpsc`` gets the same byte budget in messages (1 MiB // (size + 8)).

Every (size, subject, loop, repetition) runs in a fresh process (``--child``), which prints one
JSON line; repetitions interleave the subjects. Reported: the median of ``--repeat`` (default 5)
as MB/s (10^6 bytes of payload per second) and messages/s, and the ratio to ``mpsc bytes`` of the
same run. Time is ``time.perf_counter()`` around the whole ``run_until_complete`` (thread start
and join included); the collector stays enabled.
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

COUNTS = {64: 1_000_000, 4096: 200_000}
LOOPS = ["asyncio", "nexusloop"]
SUBJECTS = ["spsc_bytes claim", "spsc_bytes send", "mpsc_bytes claim", "mpsc_bytes send",
            "mpsc bytes"]
RING = 1 << 20


async def _ring(flavour: str, how: str, size: int, n: int) -> int:
    from nexusloop import channels

    tx, rx = getattr(channels, flavour)(RING)
    src = bytearray(b"x" * size)

    def produce() -> None:
        with tx:
            if how == "claim":
                claim, commit = tx.claim_blocking, tx.commit
                for _ in range(n):
                    view = claim(size)
                    view[:] = src
                    commit()
            else:
                send = tx.send_blocking
                for _ in range(n):
                    send(src)

    thread = threading.Thread(target=produce)
    thread.start()
    total = 0
    async for view in rx:
        total += len(view)
    thread.join()
    return total


async def _mpsc(size: int, n: int) -> int:
    from nexusloop import channels

    tx: channels.MpscSender[bytes]
    rx: channels.MpscReceiver[bytes]
    tx, rx = channels.mpsc(RING // (size + 8))
    src = bytearray(b"x" * size)

    def produce() -> None:
        with tx:
            send = tx.send_blocking
            for _ in range(n):
                send(bytes(src))

    thread = threading.Thread(target=produce)
    thread.start()
    total = 0
    async for b in rx:
        total += len(b)
    thread.join()
    return total


def _new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "nexusloop":
        import nexusloop

        return nexusloop.new_event_loop()
    return asyncio.new_event_loop()


def child(size: int, subject: str, loop_name: str, n: int) -> dict[str, Any]:
    if subject == "mpsc bytes":
        coro = _mpsc(size, n)
    else:
        flavour, how = subject.split()
        coro = _ring(flavour, how, size, n)
    loop = _new_loop(loop_name)
    try:
        t0 = time.perf_counter()
        total = loop.run_until_complete(coro)
        seconds = time.perf_counter() - t0
    finally:
        loop.close()
    assert total == n * size, (total, n * size)
    return {"size": size, "subject": subject, "loop": loop_name, "n": n, "seconds": seconds,
            "mb_s": total / seconds / 1e6, "msg_s": n / seconds}


def _compiled() -> bool:
    import nexusloop._core as core
    from nexusloop.channels import _bytes

    return core.is_compiled(_bytes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="counts / 10")
    ap.add_argument("--child", nargs=3, metavar=("SIZE", "SUBJECT", "LOOP"))
    ap.add_argument("--n", type=int, default=0)
    args = ap.parse_args()
    if args.child:
        size, subject, loop_name = args.child
        print(json.dumps(child(int(size), subject, loop_name, args.n)))
        return

    runs: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
    for rep in range(args.repeat):
        for size in COUNTS:
            n = COUNTS[size] // (10 if args.quick else 1)
            for loop_name in LOOPS:
                subjects = SUBJECTS if rep % 2 == 0 else SUBJECTS[::-1]
                for subject in subjects:
                    out = subprocess.run(
                        [sys.executable, __file__, "--child", str(size), subject, loop_name,
                         "--n", str(n)],
                        capture_output=True, text=True, check=True, cwd=ROOT, env=os.environ)
                    res = json.loads(out.stdout.strip().splitlines()[-1])
                    runs.setdefault((size, loop_name, subject), []).append(res)

    print(f"# byte channels benchmark: python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cpus, nexusloop.channels._bytes compiled: {_compiled()}, "
          f"NEXUSLOOP_NO_EXTENSIONS={os.environ.get('NEXUSLOOP_NO_EXTENSIONS', '')!r}, "
          f"median of {args.repeat}, fresh process per run, one producer thread -> loop")
    print("| message | loop | subject | MB/s | messages/s | vs mpsc bytes (per-run range) |")
    print("|---|---|---|---:|---:|---:|")
    for size in COUNTS:
        for loop_name in LOOPS:
            base = [r["mb_s"] for r in runs[(size, loop_name, "mpsc bytes")]]
            for subject in SUBJECTS:
                rs = runs[(size, loop_name, subject)]
                mb = [r["mb_s"] for r in rs]
                msgs = statistics.median(r["msg_s"] for r in rs)
                per_run = sorted(a / b for a, b in zip(mb, base, strict=True))
                ratio = (f"{statistics.median(mb) / statistics.median(base):.2f}x "
                         f"({per_run[0]:.2f}-{per_run[-1]:.2f})")
                label = f"{size} B" if size < 1024 else f"{size // 1024} KiB"
                print(f"| {label} | {loop_name} | {subject} | {statistics.median(mb):.1f} | "
                      f"{msgs:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
