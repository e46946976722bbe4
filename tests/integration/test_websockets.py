"""The ``websockets`` library's asyncio implementation: echo server and client on loopback.

``websockets.asyncio.server.serve`` and ``websockets.asyncio.client.connect`` as their documentation
uses them; messages compared for exact equality and type (text arrives as ``str``, binary as
``bytes``), close codes and reasons checked in both directions.
"""
from __future__ import annotations

import asyncio
import random

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.frames import CloseCode

from .conftest import run

pytestmark = pytest.mark.timeout(60)

MIB = 1 << 20
RANDOM_MIB = random.Random(8).randbytes(MIB)
TEXT = "héllo, wörld ☃ \U0001f40d " * 2000


def test_echo_text_binary_fragmented(any_loop: asyncio.AbstractEventLoop) -> None:
    server_closes: list[tuple[int | None, str | None]] = []

    async def echo(ws: ServerConnection) -> None:
        assert asyncio.get_running_loop() is any_loop, "websockets handler ran on another loop"
        while True:
            try:
                message = await ws.recv()
            except ConnectionClosedError:  # what recv() raises for a close code other than 1000/1001
                break
            await ws.send(message)
        server_closes.append((ws.close_code, ws.close_reason))

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0, max_size=2 * MIB) as server:
            host, port = next(iter(server.sockets)).getsockname()[:2]
            assert host == "127.0.0.1"
            async with connect(f"ws://127.0.0.1:{port}/", max_size=2 * MIB) as ws:
                messages: list[str | bytes] = ["", "a", TEXT, b"", b"\x00", RANDOM_MIB]
                for message in messages:
                    await ws.send(message)
                    echoed = await ws.recv()
                    assert type(echoed) is type(message) and echoed == message
                # A fragmented message: one message on the far side, echoed whole.
                await ws.send([RANDOM_MIB[:1000], RANDOM_MIB[1000:70_000], RANDOM_MIB[70_000:]])
                assert await ws.recv() == RANDOM_MIB
                await ws.send(["frag", "mented ☃"])
                assert await ws.recv() == "fragmented ☃"
                # Ping/pong round trip (latency is a float; no bound on it).
                pong = await ws.ping(b"nexus")
                assert isinstance(await pong, float)
                await ws.close(4001, "client done")
                assert (ws.close_code, ws.close_reason) == (4001, "client done")
        assert server_closes == [(4001, "client done")]

    run(any_loop, main())


def test_server_initiated_close_codes(any_loop: asyncio.AbstractEventLoop) -> None:
    async def handler(ws: ServerConnection) -> None:
        assert asyncio.get_running_loop() is any_loop
        request_path = ws.request.path if ws.request is not None else None
        await ws.send(f"path={request_path}")
        if request_path == "/going-away":
            await ws.close(CloseCode.GOING_AWAY, "server shutting down")
        else:
            await ws.close(4321, "custom reason ☃")

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}/going-away") as ws:
                assert await ws.recv() == "path=/going-away"
                with pytest.raises(ConnectionClosedOK) as ok:
                    await ws.recv()
                assert ok.value.rcvd is not None
                assert (ok.value.rcvd.code, ok.value.rcvd.reason) == (1001, "server shutting down")
            async with connect(f"ws://127.0.0.1:{port}/custom") as ws:
                assert await ws.recv() == "path=/custom"
                with pytest.raises(ConnectionClosedError) as err:
                    await ws.recv()
                assert err.value.rcvd is not None
                assert (err.value.rcvd.code, err.value.rcvd.reason) == (4321, "custom reason ☃")
                assert (ws.close_code, ws.close_reason) == (4321, "custom reason ☃")

    run(any_loop, main())


def test_many_clients_concurrently(any_loop: asyncio.AbstractEventLoop) -> None:
    server_closes: list[tuple[int | None, str | None]] = []

    async def echo(ws: ServerConnection) -> None:
        assert asyncio.get_running_loop() is any_loop
        async for message in ws:  # ends without an exception on a normal closure (1000)
            await ws.send(message)
        server_closes.append((ws.close_code, ws.close_reason))

    async def client(port: int, i: int) -> None:
        payload = random.Random(i).randbytes(1 + i * 997)
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            for message in (f"client {i}", payload):
                await ws.send(message)
                assert await ws.recv() == message
        assert (ws.close_code, ws.close_reason) == (CloseCode.NORMAL_CLOSURE, "")

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with asyncio.TaskGroup() as tg:
                for i in range(50):
                    tg.create_task(client(port, i))
        assert server_closes == [(CloseCode.NORMAL_CLOSURE, "")] * 50

    run(any_loop, main())
