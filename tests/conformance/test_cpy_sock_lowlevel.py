"""CPython's ``test.test_asyncio.test_sock_lowlevel`` on nexusloop (see ``_harness.py``).

``BaseSockTestsMixin`` is what CPython runs once per selector; here it runs once on nexusloop
(``create_event_loop``), compared against ``EPollEventLoopTests``. The one test that opens a
transport (``create_connection(sock=...)``) belongs to the next issue.
"""
from __future__ import annotations

from . import _reasons as R
from ._harness import NexusCase, conformance, cpython_test_module, matching_tests

cpy = cpython_test_module("test_sock_lowlevel")
test_utils = cpython_test_module("utils")

_EXCLUDE = matching_tests(
    cpy.BaseSockTestsMixin,
    {r"create_connection|create_server|create_datagram_endpoint|sendfile": R.NEXT_ISSUE},
)


@conformance(stock=f"{cpy.__name__}.EPollEventLoopTests", exclude=_EXCLUDE)
class NexusSockTests(NexusCase, cpy.BaseSockTestsMixin, test_utils.TestCase):
    """``BaseSockTestsMixin`` with ``create_event_loop()`` returning a nexusloop (NexusCase)."""
