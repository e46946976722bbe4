"""CPython's ``test.test_asyncio.test_events`` on nexusloop (see ``_harness.py``).

``EventLoopTestsMixin`` is the loop-agnostic body that CPython runs once per selector
(``EPollEventLoopTests``, ``PollEventLoopTests``, ``SelectEventLoopTests``); here it runs once on
nexusloop through ``create_event_loop``, compared against ``EPollEventLoopTests``. ``SubprocessTestsMixin`` is mixed in as
``EPollEventLoopTests`` does; ``UnixEventLoopTestsMixin`` (which only installs asyncio's
SafeChildWatcher) is not.

The network tests (``create_connection``, ``create_server``, the Unix variants,
``create_datagram_endpoint``, ``connect_accepted_socket``, ``TestServer``) run, TLS included,
and so do the pipe, pty and subprocess tests.
"""
from __future__ import annotations

from typing import Any

from . import _reasons as R
from ._harness import (
    STOCK,
    NexusCase,
    conformance,
    cpython_test_module,
    derive_all,
    new_loop,
)

cpy = cpython_test_module("test_events")
test_utils = cpython_test_module("utils")

_EXCLUDE: dict[str, str] = {
        "test_internal_fds": R.CPYTHON_SELECTOR_INTERNALS.format(
            what="loop._internal_fds, loop._csock, loop._ssock"
        ),
        # Both go through create_server_multiple_hosts(), which binds 1.2.3.4 / 5.6.7.8 / ::2.
        "test_create_server_multiple_hosts_ipv4": R.PATCHES_ASYNCIO_MODULE.format(
            what="asyncio.base_events.socket (and sets loop._start_serving/_stop_serving)",
            fake="binding the non-local addresses 1.2.3.4 and 5.6.7.8",
        ),
        "test_create_server_multiple_hosts_ipv6": R.PATCHES_ASYNCIO_MODULE.format(
            what="asyncio.base_events.socket (and sets loop._start_serving/_stop_serving)",
            fake="binding the non-local address ::2",
        ),
}


@conformance(stock=f"{cpy.__name__}.EPollEventLoopTests", exclude=_EXCLUDE)
class NexusEventLoopTests(
    NexusCase, cpy.EventLoopTestsMixin, cpy.SubprocessTestsMixin, test_utils.TestCase
):
    """``EventLoopTestsMixin`` + ``SubprocessTestsMixin``; ``create_event_loop()`` gives nexusloop.

    ``UnixEventLoopTestsMixin`` is left out: its only content is installing asyncio's
    ``SafeChildWatcher`` (SIGCHLD-based) around each test, which nexusloop does not use (children
    are watched with pidfds, see ``nexusloop.net._subprocess``); the subprocess tests run without it.

    Two tests touch selector-loop private names only at their edges; in those two tests the
    loop gets stand-ins so the behaviour they check still runs on nexusloop (attached to no
    other test, so they cannot shadow anything the transports use):

    * ``test_timeout_rounding`` counts ``_run_once`` calls (nexusloop has ``_run_once`` and
      honours the instance patch) and reads ``loop._selector`` only to build the assertion
      message: ``_selector`` is a name-only stand-in.
    * ``test_prompt_cancellation`` ends with ``loop._stop_serving(sock)``, which on the selector
      loop removes the socket's reader. The stand-in instead *asserts* that cancelling
      ``sock_recv`` already removed it (stricter than the original).
    """

    def create_event_loop(self) -> Any:
        loop = new_loop()
        if STOCK:
            return loop
        test = self._testMethodName
        if test == "test_timeout_rounding":
            loop._selector = _SelectorNameOnly()
        elif test == "test_prompt_cancellation":

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
        "TimerTests": R.NO_LOOP,
        "PolicyTests": R.POLICY_CLASSES,
    },
    replaced=_PER_SELECTOR,
)
