import json
import os
import time
from datetime import datetime

import boto3
from botocore.exceptions import ClientError


def create_queue(sqs, queue_name: str, visibility_timeout: int = 30,
                 retention_period: int = 86400) -> str:
    attrs = {"VisibilityTimeout": f"{visibility_timeout}",
             "MessageRetentionPeriod": f"{retention_period}"}
    resp = sqs.create_queue(QueueName=queue_name, Attributes=attrs)
    return resp["QueueUrl"]


def make_task(task_type: str, task_data: dict, now: datetime | None = None) -> dict:
    # utctimetuple(): aware datetimes are converted to UTC, naive ones are used as they are
    when = (now or datetime.utcnow()).utctimetuple()
    return {
        "taskType": task_type,
        "data": task_data,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", when),
    }


def send_task(sqs, queue_url: str, task_type: str, task_data: dict) -> str:
    task = make_task(task_type, task_data)
    resp = sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(task, sort_keys=True))
    return resp["MessageId"]


def queue_status(sqs, queue_url: str) -> dict:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    a = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    available, in_flight = (int(a.get(n, 0)) for n in names)
    return {"available": available, "in_flight": in_flight}


def main() -> None:
    if not os.environ.get("AWS_DEFAULT_REGION"):
        os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    sqs = boto3.client("sqs")
    url = create_queue(sqs, "task-queue")
    send_task(sqs, url, "resize_image", {"image": "photo1.jpg", "size": "800x600"})
    send_task(sqs, url, "send_email", {"to": "user@example.com", "subject": "Welcome!"})
    send_task(sqs, url, "process_order", {"order_id": "ORD-12345", "amount": 99.99})
    send_task(sqs, url, "resize_image", {"image": "photo2.jpg", "size": "1920x1080"})
    send_task(sqs, url, "generate_report", {"report_type": "monthly", "month": "2024-01"})
    s = queue_status(sqs, url)
    print(f"Queue status: {s['available']} available, {s['in_flight']} in flight")


if __name__ == "__main__":
    main()
