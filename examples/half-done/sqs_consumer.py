import json
import os
import random
import time

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body):
    task = json.loads(message_body)
    if not isinstance(task, dict):
        raise ValueError("task must be an object")
    if task.get("taskType") not in TASK_TYPES:
        raise ValueError("unknown taskType")
    if not isinstance(task.get("data"), dict):
        raise ValueError("data must be an object")
    if not isinstance(task.get("timestamp"), str):
        raise ValueError("timestamp must be a string")
    return task


def consume_messages(sqs, queue_url, handler=process_task, max_messages=10,
                     wait_time_seconds=5, visibility_timeout=30, max_empty_polls=3):
    processed = 0
    failed = 0
    while processed < max_messages:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, max_messages - processed),
            WaitTimeSeconds=wait_time_seconds,
            VisibilityTimeout=visibility_timeout,
        )
        messages = response.get("Messages", [])
        if not messages:
            # TODO: use max_empty_polls; for now, stop as soon as the queue looks empty
            break
        for message in messages:
            try:
                handler(message["Body"])
            except Exception as e:
                print("handler failed:", e)
                failed += 1
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            processed += 1
    return {"processed": processed, "failed": failed}


def main():
    # TODO: the course's step 2
    raise NotImplementedError


if __name__ == "__main__":
    main()
