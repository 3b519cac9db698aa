"""Public checks for exercise 2 (the hidden suite checks failures, redelivery, polling and stopping)."""
import json

import pytest

from grader.harness.plugin import expect
from grader.sandbox.client import SqsClient, StudentRaised

SQS = SqsClient()


def task(n):
    return json.dumps({"taskType": "send_email", "data": {"n": n}, "timestamp": "2024-01-15T09:30:00Z"})


@pytest.mark.grade(points=1, concept="message validation")
def test_process_task(consumer):
    expect(consumer.call("process_task", task(1)) == json.loads(task(1)), "process_task did not return the task.")
    try:
        consumer.call("process_task", "not json")
    except StudentRaised as exc:
        expect(exc.is_a("ValueError"), f"process_task raised {exc.type_name} for a non-JSON body, not ValueError.")
    else:
        expect(False, "process_task accepted a body that is not JSON.")


@pytest.mark.grade(points=2, concept="manual acknowledgement")
def test_consume_handles_and_deletes(consumer, broker):
    url = broker.create_queue("work")
    for n in range(3):
        broker.send(url, task(n))
    seen = []
    result = consumer.call("consume_messages", SQS, url, seen.append, max_messages=3)
    expect(len(seen) == 3, f"The handler was called {len(seen)} times for 3 messages.")
    expect(not broker.stored(url), "Handled messages were not deleted from the queue.")
    expect(result == {"processed": 3, "failed": 0}, f"consume_messages returned {result!r}.")
