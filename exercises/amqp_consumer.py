"""Exercise A2: a consumer with manual acknowledgements, prefetch and dead-lettering (the course's
step 2 on AMQP).

Replace each ``raise NotImplementedError`` with your code. Keep the names, arguments and defaults
exactly as they are: the grader calls them.

``channel`` is a ``pika`` ``BlockingChannel`` made by the caller (in publisher-confirm mode); use
it and open no connection of your own, except in ``main()``. Importing this file must do nothing
but define things.

How RabbitMQ delivers, and how it differs from SQS: the broker *pushes* messages to a consumer.
Each delivery stays *unacknowledged*, held for you and hidden from other consumers, until you ack
it (``basic_ack``), reject it (``basic_nack``/``basic_reject``), or your connection closes; then
the broker puts it back in the queue with the ``redelivered`` flag set. There is no visibility
timeout: a consumer holds a message as long as it is alive. So: ack only after the work is done.
"""
from __future__ import annotations

# What you will need is imported already.
import json
import os
import random
import time

import pika

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(body: bytes) -> dict:
    """Decode one message body (bytes, UTF-8 JSON) and return the task (the decoded dict).

    Raise ``ValueError`` unless the body is UTF-8 JSON for an object whose ``taskType`` is one of
    ``TASK_TYPES``, whose ``data`` is an object and whose ``timestamp`` is a string. Only
    ``ValueError`` may come out: ``json.loads`` and ``bytes.decode`` already raise ValueErrors
    (``JSONDecodeError``, ``UnicodeDecodeError``), but indexing a missing key raises ``KeyError``
    and indexing a list ``TypeError``. Do no other work here (no sleeping, no random failure).
    """
    raise NotImplementedError


def consume_messages(channel, queue_name: str, handler=process_task, max_messages: int = 10,
                     prefetch: int = 1, idle_timeout: float = 5.0) -> dict:
    """Consume, handle and acknowledge; return ``{"processed": n, "requeued": r, "dead_lettered": d}``.

    1. First ``channel.basic_qos(prefetch_count=prefetch)``: the broker then sends you at most
       ``prefetch`` unacknowledged deliveries at a time; the rest wait in the queue for other
       consumers. Without it one consumer grabs the whole queue.
    2. Consume with manual acknowledgements, never ``auto_ack=True`` (auto-ack: the broker forgets
       the message the moment it sends it; if you crash while handling it, it is lost). Either
       ``for method, properties, body in channel.consume(queue_name, inactivity_timeout=
       idle_timeout)`` (it yields ``(None, None, None)`` after ``idle_timeout`` seconds without a
       delivery), or ``basic_consume`` with a callback, or polling with ``basic_get``.
    3. For each delivery call ``handler(body)``:

       - it returns: *then* ``channel.basic_ack(method.delivery_tag)``. (Acking several at once
         with ``multiple=True`` is fine when every delivery it covers has been handled.)
       - it raises (any exception): if ``method.redelivered`` is false, reject with
         ``requeue=True`` (``basic_nack`` or ``basic_reject``) so it is tried again; if it is
         true, the message failed before: reject it with ``requeue=False`` and the queue's
         dead-letter exchange takes it. Requeueing a *poison message* every time makes a requeue
         storm: it comes back at once, for ever. A handler's error must never escape.

    4. Stop once ``max_messages`` deliveries have been handled and acked, or after ``idle_timeout``
       seconds without a delivery (time spent in the handler does not count). Before returning,
       cancel your consumer (``channel.cancel()`` for ``consume()``, ``basic_cancel`` for
       ``basic_consume``): pika then requeues the deliveries it received for you but you never
       handled. Otherwise they stay held by you, and no other consumer gets them.

    Return the deliveries handled and acked (``processed``), those rejected with requeue
    (``requeued``) and those rejected without (``dead_lettered``).
    """
    raise NotImplementedError


def main() -> None:
    """The course's step 2 on RabbitMQ: consume up to 10 messages from ``task-queue``.

    Connect like the producer's ``main()`` (``AMQP_URL``, a channel, ``confirm_delivery()``), then
    call ``consume_messages`` on ``task-queue`` with ``max_messages=10`` and a handler of your own
    that decodes the body with ``process_task``, prints the task, sleeps 2 seconds
    (``time.sleep(2)``) and fails 10% of the time (``if random.random() < 0.1: raise ...``).
    Print the result and close the connection.
    """
    raise NotImplementedError


if __name__ == "__main__":
    main()
