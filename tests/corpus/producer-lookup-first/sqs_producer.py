import json
import os
import time
from datetime import datetime, timezone

import boto3

TASKS = [
    ("resize_image", {"image": "photo1.jpg", "size": "800x600"}),
    ("send_email", {"to": "user@example.com", "subject": "Welcome!"}),
    ("process_order", {"order_id": "ORD-12345", "amount": 99.99}),
    ("resize_image", {"image": "photo2.jpg", "size": "1920x1080"}),
    ("generate_report", {"report_type": "monthly", "month": "2024-01"}),
]


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    """Look the queue up first; create it only if it does not exist yet."""
    try:
        return sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        pass
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
    elif now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    utc = now.astimezone(timezone.utc)
    return {"taskType": task_type, "data": task_data,
            "timestamp": utc.isoformat(timespec="microseconds")[:-6] + "Z"}


def send_task(sqs, queue_url, task_type, task_data):
    return sqs.send_message(QueueUrl=queue_url,
                            MessageBody=json.dumps(make_task(task_type, task_data)))["MessageId"]


def queue_status(sqs, queue_url):
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {"available": int(attributes["ApproximateNumberOfMessages"]),
            "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"])}


def main():
    sqs = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    queue_url = create_queue(sqs, "task-queue")
    for task_type, data in TASKS:
        print(task_type, send_task(sqs, queue_url, task_type, data))
        time.sleep(0.5)
    print(queue_status(sqs, queue_url))


if __name__ == "__main__":
    main()
