"""One lab run: the broker, a producer process, N consumer processes, and the event pump between them.

Processes are spawned, not forked: the parent serves the broker from threads, and forking a
process with running threads copies locks in whatever state they happen to be. Whatever happens
(success, time limit, Ctrl-C, a bug), ``run`` stops every process it started and the broker before
it returns or raises.
"""
from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from grader.errors import UserError
from grader.lab import QUEUE_PREFIX, REGION, bypass_proxy_for_loopback, client_env
from grader.lab.server import LocalBroker, answers
from grader.lab.tally import Plan, Tally
from grader.lab.worker import CRASH_FIRST_DELIVERY, CRASH_RANDOM, WorkerConfig, run as worker_run

_STATUS_EVERY = 0.5
_STATUS_EVERY_STEP5 = 0.2
_FORCE_GRACE = 3.0


class View(Protocol):
    """What the session tells the screen (see ``grader.lab.view``)."""

    def line(self, text: str) -> None: ...
    def refresh(self, tally: Tally) -> None: ...


@dataclass
class LabSettings:
    """One run's knobs (the ``lab`` verb's options, checked)."""

    path: Path
    consumers: int = 3
    tasks: int = 20
    crash_rate: float = 0.1
    seed: int = 7
    visibility_timeout: int = 30
    work_seconds: float = 2.0
    send_interval: float = 0.5
    wait_time_seconds: int = 5
    step: int | None = None
    timeout: float = 300.0
    endpoint: str | None = None

    @property
    def crash_mode(self) -> str:
        return CRASH_FIRST_DELIVERY if self.step == 5 else CRASH_RANDOM

    def plan(self) -> Plan:
        return Plan(tasks=self.tasks, consumers=self.consumers, visibility_timeout=self.visibility_timeout,
                    crash_rate=0.0 if self.step == 5 else self.crash_rate, seed=self.seed,
                    crash_mode=self.crash_mode, step=self.step)


@dataclass
class LabOutcome:
    """What a run left: the tally to judge, and the processes it ran (all ended by now)."""

    tally: Tally
    queue_name: str
    endpoint: str
    seconds: float
    pids: list[int] = field(default_factory=list)
    exitcodes: list[int | None] = field(default_factory=list)


def sqs_client(endpoint_url: str) -> Any:
    """A client of our own for the broker's counts: explicit endpoint and dummy keys, whatever the
    user's AWS configuration says."""
    import boto3
    from botocore.config import Config

    bypass_proxy_for_loopback()
    env = client_env(endpoint_url)
    return boto3.client("sqs", endpoint_url=endpoint_url, region_name=REGION,
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                        config=Config(retries={"max_attempts": 2}, connect_timeout=3, read_timeout=10))


def queue_counts(sqs: Any, queue_url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    ).get("Attributes", {})
    return int(attrs.get("ApproximateNumberOfMessages", 0)), int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))


def new_queue_name(step: int | None) -> str:
    """Fresh per run: a shared broker may hold an earlier run's leftovers, and real SQS refuses to
    reuse a deleted queue's name for a minute."""
    kind = "step5" if step == 5 else "tasks"
    return f"{QUEUE_PREFIX}{kind}-{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:6]}"


class LabSession:
    """Runs one lab: call ``run(view)`` once."""

    def __init__(self, settings: LabSettings) -> None:
        self.settings = settings
        self._ctx = multiprocessing.get_context("spawn")
        self._processes: list[tuple[str, Any]] = []

    def run(self, view: View, on_start: Callable[[str, str], None] | None = None) -> LabOutcome:
        """Start everything, pump events into the tally and the view until the work is done (or the
        time limit), then stop everything. ``on_start(endpoint, queue_name)`` is told where it runs."""
        s = self.settings
        tally = Tally(s.plan())
        queue_name = new_queue_name(s.step)
        broker: LocalBroker | None = None
        started = time.monotonic()
        events = self._ctx.Queue()
        stop = self._ctx.Event()
        try:
            if s.endpoint:
                if not answers(s.endpoint):
                    raise UserError(f"no broker answers at {s.endpoint} (is `brokerlab serve` running?)")
                endpoint = s.endpoint
            else:
                broker = LocalBroker("127.0.0.1", 0).start()
                endpoint = broker.url
            if on_start:
                on_start(endpoint, queue_name)
            sqs = sqs_client(endpoint)
            self._start_processes(endpoint, queue_name, events, stop)
            self._pump(tally, view, events, sqs, started)
            stop.set()
            if tally.complete():
                view.line(f"every task is acknowledged: stopping the consumers (each ends its current "
                          f"long poll, up to {s.wait_time_seconds} s)")
            self._stop_processes(tally, view, events)
            self._drain(tally, view, events)
            if tally.queue_url:
                try:
                    tally.set_status(*queue_counts(sqs, tally.queue_url))
                except Exception as exc:
                    tally.errors.append(f"could not read the queue's final counts: {exc}")
            view.refresh(tally)
            return LabOutcome(tally, queue_name, endpoint, time.monotonic() - started,
                              [p.pid for _, p in self._processes],
                              [p.exitcode for _, p in self._processes])
        finally:  # after an error or Ctrl-C, not the long goodbye: a second to stop, then terminate
            stop.set()
            self._stop_processes(tally, view, events, quiet=True, grace=1.0)
            events.close()
            events.join_thread()
            if broker is not None:
                broker.stop()

    # --- processes -------------------------------------------------------------------------------
    def _start_processes(self, endpoint: str, queue_name: str, events: Any, stop: Any) -> None:
        s = self.settings
        common = dict(endpoint_url=endpoint, queue_name=queue_name, parent_pid=os.getpid(), tasks=s.tasks,
                      visibility_timeout=s.visibility_timeout, seed=s.seed)
        configs = [WorkerConfig(role="producer", index=0, module_path=str(s.path / "sqs_producer.py"),
                                send_interval=s.send_interval, **common)]
        configs += [WorkerConfig(role="consumer", index=i, module_path=str(s.path / "sqs_consumer.py"),
                                 work_seconds=s.work_seconds, wait_time_seconds=s.wait_time_seconds,
                                 crash_mode=s.crash_mode, crash_rate=s.crash_rate,
                                 queue_wait_seconds=min(s.timeout, 60.0), **common)
                    for i in range(1, s.consumers + 1)]
        for config in configs:
            name = "producer" if config.role == "producer" else f"consumer {config.index}"
            process = self._ctx.Process(target=worker_run, args=(config, events, stop),
                                        name=f"brokerlab-{config.role}-{config.index}", daemon=True)
            process.start()
            self._processes.append((name, process))

    def _pump(self, tally: Tally, view: View, events: Any, sqs: Any, started: float) -> None:
        s = self.settings
        every = _STATUS_EVERY_STEP5 if s.step == 5 else _STATUS_EVERY
        next_status = 0.0
        emptied_since: float | None = None
        while True:
            self._take(tally, view, events, timeout=0.1)
            now = time.monotonic()
            if tally.queue_url and now >= next_status:
                next_status = now + every
                try:
                    tally.set_status(*queue_counts(sqs, tally.queue_url))
                except Exception as exc:
                    view.line(f"could not read the queue's counts: {type(exc).__name__}: {exc}")
            self._notice_deaths(tally, view, events)
            view.refresh(tally)
            if tally.import_error:
                return
            if tally.complete() or tally.hopeless():
                return
            # Two polls in a row, so the counts were read after the last send and the last event.
            if not tally.emptied_unfinished():
                emptied_since = None
            elif emptied_since is None:
                emptied_since = now
            elif now - emptied_since >= 2 * every:
                view.line("the queue is empty, yet not every task was handled and acknowledged: "
                          "the rest were lost")
                return
            if now - started > s.timeout:
                tally.timed_out = True
                view.line(f"time limit of {s.timeout:.0f} s reached: stopping")
                return

    def _notice_deaths(self, tally: Tally, view: View, events: Any) -> None:
        dead = [(name, p) for name, p in self._processes if p.exitcode is not None]
        if not dead:
            return
        self._take(tally, view, events, timeout=0)  # its last events may still be in the pipe
        for name, process in dead:
            role, _, index = name.partition(" ")
            for text in tally.process_ended(role, int(index or 0), process.exitcode):
                view.line(text)

    def _take(self, tally: Tally, view: View, events: Any, timeout: float) -> bool:
        """Apply every event waiting (the first one waited for up to ``timeout``); whether any came."""
        got = False
        block = timeout > 0
        while True:
            try:
                event = events.get(timeout=timeout) if block else events.get_nowait()
            except (queue_module.Empty, EOFError, OSError):
                return got
            got, block = True, False
            for text in tally.apply(event):
                view.line(text)

    def _stop_processes(self, tally: Tally, view: View, events: Any, quiet: bool = False,
                        grace: float | None = None) -> None:
        """Let each process finish its current long poll and report; kill what does not."""
        s = self.settings
        if grace is None:
            grace = s.wait_time_seconds + s.work_seconds + _FORCE_GRACE
        deadline = time.monotonic() + grace
        while any(p.is_alive() for _, p in self._processes) and time.monotonic() < deadline:
            if quiet:  # still empty the pipe: a child cannot exit while its last events are unread
                try:
                    events.get(timeout=0.05)
                except (queue_module.Empty, EOFError, OSError):
                    pass
            else:
                self._take(tally, view, events, timeout=0.1)
        for name, process in self._processes:
            if process.is_alive():
                process.terminate()
                process.join(2)
                if process.is_alive():
                    process.kill()
                    process.join(2)
                if not quiet:
                    tally.stopped_by_force.append(name)
            else:
                process.join(0.5)

    def _drain(self, tally: Tally, view: View, events: Any) -> None:
        while self._take(tally, view, events, timeout=0.2):
            pass
