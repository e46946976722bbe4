"""CPython's ``test.test_asyncio.test_ssl`` on nexusloop (see ``_harness.py``).

``TestSSL`` builds its loops with ``asyncio.new_event_loop()`` (``setUp`` and ``new_loop``), which
the harness's policy turns into nexusloops: TLS clients and servers, ``start_tls``, handshake and
shutdown timeouts, flow control through the TLS layer and the error paths, against threaded
blocking-socket peers as well as asyncio ones.
"""
from __future__ import annotations

from ._harness import cpython_test_module, derive_all

cpy = cpython_test_module("test_ssl")

derive_all(globals(), cpy)
