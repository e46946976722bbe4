"""TLS: ``ssl=`` connections and servers, ``start_tls``, and the faults, on both loops.

Every test body runs on stock asyncio and on nexusloop (the ``net`` fixture: fd-leak checked,
and failing on pending tasks, open transports, unexpected exception-handler calls and
ResourceWarnings). Certificates come from a throwaway CA made by ``trustme`` when the module
runs; nothing with a private key is checked in. Loopback only; no timing assertions (the
handshake timeouts below are what is tested, not how long anything took).
"""
from __future__ import annotations

import asyncio
import gc
import inspect
import os
import socket
import ssl
import tracemalloc
import weakref
from asyncio import sslproto
from collections.abc import Iterator
from typing import Any

import pytest

trustme = pytest.importorskip("trustme", reason="trustme (dev extra) makes the test certificates")

from nexusloop import _core  # noqa: E402
from nexusloop.net import _tls  # noqa: E402

from ._harness import Accepted, Echo, Net, Proto, ticks, until  # noqa: E402

HOST = "localhost"
_TLS_COMPILED = _core.is_compiled(_core.load("_loopcore")) and _core.is_compiled(_tls)


class Certs:
    """A throwaway CA, a server certificate for localhost/127.0.0.1, and contexts using them."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert(HOST, "127.0.0.1")

    def server(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        return context

    def client(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


@pytest.fixture(scope="module")
def certs() -> Iterator[Certs]:
    yield Certs()


async def serve(net: Net, certs: Certs, factory: Any = None, **kwargs: Any) -> tuple[Any, int]:
    server = await net.loop.create_server(factory or Accepted(Echo), "127.0.0.1", 0,
                                          ssl=certs.server(), **kwargs)
    return server, server.sockets[0].getsockname()[1]


def not_connected(factory: Accepted) -> bool:
    """No protocol got connection_made (asyncio makes the protocol before the handshake)."""
    return all(protocol.events == [] for protocol in factory.protocols)


async def close_server(server: Any) -> None:
    server.close()
    await server.wait_closed()


# --------------------------------------------------------------------------- connections


def test_stream_echo_and_extra_info(net: Net, certs: Certs) -> None:
    """asyncio streams over TLS both ways; the TLS extra info on both ends."""
    seen: dict[str, Any] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["server_cipher"] = writer.get_extra_info("cipher")
        seen["server_ssl_object"] = writer.get_extra_info("ssl_object")
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main() -> None:
        client_context = certs.client()
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=certs.server())
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context,
                                                       server_hostname=HOST)
        for size in (1, 1024, 100_000):
            payload = os.urandom(size)
            writer.write(payload)
            assert await reader.readexactly(size) == payload
        ssl_object = writer.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLObject)
        assert ssl_object.server_hostname == HOST
        assert writer.get_extra_info("sslcontext") is client_context
        assert ("DNS", HOST) in writer.get_extra_info("peercert")["subjectAltName"]
        name, version, bits = writer.get_extra_info("cipher")
        assert version.startswith("TLS") and bits > 0
        assert writer.get_extra_info("compression") is None
        assert writer.get_extra_info("peername")[1] == port  # from the socket below TLS
        assert writer.get_extra_info("socket") is not None
        assert seen["server_cipher"] == writer.get_extra_info("cipher")
        assert seen["server_ssl_object"].server_side
        writer.close()
        await writer.wait_closed()
        await close_server(server)

    net.run(main())


def test_protocol_connection_unix_and_accepted_socket(net: Net, certs: Certs,
                                                      tmpdir_short: str) -> None:
    """create_connection(sock=), create_unix_connection/server and connect_accepted_socket
    with ssl=: the protocol's connection_made comes after the handshake, with the TLS transport."""

    async def roundtrip(transport: Any, protocol: Proto) -> None:
        assert isinstance(transport.get_extra_info("ssl_object"), ssl.SSLObject)
        assert protocol.transport is transport
        transport.write(b"over tls")
        await until(lambda: bytes(protocol.data) == b"over tls", "echo")
        transport.close()
        await until(lambda: protocol.lost, "connection_lost")
        assert protocol.lost == [None]

    async def main() -> None:
        loop = net.loop
        # A Unix server and client.
        path = os.path.join(tmpdir_short, "tls.sock")
        unix_server = await loop.create_unix_server(Accepted(Echo), path, ssl=certs.server())
        transport, protocol = await loop.create_unix_connection(
            Proto, path, ssl=certs.client(), server_hostname=HOST)
        await roundtrip(transport, protocol)
        await close_server(unix_server)

        # TCP: a client wrapping its own connected socket, a server side from an accepted one.
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            client_sock = socket.create_connection(listener.getsockname())
            server_sock, _ = listener.accept()
        server_task = asyncio.ensure_future(
            loop.connect_accepted_socket(Echo, server_sock, ssl=certs.server()))
        transport, protocol = await loop.create_connection(
            Proto, sock=client_sock, ssl=certs.client(), server_hostname=HOST)
        server_transport, server_protocol = await server_task
        assert server_transport.get_extra_info("ssl_object").server_side
        await roundtrip(transport, protocol)
        await until(lambda: server_protocol.lost, "server side connection_lost")

    net.run(main())


def test_flow_control_through_the_tls_layer(net: Net, certs: Certs) -> None:
    """A peer that stops reading pauses the writer (pause_writing through TLS); resuming
    delivers every byte, in order."""

    class Sink(asyncio.Protocol):
        def __init__(self) -> None:
            self.received = bytearray()
            self.transport: Any = None
            self.lost = False

        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            transport.pause_reading()

        def data_received(self, data: bytes) -> None:
            self.received += data

        def connection_lost(self, exc: BaseException | None) -> None:
            self.lost = True

    class Writer(Proto):
        def __init__(self) -> None:
            super().__init__()
            self.paused = False
            self.resumed = asyncio.Event()

        def pause_writing(self) -> None:
            self.paused = True
            self.resumed.clear()

        def resume_writing(self) -> None:
            self.paused = False
            self.resumed.set()

    async def main() -> None:
        sinks = Accepted(Sink)
        server, port = await serve(net, certs, sinks)
        transport, writer = await net.loop.create_connection(
            Writer, "127.0.0.1", port, ssl=certs.client(), server_hostname=HOST)
        chunk = os.urandom(64 * 1024)
        sent = bytearray()
        while not writer.paused:
            assert len(sent) < 512 * 1024 * 1024, "the writer was never paused"
            transport.write(chunk)
            sent += chunk
            await asyncio.sleep(0)
        assert transport.get_write_buffer_size() > 0
        await until(lambda: sinks.protocols, "accepted")
        sinks.protocols[0].transport.resume_reading()
        await writer.resumed.wait()
        transport.write(b"end")
        sent += b"end"
        await until(lambda: len(sinks.protocols[0].received) == len(sent), "all bytes")
        assert sinks.protocols[0].received == sent
        transport.close()
        await until(lambda: sinks.protocols[0].lost and writer.lost, "both closed")
        await close_server(server)

    net.run(main())


def test_half_close_is_refused(net: Net, certs: Certs) -> None:
    """TLS has no half-close: can_write_eof() is false and write_eof() raises, as in asyncio."""

    async def main() -> None:
        server, port = await serve(net, certs)
        transport, protocol = await net.loop.create_connection(
            Proto, "127.0.0.1", port, ssl=certs.client(), server_hostname=HOST)
        assert not transport.can_write_eof()
        with pytest.raises(NotImplementedError):
            transport.write_eof()
        transport.close()
        await until(lambda: protocol.lost, "connection_lost")
        await close_server(server)

    net.run(main())


# --------------------------------------------------------------------------- start_tls


def test_start_tls_on_both_ends(net: Net, certs: Certs) -> None:
    """A plain connection upgraded with loop.start_tls on the client and the server."""
    upgraded: list[Any] = []

    class Server(Proto):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if bytes(self.data) == b"STARTTLS\n":
                self.transport.write(b"GO\n")
                upgraded.append(asyncio.ensure_future(net.loop.start_tls(
                    self.transport, self, certs.server(), server_side=True)))

    async def main() -> None:
        loop = net.loop
        server = await loop.create_server(Accepted(Server), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, protocol = await loop.create_connection(Proto, "127.0.0.1", port)
        transport.write(b"STARTTLS\n")
        await until(lambda: bytes(protocol.data) == b"GO\n", "GO")
        tls_transport = await loop.start_tls(transport, protocol, certs.client(),
                                             server_hostname=HOST)
        server_tls = await upgraded[0]
        assert isinstance(tls_transport.get_extra_info("ssl_object"), ssl.SSLObject)
        assert server_tls.get_extra_info("ssl_object").server_side
        server_tls.write(b"secret")
        await until(lambda: bytes(protocol.data) == b"GO\nsecret", "data over TLS")
        tls_transport.close()
        await until(lambda: protocol.lost, "connection_lost")
        await close_server(server)

    net.run(main())


# CPython gh-142352 (uvloop #707): StreamWriter.start_tls() dropped what the StreamReader had
# already buffered, so a ClientHello that arrived with the plaintext line was lost and the
# handshake hung. Python versions with the fix move the buffer in StreamWriter.start_tls.
_STOCK_KEEPS_BUFFERED_HELLO = "_buffer" in inspect.getsource(asyncio.StreamWriter.start_tls)


def test_start_tls_keeps_a_client_hello_already_buffered(net: Net, certs: Certs) -> None:
    """The client sends its ClientHello right behind the plaintext line; the server's
    StreamReader holds both when it upgrades. Nothing may be lost (uvloop #707)."""
    net.skip_stock_if(not _STOCK_KEEPS_BUFFERED_HELLO,
                      "loses the buffered ClientHello in StreamWriter.start_tls (gh-142352)")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readline() == b"PROXY TCP4 127.0.0.1\n"
        # Let the ClientHello arrive behind the line before upgrading.
        await until(lambda: len(reader._buffer) > 0, "ClientHello buffered")  # type: ignore[attr-defined]
        await writer.start_tls(certs.server(), ssl_handshake_timeout=5.0)
        writer.write(b"secure:" + await reader.readline())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PROXY TCP4 127.0.0.1\n")  # the header and the hello leave together
        await writer.start_tls(certs.client(), server_hostname=HOST, ssl_handshake_timeout=5.0)
        writer.write(b"hello\n")
        assert await reader.read() == b"secure:hello\n"
        writer.close()
        await writer.wait_closed()
        await close_server(server)

    net.run(main())


def test_start_tls_argument_errors(net: Net, certs: Certs) -> None:
    async def main() -> None:
        loop = net.loop
        server = await loop.create_server(Accepted(Echo), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, protocol = await loop.create_connection(Proto, "127.0.0.1", port)
        with pytest.raises(TypeError, match="SSLContext"):
            await loop.start_tls(transport, protocol, object())  # type: ignore[arg-type]
        udp, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                     local_addr=("127.0.0.1", 0))
        with pytest.raises(TypeError, match="not supported by start_tls"):
            await loop.start_tls(udp, protocol, certs.client(), server_hostname=HOST)
        udp.close()
        transport.write(b"still plain")  # the failed calls left the connection alone
        await until(lambda: bytes(protocol.data) == b"still plain", "echo")
        transport.close()
        await until(lambda: protocol.lost, "connection_lost")
        await close_server(server)

    net.run(main())


# --------------------------------------------------------------------------- faults


def test_certificate_that_fails_verification(net: Net, certs: Certs) -> None:
    """The client's verification error is asyncio's ssl exception; both sockets are closed and
    the server's protocol never sees connection_made."""

    async def main() -> None:
        factory = Accepted(Echo)
        server, port = await serve(net, certs, factory)
        untrusting = ssl.create_default_context()  # does not trust the throwaway CA
        with pytest.raises(ssl.SSLCertVerificationError):
            await net.loop.create_connection(Proto, "127.0.0.1", port, ssl=untrusting,
                                             server_hostname=HOST)
        # ssl=True: the default context, which verifies (and fails) the same way.
        with pytest.raises(ssl.SSLCertVerificationError):
            await net.loop.create_connection(Proto, "127.0.0.1", port, ssl=True,
                                             server_hostname=HOST)
        # A name the certificate does not carry.
        with pytest.raises(ssl.SSLCertVerificationError):
            await net.loop.create_connection(Proto, "127.0.0.1", port, ssl=certs.client(),
                                             server_hostname="not-localhost.example")
        await ticks()
        assert not_connected(factory)
        await close_server(server)

    net.run(main())


def test_garbage_instead_of_a_client_hello(net: Net, certs: Certs) -> None:
    """A peer that speaks plain HTTP to a TLS server is disconnected; nothing is reported
    (outside debug mode) and no protocol is connected."""

    async def main() -> None:
        factory = Accepted(Echo)
        server, port = await serve(net, certs, factory)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            sock.setblocking(False)
            data = await read_until_closed(sock)
            assert b"HTTP" not in data  # at most a TLS alert, never an answer
        await ticks()
        assert not_connected(factory)
        await close_server(server)

    net.run(main())


async def read_until_closed(sock: socket.socket) -> bytes:
    """What the peer sent before closing (a reset counts as closed)."""
    loop = asyncio.get_running_loop()
    data = bytearray()
    while True:
        try:
            chunk = await loop.sock_recv(sock, 65536)
        except ConnectionResetError:
            return bytes(data)
        if not chunk:
            return bytes(data)
        data += chunk


def test_server_handshake_that_never_completes(net: Net, certs: Certs) -> None:
    """A client that connects and says nothing is dropped after ssl_handshake_timeout."""

    async def main() -> None:
        factory = Accepted(Echo)
        server, port = await serve(net, certs, factory, ssl_handshake_timeout=0.2)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setblocking(False)
            assert await read_until_closed(sock) == b""
        await ticks()
        assert not_connected(factory)
        await close_server(server)

    net.run(main())


def test_client_handshake_that_never_completes(net: Net, certs: Certs) -> None:
    """A server that accepts and never answers the ClientHello: ssl_handshake_timeout raises
    ConnectionAbortedError and closes the socket; a caller's own timeout cancels cleanly."""

    async def main() -> None:
        silent = await net.loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        with pytest.raises(ConnectionAbortedError, match="handshake"):
            await net.loop.create_connection(Proto, "127.0.0.1", port, ssl=certs.client(),
                                             server_hostname=HOST, ssl_handshake_timeout=0.2)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(
                net.loop.create_connection(Proto, "127.0.0.1", port, ssl=certs.client(),
                                           server_hostname=HOST), 0.2)
        await ticks()
        await close_server(silent)

    net.run(main())


def test_handshake_timeouts_must_be_positive(net: Net, certs: Certs) -> None:
    """ValueError, as asyncio; the connection made before the check is closed."""
    net.skip_stock_if(True, "leaves the connected socket unclosed when SSLProtocol refuses the "
                      "timeout (ResourceWarning)")
    async def main() -> None:
        server, port = await serve(net, certs)
        for bad in ({"ssl_handshake_timeout": 0}, {"ssl_shutdown_timeout": -1}):
            with pytest.raises(ValueError, match="positive"):
                await net.loop.create_connection(Proto, "127.0.0.1", port, ssl=certs.client(),
                                                 server_hostname=HOST, **bad)
        await close_server(server)

    net.run(main())


def test_memory_stays_bounded_under_tls_churn(net: Net, certs: Certs) -> None:
    """uvloop #565 / CPython gh-109534: TLS servers grew without bound under connection churn.
    Rounds of good exchanges, failed verifications and garbage peers: after each round every
    TLS protocol is freed, and the traced memory does not grow from round to round."""
    live: weakref.WeakSet[Any] = weakref.WeakSet()

    class Http(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            live.add(transport._ssl_protocol)

        def data_received(self, data: bytes) -> None:
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            self.transport.close()

    async def one_round(port: int) -> None:
        for _ in range(10):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=certs.client(), server_hostname=HOST)
            live.add(writer.transport._ssl_protocol)  # type: ignore[attr-defined]
            writer.write(b"GET / HTTP/1.1\r\n\r\n")
            assert (await reader.read()).startswith(b"HTTP/1.1 200")
            writer.close()
            await writer.wait_closed()
            with pytest.raises(ssl.SSLError):
                await asyncio.open_connection("127.0.0.1", port, ssl=ssl.create_default_context(),
                                              server_hostname=HOST)
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(b"garbage\r\n\r\n")
                sock.setblocking(False)
                await read_until_closed(sock)
        await ticks()

    async def main() -> None:
        server = await net.loop.create_server(Http, "127.0.0.1", 0, ssl=certs.server())
        port = server.sockets[0].getsockname()[1]
        sizes = []
        was_enabled = gc.isenabled()
        tracemalloc.start()
        try:
            for _ in range(4):
                gc.disable()
                await one_round(port)
                if net.nexus and _TLS_COMPILED:
                    # The compiled TLS layer holds no reference cycles: reference counting alone
                    # frees every connection (asyncio's needs the cyclic GC for failed ones; so
                    # does pure mode, whose frames in a handshake error's traceback hold the
                    # TLS layer's locals).
                    assert len(live) == 0, "a TLS protocol is kept alive by a reference cycle"
                gc.enable()
                gc.collect()
                assert len(live) == 0, "a TLS protocol outlived its connection"
                sizes.append(tracemalloc.get_traced_memory()[0])
        finally:
            tracemalloc.stop()
            if not was_enabled:
                gc.disable()
        # Round 1 warms caches (session tickets, interned strings); later rounds must not grow.
        assert sizes[3] - sizes[1] < 512 * 1024, f"traced memory per round: {sizes}"
        await close_server(server)

    net.run(main())


def test_tls_layers(net: Net, certs: Certs) -> None:
    """The app transport is an asyncio.Transport over a BufferedProtocol on the socket transport
    (nexusloop: its own compiled TLS layer over its socket transport; asyncio: sslproto's)."""

    async def main() -> None:
        server, port = await serve(net, certs)
        transport, protocol = await net.loop.create_connection(
            Proto, "127.0.0.1", port, ssl=certs.client(), server_hostname=HOST)
        assert isinstance(transport, asyncio.Transport)
        assert transport.get_protocol() is protocol
        ssl_protocol = transport._ssl_protocol
        assert isinstance(ssl_protocol, asyncio.BufferedProtocol)
        raw = ssl_protocol._app_transport.get_extra_info("socket")
        assert raw is not None
        if net.nexus:
            from nexusloop.net._tls import SSLProtocol, SSLTransport

            assert isinstance(transport, SSLTransport)
            assert isinstance(ssl_protocol, SSLProtocol)
        else:
            assert isinstance(transport, sslproto._SSLProtocolTransport)
        transport.close()
        await until(lambda: protocol.lost, "connection_lost")
        await close_server(server)

    net.run(main())


def test_closing_twice_lets_go_of_the_tls_state(net: Net, certs: Certs) -> None:
    """CPython's test_create_connection_memory_leak, in short: a protocol that keeps its
    transport must not keep the SSL context alive once the transport was closed twice (by
    the peer's close_notify, then by the app): the transport lets go, as asyncio's does."""

    class Keeper(Proto):
        def eof_received(self) -> Any:
            self.events.append("eof")
            return None

    async def main() -> None:
        server, port = await serve(net, certs, Accepted(Proto))
        client_context = certs.client()
        context_ref = weakref.ref(client_context)
        transport, protocol = await net.loop.create_connection(
            Keeper, "127.0.0.1", port, ssl=client_context, server_hostname=HOST)
        del client_context
        transport.close()
        transport.close()
        await until(lambda: protocol.lost, "connection_lost")
        await ticks()
        assert protocol.transport is transport  # the app still holds it
        assert transport.is_closing()
        assert context_ref() is None, "the closed transport keeps the TLS state alive"
        await close_server(server)

    net.run(main())


def test_idle_tls_connections_are_small(net: Net, certs: Certs) -> None:
    """nexusloop's TLS layer shares its 256 KiB receive and read buffers per thread; an idle
    connection costs its OpenSSL state, not a buffer (asyncio's SSLProtocol allocates 256 KiB
    per connection)."""
    if not net.nexus:
        pytest.skip("stock asyncio's SSLProtocol holds a 256 KiB buffer per connection")
    count = 20

    async def main() -> None:
        server, port = await serve(net, certs)
        context = certs.client()
        pairs = [await net.loop.create_connection(Proto, "127.0.0.1", port, ssl=context,
                                                  server_hostname=HOST)]  # warm-up
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(count):
                pairs.append(await net.loop.create_connection(
                    Proto, "127.0.0.1", port, ssl=context, server_hostname=HOST))
            await ticks()
            per_connection = (tracemalloc.get_traced_memory()[0] - before) / count
        finally:
            tracemalloc.stop()
        # Both ends of each connection live in this process.
        assert per_connection < 64 * 1024, f"{per_connection:.0f} bytes per TLS connection"
        for transport, _ in pairs:
            transport.close()
        await until(lambda: all(p.lost for _, p in pairs), "all closed")
        await close_server(server)

    net.run(main())


def test_tls_in_tls(net: Net, certs: Certs) -> None:
    """start_tls over a TLS transport (an HTTPS proxy tunnel, as aiohttp uses it): the inner
    session's records travel as the outer session's plaintext."""
    upgraded: list[Any] = []

    class Server(Proto):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if bytes(self.data) == b"UPGRADE\n":
                upgraded.append(asyncio.ensure_future(net.loop.start_tls(
                    self.transport, self, certs.server(), server_side=True)))
                # Runs after start_tls's first step has taken the transport over.
                net.loop.call_soon(self.transport.write, b"GO\n")

    async def main() -> None:
        loop = net.loop
        server = await loop.create_server(Accepted(Server), "127.0.0.1", 0, ssl=certs.server())
        port = server.sockets[0].getsockname()[1]
        outer, protocol = await loop.create_connection(
            Proto, "127.0.0.1", port, ssl=certs.client(), server_hostname=HOST)
        outer.write(b"UPGRADE\n")
        await until(lambda: bytes(protocol.data) == b"GO\n", "GO")
        inner = await loop.start_tls(outer, protocol, certs.client(), server_hostname=HOST)
        server_inner = await upgraded[0]
        assert inner.get_extra_info("ssl_object") is not outer.get_extra_info("ssl_object")
        server_inner.write(b"through two layers")
        await until(lambda: bytes(protocol.data) == b"GO\nthrough two layers", "inner data")
        inner.close()
        await until(lambda: protocol.lost, "connection_lost")
        await close_server(server)

    net.run(main())
