"""What the lab's events add up to, and whether the run did what the course says a broker does.

Pure bookkeeping: it is fed the workers' events and the broker's queue counts, and it never talks
to a process or a broker itself, so its verdicts can be tested on hand-written events.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from grader.lab.worker import CRASH_FIRST_DELIVERY, expected_crashes

# moto checks visibility on its own clock; allow this much jitter when timing a redelivery.
_TIMING_SLACK = 0.5


@dataclass(frozen=True)
class Plan:
    """What one run was asked to do."""

    tasks: int
    consumers: int
    visibility_timeout: int
    crash_rate: float = 0.0
    seed: int = 0
    crash_mode: str = "random"
    step: int | None = None

    @property
    def exactly_once(self) -> bool:
        """With no crash injected, a broker with acks must hand each task over exactly once."""
        return self.crash_mode != CRASH_FIRST_DELIVERY and self.crash_rate <= 0

    def expected_injected(self) -> int:
        if self.crash_mode == CRASH_FIRST_DELIVERY:
            return self.tasks
        return sum(expected_crashes(self.seed, n, self.crash_rate) for n in range(self.tasks))


@dataclass
class Delivery:
    """One time the broker handed a task to a consumer."""

    consumer: int
    receive_count: int
    at: float
    outcome: str = "processing"  # then "handled", "crashed" or "failed"
    deleted: bool = False


@dataclass
class TaskRecord:
    number: int
    message_id: str | None = None
    task_type: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    handled: int = 0
    failed: int = 0
    injected: int = 0
    deletes: int = 0


@dataclass
class ConsumerRecord:
    index: int
    pid: int | None = None
    state: str = "starting"
    received: int = 0
    handled: int = 0
    failed: int = 0
    deleted: int = 0
    reported_processed: int = 0
    reported_failed: int = 0
    results: int = 0
    bad_results: int = 0
    last_line: str = ""


@dataclass(frozen=True)
class Redelivery:
    task: int | None
    message_id: str
    receive_count: int
    consumer: int
    at: float


@dataclass
class Verdict:
    ok: bool
    headline: str
    problems: list[str]


class Tally:
    """The running account of one lab run."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.started = time.time()
        self.tasks: dict[int, TaskRecord] = {n: TaskRecord(n) for n in range(plan.tasks)}
        self.consumers: dict[int, ConsumerRecord] = {
            i: ConsumerRecord(i) for i in range(1, plan.consumers + 1)}
        self.producer_state = "starting"
        self.producer_pid: int | None = None
        self.producer_status: dict[str, Any] | None = None
        self.queue_url: str | None = None
        self.available: int | None = None
        self.in_flight: int | None = None
        self.redeliveries: list[Redelivery] = []
        self.unknown_messages = 0
        self.fatal: list[str] = []
        self.import_error: str | None = None
        self.errors: list[str] = []
        # crashed task -> when the broker makes it visible again; and whether its counts showed that
        self.invisible: dict[int, float] = {}
        self.seen_invisible = False
        self.timed_out = False
        self.stopped_by_force: list[str] = []

    # --- feeding ---------------------------------------------------------------------------------
    def apply(self, event: dict[str, Any]) -> list[str]:
        """Record one worker event; return the lines it is worth telling the user."""
        kind = event.get("kind")
        if event.get("role") == "producer":
            return self._producer(kind, event)
        consumer = self.consumers.setdefault(event.get("index", 0), ConsumerRecord(event.get("index", 0)))
        consumer.pid = event.get("pid", consumer.pid)
        name = f"consumer {consumer.index}"
        task_no = event.get("task")
        task = self.tasks.get(task_no) if isinstance(task_no, int) else None
        label = f"task {task_no}" if task is not None else "a message not of this run"
        if kind == "started":
            consumer.state = "consuming"
        elif kind == "received":
            consumer.received += 1
            count = int(event.get("receive_count") or 0)
            if task is None:
                self.unknown_messages += 1
                return [f"{name} received {label}"]
            previous = task.deliveries[-1] if task.deliveries else None
            task.deliveries.append(Delivery(consumer.index, count, event["at"]))
            self.invisible.pop(task.number, None)
            if previous is not None or count > 1:
                self.redeliveries.append(Redelivery(task_no, event.get("message_id") or "", count,
                                                    consumer.index, event["at"]))
                after = f" {event['at'] - previous.at:.1f} s after its last delivery" if previous else ""
                return [f"{name} received {label} again{after}: ApproximateReceiveCount {count} (redelivery)"]
            return [f"{name} received {label} (ApproximateReceiveCount {count})"]
        elif kind == "handled":
            consumer.handled += 1
            if task is not None:
                task.handled += 1
                self._delivery(task, consumer.index).outcome = "handled"
        elif kind == "failed":
            consumer.failed += 1
            if task is None:
                return [f"{name}: handler failed on {label}: {event.get('error')}"]
            task.failed += 1
            delivery = self._delivery(task, consumer.index)
            if event.get("injected"):
                task.injected += 1
                delivery.outcome = "crashed"
                self.invisible[task.number] = delivery.at + self.plan.visibility_timeout
                return [f"{name} crashed on {label} before its ack: not deleted, invisible until the "
                        f"visibility timeout ({self.plan.visibility_timeout} s) runs out, then redelivered"]
            delivery.outcome = "failed"
            return [f"{name}: handler failed on {label}: {event.get('error')} (not deleted)"]
        elif kind == "deleted":
            consumer.deleted += 1
            if task is not None:
                task.deletes += 1
                self._delivery(task, consumer.index).deleted = True
                again = f" (deleted {task.deletes} times)" if task.deletes > 1 else ""
                return [f"{name} acknowledged {label}: deleted{again}"]
        elif kind == "result":
            result = event.get("result") or {}
            consumer.results += 1
            if isinstance(result.get("processed"), int) and isinstance(result.get("failed"), int):
                consumer.reported_processed += result["processed"]
                consumer.reported_failed += result["failed"]
            else:
                consumer.bad_results += 1
        elif kind == "output":
            consumer.last_line = event.get("line", "")
            return [f"  [{name}] {consumer.last_line}"]
        elif kind == "error":
            self.errors.append(f"{name}: {event.get('error')}")
            return [f"{name}: {event.get('error')}"]
        elif kind == "fatal":
            consumer.state = "failed"
            return [self._fatal(name, event)]
        elif kind == "exit":
            if consumer.state != "failed":
                consumer.state = "stopped"
        return []

    def _producer(self, kind: Any, event: dict[str, Any]) -> list[str]:
        self.producer_pid = event.get("pid", self.producer_pid)
        if kind == "started":
            self.producer_state = "sending"
        elif kind == "queue":
            self.queue_url = event.get("queue_url")
            return [f"producer: queue ready at {self.queue_url}"]
        elif kind == "sent":
            task = self.tasks.get(event.get("task"))  # type: ignore[arg-type]
            if task is not None:
                task.message_id = event.get("message_id")
                task.task_type = event.get("task_type", "")
            return [f"producer sent task {event.get('task')} ({event.get('task_type')}), "
                    f"MessageId {str(event.get('message_id'))[:8]}…"]
        elif kind == "producer_status":
            self.producer_status = event.get("status")
            return [f"producer: queue_status() says {self.producer_status}"]
        elif kind == "output":
            return [f"  [producer] {event.get('line', '')}"]
        elif kind == "error":
            self.errors.append(f"producer: {event.get('error')}")
            return [f"producer: {event.get('error')}"]
        elif kind == "fatal":
            self.producer_state = "failed"
            return [self._fatal("producer", event)]
        elif kind == "exit":
            if self.producer_state != "failed":
                self.producer_state = "done"
        return []

    def _fatal(self, name: str, event: dict[str, Any]) -> str:
        line = f"{name} stopped: {event.get('error')}"
        self.fatal.append(line)
        if event.get("import_error") and self.import_error is None:
            self.import_error = str(event.get("error"))
        return line

    @staticmethod
    def _delivery(task: TaskRecord, consumer: int) -> Delivery:
        for delivery in reversed(task.deliveries):
            if delivery.consumer == consumer:
                return delivery
        delivery = Delivery(consumer, 0, time.time())
        task.deliveries.append(delivery)
        return delivery

    def process_ended(self, role: str, index: int, exitcode: int | None) -> list[str]:
        """A process is gone: if it never said goodbye, it died (killed, or broke before reporting)."""
        if role == "producer":
            if self.producer_state in ("done", "failed"):
                return []
            self.producer_state = "failed"
            name = "producer"
        else:
            consumer = self.consumers.get(index)
            if consumer is None or consumer.state in ("stopped", "failed"):
                return []
            consumer.state = "failed"
            name = f"consumer {index}"
        line = f"{name} stopped: its process exited (code {exitcode}) without reporting why"
        self.fatal.append(line)
        return [line]

    def set_status(self, available: int, in_flight: int) -> None:
        """The broker's own counts, polled by the parent."""
        self.available, self.in_flight = available, in_flight
        if self.invisible and in_flight > 0 and available == 0:
            self.seen_invisible = True

    # --- reading ---------------------------------------------------------------------------------
    @property
    def next_redelivery(self) -> float | None:
        """When the first of the crashed, unacknowledged messages becomes visible again."""
        return min(self.invisible.values(), default=None)

    @property
    def sent(self) -> int:
        return sum(1 for t in self.tasks.values() if t.message_id)

    @property
    def acknowledged(self) -> int:
        return sum(1 for t in self.tasks.values() if t.deletes > 0)

    @property
    def consumers_alive(self) -> int:
        return sum(1 for c in self.consumers.values() if c.state in ("starting", "consuming"))

    def complete(self) -> bool:
        """Every task was sent, handled and acknowledged: the consumers may stop."""
        return self.producer_state == "done" and all(
            t.message_id and t.deletes > 0 and t.handled > 0 for t in self.tasks.values())

    def emptied_unfinished(self) -> bool:
        """All was sent, the broker holds nothing (visible or in flight), yet some task was never
        handled and acknowledged: it is lost, and waiting longer cannot bring it back."""
        return (self.producer_state == "done" and self.sent == self.plan.tasks
                and self.available == 0 and self.in_flight == 0 and not self.complete())

    def hopeless(self) -> bool:
        """Nothing more can happen: the producer or every consumer is gone."""
        return (self.producer_state == "failed" or self.consumers_alive == 0
                or (self.producer_state == "done" and self.sent < self.plan.tasks))

    def verdict(self) -> Verdict:
        """Whether every task was handled and acknowledged (exactly once when nothing crashed),
        and whether the counts of the consumers, the events and the broker agree."""
        plan = self.plan
        problems: list[str] = []
        if self.timed_out:
            problems.append("the run was stopped at its time limit")
        problems += self.fatal
        problems += [f"{who} did not stop when asked and was killed" for who in self.stopped_by_force]

        unsent = [n for n, t in self.tasks.items() if not t.message_id]
        if unsent:
            problems.append(f"the producer sent {plan.tasks - len(unsent)} of {plan.tasks} tasks")
        sent = [t for t in self.tasks.values() if t.message_id]
        never_handled = [t.number for t in sent if t.handled == 0]
        never_acked = [t.number for t in sent if t.deletes == 0]
        if never_handled:
            problems.append(f"never handled: {_tasks(never_handled)}")
        if never_acked:
            problems.append(f"never acknowledged (deleted): {_tasks(never_acked)}")
        acked_unhandled = [t.number for t in sent if t.deletes > 0 and t.handled == 0]
        if acked_unhandled:
            problems.append(f"deleted although no handler finished them (lost on a crash): "
                            f"{_tasks(acked_unhandled)}")
        if plan.exactly_once:
            for what, pick in (("received", lambda t: len(t.deliveries)), ("handled", lambda t: t.handled),
                               ("deleted", lambda t: t.deletes)):
                extra = [f"{t.number} ({pick(t)}×)" for t in sent if pick(t) > 1]
                if extra:
                    problems.append(f"with no crash, tasks {what} more than once: {', '.join(extra[:8])}")

        injected = sum(t.injected for t in self.tasks.values())
        if not self.timed_out and not self.fatal and injected != plan.expected_injected():
            problems.append(f"{injected} injected crashes counted, {plan.expected_injected()} expected "
                            f"from seed {plan.seed}")
        for c in self.consumers.values():
            name = f"consumer {c.index}"
            if c.bad_results:
                problems.append(f"{name}: consume_messages() returned something other than "
                                "{'processed': int, 'failed': int}")
            if c.state == "stopped" and c.results and not c.bad_results:
                if c.reported_processed != c.deleted:
                    problems.append(f"{name}: consume_messages() reported {c.reported_processed} processed, "
                                    f"but {c.deleted} messages were deleted")
                if c.reported_failed != c.failed:
                    problems.append(f"{name}: consume_messages() reported {c.reported_failed} failed, "
                                    f"but {c.failed} handler calls raised")
            if c.state == "stopped" and c.received != c.handled + c.failed:
                problems.append(f"{name}: {c.received} messages received but {c.handled} handled "
                                f"+ {c.failed} failed")
        if self.available is not None and (self.available or self.in_flight):
            problems.append(f"the queue still holds {self.available} available and {self.in_flight} "
                            "in-flight messages")
        if plan.crash_mode == CRASH_FIRST_DELIVERY:
            problems += self._step5_problems()

        if problems:
            return Verdict(False, "FAILED: " + problems[0], problems)
        if plan.crash_mode == CRASH_FIRST_DELIVERY:
            headline = ("PASSED: the crashed delivery was not acknowledged, stayed invisible for the "
                        "visibility timeout and came back with ApproximateReceiveCount 2: at-least-once delivery")
        elif plan.exactly_once:
            busy = sum(1 for c in self.consumers.values() if c.handled)
            headline = (f"PASSED: all {plan.tasks} tasks handled and acknowledged exactly once, "
                        + (f"spread over {busy} consumers" if busy > 1 else "by one consumer"))
        else:
            headline = (f"PASSED: all {plan.tasks} tasks handled and acknowledged at least once; "
                        f"{injected} crashes before the ack, {len(self.redeliveries)} redeliveries")
        return Verdict(True, headline, [])

    def _step5_problems(self) -> list[str]:
        problems = []
        for task in self.tasks.values():
            first = task.deliveries[0] if task.deliveries else None
            if first is None:
                continue
            if first.receive_count != 1 or first.outcome != "crashed" or first.deleted:
                problems.append(f"task {task.number}: the first delivery should crash before its ack")
                continue
            again = next((d for d in task.deliveries[1:] if d.receive_count == 2), None)
            if again is None:
                problems.append(f"task {task.number} was never delivered again with ApproximateReceiveCount 2")
                continue
            hidden = again.at - first.at
            if hidden < self.plan.visibility_timeout - _TIMING_SLACK:
                problems.append(f"task {task.number} came back after {hidden:.1f} s, before the "
                                f"visibility timeout of {self.plan.visibility_timeout} s")
            if not (again.outcome == "handled" and again.deleted):
                problems.append(f"task {task.number}: the redelivery was not handled and acknowledged")
        return problems


def _tasks(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return f"tasks {shown}{' …' if len(numbers) > 10 else ''}"
