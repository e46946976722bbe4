"""CI: a user's program, type-checked with mypy --strict against the *installed* wheel."""
from __future__ import annotations

import asyncio

import nexusloop
from nexusloop import channels
from nexusloop.testing import VirtualClock


async def main() -> int:
    tx: channels.Sender[int]
    rx: channels.Receiver[int]
    tx, rx = channels.local(8)
    tx.try_send(41)
    tx.close()
    total = 0
    async for item in rx:
        total += item + 1
    return total


opts = nexusloop.LoopOptions(timers_first=True, tasks_per_cycle=64)
result: int = nexusloop.run(main(), options=opts, event_interval=8)
loop: nexusloop.Loop = nexusloop.new_event_loop(busy_poll=False)
with VirtualClock(loop) as clock:
    loop.run_until_complete(asyncio.sleep(10))
    lead: float = clock.lead
loop.close()
compiled: bool = nexusloop.is_compiled()
assert result == 42
