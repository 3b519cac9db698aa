import json
import os
import random
import time

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")

# Module-level client for ad-hoc experiments; consume_messages uses the one it is given.
client = boto3.client("sqs", region_name=os.getenv("AWS_DEFAULT_REGION", "us-east-1"))


def _invalid(reason):
    return ValueError(f"invalid task message: {reason}")


def process_task(message_body: str) -> dict:
    try:
        task = json.loads(message_body)
    except Exception as exc:
        raise _invalid("body is not JSON") from exc
    if not isinstance(task, dict):
        raise _invalid("not an object")
    if "taskType" not in task or task["taskType"] not in TASK_TYPES:
        raise _invalid("taskType")
    if "data" not in task or not isinstance(task["data"], dict):
        raise _invalid("data")
    if "timestamp" not in task or not isinstance(task["timestamp"], str):
        raise _invalid("timestamp")
    return task


def _receive(sqs, queue_url, count, wait, visibility):
    return sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=count,
        WaitTimeSeconds=wait,
        VisibilityTimeout=visibility,
    ).get("Messages", [])


def _ack_batch(sqs, queue_url, messages):
    """Delete handled messages in one call; return how many the broker confirmed."""
    if not messages:
        return 0
    entries = [{"Id": f"m{n}", "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
    result = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    return len(result.get("Successful", []))


def consume_messages(sqs, queue_url: str, handler=process_task, max_messages: int = 10,
                     wait_time_seconds: int = 5, visibility_timeout: int = 30,
                     max_empty_polls: int = 3) -> dict:
    processed = failed = empty = 0
    while processed < max_messages and empty < max_empty_polls:
        count = min(10, max_messages - processed)
        messages = _receive(sqs, queue_url, count, wait_time_seconds, visibility_timeout)
        if not messages:
            empty += 1
            continue
        empty = 0
        handled = []
        for m in messages:
            try:
                handler(m["Body"])
                handled.append(m)
            except Exception as exc:
                failed += 1
                print("task failed, leaving it for redelivery:", exc)
        processed += _ack_batch(sqs, queue_url, handled)
    return {"processed": processed, "failed": failed}


def simulate(message_body: str) -> dict:
    task = process_task(message_body)
    time.sleep(2)
    if random.random() < 0.1:
        raise RuntimeError("Simulated processing error!")
    return task


def main() -> None:
    sqs = boto3.client("sqs", region_name=os.getenv("AWS_DEFAULT_REGION") or "us-east-1")
    queue_url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    stats = consume_messages(sqs, queue_url, handler=simulate, max_messages=10)
    print("Processed", stats["processed"], "failed", stats["failed"])


if __name__ == "__main__":
    main()
