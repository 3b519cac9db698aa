"""A polling consumer: basic_get one message at a time, sleep while the queue is empty."""
import json
import os
import random
import time

import pika

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(body: bytes) -> dict:
    try:
        task = json.loads(body.decode("utf-8"))
        if task["taskType"] not in TASK_TYPES or not isinstance(task["data"], dict) \
                or not isinstance(task["timestamp"], str):
            raise ValueError("not a task")
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a task: {exc}") from exc
    return task


def consume_messages(channel, queue_name, handler=process_task, max_messages=10, prefetch=1, idle_timeout=5.0):
    channel.basic_qos(prefetch_count=prefetch)
    processed = requeued = dead = 0
    idle_since = time.time()
    while processed < max_messages:
        method, _props, body = channel.basic_get(queue=queue_name, auto_ack=False)
        if method is None:
            if time.time() - idle_since >= idle_timeout:
                break
            time.sleep(0.05)
            continue
        try:
            handler(body)
        except Exception:
            channel.basic_nack(method.delivery_tag, requeue=not method.redelivered)
            if method.redelivered:
                dead += 1
            else:
                requeued += 1
        else:
            channel.basic_ack(method.delivery_tag)
            processed += 1
        idle_since = time.time()
    return {"processed": processed, "requeued": requeued, "dead_lettered": dead}


def main():
    url = os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()

    def handler(body):
        process_task(body)
        time.sleep(2)
        if random.random() < 0.1:
            raise RuntimeError("boom")

    print(consume_messages(channel, "task-queue", handler, max_messages=10))
    connection.close()


if __name__ == "__main__":
    main()
