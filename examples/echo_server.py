"""A TCP echo server on nexusloop, with asyncio streams (``asyncio.start_server``).

Run:
  python examples/echo_server.py --port 8888                   # serve until Ctrl-C or SIGTERM
  python examples/echo_server.py --client --port 8888 hi there # one line per argument, echoed
  python examples/echo_server.py --self-test                   # a server and 50 clients, then exit

The server prints ``listening on HOST:PORT (LOOP CLASS)`` once it accepts connections
(``--port 0`` picks a free port) and stops gracefully on SIGINT/SIGTERM: it stops accepting,
closes the open connections and exits with status 0.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

import nexusloop


def loop_name() -> str:
    cls = type(asyncio.get_running_loop())
    return f"{cls.__module__}.{cls.__qualname__}"


class EchoServer:
    """``asyncio.start_server`` with an echo handler, and a graceful :meth:`stop`."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the port (``port=0`` picks a free one)."""
        self.server = await asyncio.start_server(self.echo, host, port)
        return int(self.server.sockets[0].getsockname()[1])

    async def echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections[task] = writer
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()  # back-pressure: stop reading while the client is slow
        except ConnectionError:
            pass
        finally:
            del self.connections[task]
            writer.close()

    async def stop(self) -> None:
        """Stop accepting, close every connection (its handler sees EOF) and wait for them."""
        assert self.server is not None
        self.server.close()
        for writer in self.connections.values():
            writer.close()
        if self.connections:
            await asyncio.wait(list(self.connections))
        await self.server.wait_closed()


async def serve(host: str, port: int) -> None:
    server = EchoServer()
    bound_port = await server.start(host, port)
    print(f"listening on {host}:{bound_port} ({loop_name()})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
    print("stopped", flush=True)


async def client(host: str, port: int, lines: Sequence[str]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    for line in lines:
        writer.write(line.encode() + b"\n")
        print((await reader.readline()).decode().rstrip("\n"))
    writer.close()
    await writer.wait_closed()


async def self_test(clients: int = 50, rounds: int = 20) -> None:
    server = EchoServer()
    port = await server.start("127.0.0.1", 0)

    async def one(n: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = 0
        for r in range(rounds):
            message = f"client {n} round {r} ".encode() * (1 + 100 * r)  # up to ~50 KB
            writer.write(message)
            assert await reader.readexactly(len(message)) == message
            sent += len(message)
        writer.close()
        await writer.wait_closed()
        return sent

    total = sum(await asyncio.gather(*(one(n) for n in range(clients))))
    await server.stop()
    print(f"self-test ok: {clients} clients echoed {total} bytes on {loop_name()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a streams echo server on nexusloop")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8888)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--client", action="store_true", help="send LINES, print the echoes")
    mode.add_argument("--self-test", action="store_true", help="server + clients in one process")
    parser.add_argument("lines", nargs="*", metavar="LINES")
    args = parser.parse_args(argv)
    if args.self_test:
        nexusloop.run(self_test())
    elif args.client:
        nexusloop.run(client(args.host, args.port, args.lines or ["hello, nexusloop"]))
    else:
        nexusloop.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
