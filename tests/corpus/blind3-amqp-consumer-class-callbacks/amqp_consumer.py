"""Class-based consumer: basic_consume + start_consuming, stopped by a condition.

Retry decision:
  * first failure (redelivered is False) -> basic_reject(requeue=True): try again
  * failure of a redelivery              -> basic_nack(requeue=False): dead-letter
"""
import json
import os
import random
import time

import pika

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")
REQUIRED_TYPES = {"data": dict, "timestamp": str}


def process_task(body: bytes) -> dict:
    try:
        decoded = body.decode("utf-8")
    except (AttributeError, UnicodeDecodeError) as exc:
        raise ValueError("body must be UTF-8 bytes") from exc
    try:
        task = json.loads(decoded)
    except (ValueError, RecursionError) as exc:
        raise ValueError("body must be JSON") from exc
    if not isinstance(task, dict):
        raise ValueError("body must be a JSON object")
    if task.get("taskType") not in TASK_TYPES:
        raise ValueError("bad taskType")
    for field, kind in REQUIRED_TYPES.items():
        if not isinstance(task.get(field), kind):
            raise ValueError(f"bad {field}")
    return task


class TaskConsumer:
    def __init__(self, channel, queue_name, handler, max_messages, prefetch, idle_timeout):
        self.channel = channel
        self.queue_name = queue_name
        self.handler = handler
        self.max_messages = max_messages
        self.prefetch = prefetch
        self.idle_timeout = idle_timeout
        self.stats = {"processed": 0, "requeued": 0, "dead_lettered": 0}
        self._done = False
        self._timer = None

    # -- idle timer -------------------------------------------------------
    def _arm_timer(self):
        self._timer = self.channel.connection.call_later(self.idle_timeout, self._on_idle)

    def _disarm_timer(self):
        if self._timer is not None:
            self.channel.connection.remove_timeout(self._timer)
            self._timer = None

    def _on_idle(self):
        self._timer = None
        self._stop()

    def _stop(self):
        if not self._done:
            self._done = True
            # cancels the consumer; pika requeues deliveries it buffered for it
            self.channel.stop_consuming()

    # -- deliveries -------------------------------------------------------
    def _on_message(self, channel, method, properties, body):
        if self._done:
            # held but never handed to the handler: give it back
            channel.basic_reject(delivery_tag=method.delivery_tag, requeue=True)
            return
        self._disarm_timer()
        try:
            self.handler(body)
        except Exception:
            self._on_failure(channel, method)
        else:
            channel.basic_ack(delivery_tag=method.delivery_tag)
            self.stats["processed"] += 1
        if self.stats["processed"] >= self.max_messages:
            self._stop()
        else:
            self._arm_timer()

    def _on_failure(self, channel, method):
        if method.redelivered:
            channel.basic_nack(delivery_tag=method.delivery_tag, requeue=False)
            self.stats["dead_lettered"] += 1
        else:
            channel.basic_reject(delivery_tag=method.delivery_tag, requeue=True)
            self.stats["requeued"] += 1

    def run(self):
        self.channel.basic_qos(prefetch_count=self.prefetch)
        if self.max_messages <= 0:
            return self.stats
        self.channel.basic_consume(queue=self.queue_name, on_message_callback=self._on_message,
                                   auto_ack=False)
        self._arm_timer()
        try:
            self.channel.start_consuming()
        finally:
            self._disarm_timer()
            if not self._done:      # e.g. start_consuming raised
                self._done = True
                self.channel.stop_consuming()
        return self.stats


def consume_messages(channel, queue_name, handler=process_task, max_messages=10,
                     prefetch=1, idle_timeout=5.0):
    return TaskConsumer(channel, queue_name, handler, max_messages, prefetch, idle_timeout).run()


def flaky_handler(body):
    task = process_task(body)
    print(f"[worker] {task['taskType']} {task['data']}")
    time.sleep(2)
    if random.random() < 0.1:
        raise RuntimeError("Simulated processing error!")
    return task


def main():
    connection = pika.BlockingConnection(pika.URLParameters(
        os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")))
    channel = connection.channel()
    channel.confirm_delivery()
    stats = consume_messages(channel, "task-queue", handler=flaky_handler, max_messages=10)
    print("Summary:", stats)
    connection.close()


if __name__ == "__main__":
    main()
