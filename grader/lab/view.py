"""How a lab run looks: a live rich table on a terminal, plain lines anywhere else.

Both views take the same calls (``start``, ``line``, ``refresh``, ``stop``, ``summary``), so the
session never knows which one it feeds. Everything shown comes from the tally.
"""
from __future__ import annotations

import math
import sys
import time
from collections import deque
from typing import TextIO

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from grader.lab.tally import Tally, Verdict

_RECENT_LINES = 8
_REDELIVERIES_SHOWN = 4
_PLAIN_STATUS_EVERY = 2.0
_LIVE_FPS = 4


def _elapsed(tally: Tally) -> float:
    return time.time() - tally.started


def _count(value: int | None) -> str:
    return "–" if value is None else str(value)


def _invisible_note(tally: Tally, rounding: float = 0.1) -> str | None:
    """How many crashed messages the broker is hiding, and when the next one comes back."""
    visible_at = tally.next_redelivery
    if visible_at is None:
        return None
    hidden = len(tally.invisible)
    what = "the crashed message is" if hidden == 1 else f"{hidden} crashed messages are"
    left = visible_at - time.time()
    if left <= 0:
        return f"{what} unacknowledged; visible again, waiting for a consumer's next poll"
    left = math.ceil(left / rounding) * rounding
    return (f"{what} unacknowledged and invisible; the broker redelivers "
            f"{'it' if hidden == 1 else 'the next'} in {left:.{0 if rounding >= 1 else 1}f} s")


class PlainView:
    """One line per event, and the queue's counts every few seconds when they change."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._last_status = ""
        self._last_status_at = 0.0
        self._started = time.time()

    def _print(self, text: str) -> None:
        print(f"[{time.time() - self._started:6.1f}s] {text}", file=self.stream, flush=True)

    def start(self, title: str, details: str) -> None:
        self._started = time.time()
        print(f"{title}\n{details}", file=self.stream, flush=True)

    def line(self, text: str) -> None:
        self._print(text)

    def refresh(self, tally: Tally) -> None:
        if tally.available is None:
            return
        status = (f"queue: {tally.available} available, {tally.in_flight} in flight; "
                  f"sent {tally.sent}/{tally.plan.tasks}, acknowledged {tally.acknowledged}/{tally.plan.tasks}")
        if tally.next_redelivery is not None:  # a countdown line every few seconds, not every refresh
            note = _invisible_note(tally, rounding=5 if tally.next_redelivery - time.time() > 10 else 1)
            status += f"; {note}"
        now = time.monotonic()
        if status != self._last_status and now - self._last_status_at >= _PLAIN_STATUS_EVERY:
            self._last_status, self._last_status_at = status, now
            self._print(status)

    def stop(self) -> None:
        pass

    def summary(self, tally: Tally, verdict: Verdict, seconds: float) -> None:
        out = self.stream
        print("\nSummary", file=out)
        for c in tally.consumers.values():
            print(f"  consumer {c.index}: received {c.received}, processed {c.handled}, failed {c.failed}, "
                  f"acknowledged {c.deleted}; consume_messages() said processed {c.reported_processed}, "
                  f"failed {c.reported_failed}", file=out)
        _, totals = _totals(tally)
        print(f"  total: {totals}", file=out)
        print(f"  redeliveries: {len(tally.redeliveries)}"
              + (f" (highest ApproximateReceiveCount {max(r.receive_count for r in tally.redeliveries)})"
                 if tally.redeliveries else ""), file=out)
        print(f"  queue at the end: {_count(tally.available)} available, {_count(tally.in_flight)} in flight",
              file=out)
        print(f"  time: {seconds:.1f} s", file=out)
        print(verdict.headline, file=out)
        for problem in verdict.problems[1:]:
            print(f"  also: {problem}", file=out)
        out.flush()


def _totals(tally: Tally) -> tuple[list[int], str]:
    cs = tally.consumers.values()
    numbers = [sum(c.received for c in cs), sum(c.handled for c in cs), sum(c.failed for c in cs),
               sum(c.deleted for c in cs)]
    return numbers, (f"received {numbers[0]}, processed {numbers[1]}, failed {numbers[2]}, "
                     f"acknowledged {numbers[3]} for {tally.plan.tasks} task{'s' if tally.plan.tasks != 1 else ''}")


class LiveView:
    """A table redrawn in place: the queue, each consumer, the latest redeliveries, recent events."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self._recent: deque[Text] = deque(maxlen=_RECENT_LINES)
        self._live: Live | None = None
        self._title = ""
        self._details = ""
        self._last_draw = 0.0
        self._started = time.time()

    def start(self, title: str, details: str) -> None:
        self._title, self._details = title, details
        self._started = time.time()
        self._live = Live(Text(f"{title}\nstarting the broker and the processes…"), console=self.console,
                          auto_refresh=False, transient=False, redirect_stdout=True, redirect_stderr=True)
        self._live.start(refresh=True)

    def line(self, text: str) -> None:
        style = ("dim" if text.startswith("  [")  # the student's own output
                 else "red" if " crashed " in text or "failed" in text or "stopped:" in text
                 else "yellow" if "(redelivery)" in text else "")
        self._recent.append(Text(f"{time.time() - self._started:6.1f}s  {text}", style=style,
                                 overflow="ellipsis", no_wrap=True))

    def refresh(self, tally: Tally) -> None:
        now = time.monotonic()
        if self._live is None or now - self._last_draw < 1 / _LIVE_FPS:
            return
        self._last_draw = now
        self._live.update(self._render(tally), refresh=True)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _render(self, tally: Tally) -> Group:
        plan = tally.plan
        queue = Text.assemble(
            ("queue ", "bold"), "(the broker's own counts): available ", (_count(tally.available), "bold cyan"),
            ", in flight ", (_count(tally.in_flight), "bold magenta"),
            f"; sent {tally.sent}/{plan.tasks}, acknowledged ", (f"{tally.acknowledged}/{plan.tasks}", "bold green"),
            f", redeliveries {len(tally.redeliveries)}; {_elapsed(tally):.0f} s")

        consumers = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
        for header, justify in (("process", "left"), ("pid", "right"), ("state", "left"),
                                ("received", "right"), ("processed", "right"), ("failed", "right"),
                                ("acked", "right")):
            consumers.add_column(header, justify=justify, no_wrap=True)  # type: ignore[arg-type]
        consumers.add_column("last output", overflow="ellipsis", no_wrap=True, ratio=1)
        consumers.add_row("producer", _count(tally.producer_pid), tally.producer_state,
                          "", f"{tally.sent} sent", "", "", "")
        for c in tally.consumers.values():
            consumers.add_row(f"consumer {c.index}", _count(c.pid), c.state, str(c.received), str(c.handled),
                              Text(str(c.failed), style="red" if c.failed else ""), str(c.deleted),
                              Text(c.last_line.strip()))

        parts: list = [Text(self._title, style="bold"), Text(self._details, style="dim"), queue, consumers]
        note = _invisible_note(tally)
        if note:
            parts.append(Text(note, style="yellow bold"))
        if tally.redeliveries:
            redeliveries = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="redeliveries (latest)",
                                 title_justify="left")
            for header in ("task", "MessageId", "ApproximateReceiveCount", "to", "at"):
                redeliveries.add_column(header)
            for r in tally.redeliveries[-_REDELIVERIES_SHOWN:]:
                redeliveries.add_row(str(r.task), r.message_id[:8] + "…", str(r.receive_count),
                                     f"consumer {r.consumer}", f"{r.at - tally.started:.1f} s")
            parts.append(redeliveries)
        parts.append(Panel(Group(*self._recent) if self._recent else Text(""), title="events",
                           title_align="left", box=box.ROUNDED))
        return Group(*parts)

    def summary(self, tally: Tally, verdict: Verdict, seconds: float) -> None:
        table = Table(title="Summary", title_justify="left", show_footer=True)
        numbers, _ = _totals(tally)
        table.add_column("consumer", footer="total")
        for header, total in zip(("received", "processed", "failed", "acked"), numbers):
            table.add_column(header, justify="right", footer=str(total))
        table.add_column("consume_messages() said", justify="right", footer="")
        for c in tally.consumers.values():
            table.add_row(f"consumer {c.index}", str(c.received), str(c.handled), str(c.failed), str(c.deleted),
                          f"{c.reported_processed} processed, {c.reported_failed} failed")
        self.console.print(table)
        highest = max((r.receive_count for r in tally.redeliveries), default=0)
        self.console.print(
            f"{len(tally.redeliveries)} redeliveries"
            + (f" (highest ApproximateReceiveCount {highest})" if highest else "")
            + f"; queue at the end: {_count(tally.available)} available, {_count(tally.in_flight)} in flight;"
            f" {seconds:.1f} s", highlight=False)
        self.console.print(Text(verdict.headline, style="bold green" if verdict.ok else "bold red"))
        for problem in verdict.problems[1:]:
            self.console.print(Text(f"  also: {problem}", style="red"))


def make_view(plain: bool = False) -> PlainView | LiveView:
    """The live table on a terminal (unless ``plain``), plain lines when piped or redirected."""
    console = Console()
    if plain or not console.is_terminal or console.is_dumb_terminal:
        return PlainView()
    return LiveView(console)
