"""Servers: ``create_server`` / ``create_unix_server`` and the ``Server`` object, on both loops.

Every test body runs on stock asyncio and on nexusloop (the ``net`` fixture wraps ``any_loop``,
which fails a test that leaks a file descriptor; the fixture also fails a test that leaves a
task pending, a transport open, a ``ResourceWarning`` or an unexpected exception-handler call).
Where Python 3.13 added something nexusloop offers on every version (``close_clients``,
``abort_clients``, ``cleanup_socket``), the stock loop is skipped below 3.13 with that reason.
Loopback and temporary Unix paths only; no timing assertions.
"""
from __future__ import annotations

import asyncio
import errno
import gc
import os
import pathlib
import resource
import socket
import sys
import warnings
from typing import Any

import pytest

from ._harness import HANG_GUARD, Accepted, Echo, Net, Proto, has_ipv6_loopback, ticks, until

# --------------------------------------------------------------------------- harness


async def echo_once(address: Any, payload: bytes = b"ping", family: int = socket.AF_INET) -> None:
    """Connect with a fresh client transport, check the echo, close it."""
    loop = asyncio.get_running_loop()
    if family == socket.AF_UNIX:
        transport, protocol = await loop.create_unix_connection(Proto, address)
    else:
        transport, protocol = await loop.create_connection(Proto, *address[:2])
    try:
        transport.write(payload)
        await until(lambda: len(protocol.data) >= len(payload), "echo")
        assert protocol.data == payload
    finally:
        transport.close()
    await until(lambda: protocol.lost, "client connection_lost")
    assert protocol.lost == [None]


async def close_server(server: Any) -> None:
    server.close()
    await server.wait_closed()


# --------------------------------------------------------------------------- create_server


def test_server_basics(net: Net) -> None:
    async def main() -> None:
        factory = Accepted()
        server = await net.loop.create_server(factory, "127.0.0.1", 0)
        try:
            assert isinstance(server, asyncio.AbstractServer)
            assert server.get_loop() is net.loop
            assert server.is_serving()
            [sock] = server.sockets
            assert sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM
            assert sock.getsockname()[0] == "127.0.0.1"
            assert "sockets=" in repr(server)
            await echo_once(sock.getsockname())
            await echo_once(sock.getsockname(), b"second")
            await until(lambda: all(p.lost for p in factory.protocols), "server side closed")
            assert len(factory.protocols) == 2
        finally:
            await close_server(server)
        assert not server.is_serving()
        assert server.sockets == ()
        server.close()  # idempotent
        await server.wait_closed()

    net.run(main())


def test_several_hosts(net: Net) -> None:
    hosts = ["127.0.0.1"] + (["::1"] if has_ipv6_loopback() else [])

    async def main() -> None:
        server = await net.loop.create_server(Echo, hosts, 0)
        try:
            assert len(server.sockets) == len(hosts)
            families = sorted(s.family for s in server.sockets)
            expected = [socket.AF_INET] + ([socket.AF_INET6] if len(hosts) == 2 else [])
            assert families == sorted(expected)
            for sock in server.sockets:
                if sock.family == socket.AF_INET6:
                    assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
                await echo_once(sock.getsockname())
        finally:
            await close_server(server)

    net.run(main())


def test_same_address_is_bound_once(net: Net) -> None:
    async def main() -> None:
        server = await net.loop.create_server(Echo, ["127.0.0.1", "127.0.0.1"], 0)
        try:
            assert len(server.sockets) == 1
        finally:
            await close_server(server)

    net.run(main())


def test_reuse_address(net: Net) -> None:
    async def main() -> None:
        default = await net.loop.create_server(Echo, "127.0.0.1", 0)
        off = await net.loop.create_server(Echo, "127.0.0.1", 0, reuse_address=False)
        on = await net.loop.create_server(Echo, "127.0.0.1", 0, reuse_address=True)
        try:
            def reuse(server: Any) -> int:
                return server.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)

            assert reuse(default) != 0  # asyncio's default on POSIX
            assert reuse(off) == 0
            assert reuse(on) != 0
            await echo_once(off.sockets[0].getsockname())
        finally:
            for server in (default, off, on):
                await close_server(server)

    net.run(main())


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
def test_reuse_port(net: Net) -> None:
    async def main() -> None:
        first_factory, second_factory = Accepted(), Accepted()
        first = await net.loop.create_server(first_factory, "127.0.0.1", 0, reuse_port=True)
        try:
            port = first.sockets[0].getsockname()[1]
            second = await net.loop.create_server(second_factory, "127.0.0.1", port,
                                                  reuse_port=True)
            try:
                for server in (first, second):
                    sock = server.sockets[0]
                    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) != 0
                    assert sock.getsockname()[1] == port
                for _ in range(6):
                    await echo_once(("127.0.0.1", port))
                await until(lambda: len(first_factory.protocols) + len(second_factory.protocols)
                            == 6, "6 connections")
            finally:
                await close_server(second)
            # Without reuse_port the port is taken.
            with pytest.raises(OSError) as info:
                await net.loop.create_server(Echo, "127.0.0.1", port)
            assert info.value.errno == errno.EADDRINUSE
        finally:
            await close_server(first)

    net.run(main())


def test_address_in_use(net: Net) -> None:
    async def main() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(OSError) as info:
                await net.loop.create_server(Echo, "127.0.0.1", port, reuse_address=False)
            assert info.value.errno == errno.EADDRINUSE

    net.run(main())


class RecordingSocket(socket.socket):
    """A socket that remembers the backlog passed to listen()."""

    backlog: int | None = None

    def listen(self, backlog: int = 0) -> None:  # type: ignore[override]
        self.backlog = backlog
        super().listen(backlog)


@pytest.mark.parametrize("backlog", [None, 1, 7, 500])
def test_backlog(net: Net, backlog: int | None) -> None:
    async def main() -> None:
        sock = RecordingSocket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        kwargs = {} if backlog is None else {"backlog": backlog}
        server = await net.loop.create_server(Echo, sock=sock, **kwargs)
        try:
            assert sock.backlog == (100 if backlog is None else backlog)
            for i in range(3):
                await echo_once(sock.getsockname(), b"%d" % i)
        finally:
            await close_server(server)
        assert sock.fileno() == -1  # the server closed the socket it was given

    net.run(main())


def test_many_pending_connections_are_all_accepted(net: Net) -> None:
    # Fifty connections completed by the kernel before the loop accepts any of them.
    async def main() -> None:
        factory = Accepted(Echo)
        server = await net.loop.create_server(factory, "127.0.0.1", 0)
        clients: list[socket.socket] = []
        try:
            address = server.sockets[0].getsockname()
            for _ in range(50):
                client = socket.socket()
                client.setblocking(False)
                clients.append(client)
                try:
                    client.connect(address)
                except BlockingIOError:
                    pass
            await until(lambda: len(factory.protocols) == 50, "50 accepted")
            for i, client in enumerate(clients):
                await net.loop.sock_sendall(client, b"c%d" % i)
                reply = await net.loop.sock_recv(client, 100)
                assert reply == b"c%d" % i
        finally:
            for client in clients:
                client.close()
            await until(lambda: all(p.lost for p in factory.protocols), "server side closed")
            await close_server(server)

    net.run(main())


def test_start_serving_false(net: Net) -> None:
    async def main() -> None:
        server = await net.loop.create_server(Echo, "127.0.0.1", 0, start_serving=False)
        try:
            assert not server.is_serving()
            address = server.sockets[0].getsockname()
            with socket.socket() as probe:  # not listening yet
                assert probe.connect_ex(address) == errno.ECONNREFUSED
            await server.start_serving()
            assert server.is_serving()
            await server.start_serving()  # idempotent
            await echo_once(address)
        finally:
            await close_server(server)
        assert not server.is_serving()

    net.run(main())


@pytest.mark.parametrize("start_serving", [True, False])
def test_serve_forever_and_cancel(net: Net, start_serving: bool) -> None:
    async def main() -> None:
        server = await net.loop.create_server(Echo, "127.0.0.1", 0,
                                              start_serving=start_serving)
        address = server.sockets[0].getsockname()
        task = asyncio.ensure_future(server.serve_forever())
        await ticks(3)
        assert server.is_serving()
        with pytest.raises(RuntimeError):
            await server.serve_forever()  # already being awaited
        await echo_once(address)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not server.is_serving()
        assert server.sockets == ()
        with socket.socket() as probe:
            assert probe.connect_ex(address) == errno.ECONNREFUSED
        with pytest.raises(RuntimeError):
            await server.serve_forever()  # closed

    net.run(main())


def test_close_stops_serve_forever(net: Net) -> None:
    async def main() -> None:
        server = await net.loop.create_server(Echo, "127.0.0.1", 0)
        task = asyncio.ensure_future(server.serve_forever())
        await ticks(3)
        server.close()
        with pytest.raises(asyncio.CancelledError):
            await task
        await server.wait_closed()
        assert not server.is_serving()

    net.run(main())


def test_close_and_wait_closed_with_active_connections(net: Net) -> None:
    async def main() -> None:
        factory = Accepted(Echo)
        server = await net.loop.create_server(factory, "127.0.0.1", 0)
        address = server.sockets[0].getsockname()
        clients = [await net.loop.create_connection(Proto, *address) for _ in range(3)]
        await until(lambda: len(factory.protocols) == 3, "3 accepted")
        waiter = asyncio.ensure_future(server.wait_closed())
        await ticks(3)
        assert not waiter.done()
        server.close()
        assert not server.is_serving()
        with socket.socket() as probe:  # no new connections
            assert probe.connect_ex(address) == errno.ECONNREFUSED
        # The connections already accepted carry on ...
        for i, (transport, protocol) in enumerate(clients):
            transport.write(b"still %d" % i)
            await until(lambda p=protocol, i=i: p.data == b"still %d" % i, "echo")
        await ticks(3)
        assert not waiter.done()  # ... and wait_closed() waits for them
        for transport, _ in clients[:2]:
            transport.close()
        await until(lambda: sum(bool(p.lost) for p in factory.protocols) == 2, "two closed")
        await ticks(3)
        assert not waiter.done()
        clients[2][0].close()
        await waiter
        assert all(p.lost == [None] for p in factory.protocols)
        await until(lambda: all(p.lost for _, p in clients), "clients closed")

    net.run(main())


def test_async_context_manager(net: Net) -> None:
    async def main() -> None:
        server = await net.loop.create_server(Echo, "127.0.0.1", 0, start_serving=False)
        async with server as entered:
            assert entered is server
            assert not server.is_serving()  # entering does not start serving
            await server.start_serving()
            await echo_once(server.sockets[0].getsockname())
        assert not server.is_serving()
        assert server.sockets == ()

    net.run(main())


def test_server_from_sock(net: Net) -> None:
    async def main() -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        address = sock.getsockname()
        server = await net.loop.create_server(Echo, sock=sock)
        try:
            assert server.sockets[0].getsockname() == address
            await echo_once(address)
        finally:
            await close_server(server)
        assert sock.fileno() == -1

    net.run(main())


def test_accepted_transport_details(net: Net) -> None:
    async def main() -> None:
        factory = Accepted(Proto)
        server = await net.loop.create_server(factory, "127.0.0.1", 0)
        try:
            transport, protocol = await net.loop.create_connection(
                Proto, *server.sockets[0].getsockname()
            )
            await until(lambda: factory.protocols and factory.protocols[0].transport, "accept")
            accepted = factory.protocols[0].transport
            assert isinstance(accepted, asyncio.Transport)
            assert accepted.get_extra_info("peername") == transport.get_extra_info("sockname")
            assert accepted.get_extra_info("sockname") == server.sockets[0].getsockname()
            sock = accepted.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            transport.close()
            await until(lambda: protocol.lost and factory.protocols[0].lost, "closed")
        finally:
            await close_server(server)

    net.run(main())


# --------------------------------------------------------------------------- close_clients / abort_clients


def test_close_clients(net: Net) -> None:
    net.needs_313("Server.close_clients()")

    async def main() -> None:
        factory = Accepted(Proto)
        server = await net.loop.create_server(factory, "127.0.0.1", 0)
        address = server.sockets[0].getsockname()
        clients = [await net.loop.create_connection(Proto, *address) for _ in range(3)]
        await until(lambda: len(factory.protocols) == 3, "3 accepted")
        for protocol in factory.protocols:
            protocol.transport.write(b"bye")  # close() sends what is buffered first
        waiter = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0)
        server.close()
        server.close_clients()
        await waiter
        await until(lambda: all(p.lost for p in factory.protocols), "server side closed")
        assert all(p.lost == [None] for p in factory.protocols)
        await until(lambda: all(p.lost for _, p in clients), "clients closed")
        for _, protocol in clients:
            assert protocol.data == b"bye"
            assert protocol.events == ["made", "eof", "lost"]

    net.run(main())


def test_abort_clients(net: Net) -> None:
    net.needs_313("Server.abort_clients()")

    async def main() -> None:
        factory = Accepted(Proto)
        server = await net.loop.create_server(factory, "127.0.0.1", 0)
        address = server.sockets[0].getsockname()
        clients = []
        for _ in range(2):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
            sock.setblocking(False)
            await net.loop.sock_connect(sock, address)
            clients.append(await net.loop.create_connection(Proto, sock=sock))
        await until(lambda: len(factory.protocols) == 2, "2 accepted")
        big = b"z" * (4 * 1024 * 1024)
        for _, protocol in clients:
            protocol.transport.pause_reading()
        for protocol in factory.protocols:
            protocol.transport.write(big)
            assert protocol.transport.get_write_buffer_size() > 0
        waiter = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0)
        server.close()
        server.abort_clients()
        await waiter  # did not wait for the buffers to drain
        await until(lambda: all(p.lost for p in factory.protocols), "server side closed")
        assert all(p.lost == [None] for p in factory.protocols)
        for transport, _ in clients:
            transport.resume_reading()
        await until(lambda: all(p.lost for _, p in clients), "clients closed")
        for _, protocol in clients:
            assert len(protocol.data) < len(big)

    net.run(main())


# --------------------------------------------------------------------------- faults


def test_accept_out_of_file_descriptors(net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    """EMFILE on accept: reported, accepting pauses, and the server serves again afterwards."""
    monkeypatch.setattr(asyncio.constants, "ACCEPT_RETRY_DELAY", 0.05)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    async def main() -> None:
        factory = Accepted(Echo)
        server = await net.loop.create_server(factory, "127.0.0.1", 0)
        address = server.sockets[0].getsockname()
        waiting = socket.socket()
        try:
            waiting.settimeout(HANG_GUARD)
            waiting.connect(address)  # completed by the kernel, not yet accepted
            probe = os.open(os.devnull, os.O_RDONLY)
            os.close(probe)  # ``probe`` is the lowest free descriptor number
            resource.setrlimit(resource.RLIMIT_NOFILE, (probe, hard))
            try:
                await until(lambda: net.errors, "accept failure reported")
                await ticks(3)  # retries while still out of descriptors are reported too
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            errors = net.take_errors()
            assert errors
            for context in errors:
                assert context["message"] == "socket.accept() out of system resource"
                assert isinstance(context["exception"], OSError)
                assert context["exception"].errno == errno.EMFILE
                assert context["socket"].fileno() == server.sockets[0].fileno()
            assert server.is_serving()
            # Descriptors are available again: the waiting connection is served ...
            waiting.sendall(b"waited")
            assert await net.loop.run_in_executor(None, waiting.recv, 100) == b"waited"
            # ... and so are new ones.
            await echo_once(address)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            waiting.close()
            await until(lambda: all(p.lost for p in factory.protocols), "server side closed")
            await close_server(server)
        assert not net.errors

    net.run(main())


def test_protocol_factory_raising(net: Net) -> None:
    calls = 0

    def factory() -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("factory bug")  # a fresh one: its traceback holds the socket
        return Echo()

    async def main() -> None:
        server = await net.loop.create_server(factory, "127.0.0.1", 0)
        address = server.sockets[0].getsockname()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ResourceWarning)
                transport, protocol = await net.loop.create_connection(Proto, *address)
                await until(lambda: protocol.lost, "the failed connection is closed")
                gc.collect()
            # The stock loop drops the accepted socket unclosed (a ResourceWarning) and reports
            # the error only in debug mode; nexusloop closes it and always reports.
            if net.nexus:
                assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
            errors = net.take_errors()
            if net.nexus:
                assert len(errors) == 1
            for context in errors:
                assert context["message"] == "Error on transport creation for incoming connection"
                assert str(context["exception"]) == "factory bug"
            assert calls == 1
            assert protocol.events[-1] == "lost"
            # The server keeps serving.
            await echo_once(address)
        finally:
            await close_server(server)

    net.run(main())


def test_protocol_factory_raising_is_reported_in_debug_mode(net: Net) -> None:
    def factory() -> Any:
        raise ValueError("factory bug")

    async def main() -> None:
        net.loop.set_debug(True)
        net.loop.slow_callback_duration = 60.0
        server = await net.loop.create_server(factory, "127.0.0.1", 0)
        try:
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always", ResourceWarning)
                transport, protocol = await net.loop.create_connection(
                    Proto, *server.sockets[0].getsockname()
                )
                await until(lambda: net.errors, "the error is reported")
                [context] = net.take_errors()
                assert context["message"] == (
                    "Error on transport creation for incoming connection"
                )
                assert isinstance(context["exception"], ValueError)
                assert str(context["exception"]) == "factory bug"
                del context  # on the stock loop its traceback holds the accepted socket
                gc.collect()
                await until(lambda: protocol.lost, "the failed connection is closed")
                gc.collect()
        finally:
            await close_server(server)
            net.loop.set_debug(False)

    net.run(main())


# --------------------------------------------------------------------------- Unix servers


def test_unix_server_path(net: Net, tmpdir_short: str) -> None:
    async def main() -> None:
        path = os.path.join(tmpdir_short, "srv.sock")
        server = await net.loop.create_unix_server(Echo, path)
        try:
            assert os.path.exists(path)
            [sock] = server.sockets
            assert sock.family == socket.AF_UNIX and sock.getsockname() == path
            await echo_once(path, family=socket.AF_UNIX)
            transport, protocol = await net.loop.create_unix_connection(Proto, path)
            assert transport.get_extra_info("peername") == path
            transport.close()
            await until(lambda: protocol.lost, "closed")
        finally:
            await close_server(server)

    net.run(main())


def test_unix_server_pathlike(net: Net, tmpdir_short: str) -> None:
    async def main() -> None:
        path = pathlib.Path(tmpdir_short) / "p.sock"
        server = await net.loop.create_unix_server(Echo, path)
        try:
            await echo_once(str(path), family=socket.AF_UNIX)
            transport, protocol = await net.loop.create_unix_connection(Proto, path)
            transport.close()
            await until(lambda: protocol.lost, "closed")
        finally:
            await close_server(server)

    net.run(main())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract namespace is Linux-only")
def test_unix_server_abstract_namespace(net: Net) -> None:
    async def main() -> None:
        name = f"\0nexusloop-test-{os.getpid()}-{id(net)}"
        server = await net.loop.create_unix_server(Echo, name)
        try:
            [sock] = server.sockets
            assert sock.getsockname() == name.encode()
            await echo_once(name, family=socket.AF_UNIX)
        finally:
            await close_server(server)
        # The name is free again once the server is closed.
        server = await net.loop.create_unix_server(Echo, name)
        await close_server(server)

    net.run(main())


def test_unix_server_removes_stale_socket_file(net: Net, tmpdir_short: str) -> None:
    async def main() -> None:
        path = os.path.join(tmpdir_short, "stale.sock")
        with socket.socket(socket.AF_UNIX) as old:
            old.bind(path)  # the file stays after close: a stale socket file
        assert os.path.exists(path)
        server = await net.loop.create_unix_server(Echo, path)
        try:
            await echo_once(path, family=socket.AF_UNIX)
        finally:
            await close_server(server)

    net.run(main())


def test_unix_server_does_not_remove_a_regular_file(net: Net, tmpdir_short: str) -> None:
    async def main() -> None:
        path = os.path.join(tmpdir_short, "regular")
        with open(path, "w") as f:
            f.write("keep me")
        with pytest.raises(OSError) as info:
            await net.loop.create_unix_server(Echo, path)
        assert info.value.errno == errno.EADDRINUSE
        with open(path) as f:
            assert f.read() == "keep me"

    net.run(main())


def test_unix_server_from_sock(net: Net, tmpdir_short: str) -> None:
    async def main() -> None:
        path = os.path.join(tmpdir_short, "given.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        server = await net.loop.create_unix_server(Echo, sock=sock)
        try:
            await echo_once(path, family=socket.AF_UNIX)
        finally:
            await close_server(server)
        assert sock.fileno() == -1

    net.run(main())


def test_unix_server_start_serving_false(net: Net, tmpdir_short: str) -> None:
    async def main() -> None:
        path = os.path.join(tmpdir_short, "later.sock")
        server = await net.loop.create_unix_server(Echo, path, start_serving=False)
        try:
            assert not server.is_serving()
            await server.start_serving()
            await echo_once(path, family=socket.AF_UNIX)
        finally:
            await close_server(server)

    net.run(main())


def test_cleanup_socket_default_follows_python(net: Net, tmpdir_short: str) -> None:
    # asyncio removes the socket file on close from Python 3.13 on, and never before.
    async def main() -> None:
        path = os.path.join(tmpdir_short, "default.sock")
        server = await net.loop.create_unix_server(Echo, path)
        assert os.path.exists(path)
        await close_server(server)
        assert os.path.exists(path) == (sys.version_info < (3, 13))

    net.run(main())


def test_cleanup_socket(net: Net, tmpdir_short: str) -> None:
    net.needs_313("create_unix_server(cleanup_socket=...)")

    async def main() -> None:
        path = os.path.join(tmpdir_short, "clean.sock")
        server = await net.loop.create_unix_server(Echo, path, cleanup_socket=True)
        assert os.path.exists(path)
        await echo_once(path, family=socket.AF_UNIX)
        await close_server(server)
        assert not os.path.exists(path)

        server = await net.loop.create_unix_server(Echo, path, cleanup_socket=False)
        await close_server(server)
        assert os.path.exists(path)  # kept when asked
        os.unlink(path)

        # A file that replaced the server's own socket file is not the server's to remove.
        server = await net.loop.create_unix_server(Echo, path, cleanup_socket=True)
        os.unlink(path)
        with open(path, "w") as f:
            f.write("someone else's")
        await close_server(server)
        assert os.path.exists(path)
        os.unlink(path)

        # Nothing to remove for a server given a socket it did not bind, or an abstract name.
        server = await net.loop.create_unix_server(
            Echo, f"\0nexusloop-clean-{os.getpid()}", cleanup_socket=True
        )
        await close_server(server)

    net.run(main())


# --------------------------------------------------------------------------- bad arguments


def test_create_server_argument_errors(net: Net) -> None:
    async def main() -> None:
        loop = net.loop
        with pytest.raises(TypeError):
            await loop.create_server(Echo, "127.0.0.1", 0, ssl=True)
        with pytest.raises(TypeError):
            await loop.create_server(Echo, "127.0.0.1", 0, ssl=False)
        with pytest.raises(ValueError):
            await loop.create_server(Echo)  # neither host/port nor sock
        with socket.socket() as sock:
            with pytest.raises(ValueError):
                await loop.create_server(Echo, "127.0.0.1", 0, sock=sock)
            with pytest.raises(ValueError):
                await loop.create_server(Echo, sock=sock, ssl_handshake_timeout=1.0)
            with pytest.raises(ValueError):
                await loop.create_server(Echo, sock=sock, ssl_shutdown_timeout=1.0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            with pytest.raises(ValueError):
                await loop.create_server(Echo, sock=udp)
        with pytest.raises(OSError):  # no IPv6 address for an IPv4 literal
            await loop.create_server(Echo, "127.0.0.1", 0, family=socket.AF_INET6)

    net.run(main())


def test_create_unix_server_argument_errors(net: Net, tmpdir_short: str) -> None:
    async def main() -> None:
        loop = net.loop
        path = os.path.join(tmpdir_short, "x.sock")
        with pytest.raises(TypeError):
            await loop.create_unix_server(Echo, path, ssl=True)
        with pytest.raises(ValueError):
            await loop.create_unix_server(Echo)  # neither path nor sock
        with socket.socket(socket.AF_UNIX) as sock:
            with pytest.raises(ValueError):
                await loop.create_unix_server(Echo, path, sock=sock)
        with socket.socket(socket.AF_INET) as inet:
            with pytest.raises(ValueError):
                await loop.create_unix_server(Echo, sock=inet)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dgram:
            with pytest.raises(ValueError):
                await loop.create_unix_server(Echo, sock=dgram)
        with pytest.raises(ValueError):
            await loop.create_unix_server(Echo, path, ssl_handshake_timeout=1.0)
        assert not os.path.exists(path)

    net.run(main())


def test_server_on_closed_loop_state(net: Net) -> None:
    # The server keeps working across several run_until_complete calls of its loop.
    server = net.run(net.loop.create_server(Echo, "127.0.0.1", 0))
    try:
        address = server.sockets[0].getsockname()
        net.run(echo_once(address, b"one"))
        net.run(echo_once(address, b"two"))
    finally:
        net.run(close_server(server))
