"""The course's steps 3 to 5 on RabbitMQ: ``brokerlab lab --broker rabbitmq``.

A producer process and consumer processes, each a separate Python running the student's (or the
reference) ``amqp_producer.py`` and ``amqp_consumer.py`` against one live broker (the private node,
or ``BROKERLAB_AMQP_URL``'s), in a virtual host of the lab's own. What the AMQP version shows that
SQS's cannot: a consumer that dies holding a delivery gives it back at once (no visibility
timeout), flagged redelivered, and prefetch 1 spreads the work across the consumers.
"""
from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import UserError

QUEUE = "task-queue"
IDLE = 3.0


@dataclass
class Tally:
    sent: set[int] = field(default_factory=set)
    handled: dict[int, list[str]] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)
    crashes: list[tuple[str, int, float]] = field(default_factory=list)
    back_after: list[float] = field(default_factory=list)  # seconds from a crash to its task's next handling
    errors: list[str] = field(default_factory=list)

    def add(self, event: dict) -> str | None:
        kind, n, who = event.get("event"), event.get("n"), event.get("consumer")
        if kind == "sent":
            self.sent.add(n)
            return f"producer: sent task {n} ({event.get('type')})"
        if kind == "handling":
            self.attempts[n] = self.attempts.get(n, 0) + 1
            crashed = [c for c in self.crashes if c[1] == n]
            if crashed:
                self.back_after.append(event["at"] - crashed[-1][2])
                return f"{who}: task {n} again, redelivered {event['at'] - crashed[-1][2]:.2f} s after the crash"
            return None
        if kind == "handled":
            self.handled.setdefault(n, []).append(who)
            return f"{who}: handled task {n}, acknowledged"
        if kind == "crash":
            self.crashes.append((who, n, event["at"]))
            return f"{who}: CRASH while handling task {n}, before its ack"
        if kind == "error":
            self.errors.append(str(event.get("error")))
            return f"{who or 'producer'}: error {event.get('error')}"
        return None


def run(args, folder: Path) -> int:
    from grader.amqp import service
    from grader.amqp.admin import Admin

    step = args.step
    consumers = args.consumers or (1 if step in (3, 5) else 3)
    tasks = args.tasks or {3: 5, 4: 20, 5: 1}.get(step, 20)
    crash = 1.0 if step == 5 else (args.crash_rate if args.crash_rate is not None else (0.1 if step is None else 0.0))
    for name in ("amqp_producer.py", "amqp_consumer.py"):
        if not (folder / name).is_file():
            raise UserError(f"{folder}: no {name} (the RabbitMQ lab runs both AMQP exercises)")
    endpoint = service.endpoint()
    admin = Admin(endpoint)
    vhost = f"brokerlab-lab-{os.getpid()}"
    admin.request("PUT", f"/api/vhosts/{vhost}", {})
    env = {**os.environ, "AMQP_URL": endpoint.amqp_url(vhost), "PYTHONUNBUFFERED": "1"}
    print(f"Broker Lab on RabbitMQ: 1 producer, {consumers} consumer(s), {tasks} task(s); "
          + ("the first delivery of each task crashes before its ack" if step == 5 else
             f"crash rate {crash:.0%}" if crash else "no crashes: every task exactly once"), flush=True)
    tally = Tally()
    selector = selectors.DefaultSelector()
    started = time.monotonic()
    processes: dict[str, subprocess.Popen] = {}

    def spawn(name: str, argv: list[str]) -> None:
        process = subprocess.Popen([sys.executable, "-m", "grader.lab.amqp_worker", *argv], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        processes[name] = process
        selector.register(process.stdout, selectors.EVENT_READ, name)

    def consumer_argv(name: str, rate: float) -> list[str]:
        return ["consumer", str(folder), QUEUE, name, str(args.work_seconds), str(rate), str(args.seed), str(IDLE)]

    restarts = 0
    try:
        spawn("producer", ["producer", str(folder), QUEUE, str(tasks), str(args.send_interval)])
        waiting = True  # consumers start once the producer has declared the queue (its first send)
        deadline = started + (args.timeout or 60 + tasks * (args.work_seconds + args.send_interval) * 3)
        while selector.get_map() and time.monotonic() < deadline:
            for key, _mask in selector.select(timeout=0.5):
                line = key.fileobj.readline()
                if not line:
                    selector.unregister(key.fileobj)
                    name = key.data
                    code = processes[name].wait()
                    if code == 3:  # a crash: a new consumer takes its place, as a supervisor would restart it
                        restarts += 1
                        again = 0.0 if step == 5 else crash
                        spawn(f"{name}'", consumer_argv(f"{name}'", again))
                    continue
                try:
                    said = tally.add(json.loads(line))
                except ValueError:
                    continue
                if said:
                    print(f"[{time.monotonic() - started:6.2f} s] {said}", flush=True)
                if waiting and (tally.sent or tally.errors):
                    waiting = False
                    for i in range(consumers if tally.sent else 0):
                        spawn(f"consumer-{i + 1}", consumer_argv(f"consumer-{i + 1}", crash))
        ready = _ready(endpoint, vhost)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        try:
            admin.request("DELETE", f"/api/vhosts/{vhost}", ok=(200, 204, 404))
        except Exception:
            pass
    missing = sorted(tally.sent - set(tally.handled))
    twice = sorted(n for n, who in tally.handled.items() if len(who) > 1)
    ok = bool(tally.sent) and not missing and not tally.errors and ready == 0 and (crash > 0 or not twice)
    print(f"\n{len(tally.handled)} of {len(tally.sent)} tasks handled and acknowledged in "
          f"{time.monotonic() - started:.1f} s; {len(tally.crashes)} crash(es), {restarts} consumer(s) restarted; "
          f"{ready} message(s) left in {QUEUE}")
    if tally.back_after:
        print(f"a crashed consumer's delivery came back after {max(tally.back_after):.2f} s at most: RabbitMQ "
              "requeues it when the connection drops, flagged redelivered (SQS waits for its visibility timeout)")
    if missing:
        print(f"never handled: tasks {missing}")
    if twice and not crash:
        print(f"handled more than once without a crash: tasks {twice}")
    return 0 if ok else 1


def _ready(endpoint, vhost: str) -> int:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(endpoint.amqp_url(vhost)))
    try:
        return connection.channel().queue_declare(QUEUE, passive=True).method.message_count
    except Exception:
        return -1
    finally:
        if connection.is_open:
            connection.close()
