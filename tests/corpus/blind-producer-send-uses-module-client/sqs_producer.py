"""Exercise 1: send tasks to an SQS queue (module 5, step 1)."""
import json
import os
import time
from datetime import datetime, timezone

import boto3
from botocore.exceptions import ClientError

# A client for poking at the queue from a REPL.  The functions below never use it:
# they work with whichever client the caller hands them.
sqs_client = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))

QUEUE_NAME = "task-queue"

SAMPLE_TASKS = [
    ("resize_image", {"image": "photo1.jpg", "size": "800x600"}),
    ("send_email", {"to": "user@example.com", "subject": "Welcome!"}),
    ("process_order", {"order_id": "ORD-12345", "amount": 99.99}),
    ("resize_image", {"image": "photo2.jpg", "size": "1920x1080"}),
    ("generate_report", {"report_type": "monthly", "month": "2024-01"}),
]


def create_queue(sqs, queue_name: str, visibility_timeout: int = 30,
                 retention_period: int = 86400) -> str:
    """Create a standard queue, or return the URL of the existing one."""
    try:
        response = sqs.create_queue(
            QueueName=queue_name,
            Attributes={
                "VisibilityTimeout": str(visibility_timeout),
                "MessageRetentionPeriod": str(retention_period),
            },
        )
        queue_url = response["QueueUrl"]
        print(f"✓ Queue created: {queue_url}\n")
    except ClientError:
        # QueueNameExists: the queue is there already, maybe with other attributes.
        queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        print(f"✓ Queue exists: {queue_url}\n")
    return queue_url


def make_task(task_type: str, task_data: dict, now: datetime | None = None) -> dict:
    """Build the task message; the timestamp is UTC ISO-8601 ending in Z."""
    if now is None:
        now = datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    else:
        now = now.astimezone(timezone.utc)
    return {
        "taskType": task_type,
        "data": task_data,
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def send_task(sqs, queue_url: str, task_type: str, task_data: dict) -> str:
    """Send one task as a JSON message and return its MessageId."""
    message = make_task(task_type, task_data)
    response = sqs_client.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))
    return response["MessageId"]


def queue_status(sqs, queue_url: str) -> dict:
    response = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible"],
    )
    attrs = response.get("Attributes", {})
    return {
        "available": int(attrs.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
    }


def main() -> None:
    client = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    queue_url = create_queue(client, QUEUE_NAME)

    print(f"Sending {len(SAMPLE_TASKS)} tasks to queue...")
    for task_type, task_data in SAMPLE_TASKS:
        message_id = send_task(client, queue_url, task_type, task_data)
        print(f"  ✓ {task_type:20s} → MessageId: {message_id[:20]}...")
        time.sleep(0.5)

    status = queue_status(client, queue_url)
    print("\nQueue status:")
    print(f"  Messages available: {status['available']}")
    print(f"  Messages in flight: {status['in_flight']}")


if __name__ == "__main__":
    main()
