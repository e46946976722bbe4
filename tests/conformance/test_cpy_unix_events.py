"""CPython's ``test.test_asyncio.test_unix_events``, socket parts, on nexusloop (see ``_harness.py``).

Run on nexusloop:

* ``SelectorEventLoopUnixSocketTests``: ``create_unix_server``/``create_unix_connection``
  argument handling (pathlib paths, stale and non-socket paths, ``sock`` of the wrong family or
  type, ``ssl``/``server_hostname``/``ssl_handshake_timeout`` checks that raise before any TLS).
  CPython's ``setUp`` builds ``asyncio.SelectorEventLoop()``; the harness's builds a nexusloop.
* ``TestFunctional``: ``add_reader``/``add_writer`` argument checks, and that a transport's fd
  cannot be taken over with ``add_reader``/``add_writer`` (``asyncio.new_event_loop()`` through the
  harness's policy).
* ``SelectorEventLoopUnixSockSendfileTests``, the three tests that call
  ``loop._sock_sendfile_native()`` with a file that is not a regular file: nexusloop provides
  that asyncio hook (``sock_sendfile`` goes through it), so they check its
  ``SendfileNotAvailableError``.
* ``SelectorEventLoopSignalTests``: ``test_add_signal_handler_coroutine_error`` (public API) and
  ``test_add_signal_handler``, whose assertions are about ``loop._signal_handlers`` (nexusloop
  keeps asyncio's mapping of signal to ``asyncio.Handle``), not about its ``signal`` mock.

Everything else is reported as excluded with its reason: the rest of the signal and sock_sendfile
classes drive ``_UnixSelectorEventLoop``'s private methods, or patch ``asyncio.unix_events``
module globals and assert what the fake did; the pipe transport and child watcher classes test
asyncio's own classes with mocks (nexusloop's pipes and child watching are tested by
``test_cpy_events``, ``test_cpy_subprocess`` and ``tests/net``); the policy and abstract watcher
classes involve no loop. ``TestFork`` (3.12+) runs, including its subprocess test.
"""
from __future__ import annotations

from typing import Any

from . import _reasons as R
from ._harness import cpython_test_module, derive_all, new_loop

cpy = cpython_test_module("test_unix_events")
test_utils = cpython_test_module("utils")


def _setUp(self: Any) -> None:
    test_utils.TestCase.setUp(self)  # CPython's setUp builds asyncio.SelectorEventLoop()
    self.loop = new_loop()
    self.set_event_loop(self.loop)


_MOCKED_SIGNAL = R.PATCHES_ASYNCIO_MODULE.format(
    what="asyncio.unix_events.signal",
    fake="the signal module's signal()/set_wakeup_fd() results and failures",
)
_SIGNAL_EXCLUDE = {
    name: _MOCKED_SIGNAL
    for name in (
        "test_add_signal_handler_setup_error",
        "test_add_signal_handler_install_error",
        "test_add_signal_handler_install_error2",
        "test_add_signal_handler_install_error3",
        "test_remove_signal_handler",
        "test_remove_signal_handler_2",
        "test_remove_signal_handler_cleanup_error",
        "test_remove_signal_handler_error",
        "test_remove_signal_handler_error2",
        "test_close",
        "test_close_on_finalizing",
    )
}
_SIGNAL_EXCLUDE.update(
    {
        "test_check_signal": R.STOCK_LOOP_PRIVATE.format(what="loop._check_signal()"),
        "test_handle_signal_no_handler": R.STOCK_LOOP_PRIVATE.format(
            what="loop._handle_signal()"
        ),
        "test_handle_signal_cancelled_handler": R.STOCK_LOOP_PRIVATE.format(
            what="loop._handle_signal()"
        ),
    }
)

_SENDFILE_IMPL = R.STOCK_LOOP_PRIVATE.format(
    what="loop._sock_sendfile_native_impl(), loop._selector.get_key()"
)
_SOCK_SENDFILE_EXCLUDE = {
    name: _SENDFILE_IMPL
    for name in (
        "test_sock_sendfile_cancel1",
        "test_sock_sendfile_cancel2",
        "test_sock_sendfile_blocking_error",
        "test_sock_sendfile_os_error_first_call",
        "test_sock_sendfile_os_error_next_call",
        "test_sock_sendfile_exception",
    )
}
_SOCK_SENDFILE_EXCLUDE["test_sock_sendfile_not_available"] = R.PATCHES_ASYNCIO_MODULE.format(
    what="asyncio.unix_events.os", fake="a platform without os.sendfile()"
)

derive_all(
    globals(),
    cpy,
    per_class={
        "SelectorEventLoopSignalTests": {"attrs": {"setUp": _setUp}, "exclude": _SIGNAL_EXCLUDE},
        "SelectorEventLoopUnixSockSendfileTests": {"exclude": _SOCK_SENDFILE_EXCLUDE},
        "SelectorEventLoopUnixSocketTests": {
            "attrs": {"setUp": _setUp},
            "exclude": {
                "test_create_unix_server_bind_error": R.PATCHES_ASYNCIO_MODULE.format(
                    what="asyncio.unix_events.socket",
                    fake="a bind() error (and checks the mock socket was closed)",
                ),
            },
        },
    },
    exclude_classes={
        "UnixReadPipeTransportTests": R.ASYNCIO_PIPE_TRANSPORTS,
        "UnixWritePipeTransportTests": R.ASYNCIO_PIPE_TRANSPORTS,
        "SafeChildWatcherTests": R.ASYNCIO_CHILD_WATCHERS,
        "FastChildWatcherTests": R.ASYNCIO_CHILD_WATCHERS,
        "AbstractChildWatcherTests": R.NO_LOOP,
        "BaseChildWatcherTests": R.NO_LOOP,
        "PolicyTests": R.POLICY_CLASSES,
    },
)
