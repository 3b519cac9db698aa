"""Exercise 2: SQS consumer that backs off when the queue is empty.

After an empty receive it waits a little longer each time (2s, 4s, 8s, ...
capped at 8s) before polling again, so an idle worker does not hammer the
broker.  It still gives up after ``max_empty_polls`` empty receives in a row,
and it does not sleep after the last one (there is no next poll to wait for).
"""

import json
import random
import time

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")

BACKOFF_BASE_SECONDS = 2
BACKOFF_MAX_SECONDS = 8


def process_task(message_body: str) -> dict:
    """Decode and validate a task message; ValueError if it is not one."""
    try:
        task = json.loads(message_body)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError("message body is not JSON") from exc

    if not isinstance(task, dict):
        raise ValueError("message body is not a JSON object")
    if task.get("taskType") not in TASK_TYPES or not isinstance(task.get("taskType"), str):
        raise ValueError(f"bad taskType {task.get('taskType')!r}")
    if not isinstance(task.get("data"), dict):
        raise ValueError("bad data: must be an object")
    if not isinstance(task.get("timestamp"), str):
        raise ValueError("bad timestamp: must be a string")
    return task


def _backoff_seconds(empty_polls_in_a_row: int) -> float:
    return min(BACKOFF_BASE_SECONDS * 2 ** (empty_polls_in_a_row - 1), BACKOFF_MAX_SECONDS)


def consume_messages(sqs, queue_url: str, handler=process_task, max_messages: int = 10,
                     wait_time_seconds: int = 5, visibility_timeout: int = 30,
                     max_empty_polls: int = 3) -> dict:
    processed = 0
    failed = 0
    empty_in_a_row = 0

    print(f"Consuming from {queue_url} (up to {max_messages} messages)")

    while processed < max_messages:
        wanted = min(10, max_messages - processed)
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=wanted,
            WaitTimeSeconds=wait_time_seconds,
            VisibilityTimeout=visibility_timeout,
        )
        messages = response.get("Messages", [])

        if not messages:
            empty_in_a_row += 1
            if empty_in_a_row >= max_empty_polls:
                print(f"{empty_in_a_row} empty receives in a row - stopping")
                break
            pause = _backoff_seconds(empty_in_a_row)
            print(f"Queue empty ({empty_in_a_row}/{max_empty_polls}); backing off {pause}s")
            time.sleep(pause)
            continue

        empty_in_a_row = 0

        for message in messages:
            if processed >= max_messages:
                break
            try:
                handler(message["Body"])
            except Exception as exc:
                failed += 1
                print(f"  handler failed ({exc}); leaving message for redelivery")
                continue
            try:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            except Exception as exc:
                print(f"  delete failed ({exc}); message will be redelivered")
                continue
            processed += 1
            print(f"  acknowledged {message.get('MessageId', '')}")

    print(f"Finished: processed={processed}, failed={failed}")
    return {"processed": processed, "failed": failed}


def work(message_body: str) -> None:
    """Step 2's handler: 2 seconds of simulated work, fails 10% of the time."""
    print(f"  working on: {message_body[:60]}")
    time.sleep(2)
    if random.random() < 0.1:
        raise RuntimeError("Simulated processing error!")


def main() -> None:
    session = boto3.session.Session()
    sqs = boto3.client("sqs", region_name=session.region_name or "us-east-1")
    queue_url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    print(consume_messages(sqs, queue_url, handler=work, max_messages=10))


if __name__ == "__main__":
    main()
