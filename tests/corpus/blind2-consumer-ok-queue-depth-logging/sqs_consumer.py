"""Exercise 2: a very talkative SQS consumer.

Before every receive it asks the broker how deep the queue is
(ApproximateNumberOfMessages / ApproximateNumberOfMessagesNotVisible) and logs
it, so you can watch messages move from "available" to "in flight" and back.
It logs every message, every ack and every failure.
"""

import json
import os
import random
import time
from datetime import datetime

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")

DEPTH_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


def _log(text: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S.%f')[:-3]}] {text}", flush=True)


def process_task(message_body: str) -> dict:
    """Return the task in ``message_body``; ValueError if it is not a valid task."""
    try:
        task = json.loads(message_body)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"not a JSON message body: {exc}") from exc

    if type(task) is not dict:
        raise ValueError(f"expected a JSON object, got {type(task).__name__}")

    problems = []
    if not (isinstance(task.get("taskType"), str) and task["taskType"] in TASK_TYPES):
        problems.append(f"taskType {task.get('taskType')!r} is not one of {TASK_TYPES}")
    if not isinstance(task.get("data"), dict):
        problems.append("data is not an object")
    if not isinstance(task.get("timestamp"), str):
        problems.append("timestamp is not a string")
    if problems:
        raise ValueError("invalid task: " + "; ".join(problems))

    return task


def _log_queue_depth(sqs, queue_url: str) -> None:
    """Purely informational: a failure here must never stop the consumer."""
    try:
        attrs = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=DEPTH_ATTRIBUTES
        ).get("Attributes", {})
        _log(f"queue depth: available={attrs.get('ApproximateNumberOfMessages', '?')} "
             f"in_flight={attrs.get('ApproximateNumberOfMessagesNotVisible', '?')}")
    except Exception as exc:
        _log(f"queue depth: unavailable ({exc!r})")


def consume_messages(sqs, queue_url: str, handler=process_task, max_messages: int = 10,
                     wait_time_seconds: int = 5, visibility_timeout: int = 30,
                     max_empty_polls: int = 3) -> dict:
    """Manual-ack consumer: delete a message only after ``handler`` returned for it."""
    processed = 0
    failed = 0
    empty_in_a_row = 0
    started = time.monotonic()

    _log(f"consumer starting on {queue_url}")
    _log(f"settings: max_messages={max_messages} wait_time_seconds={wait_time_seconds} "
         f"visibility_timeout={visibility_timeout} max_empty_polls={max_empty_polls}")

    while processed < max_messages:
        _log_queue_depth(sqs, queue_url)

        batch_size = max(1, min(10, max_messages - processed))
        _log(f"receive: asking for up to {batch_size} message(s), long polling {wait_time_seconds}s")
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=batch_size,
            WaitTimeSeconds=wait_time_seconds,
            VisibilityTimeout=visibility_timeout,
        )
        messages = response.get("Messages") or []
        _log(f"receive: got {len(messages)} message(s)")

        if not messages:
            empty_in_a_row += 1
            _log(f"empty receive {empty_in_a_row} of {max_empty_polls} allowed in a row")
            if empty_in_a_row >= max_empty_polls:
                _log("giving up: queue stayed empty")
                break
            continue
        empty_in_a_row = 0

        for index, message in enumerate(messages, start=1):
            if processed >= max_messages:
                _log("reached max_messages; leaving the rest for redelivery")
                break

            _log(f"message {index}/{len(messages)} id={message.get('MessageId')} "
                 f"receive_count={message.get('Attributes', {}).get('ApproximateReceiveCount', '?')}")
            _log(f"  body: {message.get('Body')!r}")

            try:
                result = handler(message["Body"])
            except Exception as exc:
                failed += 1
                _log(f"  handler raised {type(exc).__name__}: {exc}")
                _log("  NOT acknowledged: the broker will redeliver it after the visibility timeout")
                continue
            _log(f"  handler returned {result!r}")

            try:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            except Exception as exc:
                _log(f"  delete failed ({exc!r}): message will come back")
                continue
            processed += 1
            _log(f"  acknowledged (deleted). processed={processed} failed={failed}")

    _log_queue_depth(sqs, queue_url)
    _log(f"consumer finished in {time.monotonic() - started:.1f}s: "
         f"processed={processed} failed={failed}")
    return {"processed": processed, "failed": failed}


def handle_with_simulated_work(message_body: str):
    task = process_task(message_body)
    _log(f"  working on {task['taskType']} with {task['data']} (queued at {task['timestamp']})")
    time.sleep(2)
    if random.random() < 0.1:
        raise Exception("Simulated processing error!")
    _log("  work done")
    return task


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    sqs = boto3.client("sqs")
    queue_url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    _log(f"task-queue is at {queue_url}")
    summary = consume_messages(sqs, queue_url, handler=handle_with_simulated_work, max_messages=10)
    _log(f"summary: {summary}")


if __name__ == "__main__":
    main()
