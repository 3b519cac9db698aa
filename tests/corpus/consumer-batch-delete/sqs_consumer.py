"""Consumer that handles up to 10 messages per receive and acks them with one DeleteMessageBatch."""
import json
import os
import random
import time

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body):
    try:
        task = json.loads(message_body)
        task_type, data, timestamp = task["taskType"], task["data"], task["timestamp"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"malformed task: {exc!r}") from exc
    if task_type not in TASK_TYPES or not isinstance(data, dict) or not isinstance(timestamp, str):
        raise ValueError("malformed task")
    return task


def consume_messages(sqs, queue_url, handler=process_task, max_messages=10,
                     wait_time_seconds=5, visibility_timeout=30, max_empty_polls=3):
    stats = {"processed": 0, "failed": 0}
    empty = 0
    while stats["processed"] < max_messages and empty < max_empty_polls:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max(1, min(10, max_messages - stats["processed"])),
            WaitTimeSeconds=wait_time_seconds,
            VisibilityTimeout=visibility_timeout,
        ).get("Messages", [])
        empty = 0 if batch else empty + 1
        acks = []
        for n, msg in enumerate(batch):
            try:
                handler(msg["Body"])
            except Exception:
                stats["failed"] += 1
            else:
                acks.append({"Id": f"m{n}", "ReceiptHandle": msg["ReceiptHandle"]})
        if acks:
            result = sqs.delete_message_batch(QueueUrl=queue_url, Entries=acks)
            stats["processed"] += len(result.get("Successful", []))
    return stats


def course_handler(body):
    task = process_task(body)
    print("Processing:", task["taskType"])
    time.sleep(2)
    if random.random() < 0.1:
        raise RuntimeError("Simulated processing error!")


def main():
    sqs = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    queue_url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    print(consume_messages(sqs, queue_url, course_handler, max_messages=10))


if __name__ == "__main__":
    main()
