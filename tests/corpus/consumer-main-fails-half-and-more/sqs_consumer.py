"""Exercise 2, reference solution: a consumer with manual acknowledgements (the course's step 2).

SQS gives at-least-once delivery: a received message is only hidden for the visibility timeout,
and it is gone for good only when the consumer deletes it. Deleting is the acknowledgement, so we
delete a message only after its handler has returned, and never delete one whose handler failed.
"""
from __future__ import annotations

import json
import os
import random
import time
from typing import Callable

import boto3
from botocore.exceptions import ClientError

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")

# SQS never returns more than 10 messages per ReceiveMessage call.
_SQS_MAX_BATCH = 10


def process_task(message_body: str) -> dict:
    """Decode and validate one task message; raise ValueError if it is not a valid task.

    Only ValueError leaves this function, whatever is wrong with the body, so a caller can tell
    "bad message" from "bug". It does no other work: the simulated 2-second job and random failure
    of the course live in ``main()``'s handler, so this function is safe to test and reuse.
    """
    try:
        task = json.loads(message_body)
    except (TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError; None/int give TypeError
        raise ValueError(f"message body is not JSON: {exc}") from exc
    if not isinstance(task, dict):
        raise ValueError(f"a task must be a JSON object, not {type(task).__name__}")
    task_type = task.get("taskType")
    if not isinstance(task_type, str) or task_type not in TASK_TYPES:
        raise ValueError(f"unknown or missing taskType: {task_type!r}")
    if not isinstance(task.get("data"), dict):
        raise ValueError("a task's data must be a JSON object")
    if not isinstance(task.get("timestamp"), str):
        raise ValueError("a task's timestamp must be a string")
    return task


def consume_messages(sqs, queue_url: str, handler: Callable[[str], object] = process_task,
                     max_messages: int = 10, wait_time_seconds: int = 5,
                     visibility_timeout: int = 30, max_empty_polls: int = 3) -> dict:
    """Receive, handle and acknowledge messages until ``max_messages`` are done or the queue stays empty.

    - Long polling (``WaitTimeSeconds``) makes an empty receive wait for a message instead of
      returning at once, so an idle consumer does not hammer the broker.
    - We ask for at most the number of messages still needed: every message received is hidden
      from the other consumers for the visibility timeout, even if we never get to it.
    - A handler's error is caught and counted; its message stays undeleted, so the broker
      redelivers it after the visibility timeout (at-least-once delivery).
    - The course's loop never ends when the queue runs dry; here ``max_empty_polls`` empty
      receives *in a row* stop the consumer (a receive that brings messages resets the count).

    Returns ``{"processed": handled and deleted, "failed": deliveries whose handler raised}``.
    """
    processed = failed = 0
    empty_polls = 0
    while processed < max_messages and empty_polls < max_empty_polls:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(_SQS_MAX_BATCH, max_messages - processed),
            WaitTimeSeconds=wait_time_seconds,
            VisibilityTimeout=visibility_timeout,
        )
        messages = response.get("Messages", [])
        if not messages:
            empty_polls += 1
            continue
        empty_polls = 0
        for message in messages:
            try:
                handler(message["Body"])
            except Exception as exc:  # any handler error: no ack, count it, carry on
                failed += 1
                print(f"  handler failed ({exc!r}): message not deleted, "
                      "the broker will redeliver it")
                continue
            # The handler returned: now, and only now, acknowledge.
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            processed += 1
    return {"processed": processed, "failed": failed}


def _course_handler(message_body: str) -> dict:
    """The course's simulated job: validate, "work" for 2 seconds, fail 10% of the time."""
    task = process_task(message_body)
    print(f"\n  Processing: {task['taskType']}")
    print(f"    Data: {task['data']}")
    print(f"    Timestamp: {task['timestamp']}")
    time.sleep(2)
    if random.random() < 0.6:  # 60%, not 10%
        raise RuntimeError("Simulated processing error!")
    print("    Completed successfully")
    return task


def main() -> None:
    """The course's step 2: consume up to 10 messages from ``task-queue``."""
    sqs = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    try:
        queue_url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    except ClientError as exc:
        raise SystemExit(f"task-queue not found ({exc}); run sqs_producer.py first") from exc
    print(f"Starting consumer for queue: {queue_url}")
    started = time.monotonic()
    result = consume_messages(sqs, queue_url, handler=_course_handler, max_messages=10)
    print(f"\nProcessed {result['processed']} messages, {result['failed']} failed deliveries, "
          f"in {time.monotonic() - started:.0f} seconds")


if __name__ == "__main__":
    main()
