"""A consumer with the classic auto-ack mistake: it deletes each message *before* handling it.

The lab must catch it: when a handler crashes after the delete, the task is gone unhandled.
"""
import json

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body):
    task = json.loads(message_body)
    if not isinstance(task, dict) or task.get("taskType") not in TASK_TYPES:
        raise ValueError("not a task")
    return task


def consume_messages(sqs, queue_url, handler=process_task, max_messages=10, wait_time_seconds=5,
                     visibility_timeout=30, max_empty_polls=3):
    processed = failed = empty = 0
    while processed < max_messages and empty < max_empty_polls:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=min(10, max_messages - processed),
                                       WaitTimeSeconds=wait_time_seconds,
                                       VisibilityTimeout=visibility_timeout).get("Messages", [])
        if not messages:
            empty += 1
            continue
        empty = 0
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            try:
                handler(message["Body"])
            except Exception:
                failed += 1
                continue
            processed += 1
    return {"processed": processed, "failed": failed}
