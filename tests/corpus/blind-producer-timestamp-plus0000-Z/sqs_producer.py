"""SQS producer -- lookup first, create only when the queue is missing."""
import json
import os
from datetime import datetime, timezone

import boto3
import botocore.exceptions

TASKS = (
    ("resize_image", {"image": "photo1.jpg", "size": "800x600"}),
    ("send_email", {"to": "user@example.com", "subject": "Welcome!"}),
    ("process_order", {"order_id": "ORD-12345", "amount": 99.99}),
    ("resize_image", {"image": "photo2.jpg", "size": "1920x1080"}),
    ("generate_report", {"report_type": "monthly", "month": "2024-01"}),
)


def create_queue(sqs, queue_name: str, visibility_timeout: int = 30,
                 retention_period: int = 86400) -> str:
    try:
        return sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    except botocore.exceptions.ClientError:
        pass  # does not exist yet
    attributes = {
        "VisibilityTimeout": str(visibility_timeout),
        "MessageRetentionPeriod": str(retention_period),
    }
    try:
        return sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
    except botocore.exceptions.ClientError:
        # someone else created it between our lookup and our create
        return sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]


def _utc_iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat() + "Z"


def make_task(task_type: str, task_data: dict, now: datetime | None = None) -> dict:
    moment = now if now is not None else datetime.now(timezone.utc)
    return {"taskType": task_type, "data": task_data, "timestamp": _utc_iso(moment)}


def send_task(sqs, queue_url: str, task_type: str, task_data: dict) -> str:
    body = json.dumps(make_task(task_type, task_data))
    return sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]


def queue_status(sqs, queue_url: str) -> dict:
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {
        "available": int(attrs["ApproximateNumberOfMessages"]),
        "in_flight": int(attrs["ApproximateNumberOfMessagesNotVisible"]),
    }


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    sqs = boto3.client("sqs")
    queue_url = create_queue(sqs, "task-queue")
    print(f"queue: {queue_url}")
    for task_type, task_data in TASKS:
        message_id = send_task(sqs, queue_url, task_type, task_data)
        print(f"sent {task_type:<16} {message_id}")
    status = queue_status(sqs, queue_url)
    print(f"available={status['available']} in_flight={status['in_flight']}")


if __name__ == "__main__":
    main()
