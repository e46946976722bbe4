"""CPython's ``test.test_asyncio.test_tasks`` on nexusloop (see ``_harness.py``).

``BaseTaskTests`` and the gather tests build their loop with ``self.new_test_loop()``: the
harness returns a real nexusloop there. Tests that pass a time generator
(``new_test_loop(gen)``) need ``test_utils.TestLoop``'s virtual clock and are reported as skipped
with that reason.
"""
from __future__ import annotations

from . import _reasons as R
from ._harness import cpython_test_module, derive_all

cpy = cpython_test_module("test_tasks")

# Expected failures go here as {"<CPython class>": {"xfail": {"<test>": reason}}} (see
# KNOWN_FAILURES.md); test_error_in_call_soon was one until the loop logged through
# asyncio.base_events.logger.
derive_all(
    globals(),
    cpy,
    per_class={
        "CoroutineGatherTests": {"exclude": {"test_issue46672": R.PATCHES_BASE_EVENT_LOOP}},
    },
    exclude_classes={
        "PyIntrospectionTests": R.NO_LOOP,
        "CIntrospectionTests": R.NO_LOOP,
        "GenericTaskTests": R.NO_LOOP,
    },
)
