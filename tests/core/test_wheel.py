"""The timer wheel against a reference model: same timers, same order, same times, never early.

The reference model is a ``SortedList`` of ``(when, seq)``: a timer is due when ``when <= now``,
and due timers come out sorted by deadline, then by scheduling order. Every step also runs the
wheel's own structural check (``_check_invariants``).
"""
from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)
from sortedcontainers import SortedList

from nexusloop._core import _handles, _wheel, is_compiled

TimerWheel = _wheel.TimerWheel
INF = math.inf
START = 12345.678  # a monotonic-looking clock value, deliberately not a multiple of a tick


class DummyLoop:
    def get_debug(self) -> bool:
        return False


LOOP = DummyLoop()


def noop() -> None:
    pass


def timer(when: float) -> Any:
    return _handles._new_timer(when, LOOP, noop, (), None)


def pop(wheel: Any, now: float) -> list[Any]:
    out: list[Any] = []
    n = wheel.pop_expired(now, out)
    assert n == len(out)
    for t in out:
        assert t._when <= now, "fired early"
        assert t._wheel is None and t._bucket is None and not t._scheduled
    wheel._check_invariants()
    return out


def test_mode_matches_environment() -> None:
    import os

    from nexusloop._core import PURE_REQUESTED

    if PURE_REQUESTED:
        assert not is_compiled(_wheel)
    elif os.path.exists(_wheel.__file__) and not _wheel.__file__.endswith(".py"):
        assert is_compiled(_wheel)


# -- unit tests -------------------------------------------------------------------------------


def test_empty_wheel() -> None:
    wheel = TimerWheel(START)
    assert len(wheel) == 0
    assert wheel.next_deadline() == INF
    assert pop(wheel, START + 1e6) == []
    assert wheel.clear() == []


def test_insert_sets_bookkeeping() -> None:
    wheel = TimerWheel(START)
    a, b = timer(START + 1), timer(START + 1)
    wheel.insert(a)
    wheel.insert(b)
    assert a._wheel is wheel and a._scheduled and a._bucket is not None
    assert b._seq > a._seq
    assert len(wheel) == 2


def test_equal_deadlines_fire_in_insertion_order() -> None:
    wheel = TimerWheel(START)
    when = START + 0.25
    timers = [timer(when) for _ in range(200)]
    for t in timers:
        wheel.insert(t)
    # Cancel some to scramble the bucket order (swap-remove moves the last element).
    for t in timers[::7]:
        t.cancel()
    expected = [t for i, t in enumerate(timers) if i % 7]
    assert pop(wheel, when - 1e-9) == []
    assert pop(wheel, when) == expected
    assert len(wheel) == 0


def test_past_deadlines_fire_on_next_pop_in_order() -> None:
    wheel = TimerWheel(START)
    pop(wheel, START + 10)
    ts = [timer(START + 5), timer(START - 100), timer(START + 9.9999), timer(START + 5)]
    for t in ts:
        wheel.insert(t)
    assert wheel.next_deadline() == START - 100
    assert pop(wheel, START + 10) == [ts[1], ts[0], ts[3], ts[2]]


def test_never_fires_early_within_a_tick() -> None:
    wheel = TimerWheel(START, resolution=0.001)
    base = START + 1.0
    ts = [timer(base + i * 0.0001) for i in range(10)]  # ten deadlines inside ~one tick
    for t in reversed(ts):
        wheel.insert(t)
    fired: list[Any] = []
    for i in range(10):
        now = base + i * 0.0001
        got = pop(wheel, now - 1e-7)
        assert got == []
        fired += pop(wheel, now)
        assert fired == ts[: i + 1]


def test_far_future_timers_fire_at_the_right_time() -> None:
    wheel = TimerWheel(START)
    day = 86400.0
    deadlines = [START + 3 * day + 0.5, START + day, START + 3600.25, START + 700 * day]
    ts = [timer(w) for w in deadlines]
    for t in ts:
        wheel.insert(t)
    fired = []
    for w in sorted(deadlines):
        lower = wheel.next_deadline()
        assert lower <= w
        assert pop(wheel, w - 0.0001) == []
        got = pop(wheel, w)
        assert [t._when for t in got] == [w]
        fired += got
    assert len(fired) == 4 and len(wheel) == 0


def test_overflow_beyond_the_top_level() -> None:
    # 1 us ticks: the six levels span 2**36 us (about 69 s); beyond that is the overflow list.
    wheel = TimerWheel(START, resolution=1e-6)
    ts = [timer(START + d) for d in (500.0, 70.0, 10_000.0, 500.0, 5.0)]
    for t in ts:
        wheel.insert(t)
    wheel._check_invariants()
    assert pop(wheel, START + 4.9) == []
    assert pop(wheel, START + 5.0) == [ts[4]]
    assert pop(wheel, START + 69.999) == []
    assert pop(wheel, START + 499.99) == [ts[1]]
    ts[3].cancel()
    assert pop(wheel, START + 500.0) == [ts[0]]
    assert wheel.next_deadline() <= START + 10_000.0
    assert pop(wheel, START + 20_000.0) == [ts[2]]
    assert len(wheel) == 0


def test_infinite_deadline_never_fires() -> None:
    wheel = TimerWheel(START)
    forever, soon = timer(INF), timer(START + 1)
    wheel.insert(forever)
    wheel.insert(soon)
    assert len(wheel) == 2
    assert pop(wheel, START + 1e12) == [soon]
    assert wheel.next_deadline() == INF
    assert len(wheel) == 1
    forever.cancel()
    assert len(wheel) == 0 and forever._wheel is None


@pytest.mark.parametrize(
    "delay",
    [
        -5.0,  # near heap (past)
        0.0003,  # near heap (current tick)
        0.010,  # level 0
        1.0,  # level 1
        100.0,  # level 2
        5000.0,  # level 3
        86400.0 * 5,  # level 4
        86400.0 * 300,  # level 5
        86400.0 * 365 * 5,  # overflow
        INF,  # never
    ],
)
def test_cancel_in_every_structure(delay: float) -> None:
    wheel = TimerWheel(START)
    others = [timer(START + d) for d in (0.0, 0.010, 1.0, 100.0, 86400.0 * 365 * 5, INF)]
    victim = timer(START + delay)
    for t in others[:3]:
        wheel.insert(t)
    wheel.insert(victim)
    for t in others[3:]:
        wheel.insert(t)
    wheel._check_invariants()
    victim.cancel()
    assert victim.cancelled()
    assert victim._wheel is None and victim._bucket is None and not victim._scheduled
    assert len(wheel) == len(others)
    wheel._check_invariants()
    fired = pop(wheel, START + 86400.0 * 365 * 10)
    assert victim not in fired
    assert fired == sorted(others[:-1], key=lambda t: (t._when, t._seq))
    # Cancelling again, or after firing, is harmless.
    victim.cancel()
    fired[0].cancel()
    assert len(wheel) == 1


def test_cancel_in_near_heap_keeps_heap_order() -> None:
    wheel = TimerWheel(START)
    pop(wheel, START + 1)
    ts = [timer(START + 1 - i * 0.001) for i in range(50)]  # all past: the near heap
    for t in ts:
        wheel.insert(t)
    for t in ts[3::4]:
        t.cancel()
        wheel._check_invariants()
    expected = sorted((t for t in ts if not t.cancelled()), key=lambda t: t._when)
    assert pop(wheel, START + 1) == expected


def test_pop_with_now_inside_a_slot() -> None:
    wheel = TimerWheel(START, resolution=0.01)
    base = START + 2.0
    a, b, c = timer(base + 0.001), timer(base + 0.005), timer(base + 0.009)
    for t in (c, a, b):
        wheel.insert(t)
    assert pop(wheel, base + 0.004) == [a]
    assert wheel.next_deadline() == b._when  # exact once the slot is in the near heap
    assert pop(wheel, base + 0.005) == [b]
    assert pop(wheel, base + 0.0089) == []
    assert pop(wheel, base + 0.5) == [c]


def test_next_deadline_is_a_lower_bound_and_exact_when_near() -> None:
    wheel = TimerWheel(START)
    t = timer(START + 10.0)
    wheel.insert(t)
    assert wheel.next_deadline() <= START + 10.0
    many = [timer(START + 10.0 + i * 1e-5) for i in range(100)]
    for m in many:
        wheel.insert(m)
    assert wheel.next_deadline() <= START + 10.0
    assert pop(wheel, START + 9.9995) == []
    assert wheel.next_deadline() <= START + 10.0


def test_next_deadline_follows_cancellation() -> None:
    wheel = TimerWheel(START)
    a, b = timer(START + 1.0), timer(START + 100.0)
    wheel.insert(a)
    wheel.insert(b)
    assert wheel.next_deadline() == START + 1.0
    a.cancel()
    assert START + 1.0 < wheel.next_deadline() <= START + 100.0
    b.cancel()
    assert wheel.next_deadline() == INF


def test_reinsert_moves_a_timer() -> None:
    wheel = TimerWheel(START)
    t = timer(START + 5)
    wheel.insert(t)
    t._wheel._unlink(t)
    t._when = START + 1
    wheel.insert(t)
    wheel.insert(t)
    assert len(wheel) == 1
    assert pop(wheel, START + 1) == [t]


def test_clear_detaches_everything() -> None:
    wheel = TimerWheel(START)
    pop(wheel, START + 1)
    deltas = (-1.0, 0.0001, 0.02, 3.0, 400.0, 86400.0 * 900, INF)
    ts = [timer(START + 1 + d) for d in deltas]
    for t in ts:
        wheel.insert(t)
    cleared = wheel.clear()
    assert sorted(cleared, key=id) == sorted(ts, key=id)
    assert len(wheel) == 0 and wheel.next_deadline() == INF
    for t in ts:
        assert t._wheel is None and t._bucket is None and not t._scheduled
        t.cancel()  # no wheel to unlink from any more
    wheel._check_invariants()
    # The wheel is usable again.
    again = timer(START + 2)
    wheel.insert(again)
    assert pop(wheel, START + 2) == [again]


def test_large_idle_jump_processes_everything_in_order() -> None:
    wheel = TimerWheel(START)
    deltas = [0.001 * (i * 7919 % 100_003) for i in range(3000)] + [86400.0 * 3]
    ts = [timer(START + d) for d in deltas]
    for t in ts:
        wheel.insert(t)
    got = pop(wheel, START + 86400.0 * 4)
    assert got == sorted(ts, key=lambda t: (t._when, t._seq))


def test_time_going_backwards_or_nan_fires_nothing_new() -> None:
    wheel = TimerWheel(START)
    a, b = timer(START + 1.0), timer(START + 2.0)
    wheel.insert(a)
    wheel.insert(b)
    assert pop(wheel, START + 1.5) == [a]
    assert pop(wheel, START + 0.5) == []
    assert pop(wheel, math.nan) == []
    assert pop(wheel, START - 100.0) == []
    assert pop(wheel, START + 2.0) == [b]


def test_rejects_bad_construction() -> None:
    with pytest.raises(ValueError):
        TimerWheel(START, resolution=0.0)
    with pytest.raises(ValueError):
        TimerWheel(START, resolution=INF)
    with pytest.raises(ValueError):
        TimerWheel(INF)


# -- property: random schedules against the reference model ------------------------------------

# Deadlines relative to the current time, mixing past, same-tick, near, far and huge delays.
DELAYS = st.one_of(
    st.floats(min_value=-2.0, max_value=0.0),
    st.floats(min_value=0.0, max_value=0.002),
    st.floats(min_value=0.0, max_value=0.2),
    st.floats(min_value=0.0, max_value=100.0),
    st.floats(min_value=0.0, max_value=86400.0 * 30),
    st.sampled_from([0.0, 0.001, 0.064, 4.096, 86400.0 * 800, INF]),
)
ADVANCES = st.one_of(
    st.floats(min_value=0.0, max_value=0.003),
    st.floats(min_value=0.0, max_value=1.0),
    st.floats(min_value=0.0, max_value=200.0),
    st.floats(min_value=0.0, max_value=86400.0 * 60),
    st.just(0.0),
)


class WheelMachine(RuleBasedStateMachine):
    timers = Bundle("timers")

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.wheel: Any = None
        self.model: SortedList = SortedList()
        self.by_key: dict[tuple[float, int], Any] = {}
        self.reuse_when: list[float] = []

    @rule(resolution=st.sampled_from([0.001, 0.001, 1e-6, 0.05]))
    @precondition(lambda self: self.wheel is None)
    def create(self, resolution: float) -> None:
        self.wheel = TimerWheel(self.now, resolution)

    @rule(target=timers, delay=DELAYS, same=st.booleans())
    @precondition(lambda self: self.wheel is not None)
    def schedule(self, delay: float, same: bool) -> Any:
        if same and self.reuse_when:
            when = self.reuse_when[-1]  # an equal deadline: FIFO order must hold
        else:
            when = self.now + delay
        self.reuse_when.append(when)
        t = timer(when)
        self.wheel.insert(t)
        key = (when, t._seq)
        assert key not in self.by_key
        self.model.add(key)
        self.by_key[key] = t
        return t

    @rule(
        base=st.sampled_from([0.0, 0.003, 0.07, 5.0, 300.0]),
        spread=st.sampled_from([0.0005, 0.01, 0.2, 10.0]),
        count=st.integers(min_value=2, max_value=40),
        seed=st.integers(min_value=0, max_value=2**32 - 1),
    )
    @precondition(lambda self: self.wheel is not None)
    def schedule_burst(self, base: float, spread: float, count: int, seed: int) -> None:
        # Many timers at once: several per slot, on several levels, some sharing deadlines.
        rng = random.Random(seed)
        for _ in range(count):
            when = self.now + base + rng.random() * spread
            if rng.random() < 0.2 and self.reuse_when:
                when = rng.choice(self.reuse_when)
            self.reuse_when.append(when)
            t = timer(when)
            self.wheel.insert(t)
            key = (when, t._seq)
            self.model.add(key)
            self.by_key[key] = t
            if rng.random() < 0.3:
                self.cancel_key(key)

    def cancel_key(self, key: tuple[float, int]) -> None:
        t = self.by_key.pop(key)
        self.model.remove(key)
        t.cancel()

    @rule(t=consumes(timers))
    def cancel(self, t: Any) -> None:
        key = (t._when, t._seq)
        if key in self.by_key:
            del self.by_key[key]
            self.model.remove(key)
            t.cancel()
            assert t._wheel is None and not t._scheduled
        else:
            t.cancel()  # already fired: harmless

    @rule(step=ADVANCES)
    @precondition(lambda self: self.wheel is not None)
    def advance(self, step: float) -> None:
        self.now += step
        self.fire()

    @rule()
    @precondition(lambda self: self.wheel is not None and len(self.model) > 0)
    def advance_to_next_deadline(self) -> None:
        # What the loop does when idle: sleep until next_deadline(), then pop.
        lower = self.wheel.next_deadline()
        if lower != INF and lower > self.now:
            self.now = lower
        self.fire()

    @rule()
    @precondition(lambda self: self.wheel is not None and len(self.model) > 0)
    def advance_exactly_to_earliest(self) -> None:
        when = self.model[0][0]
        if when != INF and when > self.now:
            self.now = when
        self.fire()

    def fire(self) -> None:
        got = pop(self.wheel, self.now)
        expected = []
        while self.model and self.model[0][0] <= self.now:
            expected.append(self.model.pop(0))
        assert [(t._when, t._seq) for t in got] == expected
        for key in expected:
            del self.by_key[key]

    @invariant()
    def agrees_with_model(self) -> None:
        if self.wheel is None:
            return
        assert len(self.wheel) == len(self.model)
        lower = self.wheel.next_deadline()
        if self.model:
            assert lower <= self.model[0][0]
        else:
            assert lower == INF
        self.wheel._check_invariants()


WheelMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestWheelMachine = WheelMachine.TestCase


@settings(max_examples=200, deadline=None)
@given(
    deltas=st.lists(
        st.floats(min_value=-1.0, max_value=500.0, allow_nan=False), min_size=1, max_size=300
    ),
    cancel_mask=st.lists(st.booleans(), min_size=300, max_size=300),
    checkpoints=st.lists(st.floats(min_value=0.0, max_value=600.0), max_size=20),
)
def test_batch_schedule_cancel_then_drain(
    deltas: list[float], cancel_mask: list[bool], checkpoints: list[float]
) -> None:
    wheel = TimerWheel(START)
    ts = [timer(START + d) for d in deltas]
    for t in ts:
        wheel.insert(t)
    live = []
    for t, kill in zip(ts, cancel_mask, strict=False):
        if kill:
            t.cancel()
        else:
            live.append(t)
    expected = sorted(live, key=lambda t: (t._when, t._seq))
    fired: list[Any] = []
    for c in sorted(checkpoints) + [600.0]:
        now = START + c
        got = pop(wheel, now)
        assert all(t._when <= now for t in got)
        fired += got
        assert all(t._when > now for t in expected[len(fired):])
    assert fired == expected
