"""Virtual time for a test: nothing waits on the wall clock.

time-machine freezes the grader's clock at a fixed instant; it moves only when something waits:
a long poll on an empty queue jumps to the moment a message becomes visible (or the poll ends), a
student's ``time.sleep`` jumps by its length. The same submission therefore sees the same times
on every run, and a 30-second visibility timeout costs nothing.
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Any

import time_machine

START = dt.datetime(2024, 1, 15, 9, 30, 0, tzinfo=dt.timezone.utc)
_EPSILON = 0.001  # moto's visibility test is "now > visible_at": step just past the instant


class VirtualClock:
    """Frozen time that only the grader moves; use as a context manager."""

    def __init__(self, start: dt.datetime = START) -> None:
        self.start_at = start
        self._travel: Any = None
        self._traveller: Any = None
        self._restore: Any = None

    def __enter__(self) -> "VirtualClock":
        self._travel = time_machine.travel(self.start_at, tick=False)
        self._traveller = self._travel.start()
        self._patch_moto()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._restore:
            self._restore()
        self._travel.stop()

    def now(self) -> float:
        return time.time()

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self._traveller.shift(seconds)

    def _patch_moto(self) -> None:
        """Replace moto's real wait in a long poll with a jump of the virtual clock."""
        from moto.sqs.models import Queue

        original = Queue.wait_for_messages
        clock = self

        def wait_for_messages(queue: Queue, timeout: int) -> None:
            # always moves: a visible message moto cannot hand out (its FIFO group is in flight)
            # must not make the poll spin at one frozen instant
            now_ms = clock.now() * 1000
            upcoming = [m.visible_at for m in queue._messages if m.visible_at > now_ms]
            upcoming += [m.delayed_until for m in queue._messages if m.delayed_until > now_ms]
            step = float(timeout) + _EPSILON
            if upcoming:
                step = min(step, (min(upcoming) - now_ms) / 1000 + _EPSILON)
            clock.advance(step)

        Queue.wait_for_messages = wait_for_messages  # type: ignore[method-assign]

        def restore() -> None:
            Queue.wait_for_messages = original  # type: ignore[method-assign]

        self._restore = restore
