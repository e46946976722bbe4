"""CPython's ``test.test_asyncio.test_sendfile`` on nexusloop (see ``_harness.py``).

``SendfileTestsBase`` (``loop.sendfile`` over a transport, ``loop.sock_sendfile`` over a socket)
is what CPython runs once per selector; here it runs once on nexusloop (``create_event_loop``),
compared against ``EPollEventLoopTests``, sendfile over TLS (the fallback path) included.
"""
from __future__ import annotations

from ._harness import NexusCase, conformance, cpython_test_module, derive_all

cpy = cpython_test_module("test_sendfile")
test_utils = cpython_test_module("utils")


@conformance(stock=f"{cpy.__name__}.EPollEventLoopTests")
class NexusSendfileTests(NexusCase, cpy.SendfileTestsBase, test_utils.TestCase):
    """``SendfileTestsBase`` with ``create_event_loop()`` returning a nexusloop (NexusCase)."""


derive_all(
    globals(),
    cpy,
    replaced=("EPollEventLoopTests", "PollEventLoopTests", "SelectEventLoopTests",
              "KqueueEventLoopTests", "ProactorEventLoopTests"),
)
