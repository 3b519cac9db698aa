"""Routing tasks through a durable topic exchange (helper-function style)."""
from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone

import pika
from pika.exchange_type import ExchangeType

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")

ROUTES = {
    "images":  ["task.resize_image"],
    "emails":  ["task.send_email"],
    "orders":  ["task.process_order"],
    "reports": ["task.generate_report"],
    "audit":   ["task.#"],
}

PREFIX = "task."


def routing_key_for(task_type: str) -> str:
    return PREFIX + task_type


def check_task_type(task_type) -> None:
    if not isinstance(task_type, str) or task_type not in TASK_TYPES:
        raise ValueError(f"task_type must be one of {TASK_TYPES}, got {task_type!r}")


def bindings():
    """Yield (queue, binding_key) pairs from ROUTES."""
    for queue, keys in ROUTES.items():
        for key in keys:
            yield queue, key


def persistent_json_properties() -> pika.BasicProperties:
    return pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                message_id=str(uuid.uuid4()))


def declare_routing(channel, exchange: str = "tasks") -> None:
    channel.exchange_declare(exchange, exchange_type=ExchangeType.topic, durable=True,
                             auto_delete=False)
    for queue in ROUTES:
        channel.queue_declare(queue, durable=True, exclusive=False, auto_delete=False)
    for queue, key in bindings():
        channel.queue_bind(queue, exchange, routing_key=key)


def make_task(task_type: str, task_data: dict, now: datetime | None = None) -> dict:
    ts = (now or datetime.now(timezone.utc))
    if ts.tzinfo:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return {"taskType": task_type, "data": task_data, "timestamp": f"{ts.isoformat()}Z"}


def route_task(channel, task_type: str, task_data: dict, exchange: str = "tasks") -> str:
    check_task_type(task_type)
    props = persistent_json_properties()
    body = json.dumps(make_task(task_type, task_data))
    channel.basic_publish(exchange, routing_key_for(task_type), body, props, mandatory=True)
    return props.message_id


def main() -> None:
    conn = pika.BlockingConnection(pika.URLParameters(
        os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")))
    ch = conn.channel()
    ch.confirm_delivery()
    declare_routing(ch)
    for t in TASK_TYPES:
        print(t, route_task(ch, t, {"demo": True}))
    for q in ROUTES:
        print(q, ch.queue_declare(q, passive=True).method.message_count)
    conn.close()


if __name__ == "__main__":
    main()
