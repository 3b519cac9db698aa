"""Public checks for exercise A2 (the hidden suite checks when you ack, prefetch, requeue and
dead-lettering, stopping, and what you leave behind)."""
import json

import pytest

from grader.harness.plugin import expect
from grader.sandbox.client import AmqpChannel, StudentRaised

CHANNEL = AmqpChannel()


def task(n):
    return json.dumps({"taskType": "send_email", "data": {"n": n}, "timestamp": "2024-01-15T09:30:00Z"}).encode()


@pytest.mark.grade(points=1, concept="message validation")
def test_process_task(amqp_consumer):
    expect(amqp_consumer.call("process_task", task(1)) == json.loads(task(1)), "process_task did not return the task.")
    try:
        amqp_consumer.call("process_task", b"not json")
    except StudentRaised as exc:
        expect(exc.is_a("ValueError"), f"process_task raised {exc.type_name} for a non-JSON body, not ValueError.")
    else:
        expect(False, "process_task accepted a body that is not JSON.")


@pytest.mark.grade(points=2, concept="manual acknowledgement")
def test_consume_handles_and_acks(amqp_consumer, amqp):
    amqp.declare_queue("work")
    for n in range(3):
        amqp.publish("work", task(n))
    seen = []
    result = amqp_consumer.call("consume_messages", CHANNEL, "work", seen.append, max_messages=3, idle_timeout=0.3)
    expect(len(seen) == 3, f"The handler was called {len(seen)} times for 3 messages.")
    amqp.cut()
    expect(amqp.ready("work") == 0, "Handled messages came back to the queue: they were never acknowledged.")
    expect(result == {"processed": 3, "requeued": 0, "dead_lettered": 0}, f"consume_messages returned {result!r}.")
