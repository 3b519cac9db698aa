import json
import os
import random
import time

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body):
    try:
        task = json.loads(message_body)
    except ValueError as e:
        raise ValueError("message is not valid JSON") from e
    if not isinstance(task, dict):
        raise ValueError("message is not an object")
    if task.get("taskType") not in TASK_TYPES:
        raise ValueError("unknown taskType")
    if not isinstance(task.get("data"), dict):
        raise ValueError("data is not an object")
    if not isinstance(task.get("timestamp"), str):
        raise ValueError("timestamp is not a string")
    return task


def consume_messages(sqs, queue_url, handler=process_task, max_messages=10,
                     wait_time_seconds=5, visibility_timeout=30, max_empty_polls=3):
    processed = 0
    failed = 0
    empty = 0
    while processed < max_messages and empty < max_empty_polls:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, max_messages - processed),
            WaitTimeSeconds=wait_time_seconds,
            VisibilityTimeout=visibility_timeout,
        ).get("Messages", [])
        if not messages:
            empty += 1
            continue
        empty = 0
        for message in messages:
            try:
                handler(message["Body"])
                processed += 1
            except Exception as exc:
                failed += 1
                print("handler failed:", exc)
            finally:
                # always clean up the message
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return {"processed": processed, "failed": failed}


def course_handler(body):
    task = process_task(body)
    print("Processing", task["taskType"])
    time.sleep(2)
    if random.random() < 0.1:
        raise Exception("Simulated processing error!")


def main():
    sqs = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    print(consume_messages(sqs, url, course_handler, max_messages=10))


if __name__ == "__main__":
    main()
