"""A make_task whose timestamp has ISO-8601's shape but no real date in it: a suite that only
checks the shape before parsing would turn the student's mistake into a grader error."""
import json


def make_task(task_type, task_data, now=None):
    return {"taskType": task_type, "data": task_data, "timestamp": "2024-99-99T99:99:99Z"}


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    return sqs.create_queue(QueueName=queue_name, Attributes={
        "VisibilityTimeout": str(visibility_timeout), "MessageRetentionPeriod": str(retention_period)})["QueueUrl"]


def send_task(sqs, queue_url, task_type, task_data):
    return sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(make_task(task_type, task_data)))["MessageId"]


def queue_status(sqs, queue_url):
    return {"available": 0, "in_flight": 0}


def main():
    pass
