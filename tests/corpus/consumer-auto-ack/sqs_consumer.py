import json
import os
import random
import time

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body):
    try:
        task = json.loads(message_body)
    except ValueError:
        raise ValueError("not JSON")
    if not isinstance(task, dict) or task.get("taskType") not in TASK_TYPES:
        raise ValueError("bad taskType")
    if not isinstance(task.get("data"), dict) or not isinstance(task.get("timestamp"), str):
        raise ValueError("bad data or timestamp")
    return task


def consume_messages(sqs, queue_url, handler=process_task, max_messages=10,
                     wait_time_seconds=5, visibility_timeout=30, max_empty_polls=3):
    processed = failed = empty = 0
    while processed < max_messages and empty < max_empty_polls:
        resp = sqs.receive_message(QueueUrl=queue_url,
                                   MaxNumberOfMessages=min(10, max_messages - processed),
                                   WaitTimeSeconds=wait_time_seconds,
                                   VisibilityTimeout=visibility_timeout)
        msgs = resp.get("Messages", [])
        if not msgs:
            empty += 1
            continue
        empty = 0
        for m in msgs:
            # ack as soon as we have it, so nobody else gets it
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            try:
                handler(m["Body"])
                processed += 1
            except Exception as e:
                print("failed:", e)
                failed += 1
    return {"processed": processed, "failed": failed}


def handler(body):
    task = process_task(body)
    time.sleep(2)
    if random.random() < 0.1:
        raise Exception("Simulated processing error!")
    print("done", task["taskType"])


def main():
    sqs = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    print(consume_messages(sqs, url, handler=handler, max_messages=10))


if __name__ == "__main__":
    main()
