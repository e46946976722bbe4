"""World drivers and coroutine handlers on a real loop: stock asyncio and nexusloop.

``any_loop`` (tests/conftest.py) runs each body on both loops and checks for fd leaks.
"""
from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable

import pytest

from nexusloop.world import (
    Cell,
    HandlerTemplate,
    IoDriver,
    IoEvent,
    IoInstaller,
    Periodic,
    ResMut,
    Seq,
    TimerInstaller,
    TimerQueue,
    WorldBuilder,
    into_handler,
    with_world,
    world,
)

from .conftest import Log, make_world


def test_loop_backed_timers_and_periodic(any_loop: asyncio.AbstractEventLoop) -> None:
    wb = WorldBuilder()
    wb.register(Log())
    wb.install_driver(TimerInstaller(loop=any_loop))
    w = wb.build()
    wheel = w.resource(TimerQueue)
    done = any_loop.create_future()

    def beat(log: ResMut[Log], seq: Seq, now: float) -> None:
        log.lines.append(now)
        if len(log.lines) == 3:
            periodic.cancel()
            done.set_result(seq)

    start = any_loop.time()
    periodic = Periodic(wheel, 0.01, into_handler(beat, w.registry))
    seq = any_loop.run_until_complete(asyncio.wait_for(done, 5))
    times = w.resource(Log).lines
    assert seq == 3 and len(times) == 3
    assert all(t >= start + 0.01 * (i + 1) for i, t in enumerate(times))  # never early
    assert len(wheel) == 0


def test_loop_backed_io_echo(any_loop: asyncio.AbstractEventLoop) -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    wb = WorldBuilder()
    wb.register(Log())
    io = wb.install_driver(IoInstaller(loop=any_loop))
    w = wb.build()
    done = any_loop.create_future()

    def echo(drv: ResMut[IoDriver], log: ResMut[Log], e: IoEvent) -> None:
        data = os.read(e.fd, 100)
        log.lines.append(data)
        os.write(e.fd, data[::-1])
        if len(log.lines) < 3:
            drv.register(e.fd, template.generate())
        else:
            done.set_result(None)

    template = HandlerTemplate(echo, w.registry)

    async def client() -> list[bytes]:
        replies = []
        for msg in (b"abc", b"de", b"f"):
            await any_loop.sock_sendall(a, msg)
            replies.append(await any_loop.sock_recv(a, 100))
        await asyncio.wait_for(done, 5)
        return replies

    try:
        w.resource(IoDriver).register(b, template.generate())
        assert any_loop.run_until_complete(client()) == [b"cba", b"ed", b"f"]
        assert w.resource(Log).lines == [b"abc", b"de", b"f"]
        assert len(w.resource(IoDriver)) == 0
    finally:
        io.close()
        a.close()
        b.close()


def test_coroutine_handler_runs_as_a_task(any_loop: asyncio.AbstractEventLoop) -> None:
    wb = WorldBuilder()
    wb.register(Cell(0))
    w = wb.build()

    async def work(c: ResMut[Cell[int]], e: int) -> int:
        await asyncio.sleep(0)
        c.value += e
        return c.value

    h = into_handler(work, w.registry)

    async def main() -> list[int]:
        return list(await asyncio.gather(h.run(w, 1), h.run(w, 2)))

    assert any_loop.run_until_complete(main()) == [1, 3]


def test_nexusloop_carries_its_world(
    nloop_with: Callable[..., asyncio.AbstractEventLoop],
) -> None:
    w = make_world(cell=7)
    loop = nloop_with(world=w)
    assert getattr(loop, "world", None) is w

    async def main() -> int:
        async def task() -> int:
            return with_world(lambda wd: wd.resource(Cell[int]).value)

        assert world() is w
        return await asyncio.create_task(task())

    assert loop.run_until_complete(main()) == 7


def test_nexusloop_without_world(nloop: asyncio.AbstractEventLoop) -> None:
    assert getattr(nloop, "world", "missing") is None

    async def main() -> None:
        with pytest.raises(RuntimeError, match="carries no World"):
            world()

    nloop.run_until_complete(main())
