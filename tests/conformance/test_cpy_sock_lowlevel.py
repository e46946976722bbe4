"""CPython's ``test.test_asyncio.test_sock_lowlevel`` on nexusloop (see ``_harness.py``).

``BaseSockTestsMixin`` is what CPython runs once per selector; here it runs once on nexusloop
(``create_event_loop``), compared against ``EPollEventLoopTests``. All of its tests run (the
module has no TLS test; ``test_create_connection_sock`` opens a transport).
"""
from __future__ import annotations

from ._harness import NexusCase, conformance, cpython_test_module

cpy = cpython_test_module("test_sock_lowlevel")
test_utils = cpython_test_module("utils")


@conformance(stock=f"{cpy.__name__}.EPollEventLoopTests")
class NexusSockTests(NexusCase, cpy.BaseSockTestsMixin, test_utils.TestCase):
    """``BaseSockTestsMixin`` with ``create_event_loop()`` returning a nexusloop (NexusCase)."""
