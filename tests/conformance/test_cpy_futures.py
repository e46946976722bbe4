"""CPython's ``test.test_asyncio.test_futures`` on nexusloop (see ``_harness.py``).

Every class builds its loop with ``self.new_test_loop()``, which the harness turns into a real
nexusloop.
"""
from __future__ import annotations

from . import _reasons as R
from ._harness import cpython_test_module, derive_all

cpy = cpython_test_module("test_futures")

_LOGGER_XFAIL: dict[str, str] = {}  # fixed: the loop logs through base_events.logger

derive_all(
    globals(),
    cpy,
    per_class={
        name: {"xfail": _LOGGER_XFAIL}
        for name, obj in vars(cpy).items()
        if isinstance(obj, type) and issubclass(obj, cpy.BaseFutureTests)
    },
)
