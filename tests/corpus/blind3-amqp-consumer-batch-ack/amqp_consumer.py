"""Consumer with batched acknowledgements (basic_ack multiple=True).

Successful deliveries are acknowledged together: one multiple=True ack covers
every delivery up to the given tag, and all of those have been handled. The
batch is flushed before waiting for more input, when it reaches the prefetch
window (the broker sends nothing more until we ack), when max_messages is
reached, and before returning.
"""
import json
import os
import random
import time
from collections import deque

import pika

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(body):
    try:
        task = json.loads(str(body, "utf-8"))
    except Exception as exc:
        raise ValueError(f"invalid task body: {exc}") from None
    if not isinstance(task, dict):
        raise ValueError("task is not a JSON object")
    problems = []
    if task.get("taskType") not in TASK_TYPES:
        problems.append("taskType")
    if not isinstance(task.get("data"), dict):
        problems.append("data")
    if not isinstance(task.get("timestamp"), str):
        problems.append("timestamp")
    if problems:
        raise ValueError("invalid field(s): " + ", ".join(problems))
    return task


class _Batch:
    def __init__(self, channel):
        self.channel = channel
        self.last_tag = None
        self.size = 0

    def add(self, tag):
        self.last_tag = tag
        self.size += 1

    def flush(self):
        """Ack every handled delivery up to last_tag; return how many."""
        if not self.size:
            return 0
        self.channel.basic_ack(delivery_tag=self.last_tag, multiple=True)
        n, self.size, self.last_tag = self.size, 0, None
        return n


def consume_messages(channel, queue_name, handler=process_task, max_messages=10,
                     prefetch=1, idle_timeout=5.0):
    channel.basic_qos(prefetch_count=prefetch)
    counts = {"processed": 0, "requeued": 0, "dead_lettered": 0}
    if max_messages <= 0:
        return counts
    batch = _Batch(channel)
    window = max(1, prefetch)
    buffered = deque()
    tag = channel.basic_consume(queue_name, lambda ch, m, p, b: buffered.append((m, b)))

    try:
        idle = 0.0
        while True:
            if counts["processed"] + batch.size >= max_messages:
                break
            if not buffered:
                counts["processed"] += batch.flush()   # never sit on handled work
                if idle >= idle_timeout:
                    break
                t0 = time.monotonic()
                channel.connection.process_data_events(time_limit=idle_timeout - idle)
                idle += time.monotonic() - t0
                continue
            idle = 0.0
            method, body = buffered.popleft()
            try:
                handler(body)
            except Exception:
                if method.redelivered:
                    channel.basic_nack(method.delivery_tag, multiple=False, requeue=False)
                    counts["dead_lettered"] += 1
                else:
                    channel.basic_nack(method.delivery_tag, multiple=False, requeue=True)
                    counts["requeued"] += 1
                continue
            batch.add(method.delivery_tag)
            if batch.size >= window:
                counts["processed"] += batch.flush()
    finally:
        counts["processed"] += batch.flush()
        channel.basic_cancel(tag)
        for method, _ in buffered:
            channel.basic_nack(method.delivery_tag, requeue=True)
        buffered.clear()
    return counts


def _work(body):
    task = process_task(body)
    print("processing", task["taskType"], task["data"])
    time.sleep(2)
    if random.random() < 0.1:
        raise RuntimeError("Simulated processing error!")


def main():
    url = os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    print(consume_messages(channel, "task-queue", handler=_work, max_messages=10))
    connection.close()


if __name__ == "__main__":
    main()
