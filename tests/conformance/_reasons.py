"""Reasons shared by the conformance modules (each is also an entry in docs/compatibility.md)."""
from __future__ import annotations

# --- nexusloop bugs (strict xfail: a fix makes CI say "remove the mark") -------------------

LOGGER_LOOKUP = (
    "default_exception_handler logs through nexusloop.loop's own `logger` global; the test "
    "patches `asyncio.base_events.logger` (as CPython's loop looks it up at call time), so "
    "nexusloop's log record bypasses the mock [KNOWN_FAILURES.md#logger]"
)

# --- exclusions: no third-party loop can satisfy these ---------------------------------------

NO_LOOP = (
    "no event loop involved: tests asyncio module functions/classes with mocks only, so "
    "running them 'on nexusloop' would prove nothing (they still run in the stock suite)"
)

PATCHES_BASE_EVENT_LOOP = (
    "patches a method on asyncio.BaseEventLoop (the stock loop's class); nexusloop.Loop is an "
    "AbstractEventLoop that does not inherit BaseEventLoop, so the patch cannot reach it"
)
