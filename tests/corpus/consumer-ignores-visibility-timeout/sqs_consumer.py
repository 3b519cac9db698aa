import json
import os
import random
import time

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body):
    try:
        task = json.loads(message_body)
    except json.JSONDecodeError as e:
        raise ValueError(str(e))
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
    # the queue already has a visibility timeout, no need to pass one
    processed = failed = empty = 0
    while processed < max_messages and empty < max_empty_polls:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, max_messages - processed),
            WaitTimeSeconds=wait_time_seconds,
        )
        messages = response.get("Messages", [])
        if not messages:
            empty += 1
            continue
        empty = 0
        for message in messages:
            try:
                handler(message["Body"])
            except Exception as e:
                failed += 1
                print("Error:", e)
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            processed += 1
    return {"processed": processed, "failed": failed}


def work(body):
    process_task(body)
    time.sleep(2)
    if random.random() < 0.1:
        raise Exception("Simulated processing error!")


def main():
    sqs = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    print(consume_messages(sqs, url, handler=work, max_messages=10))


if __name__ == "__main__":
    main()
