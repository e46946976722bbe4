"""CPython's ``test.test_asyncio.test_streams`` on nexusloop (see ``_harness.py``).

``StreamTests`` builds its loop with ``asyncio.new_event_loop()``, which the harness's policy turns
into a nexusloop; ``open_connection``/``start_server``/``open_unix_connection``/
``start_unix_server`` then run asyncio's streams over nexusloop's transports. The
pipe-plus-subprocess test (``test_read_all_from_pipe_reader``) runs; the TLS tests belong to the
next issue.
"""
from __future__ import annotations

from . import _reasons as R
from ._harness import cpython_test_module, derive_all, matching_tests

cpy = cpython_test_module("test_streams")

_EXCLUDE = matching_tests(
    cpy.StreamTests,
    {
        r"ssl|start_tls": R.NEXT_ISSUE,
    },
)

derive_all(globals(), cpy, per_class={"StreamTests": {"exclude": _EXCLUDE}})
