"""CPython's ``test.test_asyncio.test_sslproto`` on nexusloop (see ``_harness.py``).

``SslProtoHandshakeTests`` gets its loop from ``asyncio.new_event_loop()`` (the harness's policy
makes it a nexusloop). ``SelectorStartTLSTests`` (``BaseStartTLS``: ``start_tls`` upgrades,
``connect_accepted_socket(ssl=...)``, handshake timeouts, buffered protocols over TLS) gets it
from ``functional.FunctionalTestCaseMixin.new_loop``, pointed at nexusloop here; the Windows-only
``ProactorStartTLSTests`` runs the same bodies on the proactor loop and is replaced by it.
"""
from __future__ import annotations

from ._harness import cpython_test_module, derive_all, new_loop_method

cpy = cpython_test_module("test_sslproto")

derive_all(
    globals(),
    cpy,
    overrides={"new_loop": new_loop_method},
    replaced=("ProactorStartTLSTests",),
)
