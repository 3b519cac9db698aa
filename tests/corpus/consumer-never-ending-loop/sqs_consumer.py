import json
import os
import random
import time

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body):
    try:
        task = json.loads(message_body)
    except json.JSONDecodeError:
        raise ValueError("not JSON")
    if not isinstance(task, dict):
        raise ValueError("not an object")
    if task.get("taskType") not in TASK_TYPES:
        raise ValueError("unknown taskType")
    if not isinstance(task.get("data"), dict):
        raise ValueError("data must be an object")
    if not isinstance(task.get("timestamp"), str):
        raise ValueError("timestamp must be a string")
    return task


def consume_messages(sqs, queue_url, handler=process_task, max_messages=10,
                     wait_time_seconds=5, visibility_timeout=30, max_empty_polls=3):
    """Consume messages from queue with acknowledgments"""
    messages_processed = 0
    failed = 0

    while messages_processed < max_messages:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=1,  # Process one at a time
            WaitTimeSeconds=wait_time_seconds,  # Long polling
            VisibilityTimeout=visibility_timeout,
        )

        messages = response.get('Messages', [])
        if not messages:
            print("No more messages. Waiting...")
            continue

        for message in messages:
            try:
                handler(message['Body'])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message['ReceiptHandle'])
                messages_processed += 1
            except Exception as e:
                failed += 1
                print(f"  Error: {e} - message NOT deleted, will be redelivered")

    return {"processed": messages_processed, "failed": failed}


def course_handler(body):
    task = process_task(body)
    print(f"Processing: {task['taskType']}")
    time.sleep(2)
    if random.random() < 0.1:
        raise Exception("Simulated processing error!")


def main():
    sqs = boto3.client('sqs', region_name=os.environ.get('AWS_DEFAULT_REGION', 'us-east-1'))
    queue_url = sqs.get_queue_url(QueueName='task-queue')['QueueUrl']
    consume_messages(sqs, queue_url, handler=course_handler, max_messages=10)


if __name__ == '__main__':
    main()
