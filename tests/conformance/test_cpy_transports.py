"""CPython's ``test.test_asyncio.test_transports`` (see ``_harness.py``).

``TransportTests`` checks asyncio's abstract transport classes and ``_FlowControlMixin`` with a
``mock.Mock()`` loop: no event loop is involved, so it is reported as excluded with that reason.
nexusloop's own transports are exercised through the loop by ``test_events``, ``test_streams``,
``test_sendfile``, ``test_buffered_proto``, ``test_server`` and ``test_sock_lowlevel``.
"""
from __future__ import annotations

from . import _reasons as R
from ._harness import cpython_test_module, derive_all

cpy = cpython_test_module("test_transports")

derive_all(globals(), cpy, exclude_classes={"TransportTests": R.NO_LOOP})
