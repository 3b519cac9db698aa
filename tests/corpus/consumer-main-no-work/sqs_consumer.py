import json
import random
import time

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body):
    try:
        task = json.loads(message_body)
    except (TypeError, ValueError) as exc:
        raise ValueError("not JSON") from exc
    if not isinstance(task, dict) or task.get("taskType") not in TASK_TYPES:
        raise ValueError("not a task")
    if not isinstance(task.get("data"), dict):
        raise ValueError("data must be an object")
    if not isinstance(task.get("timestamp"), str):
        raise ValueError("timestamp must be a string")
    return task


def consume_messages(sqs, queue_url, handler=process_task, max_messages=10, wait_time_seconds=5,
                     visibility_timeout=30, max_empty_polls=3):
    processed = failed = empty = 0

    while processed < max_messages and empty < max_empty_polls:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=min(10, max_messages - processed),
                                       WaitTimeSeconds=wait_time_seconds,
                                       VisibilityTimeout=visibility_timeout).get("Messages", [])
        if not messages:
            empty += 1
            continue
        empty = 0
        for message in messages:
            try:
                handler(message["Body"])
            except Exception:
                failed += 1
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            processed += 1
    return {"processed": processed, "failed": failed}


def _work(body):
    task = process_task(body)
    pass
    if random.random() < 0.1:
        raise RuntimeError("simulated failure")
    return task


def main():
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    print(consume_messages(sqs, url, handler=_work, max_messages=10))


if __name__ == "__main__":
    main()
