import json, os, uuid
from datetime import datetime, timezone

import pika
from pika import DeliveryMode

QUEUE = "task-queue"
DLQ = "task-queue.dlq"


def _dlx_args(dlq):
    return {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}


def declare_queue(channel, queue_name, dead_letter_queue=None):
    kwargs = dict(queue=queue_name, durable=True, exclusive=False, auto_delete=False)
    if dead_letter_queue:
        channel.queue_declare(queue=dead_letter_queue, durable=True)
        kwargs["arguments"] = _dlx_args(dead_letter_queue)
    channel.queue_declare(**kwargs)


def _utc_stamp(now):
    now = now or datetime.now(timezone.utc)
    if now.utcoffset() is not None:
        now = (now - now.utcoffset()).replace(tzinfo=None)
    return now.isoformat() + "Z"


def make_task(task_type, task_data, now=None):
    return dict(taskType=task_type, data=task_data, timestamp=_utc_stamp(now))


def send_task(channel, queue_name, task_type, task_data):
    mid = f"msg-{uuid.uuid4()}"
    props = pika.BasicProperties(content_type="application/json",
                                 delivery_mode=DeliveryMode.Persistent,
                                 message_id=mid)
    channel.basic_publish("", queue_name, json.dumps(make_task(task_type, task_data)),
                          properties=props, mandatory=True)
    return mid


def queue_status(channel, queue_name):
    m = channel.queue_declare(queue_name, passive=True).method
    return {"ready": m.message_count, "consumers": m.consumer_count}


def main():
    conn = pika.BlockingConnection(pika.URLParameters(
        os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")))
    ch = conn.channel()
    ch.confirm_delivery()
    declare_queue(ch, QUEUE, DLQ)
    for t, d in [("resize_image", {"image": "photo1.jpg", "size": "800x600"}),
                 ("send_email", {"to": "user@example.com", "subject": "Welcome!"}),
                 ("process_order", {"order_id": "ORD-12345", "amount": 99.99}),
                 ("resize_image", {"image": "photo2.jpg", "size": "1920x1080"}),
                 ("generate_report", {"report_type": "monthly", "month": "2024-01"})]:
        print(t, "->", send_task(ch, QUEUE, t, d))
    s = queue_status(ch, QUEUE)
    print(f"Queue status: ready={s['ready']} consumers={s['consumers']}")
    conn.close()


if __name__ == "__main__":
    main()
