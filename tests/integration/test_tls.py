"""HTTPS with real libraries on loopback, on stock asyncio and nexusloop: an aiohttp server with
``ssl=``, queried by aiohttp's and httpx's clients, and a STARTTLS-style upgrade in the middle of a
plain connection (SMTP, PostgreSQL and Redis do it this way).

Certificates come from a throwaway CA made by ``trustme`` when the module runs.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import ssl
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
from aiohttp import web

from .conftest import run

trustme = pytest.importorskip("trustme", reason="trustme (dev extra) makes the test certificates")

pytestmark = pytest.mark.timeout(60)

BODY = random.Random(7).randbytes(300_000)  # several TLS records each way


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@contextlib.asynccontextmanager
async def https_server(loop: asyncio.AbstractEventLoop, ca: trustme.CA) -> AsyncIterator[str]:
    async def echo(request: web.Request) -> web.Response:
        assert asyncio.get_running_loop() is loop, "aiohttp handler ran on another loop"
        assert request.secure
        body = await request.read()
        peer_cipher = request.transport.get_extra_info("cipher")  # type: ignore[union-attr]
        return web.Response(body=body, headers={"X-Sha256": hashlib.sha256(body).hexdigest(),
                                                "X-Cipher": peer_cipher[0]})

    app = web.Application()
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context(ca))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"https://localhost:{port}"
    finally:
        await runner.cleanup()


def test_aiohttp_client_over_https(any_loop: asyncio.AbstractEventLoop, ca: trustme.CA) -> None:
    async def main() -> None:
        async with https_server(any_loop, ca) as base:
            connector = aiohttp.TCPConnector(ssl=client_context(ca))
            async with aiohttp.ClientSession(connector=connector) as session:
                for _ in range(3):  # keep-alive: the same TLS connection is reused
                    async with session.post(f"{base}/echo", data=BODY) as resp:
                        assert resp.status == 200
                        assert await resp.read() == BODY
                        assert resp.headers["X-Sha256"] == hashlib.sha256(BODY).hexdigest()
                # An untrusting client fails verification, as on any loop.
                async with aiohttp.ClientSession() as untrusting:
                    with pytest.raises(aiohttp.ClientConnectorCertificateError):
                        await untrusting.post(f"{base}/echo", data=b"x")

    run(any_loop, main())


def test_httpx_client_over_https(any_loop: asyncio.AbstractEventLoop, ca: trustme.CA) -> None:
    async def main() -> None:
        async with https_server(any_loop, ca) as base, httpx.AsyncClient(
            verify=client_context(ca)
        ) as client:
            for _ in range(3):
                resp = await client.post(f"{base}/echo", content=BODY)
                assert resp.status_code == 200
                assert resp.content == BODY
                assert resp.headers["X-Cipher"]

    run(any_loop, main())


def test_starttls_upgrade_mid_connection(any_loop: asyncio.AbstractEventLoop,
                                         ca: trustme.CA) -> None:
    """A line-based protocol that upgrades with StreamWriter.start_tls after a plain greeting,
    as SMTP's STARTTLS does; data flows both ways before and after the upgrade."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 ready\r\n")
        assert await reader.readline() == b"STARTTLS\r\n"
        writer.write(b"220 go ahead\r\n")
        await writer.drain()
        await writer.start_tls(server_context(ca))
        assert writer.get_extra_info("ssl_object") is not None
        while line := await reader.readline():
            writer.write(b"250 " + line)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await reader.readline() == b"220 ready\r\n"
        writer.write(b"STARTTLS\r\n")
        assert await reader.readline() == b"220 go ahead\r\n"
        await writer.start_tls(client_context(ca), server_hostname="localhost")
        assert writer.get_extra_info("peercert") is not None
        for i in range(20):
            writer.write(b"MAIL %d\r\n" % i)
            assert await reader.readline() == b"250 MAIL %d\r\n" % i
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(any_loop, main())
