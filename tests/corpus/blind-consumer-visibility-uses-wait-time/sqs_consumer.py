"""Module 5 consumer, organised as a small class."""
import json
import os
import random
import time

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body: str) -> dict:
    try:
        task = json.loads(message_body)
    except (TypeError, ValueError):
        raise ValueError("message body is not valid JSON")
    if type(task) is not dict:
        raise ValueError("task must be an object")
    task_type = task.get("taskType")
    if not isinstance(task_type, str) or task_type not in TASK_TYPES:
        raise ValueError("bad taskType")
    if not isinstance(task.get("data"), dict):
        raise ValueError("bad data")
    if not isinstance(task.get("timestamp"), str):
        raise ValueError("bad timestamp")
    return task


class Consumer:
    def __init__(self, sqs, queue_url, handler, wait_time_seconds, visibility_timeout):
        self.sqs = sqs
        self.queue_url = queue_url
        self.handler = handler
        self.wait_time_seconds = wait_time_seconds
        self.visibility_timeout = visibility_timeout
        self.processed = 0
        self.failed = 0

    def receive(self, count):
        reply = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=self.wait_time_seconds,
            VisibilityTimeout=self.wait_time_seconds,
            AttributeNames=["ApproximateReceiveCount"],
        )
        return reply.get("Messages", [])

    def handle(self, message):
        try:
            self.handler(message["Body"])
        except Exception as exc:
            self.failed += 1
            print(f"  failed (attempt {message.get('Attributes', {}).get('ApproximateReceiveCount', '?')}): {exc}")
            return
        self.ack(message)

    def ack(self, message):
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        self.processed += 1

    def run(self, max_messages, max_empty_polls):
        empty_in_a_row = 0
        while self.processed < max_messages:
            if empty_in_a_row >= max_empty_polls:
                break
            messages = self.receive(min(10, max_messages - self.processed))
            if not messages:
                empty_in_a_row += 1
                continue
            empty_in_a_row = 0
            for message in messages:
                self.handle(message)
        return {"processed": self.processed, "failed": self.failed}


def consume_messages(sqs, queue_url: str, handler=process_task, max_messages: int = 10,
                     wait_time_seconds: int = 5, visibility_timeout: int = 30,
                     max_empty_polls: int = 3) -> dict:
    consumer = Consumer(sqs, queue_url, handler, wait_time_seconds, visibility_timeout)
    return consumer.run(max_messages, max_empty_polls)


def work(message_body: str) -> dict:
    task = process_task(message_body)
    time.sleep(2)
    if random.uniform(0, 1) < 0.1:
        raise RuntimeError("simulated failure")
    return task


def main() -> None:
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    sqs = boto3.client("sqs", region_name=region)
    queue_url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    summary = consume_messages(sqs, queue_url, handler=work, max_messages=10)
    print(f"processed={summary['processed']} failed={summary['failed']}")


if __name__ == "__main__":
    main()
