import json
import os
import time
from datetime import datetime, timezone

import boto3
from botocore.exceptions import ClientError

COURSE = [
    ("resize_image", {"image": "photo1.jpg", "size": "800x600"}),
    ("send_email", {"to": "user@example.com", "subject": "Welcome!"}),
    ("process_order", {"order_id": "ORD-12345", "amount": 99.99}),
    ("resize_image", {"image": "photo2.jpg", "size": "1920x1080"}),
    ("generate_report", {"report_type": "monthly", "month": "2024-01"}),
]


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    try:
        return sqs.create_queue(QueueName=queue_name, Attributes={
            "VisibilityTimeout": str(visibility_timeout), "MessageRetentionPeriod": str(retention_period)})["QueueUrl"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        return sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]


def make_task(task_type, task_data, now=None):
    if now is None:
        now = datetime.now()
    elif now.tzinfo is not None:
        now = now.astimezone(timezone.utc).replace(tzinfo=None)
    return {"taskType": task_type, "data": task_data, "timestamp": now.isoformat() + "Z"}


def send_task(sqs, queue_url, task_type, task_data):
    return sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(make_task(task_type, task_data)))["MessageId"]


def queue_status(sqs, queue_url):
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return {"available": int(attrs["ApproximateNumberOfMessages"]),
            "in_flight": int(attrs["ApproximateNumberOfMessagesNotVisible"])}


def main():
    sqs = boto3.client("sqs")
    url = create_queue(sqs, "task-queue")
    for task_type, data in COURSE:
        print("sent", send_task(sqs, url, task_type, data))
        time.sleep(0.5)
    status = queue_status(sqs, url)
    print(f"available={status['available']} in_flight={status['in_flight']}")


if __name__ == "__main__":
    main()
