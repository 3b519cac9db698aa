"""Step 2 on AMQP: basic_consume callbacks driven by process_data_events."""
import collections
import json
import os
import random
import time

import pika

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(body):
    """Decode and validate a task body (bytes, UTF-8 JSON)."""
    try:
        text = bytes(body).decode("utf-8")
        task = json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"body is not UTF-8 JSON: {exc}") from exc
    if not isinstance(task, dict):
        raise ValueError("task must be a JSON object")
    if task.get("taskType") not in TASK_TYPES:
        raise ValueError(f"unknown taskType: {task.get('taskType')!r}")
    if not isinstance(task.get("data"), dict):
        raise ValueError("data must be an object")
    if not isinstance(task.get("timestamp"), str):
        raise ValueError("timestamp must be a string")
    return task


def consume_messages(channel, queue_name, handler=process_task, max_messages=10,
                     prefetch=1, idle_timeout=5.0):
    stats = {"processed": 0, "requeued": 0, "dead_lettered": 0}
    inbox = collections.deque()

    def on_message(_ch, method, _properties, body):
        inbox.append((method, body))

    consumer_tag = channel.basic_consume(queue=queue_name, on_message_callback=on_message,
                                         auto_ack=False)
    try:
        idle = 0.0
        while stats["processed"] < max_messages:
            if not inbox:
                if idle >= idle_timeout:
                    break
                started = time.monotonic()
                channel.connection.process_data_events(time_limit=max(0.0, idle_timeout - idle))
                idle += time.monotonic() - started
                continue
            idle = 0.0
            method, body = inbox.popleft()
            try:
                handler(body)
            except Exception:
                if method.redelivered:
                    channel.basic_nack(delivery_tag=method.delivery_tag, requeue=False)
                    stats["dead_lettered"] += 1
                else:
                    channel.basic_nack(delivery_tag=method.delivery_tag, requeue=True)
                    stats["requeued"] += 1
            else:
                channel.basic_ack(delivery_tag=method.delivery_tag)
                stats["processed"] += 1
    finally:
        channel.basic_cancel(consumer_tag)
        while inbox:
            method, _ = inbox.popleft()
            channel.basic_nack(delivery_tag=method.delivery_tag, requeue=True)
    return stats


def simulated_work(body):
    task = process_task(body)
    print(f"  Processing: {task['taskType']}  data={task['data']}")
    time.sleep(2)
    if random.random() < 0.1:
        raise RuntimeError("Simulated processing error!")
    print("    ✓ Completed successfully")
    return task


def main():
    url = os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    try:
        result = consume_messages(channel, "task-queue", handler=simulated_work, max_messages=10)
        print(f"Done: {result}")
    finally:
        connection.close()


if __name__ == "__main__":
    main()
