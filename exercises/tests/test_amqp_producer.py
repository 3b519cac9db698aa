"""Public checks for exercise A1 (the hidden suite checks much more: dead-letter queues, confirms,
a publish to a missing queue, idempotent declarations, the course's step 1)."""
import pytest

from grader.harness.plugin import expect
from grader.sandbox.client import AmqpChannel

CHANNEL = AmqpChannel()


@pytest.mark.grade(points=1, concept="durable queues")
def test_declare_queue_durable(amqp_producer, amqp):
    amqp_producer.call("declare_queue", CHANNEL, "orders")
    queue = amqp.queue("orders")
    expect(queue is not None, "declare_queue did not declare 'orders'.")
    expect(queue.get("durable") is True, "The queue 'orders' is not durable.")


@pytest.mark.grade(points=1, concept="persistent messages")
def test_send_task_persistent_json(amqp_producer, amqp):
    amqp.declare_queue("tasks")
    message_id = amqp_producer.call("send_task", CHANNEL, "tasks", "resize_image", {"image": "a.jpg"})
    messages = amqp.messages("tasks")
    expect(len(messages) == 1, f"The queue holds {len(messages)} messages after one send_task.")
    expect((messages[0].json or {}).get("taskType") == "resize_image", "The message body is not the task as JSON.")
    expect(messages[0].properties.get("delivery_mode") == 2, "The message is not persistent (delivery_mode=2).")
    expect(messages[0].properties.get("message_id") == message_id, "send_task did not return the message's id.")
