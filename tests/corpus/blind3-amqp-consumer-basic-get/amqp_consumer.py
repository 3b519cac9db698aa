"""Polling consumer: basic_get with manual acks (closest to the SQS version)."""
import json
import os
import random
import time

import pika

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")
POLL_INTERVAL = 0.1


def process_task(body):
    try:
        task = json.loads(body.decode("utf-8"))
    except (AttributeError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError("task body must be UTF-8 encoded JSON bytes")
    if type(task) is not dict:
        raise ValueError("task must be a JSON object")
    if task.get("taskType") not in TASK_TYPES:
        raise ValueError("taskType missing or not one of %r" % (TASK_TYPES,))
    if type(task.get("data")) is not dict:
        raise ValueError("data must be a JSON object")
    if type(task.get("timestamp")) is not str:
        raise ValueError("timestamp must be a string")
    return task


def _pause(channel, seconds):
    """Sleep while still servicing the connection (heartbeats)."""
    connection = getattr(channel, "connection", None)
    if connection is not None and hasattr(connection, "sleep"):
        connection.sleep(seconds)
    else:
        time.sleep(seconds)


def consume_messages(channel, queue_name, handler=process_task, max_messages=10,
                     prefetch=1, idle_timeout=5.0):
    # basic_get fetches one message at a time, so at most one delivery is
    # ever unacknowledged; the QoS setting is applied anyway.
    channel.basic_qos(prefetch_count=prefetch)
    processed = requeued = dead_lettered = 0
    idle_since = time.monotonic()

    while processed < max_messages:
        method, _properties, body = channel.basic_get(queue=queue_name, auto_ack=False)
        if method is None:
            waited = time.monotonic() - idle_since
            if waited >= idle_timeout:
                break
            _pause(channel, min(POLL_INTERVAL, idle_timeout - waited))
            continue

        try:
            handler(body)
            ok = True
        except Exception:
            ok = False

        if ok:
            channel.basic_ack(delivery_tag=method.delivery_tag)
            processed += 1
        elif method.redelivered:
            # second failure: reject without requeue -> dead-letter exchange
            channel.basic_reject(delivery_tag=method.delivery_tag, requeue=False)
            dead_lettered += 1
        else:
            channel.basic_reject(delivery_tag=method.delivery_tag, requeue=True)
            requeued += 1
        idle_since = time.monotonic()  # handler time is not idle time

    return {"processed": processed, "requeued": requeued, "dead_lettered": dead_lettered}


def handle_with_simulated_work(body):
    task = process_task(body)
    print(f"\n  Processing: {task['taskType']}")
    print(f"    Data: {task['data']}")
    print(f"    Timestamp: {task['timestamp']}")
    time.sleep(2)
    if random.random() < 0.1:
        raise Exception("Simulated processing error!")
    print("    ✓ Completed successfully")


def main():
    params = pika.URLParameters(os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F"))
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.confirm_delivery()
    stats = consume_messages(channel, "task-queue", handler=handle_with_simulated_work,
                             max_messages=10)
    print("\n" + "=" * 60)
    print(f"processed={stats['processed']} requeued={stats['requeued']} "
          f"dead_lettered={stats['dead_lettered']}")
    connection.close()


if __name__ == "__main__":
    main()
