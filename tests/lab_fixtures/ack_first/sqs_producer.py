"""A minimal producer to the contract, for the lab's tests (no sleeping, no printing)."""
import json
from datetime import datetime, timezone


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    attributes = {"VisibilityTimeout": str(visibility_timeout), "MessageRetentionPeriod": str(retention_period)}
    try:
        return sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
    except sqs.exceptions.QueueNameExists:
        return sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]


def make_task(task_type, task_data, now=None):
    now = now or datetime.now(timezone.utc)
    return {"taskType": task_type, "data": task_data, "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ")}


def send_task(sqs, queue_url, task_type, task_data):
    return sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(make_task(task_type, task_data)))["MessageId"]


def queue_status(sqs, queue_url):
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    return {"available": int(attrs["ApproximateNumberOfMessages"]),
            "in_flight": int(attrs["ApproximateNumberOfMessagesNotVisible"])}
