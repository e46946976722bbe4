"""``nexusloop.time.Interval`` against a reference model of each missed-tick policy (hypothesis).

The model is tokio's ``Interval`` in exact arithmetic (``Fraction``): deadlines are
``anchor + k * period``; a tick called at time ``c`` for deadline ``d`` is taken at
``max(c, d)``; a tick taken more than 5 ms after its deadline has been missed, and then
``burst`` schedules ``d + period``, ``delay`` re-anchors at the time taken, ``skip`` jumps to
the first ``anchor + k * period`` strictly after it; ``reset()`` re-anchors one period after now.

Hypothesis draws a period, a policy, a start (now, or some quarters of a period before or after
now) and a sequence of steps: some work (quarters of a period, done by blocking - the virtual
clock is advanced by hand - or by sleeping), sometimes a ``reset()`` or a change of policy, then
``await iv.tick()``. Works longer than a period miss ticks. Everything runs on nexusloop under
virtual time, so hours of schedule take milliseconds.

Comparison. Under virtual time real time still flows underneath (``loop.time()`` is the
monotonic clock plus the virtual lead), so the loop's times run ahead of the model's by at most
the real time the example took, ``R``. Deadlines and return times must agree within ``R``.
All model times lie on a grid of a quarter period (at least a second), so a real-time error
below a quarter period cannot change a decision of the model; an example that took longer in
real time than that is discarded (``assume``), never judged. The grid is far coarser than tokio's
5 ms tolerance, so the tolerance itself is pinned by ``test_time.py``
(``test_a_tick_within_5ms_is_not_missed``), not here.
"""
from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import nexusloop
import nexusloop.time as ntime
from nexusloop.testing import VirtualClock

TOLERANCE = Fraction(5, 1000)  # tokio's: a tick up to 5 ms late is not missed
POLICIES = ("burst", "delay", "skip")


@dataclass(frozen=True)
class Step:
    work: int          # quarters of a period of work before the tick
    sleeping: bool     # the work awaits sleep() (True) or blocks the loop (False)
    reset: bool        # iv.reset() before the tick
    policy: str | None  # switch the policy before the tick


class Model:
    """tokio's Interval, exact."""

    def __init__(self, start: Fraction, period: Fraction, policy: str) -> None:
        self.anchor = start
        self.index = 0
        self.period = period
        self.policy = policy

    def reset(self, now: Fraction) -> None:
        self.anchor = now
        self.index = 1

    def tick(self, called: Fraction) -> tuple[Fraction, Fraction]:
        """(deadline returned, time the tick returns) for a tick() called at ``called``."""
        deadline = self.anchor + self.index * self.period
        taken = max(called, deadline)
        if taken <= deadline + TOLERANCE or self.policy == "burst":
            self.index += 1
        elif self.policy == "delay":
            self.reset(taken)
        else:  # skip
            self.index = math.floor((taken - self.anchor) / self.period) + 1
        return deadline, taken


def model_run(period: float, policy: str, start: int | None,
              steps: list[Step]) -> list[tuple[Fraction, Fraction]]:
    """The model's (deadline, return time) per tick, relative to the interval's creation."""
    p = Fraction(period)
    model = Model(Fraction(0) if start is None else start * p / 4, p, policy)
    now = Fraction(0)
    out = []
    for step in steps:
        now += step.work * p / 4
        if step.reset:
            model.reset(now)
        if step.policy is not None:
            model.policy = step.policy
        deadline, now = model.tick(now)
        out.append((deadline, now))
    return out


def real_run(period: float, policy: str, start: int | None,
             steps: list[Step]) -> tuple[list[tuple[float, float]], float]:
    """The real interval on nexusloop under virtual time: (deadline, return time) per tick,
    relative to the interval's creation, and the real seconds the run took."""
    loop: Any = nexusloop.new_event_loop()
    clock = VirtualClock(loop)

    async def main() -> list[tuple[float, float]]:
        t0 = loop.time()
        if start is None:
            iv = ntime.interval(period, missed_tick=policy)  # type: ignore[arg-type]
        else:
            iv = ntime.interval_at(t0 + start * period / 4, period,
                                   missed_tick=policy)  # type: ignore[arg-type]
        out = []
        for step in steps:
            work = step.work * period / 4
            if step.sleeping:
                await ntime.sleep(work)
            elif work:
                clock.advance(work)
            if step.reset:
                iv.reset()
            if step.policy is not None:
                iv.missed_tick = step.policy  # type: ignore[assignment]
            deadline = await iv.tick()
            returned = loop.time()
            assert returned >= deadline  # never early
            out.append((deadline - t0, returned - t0))
        return out

    try:
        real0 = time.monotonic()
        ticks = loop.run_until_complete(main())
        real = time.monotonic() - real0
        assert not asyncio.all_tasks(loop)
        assert len(loop._wheel) == 0  # no timer left behind
    finally:
        loop.close()
    return ticks, real


def mismatches(real: list[tuple[float, float]], model: list[tuple[Fraction, Fraction]],
               slack: float) -> list[str]:
    """Ticks where the loop differs from the model by more than ``slack`` seconds."""
    bad = []
    assert len(real) == len(model)
    for i, ((deadline, returned), (m_deadline, m_returned)) in enumerate(zip(real, model, strict=True)):
        if abs(deadline - float(m_deadline)) > slack or abs(returned - float(m_returned)) > slack:
            bad.append(f"tick {i}: loop ({deadline:.6f}, {returned:.6f}) "
                       f"model ({float(m_deadline):.6f}, {float(m_returned):.6f})")
    return bad


steps_strategy = st.lists(
    st.builds(
        Step,
        work=st.integers(0, 12),  # up to 3 periods of work
        sleeping=st.booleans(),
        reset=st.integers(0, 9).map(lambda n: n == 0),  # about one step in ten
        policy=st.one_of(st.none(), st.none(), st.none(), st.sampled_from(POLICIES)),
    ),
    min_size=1,
    max_size=25,
)
periods = st.one_of(st.sampled_from([4.0, 10.0, 60.0, 3600.0]), st.floats(4.0, 1e4))
starts = st.one_of(st.none(), st.integers(-12, 12))  # None: interval(); else interval_at()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


@pytest.fixture(scope="module", autouse=True)
def _no_fd_leak() -> Iterator[None]:
    """Every loop the examples made was closed (checked once for the whole module)."""
    fds = _open_fds()
    yield
    assert _open_fds() <= fds


@pytest.mark.parametrize("policy", POLICIES)
@settings(max_examples=150, deadline=None)
@given(period=periods, start=starts, steps=steps_strategy)
def test_interval_matches_the_model(policy: str, period: float, start: int | None,
                                    steps: list[Step]) -> None:
    ticks, real = real_run(period, policy, start, steps)
    # the model's decisions are a quarter period apart: real time must stay well below that
    assume(real < period / 4 - 2 * float(TOLERANCE))
    expected = model_run(period, policy, start, steps)
    bad = mismatches(ticks, expected, real + 1e-6)
    assert not bad, "\n".join(bad)


# ----------------------------------------------------------------------------- controls

MISSING_TICKS = [Step(10, False, False, None), Step(0, False, False, None),
                 Step(0, True, False, None), Step(7, False, False, None),
                 Step(0, False, False, None)]


def test_the_policies_differ_when_ticks_are_missed() -> None:
    """The model is not one policy under three names: with 2.5 periods of work the three
    predict three different schedules (and all three the same one without missed ticks)."""
    runs = {policy: model_run(10.0, policy, None, MISSING_TICKS) for policy in POLICIES}
    assert runs["burst"] != runs["skip"]
    assert runs["burst"] != runs["delay"]
    assert runs["skip"] != runs["delay"]
    on_time = [Step(0, True, False, None)] + [Step(4, True, False, None)] * 3  # never late
    assert len({tuple(model_run(10.0, p, None, on_time)) for p in POLICIES}) == 1


@pytest.mark.parametrize(("actual", "claimed"), [("burst", "skip"), ("skip", "delay"),
                                                 ("delay", "burst")])
def test_the_comparison_catches_a_wrong_policy(actual: str, claimed: str) -> None:
    """The model test can fail: the loop running one policy does not pass for another."""
    ticks, real = real_run(10.0, actual, None, MISSING_TICKS)
    assert not mismatches(ticks, model_run(10.0, actual, None, MISSING_TICKS), real + 1e-6)
    assert mismatches(ticks, model_run(10.0, claimed, None, MISSING_TICKS), real + 1e-6)


def test_the_model_knows_tokios_examples() -> None:
    """tokio's documentation, in the model: period 50 ms... scaled to 10 s so the grid holds."""
    # Skip: "task_that_takes_75_millis ... This one will resolve after 25ms, 100ms after the
    # start": after 1.5 periods of work the missed tick returns at once, the next one at 2P.
    skip = model_run(10.0, "skip", None, [Step(0, False, False, None), Step(6, False, False, None),
                                          Step(0, False, False, None)])
    assert [(float(d), float(t)) for d, t in skip] == [(0, 0), (10, 15), (20, 20)]
    # Delay: "will not resolve until 50ms after the call to tick up above".
    delay = model_run(10.0, "delay", None, [Step(0, False, False, None),
                                            Step(6, False, False, None),
                                            Step(0, False, False, None)])
    assert [(float(d), float(t)) for d, t in delay] == [(0, 0), (10, 15), (25, 25)]
    burst = model_run(10.0, "burst", None, [Step(0, False, False, None),
                                            Step(6, False, False, None),
                                            Step(0, False, False, None)])
    assert [(float(d), float(t)) for d, t in burst] == [(0, 0), (10, 15), (20, 20)]
