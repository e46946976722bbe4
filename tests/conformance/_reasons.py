"""Reasons shared by the conformance modules (each is also an entry in docs/compatibility.md)."""
from __future__ import annotations

# --- nexusloop bugs: reasons for strict xfails go here (none open; see KNOWN_FAILURES.md) -----

# --- exclusions: no third-party loop can satisfy these ---------------------------------------

NO_LOOP = (
    "no event loop involved: tests asyncio module functions/classes with mocks only, so "
    "running them 'on nexusloop' would prove nothing (they still run in the stock suite)"
)

PATCHES_BASE_EVENT_LOOP = (
    "patches a method on asyncio.BaseEventLoop (the stock loop's class); nexusloop.Loop is an "
    "AbstractEventLoop that does not inherit BaseEventLoop, so the patch cannot reach it"
)

CPYTHON_SELECTOR_INTERNALS = (
    "reads BaseSelectorEventLoop private state ({what}) that a loop not built on "
    "selector_events cannot have"
)

STOCK_LOOP_PRIVATE = (
    "calls or reads private members of asyncio's _UnixSelectorEventLoop ({what}) that a loop not "
    "built on asyncio's selector_events/unix_events cannot have"
)

PATCHES_ASYNCIO_MODULE = (
    "patches {what}, a module global of the stock loop's implementation, to fake {fake}; "
    "nexusloop does not make those calls through that module global, so the patch cannot reach "
    "them and the assertions about the fake do not apply"
)

ASYNCIO_PIPE_TRANSPORTS = (
    "tests asyncio's own pipe transport classes (unix_events._UnixReadPipeTransport / "
    "_UnixWritePipeTransport, constructed directly with a mocked pipe, os.read/os.write and "
    "test_utils.TestLoop's assert_reader/assert_writer), not the event loop; nexusloop's own "
    "pipe transports (nexusloop.net._pipe) run the loop-level pipe tests of test_events and "
    "tests/net/test_pipe.py"
)

ASYNCIO_CHILD_WATCHERS = (
    "tests asyncio's own child watcher classes (SafeChildWatcher/FastChildWatcher with "
    "os.waitpid and loop.add_signal_handler mocked), not the event loop; nexusloop does not use "
    "child watchers (it waits for children with pidfds, see nexusloop.net._subprocess)"
)

CHILD_WATCHER_VARIANTS = (
    "the same SubprocessMixin tests run once per asyncio child watcher class installed with "
    "policy.set_child_watcher(); nexusloop ignores child watchers (pidfd watching, see "
    "nexusloop.net._subprocess), so the bodies run once, in Nexus_SubprocessTests"
)

ASYNCIO_WATCHER_API = (
    "checks how the stock loop uses the installed asyncio child watcher (a mock watcher that is "
    "inactive must make subprocess creation fail, or a PidfdChildWatcher must be picked up); "
    "nexusloop waits for children without asyncio's child watchers (deprecated in 3.12, removed "
    "in 3.14), so a watcher installed in the policy has no effect on it"
)

POLICY_CLASSES = (
    "tests asyncio's own policy classes (DefaultEventLoopPolicy builds stock loops by design); "
    "nexusloop's policy is nexusloop.EventLoopPolicy, covered by tests/test_loop.py"
)
