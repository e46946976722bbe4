"""Behaviour of the cross-thread channels ``nexusloop.channels.mpsc`` and ``spsc``.

The receiver runs on stock asyncio and on nexusloop (``any_loop``); senders run in threads
(``send_blocking``, ``try_send``), in tasks of the receiver's own loop, and in tasks of a second
loop running in another thread (stock asyncio, nexusloop, uvloop when installed). Behaviour
shared by both flavours is parametrized over them; spsc tests keep one producer thread at a time.

No timing assertions: short sleeps only give threads a chance to park (the assertions hold
whether they parked or not), and every test is bounded by pytest-timeout. Every thread a test
starts is joined before it ends (``no_thread_leak``), every loop is closed (``any_loop`` checks
file descriptors).
"""
from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future as ConcurrentFuture
from typing import Any, TypeVar

import pytest

import nexusloop
from nexusloop import channels
from nexusloop.channels import (
    ChannelEmpty,
    ChannelFull,
    ChannelStatistics,
    EndOfChannel,
    HandleClosed,
    ReceiverGone,
)

from .conftest import JOIN_TIMEOUT, Threads, give_threads_time, run, settle, until

pytestmark = pytest.mark.timeout(120)

R = TypeVar("R")
Factory = Callable[..., tuple[Any, Any]]

FLAVOURS = ["mpsc", "spsc"]
@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> Factory:
    factory: Factory = getattr(channels, request.param)
    return factory


@pytest.fixture(autouse=True)
def no_thread_leak() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for t in leaked:  # a thread may still be finishing its last line
        t.join(JOIN_TIMEOUT)
    leaked = [t for t in leaked if t.is_alive()]
    assert not leaked, f"threads leaked: {leaked}"




try:
    import uvloop as _uvloop
except ImportError:  # pragma: no cover - uvloop is a dev dependency
    _uvloop = None
else:  # libuv opens two descriptors for the process on first use: not a leak of a test's
    _uvloop.new_event_loop().close()


def _uvloop_factory() -> asyncio.AbstractEventLoop:
    uvloop = pytest.importorskip("uvloop")
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


OTHER_LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "nexusloop": nexusloop.new_event_loop,
    "uvloop": _uvloop_factory,
}


class LoopThread:
    """An event loop running forever in a thread of its own."""

    def __init__(self, factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
        self.loop = factory()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def submit(self, coro: Coroutine[Any, Any, R], timeout: float = 20) -> ConcurrentFuture[R]:
        return asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(JOIN_TIMEOUT)
        assert not self.thread.is_alive()
        self.loop.close()


@pytest.fixture(params=sorted(OTHER_LOOPS))
def other_loop(request: pytest.FixtureRequest) -> Iterator[LoopThread]:
    """A second loop (stock asyncio, nexusloop, uvloop) running in another thread."""
    lt = LoopThread(OTHER_LOOPS[request.param])
    try:
        yield lt
    finally:
        lt.close()


async def bind(tx: Any, rx: Any) -> None:
    """Bind the receiver to the running loop: park a recv, then feed it."""
    task = asyncio.create_task(rx.recv())
    await settle()
    tx.try_send("bind")
    assert await task == "bind"


def check_per_producer_order(got: list[tuple[int, int]], producers: int, count: int) -> None:
    """Every (producer, i) for i < count exactly once, each producer's items in order."""
    assert len(got) == producers * count
    nxt = [0] * producers
    for who, i in got:
        assert i == nxt[who], (who, i, nxt[who])
        nxt[who] += 1
    assert nxt == [count] * producers


# -- public surface ------------------------------------------------------------------------------

def test_names_are_exported() -> None:
    for name in ("mpsc", "spsc", "MpscSender", "MpscReceiver", "SpscSender", "SpscReceiver"):
        assert name in channels.__all__, name
    tx, rx = channels.mpsc()
    assert isinstance(tx, channels.MpscSender) and isinstance(rx, channels.MpscReceiver)
    assert isinstance(tx.clone(), channels.MpscSender)
    tx, rx = channels.spsc()
    assert isinstance(tx, channels.SpscSender) and isinstance(rx, channels.SpscReceiver)
    assert not hasattr(tx, "clone")  # one producer: no clones


# -- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("capacity", [0, -1, -100])
def test_capacity_must_be_positive(flavour: Factory, capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity"):
        flavour(capacity)


@pytest.mark.parametrize("capacity", [1.5, "3", True, False])
def test_capacity_must_be_an_int(flavour: Factory, capacity: Any) -> None:
    with pytest.raises(TypeError, match="capacity"):
        flavour(capacity)


def test_closed_handles_raise(flavour: Factory) -> None:
    tx, rx = flavour(4)
    tx.close()
    assert tx.closed
    with pytest.raises(HandleClosed):
        tx.try_send(1)
    with pytest.raises(HandleClosed):
        tx.send_blocking(1)
    with pytest.raises(HandleClosed):
        tx.send_blocking(1, timeout=0.01)
    with pytest.raises(HandleClosed):
        tx.close()
    with tx:  # a with block on a closed handle does nothing
        pass
    rx.close()
    assert rx.closed
    with pytest.raises(HandleClosed):
        rx.try_recv()
    with pytest.raises(HandleClosed):
        rx.close()
    with rx:
        pass


def test_clone_of_a_closed_mpsc_sender_raises() -> None:
    tx, rx = channels.mpsc()
    tx2 = tx.clone()
    tx.close()
    assert not tx2.closed
    with pytest.raises(HandleClosed):
        tx.clone()
    tx2.try_send(1)
    assert rx.try_recv() == 1


def test_with_blocks_close_open_handles(flavour: Factory) -> None:
    tx, rx = flavour()
    with tx as same:
        assert same is tx
        tx.try_send(1)
    assert tx.closed
    with rx as same_rx:
        assert same_rx is rx
        assert rx.try_recv() == 1
        with pytest.raises(EndOfChannel):
            rx.try_recv()
    assert rx.closed


def test_async_calls_on_closed_handles_raise(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = flavour(1)
        tx.close()
        with pytest.raises(HandleClosed):
            await tx.send(1)
        rx.close()
        with pytest.raises(HandleClosed):
            await rx.recv()
    run(any_loop, main())


def test_recv_from_another_loop_raises(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop) -> None:
    tx, rx = flavour(2)
    run(any_loop, bind(tx, rx))
    other = asyncio.new_event_loop()
    try:
        with pytest.raises(RuntimeError):
            other.run_until_complete(rx.recv())  # empty: would wait on the wrong loop
    finally:
        other.close()
    assert rx.statistics().tasks_waiting_receive == 0
    tx.try_send(1)
    assert run(any_loop, rx.recv()) == 1  # the bound loop still works, nothing was lost


def test_recv_from_a_loop_in_another_thread_raises(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, other_loop: LoopThread) -> None:
    tx, rx = flavour(2)
    run(any_loop, bind(tx, rx))
    with pytest.raises(RuntimeError):
        other_loop.submit(rx.recv()).result(JOIN_TIMEOUT)
    tx.try_send(1)
    assert run(any_loop, rx.recv()) == 1


def test_send_blocking_on_the_receivers_running_loop_raises(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop) -> None:
    """It would block the loop that has to drain the channel: a RuntimeError, not a deadlock."""
    async def main() -> None:
        tx, rx = flavour(1)
        await bind(tx, rx)
        tx.try_send(1)  # full
        with pytest.raises(RuntimeError):
            tx.send_blocking(2)
        with pytest.raises(RuntimeError):
            tx.send_blocking(3, timeout=5)
        assert rx.try_recv() == 1
        with pytest.raises(ChannelEmpty):  # nothing was enqueued
            rx.try_recv()
    run(any_loop, main())
    tx, rx = flavour(1)  # the loop is not running: the thread may use send_blocking
    tx.send_blocking(1)
    assert rx.try_recv() == 1


# -- basic behaviour -----------------------------------------------------------------------------

def test_try_send_try_recv_fifo(flavour: Factory) -> None:
    tx, rx = flavour()
    for i in range(100):
        tx.try_send(i)
    assert len(tx) == len(rx) == 100
    assert [rx.try_recv() for _ in range(100)] == list(range(100))
    with pytest.raises(ChannelEmpty):
        rx.try_recv()
    tx.close()
    with pytest.raises(EndOfChannel):
        rx.try_recv()


def test_bounded_try_send_reports_full(flavour: Factory) -> None:
    tx, rx = flavour(2)
    assert tx.capacity == rx.capacity == 2
    tx.try_send("a")
    tx.send_blocking("b")
    with pytest.raises(ChannelFull) as info:
        tx.try_send("c")
    assert info.value.value == "c"
    assert len(rx) == 2
    assert rx.try_recv() == "a"
    tx.try_send("c")
    assert [rx.try_recv(), rx.try_recv()] == ["b", "c"]


def test_unbounded_capacity_is_none_and_statistics(flavour: Factory) -> None:
    tx, rx = flavour()
    assert tx.capacity is None and rx.capacity is None
    assert rx.statistics() == ChannelStatistics(0, None, 1, 1, 0, 0)
    tx.try_send(1)
    assert tx.statistics() == ChannelStatistics(1, None, 1, 1, 0, 0)
    tx.close()
    assert rx.statistics() == ChannelStatistics(1, None, 0, 1, 0, 0)
    rx.close()
    assert rx.statistics().open_receivers == 0


def test_mpsc_statistics_count_clones() -> None:
    tx, rx = channels.mpsc(3)
    tx2 = tx.clone()
    tx3 = tx2.clone()
    assert rx.statistics() == ChannelStatistics(0, 3, 3, 1, 0, 0)
    tx2.close()
    del tx3
    gc.collect()
    assert rx.statistics().open_senders == 1


def test_buffer_survives_last_sender_close(flavour: Factory) -> None:
    tx, rx = flavour(4)
    tx.try_send(1)
    tx.send_blocking(2)
    tx.close()
    assert rx.try_recv() == 1
    assert rx.try_recv() == 2
    with pytest.raises(EndOfChannel):
        rx.try_recv()


@pytest.mark.parametrize("timeout", [0, 0.01, 0.05])
def test_send_blocking_timeout_raises_full_and_sends_nothing(
        flavour: Factory, timeout: float) -> None:
    tx, rx = flavour(1)
    tx.try_send(1)
    with pytest.raises(ChannelFull) as info:
        tx.send_blocking(2, timeout=timeout)
    assert info.value.value == 2
    assert rx.try_recv() == 1
    with pytest.raises(ChannelEmpty):
        rx.try_recv()
    assert rx.statistics().tasks_waiting_send == 0
    tx.send_blocking(3, timeout=timeout)  # room: returns at once
    assert rx.try_recv() == 3


def test_send_blocking_returns_when_room_is_made(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, threads: Threads) -> None:
    async def main() -> None:
        tx, rx = flavour(1)
        tx.try_send(0)
        done: list[str] = []

        def produce() -> None:
            tx.send_blocking(1, timeout=JOIN_TIMEOUT)
            done.append("timeout-1")
            tx.send_blocking(2)
            done.append("no-timeout")

        threads.start(produce)
        assert await rx.recv() == 0
        assert await rx.recv() == 1
        assert await rx.recv() == 2
        await threads.join_all_async()
        assert done == ["timeout-1", "no-timeout"]
    run(any_loop, main())


# -- thread -> loop ------------------------------------------------------------------------------

@pytest.mark.parametrize("capacity", [1, 8, None])
def test_thread_to_loop_async_for(flavour: Factory, any_loop: asyncio.AbstractEventLoop,
                                  threads: Threads, capacity: int | None) -> None:
    async def main() -> list[int]:
        tx, rx = flavour(capacity)

        def produce() -> None:
            with tx:
                for i in range(2000):
                    tx.send_blocking(i)

        threads.start(produce)
        got = [i async for i in rx]
        await threads.join_all_async()
        return got
    assert run(any_loop, main()) == list(range(2000))


def test_parked_receiver_is_woken_by_a_thread(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, threads: Threads) -> None:
    async def main() -> None:
        tx, rx = flavour(4)
        task = asyncio.create_task(rx.recv())
        await settle()
        assert rx.statistics().tasks_waiting_receive == 1
        threads.start(tx.try_send, "from a thread")
        assert await task == "from a thread"
        task = asyncio.create_task(rx.recv())
        await settle()
        threads.start(tx.send_blocking, "blocking")
        assert await task == "blocking"
        await threads.join_all_async()
    run(any_loop, main())


class ArmedCreateFuture:
    """Patches ``loop.create_future`` to run ``action`` once, inside the next call: that is, at
    the moment a recv/send has found it must wait and is about to park (its future is made
    before it is registered as parked). Deterministic check of the park/notify race."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.real = loop.create_future
        self.action: Callable[[], Any] | None = None
        loop.create_future = self  # type: ignore[method-assign]

    def __call__(self) -> asyncio.Future[Any]:
        action, self.action = self.action, None
        if action is not None:
            action()
        return self.real()

    def restore(self) -> None:
        del self.loop.create_future  # type: ignore[method-assign]


@pytest.mark.parametrize("event", ["item", "last-sender-closes"])
def test_what_happens_while_the_receiver_is_about_to_park_is_not_missed(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, threads: Threads,
        event: str) -> None:
    """A thread sends (or closes the last sender) just after recv found the buffer empty and
    before it is parked: recv must still see it (no lost wake-up, no hang)."""
    armed = ArmedCreateFuture(any_loop)

    async def main() -> None:
        tx, rx = flavour()

        def from_a_thread() -> None:
            threads.start(tx.try_send if event == "item" else tx.close,
                          *(["just in time"] if event == "item" else []))
            threads.join_all()  # blocks the loop thread: the thread's call is complete

        armed.action = from_a_thread
        if event == "item":
            assert await rx.recv() == "just in time"
        else:
            with pytest.raises(EndOfChannel):
                await rx.recv()
        assert armed.action is None  # it did run inside recv

    try:
        run(any_loop, main())
    finally:
        armed.restore()


def test_room_made_while_a_sender_is_about_to_park_is_not_missed(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, threads: Threads) -> None:
    """The receiver frees room (from another thread) just after an async send found the
    buffer full and before it is parked: the send must still get in."""
    armed = ArmedCreateFuture(any_loop)

    async def main() -> None:
        tx, rx = flavour(1)
        tx.try_send(0)
        got: list[Any] = []

        def from_a_thread() -> None:
            threads.start(lambda: got.append(rx.try_recv()))
            threads.join_all()

        armed.action = from_a_thread
        await tx.send(1)
        assert armed.action is None
        assert got == [0]
        assert rx.try_recv() == 1

    try:
        run(any_loop, main())
    finally:
        armed.restore()


def test_no_wakeup_while_the_receiver_is_not_parked(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, threads: Threads) -> None:
    """A thread's sends to a busy (not parked) receiver schedule nothing on its loop."""
    calls = 0
    real = any_loop.call_soon_threadsafe

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    any_loop.call_soon_threadsafe = counting  # type: ignore[method-assign]

    async def main() -> None:
        nonlocal calls
        tx, rx = flavour()
        await bind(tx, rx)
        calls = 0
        t = threads.start(lambda: [tx.try_send(i) for i in range(100)])
        t.join(JOIN_TIMEOUT)  # blocks the loop: the receiver is busy, not parked
        threads.join_all()
        assert calls == 0
        assert [await rx.recv() for _ in range(100)] == list(range(100))

    try:
        run(any_loop, main())
    finally:
        del any_loop.call_soon_threadsafe


def test_async_send_from_another_loop_in_another_thread(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, other_loop: LoopThread) -> None:
    """Senders park on their own loop while the buffer is full; the receiver wakes them."""
    tx, rx = flavour(4)

    async def produce() -> None:
        with tx:
            for i in range(1000):
                await tx.send(i)

    async def main() -> list[int]:
        fut = asyncio.wrap_future(other_loop.submit(produce()))
        got = [i async for i in rx]
        await fut
        return got

    assert run(any_loop, main()) == list(range(1000))


def test_async_send_from_the_receivers_own_loop(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[int]:
        tx, rx = flavour(2)

        async def produce() -> None:
            with tx:
                for i in range(300):
                    await tx.send(i)

        task = asyncio.create_task(produce())
        got = [i async for i in rx]
        await task
        return got
    assert run(any_loop, main()) == list(range(300))


def test_mpsc_mixed_producers(any_loop: asyncio.AbstractEventLoop, other_loop: LoopThread,
                              threads: Threads) -> None:
    """Threads (send_blocking, try_send), a task of another loop and a task of the receiver's
    loop, all at once through capacity 4; FIFO per producer."""
    count = 500
    tx, rx = channels.mpsc(4)

    def blocking(s: Any, who: int) -> None:
        with s:
            for i in range(count):
                s.send_blocking((who, i))

    def trying(s: Any, who: int) -> None:
        with s:
            for i in range(count):
                while True:
                    try:
                        s.try_send((who, i))
                        break
                    except ChannelFull:
                        time.sleep(0)

    async def async_sender(s: Any, who: int) -> None:
        with s:
            for i in range(count):
                await s.send((who, i))

    async def main() -> list[tuple[int, int]]:
        threads.start(blocking, tx.clone(), 0)
        threads.start(trying, tx.clone(), 1)
        other = asyncio.wrap_future(other_loop.submit(async_sender(tx.clone(), 2)))
        mine = asyncio.create_task(async_sender(tx.clone(), 3))
        tx.close()
        got = [item async for item in rx]
        await asyncio.gather(other, mine)
        await threads.join_all_async()
        return got

    check_per_producer_order(run(any_loop, main()), 4, count)


def test_mpsc_one_sender_shared_by_threads(any_loop: asyncio.AbstractEventLoop,
                                           threads: Threads) -> None:
    """An MpscSender (not only its clones) may be used by several threads at once."""
    count = 2000
    tx, rx = channels.mpsc(8)

    def produce(who: int) -> None:
        for i in range(count):
            tx.send_blocking((who, i))

    async def main() -> list[tuple[int, int]]:
        for who in range(3):
            threads.start(produce, who)
        got = [await rx.recv() for _ in range(3 * count)]
        await threads.join_all_async()
        tx.close()
        with pytest.raises(EndOfChannel):
            await rx.recv()
        return got

    check_per_producer_order(run(any_loop, main()), 3, count)


def test_spsc_sender_handed_from_thread_to_thread(
        any_loop: asyncio.AbstractEventLoop, threads: Threads) -> None:
    """One producer thread at a time: a second thread may take over once the first is done."""
    tx, rx = channels.spsc(4)

    def produce(start: int, close: bool) -> None:
        for i in range(start, start + 500):
            tx.send_blocking(i)
        if close:
            tx.close()

    async def main() -> list[int]:
        first = threads.start(produce, 0, False)

        def second_after_first() -> None:
            first.join(JOIN_TIMEOUT)
            produce(500, True)

        threads.start(second_after_first)
        got = [i async for i in rx]
        await threads.join_all_async()
        return got
    assert run(any_loop, main()) == list(range(1000))


# -- close and drop ------------------------------------------------------------------------------

def _producers(flavour: Factory) -> int:
    return 4 if flavour is channels.mpsc else 1


@pytest.mark.parametrize("how", ["close", "close-on-loop", "gc"])
def test_receiver_gone_while_threads_block_in_send_blocking(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, threads: Threads,
        how: str) -> None:
    """Every blocked thread gets ReceiverGone carrying its own item."""
    n = _producers(flavour)
    tx, rx = flavour(1)
    tx.try_send("buffered")
    returned: dict[int, Any] = {}
    started = threading.Barrier(n + 1)

    def produce(s: Any, who: int) -> None:
        started.wait(JOIN_TIMEOUT)
        try:
            s.send_blocking(f"item{who}")
        except ReceiverGone as exc:
            returned[who] = exc.value
        else:
            returned[who] = "sent"

    senders = [tx] if n == 1 else [tx.clone() for _ in range(n)]
    for who, s in enumerate(senders):
        threads.start(produce, s, who)
    started.wait(JOIN_TIMEOUT)
    give_threads_time()
    if how == "close":
        rx.close()
    elif how == "close-on-loop":
        async def close() -> None:
            rx.close()
        run(any_loop, close())
    else:
        del rx
        gc.collect()
    threads.join_all()
    assert returned == {who: f"item{who}" for who in range(n)}
    with pytest.raises(ReceiverGone) as info:
        senders[0].try_send("late")
    assert info.value.value == "late"
    with pytest.raises(ReceiverGone) as info:
        senders[0].send_blocking("later")
    assert info.value.value == "later"
    assert len(senders[0]) == 0  # the buffer was discarded


def test_receiver_gone_while_tasks_of_another_loop_wait_in_send(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, other_loop: LoopThread) -> None:
    n = 3 if flavour is channels.mpsc else 1
    tx, rx = flavour(1)
    tx.try_send("buffered")
    senders = [tx] if n == 1 else [tx.clone() for _ in range(n)]

    async def produce() -> dict[int, Any]:
        async def one(s: Any, who: int) -> Any:
            try:
                await s.send(f"item{who}")
            except ReceiverGone as exc:
                return exc.value
            return "sent"

        tasks = [asyncio.create_task(one(s, who)) for who, s in enumerate(senders)]
        return dict(enumerate(await asyncio.gather(*tasks)))

    async def main() -> dict[int, Any]:
        fut = asyncio.wrap_future(other_loop.submit(produce()))
        await asyncio.sleep(0.05)  # let the senders park (the outcome is the same if not)
        rx.close()
        return await fut

    assert run(any_loop, main()) == {who: f"item{who}" for who in range(n)}


def test_receiver_gone_fails_async_sends_on_its_own_loop(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = flavour(1)
        tx.try_send("buffered")
        parked = asyncio.create_task(tx.send("parked"))
        await settle()
        rx.close()
        with pytest.raises(ReceiverGone) as info:
            await parked
        assert info.value.value == "parked"
        with pytest.raises(ReceiverGone) as info:
            await tx.send("later")
        assert info.value.value == "later"
    run(any_loop, main())


def test_closing_the_receiver_fails_a_parked_recv(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = flavour()
        task = asyncio.create_task(rx.recv())
        await settle()
        rx.close()
        with pytest.raises(HandleClosed):
            await task
    run(any_loop, main())


@pytest.mark.parametrize("how", ["close", "drop"])
def test_last_sender_gone_in_another_thread_ends_a_parked_receiver(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, threads: Threads,
        how: str) -> None:
    async def main() -> None:
        tx, rx = flavour()
        tx.try_send("before")
        assert await rx.recv() == "before"
        box = [tx]
        del tx
        task = asyncio.create_task(rx.recv())
        await settle()
        assert not task.done()
        if how == "close":
            threads.start(box[0].close)
            box.clear()
        else:
            threads.start(box.clear)  # the last reference goes in that thread
        with pytest.raises(EndOfChannel):
            await task
        await threads.join_all_async()
        assert rx.statistics().open_senders == 0
    run(any_loop, main())


def test_mpsc_end_comes_after_the_last_of_several_threads_drops(
        any_loop: asyncio.AbstractEventLoop, threads: Threads) -> None:
    async def main() -> None:
        tx, rx = channels.mpsc()
        boxes = [[tx.clone()] for _ in range(4)]
        del tx  # only the clones, each held by its box, remain
        gc.collect()
        task = asyncio.create_task(rx.recv())
        await settle()

        def send_then_drop(box: list[Any], who: int) -> None:
            box[0].send_blocking(who)
            box.clear()

        for who, box in enumerate(boxes[:3]):
            threads.start(send_then_drop, box, who)
        first = await task
        got = [first] + [await rx.recv() for _ in range(2)]
        await threads.join_all_async()
        assert sorted(got) == [0, 1, 2]
        task = asyncio.create_task(rx.recv())
        await settle()
        assert not task.done()  # one sender left
        threads.start(send_then_drop, boxes[3], 3)
        assert await task == 3
        with pytest.raises(EndOfChannel):
            await rx.recv()
        await threads.join_all_async()
    run(any_loop, main())


def test_senders_garbage_collected_end_the_channel(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = flavour()
        task = asyncio.create_task(rx.recv())
        await settle()
        tx.try_send("x")
        del tx
        gc.collect()
        assert await task == "x"
        with pytest.raises(EndOfChannel):
            await rx.recv()
        assert [i async for i in rx] == []
    run(any_loop, main())


# -- cancellation --------------------------------------------------------------------------------

def test_cancelled_recv_loses_nothing(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = flavour()
        task = asyncio.create_task(rx.recv())
        await settle()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert rx.statistics().tasks_waiting_receive == 0
        tx.try_send("v")
        assert rx.try_recv() == "v"
    run(any_loop, main())


@pytest.mark.parametrize("sender", ["loop-thread", "other-thread", "other-thread-then-yield"])
def test_recv_cancelled_after_its_wakeup_loses_nothing(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, threads: Threads,
        sender: str) -> None:
    """The item sent to a parked recv stays in the buffer if that recv is cancelled before it
    runs, whether the wake-up is already delivered or still on its way."""
    async def main() -> None:
        tx, rx = flavour()
        task = asyncio.create_task(rx.recv())
        await settle()
        if sender == "loop-thread":
            tx.try_send("v")
        else:
            t = threads.start(tx.try_send, "v")
            t.join(JOIN_TIMEOUT)  # blocks the loop: the wake-up is queued, not yet run
            if sender == "other-thread-then-yield":
                await asyncio.sleep(0)  # runs the queued wake-up, but not the woken task
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle()
        assert await rx.recv() == "v"
        tx.try_send("w")
        assert rx.try_recv() == "w"
        with pytest.raises(ChannelEmpty):
            rx.try_recv()
        threads.join_all()
    run(any_loop, main())


def test_recv_under_timeout(flavour: Factory, any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = flavour()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(rx.recv(), 0.01)
        assert rx.statistics().tasks_waiting_receive == 0
        tx.try_send(1)
        assert await rx.recv() == 1
    run(any_loop, main())


def test_cancelled_send_does_not_enqueue(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = flavour(1)
        tx.try_send(0)
        parked = asyncio.create_task(tx.send(1))
        await settle()
        parked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await parked
        assert rx.try_recv() == 0
        await settle()
        with pytest.raises(ChannelEmpty):
            rx.try_recv()
        assert rx.statistics().tasks_waiting_send == 0
    run(any_loop, main())


def test_cancelled_send_on_another_loop_does_not_enqueue(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, other_loop: LoopThread) -> None:
    tx, rx = flavour(1)
    tx.try_send(0)

    async def scenario() -> None:
        parked = asyncio.create_task(tx.send(1))
        await settle()
        parked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await parked

    other_loop.submit(scenario()).result(JOIN_TIMEOUT)
    assert rx.try_recv() == 0
    with pytest.raises(ChannelEmpty):
        rx.try_recv()

    async def later() -> None:  # and no late enqueue once room is made
        await asyncio.sleep(0.02)
        with pytest.raises(ChannelEmpty):
            rx.try_recv()
    run(any_loop, later())


@pytest.mark.parametrize("when", ["before-room", "after-room"])
def test_cancelled_send_does_not_steal_the_wakeup_of_another_sender(
        any_loop: asyncio.AbstractEventLoop, when: str) -> None:
    """Two tasks wait in send; the first is cancelled before or after room is made for it:
    the second still gets in, the first's item never does."""
    async def main() -> None:
        tx, rx = channels.mpsc(1)
        tx.try_send(0)
        first = asyncio.create_task(tx.send(1))
        await settle()
        second = asyncio.create_task(tx.clone().send(2))
        await settle()
        if when == "before-room":
            first.cancel()
            assert rx.try_recv() == 0
        else:
            assert rx.try_recv() == 0  # room, probably offered to `first`...
            first.cancel()             # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await first
        await second
        assert rx.try_recv() == 2
        await settle()
        with pytest.raises(ChannelEmpty):
            rx.try_recv()
    run(any_loop, main())


def test_spsc_cancelled_send_passes_room_to_the_next_send(
        any_loop: asyncio.AbstractEventLoop) -> None:
    """spsc: one producer, so the next send comes after the cancelled one."""
    async def main() -> None:
        tx, rx = channels.spsc(1)
        tx.try_send(0)
        first = asyncio.create_task(tx.send(1))
        await settle()
        assert rx.try_recv() == 0
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await asyncio.wait_for(tx.send(2), 5)
        assert rx.try_recv() == 2
        with pytest.raises(ChannelEmpty):
            rx.try_recv()
    run(any_loop, main())


@pytest.mark.parametrize("wakeup", ["queued", "delivered"])
def test_cancelled_send_on_another_loop_does_not_steal_the_wakeup(
        any_loop: asyncio.AbstractEventLoop, other_loop: LoopThread, wakeup: str) -> None:
    """Two tasks of another loop wait in send; the receiver's thread makes room while that
    loop is blocked, then the first is cancelled before the wake-up ran or after it ran (but
    before the woken task did): the second gets in, the first's item never does."""
    tx, rx = channels.mpsc(1)
    tx.try_send(0)
    parked = threading.Event()
    room = threading.Event()

    async def scenario() -> None:
        first = asyncio.create_task(tx.send(1))
        await settle()
        second = asyncio.create_task(tx.clone().send(2))
        await settle()
        parked.set()
        assert room.wait(JOIN_TIMEOUT)  # blocks this loop: a wake-up can only be queued
        if wakeup == "delivered":
            await asyncio.sleep(0)  # runs queued callbacks, not the tasks they wake
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await second

    fut = other_loop.submit(scenario())
    assert parked.wait(JOIN_TIMEOUT)
    assert rx.try_recv() == 0
    room.set()
    fut.result(JOIN_TIMEOUT)
    assert run(any_loop, rx.recv()) == 2
    with pytest.raises(ChannelEmpty):
        rx.try_recv()


def test_cancelled_send_does_not_steal_the_wakeup_of_a_blocked_thread(
        any_loop: asyncio.AbstractEventLoop, threads: Threads) -> None:
    async def main() -> None:
        tx, rx = channels.mpsc(1)
        tx.try_send(0)
        first = asyncio.create_task(tx.send(1))
        await settle()
        started = threading.Event()

        def blocked() -> None:
            started.set()
            tx.send_blocking(2)

        threads.start(blocked)
        await until(started.is_set)
        await asyncio.sleep(0.05)  # let it block (same outcome if it did not yet)
        assert rx.try_recv() == 0
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await threads.join_all_async()  # the thread gets the room
        assert rx.try_recv() == 2
        with pytest.raises(ChannelEmpty):
            rx.try_recv()
    run(any_loop, main())


# -- threaded stress -----------------------------------------------------------------------------

STRESS_COUNT = 20_000


@pytest.mark.parametrize("capacity", [8, None])
@pytest.mark.parametrize("receive", ["async-for", "try-then-recv"])
def test_stress_threads_to_loop(flavour: Factory, any_loop: asyncio.AbstractEventLoop,
                                threads: Threads, capacity: int | None, receive: str) -> None:
    """mpsc: 4 producer threads, spsc: 1, STRESS_COUNT items each: every item arrives exactly
    once, each producer's items in order, and the channel ends when the producers close."""
    n = _producers(flavour)
    tx, rx = flavour(capacity)

    def produce(s: Any, who: int) -> None:
        with s:
            for i in range(STRESS_COUNT):
                if i % 3 == 0:  # a third through try_send, falling back to send_blocking
                    try:
                        s.try_send((who, i))
                        continue
                    except ChannelFull:
                        pass
                s.send_blocking((who, i))

    async def main() -> list[tuple[int, int]]:
        senders = [tx] if n == 1 else [tx.clone() for _ in range(n)]
        if n > 1:
            tx.close()
        for who, s in enumerate(senders):
            threads.start(produce, s, who)
        del senders
        got: list[tuple[int, int]] = []
        if receive == "async-for":
            got = [item async for item in rx]
        else:
            while True:
                try:
                    got.append(rx.try_recv())
                    continue
                except ChannelEmpty:
                    pass
                except EndOfChannel:
                    break
                try:
                    got.append(await rx.recv())
                except EndOfChannel:
                    break
        await threads.join_all_async()
        return got

    check_per_producer_order(run(any_loop, main(), timeout=100), n, STRESS_COUNT)


@pytest.mark.parametrize("capacity", [8, None])
def test_stress_async_senders_on_other_loops(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, capacity: int | None) -> None:
    """mpsc: producers on two other loops (stock asyncio and nexusloop, two tasks each), spsc:
    one task on one other loop; await send, small capacity: senders park and are woken from
    the receiver's thread."""
    count = STRESS_COUNT // 4
    tx, rx = flavour(capacity)
    kinds = ["asyncio", "nexusloop"] if flavour is channels.mpsc else ["nexusloop"]
    per_loop = 2 if flavour is channels.mpsc else 1
    loops = [LoopThread(OTHER_LOOPS[k]) for k in kinds]
    try:
        async def produce(s: Any, who: int) -> None:
            with s:
                for i in range(count):
                    await s.send((who, i))

        async def main() -> list[tuple[int, int]]:
            futs = []
            who = 0
            for lt in loops:
                for _ in range(per_loop):
                    s = tx if flavour is channels.spsc else tx.clone()
                    futs.append(asyncio.wrap_future(lt.submit(produce(s, who), timeout=100)))
                    who += 1
            if flavour is channels.mpsc:
                tx.close()
            got = [item async for item in rx]
            await asyncio.gather(*futs)
            return got

        got = run(any_loop, main(), timeout=100)
    finally:
        for lt in loops:
            lt.close()
    check_per_producer_order(got, len(kinds) * per_loop, count)


def test_stress_ping_pong_wakes_a_parked_receiver_every_time(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, threads: Threads) -> None:
    """The producer sends the next item only after the receiver took the previous one, so the
    receiver parks for (nearly) every item: a lost wake-up hangs (and the timeout reports it)."""
    rounds = 3000
    tx, rx = flavour(1)
    ack = threading.Event()

    def produce() -> None:
        with tx:
            for i in range(rounds):
                tx.send_blocking(i)
                assert ack.wait(JOIN_TIMEOUT)
                ack.clear()

    async def main() -> int:
        threads.start(produce)
        n = 0
        async for i in rx:
            assert i == n
            n += 1
            ack.set()
        await threads.join_all_async()
        return n

    assert run(any_loop, main(), timeout=100) == rounds


def test_stress_end_of_channel_is_never_lost(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, threads: Threads) -> None:
    """Many short channels: a thread sends a few items and closes (or drops) its sender while
    the receiver parks; the receiver always sees every item, then the end."""
    async def main() -> None:
        for rnd in range(300):
            tx, rx = flavour(2 if rnd % 2 else None)
            box = [tx]
            del tx

            def produce(box: list[Any], k: int, drop: bool) -> None:
                for i in range(k):
                    box[0].send_blocking(i)
                if drop:
                    box.clear()
                else:
                    box[0].close()

            threads.start(produce, box, rnd % 5, rnd % 3 == 0)
            got = [i async for i in rx]
            assert got == list(range(rnd % 5))
        await threads.join_all_async()
    run(any_loop, main(), timeout=100)


def test_stress_receiver_closes_while_threads_send(
        flavour: Factory, any_loop: asyncio.AbstractEventLoop, threads: Threads) -> None:
    """The receiver closes midway: every producer ends with ReceiverGone (no thread stays
    blocked), and what was received is in per-producer order."""
    n = _producers(flavour)
    tx, rx = flavour(4)
    gone: list[int] = []

    def produce(s: Any, who: int) -> None:
        i = 0
        try:
            while True:
                s.send_blocking((who, i))
                i += 1
        except ReceiverGone as exc:
            assert exc.value == (who, i)
            gone.append(who)

    async def main() -> list[tuple[int, int]]:
        senders = [tx] if n == 1 else [tx.clone() for _ in range(n)]
        for who, s in enumerate(senders):
            threads.start(produce, s, who)
        got = [await rx.recv() for _ in range(5000)]
        rx.close()
        await threads.join_all_async()
        return got

    got = run(any_loop, main(), timeout=100)
    assert sorted(gone) == list(range(n))
    nxt = [0] * n
    for who, i in got:
        assert i == nxt[who]
        nxt[who] += 1
