"""AMQP producer, organised around a small TaskProducer class.

The module-level functions required by the exercise delegate to the class.
Publisher confirms are enabled by the caller; with mandatory=True an
unroutable publish comes back as pika.exceptions.UnroutableError and a
broker nack as pika.exceptions.NackError. Both are logged and re-raised so a
task is never lost silently.
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from datetime import datetime, timezone

import pika
from pika.exceptions import NackError, UnroutableError

log = logging.getLogger(__name__)

DEFAULT_URL = "amqp://guest:guest@localhost:5672/%2F"
SAMPLE_TASKS = (
    ("resize_image", {"image": "photo1.jpg", "size": "800x600"}),
    ("send_email", {"to": "user@example.com", "subject": "Welcome!"}),
    ("process_order", {"order_id": "ORD-12345", "amount": 99.99}),
    ("resize_image", {"image": "photo2.jpg", "size": "1920x1080"}),
    ("generate_report", {"report_type": "monthly", "month": "2024-01"}),
)


def make_task(task_type: str, task_data: dict, now: datetime | None = None) -> dict:
    moment = now if now is not None else datetime.now(timezone.utc)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return {
        "taskType": task_type,
        "data": task_data,
        "timestamp": moment.isoformat() + "Z",
    }


class TaskProducer:
    def __init__(self, channel):
        self.channel = channel

    def declare(self, queue_name: str, dead_letter_queue: str | None = None) -> None:
        arguments = None
        if dead_letter_queue:
            self.channel.queue_declare(queue=dead_letter_queue, durable=True,
                                       exclusive=False, auto_delete=False)
            arguments = {
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": dead_letter_queue,
            }
        self.channel.queue_declare(queue=queue_name, durable=True, exclusive=False,
                                   auto_delete=False, arguments=arguments)

    @staticmethod
    def _properties() -> pika.BasicProperties:
        return pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,
            message_id=uuid.uuid4().hex,
        )

    def send(self, queue_name: str, task_type: str, task_data: dict) -> str:
        props = self._properties()
        payload = json.dumps(make_task(task_type, task_data)).encode("utf-8")
        try:
            self.channel.basic_publish(exchange="", routing_key=queue_name, body=payload,
                                       properties=props, mandatory=True)
        except UnroutableError:
            log.error("task %s returned: no queue named %r", props.message_id, queue_name)
            raise
        except NackError:
            log.error("task %s nacked by the broker", props.message_id)
            raise
        return props.message_id

    def status(self, queue_name: str) -> dict:
        frame = self.channel.queue_declare(queue=queue_name, passive=True)
        return {"ready": int(frame.method.message_count),
                "consumers": int(frame.method.consumer_count)}


def declare_queue(channel, queue_name: str, dead_letter_queue: str | None = None) -> None:
    TaskProducer(channel).declare(queue_name, dead_letter_queue)


def send_task(channel, queue_name: str, task_type: str, task_data: dict) -> str:
    return TaskProducer(channel).send(queue_name, task_type, task_data)


def queue_status(channel, queue_name: str) -> dict:
    return TaskProducer(channel).status(queue_name)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    params = pika.URLParameters(os.environ.get("AMQP_URL", DEFAULT_URL))
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.confirm_delivery()
    producer = TaskProducer(channel)
    producer.declare("task-queue", "task-queue.dlq")
    for task_type, task_data in SAMPLE_TASKS:
        mid = producer.send("task-queue", task_type, task_data)
        print(f"sent {task_type:<16} id={mid}")
    print("status:", producer.status("task-queue"))
    connection.close()


if __name__ == "__main__":
    main()
