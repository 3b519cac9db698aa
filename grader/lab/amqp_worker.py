"""One process of the AMQP lab: a producer or a consumer running the student's (or the reference)
code against the live broker of ``AMQP_URL``, saying what it does as JSON lines on stdout.

    python -m grader.lab.amqp_worker producer FOLDER QUEUE TASKS INTERVAL
    python -m grader.lab.amqp_worker consumer FOLDER QUEUE NAME WORK CRASH SEED IDLE

A consumer "crashes" with ``os._exit`` inside the handler, before it returns: its delivery was
never acknowledged, so the broker gives it to another consumer the moment the connection drops.
"""
from __future__ import annotations

import importlib.util
import json
import os
import random
import sys
import time
from pathlib import Path

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def say(event: str, **facts: object) -> None:
    print(json.dumps({"event": event, "at": time.time(), **facts}), flush=True)


def load(folder: str, name: str):
    spec = importlib.util.spec_from_file_location(name, Path(folder) / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def channel():
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
    result = connection.channel()
    result.confirm_delivery()
    return connection, result


def producer(folder: str, queue: str, tasks: str, interval: str) -> None:
    code = load(folder, "amqp_producer")
    connection, ch = channel()
    code.declare_queue(ch, queue, f"{queue}.dlq")
    for n in range(int(tasks)):
        task_type = TASK_TYPES[n % len(TASK_TYPES)]
        message_id = code.send_task(ch, queue, task_type, {"n": n})
        say("sent", n=n, type=task_type, message_id=message_id)
        time.sleep(float(interval))
    connection.close()
    say("done")


def consumer(folder: str, queue: str, name: str, work: str, crash: str, seed: str, idle: str) -> None:
    code = load(folder, "amqp_consumer")
    chance, pause = float(crash), float(work)
    rng = random.Random(f"{seed}-{name}")
    connection, ch = channel()
    say("started", consumer=name)

    def handler(body: bytes) -> None:
        task = code.process_task(body)
        n = task["data"]["n"]
        say("handling", consumer=name, n=n)
        time.sleep(pause)
        if chance and (chance >= 1 or rng.random() < chance):
            say("crash", consumer=name, n=n)
            os._exit(3)  # before the handler returns: no ack
        say("handled", consumer=name, n=n)

    result = code.consume_messages(ch, queue, handler, max_messages=10 ** 6, prefetch=1, idle_timeout=float(idle))
    say("stopped", consumer=name, result=result)
    connection.close()


if __name__ == "__main__":
    role, *rest = sys.argv[1:]
    try:
        (producer if role == "producer" else consumer)(*rest)
    except Exception as exc:  # said to the lab, which shows it
        say("error", error=f"{type(exc).__name__}: {exc}"[:300])
        sys.exit(1)
