import json
import os
import time
from datetime import datetime, timezone

import boto3
from botocore.exceptions import ClientError


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    try:
        response = sqs.create_queue(
            QueueName=queue_name,
            Attributes={
                "VisibilityTimeout": str(visibility_timeout),
                "MessageRetentionPeriod": str(retention_period),
            },
        )
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        response = sqs.get_queue_url(QueueName=queue_name)
    return response["QueueUrl"]


def make_task(task_type, task_data, now=None):
    if now is None:
        now = datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    timestamp = now.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return {"taskType": task_type, "data": task_data, "timestamp": timestamp}


def send_task(sqs, queue_url, task_type, task_data):
    response = sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(make_task(task_type, task_data)))
    return response["MessageId"]


def queue_status(sqs, queue_url):
    response = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    attrs = response["Attributes"]
    return {
        "available": attrs.get("ApproximateNumberOfMessages", 0),
        "in_flight": attrs.get("ApproximateNumberOfMessagesNotVisible", 0),
    }


def main():
    sqs = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    queue_url = create_queue(sqs, "task-queue")
    tasks = [
        ("resize_image", {"image": "photo1.jpg", "size": "800x600"}),
        ("send_email", {"to": "user@example.com", "subject": "Welcome!"}),
        ("process_order", {"order_id": "ORD-12345", "amount": 99.99}),
        ("resize_image", {"image": "photo2.jpg", "size": "1920x1080"}),
        ("generate_report", {"report_type": "monthly", "month": "2024-01"}),
    ]
    for task_type, task_data in tasks:
        print(task_type, send_task(sqs, queue_url, task_type, task_data))
        time.sleep(0.5)
    status = queue_status(sqs, queue_url)
    print(f"Messages available: {status['available']}")
    print(f"Messages in flight: {status['in_flight']}")


if __name__ == "__main__":
    main()
