"""Latency-critical code on nexusloop hands cold-path jobs to a stock asyncio loop in a thread.

The hot loop (nexusloop) handles ticks. Every 100th tick it hands a snapshot to the cold loop -
a stock asyncio loop in a ``LoopThread``, where a slow library would live (a database driver,
an HTTP client) - with ``compat.run_on``, and goes on with the next tick at once: the archive
runs on the other thread, and its receipt is awaited at the end. The cold job calls back into
the hot loop (``run_on`` the other way) to read the price at the moment it archives, and its
exceptions cross back like results.

Run: python examples/bridge.py
"""
from __future__ import annotations

import asyncio
import threading

import nexusloop
from nexusloop import compat

book = {"last": 0.0, "ticks": 0}  # hot-loop state: only the hot loop's thread touches it


async def last_price() -> float:
    """Runs on the hot loop (called from the cold one)."""
    return book["last"]


async def archive(snapshot: dict[str, float], hot: asyncio.AbstractEventLoop) -> str:
    """Cold path: runs on the asyncio loop's thread."""
    if snapshot["ticks"] < 0:
        raise ValueError(f"bad snapshot {snapshot}")
    await asyncio.sleep(0.01)  # stands in for a slow driver call
    now = await compat.run_on(hot, last_price())  # ask the hot loop, from the cold one
    return (f"snapshot at tick {snapshot['ticks']:.0f} (price {snapshot['last']:.2f}) archived "
            f"on {threading.current_thread().name}; the hot loop was at {now:.2f} by then")


async def main() -> None:
    hot = asyncio.get_running_loop()
    async with compat.LoopThread(name="cold-path") as cold:  # asyncio.new_event_loop()
        receipts = []
        for tick in range(300):
            book["last"] = 100 + tick * 0.01
            book["ticks"] += 1
            if tick % 100 == 99:  # hand it over; do not wait here
                receipts.append(compat.run_on(cold.loop, archive(dict(book), hot)))
            await asyncio.sleep(0)  # the next tick
        for receipt in await asyncio.gather(*receipts):
            print(receipt)
        try:
            await compat.run_on(cold.loop, archive({"ticks": -1, "last": 0.0}, hot))
        except ValueError as exc:  # the cold path's exception, raised here
            print(f"the cold path refused: {exc}")
    print(f"all {len(receipts)} cold-path jobs done; {book['ticks']} ticks handled on "
          f"{type(hot).__module__}.{type(hot).__name__}")


if __name__ == "__main__":
    nexusloop.run(main())
