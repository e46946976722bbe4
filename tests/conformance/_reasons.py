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

NEXT_ISSUE = (
    "transports/servers/pipes/subprocesses/TLS/sendfile are the next issue (not implemented by "
    "nexusloop yet)"
)

CPYTHON_SELECTOR_INTERNALS = (
    "reads BaseSelectorEventLoop private state ({what}) that a loop not built on "
    "selector_events cannot have"
)

POLICY_CLASSES = (
    "tests asyncio's own policy classes (DefaultEventLoopPolicy builds stock loops by design); "
    "nexusloop's policy is nexusloop.EventLoopPolicy, covered by tests/test_loop.py"
)

SOURCE_TRACEBACK_COMPILED = (
    "debug-mode handle._source_traceback is cut at the wrong frame in compiled mode: Handle "
    "__init__ takes sys._getframe(1) and call_soon deletes [-1] as if both were Python frames, "
    "but compiled functions have no frames, so the caller's own frame is lost "
    "[KNOWN_FAILURES.md#source-traceback]"
)
SOURCE_TRACEBACK_PURE = (
    "debug-mode call_later()/call_at() handle._source_traceback ends in nexusloop's call_later "
    "frame: the extra _call_at layer is not trimmed [KNOWN_FAILURES.md#source-traceback]"
)
