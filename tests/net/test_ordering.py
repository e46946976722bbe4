"""Readiness never overtakes callbacks queued before it (asyncio's order within an iteration).

nexusloop calls transports straight from the poll when nothing is queued, and queues them
behind the ready callbacks otherwise. These tests pin the second case: data that is already
waiting when ``run_until_complete`` starts reaches the protocol *after* the first step of the
task being run, as on asyncio (CPython 3.13's ``test_datagram_send_to_non_listening_address``
relies on it).
"""
from __future__ import annotations

import asyncio
import socket
from typing import Any


class _Waiting(asyncio.DatagramProtocol):
    """Resolves a future that the awaiting task creates in its first step (no buffering)."""

    def __init__(self) -> None:
        self.waiter: asyncio.Future[bytes] | None = None
        self.early: list[bytes] = []

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.waiter is None:
            self.early.append(data)
        else:
            self.waiter.set_result(data)

    async def receive(self) -> bytes:
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(self.waiter, 10)
        finally:
            self.waiter = None


def test_datagram_waiting_before_the_loop_runs_reaches_the_first_step(any_loop: Any) -> None:
    loop = any_loop
    receiver, proto = loop.run_until_complete(
        loop.create_datagram_endpoint(_Waiting, local_addr=("127.0.0.1", 0)))
    sender, _ = loop.run_until_complete(
        loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)))
    try:
        addr = receiver.get_extra_info("sockname")
        for payload in (b"a", b"b", b"c"):
            sender.sendto(payload, addr)  # the loop is stopped: the datagram waits in the kernel
            assert loop.run_until_complete(proto.receive()) == payload
        assert proto.early == []
    finally:
        receiver.close()
        sender.close()
        loop.run_until_complete(asyncio.sleep(0))


class _StreamWaiting(asyncio.Protocol):
    def __init__(self) -> None:
        self.waiter: asyncio.Future[bytes] | None = None
        self.early: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            self.early.append(data)
        else:
            self.waiter.set_result(data)

    async def receive(self) -> bytes:
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(self.waiter, 10)
        finally:
            self.waiter = None


def test_stream_data_waiting_before_the_loop_runs_reaches_the_first_step(any_loop: Any) -> None:
    loop = any_loop
    server_side: list[_StreamWaiting] = []

    def factory() -> _StreamWaiting:
        server_side.append(_StreamWaiting())
        return server_side[-1]

    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))
    try:
        port = server.sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            loop.run_until_complete(asyncio.sleep(0.05))  # accepted, connection_made ran
            proto = server_side[0]
            client.sendall(b"hello")  # arrives while the loop is stopped
            assert loop.run_until_complete(proto.receive()) == b"hello"
            assert proto.early == []
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())
