"""Exercise 2: a consumer with manual acknowledgements (the course's step 2).

Replace each ``raise NotImplementedError`` with your code. Keep the names, arguments and defaults
exactly as they are: the grader calls them.

``sqs`` is a boto3 SQS client made by the caller; use it and make no client of your own, except in
``main()``. Importing this file must do nothing but define things.

The idea of the whole exercise: SQS delivers *at least once*. A message you receive is not gone,
only hidden for the visibility timeout. Deleting it is your acknowledgement (ack). If you never
delete it (your code crashed, or the handler failed), the broker delivers it again, maybe to
another consumer. So: delete only after the work is done, and never delete a message whose work
failed.
"""
from __future__ import annotations

# What you will need is imported already.
import json
import os
import random
import time

import boto3
from botocore.exceptions import ClientError

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body: str) -> dict:
    """Decode one message body and return the task (the decoded dict).

    Raise ``ValueError`` unless the body is a JSON object whose ``taskType`` is one of
    ``TASK_TYPES``, whose ``data`` is an object (a dict) and whose ``timestamp`` is a string.

    Only ``ValueError`` may come out, whatever is wrong with the body: ``json.loads`` already raises
    ``json.JSONDecodeError`` (a ``ValueError``) for text that is not JSON, but ``task["taskType"]``
    on a missing key raises ``KeyError``, and indexing a JSON list raises ``TypeError``. Check
    before you index, or turn those into ``ValueError``.

    Do no other work here: the course's version sleeps 2 seconds and fails 10% of the time to
    simulate work. That simulation belongs in ``main()``'s handler, not in the decoding.
    """
    raise NotImplementedError


def consume_messages(sqs, queue_url: str, handler=process_task, max_messages: int = 10,
                     wait_time_seconds: int = 5, visibility_timeout: int = 30,
                     max_empty_polls: int = 3) -> dict:
    """Receive, handle and acknowledge messages; return ``{"processed": n, "failed": m}``.

    Loop:

    1. Receive with ``sqs.receive_message(QueueUrl=..., MaxNumberOfMessages=..., WaitTimeSeconds=
       wait_time_seconds, VisibilityTimeout=visibility_timeout)`` on *every* call.

       - ``WaitTimeSeconds`` is long polling: on an empty queue the broker holds your request up to
         that many seconds, until a message arrives, instead of answering "nothing" at once.
       - ``VisibilityTimeout`` hides each message you receive from other consumers while you work.
       - ``MaxNumberOfMessages`` must be between 1 and 10, and never more than you still need to
         reach ``max_messages``: every message you receive is hidden from the other consumers for
         the visibility timeout, even if you never get round to it.

    2. For each message call ``handler(message["Body"])``.

       - If it returns, *then* delete the message (``delete_message`` with its ``ReceiptHandle``,
         or ``delete_message_batch``): that is the acknowledgement. Deleting before the handler
         runs is auto-ack: a crash during the work would lose the message.
       - If it raises (any exception, not only ``ValueError``), do not delete the message, count a
         failure and carry on. The broker delivers it again after the visibility timeout. A
         handler's error must never escape from ``consume_messages``. (Deleting in a ``finally``
         deletes failed messages too: don't.)

    3. Stop when ``max_messages`` messages have been handled and deleted, or after
       ``max_empty_polls`` receives *in a row* returned no message. A receive that brings messages
       starts the count again. The course's loop just prints "Waiting..." and ``continue``s: on an
       empty queue it never ends.

    Return ``{"processed": <messages handled and deleted>, "failed": <deliveries whose handler
    raised>}``; a message that fails twice counts two failures.
    """
    raise NotImplementedError


def main() -> None:
    """The course's step 2: consume up to 10 messages from ``task-queue``.

    Make the client like the producer does (``boto3.client("sqs", region_name=...)``), find the
    queue's URL with ``sqs.get_queue_url(QueueName="task-queue")``, and call ``consume_messages``
    with ``max_messages=10`` and a handler of your own that simulates the course's work: it
    decodes the body with ``process_task``, prints the task, sleeps 2 seconds (``time.sleep(2)``)
    and fails 10% of the time (``if random.random() < 0.1: raise ...``). Print the result.

    Run the producer first, then this, and watch failed messages come back after 30 seconds.
    """
    raise NotImplementedError


if __name__ == "__main__":
    main()
