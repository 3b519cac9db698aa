"""Exercise A1, reference solution: durable queues and persistent, confirmed publishing on RabbitMQ
(the course's step 1 on AMQP).

Every function takes its channel from the caller (already in publisher-confirm mode); only
``main()`` opens a connection, to ``AMQP_URL``.
"""
from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone

import pika

COURSE_TASKS: list[tuple[str, dict]] = [
    ("resize_image", {"image": "photo1.jpg", "size": "800x600"}),
    ("send_email", {"to": "user@example.com", "subject": "Welcome!"}),
    ("process_order", {"order_id": "ORD-12345", "amount": 99.99}),
    ("resize_image", {"image": "photo2.jpg", "size": "1920x1080"}),
    ("generate_report", {"report_type": "monthly", "month": "2024-01"}),
]


def declare_queue(channel, queue_name: str, dead_letter_queue: str | None = None) -> None:
    """Declare ``queue_name`` durable (it survives a broker restart), optionally dead-lettering
    into ``dead_letter_queue``.

    A message rejected without requeue (or expired, or dropped from a full queue) goes to the
    queue's dead-letter exchange with its dead-letter routing key: the default exchange ``""``
    routes it by name to the dead-letter queue. Declaring is idempotent only with the same
    arguments: the broker refuses (PRECONDITION_FAILED) a redeclare that differs.
    """
    arguments = None
    if dead_letter_queue:
        channel.queue_declare(queue=dead_letter_queue, durable=True)
        arguments = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead_letter_queue}
    channel.queue_declare(queue=queue_name, durable=True, exclusive=False, auto_delete=False,
                          arguments=arguments)


def make_task(task_type: str, task_data: dict, now: datetime | None = None) -> dict:
    """The task message, stamped with ``now`` in UTC (``...Z``); a naive ``now`` is UTC already."""
    if now is None:
        now = datetime.now(timezone.utc)
    elif now.tzinfo is None or now.utcoffset() is None:
        now = now.replace(tzinfo=timezone.utc)
    else:
        now = now.astimezone(timezone.utc)
    return {"taskType": task_type, "data": task_data, "timestamp": now.replace(tzinfo=None).isoformat() + "Z"}


def send_task(channel, queue_name: str, task_type: str, task_data: dict) -> str:
    """Publish one task persistently and return its message id.

    - ``delivery_mode=2`` writes the message to disk: with a durable queue, it survives a restart
      (a durable queue alone keeps only its definition).
    - The channel is in confirm mode, so ``basic_publish`` returns only once the broker has taken
      responsibility for the message.
    - ``mandatory=True``: a message no queue takes comes back, and pika raises
      ``UnroutableError`` instead of the broker dropping it silently. We let it propagate.
    """
    message_id = str(uuid.uuid4())
    channel.basic_publish(
        exchange="",
        routing_key=queue_name,
        body=json.dumps(make_task(task_type, task_data)),
        properties=pika.BasicProperties(delivery_mode=2, content_type="application/json", message_id=message_id),
    )
    return message_id


def queue_status(channel, queue_name: str) -> dict:
    """Ready messages and consumers, from a passive declare (it creates nothing)."""
    method = channel.queue_declare(queue=queue_name, passive=True).method
    return {"ready": method.message_count, "consumers": method.consumer_count}


def main() -> None:
    """The course's step 1: declare ``task-queue`` (dead-lettering into ``task-queue.dlq``), send
    the five tasks, print the status."""
    url = os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        declare_queue(channel, "task-queue", dead_letter_queue="task-queue.dlq")
        print(f"Sending {len(COURSE_TASKS)} tasks to task-queue...")
        for task_type, task_data in COURSE_TASKS:
            message_id = send_task(channel, "task-queue", task_type, task_data)
            print(f"  {task_type:20s} -> message id {message_id}")
        status = queue_status(channel, "task-queue")
        print(f"\nQueue status: {status['ready']} ready, {status['consumers']} consumers")
    finally:
        connection.close()


if __name__ == "__main__":
    main()
