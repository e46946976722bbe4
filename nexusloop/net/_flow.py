"""Write flow control shared by every transport: asyncio's water marks and protocol calls.

A transport pauses its protocol (``pause_writing()``) when its write buffer grows above the
high-water mark and resumes it (``resume_writing()``) once the buffer has drained to the
low-water mark. asyncio's rules for the marks (``high`` defaults to 64 KiB, or 4 x ``low``;
``low`` to ``high // 4``; ``high >= low >= 0`` or ``ValueError``) and for a protocol whose
callback raises (reported to the loop's exception handler, the transport goes on) live here
once; the stream, datagram, pipe and TLS transports keep the buffer size and the paused flag.
"""
from __future__ import annotations

from typing import Any

__all__ = ["notify_protocol", "water_marks"]

_FATAL = (SystemExit, KeyboardInterrupt)


def water_marks(high: Any, low: Any, default_high: int = 64 * 1024) -> tuple[int, int]:
    """``(high, low)`` from what ``set_write_buffer_limits(high, low)`` was given."""
    if high is None:
        high = default_high if low is None else 4 * low
    if low is None:
        low = high // 4
    if not high >= low >= 0:
        raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
    return high, low


def notify_protocol(loop: Any, transport: Any, protocol: Any, method: str) -> None:
    """Call ``protocol.pause_writing()`` / ``resume_writing()``; a failure goes to the loop."""
    try:
        getattr(protocol, method)()
    except _FATAL:
        raise
    except BaseException as exc:
        loop.call_exception_handler(
            {
                "message": f"protocol.{method}() failed",
                "exception": exc,
                "transport": transport,
                "protocol": protocol,
            }
        )
