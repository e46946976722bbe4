"""CPython's ``test.test_asyncio.test_server`` on nexusloop (see ``_harness.py``).

``SelectorStartServerTests`` (``BaseStartServer`` plus the Unix-socket variant) gets its loop from
``functional.FunctionalTestCaseMixin.new_loop``, which CPython points at
``asyncio.SelectorEventLoop()``; the harness's ``new_loop`` returns a nexusloop. The
Windows-only ``ProactorStartServerTests`` runs the same ``BaseStartServer`` bodies on the
proactor loop: it is replaced by the selector class here.
"""
from __future__ import annotations

from ._harness import cpython_test_module, derive_all, new_loop_method

cpy = cpython_test_module("test_server")

derive_all(
    globals(),
    cpy,
    overrides={"new_loop": new_loop_method},
    replaced=("ProactorStartServerTests",),
)
