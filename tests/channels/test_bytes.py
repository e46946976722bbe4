"""Behaviour of the byte-ring channels ``nexusloop.channels.spsc_bytes`` and ``mpsc_bytes``.

The receiver runs on stock asyncio and on nexusloop (``any_loop``); producers run in threads
(``claim_blocking``/``send_blocking``), in tasks of the receiver's loop, and in a task of a second
loop in another thread. Contents are checked byte for byte; messages carry (producer, sequence)
and a payload derived from them.

No timing assertions: short sleeps only give threads a chance to park (the assertions hold
whether they parked or not), and every test is bounded by pytest-timeout. Every thread a test
starts is joined before it ends.
"""
# mypy: disable-error-code="comparison-overlap"
# (memoryview == bytes compares contents; mypy's strict equality does not know it)
from __future__ import annotations

import asyncio
import gc
import pickle
import random
import struct
import threading
import tracemalloc
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nexusloop
from nexusloop import channels
from nexusloop.channels import (
    BytesReceiver,
    BytesSender,
    ChannelEmpty,
    ChannelFull,
    ChannelStatistics,
    EndOfChannel,
    HandleClosed,
    ReceiverGone,
    mpsc_bytes,
    spsc_bytes,
)

from .conftest import Threads, give_threads_time, run, settle

pytestmark = pytest.mark.timeout(120)

Factory = Callable[[int], tuple[BytesSender, BytesReceiver]]
FLAVOURS = ["mpsc_bytes", "spsc_bytes"]
@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> Factory:
    factory: Factory = getattr(channels, request.param)
    return factory




def payload(who: int, seq: int, n: int) -> bytes:
    """``n >= 8`` bytes: (who, seq) then a pattern that depends on both."""
    head = struct.pack("<II", who, seq)
    body = bytes((who * 31 + seq + i) & 0xFF for i in range(n - 8))
    return head + body


def check(view: memoryview) -> tuple[int, int]:
    who, seq = struct.unpack_from("<II", view)
    assert bytes(view) == payload(who, seq, len(view)), (who, seq, len(view))
    return who, seq


async def bind(tx: BytesSender, rx: BytesReceiver) -> None:
    """Bind the receiver to the running loop: park a recv, then feed it."""
    task = asyncio.create_task(rx.recv())
    await settle()
    tx.try_send(b"bind")
    assert await task == b"bind"
    rx.release()


# -- public surface ------------------------------------------------------------------------------

def test_names_are_exported() -> None:
    for name in ("spsc_bytes", "mpsc_bytes", "BytesSender", "BytesReceiver"):
        assert name in channels.__all__, name
    for factory in (spsc_bytes, mpsc_bytes):
        tx, rx = factory(64)
        assert isinstance(tx, BytesSender) and isinstance(rx, BytesReceiver)
    tx, rx = mpsc_bytes(64)
    assert isinstance(tx.clone(), BytesSender)


def test_capacity_is_rounded_to_8_and_max_message_is_capacity_minus_header(
        flavour: Factory) -> None:
    tx, rx = flavour(17)
    assert tx.capacity == rx.capacity == 24
    assert tx.max_message == rx.max_message == 16
    tx, rx = flavour(4096)
    assert tx.capacity == 4096 and tx.max_message == 4088
    assert rx.statistics() == ChannelStatistics(0, 4096, 1, 1, 0, 0)


# -- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("capacity", [0, -1, 8, 15])
def test_capacity_too_small(flavour: Factory, capacity: int) -> None:
    with pytest.raises(ValueError, match=rf"capacity_bytes must be >= 16.*got {capacity}"):
        flavour(capacity)


@pytest.mark.parametrize("capacity", [1.5, "64", True, None])
def test_capacity_must_be_an_int(flavour: Factory, capacity: Any) -> None:
    with pytest.raises(TypeError, match="capacity_bytes must be an int"):
        flavour(capacity)


@pytest.mark.parametrize("n", [0, -1])
def test_claim_size_must_be_positive(flavour: Factory, n: int) -> None:
    tx, rx = flavour(64)
    with pytest.raises(ValueError, match="at least 1 byte"):
        tx.try_claim(n)
    with pytest.raises(ValueError, match="at least 1 byte"):
        tx.claim_blocking(n)
    with pytest.raises(ValueError, match="at least 1 byte"):
        tx.try_send(b"")
    tx.try_send(b"ok")  # nothing was left open


@pytest.mark.parametrize("n", [1.5, "3", True, None])
def test_claim_size_must_be_an_int(flavour: Factory, n: Any) -> None:
    tx, rx = flavour(64)
    with pytest.raises(TypeError, match="claim's size must be an int"):
        tx.try_claim(n)
    with pytest.raises(TypeError, match="claim's size must be an int"):
        tx.claim_blocking(n)


def test_claim_larger_than_the_ring_names_both_sizes(flavour: Factory, any_loop: Any) -> None:
    tx, rx = flavour(64)
    for call in (tx.try_claim, tx.claim_blocking):
        with pytest.raises(ValueError, match=r"claim of 57 bytes.*64-byte ring.*56 bytes"):
            call(57)
    with pytest.raises(ValueError, match=r"claim of 100 bytes.*64-byte ring"):
        tx.try_send(bytes(100))
    with pytest.raises(ValueError, match=r"claim of 100 bytes.*64-byte ring"):
        tx.send_blocking(bytes(100))

    async def main() -> None:
        with pytest.raises(ValueError, match=r"claim of 57 bytes.*64-byte ring"):
            await tx.claim(57)
        with pytest.raises(ValueError, match=r"claim of 57 bytes.*64-byte ring"):
            await tx.send(bytes(57))

    run(any_loop, main())
    view = tx.try_claim(56)  # the largest fits
    view[:] = bytes(range(56))
    tx.commit()
    assert rx.try_recv() == bytes(range(56))


def test_commit_more_than_claimed(flavour: Factory) -> None:
    tx, rx = flavour(64)
    view = tx.try_claim(4)
    with pytest.raises(ValueError, match=r"commit\(5\) of a 4-byte claim"):
        tx.commit(5)
    with pytest.raises(ValueError, match=r"commit\(-1\) of a 4-byte claim"):
        tx.commit(-1)
    with pytest.raises(TypeError, match="commit's k must be an int"):
        tx.commit(2.0)  # type: ignore[arg-type]
    view[:] = b"abcd"  # the claim is still open
    tx.commit(3)
    assert rx.try_recv() == b"abc"


def test_commit_without_claim_and_second_claim(flavour: Factory, any_loop: Any) -> None:
    tx, rx = flavour(64)
    with pytest.raises(RuntimeError, match="without an open claim"):
        tx.commit()
    tx.try_claim(4)
    for call in (lambda: tx.try_claim(4), lambda: tx.claim_blocking(4),
                 lambda: tx.try_send(b"x"), lambda: tx.send_blocking(b"x")):
        with pytest.raises(RuntimeError, match="already has a claim open"):
            call()

    async def main() -> None:
        with pytest.raises(RuntimeError, match="already has a claim open"):
            await tx.claim(4)
        with pytest.raises(RuntimeError, match="already has a claim open"):
            await tx.send(b"x")

    run(any_loop, main())
    tx.commit()
    with pytest.raises(RuntimeError, match="without an open claim"):
        tx.commit()
    assert len(rx) == 1


def test_spsc_has_no_clone() -> None:
    tx, rx = spsc_bytes(64)
    with pytest.raises(RuntimeError, match="one producer"):
        tx.clone()


def test_closed_handles_raise(flavour: Factory, any_loop: Any) -> None:
    tx, rx = flavour(64)
    tx.close()
    assert tx.closed
    for call in (lambda: tx.try_claim(1), lambda: tx.claim_blocking(1),
                 lambda: tx.try_send(b"x"), lambda: tx.send_blocking(b"x"), tx.commit, tx.close):
        with pytest.raises(HandleClosed):
            call()
    if flavour is mpsc_bytes:
        with pytest.raises(HandleClosed, match="clone of a closed"):
            tx.clone()
    rx.close()
    assert rx.closed
    for call in (rx.try_recv, rx.close):
        with pytest.raises(HandleClosed):
            call()

    async def main() -> None:
        with pytest.raises(HandleClosed):
            await tx.claim(1)
        with pytest.raises(HandleClosed):
            await tx.send(b"x")
        with pytest.raises(HandleClosed):
            await rx.recv()

    run(any_loop, main())


def test_sender_close_abandons_its_open_claim(flavour: Factory) -> None:
    tx, rx = flavour(64)
    tx2 = tx.clone() if flavour is mpsc_bytes else None
    view = tx.try_claim(8)
    tx.close()
    with pytest.raises(ValueError):  # released
        view[0] = 1
    with pytest.raises(HandleClosed):
        tx.commit()
    if tx2 is not None:  # the producer lock was released
        tx2.try_send(b"after")
        assert rx.try_recv() == b"after"
        tx2.close()
    with pytest.raises(EndOfChannel):
        rx.try_recv()


# -- views -----------------------------------------------------------------------------------

def test_stale_views_raise(flavour: Factory) -> None:
    tx, rx = flavour(64)
    view = tx.try_claim(3)
    assert not view.readonly and len(view) == 3
    view[:] = b"abc"
    tx.commit()
    with pytest.raises(ValueError):
        view[0] = 0
    tx.try_send(b"def")
    first = rx.try_recv()
    assert first.readonly and first == b"abc"
    with pytest.raises(TypeError):
        first[0] = 0
    second = rx.try_recv()  # releases first
    with pytest.raises(ValueError):
        bytes(first)
    assert second == b"def"
    rx.release()
    with pytest.raises(ValueError):
        bytes(second)
    rx.release()  # nothing held: nothing to do


def test_commit_with_an_exported_buffer_keeps_the_claim(flavour: Factory) -> None:
    tx, rx = flavour(64)
    view = tx.try_claim(3)
    view[:] = b"xyz"
    export = pickle.PickleBuffer(view)  # holds a buffer exported from the view
    with pytest.raises(BufferError):
        tx.commit()
    assert len(rx) == 0
    export.release()
    tx.commit()
    got = rx.try_recv()
    export = pickle.PickleBuffer(got)
    with pytest.raises(BufferError):
        rx.release()
    with pytest.raises(BufferError):
        rx.try_recv()
    export.release()
    assert got == b"xyz"  # still held, still valid
    rx.release()


def test_partial_and_empty_commits(flavour: Factory) -> None:
    tx, rx = flavour(64)
    view = tx.try_claim(40)
    view[:5] = b"hello"
    tx.commit(5)
    view = tx.try_claim(40)
    tx.commit(0)  # abandons: nothing published
    assert len(rx) == 1
    assert rx.try_recv() == b"hello"
    with pytest.raises(ChannelEmpty):
        rx.try_recv()


def test_send_of_a_bad_buffer_reserves_nothing(flavour: Factory) -> None:
    import array

    tx, rx = flavour(64)
    with pytest.raises(ValueError):
        tx.try_send(array.array("i", [1, 2]))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tx.try_send("text")  # type: ignore[arg-type]
    tx.try_send(bytes(56))  # the whole ring: nothing reserved, no claim or lock left open
    assert rx.try_recv() == bytes(56)
    assert len(rx) == 0


def test_full_ring_and_len(flavour: Factory) -> None:
    tx, rx = flavour(64)  # 4 records of 16 bytes
    for i in range(4):
        tx.try_send(bytes([i]) * 8)
    assert len(tx) == len(rx) == 4
    with pytest.raises(ChannelFull) as info:
        tx.try_send(b"more")
    assert info.value.value == b"more"
    with pytest.raises(ChannelFull) as info:
        tx.try_claim(1)
    assert info.value.value is None
    assert rx.try_recv() == bytes([0]) * 8
    assert len(rx) == 3
    with pytest.raises(ChannelFull):  # the held message still occupies its room
        tx.try_send(b"more")
    rx.release()
    tx.try_send(b"more")
    assert [bytes(rx.try_recv()) for _ in range(4)] == [
        bytes([1]) * 8, bytes([2]) * 8, bytes([3]) * 8, b"more"]


def test_an_empty_ring_takes_the_largest_message_at_any_offset(flavour: Factory) -> None:
    tx, rx = flavour(64)
    for k in range(1, 57):  # every write offset the ring can have
        tx.try_send(bytes([k]) * k)
        assert rx.try_recv() == bytes([k]) * k
        rx.release()
        big = bytes(range(56))
        tx.try_send(big)
        assert rx.try_recv() == big
        rx.release()


def test_mpsc_try_claim_reports_full_while_another_producer_claims() -> None:
    tx, rx = mpsc_bytes(64)
    tx2 = tx.clone()
    view = tx.try_claim(4)
    with pytest.raises(ChannelFull):
        tx2.try_claim(4)
    view[:] = b"mine"
    tx.commit()
    tx2.try_send(b"next")
    assert [bytes(rx.try_recv()), bytes(rx.try_recv())] == [b"mine", b"next"]


# -- random sizes, wrapping (hypothesis) ---------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(
    capacity=st.sampled_from([16, 24, 64, 100, 256]),
    ops=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 256), st.integers(0, 256)),
                 min_size=1, max_size=300),
    mpsc=st.booleans(),
)
def test_random_sizes_wrap_around_the_ring(capacity: int, ops: list[tuple[int, int, int]],
                                           mpsc: bool) -> None:
    tx, rx = (mpsc_bytes if mpsc else spsc_bytes)(capacity)
    model: deque[bytes] = deque()
    held = False
    seq = 0
    for op, size, k in ops:
        n = 1 + (size - 1) % tx.max_message
        if op <= 1:  # claim + fill + commit (partially, or abandon)
            try:
                view = tx.try_claim(n)
            except ChannelFull:
                assert model or held, "an empty ring refused a message it can hold"
                continue
            data = bytes((seq + i) & 0xFF for i in range(n))
            seq += 1
            view[:] = data
            k = k % (n + 1) if op == 1 else n
            tx.commit(k)
            if k:
                model.append(data[:k])
        elif op == 2:  # copy
            data = bytes((seq * 7 + i) & 0xFF for i in range(n))
            seq += 1
            try:
                tx.try_send(data)
            except ChannelFull:
                assert model or held
                continue
            model.append(data)
        else:  # receive
            try:
                got = rx.try_recv()
            except ChannelEmpty:
                assert not model
                held = False
                continue
            assert bytes(got) == model.popleft()
            held = True
            if k % 2:
                rx.release()
                held = False
        assert len(rx) == len(model)
    while model:
        assert bytes(rx.try_recv()) == model.popleft()
    tx.close()
    with pytest.raises(EndOfChannel):
        rx.try_recv()


def test_many_wraps_with_random_sizes(flavour: Factory) -> None:
    tx, rx = flavour(256)
    rng = random.Random(9)
    sent: deque[bytes] = deque()
    size = tx.capacity
    for seq in range(20_000):
        n = rng.randint(8, tx.max_message)
        data = payload(0, seq, n)
        while True:
            try:
                tx.try_send(data)
                break
            except ChannelFull:
                if sent:
                    assert bytes(rx.try_recv()) == sent.popleft()
                else:  # only the held message is in the way
                    rx.release()
        sent.append(data)
    while sent:
        assert bytes(rx.try_recv()) == sent.popleft()
    assert rx._st.head // size > 1000  # wrapped around many times  # type: ignore[attr-defined]


# -- threads -> loop -----------------------------------------------------------------------------

def producer(tx: BytesSender, who: int, count: int, seed: int) -> None:
    """Send ``count`` messages of random sizes, mixing claims (full, partial) and copies."""
    rng = random.Random(seed)
    with tx:
        for seq in range(count):
            n = rng.randint(8, 200)
            data = payload(who, seq, n)
            how = rng.randrange(3)
            if how == 0:
                tx.send_blocking(data)
            elif how == 1:
                view = tx.claim_blocking(n)
                view[:] = data
                tx.commit()
            else:
                view = tx.claim_blocking(n + rng.randint(0, 40))
                view[:n] = data
                tx.commit(n)


@pytest.mark.parametrize("flavour_name,producers", [("spsc_bytes", 1), ("mpsc_bytes", 3)])
def test_threaded_producers_every_message_once_in_order(
        any_loop: Any, threads: Threads, flavour_name: str, producers: int) -> None:
    tx, rx = getattr(channels, flavour_name)(512)
    count = 3000
    for who in range(producers):
        threads.start(producer, tx.clone() if producers > 1 else tx, who, count, who)
    if producers > 1:
        tx.close()
    del tx

    async def main() -> list[tuple[int, int]]:
        got = []
        async for view in rx:
            got.append(check(view))
        return got

    got = run(any_loop, main(), 90)
    threads.join_all()
    nxt = [0] * producers
    for who, seq in got:
        assert seq == nxt[who], (who, seq)
        nxt[who] += 1
    assert nxt == [count] * producers


def test_async_producer_on_another_loop(any_loop: Any, threads: Threads,
                                        flavour: Factory) -> None:
    tx, rx = flavour(256)
    count = 2000

    async def produce() -> None:
        rng = random.Random(1)
        with tx:
            for seq in range(count):
                n = rng.randint(8, 150)
                data = payload(0, seq, n)
                if seq % 2:
                    await tx.send(data)
                else:
                    view = await tx.claim(n)
                    view[:] = data
                    tx.commit()

    threads.start(lambda: nexusloop.run(produce()))

    async def main() -> int:
        seq = 0
        async for view in rx:
            assert check(view) == (0, seq)
            seq += 1
        return seq

    assert run(any_loop, main(), 90) == count
    threads.join_all()


def test_blocking_claim_wakes_when_the_receiver_releases(any_loop: Any, threads: Threads,
                                                         flavour: Factory) -> None:
    tx, rx = flavour(64)
    tx.try_send(bytes(56))  # the whole ring
    done = threading.Event()

    def claim() -> None:
        view = tx.claim_blocking(40)
        view[:] = b"x" * 40
        tx.commit()
        done.set()

    async def main() -> None:
        assert await rx.recv() == bytes(56)  # held: still no room
        threads.start(claim)
        give_threads_time()
        assert not done.is_set()
        rx.release()
        assert await rx.recv() == b"x" * 40

    run(any_loop, main())
    threads.join_all()


def test_blocking_claim_times_out_reserving_nothing(flavour: Factory) -> None:
    tx, rx = flavour(64)
    tx.try_send(bytes(50))
    with pytest.raises(ChannelFull) as info:
        tx.claim_blocking(40, timeout=0.01)
    assert info.value.value is None
    with pytest.raises(ChannelFull) as info:
        tx.send_blocking(b"late", timeout=0)
    assert info.value.value == b"late"
    assert rx.try_recv() == bytes(50)
    rx.release()
    tx.try_send(bytes(56))  # nothing reserved: the whole ring is free
    assert rx.statistics().tasks_waiting_send == 0


def test_blocking_claim_on_the_receivers_loop_is_refused(any_loop: Any,
                                                         flavour: Factory) -> None:
    tx, rx = flavour(64)

    async def main() -> None:
        await bind(tx, rx)
        tx.try_send(bytes(56))
        with pytest.raises(RuntimeError, match="deadlock"):
            tx.claim_blocking(8)
        with pytest.raises(RuntimeError, match="deadlock"):
            tx.send_blocking(b"x")

    run(any_loop, main())
    assert rx.try_recv() == bytes(56)


def test_async_claim_waits_for_room_and_for_the_producer_lock(any_loop: Any) -> None:
    tx, rx = mpsc_bytes(64)
    tx2 = tx.clone()

    async def main() -> None:
        tx.try_send(bytes(50))
        first = asyncio.create_task(tx.claim(40))  # waits for room, holding the lock
        await settle()
        second = asyncio.create_task(tx2.send(b"second"))  # waits for the lock
        await settle()
        assert not first.done() and not second.done()
        assert rx.statistics().tasks_waiting_send == 2
        assert await rx.recv() == bytes(50)
        rx.release()
        view = await first
        view[:] = b"f" * 40
        await settle()
        assert not second.done()  # the claim is open: the lock is held
        tx.commit()
        await second
        assert await rx.recv() == b"f" * 40
        assert await rx.recv() == b"second"

    run(any_loop, main())


def test_recv_from_another_loop_is_refused(any_loop: Any, flavour: Factory) -> None:
    tx, rx = flavour(64)

    async def main() -> None:
        await bind(tx, rx)

    run(any_loop, main())
    other = asyncio.new_event_loop()
    try:
        with pytest.raises(RuntimeError, match="different event loop"):
            other.run_until_complete(rx.recv())
    finally:
        other.close()


# -- ends, close and drop races ------------------------------------------------------------------

def test_end_after_the_last_message(any_loop: Any, flavour: Factory) -> None:
    tx, rx = flavour(64)

    async def main() -> list[bytes]:
        waiter = asyncio.create_task(rx.recv())
        await settle()
        tx.try_send(b"a")
        got = [bytes(await waiter)]
        tx.try_send(b"b")
        tx.close()
        async for view in rx:
            got.append(bytes(view))
        with pytest.raises(EndOfChannel):
            await rx.recv()
        return got

    assert run(any_loop, main()) == [b"a", b"b"]


def test_parked_recv_sees_the_end_when_the_last_sender_is_collected(
        any_loop: Any, flavour: Factory) -> None:
    tx, rx = flavour(64)

    async def main() -> None:
        waiter = asyncio.create_task(rx.recv())
        await settle()
        nonlocal tx
        del tx
        gc.collect()
        with pytest.raises(EndOfChannel):
            await waiter

    run(any_loop, main())


def test_collected_sender_with_open_claim_releases_the_lock() -> None:
    tx, rx = mpsc_bytes(64)
    tx2 = tx.clone()
    view = tx.try_claim(8)
    del tx
    gc.collect()
    with pytest.raises(ValueError):
        view[0] = 1
    tx2.try_send(b"ok")
    assert rx.try_recv() == b"ok"
    assert rx.statistics().open_senders == 1


def test_receiver_gone(any_loop: Any, flavour: Factory) -> None:
    tx, rx = flavour(64)
    view = tx.try_claim(5)
    view[:] = b"hello"
    rx.close()
    with pytest.raises(ReceiverGone) as info:
        tx.commit(4)
    assert info.value.value == b"hell"
    with pytest.raises(ValueError):
        view[0] = 0
    with pytest.raises(ReceiverGone) as info:
        tx.try_claim(1)
    assert info.value.value is None
    data = b"data"
    with pytest.raises(ReceiverGone) as info:
        tx.try_send(data)
    assert info.value.value is data
    with pytest.raises(ReceiverGone):
        tx.send_blocking(data)

    async def main() -> None:
        with pytest.raises(ReceiverGone):
            await tx.claim(1)
        with pytest.raises(ReceiverGone) as info:
            await tx.send(data)
        assert info.value.value is data

    run(any_loop, main())
    tx.close()


def test_parked_producers_get_receiver_gone(any_loop: Any, threads: Threads,
                                            flavour: Factory) -> None:
    tx, rx = flavour(64)
    tx.try_send(bytes(56))
    outcomes: list[object] = []

    def blocked() -> None:
        try:
            tx.send_blocking(b"late")
        except ReceiverGone as exc:
            outcomes.append(exc.value)

    async def main() -> None:
        task = asyncio.create_task(tx.claim(8)) if flavour is spsc_bytes else None
        if task is None:
            threads.start(blocked)
            give_threads_time()
        else:
            await settle()
        rx.close()
        if task is not None:
            with pytest.raises(ReceiverGone):
                await task
            outcomes.append(None)
        await threads.join_all_async()

    run(any_loop, main())
    assert len(outcomes) == 1


def test_parked_recv_gets_handle_closed(any_loop: Any, flavour: Factory) -> None:
    tx, rx = flavour(64)

    async def main() -> None:
        waiter = asyncio.create_task(rx.recv())
        await settle()
        rx.close()
        with pytest.raises(HandleClosed):
            await waiter

    run(any_loop, main())


def test_close_race_with_producers(any_loop: Any, threads: Threads) -> None:
    """Producers hammer a small ring while the receiver closes after a while: every producer
    ends with ReceiverGone, nothing hangs, and what was received is intact and in order."""
    tx, rx = mpsc_bytes(128)
    ends: list[str] = []

    def hammer(tx: BytesSender, who: int) -> None:
        with tx:
            seq = 0
            while True:
                try:
                    if seq % 2:
                        tx.send_blocking(payload(who, seq, 8 + seq % 50))
                    else:
                        view = tx.claim_blocking(8 + seq % 50)
                        view[:] = payload(who, seq, 8 + seq % 50)
                        tx.commit()
                except ReceiverGone:
                    ends.append("gone")
                    return
                seq += 1

    for who in range(3):
        threads.start(hammer, tx.clone(), who)
    tx.close()

    async def main() -> None:
        nxt = [0, 0, 0]
        for _ in range(500):
            who, seq = check(await rx.recv())
            assert seq == nxt[who]
            nxt[who] += 1
        rx.close()
        await threads.join_all_async()

    run(any_loop, main(), 90)
    assert ends == ["gone"] * 3


def test_sender_drop_race(any_loop: Any, threads: Threads) -> None:
    """Producers that drop their senders without closing, at random points: the receiver sees
    the end after every committed message."""
    tx, rx = mpsc_bytes(128)
    counts = [random.Random(w).randint(0, 300) for w in range(4)]

    def send_then_drop(tx: BytesSender, who: int) -> None:
        for seq in range(counts[who]):
            tx.send_blocking(payload(who, seq, 8 + seq % 40))
        if counts[who] % 2:
            tx.claim_blocking(16)  # dropped with a claim open

    for who in range(4):
        threads.start(send_then_drop, tx.clone(), who)
    del tx
    gc.collect()

    async def main() -> list[int]:
        nxt = [0] * 4
        async for view in rx:
            who, seq = check(view)
            assert seq == nxt[who]
            nxt[who] += 1
        return nxt

    assert run(any_loop, main(), 90) == counts
    threads.join_all()


# -- cancellation --------------------------------------------------------------------------------

def test_cancelled_claim_reserves_nothing(any_loop: Any, flavour: Factory) -> None:
    tx, rx = flavour(64)

    async def main() -> None:
        tx.try_send(bytes(30))  # 40 bytes: a 40-byte claim needs room
        parked = asyncio.create_task(tx.claim(30))
        await settle()
        assert rx.statistics().tasks_waiting_send == 1
        parked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await parked
        assert rx.statistics().tasks_waiting_send == 0
        assert await rx.recv() == bytes(30)
        rx.release()
        tx.try_send(bytes(56))  # the whole ring: nothing was reserved, no claim is open
        assert await rx.recv() == bytes(56)

    run(any_loop, main())


def test_claim_cancelled_after_its_wake_up_reserves_nothing(any_loop: Any,
                                                            flavour: Factory) -> None:
    tx, rx = flavour(64)

    async def main() -> None:
        tx.try_send(bytes(50))
        parked = asyncio.create_task(tx.claim(40))
        await settle()
        assert await rx.recv() == bytes(50)
        rx.release()  # wakes the claim (its wake-up is on the way) ...
        parked.cancel()  # ... and it is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await parked
        tx.try_send(bytes(56))
        assert await rx.recv() == bytes(56)
        assert rx.statistics().tasks_waiting_send == 0

    run(any_loop, main())


def test_cancelled_recv_loses_nothing(any_loop: Any, flavour: Factory) -> None:
    tx, rx = flavour(64)

    async def main() -> None:
        parked = asyncio.create_task(rx.recv())
        await settle()
        parked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await parked
        parked = asyncio.create_task(rx.recv())
        await settle()
        tx.try_send(b"one")  # wakes the parked recv ...
        parked.cancel()  # ... cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await parked
        assert rx.try_recv() == b"one"
        assert rx.statistics().tasks_waiting_receive == 0

    run(any_loop, main())


def test_cancelled_recv_woken_from_a_thread_loses_nothing(any_loop: Any, threads: Threads,
                                                          flavour: Factory) -> None:
    tx, rx = flavour(256)
    count = 300

    def produce() -> None:
        with tx:
            for seq in range(count):
                tx.send_blocking(payload(0, seq, 8 + seq % 30))

    async def main() -> None:
        threads.start(produce)
        seq = 0
        rng = random.Random(3)
        while True:
            task = asyncio.create_task(rx.recv())
            if rng.random() < 0.5:
                await asyncio.sleep(0)
                task.cancel()
            try:
                view = await task
            except asyncio.CancelledError:
                continue
            except EndOfChannel:
                break
            assert check(view) == (0, seq)
            seq += 1
        assert seq == count
        await threads.join_all_async()

    run(any_loop, main(), 90)


# -- allocations ---------------------------------------------------------------------------------

def _traced_growth(step: Callable[[], None], n: int) -> tuple[int, int]:
    """(current, peak) traced bytes above the start after ``n`` more ``step()`` calls."""
    gc.collect()
    start = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    for _ in range(n):
        step()
    current, peak = tracemalloc.get_traced_memory()
    return current - start, peak - start


def _claim_step(tx: BytesSender, rx: BytesReceiver, keep: list[bytes] | None) -> Callable[[], None]:
    data = bytes(range(100))

    def step() -> None:
        view = tx.try_claim(100)
        view[:] = data
        tx.commit()
        got = rx.try_recv()
        if keep is not None:  # the control: a copy per message, kept
            keep.append(bytes(got))
        rx.release()

    return step


def _send_step(tx: BytesSender, rx: BytesReceiver, keep: list[bytes] | None) -> Callable[[], None]:
    data = bytes(range(64))

    def step() -> None:
        tx.try_send(data)
        tx.try_send(data)
        rx.try_recv()
        rx.try_recv()

    return step


BOUND = 16 * 1024  # bytes: fixed overhead (tracemalloc's own, caches), independent of N


@pytest.mark.parametrize("make_step", [_claim_step, _send_step])
def test_steady_state_allocates_nothing_per_message(flavour: Factory,
                                                    make_step: Callable[..., Any]) -> None:
    tx, rx = flavour(1000)  # not a multiple of the record size: messages wrap at every offset
    step = make_step(tx, rx, None)
    for _ in range(2000):  # warm-up
        step()
    tracemalloc.start()
    try:
        small = _traced_growth(step, 2_000)
        large = _traced_growth(step, 20_000)
    finally:
        tracemalloc.stop()
    for current, peak in (small, large):
        assert current < BOUND and peak < BOUND, (small, large)


def test_allocation_check_fails_on_a_per_message_allocation(flavour: Factory) -> None:
    """The control: the same measurement on a consumer that keeps a copy of each message."""
    tx, rx = flavour(1000)
    keep: list[bytes] = []
    step = _claim_step(tx, rx, keep)
    for _ in range(2000):
        step()
    tracemalloc.start()
    try:
        small = _traced_growth(step, 2_000)
        large = _traced_growth(step, 20_000)
    finally:
        tracemalloc.stop()
    assert small[0] > BOUND and small[1] > BOUND
    assert large[0] > 5 * small[0]  # grows with N


def test_async_steady_state_allocates_nothing_per_message(any_loop: Any,
                                                          flavour: Factory) -> None:
    tx, rx = flavour(1000)
    data = bytes(range(80))

    async def steps(n: int) -> None:
        for _ in range(n):
            view = await tx.claim(80)
            view[:] = data
            tx.commit()
            await tx.send(data)
            await rx.recv()
            await rx.recv()
        rx.release()

    async def main() -> tuple[tuple[int, int], tuple[int, int]]:
        await steps(2000)
        tracemalloc.start()
        try:
            out = []
            for n in (1000, 10_000):
                gc.collect()
                start = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
                await steps(n)
                current, peak = tracemalloc.get_traced_memory()
                out.append((current - start, peak - start))
            return out[0], out[1]
        finally:
            tracemalloc.stop()

    small, large = run(any_loop, main(), 90)
    for current, peak in (small, large):
        assert current < BOUND and peak < BOUND, (small, large)
