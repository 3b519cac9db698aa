"""Public checks for exercise 1 (the hidden suite checks much more, e.g. timestamps in other zones)."""
import datetime as dt
import json

import pytest

from grader.harness.plugin import expect
from grader.sandbox.client import SqsClient

SQS = SqsClient()


@pytest.mark.grade(points=1, concept="queue attributes")
def test_create_queue_returns_url(producer, broker):
    url = producer.call("create_queue", SQS, "my-queue", 45, 3600)
    expect("my-queue" in broker.queue_names(), "create_queue did not create 'my-queue'.")
    attrs = broker.attributes(url) if isinstance(url, str) and url.endswith("my-queue") else {}
    expect(attrs.get("VisibilityTimeout") == "45", f"create_queue returned {url!r}; expected the new queue's URL "
                                                   "with VisibilityTimeout 45.")


@pytest.mark.grade(points=1, concept="message format")
def test_make_task_shape(producer):
    now = dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.timezone.utc)
    task = producer.call("make_task", "send_email", {"to": "a@example.com"}, now)
    expect(task == {"taskType": "send_email", "data": {"to": "a@example.com"}, "timestamp": "2024-01-15T09:30:00Z"},
           f"make_task returned {task!r}.")


@pytest.mark.grade(points=1, concept="producing messages")
def test_send_task_puts_json_in_queue(producer, broker):
    url = broker.create_queue("tasks")
    producer.call("send_task", SQS, url, "resize_image", {"image": "a.jpg"})
    bodies = broker.bodies(url)
    expect(len(bodies) == 1, f"The queue holds {len(bodies)} messages after one send_task.")
    expect(json.loads(bodies[0]).get("taskType") == "resize_image", "The message body is not the task as JSON.")
