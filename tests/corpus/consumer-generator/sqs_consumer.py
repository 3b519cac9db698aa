import json
import os
import random
import time

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body):
    try:
        task = json.loads(message_body)
    except Exception:
        raise ValueError("body is not JSON")
    ok = (
        type(task) is dict
        and isinstance(task.get("taskType"), str)
        and task["taskType"] in TASK_TYPES
        and type(task.get("data")) is dict
        and type(task.get("timestamp")) is str
    )
    if not ok:
        raise ValueError("not a task")
    return task


def _deliveries(sqs, queue_url, wanted, wait, visibility, max_empty_polls):
    """Yield received messages; ``wanted()`` says how many are still needed."""
    empty = 0
    while wanted() > 0:
        reply = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=min(10, wanted()),
                                    WaitTimeSeconds=wait, VisibilityTimeout=visibility)
        messages = reply.get("Messages") or []
        if messages:
            empty = 0
            yield from messages
        else:
            empty += 1
            if empty == max_empty_polls:
                return


def consume_messages(sqs, queue_url, handler=process_task, max_messages=10,
                     wait_time_seconds=5, visibility_timeout=30, max_empty_polls=3):
    counts = {"processed": 0, "failed": 0}
    if max_empty_polls <= 0:
        return counts
    deliveries = _deliveries(sqs, queue_url, lambda: max_messages - counts["processed"],
                             wait_time_seconds, visibility_timeout, max_empty_polls)
    for message in deliveries:
        try:
            handler(message["Body"])
        except Exception as error:
            counts["failed"] += 1
            print("handler failed, leaving the message for redelivery:", error)
            continue
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        counts["processed"] += 1
    return counts


def simulate(body):
    task = process_task(body)
    print("working on", task["taskType"])
    time.sleep(2)
    if random.random() < 0.1:
        raise Exception("Simulated processing error!")


def main():
    sqs = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    print(consume_messages(sqs, url, handler=simulate))


if __name__ == "__main__":
    main()
