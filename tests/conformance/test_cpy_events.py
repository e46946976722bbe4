"""CPython's ``test.test_asyncio.test_events`` on nexusloop (see ``_harness.py``).

``EventLoopTestsMixin`` is the loop-agnostic body that CPython runs once per selector
(``EPollEventLoopTests``, ``PollEventLoopTests``, ``SelectEventLoopTests``); here it runs once on
nexusloop through ``create_event_loop``, compared against ``EPollEventLoopTests``. The Unix
classes' ``UnixEventLoopTestsMixin`` (child watcher) and ``SubprocessTestsMixin`` belong to
subprocesses and are not mixed in. Tests of the next issue's features are excluded by name
pattern with that reason; so is the server/transport-only ``TestServer``.
"""
from __future__ import annotations

from . import _reasons as R
from ._harness import NexusCase, conformance, cpython_test_module, derive_all, matching_tests

cpy = cpython_test_module("test_events")
test_utils = cpython_test_module("utils")

_NEXT_ISSUE_PATTERNS = {
    r"create_connection|create_unix_connection|connect_accepted_socket": R.NEXT_ISSUE,
    r"create_server|create_unix_server|server_close": R.NEXT_ISSUE,
    r"create_datagram_endpoint": R.NEXT_ISSUE,
    r"ssl": R.NEXT_ISSUE,
    r"pipe|pty": R.NEXT_ISSUE,
    r"subprocess": R.NEXT_ISSUE,
    r"sendfile": R.NEXT_ISSUE,
}

_EXCLUDE = matching_tests(cpy.EventLoopTestsMixin, _NEXT_ISSUE_PATTERNS)
_EXCLUDE.update(
    {
        "test_internal_fds": R.CPYTHON_SELECTOR_INTERNALS.format(
            what="loop._internal_fds, loop._csock, loop._ssock"
        ),
        "test_prompt_cancellation": R.CPYTHON_SELECTOR_INTERNALS.format(
            what="calls loop._stop_serving(sock), the selector loop's server bookkeeping"
        ),
        "test_timeout_rounding": R.CPYTHON_SELECTOR_INTERNALS.format(
            what="loop._selector, evaluated for the assertion message"
        ),
    }
)


@conformance(stock=f"{cpy.__name__}.EPollEventLoopTests", exclude=_EXCLUDE)
class NexusEventLoopTests(NexusCase, cpy.EventLoopTestsMixin, test_utils.TestCase):
    """``EventLoopTestsMixin`` with ``create_event_loop()`` returning a nexusloop (NexusCase)."""


_PER_SELECTOR = ("EPollEventLoopTests", "PollEventLoopTests", "SelectEventLoopTests",
                 "KqueueEventLoopTests", "ProactorEventLoopTests")

derive_all(
    globals(),
    cpy,
    per_class={
        "HandleTests": {
            "xfail_compiled": {"test_handle_source_traceback": R.SOURCE_TRACEBACK_COMPILED},
            "xfail_pure": {"test_handle_source_traceback": R.SOURCE_TRACEBACK_PURE},
        },
    },
    exclude_classes={
        "TestServer": R.NEXT_ISSUE,
        "TimerTests": R.NO_LOOP,
        "PolicyTests": R.POLICY_CLASSES,
    },
    replaced=_PER_SELECTOR,
)
