"""CPython's ``test.test_asyncio.test_buffered_proto`` on nexusloop (see ``_harness.py``).

``BufferedProtocolSelectorTests`` gets its loop from ``FunctionalTestCaseMixin.new_loop``
(``asyncio.SelectorEventLoop()`` in CPython, a nexusloop here): a ``BufferedProtocol`` client
over ``create_connection`` against a ``start_server`` stream server. The Windows-only proactor
variant runs the same body and is replaced.
"""
from __future__ import annotations

from ._harness import cpython_test_module, derive_all, new_loop_method

cpy = cpython_test_module("test_buffered_proto")

derive_all(
    globals(),
    cpy,
    overrides={"new_loop": new_loop_method},
    replaced=("BufferedProtocolProactorTests",),
)
