"""A producer thread feeding the event loop through an ``mpsc`` channel.

A sensor thread (blocking code: a driver, a serial port, a C library...) takes readings and
hands each one to the loop with ``send_blocking``, which waits while the channel is full, so a
loop that falls behind slows the sensor down instead of growing a queue. The loop aggregates
the readings with ``async for``. When the sensor is done it closes its sender, which ends the
``async for`` once every reading has been received: no sentinel, no ``call_soon_threadsafe``.
Had the loop gone away first, ``send_blocking`` would raise ``ReceiverGone`` in the thread.

Run: python examples/thread_to_loop.py
"""
from __future__ import annotations

import math
import threading
from typing import NamedTuple

import nexusloop
from nexusloop import channels

READINGS = 1000
WINDOW = 250


class Reading(NamedTuple):
    seq: int
    celsius: float


def sensor(tx: channels.MpscSender[Reading]) -> None:
    """Runs in its own thread: blocking sends, then close (``with``) to end the stream."""
    with tx:
        for seq in range(READINGS):
            celsius = 20.0 + seq / 200 + math.sin(seq / 5)  # stands in for a blocking read
            try:
                tx.send_blocking(Reading(seq, celsius))
            except channels.ReceiverGone:
                return  # nobody listens any more: stop sampling


async def main() -> None:
    tx: channels.MpscSender[Reading]
    rx: channels.MpscReceiver[Reading]
    tx, rx = channels.mpsc(capacity=64)
    thread = threading.Thread(target=sensor, args=(tx,), name="sensor")
    del tx  # the thread owns the sender now; closing it there ends the channel
    thread.start()

    window: list[float] = []
    received = 0
    async for reading in rx:  # ends when the sensor closes its sender
        assert reading.seq == received  # FIFO: the thread's order is kept
        received += 1
        window.append(reading.celsius)
        if len(window) == WINDOW:
            print(f"readings {reading.seq - WINDOW + 1:4}-{reading.seq:4}: "
                  f"min {min(window):5.2f}  mean {sum(window) / WINDOW:5.2f}  "
                  f"max {max(window):5.2f} C")
            window.clear()
    thread.join()
    print(f"sensor closed its sender: {received} readings received, channel ended")


if __name__ == "__main__":
    nexusloop.run(main())
