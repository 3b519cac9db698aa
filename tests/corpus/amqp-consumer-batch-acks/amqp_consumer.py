"""Batch acknowledgements: ack with multiple=True once every delivery it covers is handled."""
import json
import os
import random
import time

import pika

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(body):
    try:
        task = json.loads(body)
    except Exception as exc:
        raise ValueError("undecodable body") from exc
    ok = (isinstance(task, dict) and task.get("taskType") in TASK_TYPES and isinstance(task.get("data"), dict)
          and isinstance(task.get("timestamp"), str))
    if not ok:
        raise ValueError("not a task")
    return task


def consume_messages(channel, queue_name, handler=process_task, max_messages=10, prefetch=1, idle_timeout=5.0):
    channel.basic_qos(prefetch_count=prefetch)
    counts = {"processed": 0, "requeued": 0, "dead_lettered": 0}
    pending = []  # handled, not yet acknowledged
    batch = max(1, prefetch)

    def flush():
        if pending:
            channel.basic_ack(pending[-1], multiple=True)
            counts["processed"] += len(pending)
            pending.clear()

    try:
        for method, properties, body in channel.consume(queue_name, inactivity_timeout=idle_timeout):
            if method is None:
                break
            try:
                handler(body)
            except Exception:
                flush()  # the earlier ones are done: ack them before settling this one on its own
                requeue = not method.redelivered
                channel.basic_nack(method.delivery_tag, multiple=False, requeue=requeue)
                counts["requeued" if requeue else "dead_lettered"] += 1
                continue
            pending.append(method.delivery_tag)
            if len(pending) >= batch or counts["processed"] + len(pending) >= max_messages:
                flush()
            if counts["processed"] >= max_messages:
                break
        flush()
    finally:
        channel.cancel()
    return counts


def main():
    params = pika.URLParameters(os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F"))
    with pika.BlockingConnection(params) as connection:
        channel = connection.channel()
        channel.confirm_delivery()

        def handler(body):
            print(process_task(body)["taskType"])
            time.sleep(2)
            if random.random() < 0.1:
                raise RuntimeError("Simulated processing error!")

        print(consume_messages(channel, "task-queue", handler, max_messages=10))


if __name__ == "__main__":
    main()
