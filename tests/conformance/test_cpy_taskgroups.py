"""CPython's ``test.test_asyncio.test_taskgroups`` on nexusloop (see ``_harness.py``)."""
from __future__ import annotations

from ._harness import cpython_test_module, derive_all

cpy = cpython_test_module("test_taskgroups")

derive_all(globals(), cpy)
