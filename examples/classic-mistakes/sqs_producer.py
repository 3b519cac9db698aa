import boto3
import json
from datetime import datetime
import time

sqs = boto3.client('sqs', region_name='us-east-1')


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    """Create SQS queue if it doesn't exist"""
    try:
        response = sqs.create_queue(
            QueueName=queue_name,
            Attributes={
                'VisibilityTimeout': str(visibility_timeout),
                'MessageRetentionPeriod': str(retention_period)
            }
        )
        queue_url = response['QueueUrl']
        print(f"✓ Queue created: {queue_url}\n")
        return queue_url
    except sqs.exceptions.QueueNameExists:
        response = sqs.get_queue_url(QueueName=queue_name)
        queue_url = response['QueueUrl']
        print(f"✓ Queue exists: {queue_url}\n")
        return queue_url


def make_task(task_type, task_data, now=None):
    return {
        'taskType': task_type,
        'data': task_data,
        'timestamp': datetime.utcnow().isoformat() + 'Z'
    }


def send_task(sqs, queue_url, task_type, task_data):
    """Send a task message to the queue"""
    response = sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps(make_task(task_type, task_data))
    )
    return response['MessageId']


def queue_status(sqs, queue_url):
    response = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible']
    )
    attrs = response['Attributes']
    return {
        'available': attrs.get('ApproximateNumberOfMessages', 0),
        'in_flight': attrs.get('ApproximateNumberOfMessagesNotVisible', 0),
    }


def main():
    queue_name = 'task-queue'
    queue_url = create_queue(sqs, queue_name)

    tasks = [
        ('resize_image', {'image': 'photo1.jpg', 'size': '800x600'}),
        ('send_email', {'to': 'user@example.com', 'subject': 'Welcome!'}),
        ('process_order', {'order_id': 'ORD-12345', 'amount': 99.99}),
        ('resize_image', {'image': 'photo2.jpg', 'size': '1920x1080'}),
        ('generate_report', {'report_type': 'monthly', 'month': '2024-01'}),
    ]

    print(f"Sending {len(tasks)} tasks to queue...")
    for task_type, task_data in tasks:
        message_id = send_task(sqs, queue_url, task_type, task_data)
        print(f"  ✓ {task_type:20s} → MessageId: {message_id[:20]}...")
        time.sleep(0.5)

    status = queue_status(sqs, queue_url)
    print(f"\nQueue status:")
    print(f"  Messages available: {status['available']}")
    print(f"  Messages in flight: {status['in_flight']}")


if __name__ == '__main__':
    main()
