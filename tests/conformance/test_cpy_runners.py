"""CPython's ``test.test_asyncio.test_runners`` on nexusloop (see ``_harness.py``).

CPython's ``BaseTest.new_loop`` (the factory of its ``TestPolicy``) builds a bare
``asyncio.BaseEventLoop()`` with a mocked selector and a ``shutdown_asyncgens`` spy; the harness's
``new_loop`` returns a real nexusloop with the same spy (recording the call, then running
nexusloop's own ``shutdown_asyncgens``), so ``asyncio.run``/``asyncio.Runner`` drive nexusloop.
"""
from __future__ import annotations

from typing import Any

from ._harness import cpython_test_module, derive_all, new_loop

cpy = cpython_test_module("test_runners")


def _new_loop(self: Any) -> Any:
    loop = new_loop()
    loop.shutdown_ag_run = False
    real_shutdown_asyncgens = loop.shutdown_asyncgens

    async def shutdown_asyncgens() -> None:
        loop.shutdown_ag_run = True
        await real_shutdown_asyncgens()

    loop.shutdown_asyncgens = shutdown_asyncgens
    return loop


derive_all(globals(), cpy, overrides={"new_loop": _new_loop})
