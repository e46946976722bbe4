"""Channels: typed, closable, cancellation-safe queues between tasks (and, later, threads).

``local(capacity=None)`` returns ``(Sender[T], Receiver[T])`` for tasks of one event loop.
The cross-thread flavours of SPEC section 4 (``mpsc``, ``spsc``, byte channels) are to come and
will share these handles' semantics and exceptions. See ``docs/channels.md``.

Each private module defines ``__all__``; this file star-imports it and adds it to ``__all__``.
"""
from ._errors import *  # noqa: F403
from ._errors import __all__ as _errors_all
from ._local import *  # noqa: F403
from ._local import __all__ as _local_all

__all__ = [*_errors_all, *_local_all]
