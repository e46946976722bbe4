"""CPython's ``test.test_asyncio.test_futures`` on nexusloop (see ``_harness.py``).

Every class builds its loop with ``self.new_test_loop()``, which the harness turns into a real
nexusloop. (The three ``asyncio.base_events.logger`` tests per Future class were strict xfails
until the loop logged through that logger; see KNOWN_FAILURES.md.)
"""
from __future__ import annotations

from ._harness import cpython_test_module, derive_all

cpy = cpython_test_module("test_futures")

derive_all(globals(), cpy)
