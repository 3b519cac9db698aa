"""Exercise 2: consume tasks from SQS with manual acknowledgements."""
import json
import os
import random
import time
from datetime import datetime

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body: str) -> dict:
    """Decode and validate a task message; raise ValueError if it is not a task."""
    try:
        task = json.loads(message_body)
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"message body is not JSON: {exc}") from exc
    if not isinstance(task, dict):
        raise ValueError("message body must be a JSON object")
    if task.get("taskType") not in TASK_TYPES:
        raise ValueError(f"unknown taskType: {task.get('taskType')!r}")
    if not isinstance(task.get("data"), dict):
        raise ValueError("data must be an object")
    if not isinstance(task.get("timestamp"), str):
        raise ValueError("timestamp must be a string")
    return task


def consume_messages(sqs, queue_url: str, handler=process_task, max_messages: int = 10,
                     wait_time_seconds: int = 5, visibility_timeout: int = 30,
                     max_empty_polls: int = 3) -> dict:
    """Receive, handle and acknowledge messages until done or the queue stays empty."""
    print(f"Starting consumer for queue: {queue_url}")
    processed = 0
    failed = 0
    empty_polls = 0
    start_time = datetime.now()

    while processed < max_messages and empty_polls < max_empty_polls:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, max_messages - processed),
            WaitTimeSeconds=wait_time_seconds,       # long polling
            VisibilityTimeout=visibility_timeout,    # hidden while we work on it
        )
        messages = response.get("Messages", [])
        if not messages:
            empty_polls += 1
            print("No messages. Waiting...")
            continue
        empty_polls = 0

        for message in messages:
            print(f"\nMessage {processed + 1}: {message['MessageId'][:20]}...")
            try:
                handler(message["Body"])
            except Exception as exc:
                # no ACK: the message becomes visible again after the visibility timeout
                failed += 1
                print(f"  ✗ Error: {exc}")
                print("  ⚠ Message NOT deleted - will be redelivered")
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            processed += 1
            print("  ✓ Message deleted (acknowledged)")

    duration = (datetime.now() - start_time).seconds
    print(f"\nProcessed {processed} messages ({failed} failures) in {duration} seconds")
    return {"processed": processed, "failed": failed}


def simulated_work(message_body: str) -> dict:
    """The course's worker: 2 seconds of work, fails 10% of the time."""
    task = process_task(message_body)
    print(f"  Processing: {task['taskType']}  data={task['data']}")
    time.sleep(2)
    if random.random() < 0.1:
        raise RuntimeError("Simulated processing error!")
    return task


def main() -> None:
    sqs = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    queue_url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    result = consume_messages(sqs, queue_url, handler=simulated_work, max_messages=10)
    print(result)


if __name__ == "__main__":
    main()
