import boto3
import json
import time
from datetime import datetime

sqs = boto3.client('sqs', region_name='us-east-1')

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def get_queue_url(queue_name):
    """Get queue URL"""
    response = sqs.get_queue_url(QueueName=queue_name)
    return response['QueueUrl']


def process_task(message_body):
    """Process a task (simulate work)"""
    task = json.loads(message_body)
    task_type = task['taskType']

    print(f"\n  Processing: {task_type}")
    print(f"    Data: {task['data']}")
    print(f"    Timestamp: {task['timestamp']}")

    # Simulate processing time
    time.sleep(2)

    # Simulate occasional failure (10% chance)
    import random
    if random.random() < 0.1:
        raise Exception("Simulated processing error!")

    print(f"    ✓ Completed successfully")
    return task


def consume_messages(sqs, queue_url, handler=process_task, max_messages=10,
                     wait_time_seconds=5, visibility_timeout=30, max_empty_polls=3):
    """Consume messages from queue with acknowledgments"""
    print(f"Starting consumer for queue: {queue_url}\n")
    print("=" * 60)

    messages_processed = 0
    failed = 0
    start_time = datetime.now()

    while messages_processed < max_messages:
        # Receive messages (long polling)
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=1,  # Process one at a time
            WaitTimeSeconds=wait_time_seconds,  # Long polling
            VisibilityTimeout=visibility_timeout  # Hide while processing
        )

        messages = response.get('Messages', [])
        if not messages:
            print("No more messages. Waiting...")
            continue

        for message in messages:
            message_id = message['MessageId']
            receipt_handle = message['ReceiptHandle']
            body = message['Body']

            print(f"\nMessage {messages_processed + 1}:")
            print(f"  ID: {message_id[:20]}...")

            try:
                # Process the message
                handler(body)

                # Processing succeeded - send ACK (delete message)
                sqs.delete_message(
                    QueueUrl=queue_url,
                    ReceiptHandle=receipt_handle
                )
                print(f"  ✓ Message deleted (acknowledged)")
                messages_processed += 1

            except Exception as e:
                # Processing failed - DON'T ACK
                # Message will become visible again after VisibilityTimeout
                failed += 1
                print(f"  ✗ Error: {e}")
                print(f"  ⚠ Message NOT deleted - will be redelivered")

    duration = (datetime.now() - start_time).seconds
    print("\n" + "=" * 60)
    print(f"Processed {messages_processed} messages in {duration} seconds")
    return {"processed": messages_processed, "failed": failed}


def main():
    queue_name = 'task-queue'
    queue_url = get_queue_url(queue_name)

    # Consume up to 10 messages
    consume_messages(sqs, queue_url, max_messages=10)


if __name__ == '__main__':
    main()
