"""Benchmark workloads for the loop suite (``python -m nexusloop bench``, ``benchmarks/run.py``).

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
import contextlib
import gc
import math
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

Result = dict[str, Any]

# Timed wall time of the lateness workloads (seconds; 2,000 periods of 1 ms); --quick shortens it.
LATENESS_SECONDS = 2.0
LATENESS_QUICK_SECONDS = 0.3
LATENESS_PERIOD = 0.001
LATENESS_TASKS = 200
#: Long-lived objects of ``timer_lateness_gc``'s heap.
LATENESS_HEAP = 300_000
#: ``timer_lateness_gc_paced``: churn steps per second for every loop (asyncio sustains ~400k
#: here with the garbage), so each loop makes the same garbage in the window.
LATENESS_PACE = 250_000

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


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = math.ceil(q / 100.0 * len(sorted_values)) - 1
    return sorted_values[max(0, min(len(sorted_values) - 1, k))]


def timer_lateness(loop: asyncio.AbstractEventLoop, seconds_: float) -> Result:
    """A 1 ms periodic timer chained on absolute deadlines (``call_at``) for ``seconds_`` while
    200 tasks churn (tiny work, then ``sleep(0)``; every 16th step a 0.5 ms sleep instead).

    See :func:`_lateness` for the measure.
    """
    return _lateness(loop, seconds_, garbage=False)


def timer_lateness_gc(loop: asyncio.AbstractEventLoop, seconds_: float) -> Result:
    """:func:`timer_lateness` in a program with a heap and cyclic garbage, as real handlers make:
    ``LATENESS_HEAP`` long-lived objects are made before the loop runs (the application's state)
    and every churn step makes a reference cycle that lives until the task's next step (a
    request-scoped object with a back-reference, held across one ``await``), so CPython's cyclic
    GC runs, young and full collections alike.
    """
    heap = [[i] for i in range(LATENESS_HEAP)]  # noqa: F841  (alive for the whole run)
    return _lateness(loop, seconds_, garbage=True)


def timer_lateness_gc_paced(loop: asyncio.AbstractEventLoop, seconds_: float) -> Result:
    """:func:`timer_lateness_gc` with the churn held to ``LATENESS_PACE`` steps per second (a
    task ahead of the pace sleeps for 200 steps' worth of it): every loop that sustains the pace
    does the same work and makes the same garbage in the window, so CPython's collections fall
    alike and the lateness compares the loops. (Flat out, a faster loop makes more garbage in
    the fixed window and reaches a full collection there more often.)
    """
    heap = [[i] for i in range(LATENESS_HEAP)]  # noqa: F841  (alive for the whole run)
    return _lateness(loop, seconds_, garbage=True, pace=LATENESS_PACE)


def idle_timer_lateness(loop: asyncio.AbstractEventLoop, seconds_: float) -> Result:
    """:func:`timer_lateness` with nothing else to do: between two firings the loop parks (waits
    in the poller until the deadline), so the lateness is the wake-up from the poller's timeout
    (rounded up to whole milliseconds by ``epoll``/``select``) plus the kernel's scheduling delay.
    What ``busy_poll`` is for; ops = timer firings.
    """
    return _lateness(loop, seconds_, garbage=False, tasks=0)


_WAKEUP_SENDER = r"""
import os, struct, sys, time
fd, count, period = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
mono, pack, write = time.monotonic, struct.pack, os.write
due = mono() + 0.05  # let the parent park first
for i in range(count):
    wait = due - mono()
    if wait > 0:
        time.sleep(wait)
    write(fd, pack("d", mono()))
    due += period * (0.5 + (i * 7919 % 1000) / 1000)  # irregular gaps of 0.5-1.5 periods
os.close(fd)
"""


def io_wakeup(loop: asyncio.AbstractEventLoop, seconds_: float) -> Result:
    """A parked loop woken by I/O from another process: a child writes an 8-byte
    ``time.monotonic()`` stamp into a pipe every ~1 ms (irregular gaps of 0.5-1.5 ms) and a
    reader callback (``add_reader``) takes the delay from the stamp to its start (CLOCK_MONOTONIC
    is system-wide, so the two processes' clocks agree). Nothing else runs: between messages the
    loop waits in the poller, so this is the wake-up path a sparse market-data feed takes (what
    ``busy_poll`` and ``cpu_affinity`` are for). Reported in ``lateness_us``; ops = messages.
    """
    count = max(1, round(seconds_ / LATENESS_PERIOD))
    rfd, wfd = os.pipe()
    os.set_blocking(rfd, False)
    proc = subprocess.Popen(
        [sys.executable, "-c", _WAKEUP_SENDER, str(wfd), str(count), str(LATENESS_PERIOD)],
        pass_fds=(wfd,))
    os.close(wfd)
    mono = time.monotonic
    unpack = struct.unpack
    delays: list[float] = []
    done = loop.create_future()

    def readable() -> None:
        # One message per call: the oldest in the pipe, there when the poll saw the fd ready,
        # so written before ``now`` (a bigger read could take one written after it). An
        # 8-byte write to a pipe is atomic, so a read of 8 bytes is one whole message.
        now = mono()
        try:
            data = os.read(rfd, 8)
        except BlockingIOError:
            return
        if not data:  # the sender is done
            loop.remove_reader(rfd)
            if not done.done():
                done.set_result(None)
            return
        delays.append(now - unpack("d", data)[0])

    async def main() -> None:
        loop.add_reader(rfd, readable)
        await done

    try:
        seconds = _timed_run_until_complete(loop, main())
    finally:
        os.close(rfd)
        if proc.wait(timeout=30) != 0:
            raise RuntimeError(f"the sender process exited with {proc.returncode}")
    if len(delays) != count:
        raise RuntimeError(f"{len(delays)} of {count} messages arrived")
    return _lateness_result(delays, count, seconds, "messages", "time.monotonic")


def _lateness_result(delays: list[float], ops: int, seconds: float, unit: str,
                     clock: str) -> Result:
    """The result of a lateness workload: ``delays`` (seconds) as percentiles in µs."""
    lat = sorted(x * 1e6 for x in delays)
    return {
        "ops": ops,
        "seconds": seconds,
        "unit": unit,
        "lateness_us": {
            "p50": _percentile(lat, 50),
            "p99": _percentile(lat, 99),
            "max": lat[-1],
            "min": lat[0],
            "samples": len(lat),
            "early_pct": 100.0 * sum(1 for x in lat if x < 0) / len(lat),
        },
        "rss_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "lateness_clock": clock,
    }


def _lateness(loop: asyncio.AbstractEventLoop, seconds_: float, *, garbage: bool,
              tasks: int = LATENESS_TASKS, pace: float = 0.0) -> Result:
    """The measure of the two timer_lateness workloads.

    Lateness = clock at callback start - scheduled deadline (deadlines in loop time). The clock
    is ``time.monotonic()`` when ``loop.time()`` agrees with it within 2 ms (asyncio uses it;
    uvloop's ``time()`` is the same CLOCK_MONOTONIC cached and truncated to whole milliseconds,
    so the finer clock gives honest sub-millisecond numbers), otherwise ``loop.time()``.
    Ops = churn steps done meanwhile (a loop that is punctual but starves the tasks shows here);
    with no churning ``tasks``, the timer firings. ``pace``: at most that many churn steps per
    second (0: flat out).
    """
    period = LATENESS_PERIOD
    mono = time.monotonic
    use_mono = abs(loop.time() - mono()) < 0.002
    clock = mono if use_mono else loop.time
    count = max(1, round(seconds_ / period))
    lateness: list[float] = []
    steps = 0
    stop_flag = False
    deadline = 0.0
    started = 0.0
    held_back = tasks / pace if pace else 0.0
    done = loop.create_future()

    async def churn(i: int) -> None:
        nonlocal steps
        sleep = asyncio.sleep
        k = i
        held: Any = None
        while not stop_flag:
            x = 0
            for j in range(8):  # small work
                x += j * k
            k += 1
            steps += 1
            if garbage:
                node: dict[str, Any] = {"step": k}
                node["self"] = node  # a cycle, collectable only by the cyclic GC
                held = node  # noqa: F841  (alive until the next step replaces it)
            if pace and steps > pace * (clock() - started):
                await sleep(held_back)  # ahead of the pace: the others' turns at the pace
            elif k & 15 == 0:
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
        nonlocal deadline, stop_flag, started
        started = clock()
        churning = [loop.create_task(churn(i)) for i in range(tasks)]
        await asyncio.sleep(0)  # let the churn start
        deadline = loop.time() + period
        loop.call_at(deadline, tick)
        await done
        stop_flag = True
        await asyncio.gather(*churning)

    seconds = _timed_run_until_complete(loop, main())
    return _lateness_result(lateness, steps if tasks else len(lateness), seconds,
                            "churn steps" if tasks else "timer firings",
                            "time.monotonic" if use_mono else "loop.time")


# ---------------------------------------------------------------------------------------------
# Network (the "net" suite): client and server both on the loop under test, in one process,
# loopback only. Setup (server, connections) and teardown (closing every socket) are not timed;
# the timed part is the traffic. Every run is bounded: NET_TIMEOUT overall, NET_STALL without
# progress, either one fails the run (TimeoutError) instead of hanging. Teardown closes every
# transport of both sides and waits for each connection_lost; socket fds still open after that
# are reported (``sockets_left_open``), not failed.

#: A timed network section longer than this fails the run (seconds).
NET_TIMEOUT = 30.0
#: No round trip completed for this long fails the run (a lost datagram, a stuck transport).
NET_STALL = 5.0
#: Setup and teardown are bounded too.
NET_SETUP_TIMEOUT = 15.0
#: Echo workloads: concurrent clients and message size.
NET_CLIENTS = 10
NET_MSG = 1024
UDP_MSG = 256
#: tcp_short_connections: concurrent workers, request and response sizes.
SHORT_WORKERS = 50
SHORT_REQ = 64
SHORT_RESP = 256
#: tcp_bulk_1mib: message size.
BULK_MSG = 1 << 20
#: Receive buffer of the BufferedProtocol sides.
BUF_SIZE = 65536
LOCALHOST = "127.0.0.1"


def _message(size: int) -> bytes:
    return bytes(i & 0xFF for i in range(size))


def _open_sockets() -> set[str] | None:
    """The process's open socket fds as ``"fd:inode"`` strings (Linux ``/proc``), else None."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    out = set()
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            out.add(f"{fd}:{target}")
    return out


def _not_implemented(what: str, exc: NotImplementedError) -> NotImplementedError:
    """Name the loop method in a bare NotImplementedError (it ends up in the table's notes)."""
    if str(exc):
        return exc
    return NotImplementedError(f"{what} is not implemented")


def _const(obj: Any) -> Callable[[], Any]:
    """A protocol factory returning an already built protocol."""
    return lambda: obj


async def _call(what: str, coro: Any) -> Any:
    try:
        return await coro
    except NotImplementedError as exc:
        raise _not_implemented(what, exc) from exc


class _Closer:
    """The live transports (or stream writers) of one side. Teardown closes them all itself
    (not relying on the peer's EOF to close the other side) and ``all_closed()`` waits until
    each one reported ``connection_lost``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.live: set[Any] = set()
        self.total = 0
        self._waiter: asyncio.Future[Any] | None = None

    def opened(self, transport: Any) -> None:
        self.live.add(transport)
        self.total += 1

    def closed(self, transport: Any) -> None:
        self.live.discard(transport)
        if not self.live and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close_all(self) -> None:
        for tr in list(self.live):
            tr.close()

    async def all_closed(self) -> None:
        while self.live:
            self._waiter = self.loop.create_future()
            await self._waiter


async def _guarded(loop: asyncio.AbstractEventLoop, coro: Any,
                   progress: Callable[[], int]) -> None:
    """Await ``coro``; fail with TimeoutError after NET_TIMEOUT, or after NET_STALL without
    ``progress()`` changing. One watchdog timer every 0.5 s, nothing on the hot path."""
    task = loop.create_task(coro)
    start = since = loop.time()
    last = progress()
    why = ""
    handle: asyncio.TimerHandle | None = None

    def watch() -> None:
        nonlocal handle, last, since, why
        now = loop.time()
        cur = progress()
        if cur != last:
            last, since = cur, now
        if now - start > NET_TIMEOUT:
            why = f"not done after {NET_TIMEOUT:.0f} s ({cur} ops)"
        elif now - since > NET_STALL:
            why = f"no progress for {NET_STALL:.0f} s ({cur} ops done)"
        if why:
            task.cancel()
        else:
            handle = loop.call_later(0.5, watch)

    handle = loop.call_later(0.5, watch)
    try:
        await task
    except asyncio.CancelledError:
        if why:
            raise TimeoutError(why) from None
        raise
    finally:
        if handle is not None:
            handle.cancel()


async def _phase(what: str, coro: Any) -> Any:
    try:
        return await asyncio.wait_for(coro, NET_SETUP_TIMEOUT)
    except TimeoutError:
        raise TimeoutError(f"{what} not done after {NET_SETUP_TIMEOUT:.0f} s") from None


def _net_run(loop: asyncio.AbstractEventLoop, setup: Callable[[], Any],
             main: Callable[[], Any], teardown: Callable[[], Any],
             progress: Callable[[], int]) -> Result:
    """Run ``setup()`` (untimed), ``main()`` (timed, guarded), then ``teardown()`` always
    (untimed). Returns ``{"seconds": timed seconds}``, plus ``"sockets_left_open"`` when socket
    fds opened during the run are still open after teardown although every transport reported
    ``connection_lost`` (the loop does not release them: reported, the run still counts)."""
    before = _open_sockets()
    seconds = 0.0
    try:
        loop.run_until_complete(_phase("setup", setup()))
        seconds = _timed_run_until_complete(loop, _guarded(loop, main(), progress))
    except BaseException:
        with contextlib.suppress(Exception):  # the first error is the one to report
            loop.run_until_complete(_phase("teardown", teardown()))
        raise
    loop.run_until_complete(_phase("teardown", teardown()))
    out: Result = {"seconds": seconds}
    if before is not None:
        # Some loops release a closed handle one or two iterations later: give them a moment.
        for i in range(15):
            left = _open_sockets() - before  # type: ignore[operator]
            if not left:
                break
            loop.run_until_complete(asyncio.sleep(0 if i < 10 else 0.01))
        else:
            out["sockets_left_open"] = len(left)
    return out


# --- echo protocols ---------------------------------------------------------------------------


class _EchoServer(asyncio.Protocol):
    """Writes back whatever arrives; pauses reading while its transport's buffer is full."""

    def __init__(self, closer: _Closer) -> None:
        self.closer = closer
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.closer.opened(transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closer.closed(self.transport)


class _BufferedEchoServer(asyncio.BufferedProtocol):
    """BufferedProtocol echo: receives into one preallocated buffer and writes the filled slice
    back. A transport may keep a reference to what it could not send at once: then the next
    receive goes to a fresh buffer."""

    def __init__(self, closer: _Closer) -> None:
        self.closer = closer
        self.transport: Any = None
        self.view = memoryview(bytearray(BUF_SIZE))

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.closer.opened(transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        tr = self.transport
        tr.write(self.view[:nbytes])
        if tr.get_write_buffer_size():
            self.view = memoryview(bytearray(BUF_SIZE))

    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closer.closed(self.transport)


class _EchoClient(asyncio.Protocol):
    """Sends ``msg``, waits until as many bytes came back (however TCP splits them), sends the
    next one; ``rounds`` complete round trips, then resolves ``done``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, closer: _Closer, msg: bytes,
                 rounds: int) -> None:
        self.closer = closer
        self.msg = msg
        self.size = len(msg)
        self.rounds = rounds
        self.count = 0
        self.got = 0
        self.done = loop.create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.closer.opened(transport)

    def start(self) -> None:
        self.transport.write(self.msg)

    def _received(self, n: int) -> None:
        got = self.got + n
        if got < self.size:
            self.got = got
            return
        if got > self.size:  # one message in flight: never more than one echo
            self._fail(AssertionError(f"{got} bytes back for a {self.size}-byte message"))
            return
        self.got = 0
        self.count += 1
        if self.count < self.rounds:
            self.transport.write(self.msg)
        elif not self.done.done():
            self.done.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._received(len(data))

    def _fail(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("connection closed before the last echo"))
        self.closer.closed(self.transport)


class _BufferedEchoClient(asyncio.BufferedProtocol, _EchoClient):
    """The same client as a BufferedProtocol (receives into one preallocated buffer)."""

    def __init__(self, *args: Any) -> None:
        _EchoClient.__init__(self, *args)
        self.view = memoryview(bytearray(BUF_SIZE))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        self._received(nbytes)


def _echo(loop: asyncio.AbstractEventLoop, n: int, *, kind: str = "tcp",
          buffered: bool = False, clients: int = NET_CLIENTS, msg_size: int = NET_MSG,
          unit: str = "round trips", tls: bool = False) -> tuple[Result, int]:
    """Protocol echo over TCP or a Unix socket: ``clients`` connections, each ``n // clients``
    round trips of one ``msg_size`` message (``tls``: over TLS). Returns (result, total round
    trips)."""
    server_tls: dict[str, Any] = {}
    client_tls: dict[str, Any] = {}
    if tls:
        server_context, client_context = _tls_contexts()
        server_tls = {"ssl": server_context}
        client_tls = {"ssl": client_context, "server_hostname": TLS_HOST}
    clients = max(1, min(clients, n))
    rounds = max(1, n // clients)
    msg = _message(msg_size)
    server_closer, client_closer = _Closer(loop), _Closer(loop)
    server_cls = _BufferedEchoServer if buffered else _EchoServer
    client_cls = _BufferedEchoClient if buffered else _EchoClient
    protos: list[_EchoClient] = []
    state: dict[str, Any] = {}

    async def setup() -> None:
        if kind == "unix":
            state["dir"] = tmp = tempfile.mkdtemp(prefix="nexusbench-")
            path = os.path.join(tmp, "echo.sock")
            state["server"] = await _call("loop.create_unix_server", loop.create_unix_server(
                lambda: server_cls(server_closer), path))
        else:
            server = await _call("loop.create_server", loop.create_server(
                lambda: server_cls(server_closer), LOCALHOST, 0, **server_tls))
            state["server"] = server
            port = server.sockets[0].getsockname()[1]
        for _ in range(clients):
            proto = client_cls(loop, client_closer, msg, rounds)
            if kind == "unix":
                await _call("loop.create_unix_connection",
                            loop.create_unix_connection(_const(proto), path))
            else:
                await _call("loop.create_connection",
                            loop.create_connection(_const(proto), LOCALHOST, port, **client_tls))
            protos.append(proto)

    async def main() -> None:
        for p in protos:
            p.start()
        await asyncio.gather(*(p.done for p in protos))

    async def teardown() -> None:
        client_closer.close_all()
        server_closer.close_all()
        await client_closer.all_closed()
        await server_closer.all_closed()
        server = state.get("server")
        if server is not None:
            server.close()
            await server.wait_closed()
        if "dir" in state:
            shutil.rmtree(state["dir"], ignore_errors=True)

    run = _net_run(loop, setup, main, teardown, lambda: sum(p.count for p in protos))
    total = sum(p.count for p in protos)
    assert total == rounds * clients, (total, rounds * clients)
    return {"ops": total, **run, "unit": unit, "clients": clients,
            "msg_bytes": msg_size}, total


def tcp_echo_protocol(loop: asyncio.AbstractEventLoop, n: int, clients: int = NET_CLIENTS
                      ) -> Result:
    """``asyncio.Protocol`` echo server; ``clients`` Protocol clients each do ``n // clients``
    round trips of a 1 KiB message (the next message goes out when the whole echo is back)."""
    return _echo(loop, n, clients=clients)[0]


def tcp_echo_buffered(loop: asyncio.AbstractEventLoop, n: int, clients: int = NET_CLIENTS
                      ) -> Result:
    """Like ``tcp_echo_protocol`` with ``asyncio.BufferedProtocol`` on both sides."""
    return _echo(loop, n, buffered=True, clients=clients)[0]


def unix_echo(loop: asyncio.AbstractEventLoop, n: int, clients: int = NET_CLIENTS) -> Result:
    """Like ``tcp_echo_protocol`` over ``create_unix_server``/``create_unix_connection``."""
    return _echo(loop, n, kind="unix", clients=clients)[0]


def tcp_bulk_1mib(loop: asyncio.AbstractEventLoop, n: int, clients: int = 1) -> Result:
    """One connection; the client sends a 1 MiB message, the server echoes it back (flow
    control: it pauses reading while its write buffer is full), the next one goes out when all
    of it is back. Ops = MiB echoed (rate in MiB/s; each MiB crosses loopback twice)."""
    res, _ = _echo(loop, n, clients=clients, msg_size=BULK_MSG, unit="MiB echoed")
    return res


# --- streams --------------------------------------------------------------------------------


def tcp_echo_streams(loop: asyncio.AbstractEventLoop, n: int, clients: int = NET_CLIENTS
                     ) -> Result:
    """``asyncio.start_server`` echo (``reader.read`` / ``writer.write`` + ``drain``) and
    ``clients`` ``open_connection`` clients, each ``n // clients`` round trips of 1 KiB
    (``write`` + ``drain``, then ``readexactly``)."""
    clients = max(1, min(clients, n))
    rounds = max(1, n // clients)
    msg = _message(NET_MSG)
    size = len(msg)
    handlers = _Closer(loop)
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    counts = [0] * clients
    state: dict[str, Any] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.opened(writer)
        try:
            while True:
                data = await reader.read(BUF_SIZE)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            handlers.closed(writer)

    async def setup() -> None:
        server = await _call("asyncio.start_server (loop.create_server)",
                             asyncio.start_server(handle, LOCALHOST, 0))
        state["server"] = server
        port = server.sockets[0].getsockname()[1]
        for _ in range(clients):
            conns.append(await _call("asyncio.open_connection (loop.create_connection)",
                                     asyncio.open_connection(LOCALHOST, port)))

    async def client(i: int) -> None:
        reader, writer = conns[i]
        write, drain, readexactly = writer.write, writer.drain, reader.readexactly
        for _ in range(rounds):
            write(msg)
            await drain()
            await readexactly(size)
            counts[i] += 1

    async def main() -> None:
        await asyncio.gather(*(client(i) for i in range(clients)))

    async def teardown() -> None:
        for _, writer in conns:
            writer.close()
        handlers.close_all()  # the handlers' writers: not relying on EOF to end them
        for _, writer in conns:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await handlers.all_closed()
        server = state.get("server")
        if server is not None:
            server.close()
            await server.wait_closed()

    run = _net_run(loop, setup, main, teardown, lambda: sum(counts))
    total = sum(counts)
    assert total == rounds * clients, (total, rounds * clients)
    return {"ops": total, **run, "unit": "round trips", "clients": clients,
            "msg_bytes": size}


def tcp_short_connections(loop: asyncio.AbstractEventLoop, n: int,
                          clients: int = SHORT_WORKERS) -> Result:
    """``clients`` concurrent workers (default 50), each repeatedly: ``open_connection``, send a
    64-byte request, read the 256-byte response, close (the server closes after responding,
    HTTP/1.0 style). Ops = connections completed (``n`` in total)."""
    req, resp = _message(SHORT_REQ), _message(SHORT_RESP)[::-1]
    handlers = _Closer(loop)
    state: dict[str, Any] = {"left": n, "done": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.opened(writer)
        try:
            await reader.readexactly(SHORT_REQ)
            writer.write(resp)
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            handlers.closed(writer)

    async def setup() -> None:
        server = await _call("asyncio.start_server (loop.create_server)",
                             asyncio.start_server(handle, LOCALHOST, 0, backlog=1024))
        state["server"] = server
        state["port"] = server.sockets[0].getsockname()[1]

    async def worker() -> None:
        port = state["port"]
        while state["left"] > 0:
            state["left"] -= 1
            reader, writer = await _call("asyncio.open_connection (loop.create_connection)",
                                         asyncio.open_connection(LOCALHOST, port))
            try:
                writer.write(req)
                got = await reader.readexactly(SHORT_RESP)
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
            if got != resp:
                raise AssertionError("wrong response")
            state["done"] += 1

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(min(clients, n))))

    async def teardown() -> None:
        handlers.close_all()
        await handlers.all_closed()
        server = state.get("server")
        if server is not None:
            server.close()
            await server.wait_closed()

    run = _net_run(loop, setup, main, teardown, lambda: state["done"])
    assert state["done"] == n == handlers.total, (state["done"], n, handlers.total)
    return {"ops": n, **run, "unit": "connections", "clients": min(clients, n)}


# --- TLS ------------------------------------------------------------------------------------

#: The name on the benchmark's throwaway server certificate.
TLS_HOST = "localhost"
_TLS_CONTEXTS: tuple[Any, Any] | None = None


def _tls_contexts() -> tuple[Any, Any]:
    """(server context, client context) from a throwaway CA made now (``trustme``, dev extra)."""
    global _TLS_CONTEXTS
    if _TLS_CONTEXTS is None:
        import ssl

        try:
            import trustme
        except ImportError as exc:
            raise RuntimeError("the TLS workloads need trustme (pip install trustme)") from exc
        ca = trustme.CA()
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(TLS_HOST, LOCALHOST).configure_cert(server)
        client = ssl.create_default_context()
        ca.configure_trust(client)
        _TLS_CONTEXTS = (server, client)
    return _TLS_CONTEXTS


def tls_echo_protocol(loop: asyncio.AbstractEventLoop, n: int, clients: int = NET_CLIENTS
                      ) -> Result:
    """``tcp_echo_protocol`` over TLS (``ssl=`` on both ends; 1 KiB messages, handshakes done
    in the untimed setup)."""
    return _echo(loop, n, clients=clients, tls=True)[0]


def tls_handshake(loop: asyncio.AbstractEventLoop, n: int, clients: int = 10) -> Result:
    """``clients`` concurrent workers, each repeatedly: ``create_connection(ssl=...)`` (returns
    after the handshake), close, wait for both ends' ``connection_lost``. No session resumption
    (a fresh client context per run, tickets not reused across connections). Ops = handshakes."""
    server_context, client_context = _tls_contexts()
    server_closer, client_closer = _Closer(loop), _Closer(loop)
    state: dict[str, Any] = {"left": n, "done": 0}

    class Side(asyncio.Protocol):
        def __init__(self, closer: _Closer) -> None:
            self.closer = closer
            self.transport: Any = None
            self.lost = loop.create_future()

        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.closer.opened(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            self.closer.closed(self.transport)
            if not self.lost.done():
                self.lost.set_result(None)

    async def setup() -> None:
        server = await _call("loop.create_server", loop.create_server(
            lambda: Side(server_closer), LOCALHOST, 0, ssl=server_context, backlog=1024))
        state["server"] = server
        state["port"] = server.sockets[0].getsockname()[1]

    async def worker() -> None:
        port = state["port"]
        while state["left"] > 0:
            state["left"] -= 1
            transport, side = await _call("loop.create_connection", loop.create_connection(
                lambda: Side(client_closer), LOCALHOST, port, ssl=client_context,
                server_hostname=TLS_HOST))
            transport.close()
            await side.lost
            state["done"] += 1

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(min(clients, n))))
        await server_closer.all_closed()

    async def teardown() -> None:
        client_closer.close_all()
        server_closer.close_all()
        await client_closer.all_closed()
        await server_closer.all_closed()
        server = state.get("server")
        if server is not None:
            server.close()
            await server.wait_closed()

    run = _net_run(loop, setup, main, teardown, lambda: state["done"])
    assert state["done"] == n == server_closer.total, (state["done"], n, server_closer.total)
    return {"ops": n, **run, "unit": "handshakes", "clients": min(clients, n)}


# --- datagrams ------------------------------------------------------------------------------


class _UdpEchoServer(asyncio.DatagramProtocol):
    def __init__(self, closer: _Closer) -> None:
        self.closer = closer
        self.transport: Any = None
        self.error: Exception | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.closer.opened(transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.error = exc

    def connection_lost(self, exc: Exception | None) -> None:
        self.closer.closed(self.transport)


class _UdpEchoClient(asyncio.DatagramProtocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, closer: _Closer, msg: bytes,
                 rounds: int) -> None:
        self.closer = closer
        self.msg = msg
        self.rounds = rounds
        self.count = 0
        self.done = loop.create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.closer.opened(transport)

    def start(self) -> None:
        self.transport.sendto(self.msg)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) != len(self.msg):
            self._fail(AssertionError(f"{len(data)}-byte reply to a {len(self.msg)}-byte datagram"))
            return
        self.count += 1
        if self.count < self.rounds:
            self.transport.sendto(self.msg)
        elif not self.done.done():
            self.done.set_result(None)

    def error_received(self, exc: Exception) -> None:
        self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("endpoint closed before the last reply"))
        self.closer.closed(self.transport)


def udp_echo(loop: asyncio.AbstractEventLoop, n: int, clients: int = NET_CLIENTS) -> Result:
    """``create_datagram_endpoint`` echo server; ``clients`` connected client endpoints each do
    ``n // clients`` request/response round trips of a 256-byte datagram. A lost datagram
    stalls its client: the run then fails after NET_STALL seconds (loopback does not drop at
    this rate; a failure means a loop bug, not noise)."""
    clients = max(1, min(clients, n))
    rounds = max(1, n // clients)
    msg = _message(UDP_MSG)
    server_closer, client_closer = _Closer(loop), _Closer(loop)
    protos: list[_UdpEchoClient] = []
    state: dict[str, Any] = {}

    async def setup() -> None:
        what = "loop.create_datagram_endpoint"
        transport, server = await _call(what, loop.create_datagram_endpoint(
            lambda: _UdpEchoServer(server_closer), local_addr=(LOCALHOST, 0)))
        state["server"] = transport
        addr = transport.get_extra_info("sockname")
        for _ in range(clients):
            proto = _UdpEchoClient(loop, client_closer, msg, rounds)
            await _call(what, loop.create_datagram_endpoint(_const(proto), remote_addr=addr))
            protos.append(proto)

    async def main() -> None:
        for p in protos:
            p.start()
        await asyncio.gather(*(p.done for p in protos))

    async def teardown() -> None:
        client_closer.close_all()
        server_closer.close_all()
        await client_closer.all_closed()
        await server_closer.all_closed()

    run = _net_run(loop, setup, main, teardown, lambda: sum(p.count for p in protos))
    total = sum(p.count for p in protos)
    assert total == rounds * clients, (total, rounds * clients)
    return {"ops": total, **run, "unit": "round trips", "clients": clients,
            "msg_bytes": UDP_MSG}



# --- subprocesses and pipes (in the net suite) -----------------------------------------------

SPAWN_PROGRAM = "/bin/true"
PIPE_CHUNK = 64 * 1024


def subprocess_spawn(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """``asyncio.create_subprocess_exec("/bin/true")`` then ``wait()``, ``n`` times in sequence
    (no pipes: the cost of spawning and of noticing the exit). Ops = children spawned and reaped."""
    true = SPAWN_PROGRAM if os.path.exists(SPAWN_PROGRAM) else shutil.which("true") or "true"

    async def main() -> None:
        for _ in range(n):
            proc = await asyncio.create_subprocess_exec(true)
            code = await proc.wait()
            assert code == 0, code

    seconds = _timed_run_until_complete(loop, asyncio.wait_for(main(), NET_TIMEOUT))
    return {"ops": n, "seconds": seconds, "unit": "spawn+wait"}


class _PipeReader(asyncio.Protocol):
    def __init__(self, total: int, done: asyncio.Future[None]) -> None:
        self.total = total
        self.got = 0
        self.done = done

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        if self.got >= self.total and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("pipe closed early"))


class _PipeWriter(asyncio.Protocol):
    def __init__(self) -> None:
        self.can_write = asyncio.Event()
        self.can_write.set()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()


def pipe_throughput(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """``n`` MiB through one pipe in one process: ``connect_write_pipe`` (64 KiB writes, waiting
    for ``resume_writing`` while paused) into ``connect_read_pipe``. Ops = MiB (rate in MiB/s)."""
    total = n * (1 << 20)
    chunk = _message(PIPE_CHUNK)
    state: dict[str, Any] = {}

    async def setup() -> None:
        rfd, wfd = os.pipe()
        state["done"] = done = loop.create_future()
        state["r"], state["reader"] = await loop.connect_read_pipe(
            lambda: _PipeReader(total, done), open(rfd, "rb", 0))
        state["w"], state["writer"] = await loop.connect_write_pipe(
            _PipeWriter, open(wfd, "wb", 0))

    async def main() -> None:
        transport, writer = state["w"], state["writer"]
        sent = 0
        while sent < total:
            if not writer.can_write.is_set():
                await writer.can_write.wait()
            transport.write(chunk)
            sent += len(chunk)
        await state["done"]

    loop.run_until_complete(asyncio.wait_for(setup(), NET_SETUP_TIMEOUT))
    try:
        seconds = _timed_run_until_complete(loop, asyncio.wait_for(main(), NET_TIMEOUT))
    finally:
        state["w"].close()
        state["r"].close()
        loop.run_until_complete(asyncio.sleep(0.01))
    return {"ops": n, "seconds": seconds, "unit": "MiB", "chunk_bytes": PIPE_CHUNK}



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
    "timer_lateness_gc": timer_lateness_gc,
    "timer_lateness_gc_paced": timer_lateness_gc_paced,
    "idle_timer_lateness": idle_timer_lateness,
    "io_wakeup": io_wakeup,
    # the net suite
    "tcp_echo_streams": tcp_echo_streams,
    "tcp_echo_protocol": tcp_echo_protocol,
    "tcp_echo_buffered": tcp_echo_buffered,
    "tcp_short_connections": tcp_short_connections,
    "udp_echo": udp_echo,
    "unix_echo": unix_echo,
    "tcp_bulk_1mib": tcp_bulk_1mib,
    "subprocess_spawn": subprocess_spawn,
    "pipe_throughput": pipe_throughput,
    "tls_echo_protocol": tls_echo_protocol,
    "tls_handshake": tls_handshake,
}

#: Network workloads (``run.py --suite net``); every other workload is in the core suite.
NET_WORKLOADS = ["tcp_echo_streams", "tcp_echo_protocol", "tcp_echo_buffered",
                 "tcp_short_connections", "udp_echo", "unix_echo", "tcp_bulk_1mib",
                 "subprocess_spawn", "pipe_throughput", "tls_echo_protocol", "tls_handshake"]
SUITES: dict[str, list[str]] = {
    "core": [w for w in WORKLOADS if w not in NET_WORKLOADS],
    "net": list(NET_WORKLOADS),
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
    "timer_lateness_gc": LATENESS_SECONDS,
    "timer_lateness_gc_paced": LATENESS_SECONDS,
    "idle_timer_lateness": LATENESS_SECONDS,
    "io_wakeup": LATENESS_SECONDS,
    "tcp_echo_streams": 20_000,
    "tcp_echo_protocol": 20_000,
    "tcp_echo_buffered": 20_000,
    "tcp_short_connections": 2_000,
    "udp_echo": 20_000,
    "unix_echo": 40_000,
    "tcp_bulk_1mib": 1_000,
    "subprocess_spawn": 500,
    "pipe_throughput": 512,  # MiB: 64 MiB takes only ~30 ms at 2 GiB/s, too short to time well
    "tls_echo_protocol": 20_000,
    "tls_handshake": 500,
}


#: The workloads that measure timer lateness (their size is seconds; one run is the measure).
LATENESS_WORKLOADS = ("timer_lateness", "timer_lateness_gc", "timer_lateness_gc_paced",
                      "idle_timer_lateness", "io_wakeup")


def size_for(name: str, quick: bool) -> Any:
    if name in LATENESS_WORKLOADS:
        return LATENESS_QUICK_SECONDS if quick else LATENESS_SECONDS
    size = SIZES[name]
    return max(1, size // QUICK_DIVISOR) if quick else size
