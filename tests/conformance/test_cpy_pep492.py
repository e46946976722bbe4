"""CPython's ``test.test_asyncio.test_pep492`` on nexusloop (see ``_harness.py``).

CPython's ``BaseTest.setUp`` builds a bare ``asyncio.BaseEventLoop()`` with a mocked selector;
the harness replaces it with a real nexusloop (the tests only need a loop that runs coroutines).
"""
from __future__ import annotations

from typing import Any

from ._harness import cpython_test_module, derive_all, new_loop

cpy = cpython_test_module("test_pep492")
test_utils = cpython_test_module("utils")


def _setUp(self: Any) -> None:
    test_utils.TestCase.setUp(self)  # skip BaseTest.setUp's mocked BaseEventLoop
    self.loop = new_loop()
    self.set_event_loop(self.loop)


derive_all(globals(), cpy, overrides={"setUp": _setUp})
