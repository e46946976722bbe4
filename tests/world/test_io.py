"""The I/O readiness driver: move-out-fire, re-registration, stale tokens, both backends."""
from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from nexusloop.world import (
    HandlerTemplate,
    IoDriver,
    IoEvent,
    IoInstaller,
    IoPoller,
    Res,
    ResMut,
    World,
    WorldBuilder,
    into_callback,
    into_handler,
)


@dataclass
class Received:
    chunks: list[bytes] = field(default_factory=list)
    events: list[IoEvent] = field(default_factory=list)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def setup(loop: asyncio.AbstractEventLoop | None = None) -> tuple[World, IoPoller, IoDriver]:
    wb = WorldBuilder()
    wb.register(Received())
    io = wb.install_driver(IoInstaller(loop=loop))
    world = wb.build()
    return world, io, world.resource(IoDriver)


def read_once(rx: ResMut[Received], event: IoEvent) -> None:
    rx.events.append(event)
    rx.chunks.append(os.read(event.fd, 100))


def test_fired_handler_is_removed_until_it_re_registers(pair: tuple[socket.socket, ...]) -> None:
    a, b = pair
    world, io, driver = setup()
    try:
        token = driver.register(b, into_handler(read_once, world.registry))
        assert driver.is_registered(token) and len(driver) == 1
        assert io.poll(world, 0) == 0  # nothing to read yet
        a.send(b"one")
        assert io.poll(world, 1.0) == 1
        rx = world.resource(Received)
        assert rx.chunks == [b"one"]
        ev = rx.events[0]
        assert (ev.fd, ev.token, ev.readable, ev.writable) == (b.fileno(), token, True, False)
        assert not driver.is_registered(token) and len(driver) == 0
        a.send(b"two")
        assert io.poll(world, 0.05) == 0  # moved out: no handler, no fire
        driver.register(b, into_handler(read_once, world.registry))
        assert io.poll(world, 1.0) == 1
        assert rx.chunks == [b"one", b"two"]
        assert world.changed_at(Received) == world.sequence == 2
    finally:
        io.close()


def test_self_re_arming_echo_handler(pair: tuple[socket.socket, ...]) -> None:
    a, b = pair
    world, io, driver = setup()

    def echo(io_driver: ResMut[IoDriver], rx: ResMut[Received], event: IoEvent) -> None:
        data = os.read(event.fd, 100)
        rx.chunks.append(data)
        os.write(event.fd, data.upper())
        io_driver.register(event.fd, template.generate())  # move-out-fire: re-arm

    template = HandlerTemplate(echo, world.registry)
    try:
        driver.register(b, template.generate())
        for word in (b"a", b"b", b"c"):
            a.send(word)
            assert io.poll(world, 1.0) == 1
            assert _wait_readable(a)
            assert a.recv(10) == word.upper()
        assert world.resource(Received).chunks == [b"a", b"b", b"c"]
        assert len(driver) == 1
    finally:
        io.close()


def _wait_readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 1.0)[0])


def test_stale_token_in_the_same_batch_is_skipped() -> None:
    world, io, driver = setup()
    p1, p2 = socket.socketpair(), socket.socketpair()
    try:
        tokens: dict[str, int] = {}

        def first(ctx: str, drv: ResMut[IoDriver], rx: ResMut[Received], e: IoEvent) -> None:
            rx.chunks.append(ctx.encode())
            other = tokens["b"] if ctx == "a" else tokens["a"]
            drv.deregister(other)  # the other one is ready too, but now stale

        tokens["a"] = driver.register(p1[1], into_callback(first, "a", world.registry))
        tokens["b"] = driver.register(p2[1], into_callback(first, "b", world.registry))
        p1[0].send(b"x")
        p2[0].send(b"x")
        assert _wait_readable(p1[1]) and _wait_readable(p2[1])
        assert io.poll(world, 1.0) == 1
        assert len(world.resource(Received).chunks) == 1
        assert not driver.deregister(tokens["a"]) and not driver.deregister(tokens["b"])
    finally:
        io.close()
        for s in (*p1, *p2):
            s.close()


def test_writable_interest(pair: tuple[socket.socket, ...]) -> None:
    a, _b = pair
    world, io, driver = setup()
    try:
        driver.register(a, into_handler(lambda rx, e: rx.events.append(e), world.registry,
                                        params=[ResMut[Received]]),
                        readable=False, writable=True)
        assert io.poll(world, 1.0) == 1
        ev = world.resource(Received).events[0]
        assert ev.writable and not ev.readable
    finally:
        io.close()


def test_registration_errors(pair: tuple[socket.socket, ...]) -> None:
    a, b = pair
    world, io, driver = setup()
    h = into_handler(read_once, world.registry)
    try:
        driver.register(b, h)
        with pytest.raises(ValueError, match=f"fd {b.fileno()} is already registered"):
            driver.register(b.fileno(), h)
        with pytest.raises(ValueError, match="readable=True and/or writable=True"):
            driver.register(a, h, readable=False)
        with pytest.raises(ValueError, match="(?i)invalid"):
            driver.register(-1, h)
        with pytest.raises(ValueError, match="(?i)invalid file object"):
            driver.register(object(), h)
        assert driver.token_for(b) is not None and driver.token_for(a) is None
    finally:
        io.close()
    assert len(driver) == 0


def test_deregister_then_slot_reuse_keeps_old_token_stale(pair: tuple[socket.socket, ...]) -> None:
    _a, b = pair
    world, io, driver = setup()
    try:
        old = driver.register(b, into_handler(read_once, world.registry))
        assert driver.deregister(old) and not driver.deregister(old)
        new = driver.register(b, into_handler(read_once, world.registry))
        assert new != old and not driver.is_registered(old) and driver.is_registered(new)
    finally:
        io.close()


def test_loop_backed_driver_uses_add_reader(pair: tuple[socket.socket, ...]) -> None:
    a, b = pair

    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()
        world, io, driver = setup(loop)
        done = loop.create_future()

        def on_read(drv: ResMut[IoDriver], rx: ResMut[Received], e: IoEvent) -> None:
            rx.chunks.append(os.read(e.fd, 100))
            if len(rx.chunks) < 2:
                drv.register(e.fd, template.generate())
            else:
                done.set_result(None)

        template = HandlerTemplate(on_read, world.registry)
        driver.register(b, template.generate())
        assert io.poll(world, 0) == 0  # the loop drives
        a.send(b"1")
        await asyncio.sleep(0.05)
        a.send(b"2")
        await asyncio.wait_for(done, 5)
        assert len(driver) == 0
        return world.resource(Received).chunks

    assert asyncio.run(main()) == [b"1", b"2"]


def test_attach_moves_registrations_to_the_loop(pair: tuple[socket.socket, ...]) -> None:
    a, b = pair

    async def main() -> list[bytes]:
        world, io, driver = setup()
        driver.register(b, into_handler(read_once, world.registry))
        io.attach(asyncio.get_running_loop(), world)
        a.send(b"x")
        for _ in range(200):
            if world.resource(Received).chunks:
                break
            await asyncio.sleep(0.005)
        io.close()
        return world.resource(Received).chunks

    assert asyncio.run(main()) == [b"x"]


def test_res_of_driver_is_readable(pair: tuple[socket.socket, ...]) -> None:
    _a, b = pair
    world, io, driver = setup()

    def count(drv: Res[IoDriver], e: int) -> int:
        return len(drv)

    try:
        driver.register(b, into_handler(read_once, world.registry))
        assert into_handler(count, world.registry).run(world, 0) == 1
    finally:
        io.close()
