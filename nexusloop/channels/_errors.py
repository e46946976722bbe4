"""Exceptions raised by :mod:`nexusloop.channels`.

Every outcome of a channel operation other than success is an exception under one base,
:class:`ChannelError`, so a caller can catch exactly the outcome it handles::

    try:
        sender.try_send(item)
    except ChannelFull:
        ...           # back off, or await sender.send(item)
    except ReceiverGone as exc:
        keep(exc.value)  # nobody will ever read it: the item comes back

The two "nothing to do right now" outcomes (:class:`ChannelFull`, :class:`ChannelEmpty`) happen
on the ``try_*`` calls only; the awaiting calls wait instead.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "ChannelEmpty",
    "ChannelError",
    "ChannelFull",
    "EndOfChannel",
    "HandleClosed",
    "ReceiverGone",
]


class ChannelError(Exception):
    """Base class of every outcome a channel operation reports as an exception.

    Example::

        try:
            item = receiver.try_recv()
        except ChannelError:
            item = None
    """


class ChannelFull(ChannelError):
    """``try_send`` on a bounded channel whose buffer is full; the item was not sent.

    ``value`` is the item that was not sent.

    Example::

        try:
            sender.try_send(item)
        except ChannelFull as exc:
            backlog.append(exc.value)
    """

    def __init__(self, value: Any) -> None:
        super().__init__("channel is full")
        self.value = value


class ChannelEmpty(ChannelError):
    """``try_recv`` found no item, but some sender is still open, so more may come.

    Example::

        try:
            item = receiver.try_recv()
        except ChannelEmpty:
            item = await receiver.recv()
    """


class EndOfChannel(ChannelError):
    """Every sender is closed (or garbage-collected) and every buffered item was received.

    ``async for`` over a receiver ends quietly on it; ``recv`` and ``try_recv`` raise it.

    Example::

        while True:
            try:
                item = await receiver.recv()
            except EndOfChannel:
                break
    """


class ReceiverGone(ChannelError):
    """A send found the receiver closed or garbage-collected; nobody will read the item.

    ``value`` is the item that was not sent, handed back to the caller.

    Example::

        try:
            await sender.send(job)
        except ReceiverGone as exc:
            requeue(exc.value)
    """

    def __init__(self, value: Any) -> None:
        super().__init__("the receiver is closed; the item was not sent (see .value)")
        self.value = value


class HandleClosed(ChannelError):
    """The handle itself (this sender, or the receiver) was closed: using it again is a bug.

    Also raised by a second ``close()`` and by a ``send``/``recv`` that was waiting on the
    handle when it was closed.

    Example::

        sender.close()
        try:
            sender.try_send(1)
        except HandleClosed:
            pass
    """
