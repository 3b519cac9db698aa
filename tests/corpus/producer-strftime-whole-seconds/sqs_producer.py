import json
import os
import time
from datetime import datetime, timezone

import boto3
from botocore.exceptions import ClientError


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    try:
        response = sqs.create_queue(QueueName=queue_name, Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "MessageRetentionPeriod": str(retention_period),
        })
    except ClientError as error:
        if error.response["Error"]["Code"] in ("QueueAlreadyExists", "QueueNameExists"):
            response = sqs.get_queue_url(QueueName=queue_name)
        else:
            raise
    return response["QueueUrl"]


def make_task(task_type, task_data, now=None):
    if now is None:
        now = datetime.now(tz=timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)   # naive means UTC
    stamp = now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # whole seconds: the contract allows, not requires, fractions
    return {"taskType": task_type, "data": task_data, "timestamp": stamp}


def send_task(sqs, queue_url, task_type, task_data):
    message = make_task(task_type, task_data)
    response = sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))
    return response["MessageId"]


def queue_status(sqs, queue_url):
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    available, in_flight = (int(attrs.get(name, "0")) for name in names)
    return {"available": available, "in_flight": in_flight}


def main():
    sqs = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    url = create_queue(sqs, "task-queue", 30, 86400)
    tasks = [
        ("resize_image", {"image": "photo1.jpg", "size": "800x600"}),
        ("send_email", {"to": "user@example.com", "subject": "Welcome!"}),
        ("process_order", {"order_id": "ORD-12345", "amount": 99.99}),
        ("resize_image", {"image": "photo2.jpg", "size": "1920x1080"}),
        ("generate_report", {"report_type": "monthly", "month": "2024-01"}),
    ]
    print(f"Sending {len(tasks)} tasks to {url}")
    for task_type, task_data in tasks:
        message_id = send_task(sqs, url, task_type, task_data)
        print(f"  {task_type:20s} -> {message_id}")
        time.sleep(0.5)
    status = queue_status(sqs, url)
    print(f"available={status['available']} in_flight={status['in_flight']}")


if __name__ == "__main__":
    main()
