"""Exercise 2: consumer with manual acks, deleting each batch in one call."""
import json
import os
import random
import time

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body):
    try:
        task = json.loads(message_body)
    except (TypeError, ValueError) as exc:
        raise ValueError("not JSON") from exc
    if (not isinstance(task, dict) or task.get("taskType") not in TASK_TYPES
            or not isinstance(task.get("data"), dict) or not isinstance(task.get("timestamp"), str)):
        raise ValueError("not a valid task")
    return task


def consume_messages(sqs, queue_url, handler=process_task, max_messages=10,
                     wait_time_seconds=5, visibility_timeout=30, max_empty_polls=3):
    processed = failed = empty = 0
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
        done = []
        for message in messages:
            try:
                handler(message["Body"])
            except Exception as exc:
                failed += 1
                print(f"failed, left for redelivery: {exc}")
            else:
                done.append(message)
        if done:
            # Batch ack: only the messages whose handler returned.
            response = sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
            processed += len(response.get("Successful", []))
    return {"processed": processed, "failed": failed}


def simulated_work(body):
    task = process_task(body)
    print(f"Processing {task['taskType']}: {task['data']}")
    time.sleep(2)
    if random.random() < 0.1:
        raise RuntimeError("Simulated processing error!")


def main():
    sqs = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    queue_url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    print(consume_messages(sqs, queue_url, handler=simulated_work, max_messages=10))


if __name__ == "__main__":
    main()
