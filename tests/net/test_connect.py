"""Client connections: ``create_connection``, ``create_unix_connection``, ``connect_accepted_socket``.

Every test body runs on stock asyncio and on nexusloop (the ``net`` fixture wraps ``any_loop``,
which fails a test that leaks a file descriptor; the fixture also fails a test that leaves a
task pending, a transport open, a ``ResourceWarning`` or an unexpected exception-handler call).
Loopback and temporary Unix paths only: a connect that never completes is made against a
listening socket whose accept queue is full. No timing assertions.
"""
from __future__ import annotations

import asyncio
import contextvars
import errno
import gc
import os
import pathlib
import socket
import ssl
import sys
import warnings
from typing import Any

import pytest

from ._harness import HANG_GUARD, Accepted, Echo, Net, Proto, has_ipv6_loopback, ticks, until

# --------------------------------------------------------------------------- harness


class EchoServer:
    """``async with EchoServer(loop) as srv``: a TCP (or Unix) echo server, closed on exit."""

    def __init__(self, unix_path: str | None = None) -> None:
        self.factory = Accepted(Echo)
        self.unix_path = unix_path
        self.server: Any = None

    async def __aenter__(self) -> EchoServer:
        loop = asyncio.get_running_loop()
        if self.unix_path is None:
            self.server = await loop.create_server(self.factory, "127.0.0.1", 0)
        else:
            self.server = await loop.create_unix_server(self.factory, self.unix_path)
        return self

    @property
    def address(self) -> Any:
        return self.server.sockets[0].getsockname()

    @property
    def port(self) -> int:
        return self.address[1]  # type: ignore[no-any-return]

    async def __aexit__(self, *exc: Any) -> None:
        await until(lambda: all(p.lost for p in self.factory.protocols), "server side closed")
        self.server.close()
        await self.server.wait_closed()


async def check_echo(transport: Any, protocol: Proto, payload: bytes = b"hello") -> None:
    transport.write(payload)
    await until(lambda: len(protocol.data) >= len(payload), "echo")
    assert protocol.data == payload
    transport.close()
    await until(lambda: protocol.lost, "connection_lost")
    assert protocol.lost == [None]


def refused_port() -> tuple[socket.socket, int]:
    """A bound, not listening socket: connecting to its port is refused (and nobody takes it)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


# --------------------------------------------------------------------------- create_connection


def test_create_connection_numeric_host(net: Net) -> None:
    async def main() -> None:
        async with EchoServer() as srv:
            transport, protocol = await net.loop.create_connection(Proto, "127.0.0.1", srv.port)
            # Returns once connection_made ran, with the transport the protocol was given.
            assert protocol.events == ["made"]
            assert protocol.transport is transport
            assert isinstance(transport, asyncio.Transport)
            assert transport.get_extra_info("peername") == ("127.0.0.1", srv.port)
            sock = transport.get_extra_info("socket")
            assert sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            await check_echo(transport, protocol)

    net.run(main())


def test_create_connection_port_as_string(net: Net) -> None:
    async def main() -> None:
        async with EchoServer() as srv:
            transport, protocol = await net.loop.create_connection(Proto, "127.0.0.1",
                                                                   str(srv.port))
            await check_echo(transport, protocol)

    net.run(main())


def test_create_connection_host_name(net: Net) -> None:
    async def main() -> None:
        async with EchoServer() as srv:
            transport, protocol = await net.loop.create_connection(
                Proto, "localhost", srv.port, family=socket.AF_INET
            )
            assert transport.get_extra_info("peername") == ("127.0.0.1", srv.port)
            await check_echo(transport, protocol)

    net.run(main())


def test_create_connection_ipv6(net: Net) -> None:
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback")

    async def main() -> None:
        factory = Accepted(Echo)
        server = await net.loop.create_server(factory, "::1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            transport, protocol = await net.loop.create_connection(Proto, "::1", port)
            assert transport.get_extra_info("socket").family == socket.AF_INET6
            await check_echo(transport, protocol)
            await until(lambda: all(p.lost for p in factory.protocols), "server side closed")
        finally:
            server.close()
            await server.wait_closed()

    net.run(main())


def test_create_connection_sock(net: Net) -> None:
    async def main() -> None:
        async with EchoServer() as srv:
            sock = socket.socket()
            sock.setblocking(False)
            await net.loop.sock_connect(sock, srv.address)
            transport, protocol = await net.loop.create_connection(Proto, sock=sock)
            assert transport.get_extra_info("socket").fileno() == sock.fileno()
            assert transport.get_extra_info("peername") == srv.address
            await check_echo(transport, protocol)
            assert sock.fileno() == -1  # the transport owned it and closed it

    net.run(main())


def test_create_connection_blocking_sock_is_made_non_blocking(net: Net) -> None:
    async def main() -> None:
        async with EchoServer() as srv:
            sock = socket.create_connection(srv.address, timeout=HANG_GUARD)
            sock.setblocking(True)
            transport, protocol = await net.loop.create_connection(Proto, sock=sock)
            assert sock.gettimeout() == 0
            await check_echo(transport, protocol)

    net.run(main())


def test_create_connection_local_addr(net: Net) -> None:
    async def main() -> None:
        async with EchoServer() as srv:
            transport, protocol = await net.loop.create_connection(
                Proto, "127.0.0.1", srv.port, local_addr=("127.0.0.1", 0)
            )
            host, port = transport.get_extra_info("sockname")
            assert host == "127.0.0.1" and port != 0
            await check_echo(transport, protocol)

            # A local port in use cannot be bound again.
            with socket.socket() as taken:
                taken.bind(("127.0.0.1", 0))
                taken.listen()
                with pytest.raises(OSError) as info:
                    await net.loop.create_connection(
                        Proto, "127.0.0.1", srv.port, local_addr=taken.getsockname()
                    )
                assert info.value.errno == errno.EADDRINUSE
            # No local address of the remote address's family.
            with pytest.raises(OSError):
                await net.loop.create_connection(
                    Proto, "127.0.0.1", srv.port, local_addr=("::1", 0)
                )

    net.run(main())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_create_connection_happy_eyeballs(net: Net, host: str) -> None:
    async def main() -> None:
        async with EchoServer() as srv:
            transport, protocol = await net.loop.create_connection(
                Proto, host, srv.port, happy_eyeballs_delay=0.25
            )
            assert transport.get_extra_info("peername")[:2] == ("127.0.0.1", srv.port)
            await check_echo(transport, protocol)
            transport, protocol = await net.loop.create_connection(
                Proto, host, srv.port, happy_eyeballs_delay=0.25, interleave=2
            )
            await check_echo(transport, protocol)
            transport, protocol = await net.loop.create_connection(
                Proto, host, srv.port, interleave=1
            )
            await check_echo(transport, protocol)

    net.run(main())


def test_contextvars_reach_protocol_callbacks(net: Net) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    class Seer(Proto):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[tuple[str, str]] = []

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.seen.append(("made", var.get()))

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self.seen.append(("data", var.get()))

        def connection_lost(self, exc: BaseException | None) -> None:
            super().connection_lost(exc)
            self.seen.append(("lost", var.get()))

    async def connect(port: int) -> tuple[Any, Seer]:
        var.set("client")
        return await net.loop.create_connection(Seer, "127.0.0.1", port)

    async def main() -> None:
        factory = Accepted(Seer)
        var.set("server")
        server = await net.loop.create_server(factory, "127.0.0.1", 0)
        var.set("other")
        try:
            transport, protocol = await asyncio.ensure_future(
                connect(server.sockets[0].getsockname()[1])
            )
            assert var.get() == "other"
            await until(lambda: factory.protocols, "accept")
            factory.protocols[0].transport.write(b"x")
            await until(lambda: protocol.data, "data")
            transport.write(b"y")
            await until(lambda: factory.protocols[0].data, "data")
            transport.close()
            await until(lambda: protocol.lost and factory.protocols[0].lost, "closed")
            # connection_lost is left out: asyncio runs it in the context of whoever closed.
            assert protocol.seen[:2] == [("made", "client"), ("data", "client")]
            assert factory.protocols[0].seen[:2] == [("made", "server"), ("data", "server")]
        finally:
            server.close()
            await server.wait_closed()

    net.run(main())


# --------------------------------------------------------------------------- faults


def test_connection_refused(net: Net) -> None:
    async def main() -> None:
        blocker, port = refused_port()
        with blocker:
            with pytest.raises(ConnectionRefusedError):
                await net.loop.create_connection(Proto, "127.0.0.1", port)
            with pytest.raises(ConnectionRefusedError):
                await net.loop.create_connection(Proto, "localhost", port, family=socket.AF_INET)
            with pytest.raises(ConnectionRefusedError):
                await net.loop.create_connection(Proto, "127.0.0.1", port,
                                                 happy_eyeballs_delay=0.1)
            with pytest.raises(ConnectionRefusedError):
                await net.loop.create_connection(Proto, "127.0.0.1", port,
                                                 local_addr=("127.0.0.1", 0))

    net.run(main())


def test_connection_refused_all_errors(net: Net) -> None:
    if not net.nexus and sys.version_info < (3, 12):
        pytest.skip("stock asyncio has create_connection(all_errors=...) from Python 3.12")

    async def main() -> None:
        blocker, port = refused_port()
        with blocker:
            with pytest.raises(ExceptionGroup) as info:
                await net.loop.create_connection(Proto, "127.0.0.1", port, all_errors=True)
            assert [type(e) for e in info.value.exceptions] == [ConnectionRefusedError]

    net.run(main())


@pytest.mark.parametrize("how", ["wait_for", "cancel"])
def test_connect_that_never_completes_can_be_abandoned(net: Net, how: str) -> None:
    """A connect stuck in progress (the peer's accept queue is full) is cancelled cleanly."""

    async def main() -> None:
        listener = socket.socket()
        fillers: list[socket.socket] = []
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(0)  # room for one completed connection, never accepted
            address = listener.getsockname()
            fillers.append(socket.create_connection(address, timeout=HANG_GUARD))
            connect = net.loop.create_connection(Proto, *address)
            if how == "wait_for":
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(connect, 0.2)
            else:
                task = asyncio.ensure_future(connect)
                await ticks()
                assert not task.done()
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
        finally:
            for filler in fillers:
                filler.close()
            listener.close()

    net.run(main())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "unix"])
def test_client_protocol_factory_raising(net: Net, host: str, tmpdir_short: str) -> None:
    def factory() -> Any:
        raise ValueError("client factory bug")

    async def main() -> None:
        path = os.path.join(tmpdir_short, "f.sock") if host == "unix" else None
        async with EchoServer(path) as srv:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ResourceWarning)
                with pytest.raises(ValueError, match="client factory bug") as info:
                    if path is not None:
                        await net.loop.create_unix_connection(factory, path)
                    else:
                        await net.loop.create_connection(factory, host, srv.port,
                                                         family=socket.AF_INET)
                del info  # on the stock loop its traceback holds the connected socket
                gc.collect()
            # The stock loop leaves the connected socket to the garbage collector.
            if net.nexus:
                assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
            await until(lambda: srv.factory.protocols and srv.factory.protocols[0].lost,
                        "the server side sees the connection closed")

    net.run(main())


# --------------------------------------------------------------------------- create_unix_connection


def test_create_unix_connection(net: Net, tmpdir_short: str) -> None:
    async def main() -> None:
        path = os.path.join(tmpdir_short, "s.sock")
        async with EchoServer(path):
            transport, protocol = await net.loop.create_unix_connection(Proto, path)
            assert protocol.events == ["made"]
            assert transport.get_extra_info("peername") == path
            assert transport.get_extra_info("socket").family == socket.AF_UNIX
            await check_echo(transport, protocol)
            transport, protocol = await net.loop.create_unix_connection(
                Proto, pathlib.Path(path)
            )
            await check_echo(transport, protocol)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            transport, protocol = await net.loop.create_unix_connection(Proto, sock=sock)
            await check_echo(transport, protocol)

    net.run(main())


def test_create_unix_connection_failures(net: Net, tmpdir_short: str) -> None:
    async def main() -> None:
        missing = os.path.join(tmpdir_short, "missing.sock")
        with pytest.raises(FileNotFoundError):
            await net.loop.create_unix_connection(Proto, missing)
        stale = os.path.join(tmpdir_short, "stale.sock")
        with socket.socket(socket.AF_UNIX) as old:
            old.bind(stale)
        with pytest.raises(ConnectionRefusedError):
            await net.loop.create_unix_connection(Proto, stale)

    net.run(main())


# --------------------------------------------------------------------------- connect_accepted_socket


def test_connect_accepted_socket(net: Net) -> None:
    async def main() -> None:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            client = socket.create_connection(listener.getsockname(), timeout=HANG_GUARD)
            with client:
                conn, _ = listener.accept()
                transport, protocol = await net.loop.connect_accepted_socket(Echo, conn)
                assert protocol.events == ["made"]
                assert transport.get_extra_info("peername") == client.getsockname()
                client.sendall(b"accepted elsewhere")
                reply = await net.loop.run_in_executor(None, client.recv, 100)
                assert reply == b"accepted elsewhere"
                transport.close()
                await until(lambda: protocol.lost, "closed")
                assert await net.loop.run_in_executor(None, client.recv, 100) == b""
                assert conn.fileno() == -1

    net.run(main())


def test_connect_accepted_socket_pair(net: Net) -> None:
    async def main() -> None:
        left, right = socket.socketpair()
        ta, pa = await net.loop.connect_accepted_socket(Echo, left)
        tb, pb = await net.loop.connect_accepted_socket(Proto, right)
        tb.write(b"over a socketpair")
        await until(lambda: pb.data == b"over a socketpair", "echo")
        tb.close()
        await until(lambda: pa.lost and pb.lost, "closed")
        assert pa.events == ["made", "eof", "lost"]

    net.run(main())


# --------------------------------------------------------------------------- streams on top


def test_streams_open_connection_and_start_server(net: Net) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            writer.write(chunk.upper())
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
            for i in range(20):
                writer.write(b"line %d\n" % i)
                await writer.drain()
                assert await reader.readline() == b"LINE %d\n" % i
            big = b"x" * 1_000_000 + b"\n"
            writer.write(big)
            await writer.drain()
            assert await reader.readexactly(len(big)) == big.upper()
            writer.write_eof()
            assert await reader.read() == b""
            writer.close()
            await writer.wait_closed()
        finally:
            server.close()
            await server.wait_closed()
        await ticks(3)

    net.run(main())


def test_streams_unix(net: Net, tmpdir_short: str) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read()
        writer.write(data[::-1])
        writer.close()
        await writer.wait_closed()

    async def main() -> None:
        path = os.path.join(tmpdir_short, "streams.sock")
        server = await asyncio.start_unix_server(handle, path)
        try:
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(b"abcdef")
            writer.write_eof()
            assert await reader.read() == b"fedcba"
            writer.close()
            await writer.wait_closed()
        finally:
            server.close()
            await server.wait_closed()
        await ticks(3)

    net.run(main())


# --------------------------------------------------------------------------- bad arguments


def test_create_connection_argument_errors(net: Net) -> None:
    context = ssl.create_default_context()

    async def main() -> None:
        loop = net.loop
        with pytest.raises(ValueError):
            await loop.create_connection(Proto)  # neither host/port nor sock
        with socket.socket() as sock:
            with pytest.raises(ValueError):
                await loop.create_connection(Proto, "127.0.0.1", 1, sock=sock)
            with pytest.raises(ValueError):
                await loop.create_connection(Proto, sock=sock, server_hostname="example.org")
            with pytest.raises(ValueError):  # ssl with neither host nor server_hostname
                await loop.create_connection(Proto, sock=sock, ssl=context)
            with pytest.raises(ValueError):
                await loop.create_connection(Proto, sock=sock, ssl_handshake_timeout=1.0)
            with pytest.raises(ValueError):
                await loop.create_connection(Proto, sock=sock, ssl_shutdown_timeout=1.0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            with pytest.raises(ValueError):
                await loop.create_connection(Proto, sock=udp)
        with pytest.raises(ValueError):
            await loop.create_connection(Proto, "127.0.0.1", 1, server_hostname="example.org")
        with pytest.raises(OSError):  # an IPv4 literal has no IPv6 address
            await loop.create_connection(Proto, "127.0.0.1", 1, family=socket.AF_INET6)
        with pytest.raises(OSError):  # nor a Unix one
            await loop.create_connection(Proto, "127.0.0.1", 1, family=socket.AF_UNIX)

    net.run(main())


def test_create_unix_connection_argument_errors(net: Net, tmpdir_short: str) -> None:
    context = ssl.create_default_context()

    async def main() -> None:
        loop = net.loop
        path = os.path.join(tmpdir_short, "nothing.sock")
        with pytest.raises(ValueError):
            await loop.create_unix_connection(Proto)  # neither path nor sock
        with socket.socket(socket.AF_UNIX) as sock:
            with pytest.raises(ValueError):
                await loop.create_unix_connection(Proto, path, sock=sock)
        with socket.socket(socket.AF_INET) as inet:
            with pytest.raises(ValueError):
                await loop.create_unix_connection(Proto, sock=inet)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dgram:
            with pytest.raises(ValueError):
                await loop.create_unix_connection(Proto, sock=dgram)
        with pytest.raises(ValueError):
            await loop.create_unix_connection(Proto, path, server_hostname="example.org")
        with pytest.raises(ValueError):  # ssl requires server_hostname here
            await loop.create_unix_connection(Proto, path, ssl=context)
        with pytest.raises(ValueError):
            await loop.create_unix_connection(Proto, path, ssl_handshake_timeout=1.0)

    net.run(main())


def test_connect_accepted_socket_argument_errors(net: Net) -> None:
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            with pytest.raises(ValueError):
                await net.loop.connect_accepted_socket(Proto, udp)
        left, right = socket.socketpair()
        with left, right:
            with pytest.raises(ValueError):
                await net.loop.connect_accepted_socket(Proto, left, ssl_handshake_timeout=1.0)
            with pytest.raises(ValueError):
                await net.loop.connect_accepted_socket(Proto, left, ssl_shutdown_timeout=1.0)

    net.run(main())
