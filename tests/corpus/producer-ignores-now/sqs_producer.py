"""Exercise 1, reference solution: put tasks on an SQS queue (the course's step 1).

Every function takes the SQS client from its caller (tests pass a mocked or local one); only
``main()`` builds a client, so ``AWS_ENDPOINT_URL`` and ``AWS_DEFAULT_REGION`` decide where it talks to.
"""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone

import boto3
from botocore.exceptions import ClientError

# SQS reports "a queue of that name exists with other attributes" under any of these codes,
# depending on the protocol (JSON or query) and the server (AWS, moto, LocalStack, ElasticMQ).
_QUEUE_EXISTS_CODES = frozenset({
    "QueueAlreadyExists",
    "QueueNameExists",
    "AWS.SimpleQueueService.QueueNameExists",
})

# The course's five sample tasks, in its order.
COURSE_TASKS: list[tuple[str, dict]] = [
    ("resize_image", {"image": "photo1.jpg", "size": "800x600"}),
    ("send_email", {"to": "user@example.com", "subject": "Welcome!"}),
    ("process_order", {"order_id": "ORD-12345", "amount": 99.99}),
    ("resize_image", {"image": "photo2.jpg", "size": "1920x1080"}),
    ("generate_report", {"report_type": "monthly", "month": "2024-01"}),
]


def _queue_exists_error(exc: ClientError) -> bool:
    """Whether a ClientError means "a queue of that name already exists"."""
    error = exc.response.get("Error", {})
    return bool({error.get("Code"), error.get("QueryErrorCode")} & _QUEUE_EXISTS_CODES)


def create_queue(sqs, queue_name: str, visibility_timeout: int = 30,
                 retention_period: int = 86400) -> str:
    """Create a standard queue and return its URL; reuse the queue if the name is taken.

    The visibility timeout is how long a received message stays hidden from other consumers
    before the broker assumes its consumer died and redelivers it; the retention period is how
    long an unconsumed message is kept. SQS's CreateQueue is idempotent only when the attributes
    match: with other attributes it fails with QueueAlreadyExists, so we look the queue up instead.
    The existing queue keeps its own attributes: changing them under other consumers is not a
    producer's call.
    """
    attributes = {
        "VisibilityTimeout": str(visibility_timeout),
        "MessageRetentionPeriod": str(retention_period),
    }
    try:
        return sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
    except ClientError as exc:
        if not _queue_exists_error(exc):
            raise
        return sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]


def make_task(task_type: str, task_data: dict, now: datetime | None = None) -> dict:
    """Build the message for one task, stamped with ``now`` in UTC (``...Z``).

    The course writes ``datetime.utcnow().isoformat() + 'Z'``, which is only right for a naive UTC
    time: an aware time would come out as ``...+01:00Z``. Here an aware ``now`` is converted to
    UTC and a naive one is taken to be UTC already, so every timestamp is comparable.
    """
    now = datetime.now(timezone.utc)  # the mistake: the caller's `now` is thrown away
    if now.tzinfo is None or now.utcoffset() is None:
        now = now.replace(tzinfo=timezone.utc)
    else:
        now = now.astimezone(timezone.utc)
    timestamp = now.replace(tzinfo=None).isoformat() + "Z"
    return {"taskType": task_type, "data": task_data, "timestamp": timestamp}


def send_task(sqs, queue_url: str, task_type: str, task_data: dict) -> str:
    """Send one task as a JSON message body and return the broker's MessageId."""
    body = json.dumps(make_task(task_type, task_data))
    return sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]


def queue_status(sqs, queue_url: str) -> dict:
    """Return how many messages wait (``available``) and how many are being processed (``in_flight``).

    SQS returns every attribute as a string, so they are converted to ints. Both are approximate:
    SQS is distributed and counts lag a little.
    """
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    ).get("Attributes", {})
    return {
        "available": int(attrs.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
    }


def main() -> None:
    """The course's step 1: create ``task-queue``, send its five tasks, print the queue status."""
    sqs = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    queue_url = create_queue(sqs, "task-queue", visibility_timeout=30, retention_period=86400)
    print(f"Queue ready: {queue_url}\n")

    print(f"Sending {len(COURSE_TASKS)} tasks to queue...")
    for task_type, task_data in COURSE_TASKS:
        message_id = send_task(sqs, queue_url, task_type, task_data)
        print(f"  {task_type:20s} -> MessageId: {message_id[:20]}...")
        time.sleep(0.5)

    status = queue_status(sqs, queue_url)
    print("\nQueue status:")
    print(f"  Messages available: {status['available']}")
    print(f"  Messages in flight: {status['in_flight']}")


if __name__ == "__main__":
    main()
