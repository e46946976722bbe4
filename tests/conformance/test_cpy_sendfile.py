"""CPython's ``test.test_asyncio.test_sendfile`` on nexusloop (see ``_harness.py``).

``SendfileTestsBase`` (``loop.sendfile`` over a transport, ``loop.sock_sendfile`` over a socket)
is what CPython runs once per selector; here it runs once on nexusloop (``create_event_loop``),
compared against ``EPollEventLoopTests``. Sendfile over TLS belongs to the next issue.
"""
from __future__ import annotations

from . import _reasons as R
from ._harness import NexusCase, conformance, cpython_test_module, derive_all, matching_tests

cpy = cpython_test_module("test_sendfile")
test_utils = cpython_test_module("utils")

_EXCLUDE: dict[str, str] = {}


@conformance(stock=f"{cpy.__name__}.EPollEventLoopTests", exclude=_EXCLUDE)
class NexusSendfileTests(NexusCase, cpy.SendfileTestsBase, test_utils.TestCase):
    """``SendfileTestsBase`` with ``create_event_loop()`` returning a nexusloop (NexusCase)."""


derive_all(
    globals(),
    cpy,
    replaced=("EPollEventLoopTests", "PollEventLoopTests", "SelectEventLoopTests",
              "KqueueEventLoopTests", "ProactorEventLoopTests"),
)
