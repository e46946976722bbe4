"""Behaviour of ``nexusloop.channels.local`` on stock asyncio and on nexusloop (``any_loop``)."""
from __future__ import annotations

import asyncio
import gc
import importlib
import pkgutil
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

import nexusloop.channels as channels
from nexusloop.channels import (
    ChannelEmpty,
    ChannelError,
    ChannelFull,
    ChannelStatistics,
    EndOfChannel,
    HandleClosed,
    Receiver,
    ReceiverGone,
    Sender,
    local,
)

R = TypeVar("R")


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, R]) -> R:
    return loop.run_until_complete(asyncio.wait_for(coro, 10))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


# -- public surface ------------------------------------------------------------------------------

def test_all_is_accurate_and_documented() -> None:
    assert len(channels.__all__) == len(set(channels.__all__))
    for info in pkgutil.iter_modules(channels.__path__):
        module = importlib.import_module(f"nexusloop.channels.{info.name}")
        for name in getattr(module, "__all__", ()):
            assert name in channels.__all__, name
            assert getattr(channels, name) is getattr(module, name)
    for name in channels.__all__:
        assert "Example::" in (getattr(channels, name).__doc__ or ""), name


def test_errors_share_one_base() -> None:
    for exc in (ChannelEmpty, ChannelFull, EndOfChannel, HandleClosed, ReceiverGone):
        assert issubclass(exc, ChannelError)


# -- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("capacity", [0, -1, -100])
def test_capacity_must_be_positive(capacity: int) -> None:
    with pytest.raises(ValueError, match=r"capacity must be >= 1.*got " + str(capacity)):
        local(capacity)


@pytest.mark.parametrize("capacity", [1.5, "3", True])
def test_capacity_must_be_an_int(capacity: Any) -> None:
    with pytest.raises(TypeError, match="capacity must be an int or None"):
        local(capacity)


def test_closed_handles_raise_clearly() -> None:
    tx: Sender[int]
    rx: Receiver[int]
    tx, rx = local()
    tx2 = tx.clone()
    tx.close()
    assert tx.closed and not tx2.closed
    with pytest.raises(HandleClosed, match="closed Sender"):
        tx.try_send(1)
    with pytest.raises(HandleClosed, match="closed Sender"):
        tx.close()
    with pytest.raises(HandleClosed, match="clone of a closed Sender"):
        tx.clone()
    rx.close()
    with pytest.raises(HandleClosed, match="closed Receiver"):
        rx.try_recv()
    with pytest.raises(HandleClosed, match="closed Receiver"):
        rx.close()
    with tx2:  # a with block on an open handle closes it; on a closed one it does nothing
        pass
    assert tx2.closed
    with tx2:
        pass


def test_send_and_recv_on_closed_handles_raise(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = local(1)
        tx.close()
        with pytest.raises(HandleClosed):
            await tx.send(1)
        rx.close()
        with pytest.raises(HandleClosed):
            await rx.recv()
    run(any_loop, main())


def test_waiting_on_another_loop_raises(any_loop: asyncio.AbstractEventLoop) -> None:
    """The channel binds to the loop of the first task that waits on it; a task of another
    loop that has to wait gets a RuntimeError (as with asyncio.Queue.get)."""
    tx: Sender[int]
    rx: Receiver[int]
    tx, rx = local(1)

    async def first() -> None:
        task = asyncio.create_task(rx.recv())  # waits: binds the channel to any_loop
        await settle()
        tx.try_send(5)
        assert await task == 5

    run(any_loop, first())
    other = asyncio.new_event_loop()
    try:
        with pytest.raises(RuntimeError, match="bound to a different event loop"):
            other.run_until_complete(rx.recv())  # empty: would wait
        tx.try_send(6)
        with pytest.raises(RuntimeError, match="bound to a different event loop"):
            other.run_until_complete(tx.send(7))  # full: would wait
        assert rx.statistics().tasks_waiting_send == 0
        assert rx.statistics().tasks_waiting_receive == 0
    finally:
        other.close()
    assert rx.try_recv() == 6  # the failed send did not enqueue
    with pytest.raises(ChannelEmpty):
        rx.try_recv()
    run(any_loop, tx.send(8))  # the bound loop still works
    assert run(any_loop, rx.recv()) == 8


def test_awaiting_outside_a_loop_is_an_error() -> None:
    tx, rx = local()
    coro = rx.recv()
    with pytest.raises(RuntimeError, match="running event loop"):
        coro.send(None)
    coro.close()


# -- basic behaviour -----------------------------------------------------------------------------

def test_try_send_try_recv_fifo() -> None:
    tx: Sender[int]
    rx: Receiver[int]
    tx, rx = local()
    for i in range(100):
        tx.try_send(i)
    assert len(tx) == len(rx) == 100
    assert [rx.try_recv() for _ in range(100)] == list(range(100))
    with pytest.raises(ChannelEmpty):
        rx.try_recv()
    tx.close()
    with pytest.raises(EndOfChannel):
        rx.try_recv()


@pytest.mark.parametrize("offset", [0, 1, 5, 8, 13])
def test_the_buffer_grows_in_order_wherever_it_wraps(offset: int) -> None:
    """The ring doubles when full; the items keep their order whatever the ring's position
    (a regression: the position was taken before the ring re-based itself)."""
    tx, rx = local()
    for i in range(offset):  # move the ring's head and tail away from 0
        tx.try_send(i)
        assert rx.try_recv() == i
    sent = list(range(100))
    for item in sent[:50]:
        tx.try_send(item)
    got = [rx.try_recv() for _ in range(20)]
    for item in sent[50:]:
        tx.try_send(item)
    got += [rx.try_recv() for _ in range(80)]
    assert got == sent
    assert len(rx) == 0


def test_bounded_try_send_reports_full() -> None:
    tx, rx = local(2)
    assert tx.capacity == rx.capacity == 2
    tx.try_send("a")
    tx.try_send("b")
    with pytest.raises(ChannelFull) as info:
        tx.try_send("c")
    assert info.value.value == "c"
    assert rx.try_recv() == "a"
    tx.try_send("c")
    assert [rx.try_recv(), rx.try_recv()] == ["b", "c"]


def test_unbounded_capacity_is_none() -> None:
    tx, rx = local()
    assert tx.capacity is None
    assert rx.statistics() == ChannelStatistics(0, None, 1, 1, 0, 0)


def test_buffer_survives_last_sender_close() -> None:
    tx, rx = local(4)
    tx.try_send(1)
    tx.try_send(2)
    tx.close()
    assert rx.try_recv() == 1
    assert rx.try_recv() == 2
    with pytest.raises(EndOfChannel):
        rx.try_recv()


def test_producer_consumer_async_for(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[tuple[int, int]]:
        tx, rx = local(3)

        async def produce(tx: Sender[tuple[int, int]], who: int) -> None:
            with tx:
                for i in range(50):
                    await tx.send((who, i))

        tasks = [asyncio.create_task(produce(tx.clone(), w)) for w in range(4)]
        tx.close()
        got = [item async for item in rx]
        await asyncio.gather(*tasks)
        return got

    got = run(any_loop, main())
    assert len(got) == 200
    for w in range(4):  # FIFO per producer
        assert [i for who, i in got if who == w] == list(range(50))


def test_send_waits_for_room_and_senders_are_served_fifo(
        any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = local(1)
        tx.try_send(0)
        order: list[int] = []

        async def send(v: int) -> None:
            await tx.send(v)
            order.append(v)

        tasks = [asyncio.create_task(send(v)) for v in (1, 2, 3)]
        await settle()
        assert rx.statistics().tasks_waiting_send == 3
        with pytest.raises(ChannelFull):  # parked senders hold their turn
            tx.try_send(99)
        got = []
        for _ in range(4):
            got.append(await rx.recv())
            await settle()
        assert got == [0, 1, 2, 3]
        assert order == [1, 2, 3]
        await asyncio.gather(*tasks)
    run(any_loop, main())


def test_parked_receivers_are_served_fifo(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = local()
        tasks = [asyncio.create_task(rx.recv()) for _ in range(3)]
        await settle()
        assert rx.statistics().tasks_waiting_receive == 3
        for v in "abc":
            tx.try_send(v)
        assert [await t for t in tasks] == ["a", "b", "c"]
    run(any_loop, main())


def test_statistics_and_len(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = local(2)
        tx2 = tx.clone()
        tx.try_send(1)
        tx.try_send(2)
        t = asyncio.create_task(tx2.send(3))
        await settle()
        assert tx.statistics() == ChannelStatistics(
            buffer_used=2, capacity=2, open_senders=2, open_receivers=1,
            tasks_waiting_send=1, tasks_waiting_receive=0)
        assert len(rx) == 2
        rx.close()
        with pytest.raises(ReceiverGone):
            await t
        assert tx.statistics() == ChannelStatistics(0, 2, 2, 0, 0, 0)
    run(any_loop, main())


# -- close and drop ------------------------------------------------------------------------------

def test_last_sender_close_ends_parked_receivers(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = local()
        tasks = [asyncio.create_task(rx.recv()) for _ in range(2)]
        await settle()
        tx2 = tx.clone()
        tx.close()
        await settle()
        assert not any(t.done() for t in tasks)
        tx2.close()
        for t in tasks:
            with pytest.raises(EndOfChannel):
                await t
    run(any_loop, main())


def test_dropped_senders_end_the_channel(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = local()
        task = asyncio.create_task(rx.recv())
        await settle()
        tx2 = tx.clone()
        tx2.try_send("x")
        del tx, tx2
        gc.collect()
        assert await task == "x"
        with pytest.raises(EndOfChannel):
            await rx.recv()
        assert rx.statistics().open_senders == 0
    run(any_loop, main())


def test_async_for_ends_when_senders_are_dropped(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[int]:
        tx, rx = local(2)

        async def produce(tx: Sender[int]) -> None:  # never closes: drops its sender
            for i in range(5):
                await tx.send(i)

        task = asyncio.create_task(produce(tx))
        del tx
        got = [i async for i in rx]
        await task
        return got
    assert run(any_loop, main()) == [0, 1, 2, 3, 4]


def test_receiver_close_returns_values_to_senders(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = local(1)
        tx.try_send("buffered")
        parked = asyncio.create_task(tx.send("parked"))
        await settle()
        rx.close()
        with pytest.raises(ReceiverGone) as info:
            await parked
        assert info.value.value == "parked"
        with pytest.raises(ReceiverGone) as info:
            tx.try_send("late")
        assert info.value.value == "late"
        with pytest.raises(ReceiverGone) as info:
            await tx.send("later")
        assert info.value.value == "later"
        assert len(tx) == 0  # the buffer was discarded
    run(any_loop, main())


def test_dropped_receiver_returns_values(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = local(1)
        tx.try_send(1)
        parked = asyncio.create_task(tx.send(2))
        await settle()
        del rx
        gc.collect()
        with pytest.raises(ReceiverGone) as info:
            await parked
        assert info.value.value == 2
        with pytest.raises(ReceiverGone):
            tx.try_send(3)
    run(any_loop, main())


def test_closing_a_sender_fails_its_parked_sends_only(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = local(1)
        tx2 = tx.clone()
        tx.try_send(0)
        mine = asyncio.create_task(tx.send(1))
        other = asyncio.create_task(tx2.send(2))
        await settle()
        tx.close()
        with pytest.raises(HandleClosed):
            await mine
        assert rx.try_recv() == 0
        await other
        assert rx.try_recv() == 2
    run(any_loop, main())


def test_closing_the_receiver_fails_parked_recvs(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = local()
        task = asyncio.create_task(rx.recv())
        await settle()
        rx.close()
        with pytest.raises(HandleClosed):
            await task
    run(any_loop, main())


# -- cancellation --------------------------------------------------------------------------------

def test_recv_cancelled_after_wakeup_loses_nothing(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = local()
        first = asyncio.create_task(rx.recv())
        second = asyncio.create_task(rx.recv())
        await settle()
        tx.try_send("v")  # promised to `first`...
        first.cancel()    # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second == "v"
    run(any_loop, main())


def test_recv_cancelled_after_wakeup_leaves_item_in_buffer(
        any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = local()
        first = asyncio.create_task(rx.recv())
        await settle()
        tx.try_send("v")
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert rx.try_recv() == "v"
    run(any_loop, main())


def test_cancelled_send_does_not_enqueue(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = local(1)
        tx.try_send(0)
        parked = asyncio.create_task(tx.send(1))
        await settle()
        parked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await parked
        assert rx.try_recv() == 0
        with pytest.raises(ChannelEmpty):
            rx.try_recv()
        assert rx.statistics().tasks_waiting_send == 0
    run(any_loop, main())


def test_send_cancelled_after_wakeup_passes_its_slot_on(
        any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = local(1)
        tx.try_send(0)
        first = asyncio.create_task(tx.send(1))
        second = asyncio.create_task(tx.send(2))
        await settle()
        assert rx.try_recv() == 0  # reserves the slot for `first`...
        first.cancel()             # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await first
        await second
        assert rx.try_recv() == 2
        with pytest.raises(ChannelEmpty):
            rx.try_recv()
    run(any_loop, main())


def test_recv_under_timeout(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tx, rx = local()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(rx.recv(), 0.01)
        assert rx.statistics().tasks_waiting_receive == 0
        tx.try_send(1)
        assert await rx.recv() == 1
    run(any_loop, main())


def test_no_future_on_the_fast_path(any_loop: asyncio.AbstractEventLoop) -> None:
    """try_send/try_recv and non-waiting send/recv create no future (control: a parked recv does)."""
    created = 0
    real = any_loop.create_future

    def counting() -> asyncio.Future[Any]:
        nonlocal created
        created += 1
        return real()

    any_loop.create_future = counting  # type: ignore[method-assign]

    async def main() -> None:
        nonlocal created
        created = 0  # wait_for's own future
        tx, rx = local(4)
        for i in range(100):
            tx.try_send(i)
            assert rx.try_recv() == i
            await tx.send(i)
            assert await rx.recv() == i
        assert created == 0
        task = asyncio.create_task(rx.recv())
        await settle()
        tx.try_send(1)
        await task
        assert created == 1

    try:
        run(any_loop, main())
    finally:
        del any_loop.create_future
