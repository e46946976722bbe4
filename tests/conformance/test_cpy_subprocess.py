"""CPython's ``test.test_asyncio.test_subprocess`` on nexusloop (see ``_harness.py``).

``SubprocessMixin`` holds the loop-level subprocess tests (``create_subprocess_exec/shell``,
``communicate``, signals, pipes closed early, ``Popen`` failures, cancellation, many children).
CPython runs it once per asyncio *child watcher* class, installed in the policy around each
test (``SubprocessThreadedWatcherTests``, ``...SafeWatcherTests``, ``...FastWatcherTests``,
``...PidfdWatcherTests``). nexusloop does not use asyncio's child watchers (it watches each child
with a pidfd registered with the loop, see ``nexusloop.net._subprocess``), so those variants are
one class here, :class:`Nexus_SubprocessTests`, whose ``setUp`` builds a nexusloop and installs
no watcher; it is compared with ``SubprocessThreadedWatcherTests`` (a watcher that exists on every
version). ``SubprocessTransportTests`` (asyncio's ``BaseSubprocessTransport`` with a mocked
``Popen``, on a real loop) and ``GenericWatcherTests`` run through ``derive_all``; the one test
that checks how the stock loop consults an installed (mock) watcher is excluded with its reason.
"""
from __future__ import annotations

import asyncio
from typing import Any

from . import _reasons as R
from ._harness import NexusCase, conformance, cpython_test_module, derive_all, new_loop

cpy = cpython_test_module("test_subprocess")
test_utils = cpython_test_module("utils")


@conformance(stock=f"{cpy.__name__}.SubprocessThreadedWatcherTests")
class Nexus_SubprocessTests(NexusCase, cpy.SubprocessMixin, test_utils.TestCase):
    """``SubprocessMixin`` on a nexusloop, with no asyncio child watcher installed."""

    def setUp(self) -> None:
        super().setUp()  # test_utils.TestCase.setUp: no loop yet
        self.loop = new_loop()
        self.set_event_loop(self.loop)


def _generic_setUp(self: Any) -> None:
    # 3.12+ test_create_subprocess_with_pidfd asserts that the policy's get_event_loop() raises
    # inside asyncio.Runner: true once set_event_loop() was ever called on the policy (CPython's
    # earlier tests did); the harness installs a fresh policy per test, so say it here.
    test_utils.TestCase.setUp(self)
    asyncio.get_event_loop_policy().set_event_loop(None)


_WATCHER_VARIANTS = (
    "SubprocessThreadedWatcherTests",
    "SubprocessMultiLoopWatcherTests",
    "SubprocessSafeWatcherTests",
    "SubprocessFastWatcherTests",
    "SubprocessPidfdWatcherTests",
    "SubprocessProactorTests",
)

derive_all(
    globals(),
    cpy,
    per_class={
        "GenericWatcherTests": {
            "attrs": {"setUp": _generic_setUp},
            "exclude": {"test_create_subprocess_fails_with_inactive_watcher": R.ASYNCIO_WATCHER_API}
        },
    },
    exclude_classes={
        # 3.12+: only checks that constructing MultiLoopChildWatcher warns (DeprecationWarning).
        "MultiLoopChildWatcherTests": R.NO_LOOP,
    },
    replaced=_WATCHER_VARIANTS,
)
