"""Topic-exchange routing: each task goes to its type's queue, plus an audit copy."""
import json
import uuid
from datetime import datetime, timezone

import pika

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")

ROUTES = {
    "images":  ["task.resize_image"],
    "emails":  ["task.send_email"],
    "orders":  ["task.process_order"],
    "reports": ["task.generate_report"],
    "audit":   ["task.#"],
}


def declare_routing(channel, exchange="tasks"):
    channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
    for queue_name, binding_keys in ROUTES.items():
        channel.queue_declare(queue=queue_name, durable=True)
        for binding_key in binding_keys:
            channel.queue_bind(queue=queue_name, exchange=exchange, routing_key=binding_key)


def make_task(task_type, task_data, now=None):
    if now is None:
        now = datetime.now(timezone.utc)
    if now.tzinfo is not None:
        now = now.astimezone(timezone.utc).replace(tzinfo=None)
    return {"taskType": task_type, "data": task_data, "timestamp": now.isoformat() + "Z"}


def route_task(channel, task_type, task_data, exchange="tasks"):
    if task_type not in TASK_TYPES:
        raise ValueError(f"unknown task type: {task_type!r}")
    message_id = str(uuid.uuid4())
    channel.basic_publish(
        exchange=exchange,
        routing_key=f"task.{task_type}",
        body=json.dumps(make_task(task_type, task_data)),
        properties=pika.BasicProperties(
            delivery_mode=2,
            content_type="application/json",
            message_id=message_id,
        ),
        mandatory=True,
    )
    return message_id
