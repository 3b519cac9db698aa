"""Exercise 2: SQS consumer (manual acks) with a summary report in main()."""

import json
import os
import random
import time
from datetime import datetime

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body: str) -> dict:
    """Decode a task message.  ValueError unless it is a well-formed task."""
    try:
        task = json.loads(message_body)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"invalid JSON: {exc}") from exc
    if not isinstance(task, dict):
        raise ValueError("task must be a JSON object")
    task_type = task.get("taskType")
    if not isinstance(task_type, str):
        raise ValueError("taskType must be a string")
    if task_type not in TASK_TYPES:
        raise ValueError(f"taskType must be one of {', '.join(TASK_TYPES)}")
    if not isinstance(task.get("data"), dict):
        raise ValueError("data must be a JSON object")
    if not isinstance(task.get("timestamp"), str):
        raise ValueError("timestamp must be a string")
    return task


def _receive(sqs, queue_url, count, wait_time_seconds, visibility_timeout):
    response = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=count,
        WaitTimeSeconds=wait_time_seconds,
        VisibilityTimeout=visibility_timeout,
    )
    return response.get("Messages") or []


def consume_messages(sqs, queue_url: str, handler=process_task, max_messages: int = 10,
                     wait_time_seconds: int = 5, visibility_timeout: int = 30,
                     max_empty_polls: int = 3) -> dict:
    """Receive, handle, then delete; failed messages stay for redelivery."""
    stats = {"processed": 0, "failed": 0}
    empty_polls = 0

    while stats["processed"] < max_messages and empty_polls < max_empty_polls:
        count = min(10, max_messages - stats["processed"])
        messages = _receive(sqs, queue_url, count, wait_time_seconds, visibility_timeout)
        if not messages:
            empty_polls += 1
            print(f"No messages (empty poll {empty_polls} of {max_empty_polls})")
            continue
        empty_polls = 0

        for message in messages[:count]:
            print(f"\nMessage {message.get('MessageId', '?')}")
            try:
                handler(message["Body"])
            except Exception as exc:
                stats["failed"] += 1
                print(f"  Error: {exc}")
                print("  Message NOT deleted - will be redelivered")
                continue
            try:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            except Exception as exc:
                print(f"  Could not delete ({exc}) - will be redelivered")
                continue
            stats["processed"] += 1
            print("  Message deleted (acknowledged)")

    return {"processed": stats["processed"], "failed": stats["failed"]}


def simulate_task(message_body: str) -> dict:
    """Decode the task, take 2 seconds, and fail one time in ten."""
    task = process_task(message_body)
    print(f"  Processing: {task['taskType']}")
    print(f"    Data: {task['data']}")
    print(f"    Timestamp: {task['timestamp']}")
    time.sleep(2)
    if random.randint(1, 10) == 1:
        raise Exception("Simulated processing error!")
    print("    Completed successfully")
    return task


def main() -> None:
    region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    sqs = boto3.client("sqs", region_name=region)
    queue_url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]

    print(f"Starting consumer for queue: {queue_url}")
    print("=" * 60)
    started = datetime.now()
    result = consume_messages(sqs, queue_url, handler=simulate_task, max_messages=10)
    elapsed = (datetime.now() - started).total_seconds()

    attempts = result["processed"] + result["failed"]
    print("\n" + "=" * 60)
    print("Summary")
    print(f"  Deliveries handled : {attempts}")
    print(f"  Acknowledged       : {result['processed']}")
    print(f"  Failed (redelivery): {result['failed']}")
    if attempts:
        print(f"  Failure rate       : {result['failed'] / attempts:.0%}")
    print(f"  Elapsed            : {elapsed:.1f}s")


if __name__ == "__main__":
    main()
