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
        raise ValueError(f"invalid JSON: {e}")
    if not isinstance(task, dict):
        raise ValueError("expected a JSON object")
    if task.get("taskType") not in TASK_TYPES:
        raise ValueError(f"unknown taskType {task.get('taskType')!r}")
    if not isinstance(task.get("data"), dict):
        raise ValueError("data must be an object")
    if not isinstance(task.get("timestamp"), str):
        raise ValueError("timestamp must be a string")
    return task


def consume_messages(sqs, queue_url, handler=process_task, max_messages=10,
                     wait_time_seconds=5, visibility_timeout=30, max_empty_polls=3):
    processed = 0
    failed = 0
    empty_in_a_row = 0
    while processed < max_messages:
        if empty_in_a_row >= max_empty_polls:
            print("Queue stayed empty, stopping.")
            break
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=1,  # one at a time, like the course
            WaitTimeSeconds=wait_time_seconds,
            VisibilityTimeout=visibility_timeout,
        )
        if "Messages" not in response or not response["Messages"]:
            empty_in_a_row += 1
            continue
        empty_in_a_row = 0
        message = response["Messages"][0]
        try:
            handler(message["Body"])
        except Exception as e:
            failed += 1
            print(f"Error: {e} - message not deleted, it will be redelivered")
            continue
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        processed += 1
    return {"processed": processed, "failed": failed}


def work(body):
    task = process_task(body)
    print(f"Processing {task['taskType']} {task['data']}")
    time.sleep(2)
    if random.random() < 0.1:
        raise Exception("Simulated processing error!")


def main():
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    sqs = boto3.client("sqs", region_name=region)
    url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    result = consume_messages(sqs, url, handler=work, max_messages=10)
    print(f"Processed {result['processed']}, failed {result['failed']}")


if __name__ == "__main__":
    main()
