"""Graceful shutdown: workers under one cancellation token, stopped by SIGINT or SIGTERM.

The seed's pattern: ``block_on`` a main coroutine that starts its workers, awaits the shutdown
signal, cancels the token tree and joins every worker. Each worker's ``finally`` runs (flush,
close, say goodbye); nothing is left running when the process exits.

    python examples/graceful_shutdown.py          # Ctrl-C (or kill -TERM <pid>) to stop

A second signal while the workers wind down raises ``KeyboardInterrupt`` (a stuck shutdown can
still be interrupted).
"""
from __future__ import annotations

import asyncio
import os
import sys

import nexusloop
from nexusloop import CancellationToken

WORKERS = 4


async def worker(n: int, token: CancellationToken, ticks: list[int]) -> int:
    """Tick every 50 ms until the token fires; the cleanup in ``finally`` always runs."""
    async with token.scope():
        try:
            while True:
                await asyncio.sleep(0.05)
                ticks[n] += 1
        finally:
            await asyncio.sleep(0)  # cleanup may await too (flush buffers, close connections)
            print(f"worker {n} stopped after {ticks[n]} ticks", flush=True)
    return ticks[n]


async def main() -> int:
    token = CancellationToken()
    ticks = [0] * WORKERS
    workers = [nexusloop.spawn(worker(n, token.child_token(), ticks)) for n in range(WORKERS)]
    print(f"running {WORKERS} workers in pid {os.getpid()}; Ctrl-C to stop", flush=True)
    sig = await nexusloop.shutdown_signal()
    print(f"received {sig.name}: shutting down", flush=True)
    token.cancel()
    done = [await handle for handle in workers]
    print(f"all {len(done)} workers stopped ({sum(done)} ticks)", flush=True)
    return 0


if __name__ == "__main__":
    with nexusloop.Runtime(signal_handlers=True) as runtime:
        sys.exit(runtime.block_on(main()))
