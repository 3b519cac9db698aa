"""AMQP consumer using BlockingChannel.consume() with an inactivity timeout."""
from __future__ import annotations

import json
import os
import random
import time

import pika

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(body: bytes) -> dict:
    if isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    if not isinstance(body, bytes):
        raise ValueError("body must be bytes")
    try:
        task = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError("body is not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise ValueError("body is not JSON") from exc
    match task:
        case {"taskType": str() as t, "data": dict(), "timestamp": str()} if t in TASK_TYPES:
            return task
    raise ValueError("not a valid task object")


def consume_messages(channel, queue_name: str, handler=process_task, max_messages: int = 10,
                     prefetch: int = 1, idle_timeout: float = 5.0) -> dict:
    channel.basic_qos(prefetch_count=prefetch)
    result = {"processed": 0, "requeued": 0, "dead_lettered": 0}
    if max_messages <= 0:
        return result
    try:
        for method, _props, body in channel.consume(queue_name, auto_ack=False,
                                                    inactivity_timeout=idle_timeout):
            if method is None:          # idle_timeout elapsed with no delivery
                break
            try:
                handler(body)
            except Exception as exc:  # a handler error never escapes
                requeue = not method.redelivered
                channel.basic_reject(delivery_tag=method.delivery_tag, requeue=requeue)
                result["requeued" if requeue else "dead_lettered"] += 1
                print(f"  ✗ {exc!r}: {'requeued' if requeue else 'dead-lettered'}")
                continue
            channel.basic_ack(delivery_tag=method.delivery_tag)
            result["processed"] += 1
            if result["processed"] >= max_messages:
                break
    finally:
        # cancels the consumer and requeues whatever pika buffered for it
        channel.cancel()
    return result


def _demo_handler(body: bytes) -> dict:
    task = process_task(body)
    print(f"Processing {task['taskType']}: {task['data']}")
    time.sleep(2)
    if random.random() < 0.1:
        raise Exception("Simulated processing error!")
    return task


def main() -> None:
    conn = pika.BlockingConnection(pika.URLParameters(
        os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")))
    channel = conn.channel()
    channel.confirm_delivery()
    print(consume_messages(channel, "task-queue", handler=_demo_handler, max_messages=10))
    conn.close()


if __name__ == "__main__":
    main()
