"""Time for tasks on nexusloop: sleeps, timeouts, intervals, the tick's time, yielding.

All of it runs on the loop's timer wheel, never fires early, and works on any asyncio loop
(on another loop the same code runs on that loop's ``call_at``)::

    import nexusloop
    from nexusloop import time as ntime

    async def main() -> None:
        await ntime.sleep(0.5)
        async with ntime.timeout(2.0):
            await ntime.sleep_until(ntime.event_time() + 1.0)
        iv = ntime.interval(0.1, missed_tick="skip")
        for _ in range(10):
            deadline = await iv.tick()
        await ntime.yield_now()

    nexusloop.run(main())

* :func:`sleep` / :func:`sleep_until` — ``asyncio.sleep`` with a relative or absolute
  (``loop.time()``) deadline;
* :func:`timeout` / :func:`timeout_at` — ``asyncio.timeout`` / ``asyncio.timeout_at``, validated;
* :func:`interval` / :func:`interval_at` — an :class:`Interval` of drift-free deadlines with a
  :class:`MissedTickBehavior` (``burst`` / ``delay`` / ``skip``, as tokio);
* :func:`event_time` — the time captured at the start of the current loop tick (no clock read);
* :func:`yield_now` — give the loop one turn (a cheaper ``asyncio.sleep(0)``).

``docs/time.md`` has the details and the design decisions; the module essay of
``nexusloop.runtime._time`` has the reasons.
"""
from __future__ import annotations

from nexusloop.runtime._time import (
    Interval,
    MissedTick,
    MissedTickBehavior,
    event_time,
    interval,
    interval_at,
    sleep,
    sleep_until,
    timeout,
    timeout_at,
    yield_now,
)

__all__ = [
    "Interval",
    "MissedTick",
    "MissedTickBehavior",
    "event_time",
    "interval",
    "interval_at",
    "sleep",
    "sleep_until",
    "timeout",
    "timeout_at",
    "yield_now",
]
