"""CPython's ``test.test_asyncio.test_protocols`` (see ``_harness.py``).

``ProtocolsAbsTests`` checks that asyncio's protocol base classes have no-op callbacks and
``__slots__``, with mocks and no loop: reported as excluded with that reason (it keeps running
in CPython's own suite; ``compare.py`` shows the stock result).
"""
from __future__ import annotations

from . import _reasons as R
from ._harness import cpython_test_module, derive_all

cpy = cpython_test_module("test_protocols")

derive_all(globals(), cpy, exclude_classes={"ProtocolsAbsTests": R.NO_LOOP})
