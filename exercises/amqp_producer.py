"""Exercise A1: a producer on RabbitMQ, durable and confirmed (the course's step 1 on AMQP).

Replace each ``raise NotImplementedError`` with your code. Keep the names and arguments exactly as
they are: the grader calls them.

Every function receives ``channel``, a ``pika`` ``BlockingChannel`` made by the caller and already
in *publisher-confirm* mode (the caller called ``channel.confirm_delivery()``). Use it, and open no
connection of your own inside these functions: only ``main()`` does, from ``AMQP_URL``. Importing
this file must do nothing but define things.

AMQP in one paragraph: producers publish to an *exchange*, never straight to a queue; the exchange
routes each message to the queues *bound* to it. The *default exchange* (named ``""``) is bound to
every queue by its name, so publishing to ``""`` with routing key ``"task-queue"`` puts the
message in the queue ``task-queue``.
"""
from __future__ import annotations

# What you will need is imported already.
import json
import os
import uuid
from datetime import datetime, timezone

import pika

def declare_queue(channel, queue_name: str, dead_letter_queue: str | None = None) -> None:
    """Declare ``queue_name`` as a durable queue, dead-lettering into ``dead_letter_queue`` if given.

    - ``channel.queue_declare(queue=..., durable=True)``: a *durable* queue survives a restart of
      the broker. Do not make it ``exclusive`` (only this connection could use it, and it dies
      with it) or ``auto_delete`` (it vanishes with its last consumer).
    - With a ``dead_letter_queue``: declare that queue too (durable), then declare ``queue_name``
      with ``arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key":
      dead_letter_queue}``. A message the consumer rejects *without requeue* (a poison message)
      then goes through the default exchange into the dead-letter queue instead of vanishing.

    Producers restart: declaring the same queue again with the same arguments must succeed and
    change nothing. (With *other* arguments the broker refuses with ``PRECONDITION_FAILED``.)
    """
    raise NotImplementedError


def make_task(task_type: str, task_data: dict, now: datetime | None = None) -> dict:
    """Return ``{"taskType": task_type, "data": task_data, "timestamp": T}``, as in exercise 1.

    ``T`` is ``now`` (by default the current time) in UTC, ISO-8601 ending in ``Z``, e.g.
    ``"2024-01-15T09:30:00Z"``: convert an aware ``now`` to UTC, take a naive one as UTC.
    """
    raise NotImplementedError


def send_task(channel, queue_name: str, task_type: str, task_data: dict) -> str:
    """Publish ``json.dumps(make_task(task_type, task_data))`` to ``queue_name``; return its message id.

    Use ``channel.basic_publish(exchange="", routing_key=queue_name, body=..., properties=...,
    mandatory=True)`` with ``pika.BasicProperties(delivery_mode=2, content_type="application/json",
    message_id=<a new unique string, e.g. str(uuid.uuid4())>)``, and return that message id.

    - ``delivery_mode=2`` makes the message *persistent*: written to disk, so it survives a broker
      restart. A durable queue alone keeps only its definition: its transient messages are lost.
    - The channel is in confirm mode: ``basic_publish`` returns once the broker has *confirmed*
      that it took the message (a publisher confirm), and raises if it refused it.
    - ``mandatory=True``: if no queue takes the message (``queue_name`` does not exist), the broker
      returns it, and ``basic_publish`` raises ``pika.exceptions.UnroutableError``. Let it
      propagate: without ``mandatory`` the broker would drop the task silently.
    """
    raise NotImplementedError


def queue_status(channel, queue_name: str) -> dict:
    """Return ``{"ready": int, "consumers": int}`` for an existing queue.

    ``channel.queue_declare(queue=queue_name, passive=True)`` only *looks*: it fails for a queue
    that does not exist instead of creating it. Its ``.method`` has ``message_count`` (messages
    ready for delivery; those delivered but not yet acknowledged are not counted) and
    ``consumer_count``.
    """
    raise NotImplementedError


def main() -> None:
    """The course's step 1: declare ``task-queue`` and send the five sample tasks.

    Connect with ``pika.BlockingConnection(pika.URLParameters(os.environ.get("AMQP_URL",
    "amqp://guest:guest@localhost:5672/%2F")))``, open a channel and call
    ``channel.confirm_delivery()`` on it. Declare ``task-queue`` with the dead-letter queue
    ``task-queue.dlq``, send the course's five sample tasks in order (the same as in exercise 1),
    print the queue status, close the connection.
    """
    raise NotImplementedError


if __name__ == "__main__":
    main()
