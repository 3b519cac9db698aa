"""Exercise A3: a topic exchange that routes each task to the queue that wants it.

Replace each ``raise NotImplementedError`` with your code. Keep the names and arguments exactly as
they are: the grader calls them. ``channel`` is a ``pika`` ``BlockingChannel`` in confirm mode,
made by the caller. Importing this file must do nothing but define things.

One queue gives each message to one consumer. To send image tasks to the image workers and email
tasks to the mailers, *and* keep a copy of every task for auditing, you need an exchange: it
copies each message to every queue whose *binding key* matches the message's *routing key*.
A ``topic`` exchange compares them word by word (words are separated by ``.``): in a binding key
``*`` matches exactly one word and ``#`` zero or more words. So ``task.#`` matches
``task.send_email`` and ``task.resize_image.thumbnail``; ``task.*`` matches only the first.
"""
from __future__ import annotations

# What you will need is imported already.
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
    """Declare the exchange, the queues and the bindings of ``ROUTES``.

    - ``channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)``;
    - for each queue name in ``ROUTES``: ``channel.queue_declare(queue=name, durable=True)``, then
      ``channel.queue_bind(queue=name, exchange=exchange, routing_key=key)`` for each of its keys.

    Calling it again must succeed and change nothing (declarations and bindings are idempotent).
    """
    raise NotImplementedError


def make_task(task_type: str, task_data: dict, now: datetime | None = None) -> dict:
    """Return ``{"taskType": task_type, "data": task_data, "timestamp": T}``, as in exercise 1:
    ``T`` is ``now`` (default: the current time) in UTC, ISO-8601 ending in ``Z``."""
    raise NotImplementedError


def route_task(channel, task_type: str, task_data: dict, exchange: str = "tasks") -> str:
    """Publish one task to ``exchange`` with routing key ``task.<task_type>``; return its message id.

    Raise ``ValueError``, publishing nothing, if ``task_type`` is not one of ``TASK_TYPES``: through
    ``task.#`` an unknown task would still reach ``audit`` and look real there.

    Publish ``json.dumps(make_task(...))`` with ``mandatory=True`` and
    ``pika.BasicProperties(delivery_mode=2, content_type="application/json", message_id=<new
    unique string>)``, as the producer's ``send_task`` does, and return the message id.
    """
    raise NotImplementedError
