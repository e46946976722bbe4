"""Type checkers see the item type through ``Sender[T]`` / ``Receiver[T]``.

mypy ``--strict`` runs over a sample: the good part must be clean (it uses ``assert_type``, so
a type degraded to ``Any`` or a wrong one is an error), and every line of the bad part marked
``# E: <code>`` must be reported with that code, and nothing else.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="mypy is a dev dependency")

SAMPLE = '''\
from typing import assert_type

from nexusloop.channels import ChannelStatistics, Receiver, ReceiverGone, Sender, local


async def good() -> None:
    tx: Sender[int]
    rx: Receiver[int]
    tx, rx = local(4)
    tx.try_send(1)
    await tx.send(2)
    assert_type(rx.try_recv(), int)
    assert_type(await rx.recv(), int)
    async for v in rx:
        assert_type(v, int)
    assert_type(tx.clone(), Sender[int])
    assert_type(rx.statistics(), ChannelStatistics)
    assert_type(rx.capacity, int | None)
    assert_type(len(tx), int)
    with tx as same:
        assert_type(same, Sender[int])
    try:
        tx.try_send(3)
    except ReceiverGone as exc:
        print(exc.value)


async def bad() -> None:
    tx: Sender[int]
    rx: Receiver[int]
    tx, rx = local()
    tx.try_send("x")  # E: arg-type
    await tx.send(b"x")  # E: arg-type
    s: str = rx.try_recv()  # E: assignment
    local("3")  # E: arg-type
    print(s)
'''


def test_item_types_are_checked(tmp_path: Path) -> None:
    sample = tmp_path / "channels_sample.py"
    sample.write_text(SAMPLE)
    # In a subprocess: mypy run in-process keeps a large heap alive for the rest of the test
    # session, and every later gc.collect() (the net fixture's teardown) pays for it.
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--no-error-summary", "--show-error-codes", "--cache-dir", str(tmp_path / "cache"),
         str(sample)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "MYPY_FORCE_COLOR": "0"},
    )
    stdout, stderr = proc.stdout, proc.stderr
    assert not stderr, stderr
    found = []
    for line in stdout.splitlines():
        m = re.match(r".*channels_sample\.py:(\d+): error: .*\[([\w-]+)\]$", line)
        assert m, line
        found.append((int(m.group(1)), m.group(2)))
    expected = [
        (n, m.group(1))
        for n, text in enumerate(SAMPLE.splitlines(), 1)
        if (m := re.search(r"# E: ([\w-]+)", text))
    ]
    assert len(expected) == 4
    assert found == expected, stdout
