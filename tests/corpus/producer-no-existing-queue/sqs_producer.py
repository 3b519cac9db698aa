import json
import os
import time
from datetime import datetime, timezone

import boto3


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    # SQS's CreateQueue is idempotent, so this also works when the queue exists
    response = sqs.create_queue(
        QueueName=queue_name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "MessageRetentionPeriod": str(retention_period),
        },
    )
    return response["QueueUrl"]


def make_task(task_type, task_data, now=None):
    if now is None:
        now = datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    now = now.astimezone(timezone.utc)
    return {"taskType": task_type, "data": task_data,
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def send_task(sqs, queue_url, task_type, task_data):
    response = sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(make_task(task_type, task_data)))
    return response["MessageId"]


def queue_status(sqs, queue_url):
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {"available": int(attrs["ApproximateNumberOfMessages"]),
            "in_flight": int(attrs["ApproximateNumberOfMessagesNotVisible"])}


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
    print(queue_status(sqs, queue_url))


if __name__ == "__main__":
    main()
