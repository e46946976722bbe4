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
