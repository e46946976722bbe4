"""Loop services: the parts of a loop that own something and must release it when the loop closes.

A service is an object that holds its loop and owns resources that outlive a single call: the
default executor and its threads (:class:`nexusloop._executor.ExecutorService`), the signal
wake-up socket pair and signal dispositions (:class:`nexusloop._signals.SignalService`), and
later servers. ``Loop.__init__`` creates its services and registers them with
``Loop._add_service``; that is the only set-up hook. The only tear-down hook is the protocol
below.

The close-order rule
--------------------
``Loop.close()`` closes the services in *reverse registration order* (last registered, first
closed, like nested ``with`` blocks), *before* the loop marks itself closed and the core drops its
ready queue and poller. So:

* a service may use any service registered before it, up to and including its own ``close()``;
* inside ``close()`` the loop is still open: a service can unregister its fds
  (``remove_reader``) and cancel handles; a callback it schedules now is dropped with the ready
  queue right after;
* ``close()`` is called at most once per loop (``Loop.close()`` is idempotent), and not at all if
  the loop is never closed. It should not raise for ordinary clean-up failures: a service that
  raises leaves the loop open, as asyncio's ``close()`` does when removing a signal handler fails.

Holding the loop
----------------
A service holds its loop through a weak reference. The loop owns its services, so a strong
reference back would put every loop in a reference cycle, and a loop dropped without
``close()`` would then release its fds (and issue its ``ResourceWarning``) only at the next
garbage collection instead of at once. Service methods are called through the loop, which is
alive then. The one exception is ``close()`` run from ``Loop.__del__`` while the collector breaks
a cycle the loop is part of: the collector clears weak references before it runs finalizers, so
there ``close()`` finds the reference dead and must release what it owns without the loop.
"""
from __future__ import annotations

from typing import Protocol

__all__ = ["LoopService"]


class LoopService(Protocol):
    """What ``Loop.close()`` calls on each registered service (see the module docstring)."""

    def close(self) -> None:
        """Release what the service owns; the loop is still open (may be gone: see above)."""
        ...

# Optional: a service whose work runs outside the loop and reports back (executor jobs, child
# processes) defines ``in_flight() -> int``; virtual time (nexusloop.testing) does not jump the
# clock while any service reports work in flight.
