"""Exercise 2: SQS consumer with manual acknowledgements.

This consumer is deliberately conservative: it asks the broker for exactly ONE
message per receive call and acknowledges (deletes) every message on its own,
right after its handler has returned.  Slower than batching, but it is the
course's "process one at a time" style taken literally.
"""

import json
import random
import time

import boto3
from botocore.exceptions import NoRegionError

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body: str) -> dict:
    """Decode a message body and return the task it holds.

    Raises ValueError unless the body is a JSON object whose ``taskType`` is one
    of TASK_TYPES, whose ``data`` is an object and whose ``timestamp`` is a
    string.  Does nothing else.
    """
    try:
        task = json.loads(message_body)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"message body is not valid JSON: {exc}") from exc

    if not isinstance(task, dict):
        raise ValueError("message body must be a JSON object")

    task_type = task.get("taskType")
    if not isinstance(task_type, str) or task_type not in TASK_TYPES:
        raise ValueError(f"unknown taskType: {task_type!r}")

    if not isinstance(task.get("data"), dict):
        raise ValueError("'data' must be a JSON object")

    if not isinstance(task.get("timestamp"), str):
        raise ValueError("'timestamp' must be a string")

    return task


def consume_messages(sqs, queue_url: str, handler=process_task, max_messages: int = 10,
                     wait_time_seconds: int = 5, visibility_timeout: int = 30,
                     max_empty_polls: int = 3) -> dict:
    """Consume messages one by one, deleting each only after its handler returned."""
    processed = 0
    failed = 0
    empty_polls = 0
    poll_number = 0

    print(f"Starting one-at-a-time consumer for queue: {queue_url}")
    print("=" * 60)

    while processed < max_messages:
        poll_number += 1
        print(f"[poll {poll_number}] asking for 1 message "
              f"(wait {wait_time_seconds}s, visibility {visibility_timeout}s)")

        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=1,              # one at a time, always <= what is left
            WaitTimeSeconds=wait_time_seconds,  # long polling
            VisibilityTimeout=visibility_timeout,
        )
        messages = response.get("Messages") or []

        if not messages:
            empty_polls += 1
            print(f"[poll {poll_number}] no message ({empty_polls}/{max_empty_polls} empty in a row)")
            if empty_polls >= max_empty_polls:
                print("Queue looks empty, stopping.")
                break
            continue

        empty_polls = 0

        for message in messages:
            if processed >= max_messages:
                # Never happens with MaxNumberOfMessages=1, but never over-consume:
                # whatever is left will simply become visible again.
                break

            message_id = message.get("MessageId", "?")
            print(f"\nMessage {processed + failed + 1}: ID {str(message_id)[:20]}...")

            try:
                handler(message["Body"])
            except Exception as exc:  # a handler's error never escapes
                failed += 1
                print(f"  x handler failed: {exc!r}")
                print("  ! message NOT deleted - it will be redelivered after the visibility timeout")
                continue

            try:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            except Exception as exc:
                print(f"  ! could not delete message ({exc!r}); it will be redelivered")
                continue

            processed += 1
            print(f"  ok message deleted (acknowledged) - {processed}/{max_messages}")

    print("\n" + "=" * 60)
    print(f"Done: {processed} processed, {failed} failed")
    return {"processed": processed, "failed": failed}


def simulated_work(message_body: str) -> dict:
    """The course's step 2 handler: decode, 2 seconds of work, 10% failure."""
    task = process_task(message_body)
    print(f"  Processing: {task['taskType']}")
    print(f"    Data: {task['data']}")
    print(f"    Timestamp: {task['timestamp']}")

    time.sleep(2)  # simulate processing time

    if random.random() < 0.1:  # simulate occasional failure (10% chance)
        raise RuntimeError("Simulated processing error!")

    print("    ok completed successfully")
    return task


def _make_client():
    try:
        return boto3.client("sqs")
    except NoRegionError:
        return boto3.client("sqs", region_name="us-east-1")


def main() -> None:
    sqs = _make_client()
    queue_url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    # Consume up to 10 messages.
    result = consume_messages(sqs, queue_url, handler=simulated_work, max_messages=10)
    print(result)


if __name__ == "__main__":
    main()
