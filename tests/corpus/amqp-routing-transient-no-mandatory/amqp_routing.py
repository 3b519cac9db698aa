"""Exercise A3, reference solution: a topic exchange routing each task to the queue that wants it,
and a copy of every task to ``audit``.

A single queue hands each message to one consumer; an exchange decides which queues get a copy.
A ``topic`` exchange matches the routing key word by word (``.``-separated) against each
binding key: ``*`` is exactly one word, ``#`` zero or more.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pika

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")
ROUTES = {
    "images": ["task.resize_image"],
    "emails": ["task.send_email"],
    "orders": ["task.process_order"],
    "reports": ["task.generate_report"],
    "audit": ["task.#"],
}


def declare_routing(channel, exchange: str = "tasks") -> None:
    """Declare the durable topic exchange, a durable queue per route, and the bindings (all
    idempotent: declaring or binding again with the same arguments changes nothing)."""
    channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
    for queue, keys in ROUTES.items():
        channel.queue_declare(queue=queue, durable=True)
        for key in keys:
            channel.queue_bind(queue=queue, exchange=exchange, routing_key=key)


def make_task(task_type: str, task_data: dict, now: datetime | None = None) -> dict:
    """The task message, stamped with ``now`` in UTC (``...Z``); a naive ``now`` is UTC already."""
    if now is None:
        now = datetime.now(timezone.utc)
    elif now.tzinfo is None or now.utcoffset() is None:
        now = now.replace(tzinfo=timezone.utc)
    else:
        now = now.astimezone(timezone.utc)
    return {"taskType": task_type, "data": task_data, "timestamp": now.replace(tzinfo=None).isoformat() + "Z"}


def route_task(channel, task_type: str, task_data: dict, exchange: str = "tasks") -> str:
    """Publish one task to the exchange with routing key ``task.<type>``; return its message id.

    An unknown type is refused before anything is published: ``task.launch_rocket`` would still
    reach ``audit`` through ``task.#`` and look like a real task there.
    """
    if task_type not in TASK_TYPES:
        raise ValueError(f"unknown task type {task_type!r}")
    message_id = str(uuid.uuid4())
    channel.basic_publish(
        exchange=exchange,
        routing_key=f"task.{task_type}",
        body=json.dumps(make_task(task_type, task_data)),
        properties=pika.BasicProperties(content_type="application/json", message_id=message_id),
    )
    return message_id
