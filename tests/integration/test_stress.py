"""2,000 concurrent loopback TCP connections through asyncio streams, echoing, then all closed.

All connections are open at the same time (each client waits until every client has connected and
every server handler has started), each echoes a few messages, a few of them larger than the socket
buffers so that ``drain()`` really waits, and each ends with a half-close answered by the server.
Afterwards the process has exactly the file descriptors it had before and the loop runs no task
but the test's own. Bounded: a few seconds on stock asyncio; the timeouts only detect hangs.
"""
from __future__ import annotations

import asyncio
import contextlib
import random
import resource
from collections.abc import Iterator

import pytest

from .conftest import open_fds, run

N_CONNECTIONS = 2000
MESSAGES_PER_CONNECTION = 3
FD_MARGIN = 256  # besides two fds per connection: the listener, pytest's own, the loop's

pytestmark = pytest.mark.timeout(180)


@contextlib.contextmanager
def nofile_soft_limit_at_least(needed: int) -> Iterator[None]:
    """Raise RLIMIT_NOFILE's soft limit to ``needed`` (up to the hard limit) and restore it after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(
            f"{N_CONNECTIONS} connections need {needed} file descriptors; "
            f"RLIMIT_NOFILE hard limit is {hard}"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def message(conn: int, k: int) -> bytes:
    # Mostly small; every 100th connection sends one 256 KiB message (more than a socket buffer).
    size = 256 * 1024 if conn % 100 == 0 and k == 1 else 1 + (conn * 31 + k * 977) % 3000
    return random.Random(conn * 10 + k).randbytes(size)


async def warm_up() -> None:
    """One server and one connection, echoed and closed, before the fd snapshot.

    A loop may open an fd of its own on first use and keep it until it is closed (uvloop, via libuv,
    keeps a spare /dev/null fd for EMFILE handling from the first listen on). That is not a leak, and
    the fixture's check after ``loop.close()`` still sees everything; the snapshot taken after the
    warm-up makes the in-loop comparison strict about what scales with connections.
    """

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(100))
        writer.close()
        await writer.wait_closed()

    async with await asyncio.start_server(echo, "127.0.0.1", 0) as server:
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        writer.write(b"warm-up")
        assert await reader.read() == b"warm-up"
        writer.close()
        await writer.wait_closed()
    await server.wait_closed()


def test_2000_concurrent_connections_echo(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        me = asyncio.current_task()
        await warm_up()
        fds_before = open_fds()
        connected = 0
        handlers_started = 0
        handlers_finished = 0
        everyone_connected = asyncio.Event()
        all_handlers_finished = asyncio.Event()

        def check_everyone_connected() -> None:
            if connected == N_CONNECTIONS and handlers_started == N_CONNECTIONS:
                everyone_connected.set()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal handlers_started, handlers_finished
            assert asyncio.get_running_loop() is any_loop, "handler ran on another loop"
            handlers_started += 1
            check_everyone_connected()
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
                # The client half-closed: answer with our own EOF, then close.
            finally:
                writer.close()
                await writer.wait_closed()
                handlers_finished += 1
                if handlers_finished == N_CONNECTIONS:
                    all_handlers_finished.set()

        async def client(conn: int, port: int) -> None:
            nonlocal connected
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                connected += 1
                check_everyone_connected()
                await everyone_connected.wait()
                for k in range(MESSAGES_PER_CONNECTION):
                    msg = message(conn, k)
                    writer.write(msg)
                    await writer.drain()
                    assert await reader.readexactly(len(msg)) == msg
                writer.write_eof()
                assert await reader.read() == b""  # the server saw our EOF and closed
            finally:
                writer.close()
                await writer.wait_closed()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=N_CONNECTIONS)
        async with server:
            port = server.sockets[0].getsockname()[1]
            async with asyncio.TaskGroup() as tg:
                for conn in range(N_CONNECTIONS):
                    tg.create_task(client(conn, port))
                await everyone_connected.wait()
                # All connections are open at once: both ends of each, plus the listener.
                assert len(open_fds() - fds_before) >= 2 * N_CONNECTIONS + 1
            await all_handlers_finished.wait()
        await server.wait_closed()

        assert (connected, handlers_started, handlers_finished) == (N_CONNECTIONS,) * 3
        assert open_fds() == fds_before
        assert asyncio.all_tasks() == {me}

    needed = len(open_fds()) + 2 * N_CONNECTIONS + FD_MARGIN
    with nofile_soft_limit_at_least(needed):
        run(any_loop, main(), timeout=120)
