"""Exercise 1, sqs_producer.py: creating a queue, shaping and sending tasks, reading queue depth."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from grader.harness.plugin import expect
from grader.sandbox.client import SqsClient, StudentRaised

SQS = SqsClient()
UTC = dt.timezone.utc
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
COURSE_TASKS = [
    ("resize_image", {"image": "photo1.jpg", "size": "800x600"}),
    ("send_email", {"to": "user@example.com", "subject": "Welcome!"}),
    ("process_order", {"order_id": "ORD-12345", "amount": 99.99}),
    ("resize_image", {"image": "photo2.jpg", "size": "1920x1080"}),
    ("generate_report", {"report_type": "monthly", "month": "2024-01"}),
]
ATTRIBUTES_LESSON = ("VisibilityTimeout is how long a received message stays hidden before the broker "
                     "redelivers it; MessageRetentionPeriod is how long an unconsumed message is kept.")
TIMESTAMP_LESSON = ("Consumers on other machines compare these times: send UTC in ISO-8601 ending in 'Z' "
                    "(e.g. 2024-01-15T09:30:00Z), converting an aware `now` to UTC and taking a naive one as UTC.")


def parse_z(text: str) -> dt.datetime:
    """The instant of an ISO-8601 'Z' timestamp; one that only looks like a date fails the test."""
    try:
        return dt.datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError:
        expect(False, f"The timestamp {text[:80]!r} has the shape of ISO-8601 but is not a real date and time.")
        raise


def check_timestamp(value: object, expected: dt.datetime, what: str, current: float | None = None) -> None:
    expect(isinstance(value, str), f"{what}: the timestamp is a {type(value).__name__}, not a string.")
    assert isinstance(value, str)
    expect(ISO_Z.match(value), f"{what}: the timestamp {value!r} is not ISO-8601 UTC ending in 'Z' "
                               "(a '+00:00' before the 'Z' means the offset was written twice).")
    got = parse_z(value)
    if current is not None and abs(got.timestamp() - current) < 1 <= abs(expected.timestamp() - current):
        expect(False, f"{what}: the timestamp {value!r} is the current time: make_task ignored its `now` argument.")
    # fractional seconds are allowed, not required: a timestamp cut to the whole second is right too
    expect(0 <= (expected - got).total_seconds() < 1 or abs((got - expected).total_seconds()) < 0.002,
           f"{what}: the timestamp {value!r} is not that instant in UTC (expected {expected:%Y-%m-%dT%H:%M:%S}Z).")


def queue_url(broker, name: str) -> str:
    return broker.url(name)


@pytest.mark.grade(points=3, concept="queue attributes", lesson=ATTRIBUTES_LESSON)
def test_create_queue_sets_attributes(producer, broker):
    returned = producer.call("create_queue", SQS, "orders-queue", 45, 3600)
    expect("orders-queue" in broker.queue_names(), "create_queue did not create a queue named 'orders-queue'.")
    attrs = broker.attributes(queue_url(broker, "orders-queue"))
    expect(attrs.get("VisibilityTimeout") == "45" and attrs.get("MessageRetentionPeriod") == "3600",
           f"create_queue(sqs, 'orders-queue', 45, 3600) made a queue with VisibilityTimeout="
           f"{attrs.get('VisibilityTimeout')} and MessageRetentionPeriod={attrs.get('MessageRetentionPeriod')}.")
    expect(returned == queue_url(broker, "orders-queue"),
           f"create_queue returned {returned!r}, not the queue's URL.")
    producer.call("create_queue", SQS, "audit-queue", visibility_timeout=10, retention_period=120)
    attrs = broker.attributes(queue_url(broker, "audit-queue"))
    expect(attrs.get("VisibilityTimeout") == "10" and attrs.get("MessageRetentionPeriod") == "120",
           "create_queue ignored visibility_timeout/retention_period passed by keyword.")


@pytest.mark.grade(points=1, concept="queue attributes", lesson=ATTRIBUTES_LESSON)
def test_create_queue_defaults(producer, broker):
    returned = producer.call("create_queue", SQS, "plain-queue")
    attrs = broker.attributes(queue_url(broker, "plain-queue"))
    expect(attrs.get("VisibilityTimeout") == "30" and attrs.get("MessageRetentionPeriod") == "86400",
           f"Without arguments the queue should get the course's VisibilityTimeout 30 and "
           f"MessageRetentionPeriod 86400; it got {attrs.get('VisibilityTimeout')} and "
           f"{attrs.get('MessageRetentionPeriod')}.")
    expect(returned == queue_url(broker, "plain-queue"), f"create_queue returned {returned!r}, not the queue's URL.")


@pytest.mark.grade(points=2, concept="idempotent set-up",
                   lesson="Producers restart: creating a queue that already exists must just give its URL back.")
def test_create_queue_existing_same_attributes(producer, broker):
    first = producer.call("create_queue", SQS, "task-queue")
    second = producer.call("create_queue", SQS, "task-queue")
    expect(first == second == queue_url(broker, "task-queue"),
           "Calling create_queue twice with the same name did not return the same queue URL both times.")
    expect(broker.queue_names() == ["task-queue"], f"Expected one queue, found {broker.queue_names()}.")


@pytest.mark.grade(points=3, concept="idempotent set-up",
                   lesson="SQS refuses CreateQueue for an existing name with other attributes "
                          "(QueueNameExists / QueueAlreadyExists): catch it and look the queue up with GetQueueUrl.")
def test_create_queue_existing_other_attributes(producer, broker):
    existing = broker.create_queue("task-queue", VisibilityTimeout=90, MessageRetentionPeriod=600)
    try:
        returned = producer.call("create_queue", SQS, "task-queue")
    except StudentRaised as exc:
        expect(False, f"create_queue raised {exc.type_name} when 'task-queue' already existed with other attributes.")
    expect(returned == existing, f"create_queue returned {returned!r} instead of the existing queue's URL.")


@pytest.mark.grade(points=3, concept="message format",
                   lesson="Every consumer decodes the same shape: exactly taskType, data and timestamp.")
def test_make_task_shape(producer, clock):
    now = dt.datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC)
    data = {"to": "user@example.com", "subject": "Welcome!"}
    task = producer.call("make_task", "send_email", data, now)
    expect(isinstance(task, dict), f"make_task returned a {type(task).__name__}, not a dict.")
    expect(set(task) == {"taskType", "data", "timestamp"},
           f"make_task's keys are {sorted(task)}; the message format has exactly taskType, data and timestamp.")
    expect(task["taskType"] == "send_email" and task["data"] == data,
           "make_task did not keep task_type as taskType and task_data as data unchanged.")
    check_timestamp(task["timestamp"], now, "make_task(..., now)", clock.now())


@pytest.mark.grade(points=3, concept="UTC timestamps", lesson=TIMESTAMP_LESSON)
def test_make_task_utc_z_timestamp(producer, clock):
    cases = [  # none of them is the grader's current (virtual) time, so ignoring `now` cannot pass
        (dt.datetime(2024, 7, 1, 1, 15, tzinfo=dt.timezone(dt.timedelta(hours=2))), "an aware time at +02:00"),
        (dt.datetime(2024, 2, 29, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
         "an aware time at -05:30"),
        (dt.datetime(2023, 12, 31, 23, 59, 59), "a naive time (taken as UTC)"),
        (dt.datetime(2024, 5, 5, 5, 5, 5, 250000, tzinfo=UTC), "an aware UTC time with fractional seconds"),
    ]
    for now, what in cases:
        task = producer.call("make_task", "resize_image", {"image": "a.jpg"}, now=now)
        expect(isinstance(task, dict), f"make_task returned a {type(task).__name__}, not a dict.")
        instant = now if now.tzinfo else now.replace(tzinfo=UTC)
        check_timestamp(task.get("timestamp"), instant.astimezone(UTC), f"For {what}", clock.now())


@pytest.mark.grade(points=2, concept="UTC timestamps", lesson=TIMESTAMP_LESSON)
def test_make_task_default_now(producer, clock):
    task = producer.call("make_task", "generate_report", {"month": "2024-01"})
    expect(isinstance(task, dict), f"make_task returned a {type(task).__name__}, not a dict.")
    stamp = task.get("timestamp")
    expect(isinstance(stamp, str) and ISO_Z.match(stamp),
           f"Without `now`, the timestamp {stamp!r} is not ISO-8601 UTC ending in 'Z'.")
    got = parse_z(stamp)
    expect(abs(got.timestamp() - clock.now()) < 2,
           f"Without `now`, make_task should stamp the current UTC time; {stamp!r} is "
           f"{got.timestamp() - clock.now():+.0f} s off (local time instead of UTC?).")


@pytest.mark.grade(points=3, concept="producing messages",
                   lesson="The broker stores the body as text: send json.dumps(make_task(...)) and return its MessageId.")
def test_send_task_json_body(producer, broker, clock):
    url = broker.create_queue("tasks")
    data = {"order_id": "ORD-12345", "amount": 99.99}
    message_id = producer.call("send_task", SQS, url, "process_order", data)
    stored = broker.stored(url)
    expect(len(stored) == 1, f"After one send_task the queue holds {len(stored)} messages, not 1.")
    try:
        body = json.loads(stored[0].body)
    except ValueError:
        expect(False, f"The message body {stored[0].body[:80]!r} is not JSON.")
    expect(isinstance(body, dict) and body.get("taskType") == "process_order" and body.get("data") == data
           and set(body) == {"taskType", "data", "timestamp"},
           f"The message body {stored[0].body[:120]!r} is not make_task's JSON object.")
    stamp = body["timestamp"]
    expect(isinstance(stamp, str) and ISO_Z.match(stamp) and abs(parse_z(stamp).timestamp() - clock.now()) < 2,
           f"The message's timestamp {stamp!r} is not the current UTC time ending in 'Z'.")
    expect(message_id == stored[0].id, f"send_task returned {message_id!r}, not the message's MessageId.")


@pytest.mark.grade(points=3, concept="queue depth",
                   lesson="ApproximateNumberOfMessages counts available messages and "
                          "ApproximateNumberOfMessagesNotVisible those in flight; SQS returns them as strings, "
                          "so convert them with int().")
def test_queue_status_ints(producer, broker):
    url = broker.create_queue("depth")
    for i in range(5):
        broker.send(url, json.dumps({"n": i}))
    broker.take(url, 2)
    status = producer.call("queue_status", SQS, url)
    expect(isinstance(status, dict) and set(status) == {"available", "in_flight"},
           f"queue_status returned {status!r}; expected a dict with exactly 'available' and 'in_flight'.")
    expect(all(type(v) is int for v in status.values()),
           f"queue_status returned {status!r}: the counts must be ints, not {type(status['available']).__name__}.")
    expect(status == {"available": 3, "in_flight": 2},
           f"With 3 messages waiting and 2 in flight, queue_status returned {status!r}.")


@pytest.mark.grade(points=2, concept="the course's step 1",
                   lesson="main() is the course's step 1: create task-queue (30 s visibility, 1 day retention) "
                          "and send its five sample tasks in order.")
def test_main_course_step1(producer, broker):
    producer.call("main")
    expect("task-queue" in broker.queue_names(), "main() did not create 'task-queue'.")
    url = queue_url(broker, "task-queue")
    attrs = broker.attributes(url)
    expect(attrs.get("VisibilityTimeout") == "30" and attrs.get("MessageRetentionPeriod") == "86400",
           "main() created task-queue without VisibilityTimeout 30 and MessageRetentionPeriod 86400.")
    sent = []
    for message in broker.stored(url):
        try:
            body = json.loads(message.body)
            sent.append((body.get("taskType"), body.get("data")))
        except (ValueError, AttributeError):
            sent.append((None, None))
    expect(sent == COURSE_TASKS, f"main() sent {len(sent)} tasks {[t for t, _ in sent]}; the course's step 1 "
                                 "sends its five sample tasks, in order, with their data.")
