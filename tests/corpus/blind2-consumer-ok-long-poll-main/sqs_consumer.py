"""Exercise 2: SQS task consumer.

main() looks the queue up first (GetQueueUrl), then consumes with the longest
long poll SQS allows (20 s) and a 30 s visibility timeout.
"""

import json
import os
import random
import time

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")

QUEUE_NAME = "task-queue"


def process_task(message_body: str) -> dict:
    """Parse a task message.  ValueError if it is not a valid task."""
    try:
        task = json.loads(message_body)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError("message body must be JSON") from exc
    if not isinstance(task, dict):
        raise ValueError("message body must be a JSON object")
    if not any(isinstance(task.get("taskType"), str) and task.get("taskType") == t
               for t in TASK_TYPES):
        raise ValueError(f"taskType {task.get('taskType')!r} not in {TASK_TYPES}")
    if not isinstance(task.get("data"), dict):
        raise ValueError("data must be an object")
    if not isinstance(task.get("timestamp"), str):
        raise ValueError("timestamp must be a string")
    return task


def consume_messages(sqs, queue_url: str, handler=process_task, max_messages: int = 10,
                     wait_time_seconds: int = 5, visibility_timeout: int = 30,
                     max_empty_polls: int = 3) -> dict:
    processed = failed = 0
    consecutive_empty = 0

    while processed < max_messages:
        ask_for = min(10, max_messages - processed)
        print(f"Long polling up to {wait_time_seconds}s for {ask_for} message(s)...")
        reply = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=ask_for,
            WaitTimeSeconds=wait_time_seconds,
            VisibilityTimeout=visibility_timeout,
        )
        batch = reply.get("Messages") or []
        if batch:
            consecutive_empty = 0
        else:
            consecutive_empty += 1
            print(f"  nothing received ({consecutive_empty} in a row)")
            if consecutive_empty >= max_empty_polls:
                break
            continue

        for msg in batch:
            if processed >= max_messages:
                break
            ok = False
            try:
                handler(msg["Body"])
                ok = True
            except Exception as err:
                failed += 1
                print(f"  handler error: {err} -> not acknowledged, SQS will redeliver")
            if not ok:
                continue
            try:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
                processed += 1
                print(f"  acked {msg.get('MessageId', '')} ({processed}/{max_messages})")
            except Exception as err:
                print(f"  ack failed: {err} -> SQS will redeliver")

    print(f"processed={processed} failed={failed}")
    return {"processed": processed, "failed": failed}


def main() -> None:
    if not boto3.session.Session().region_name:
        os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    sqs = boto3.client("sqs")

    queue_url = sqs.get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
    print(f"Queue URL: {queue_url}")

    def handler(body: str) -> None:
        print(f"  working on {body[:50]}...")
        time.sleep(2)                    # two seconds of "work"
        if random.random() > 0.9:        # one time in ten
            raise RuntimeError("Simulated processing error!")

    consume_messages(sqs, queue_url, handler=handler, max_messages=10,
                     wait_time_seconds=20, visibility_timeout=30)


if __name__ == "__main__":
    main()
