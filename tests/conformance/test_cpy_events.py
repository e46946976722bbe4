"""CPython's ``test.test_asyncio.test_events`` on nexusloop (see ``_harness.py``).

``EventLoopTestsMixin`` is the loop-agnostic body that CPython runs once per selector
(``EPollEventLoopTests``, ``PollEventLoopTests``, ``SelectEventLoopTests``); here it runs once on
nexusloop through ``create_event_loop``, compared against ``EPollEventLoopTests``. The Unix
classes' ``UnixEventLoopTestsMixin`` (child watcher) and ``SubprocessTestsMixin`` belong to
subprocesses and are not mixed in. Tests of the next issue's features are excluded by name
pattern with that reason; so is the server/transport-only ``TestServer``.
"""
from __future__ import annotations

from typing import Any

import nexusloop

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
    }
)


@conformance(stock=f"{cpy.__name__}.EPollEventLoopTests", exclude=_EXCLUDE)
class NexusEventLoopTests(NexusCase, cpy.EventLoopTestsMixin, test_utils.TestCase):
    """``EventLoopTestsMixin`` with ``create_event_loop()`` returning a nexusloop.

    Two tests touch selector-loop private names only at their edges; the loop gets stand-ins so
    the behaviour they check still runs on nexusloop:

    * ``test_timeout_rounding`` counts ``_run_once`` calls (nexusloop has ``_run_once`` and
      honours the instance patch) and reads ``loop._selector`` only to build the assertion
      message: ``_selector`` is a name-only stand-in.
    * ``test_prompt_cancellation`` ends with ``loop._stop_serving(sock)``, which on the selector
      loop removes the socket's reader. The stand-in instead *asserts* that cancelling
      ``sock_recv`` already removed it (stricter than the original).
    """

    def create_event_loop(self) -> Any:
        loop = nexusloop.new_event_loop()
        loop._selector = _SelectorNameOnly()

        def _stop_serving(sock: Any) -> None:
            if loop.remove_reader(sock):
                raise AssertionError("cancelled sock_recv() left its reader registered")

        loop._stop_serving = _stop_serving
        return loop


class _SelectorNameOnly:
    """``loop._selector`` for ``test_timeout_rounding``'s assertion message (name only)."""


_PER_SELECTOR = ("EPollEventLoopTests", "PollEventLoopTests", "SelectEventLoopTests",
                 "KqueueEventLoopTests", "ProactorEventLoopTests")

derive_all(
    globals(),
    cpy,
    exclude_classes={
        "TestServer": R.NEXT_ISSUE,
        "TimerTests": R.NO_LOOP,
        "PolicyTests": R.POLICY_CLASSES,
    },
    replaced=_PER_SELECTOR,
)
