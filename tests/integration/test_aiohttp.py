"""aiohttp server and client on loopback, as aiohttp users run them, on stock asyncio and nexusloop.

The server is an ``aiohttp.web`` application behind ``AppRunner`` + ``TCPSite`` on an ephemeral
127.0.0.1 port; the client is a ``ClientSession`` on the same loop. Bodies are compared byte for byte,
and every handler checks that it runs on the loop under test.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from .conftest import run

pytestmark = pytest.mark.timeout(60)

MIB = 1 << 20
# Deterministic "random" bytes: a failure reproduces; every byte value occurs.
RANDOM_MIB = random.Random(6).randbytes(MIB)
# Chunk sizes for the streaming response: tiny, odd, around typical buffer sizes, and large.
STREAM_CHUNKS = [
    random.Random(i).randbytes(size)
    for i, size in enumerate([1, 7, 100, 4095, 4096, 4097, 65536, 65537, 300_000, 3])
]

# The websocket handler records each close code it saw, to check the clean close from its side too.
CLOSE_CODES = web.AppKey("close_codes", list)


def make_app(loop: asyncio.AbstractEventLoop) -> web.Application:
    def on_loop_under_test() -> None:
        assert asyncio.get_running_loop() is loop, "aiohttp handler ran on another loop"

    async def hello(request: web.Request) -> web.Response:
        on_loop_under_test()
        return web.Response(body=b"hello, nexusloop\n", content_type="application/octet-stream")

    async def echo(request: web.Request) -> web.Response:
        on_loop_under_test()
        body = await request.read()
        return web.Response(
            body=body,
            content_type="application/octet-stream",
            headers={"X-Sha256": hashlib.sha256(body).hexdigest()},
        )

    async def stream(request: web.Request) -> web.StreamResponse:
        on_loop_under_test()
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for chunk in STREAM_CHUNKS:
            await resp.write(chunk)
            await asyncio.sleep(0)  # let the client see separate writes, not one coalesced body
        await resp.write_eof()
        return resp

    async def ws_echo(request: web.Request) -> web.WebSocketResponse:
        on_loop_under_test()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        request.app[CLOSE_CODES].append(ws.close_code)
        return ws

    app = web.Application(client_max_size=4 * MIB)
    app[CLOSE_CODES] = []
    app.router.add_get("/hello", hello)
    app.router.add_post("/echo", echo)
    app.router.add_get("/stream", stream)
    app.router.add_get("/ws", ws_echo)
    return app


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Run ``app`` on an ephemeral 127.0.0.1 port; yield its base URL; clean up after."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        assert host == "127.0.0.1" and port > 0
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def test_get_and_post_echo_1mib(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async with serving(make_app(any_loop)) as base, aiohttp.ClientSession() as session:
            async with session.get(f"{base}/hello") as resp:
                assert resp.status == 200
                assert await resp.read() == b"hello, nexusloop\n"
            async with session.post(f"{base}/echo", data=RANDOM_MIB) as resp:
                assert resp.status == 200
                assert resp.content_length == MIB
                body = await resp.read()
                assert resp.headers["X-Sha256"] == hashlib.sha256(RANDOM_MIB).hexdigest()
                assert body == RANDOM_MIB
            # More requests on the kept-alive connection, bodies of assorted sizes incl. empty
            # (up to 1 MiB: aiohttp warns about larger bytes bodies and wants a file object).
            for size in (0, 1, 65535, 65536, 65537, MIB - 1):
                data = RANDOM_MIB[:size]
                async with session.post(f"{base}/echo", data=data) as resp:
                    assert resp.status == 200
                    assert await resp.read() == data

    run(any_loop, main())


def test_streaming_response_iter_chunked(any_loop: asyncio.AbstractEventLoop) -> None:
    expected = b"".join(STREAM_CHUNKS)

    async def main() -> None:
        async with serving(make_app(any_loop)) as base, aiohttp.ClientSession() as session:
            async with session.get(f"{base}/stream") as resp:
                assert resp.status == 200
                assert resp.headers["Transfer-Encoding"] == "chunked"
                assert "Content-Length" not in resp.headers
                pieces = [chunk async for chunk in resp.content.iter_chunked(8192)]
            assert all(0 < len(p) <= 8192 for p in pieces)
            assert len(pieces) >= len(expected) // 8192
            assert b"".join(pieces) == expected

    run(any_loop, main())


def test_websocket_echo_text_binary_close(any_loop: asyncio.AbstractEventLoop) -> None:
    text = "héllo, wörld ☃ \U0001f40d " * 1000
    binary = RANDOM_MIB[: 256 * 1024]

    async def main() -> None:
        app = make_app(any_loop)
        async with serving(app) as base, aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{base}/ws") as ws:
                await ws.send_str("")
                assert await ws.receive_str() == ""
                await ws.send_str(text)
                assert await ws.receive_str() == text
                await ws.send_bytes(binary)
                got = await ws.receive_bytes()
                assert isinstance(got, bytes) and got == binary
                await ws.send_bytes(b"\x00")
                assert await ws.receive_bytes() == b"\x00"
                assert await ws.close() is True
                assert ws.closed
                assert ws.close_code == aiohttp.WSCloseCode.OK
            # The server's handler saw the client's clean close and returned.
            assert app[CLOSE_CODES] == [aiohttp.WSCloseCode.OK]

    run(any_loop, main())
