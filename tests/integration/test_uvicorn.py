"""uvicorn serving a plain ASGI app, queried by httpx, with the loop chosen as uvicorn users choose it.

How uvicorn picks the loop (checked against the installed version, see :func:`test_uvicorn_version`):
``Config(loop=...)`` / ``--loop`` takes a name from ``uvicorn.config.LOOP_FACTORIES`` ("auto",
"asyncio", "uvloop", ...) or, for anything else, an import string ``"module:attr"`` naming a loop
*factory*; ``Config.get_loop_factory()`` returns that factory, and ``Server.run()`` passes it as
``loop_factory=`` to ``asyncio.run`` (``asyncio.Runner`` on 3.11). So a nexusloop user writes
``--loop nexusloop:new_event_loop`` or ``Config(app, loop="nexusloop:new_event_loop")``.

In-process, the test does what ``Server.run()`` does, except that the coroutine it runs under
``asyncio.Runner(loop_factory=config.get_loop_factory())`` serves *and* queries with an
``httpx.AsyncClient``, so client and server share the loop under test. The CLI test runs
``python -m uvicorn --loop ...`` in a subprocess and asks the app which loop it runs on.
"""
from __future__ import annotations

import asyncio
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

import nexusloop

from . import _asgi_app
from .conftest import HANG_TIMEOUT, LoopChoice, qualified_name

pytestmark = pytest.mark.timeout(90)

MIB = 1 << 20
RANDOM_MIB = random.Random(7).randbytes(MIB)
HERE = os.path.dirname(os.path.abspath(__file__))


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v)[:3])


def test_uvicorn_version() -> None:
    """The import-string loop factory these tests rely on needs uvicorn >= 0.36 (``get_loop_factory``)."""
    assert _version(uvicorn.__version__) >= (0, 36), uvicorn.__version__
    config = uvicorn.Config(_asgi_app.app, loop="nexusloop:new_event_loop", log_config=None)
    assert config.get_loop_factory() is nexusloop.new_event_loop


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
        await asyncio.sleep(0)


async def _query(client: httpx.AsyncClient) -> None:
    """The requests both the in-process and the CLI test make, with byte-exact checks."""
    r = await client.get("/hello")
    assert (r.status_code, r.http_version, r.content) == (200, "HTTP/1.1", _asgi_app.HELLO)

    # A request body of 1 MiB with a Content-Length, echoed.
    r = await client.post("/echo", content=RANDOM_MIB)
    assert r.status_code == 200
    assert r.headers["content-length"] == str(MIB)
    assert r.content == RANDOM_MIB

    # A streamed (chunked) request body, read back through a streamed response.
    async with client.stream("POST", "/echo", content=_chunks(RANDOM_MIB, 50_000)) as r:
        assert r.status_code == 200
        got = b"".join([piece async for piece in r.aiter_bytes()])
    assert got == RANDOM_MIB

    # A streamed (chunked) response from several ASGI body messages.
    async with client.stream("GET", "/stream") as r:
        assert r.status_code == 200
        assert r.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in r.headers
        pieces = [piece async for piece in r.aiter_raw()]
    assert b"".join(pieces) == b"".join(_asgi_app.STREAM_CHUNKS)

    r = await client.get("/nowhere")
    assert (r.status_code, r.content) == (404, b"not found\n")


def test_config_loop_in_process(loop_choice: LoopChoice) -> None:
    seen: list[tuple[str, asyncio.AbstractEventLoop]] = []
    app = _asgi_app.make_app(lambda what: seen.append((what, asyncio.get_running_loop())))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        loop=loop_choice.uvicorn_loop,
        lifespan="on",
        log_config=None,
        log_level="warning",
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert type(loop) is loop_choice.loop_class
        async with asyncio.timeout(HANG_TIMEOUT):
            serving = asyncio.create_task(server.serve())
            try:
                while not server.started:
                    if serving.done():
                        serving.result()  # startup failed: raise its error here
                        pytest.fail("uvicorn's serve() returned without starting")
                    await asyncio.sleep(0.005)
                (sock,) = server.servers[0].sockets
                host, port = sock.getsockname()[:2]
                assert host == "127.0.0.1"
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=HANG_TIMEOUT
                ) as client:
                    await _query(client)
            finally:
                server.should_exit = True
                await serving
        assert asyncio.all_tasks() == {asyncio.current_task()}
        # The app ran on this very loop: lifespan, then each request, then shutdown.
        assert {id(where) for _, where in seen} == {id(loop)}
        assert [what for what, _ in seen][0] == "lifespan.startup"
        assert [what for what, _ in seen][-1] == "lifespan.shutdown"
        assert ("POST /echo", loop) in seen and ("GET /stream", loop) in seen

    # Exactly what uvicorn's Server.run() does with the factory (uvicorn/_compat.py asyncio_run).
    factory = config.get_loop_factory()
    assert factory is not None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())


def _read_lines(stream: object, lines: queue.Queue[str | None], log: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        log.append(line)
        lines.put(line)
    lines.put(None)


def test_cli_loop_option(loop_choice: LoopChoice) -> None:
    cmd = [
        sys.executable, "-m", "uvicorn",
        "--loop", loop_choice.uvicorn_loop,
        "--host", "127.0.0.1", "--port", "0",
        "--app-dir", HERE,
        "_asgi_app:app",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UVICORN_", "WEB_CONCURRENCY"))}
    env["PYTHONUNBUFFERED"] = "1"
    log: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        text=True, env=env,
    ) as proc:  # fmt: skip
        reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines, log), daemon=True)
        reader.start()
        try:
            port = None
            while port is None:
                try:
                    line = lines.get(timeout=HANG_TIMEOUT)
                except queue.Empty:
                    pytest.fail("uvicorn did not start in time:\n" + "".join(log))
                if line is None:
                    proc.wait(timeout=HANG_TIMEOUT)
                    pytest.fail(f"uvicorn exited with {proc.returncode}:\n" + "".join(log))
                m = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line)
                if m:
                    port = int(m.group(1))

            async def main() -> None:
                assert type(asyncio.get_running_loop()) is loop_choice.loop_class
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=HANG_TIMEOUT
                ) as client:
                    r = await client.get("/loop")
                    # Proves the loop uvicorn chose in the child from --loop.
                    assert r.content.decode() == qualified_name(loop_choice.loop_class)
                    await _query(client)
                assert asyncio.all_tasks() == {asyncio.current_task()}

            with asyncio.Runner(loop_factory=loop_choice.factory) as runner:
                runner.run(main())
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # what a process manager sends
            try:
                proc.wait(timeout=HANG_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                pytest.fail("uvicorn did not exit after SIGTERM:\n" + "".join(log))
            reader.join(timeout=HANG_TIMEOUT)
    output = "".join(log)
    # A graceful shutdown (lifespan shutdown ran), then uvicorn re-raises the captured SIGTERM with
    # the default handler restored, so the exit status is "killed by SIGTERM"; older uvicorn exited 0.
    assert "Finished server process" in output, output
    assert "Traceback" not in output and "ERROR" not in output, output
    assert proc.returncode in (0, -signal.SIGTERM), (proc.returncode, output)
