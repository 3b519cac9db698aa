"""Public checks for exercise A3 (the hidden suite checks the bindings, topic patterns, message
properties and unknown task types)."""
import pytest

from grader.harness.plugin import expect
from grader.sandbox.client import AmqpChannel

CHANNEL = AmqpChannel()


@pytest.mark.grade(points=1, concept="exchanges")
def test_declare_routing_topic_exchange(amqp_routing, amqp):
    amqp_routing.call("declare_routing", CHANNEL)
    exchange = amqp.exchange("tasks")
    expect(exchange is not None and exchange.get("type") == "topic", "declare_routing did not declare the topic "
                                                                      "exchange 'tasks'.")


@pytest.mark.grade(points=2, concept="routing keys")
def test_task_reaches_its_queue_and_audit(amqp_routing, amqp):
    amqp_routing.call("declare_routing", CHANNEL)
    amqp_routing.call("route_task", CHANNEL, "send_email", {"to": "a@example.com"})
    expect(amqp.ready("emails") == 1, "The send_email task did not reach the queue 'emails'.")
    expect(amqp.ready("audit") == 1, "The audit queue did not get its copy of the task.")
