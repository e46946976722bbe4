"""``channels.local`` against a reference model, by hypothesis (stateful), on both loops.

The model is what the channel promises when the loop is quiescent (every woken task has run):
a deque of buffered items, the FIFO list of parked sends (task, sender, item) and of parked
receives, the open senders and whether the receiver is open. Each rule does one thing to the
real channel, runs the loop until it is quiescent, applies the same thing to the model and
compares: every task that finished finished as the model says (item, exception and its
``.value``, or cancelled), the buffer holds the model's items in order, ``statistics()`` and
``len()`` agree.

Cancellation "at every await point": ``cancel_around`` cancels any parked task either just
before or just after another action (send, receive, close) in the same loop step, i.e. also
after that action woke the task with an item claimed or a slot reserved for it but before it
ran. The model for both orders is "the task was removed first": a cancelled ``recv`` takes
nothing, a cancelled ``send`` enqueues nothing, and what was promised to it passes on.
"""
from __future__ import annotations

import asyncio
import gc
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import nexusloop
from nexusloop.channels import (
    ChannelEmpty,
    ChannelFull,
    EndOfChannel,
    HandleClosed,
    Receiver,
    ReceiverGone,
    Sender,
    local,
)
from nexusloop.channels._local import _UNBOUNDED

MAX_PENDING = 6
MAX_SENDERS = 4

Outcome = tuple[Any, ...]  # ("ok", value) | ("exc", type, value-or-None) | ("cancelled",)


def _outcome_of_call(fn: Callable[[], Any]) -> Outcome:
    try:
        return ("ok", fn())
    except (ChannelFull, ReceiverGone) as exc:
        return ("exc", type(exc), exc.value)
    except (ChannelEmpty, EndOfChannel, HandleClosed) as exc:
        return ("exc", type(exc), None)


def _outcome_of_task(task: asyncio.Task[Any]) -> Outcome:
    if task.cancelled():
        return ("cancelled",)
    exc = task.exception()
    if exc is None:
        return ("ok", task.result())
    return ("exc", type(exc), getattr(exc, "value", None))


@dataclass
class Pending:
    task: asyncio.Task[Any]
    kind: str          # "send" | "recv"
    sender: int = -1   # for sends: the model's sender id
    value: int = -1


class Model:
    """The reference: what a quiescent channel looks like."""

    def __init__(self, capacity: int | None) -> None:
        self.capacity = capacity
        self.cap = _UNBOUNDED if capacity is None else capacity
        self.buf: deque[int] = deque()
        self.open_senders: set[int] = {0}
        self.receiver_open = True
        self.sends: list[tuple[int, int, int]] = []   # (task id, sender id, value), FIFO
        self.recvs: list[int] = []                    # task ids, FIFO
        self.done: dict[int, Outcome] = {}            # task id -> expected outcome

    def _settle(self) -> None:
        changed = True
        while changed:
            changed = False
            while self.recvs and self.buf:
                self.done[self.recvs.pop(0)] = ("ok", self.buf.popleft())
                changed = True
            while self.sends and len(self.buf) < self.cap:
                tid, _, value = self.sends.pop(0)
                self.buf.append(value)
                self.done[tid] = ("ok", None)
                changed = True

    def send(self, sender: int, value: int, tid: int | None) -> Outcome | None:
        """Outcome of a send now, or None if it parks (tid given)."""
        if sender not in self.open_senders:
            return ("exc", HandleClosed, None)
        if not self.receiver_open:
            return ("exc", ReceiverGone, value)
        if len(self.buf) < self.cap:
            self.buf.append(value)
            self._settle()
            return ("ok", None)
        if tid is None:
            return ("exc", ChannelFull, value)
        self.sends.append((tid, sender, value))
        return None

    def recv(self, tid: int | None) -> Outcome | None:
        if not self.receiver_open:
            return ("exc", HandleClosed, None)
        if self.buf:
            value = self.buf.popleft()
            self._settle()
            return ("ok", value)
        if not self.open_senders:
            return ("exc", EndOfChannel, None)
        if tid is None:
            return ("exc", ChannelEmpty, None)
        self.recvs.append(tid)
        return None

    def cancel(self, tid: int) -> None:
        self.sends = [s for s in self.sends if s[0] != tid]
        self.recvs = [r for r in self.recvs if r != tid]
        self.done[tid] = ("cancelled",)

    def close_sender(self, sender: int) -> None:
        self.open_senders.discard(sender)
        for tid, _sid, _ in [s for s in self.sends if s[1] == sender]:
            self.done[tid] = ("exc", HandleClosed, None)
        self.sends = [s for s in self.sends if s[1] != sender]
        if not self.open_senders:
            for tid in self.recvs:  # parked receivers: the buffer is empty
                self.done[tid] = ("exc", EndOfChannel, None)
            self.recvs = []

    def close_receiver(self) -> None:
        self.receiver_open = False
        self.buf.clear()
        for tid in self.recvs:
            self.done[tid] = ("exc", HandleClosed, None)
        for tid, _, value in self.sends:
            self.done[tid] = ("exc", ReceiverGone, value)
        self.recvs, self.sends = [], []


class LocalChannelMachine(RuleBasedStateMachine):
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = staticmethod(asyncio.new_event_loop)

    def __init__(self) -> None:
        super().__init__()
        self.loop = self.loop_factory()
        self.next_value = 0
        self.next_tid = 0
        self.senders: dict[int, Sender[int]] = {}
        self.next_sender = 1
        self.rx: Receiver[int] | None = None
        self.pending: dict[int, Pending] = {}

    @initialize(capacity=st.sampled_from([None, 1, 2, 3]))
    def make(self, capacity: int | None) -> None:
        tx, rx = local(capacity)
        self.senders = {0: tx}
        self.next_sender = 1
        self.rx = rx
        self.model = Model(capacity)

    @precondition(lambda self: not self.model.receiver_open or not self.model.open_senders)
    @rule(capacity=st.sampled_from([None, 1, 2, 3]))
    def fresh_channel(self, capacity: int | None) -> None:
        """The channel has ended: cancel what is parked on it, drop it, start a new one."""
        for tid, p in list(self.pending.items()):
            p.task.cancel()
            self.model.cancel(tid)
        self.settle()
        self.rx = None
        self.senders = {}
        gc.collect()
        self.make(capacity)

    def teardown(self) -> None:
        for p in self.pending.values():
            p.task.cancel()
        if self.pending:
            self.loop.run_until_complete(asyncio.gather(
                *(p.task for p in self.pending.values()), return_exceptions=True))
        self.pending.clear()
        self.loop.close()

    # -- helpers ---------------------------------------------------------------------------------

    def value(self) -> int:
        self.next_value += 1
        return self.next_value

    def settle(self) -> None:
        async def spin() -> None:
            for _ in range(4 * MAX_PENDING + 8):
                await asyncio.sleep(0)
        self.loop.run_until_complete(spin())
        for tid in [t for t, p in self.pending.items() if p.task.done()]:
            p = self.pending.pop(tid)
            assert tid in self.model.done, f"task {tid} ({p.kind}) finished, model says parked"
            assert _outcome_of_task(p.task) == self.model.done.pop(tid), p.kind
        for tid, p in self.pending.items():
            assert tid not in self.model.done, f"task {tid} ({p.kind}) parked: {self.model.done[tid]}"

    def pick_sender(self, i: int) -> int:
        ids = sorted(self.senders)
        return ids[i % len(ids)]

    def start(self, kind: str, coro_fn: Callable[[], Any], sender: int = -1, value: int = -1
              ) -> int:
        tid = self.next_tid
        self.next_tid += 1
        task = self.loop.create_task(coro_fn())
        self.pending[tid] = Pending(task, kind, sender, value)
        return tid

    # -- rules -----------------------------------------------------------------------------------

    @rule(i=st.integers(0, 7))
    def try_send(self, i: int) -> None:
        sid = self.pick_sender(i)
        v = self.value()
        got = _outcome_of_call(lambda: self.senders[sid].try_send(v))
        assert got == self.model.send(sid, v, None)
        self.settle()

    @precondition(lambda self: len(self.pending) < MAX_PENDING)
    @rule(i=st.integers(0, 7))
    def start_send(self, i: int) -> None:
        sid = self.pick_sender(i)
        v = self.value()
        tx = self.senders[sid]
        tid = self.start("send", lambda: tx.send(v), sid, v)
        expected = self.model.send(sid, v, tid)
        if expected is not None:
            self.model.done[tid] = expected
        self.settle()

    @rule()
    def try_recv(self) -> None:
        assert self.rx is not None
        rx = self.rx
        got = _outcome_of_call(rx.try_recv)
        assert got == self.model.recv(None)
        self.settle()

    @precondition(lambda self: len(self.pending) < MAX_PENDING)
    @rule()
    def start_recv(self) -> None:
        assert self.rx is not None
        rx = self.rx
        tid = self.start("recv", rx.recv)
        expected = self.model.recv(tid)
        if expected is not None:
            self.model.done[tid] = expected
        self.settle()

    @precondition(lambda self: bool(self.pending))
    @rule(k=st.integers(0, MAX_PENDING), action=st.sampled_from(
        ["nothing", "try_send", "try_recv", "close_sender", "close_receiver"]),
        after=st.booleans(), i=st.integers(0, 7))
    def cancel_around(self, k: int, action: str, after: bool, i: int) -> None:
        """Cancel parked task k just before or just after ``action`` (no loop step between)."""
        tid = sorted(self.pending)[k % len(self.pending)]
        task = self.pending[tid].task
        sid = self.pick_sender(i)
        v = self.value()
        if not after:
            task.cancel()
        if action == "try_send":
            got: Outcome | None = _outcome_of_call(lambda: self.senders[sid].try_send(v))
        elif action == "try_recv":
            assert self.rx is not None
            got = _outcome_of_call(self.rx.try_recv)
        elif action == "close_sender":
            got = _outcome_of_call(self.senders[sid].close)
        elif action == "close_receiver":
            assert self.rx is not None
            got = _outcome_of_call(self.rx.close)
        else:
            got = None
        if after:
            task.cancel()
        self.model.cancel(tid)
        if action == "try_send":
            assert got == self.model.send(sid, v, None)
        elif action == "try_recv":
            assert got == self.model.recv(None)
        elif action == "close_sender":
            self.expect_close_sender(sid, got)
        elif action == "close_receiver":
            self.expect_close_receiver(got)
        self.settle()

    @precondition(lambda self: bool(self.model.recvs))
    @rule(i=st.integers(0, 7), after=st.booleans())
    def send_then_cancel_woken_recv(self, i: int, after: bool) -> None:
        """try_send wakes the first parked recv with an item claimed; cancel it before it runs
        (or just before the send): the item must go to the next parked recv or stay buffered."""
        self.cancel_around(self.index_of(self.model.recvs[0]), "try_send", after, i)

    @precondition(lambda self: bool(self.model.sends))
    @rule(after=st.booleans())
    def recv_then_cancel_woken_send(self, after: bool) -> None:
        """try_recv frees a slot reserved for the first parked send; cancel that send before it
        runs (or just before): its item must not enter, the slot goes to the next parked send."""
        self.cancel_around(self.index_of(self.model.sends[0][0]), "try_recv", after, 0)

    @precondition(lambda self: bool(self.model.sends))
    @rule(after=st.booleans())
    def recv_then_close_woken_sender(self, after: bool) -> None:
        """try_recv reserves a slot for the first parked send, then its own sender is closed
        before it runs: HandleClosed, and the slot goes to the next parked send."""
        _, sid, _ = self.model.sends[0]
        assert self.rx is not None
        if not after:
            closed = _outcome_of_call(self.senders[sid].close)
        got = _outcome_of_call(self.rx.try_recv)
        if after:
            closed = _outcome_of_call(self.senders[sid].close)
        # the model for both orders: the sender closed first, then the receive
        self.expect_close_sender(sid, closed)
        assert got == self.model.recv(None)
        self.settle()

    def index_of(self, tid: int) -> int:
        return sorted(self.pending).index(tid)

    def expect_close_sender(self, sid: int, got: Outcome | None) -> None:
        if sid in self.model.open_senders:
            assert got == ("ok", None)
            self.model.close_sender(sid)
        else:
            assert got == ("exc", HandleClosed, None)

    def expect_close_receiver(self, got: Outcome | None) -> None:
        if self.model.receiver_open:
            assert got == ("ok", None)
            self.model.close_receiver()
        else:
            assert got == ("exc", HandleClosed, None)

    @precondition(lambda self: bool(self.pending))
    @rule(k=st.integers(0, MAX_PENDING))
    def cancel(self, k: int) -> None:
        tid = sorted(self.pending)[k % len(self.pending)]
        self.pending[tid].task.cancel()
        self.model.cancel(tid)
        self.settle()

    @precondition(lambda self: len(self.senders) < MAX_SENDERS)
    @rule(i=st.integers(0, 7))
    def clone(self, i: int) -> None:
        sid = self.pick_sender(i)
        got = _outcome_of_call(self.senders[sid].clone)
        if sid in self.model.open_senders:
            assert got[0] == "ok"
            new = self.next_sender
            self.next_sender += 1
            self.senders[new] = got[1]
            self.model.open_senders.add(new)
        else:
            assert got == ("exc", HandleClosed, None)

    @rule(i=st.integers(0, 7), roll=st.integers(0, 3))
    def close_sender(self, i: int, roll: int) -> None:
        if roll:  # closing ends the interesting part: do it one time in four
            return
        sid = self.pick_sender(i)
        self.expect_close_sender(sid, _outcome_of_call(self.senders[sid].close))
        self.settle()

    @precondition(lambda self: len(self.senders) > 1)
    @rule(i=st.integers(0, 7))
    def drop_sender(self, i: int) -> None:
        """Forget a sender without closing it: garbage collection closes it."""
        sid = self.pick_sender(i)
        if any(p.sender == sid for p in self.pending.values()):
            return  # a parked send keeps its sender alive
        del self.senders[sid]
        gc.collect()
        if sid in self.model.open_senders:
            self.model.close_sender(sid)
        self.settle()

    @rule(roll=st.integers(0, 3))
    def close_receiver(self, roll: int) -> None:
        if roll:
            return
        assert self.rx is not None
        self.expect_close_receiver(_outcome_of_call(self.rx.close))
        self.settle()

    @precondition(lambda self: self.rx is not None and self.model.receiver_open
                  and not self.model.recvs)
    @rule(roll=st.integers(0, 3))
    def drop_receiver(self, roll: int) -> None:
        """Forget the receiver: garbage collection closes it. A fresh handle takes its place
        for the rules (closed, on the same state) so they go on exercising the closed paths."""
        if roll:
            return
        assert self.rx is not None
        state = self.rx._st
        self.rx = None
        gc.collect()
        assert not state.receiver_open
        self.model.close_receiver()
        replacement: Receiver[int] = Receiver(state)
        replacement.close()  # on an already dropped receiver: changes nothing but the handle
        self.rx = replacement
        self.settle()

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def agrees_with_model(self) -> None:
        if self.rx is None:
            return
        stats = self.rx.statistics()
        m = self.model
        assert self.rx._st.items() == list(m.buf)
        assert len(self.rx) == len(m.buf)
        assert stats.buffer_used == len(m.buf)
        assert stats.capacity == m.capacity
        assert stats.open_senders == len(m.open_senders)
        assert stats.open_receivers == (1 if m.receiver_open else 0)
        assert stats.tasks_waiting_send == len(m.sends)
        assert stats.tasks_waiting_receive == len(m.recvs)
        if m.capacity is not None:
            assert len(m.buf) <= m.capacity


SETTINGS = settings(max_examples=100, stateful_step_count=50, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


class AsyncioMachine(LocalChannelMachine):
    loop_factory = staticmethod(asyncio.new_event_loop)


class NexusloopMachine(LocalChannelMachine):
    loop_factory = staticmethod(nexusloop.new_event_loop)


TestLocalOnAsyncio = AsyncioMachine.TestCase
TestLocalOnAsyncio.settings = SETTINGS
TestLocalOnNexusloop = NexusloopMachine.TestCase
TestLocalOnNexusloop.settings = SETTINGS
