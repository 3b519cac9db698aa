"""Exercise 2: SQS consumer with manual acknowledgements."""

import json
import random
import time

import boto3
from botocore.exceptions import NoRegionError

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body: str) -> dict:
    """Decode a message body and return the task; ValueError if it is not a valid task."""
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
    processed = 0
    failed = 0
    empty_polls = 0

    while processed < max_messages:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, max_messages - processed),
            WaitTimeSeconds=wait_time_seconds,
            VisibilityTimeout=visibility_timeout,
        )
        messages = response.get("Messages") or []
        if not messages:
            empty_polls += 1
            if empty_polls >= max_empty_polls:
                break
            continue
        empty_polls = 0

        for message in messages:
            if processed >= max_messages:
                break
            try:
                handler(message["Body"])
            except Exception as exc:
                failed += 1
                print(f"  Error: {exc} - message NOT deleted, will be redelivered")
                continue
            try:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            except Exception as exc:
                print(f"  Delete failed: {exc} - will be redelivered")
                continue
            processed += 1
            print(f"  Message deleted (acknowledged) [{processed}/{max_messages}]")

    return {"processed": processed, "failed": failed}


def simulated_work(message_body: str) -> dict:
    task = process_task(message_body)
    print(f"  Processing: {task['taskType']}")
    time.sleep(2)  # simulate 2 seconds of work
    # Simulate occasional failure
    if random.random() < 0.6:
        raise Exception("Simulated processing error!")
    print("    Completed successfully")
    return task


def main() -> None:
    try:
        sqs = boto3.client("sqs")
    except NoRegionError:
        sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    print(consume_messages(sqs, queue_url, handler=simulated_work, max_messages=10))


if __name__ == "__main__":
    main()
