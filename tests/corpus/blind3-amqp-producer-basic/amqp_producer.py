"""Step 1 on AMQP: declare a durable queue and publish persistent tasks."""
import json
import os
import time
import uuid
from datetime import datetime, timezone

import pika


def declare_queue(channel, queue_name, dead_letter_queue=None):
    """Declare queue_name durable; optionally with a dead-letter queue."""
    if dead_letter_queue is None:
        channel.queue_declare(queue=queue_name, durable=True)
        return
    channel.queue_declare(queue=dead_letter_queue, durable=True)
    channel.queue_declare(
        queue=queue_name,
        durable=True,
        arguments={
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dead_letter_queue,
        },
    )


def make_task(task_type, task_data, now=None):
    if now is None:
        now = datetime.now(timezone.utc)
    if now.tzinfo is not None:
        now = now.astimezone(timezone.utc).replace(tzinfo=None)
    return {"taskType": task_type, "data": task_data, "timestamp": now.isoformat() + "Z"}


def send_task(channel, queue_name, task_type, task_data):
    message_id = str(uuid.uuid4())
    body = json.dumps(make_task(task_type, task_data))
    channel.basic_publish(
        exchange="",
        routing_key=queue_name,
        body=body,
        properties=pika.BasicProperties(
            delivery_mode=2,
            content_type="application/json",
            message_id=message_id,
        ),
        mandatory=True,
    )
    # UnroutableError (no such queue) propagates to the caller on purpose.
    return message_id


def queue_status(channel, queue_name):
    result = channel.queue_declare(queue=queue_name, passive=True)
    return {"ready": result.method.message_count, "consumers": result.method.consumer_count}


def main():
    url = os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        queue_name = "task-queue"
        declare_queue(channel, queue_name, dead_letter_queue="task-queue.dlq")

        tasks = [
            ("resize_image", {"image": "photo1.jpg", "size": "800x600"}),
            ("send_email", {"to": "user@example.com", "subject": "Welcome!"}),
            ("process_order", {"order_id": "ORD-12345", "amount": 99.99}),
            ("resize_image", {"image": "photo2.jpg", "size": "1920x1080"}),
            ("generate_report", {"report_type": "monthly", "month": "2024-01"}),
        ]
        print(f"Sending {len(tasks)} tasks to queue...")
        for task_type, task_data in tasks:
            message_id = send_task(channel, queue_name, task_type, task_data)
            print(f"  ✓ {task_type:20s} → MessageId: {message_id[:20]}...")
            time.sleep(0.5)

        status = queue_status(channel, queue_name)
        print("\nQueue status:")
        print(f"  Messages ready: {status['ready']}")
        print(f"  Consumers:      {status['consumers']}")
    finally:
        connection.close()


if __name__ == "__main__":
    main()
