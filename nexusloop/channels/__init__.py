"""Channels: typed, closable, cancellation-safe queues between tasks (and, later, threads).

``local(capacity=None)`` returns ``(Sender[T], Receiver[T])`` for tasks of one event loop;
``mpsc``/``spsc`` carry items from other threads (and other loops) to one loop. Every flavour
shares the same semantics and exceptions. See ``docs/channels.md``.

Each private module defines ``__all__``; this file star-imports it and adds it to ``__all__``.
"""
import nexusloop._core  # noqa: F401  (first: it honours NEXUSLOOP_NO_EXTENSIONS for our modules too)

from ._bytes import *  # noqa: F403
from ._bytes import __all__ as _bytes_all
from ._cross import *  # noqa: F403
from ._cross import __all__ as _cross_all
from ._errors import *  # noqa: F403
from ._errors import __all__ as _errors_all
from ._local import *  # noqa: F403
from ._local import __all__ as _local_all

__all__ = [*_errors_all, *_local_all, *_cross_all, *_bytes_all]
