"""CPython's ``test.test_asyncio.test_futures2`` on nexusloop (see ``_harness.py``)."""
from __future__ import annotations

from ._harness import cpython_test_module, derive_all

cpy = cpython_test_module("test_futures2")

derive_all(globals(), cpy)
