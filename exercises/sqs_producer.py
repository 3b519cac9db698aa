"""Exercise 1: a producer that puts tasks on an SQS queue (the course's step 1).

Replace each ``raise NotImplementedError`` with your code. Keep the names and arguments exactly as
they are: the grader calls them.

Every function receives ``sqs``, a boto3 SQS client made by the caller (the grader hands you one
connected to its own broker). Use it, and never make a client of your own inside these functions:
only ``main()`` does, so that ``AWS_ENDPOINT_URL`` and ``AWS_DEFAULT_REGION`` from the environment
decide which broker it talks to. Importing this file must do nothing but define things.
"""
from __future__ import annotations

# What you will need is imported already.
import json
import os
import time
from datetime import datetime, timezone

import boto3
from botocore.exceptions import ClientError


def create_queue(sqs, queue_name: str, visibility_timeout: int = 30,
                 retention_period: int = 86400) -> str:
    """Create a standard queue named ``queue_name`` and return its URL.

    Set two attributes (SQS wants their values as strings):

    - ``VisibilityTimeout``: after a consumer receives a message, the broker hides it from everyone
      else for this many seconds. If the consumer has not deleted (acknowledged) it by then, the
      broker assumes the consumer died and delivers the message again.
    - ``MessageRetentionPeriod``: how long a message nobody consumed is kept before SQS drops it.

    Producers restart, so the queue may already exist. With the *same* attributes SQS simply
    returns its URL; with *other* attributes CreateQueue fails (a ``botocore.exceptions.ClientError``
    whose ``exc.response["Error"]["Code"]`` is ``QueueAlreadyExists``; boto3 also exposes it as
    ``sqs.exceptions.QueueNameExists``). In both cases return the existing queue's URL
    (``sqs.get_queue_url``) and do not fail. Let any other error propagate.
    """
    raise NotImplementedError


def make_task(task_type: str, task_data: dict, now: datetime | None = None) -> dict:
    """Return the task message ``{"taskType": task_type, "data": task_data, "timestamp": T}``.

    ``T`` is ``now`` (by default the current time) in UTC, as ISO-8601 ending in ``Z``, for
    example ``"2024-01-15T09:30:00Z"`` (fractional seconds are allowed).

    Consumers on other machines compare these times, so they must all be in UTC:

    - an aware ``now`` (one with a ``tzinfo``) must be *converted* to UTC first;
    - a naive ``now`` is taken to be UTC already.

    Watch out: the course writes ``datetime.utcnow().isoformat() + 'Z'``. That ignores ``now``, and
    on an aware time ``isoformat()`` already ends in ``+01:00`` or ``+00:00``: adding ``'Z'`` gives
    ``...+00:00Z``, which is not a valid timestamp.
    """
    raise NotImplementedError


def send_task(sqs, queue_url: str, task_type: str, task_data: dict) -> str:
    """Send ``make_task(task_type, task_data)`` to the queue and return the ``MessageId``.

    A message body is text: encode the task with ``json.dumps``. The consumer will decode it with
    ``json.loads``. The ``MessageId`` comes from the broker's reply to ``send_message``.
    """
    raise NotImplementedError


def queue_status(sqs, queue_url: str) -> dict:
    """Return ``{"available": int, "in_flight": int}`` for the queue.

    Read the queue attributes ``ApproximateNumberOfMessages`` (messages waiting to be received) and
    ``ApproximateNumberOfMessagesNotVisible`` (messages received by a consumer and not yet deleted:
    "in flight", hidden by the visibility timeout). SQS returns every attribute as a *string*:
    convert them to ``int``. A growing number of available messages means consumers are not keeping
    up (the course's question 3 on queue depth).
    """
    raise NotImplementedError


def main() -> None:
    """The course's step 1, on the broker your environment points at.

    1. Make the client: ``boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION") or
       "us-east-1")``; boto3 reads ``AWS_ENDPOINT_URL`` by itself.
    2. Create ``task-queue`` with the course's attributes (30 s visibility timeout, 1 day retention).
    3. Send the course's five sample tasks, in its order, pausing ``time.sleep(0.5)`` between
       sends like the course does:
       ``resize_image {"image": "photo1.jpg", "size": "800x600"}``,
       ``send_email {"to": "user@example.com", "subject": "Welcome!"}``,
       ``process_order {"order_id": "ORD-12345", "amount": 99.99}``,
       ``resize_image {"image": "photo2.jpg", "size": "1920x1080"}``,
       ``generate_report {"report_type": "monthly", "month": "2024-01"}``.
    4. Print each MessageId and then the queue status.
    """
    raise NotImplementedError


if __name__ == "__main__":
    main()
