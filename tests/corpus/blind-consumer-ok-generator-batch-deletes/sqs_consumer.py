"""SQS consumer: a generator of received messages and batch acknowledgements."""
import json
import os
import random
import time

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body: str) -> dict:
    try:
        task = json.loads(message_body)
    except ValueError as exc:
        raise ValueError("not JSON") from exc
    if not isinstance(task, dict):
        raise ValueError("not a JSON object")
    checks = (
        (task.get("taskType") in TASK_TYPES, "taskType"),
        (isinstance(task.get("data"), dict), "data"),
        (isinstance(task.get("timestamp"), str), "timestamp"),
    )
    for ok, field in checks:
        if not ok:
            raise ValueError(f"invalid {field}")
    return task


def _batches(sqs, queue_url, remaining, wait_time_seconds, visibility_timeout, max_empty_polls):
    """Yield non-empty lists of messages; stop after max_empty_polls empty receives in a row."""
    empty = 0
    while empty < max_empty_polls:
        want = remaining()
        if want <= 0:
            return
        reply = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max(1, min(10, want)),
            WaitTimeSeconds=wait_time_seconds,
            VisibilityTimeout=visibility_timeout,
        )
        batch = reply.get("Messages") or []
        if batch:
            empty = 0
            yield batch
        else:
            empty += 1


def consume_messages(sqs, queue_url: str, handler=process_task, max_messages: int = 10,
                     wait_time_seconds: int = 5, visibility_timeout: int = 30,
                     max_empty_polls: int = 3) -> dict:
    stats = {"processed": 0, "failed": 0}

    def remaining():
        return max_messages - stats["processed"]

    for batch in _batches(sqs, queue_url, remaining, wait_time_seconds,
                          visibility_timeout, max_empty_polls):
        done = []
        for i, message in enumerate(batch):
            try:
                handler(message["Body"])
            except Exception as exc:  # leave it on the queue for redelivery
                stats["failed"] += 1
                print(f"handler failed on {message['MessageId']}: {exc}")
            else:
                done.append({"Id": str(i), "ReceiptHandle": message["ReceiptHandle"]})
        if done:
            reply = sqs.delete_message_batch(QueueUrl=queue_url, Entries=done)
            stats["processed"] += len(reply.get("Successful", []))
            for entry in reply.get("Failed", []):
                print(f"could not delete entry {entry.get('Id')}: {entry.get('Message')}")
    return stats


def flaky_worker(message_body: str) -> dict:
    task = process_task(message_body)
    time.sleep(2)  # pretend to work
    if random.random() < 0.1:
        raise Exception("Simulated processing error!")
    return task


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    print(consume_messages(sqs, url, handler=flaky_worker, max_messages=10))


if __name__ == "__main__":
    main()
