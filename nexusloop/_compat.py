"""Every reach into asyncio's private helpers, in one place.

nexusloop reuses a handful of asyncio's internal helpers so that its behaviour (error messages,
address parsing, debug formatting) is asyncio's own rather than a copy that drifts. Internals
change between Python versions (3.13 removed ``asyncio.tasks._set_task_name``), so nothing else
in the package names a private asyncio attribute: it imports it from here, and
``tests/test_compat.py`` checks each one on every supported version (3.11, 3.12, 3.13), and that
no other module reaches into asyncio's privates.
"""
from __future__ import annotations

import asyncio
import asyncio.constants
import asyncio.format_helpers
import importlib
import inspect
from typing import Any

# Private names are not in typeshed: the modules are typed Any here, and only here.
_base_events: Any = asyncio.base_events
_constants: Any = asyncio.constants
_coroutines: Any = asyncio.coroutines
_events: Any = asyncio.events
_format_helpers: Any = asyncio.format_helpers
_futures: Any = asyncio.futures
_tasks: Any = asyncio.tasks
_base_tasks: Any = importlib.import_module("asyncio.base_tasks")

__all__ = [
    "SendfileMode", "check_ssl_socket", "enter_task", "extract_stack", "format_callback_source",
    "future_loop", "get_running_loop_or_none", "interleave_addrinfos", "ipaddr_info",
    "is_debug_mode", "leave_task", "register_task", "set_reuseport", "set_running_loop",
    "task_get_stack", "task_print_stack",
]

# base_events: the checks and address helpers of create_connection/create_server.
#: ``TypeError`` for an ``ssl.SSLSocket`` passed as ``sock=`` (asyncio's message).
check_ssl_socket = _base_events._check_ssl_socket
#: ``(family, type, proto, '', sockaddr)`` when ``host`` is already a numeric address, else None.
ipaddr_info = _base_events._ipaddr_info
#: Happy-eyeballs ordering of ``getaddrinfo`` results.
interleave_addrinfos = _base_events._interleave_addrinfos
#: ``SO_REUSEPORT`` with asyncio's ``ValueError`` where the platform lacks it.
set_reuseport = _base_events._set_reuseport

# events: the running-loop slot (also exported as asyncio._get_running_loop/_set_running_loop).
#: The running loop of this thread or ``None``, without raising (3.11: one getpid() per call).
get_running_loop_or_none = _events._get_running_loop
set_running_loop = _events._set_running_loop

# futures / coroutines: the loop of any future-like object, and PYTHONASYNCIODEBUG.
future_loop = _futures._get_loop


def is_debug_mode() -> bool:
    """PYTHONASYNCIODEBUG / ``-X dev``: looked up at each call, as asyncio does (its tests patch
    ``asyncio.coroutines._is_debug_mode``)."""
    return bool(_coroutines._is_debug_mode())


# format_helpers: reprs of callbacks and creation tracebacks in debug mode.
_DEBUG_ARGS = "debug" in inspect.signature(_format_helpers._format_callback_source).parameters


def format_callback_source(func: Any, args: Any, debug: bool) -> str:
    """``name(args) at file:line`` as asyncio's handles show a callback. From 3.13 asyncio shows
    the arguments only in debug mode (they may be secrets); before, always."""
    if _DEBUG_ARGS:
        return str(_format_helpers._format_callback_source(func, args, debug=debug))
    return str(_format_helpers._format_callback_source(func, args))


extract_stack = _format_helpers.extract_stack

# constants: how a transport takes part in loop.sendfile() (native, fallback, try native first).
SendfileMode = _constants._SendfileMode

# tasks: the hooks asyncio offers third-party task implementations (listed in asyncio.tasks'
# __all__ on 3.12+): what makes asyncio.current_task() and asyncio.all_tasks() see nexusloop's
# runtime tasks. enter/leave raise RuntimeError when another task is already current.
enter_task = _tasks._enter_task
leave_task = _tasks._leave_task
#: Add a task to asyncio's registry (a WeakSet: all_tasks() lists it while it is not done).
register_task = _tasks._register_task

# base_tasks: Task.get_stack() / print_stack() for any task-like object (uses _coro, _exception).
task_get_stack = _base_tasks._task_get_stack
task_print_stack = _base_tasks._task_print_stack
