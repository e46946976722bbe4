"""Benchmark workloads for the loop suite of ``benchmarks/run.py``.

Every workload is a function ``workload(loop, size) -> dict`` that receives a freshly created,
not yet running event loop. It does its (untimed) setup, then times only the part that runs the
loop with ``time.perf_counter()`` around ``run_until_complete``/``run_forever``, and returns::

    {"ops": <operations performed>, "seconds": <timed wall time>, "unit": "<what an op is>", ...}

plus workload-specific extras (``ns_per_op``, lateness percentiles, ...). The caller closes the
loop. Workloads only use the public ``asyncio.AbstractEventLoop`` API so that any drop-in loop
(stock asyncio, uvloop, nexusloop compiled or pure, rloop, ...) runs exactly the same code.

``SIZES`` holds the default size of each workload, chosen so one child process runs roughly
0.3-1 s on stock asyncio on the reference machine; ``--quick`` divides them by ``QUICK_DIVISOR``.
"""
from __future__ import annotations

import asyncio
import gc
import math
import random
import time
from collections.abc import Callable
from typing import Any

Result = dict[str, Any]

# Timed wall time of the lateness workload (seconds); --quick shortens it.
LATENESS_SECONDS = 1.5
LATENESS_QUICK_SECONDS = 0.3
LATENESS_PERIOD = 0.001
LATENESS_TASKS = 200

QUICK_DIVISOR = 10


def _prepare() -> None:
    """Start every timed section from the same garbage-collector state."""
    gc.collect()


#: CPU time (``time.process_time()``) of the last timed section, for reference next to the
#: wall time: on a shared machine it shows how much of the wall time was spent descheduled.
last_cpu_seconds = 0.0


def _timed_run_forever(loop: asyncio.AbstractEventLoop) -> float:
    global last_cpu_seconds
    _prepare()
    c0 = time.process_time()
    t0 = time.perf_counter()
    loop.run_forever()
    t1 = time.perf_counter()
    last_cpu_seconds = time.process_time() - c0
    return t1 - t0


def _timed_run_until_complete(loop: asyncio.AbstractEventLoop, coro: Any) -> float:
    # Wrap in a task before starting the clock: creating the main task is setup.
    global last_cpu_seconds
    task = loop.create_task(coro)
    _prepare()
    c0 = time.process_time()
    t0 = time.perf_counter()
    loop.run_until_complete(task)
    t1 = time.perf_counter()
    last_cpu_seconds = time.process_time() - c0
    return t1 - t0


# ---------------------------------------------------------------------------------------------
# Callbacks


def call_soon_chain(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """A chain of ``n`` call_soon callbacks, each scheduling the next one."""
    call_soon = loop.call_soon
    left = n

    def cb() -> None:
        nonlocal left
        left -= 1
        if left:
            call_soon(cb)
        else:
            loop.stop()

    call_soon(cb)
    seconds = _timed_run_forever(loop)
    assert left == 0
    return {"ops": n, "seconds": seconds, "unit": "callbacks"}


def call_soon_batch(loop: asyncio.AbstractEventLoop, n: int, batch: int = 1000) -> Result:
    """Schedule ``batch`` callbacks at once from one callback, let them run, repeat until ``n``."""
    call_soon = loop.call_soon
    rounds = max(1, n // batch)
    done = 0
    left = rounds

    def cb() -> None:
        nonlocal done
        done += 1

    def driver() -> None:
        nonlocal left
        if not left:
            loop.stop()
            return
        left -= 1
        for _ in range(batch):
            call_soon(cb)
        call_soon(driver)  # FIFO: runs after the whole batch

    call_soon(driver)
    seconds = _timed_run_forever(loop)
    assert done == rounds * batch, (done, rounds * batch)
    return {"ops": done, "seconds": seconds, "unit": "callbacks"}


# ---------------------------------------------------------------------------------------------
# Timers


def call_later_cancel(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """Schedule ``n`` timers with delays spread over [0, 1 ms), cancel every other one, run until
    the remaining half has fired. Ops = timers scheduled (half cancelled, half fired)."""
    call_later = loop.call_later
    delays = [(i % 1000) * 1e-6 for i in range(n)]
    expected = n - n // 2
    fired = 0

    def cb() -> None:
        nonlocal fired
        fired += 1
        if fired == expected:
            loop.stop()

    def start() -> None:
        handles = [call_later(d, cb) for d in delays]
        for h in handles[1::2]:
            h.cancel()

    loop.call_soon(start)
    seconds = _timed_run_forever(loop)
    assert fired == expected, (fired, expected)
    return {"ops": n, "seconds": seconds, "unit": "timers"}


def _timers_pending(loop: asyncio.AbstractEventLoop, n: int, pending: int) -> Result:
    """Per-operation timer cost while ``pending`` other timers wait far in the future.

    Setup (not timed): ``pending`` timers with deadlines spread randomly over 1000-2000 s.
    Timed: rounds of ``batch`` ops; each round schedules ``batch // 2`` timers at delay 0 that
    fire on the next iteration, and schedules+cancels ``batch // 2`` timers at far-future delays
    (inside the same range as the pending ones). Ops = timers scheduled (each one either fired
    or cancelled), so ``ns_per_op`` covers schedule+cancel and schedule+fire alike.
    """
    batch = 100
    half = batch // 2
    rounds = max(1, n // batch)
    call_later = loop.call_later
    rng = random.Random(12345)

    def never() -> None:  # pragma: no cover - never fires
        raise AssertionError("far-future timer fired")

    keep = [call_later(1000.0 + 1000.0 * rng.random(), never) for _ in range(pending)]
    far = [1000.0 + 1000.0 * rng.random() for _ in range(half)]

    left = rounds
    fired_in_round = 0
    fired_total = 0

    def fire() -> None:
        nonlocal fired_in_round, fired_total
        fired_in_round += 1
        fired_total += 1
        if fired_in_round == half:
            loop.call_soon(round_)

    def round_() -> None:
        nonlocal left, fired_in_round
        if not left:
            loop.stop()
            return
        left -= 1
        fired_in_round = 0
        for d in far:
            call_later(d, never).cancel()
        for _ in range(half):
            call_later(0, fire)

    loop.call_soon(round_)
    seconds = _timed_run_forever(loop)
    ops = rounds * batch
    assert fired_total == rounds * half
    for h in keep:  # leave nothing behind for close()
        h.cancel()
    return {
        "ops": ops,
        "seconds": seconds,
        "unit": "timer ops",
        "ns_per_op": seconds / ops * 1e9,
        "pending": pending,
    }


def timers_pending_1k(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    return _timers_pending(loop, n, 1_000)


def timers_pending_100k(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    return _timers_pending(loop, n, 100_000)


def timers_pending_1m(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    return _timers_pending(loop, n, 1_000_000)


# ---------------------------------------------------------------------------------------------
# Tasks and futures


def sleep0(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """``await asyncio.sleep(0)`` ``n`` times inside one task."""
    sleep = asyncio.sleep

    async def main() -> None:
        for _ in range(n):
            await sleep(0)

    seconds = _timed_run_until_complete(loop, main())
    return {"ops": n, "seconds": seconds, "unit": "sleeps"}


def create_task(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """``create_task`` of a trivial coroutine, then await it, ``n`` times."""

    async def trivial() -> int:
        return 1

    async def main() -> None:
        create = loop.create_task
        total = 0
        for _ in range(n):
            total += await create(trivial())
        assert total == n

    seconds = _timed_run_until_complete(loop, main())
    return {"ops": n, "seconds": seconds, "unit": "tasks"}


def future_pingpong(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """Two tasks ping-pong ``n`` round trips; each round trip creates two futures and resolves
    them across tasks (ping sends a reply future through pong's request future)."""
    create_future = loop.create_future
    req = [create_future()]

    async def pong() -> None:
        for _ in range(n):
            reply = await req[0]
            req[0] = create_future()
            reply.set_result(None)

    async def ping() -> None:
        for _ in range(n):
            reply = create_future()
            req[0].set_result(reply)
            await reply

    async def main() -> None:
        p = loop.create_task(pong())
        await ping()
        await p

    seconds = _timed_run_until_complete(loop, main())
    return {"ops": n, "seconds": seconds, "unit": "round trips"}


def wait_for(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """``await asyncio.wait_for(coro, timeout=10)`` ``n`` times; the timeout never fires."""
    wait_for_ = asyncio.wait_for

    async def trivial() -> int:
        return 1

    async def main() -> None:
        total = 0
        for _ in range(n):
            total += await wait_for_(trivial(), timeout=10)
        assert total == n

    seconds = _timed_run_until_complete(loop, main())
    return {"ops": n, "seconds": seconds, "unit": "wait_for calls"}


# ---------------------------------------------------------------------------------------------
# Latency


def _percentile(sorted_values: list, q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = math.ceil(q / 100.0 * len(sorted_values)) - 1
    return sorted_values[max(0, min(len(sorted_values) - 1, k))]


def timer_lateness(loop: asyncio.AbstractEventLoop, seconds_: float) -> Result:
    """A 1 ms periodic timer chained on absolute deadlines (``call_at``) for ``seconds_`` while
    200 tasks churn (tiny work, then ``sleep(0)``; every 16th step a 0.5 ms sleep instead).

    Lateness = clock at callback start - scheduled deadline (deadlines in loop time). The clock
    is ``time.monotonic()`` when ``loop.time()`` agrees with it within 2 ms (asyncio uses it;
    uvloop's ``time()`` is the same CLOCK_MONOTONIC cached and truncated to whole milliseconds,
    so the finer clock gives honest sub-millisecond numbers), otherwise ``loop.time()``.
    Ops = churn steps done meanwhile (a loop that is punctual but starves the tasks shows here).
    """
    period = LATENESS_PERIOD
    mono = time.monotonic
    use_mono = abs(loop.time() - mono()) < 0.002
    clock = mono if use_mono else loop.time
    count = max(1, round(seconds_ / period))
    lateness: list = []
    steps = 0
    stop_flag = False
    deadline = 0.0
    done = loop.create_future()

    async def churn(i: int) -> None:
        nonlocal steps
        sleep = asyncio.sleep
        k = i
        while not stop_flag:
            x = 0
            for j in range(8):  # small work
                x += j * k
            k += 1
            steps += 1
            if k & 15 == 0:
                await sleep(0.0005)
            else:
                await sleep(0)

    def tick() -> None:
        nonlocal deadline
        lateness.append(clock() - deadline)
        if len(lateness) >= count:
            if not done.done():
                done.set_result(None)
            return
        deadline += period
        loop.call_at(deadline, tick)

    async def main() -> None:
        nonlocal deadline, stop_flag
        tasks = [loop.create_task(churn(i)) for i in range(LATENESS_TASKS)]
        await asyncio.sleep(0)  # let the churn start
        deadline = loop.time() + period
        loop.call_at(deadline, tick)
        await done
        stop_flag = True
        await asyncio.gather(*tasks)

    seconds = _timed_run_until_complete(loop, main())
    lat = sorted(x * 1e6 for x in lateness)
    return {
        "ops": steps,
        "seconds": seconds,
        "unit": "churn steps",
        "lateness_us": {
            "p50": _percentile(lat, 50),
            "p99": _percentile(lat, 99),
            "max": lat[-1],
            "min": lat[0],
            "samples": len(lat),
        },
        "lateness_clock": "time.monotonic" if use_mono else "loop.time",
    }


WORKLOADS: dict[str, Callable[[asyncio.AbstractEventLoop, Any], Result]] = {
    "call_soon_chain": call_soon_chain,
    "call_soon_batch": call_soon_batch,
    "call_later_cancel": call_later_cancel,
    "timers_pending_1k": timers_pending_1k,
    "timers_pending_100k": timers_pending_100k,
    "timers_pending_1m": timers_pending_1m,
    "sleep0": sleep0,
    "create_task": create_task,
    "future_pingpong": future_pingpong,
    "wait_for": wait_for,
    "timer_lateness": timer_lateness,
}

SIZES: dict[str, Any] = {
    "call_soon_chain": 500_000,
    "call_soon_batch": 1_000_000,
    "call_later_cancel": 200_000,
    "timers_pending_1k": 300_000,
    "timers_pending_100k": 300_000,
    "timers_pending_1m": 300_000,
    "sleep0": 200_000,
    "create_task": 100_000,
    "future_pingpong": 80_000,
    "wait_for": 40_000,
    "timer_lateness": LATENESS_SECONDS,
}


def size_for(name: str, quick: bool) -> Any:
    if name == "timer_lateness":
        return LATENESS_QUICK_SECONDS if quick else LATENESS_SECONDS
    size = SIZES[name]
    return max(1, size // QUICK_DIVISOR) if quick else size
