"""A small plain ASGI application for the uvicorn tests (in-process and ``python -m uvicorn``).

Routes: ``GET /hello``; ``GET /loop`` (the qualified class name of the running loop, which proves
which loop uvicorn chose); ``POST /echo`` (the request body back, however it was framed);
``GET /stream`` (:data:`STREAM_CHUNKS` as separate body messages, so chunked on the wire).
"""
from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

HELLO = b"hello from uvicorn\n"
STREAM_CHUNKS = [
    random.Random(100 + i).randbytes(size)
    for i, size in enumerate([1, 13, 1000, 4096, 65536, 65537, 250_000, 2])
]


def loop_name() -> str:
    cls = type(asyncio.get_running_loop())
    return f"{cls.__module__}.{cls.__qualname__}"


def make_app(on_call: Callable[[str], None] | None = None) -> App:
    """The application; ``on_call(what)`` runs on uvicorn's loop at each lifespan event and request."""

    def seen(what: str) -> None:
        if on_call is not None:
            on_call(what)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                seen(message["type"])
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert scope["type"] == "http", scope["type"]
        method, path = scope["method"], scope["path"]
        seen(f"{method} {path}")

        async def respond(status: int, body: bytes) -> None:
            headers = [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        if (method, path) == ("GET", "/hello"):
            await respond(200, HELLO)
        elif (method, path) == ("GET", "/loop"):
            await respond(200, loop_name().encode())
        elif (method, path) == ("POST", "/echo"):
            parts = []
            while True:
                message = await receive()
                assert message["type"] == "http.request", message["type"]
                parts.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            await respond(200, b"".join(parts))
        elif (method, path) == ("GET", "/stream"):
            headers = [(b"content-type", b"application/octet-stream")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            for chunk in STREAM_CHUNKS:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await respond(404, b"not found\n")

    return app


app = make_app()
