"""Producer for the module 5 task queue, written around a small helper class."""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import boto3
from botocore.exceptions import ClientError


class TaskProducer:
    """Thin wrapper over an SQS client that the caller owns."""

    def __init__(self, client):
        self.client = client

    def ensure_queue(self, name, visibility_timeout, retention_period):
        attributes = {
            "VisibilityTimeout": str(int(visibility_timeout)),
            "MessageRetentionPeriod": str(int(retention_period)),
        }
        try:
            return self.client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if "Exists" not in code and "QueueNameExists" not in str(err):
                raise
            return self.client.get_queue_url(QueueName=name)["QueueUrl"]

    def send(self, queue_url, task):
        reply = self.client.send_message(QueueUrl=queue_url, MessageBody=json.dumps(task))
        return reply["MessageId"]

    def depth(self, queue_url):
        reply = self.client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
        attributes = reply["Attributes"]
        return {
            "available": int(attributes.get("ApproximateNumberOfMessages", "0")),
            "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", "0")),
        }


def create_queue(sqs, queue_name: str, visibility_timeout: int = 30,
                 retention_period: int = 86400) -> str:
    return TaskProducer(sqs).ensure_queue(queue_name, visibility_timeout, retention_period)


def make_task(task_type: str, task_data: dict, now: datetime | None = None) -> dict:
    if now is None:
        now = datetime.now(tz=timezone.utc)
    elif now.utcoffset() is None:
        now = now.replace(tzinfo=timezone.utc)
    stamp = now.isoformat(timespec="milliseconds")
    return {"taskType": task_type, "data": task_data, "timestamp": stamp[:-6] + "Z"}


def send_task(sqs, queue_url: str, task_type: str, task_data: dict) -> str:
    return TaskProducer(sqs).send(queue_url, make_task(task_type, task_data))


def queue_status(sqs, queue_url: str) -> dict:
    return TaskProducer(sqs).depth(queue_url)


def main() -> None:
    region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    sqs = boto3.client("sqs", region_name=region)
    url = create_queue(sqs, "task-queue")
    samples = [
        ("resize_image", {"image": "photo1.jpg", "size": "800x600"}),
        ("send_email", {"to": "user@example.com", "subject": "Welcome!"}),
        ("process_order", {"order_id": "ORD-12345", "amount": 99.99}),
        ("resize_image", {"image": "photo2.jpg", "size": "1920x1080"}),
        ("generate_report", {"report_type": "monthly", "month": "2024-01"}),
    ]
    for task_type, data in samples:
        print(task_type, "->", send_task(sqs, url, task_type, data))
    status = queue_status(sqs, url)
    print("Queue status:", status)


if __name__ == "__main__":
    main()
