"""A callback consumer: basic_consume, process_data_events until done or idle, basic_cancel."""
import json
import os
import random
import time

import pika

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(body):
    try:
        task = json.loads(body)
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc))
    if not isinstance(task, dict):
        raise ValueError("not an object")
    if task.get("taskType") not in TASK_TYPES:
        raise ValueError("bad taskType")
    if not isinstance(task.get("data"), dict) or not isinstance(task.get("timestamp"), str):
        raise ValueError("bad data or timestamp")
    return task


def consume_messages(channel, queue_name, handler=process_task, max_messages=10, prefetch=1, idle_timeout=5.0):
    stats = {"processed": 0, "requeued": 0, "dead_lettered": 0}
    state = {"last": time.monotonic()}

    def on_message(ch, method, properties, body):
        if stats["processed"] >= max_messages:
            ch.basic_nack(method.delivery_tag, requeue=True)
            return
        try:
            handler(body)
        except Exception:
            if method.redelivered:
                ch.basic_reject(method.delivery_tag, requeue=False)
                stats["dead_lettered"] += 1
            else:
                ch.basic_reject(method.delivery_tag, requeue=True)
                stats["requeued"] += 1
        else:
            ch.basic_ack(method.delivery_tag)
            stats["processed"] += 1
        state["last"] = time.monotonic()

    channel.basic_qos(prefetch_count=prefetch)
    tag = channel.basic_consume(queue=queue_name, on_message_callback=on_message, auto_ack=False)
    try:
        while stats["processed"] < max_messages:
            left = idle_timeout - (time.monotonic() - state["last"])
            if left <= 0:
                break
            channel.connection.process_data_events(time_limit=min(left, 0.1))
    finally:
        channel.basic_cancel(tag)
    return stats


def main():
    connection = pika.BlockingConnection(pika.URLParameters(
        os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")))
    channel = connection.channel()
    channel.confirm_delivery()

    def work(body):
        task = process_task(body)
        print("working on", task["taskType"])
        time.sleep(2)
        if random.random() < 0.1:
            raise RuntimeError("Simulated processing error!")

    print(consume_messages(channel, "task-queue", work, max_messages=10))
    connection.close()


if __name__ == "__main__":
    main()
