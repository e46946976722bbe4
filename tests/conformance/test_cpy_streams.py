"""CPython's ``test.test_asyncio.test_streams`` on nexusloop (see ``_harness.py``).

``StreamTests`` builds its loop with ``asyncio.new_event_loop()``, which the harness's policy turns
into a nexusloop; ``open_connection``/``start_server``/``open_unix_connection``/
``start_unix_server`` then run asyncio's streams over nexusloop's transports, TLS
(``ssl=``, ``start_tls``) and the pipe-plus-subprocess test (``test_read_all_from_pipe_reader``)
included. Nothing is excluded.
"""
from __future__ import annotations

from ._harness import cpython_test_module, derive_all

cpy = cpython_test_module("test_streams")

derive_all(globals(), cpy)
