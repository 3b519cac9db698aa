"""Exercise 1, sqs_producer.py: creating a queue, shaping and sending tasks, reading queue depth."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from grader.harness.broker import run_main
from grader.harness.plugin import expect
from grader.harness.verdict import NOT_JSON, student_json, utc_instant
from grader.sandbox.client import StudentRaised

UTC = dt.timezone.utc
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


def check_timestamp(value: object, expected: dt.datetime, what: str, current: float | None = None) -> None:
    expect(isinstance(value, str), f"{what}: the timestamp is a {type(value).__name__}, not a string.")
    got = utc_instant(value)
    expect(got is not None, f"{what}: the timestamp {value!r} is not a real ISO-8601 UTC time ending in 'Z' "
                            "(a '+00:00' before the 'Z' means the offset was written twice).")
    assert got is not None
    if current is not None and abs(got.timestamp() - current) < 1 <= abs(expected.timestamp() - current):
        expect(False, f"{what}: the timestamp {value!r} is the current time: make_task ignored its `now` argument.")
    # fractional seconds are allowed, not required: a timestamp cut to the whole second is right too
    expect(0 <= (expected - got).total_seconds() < 1 or abs((got - expected).total_seconds()) < 0.002,
           f"{what}: the timestamp {value!r} is not that instant in UTC (expected {expected:%Y-%m-%dT%H:%M:%S}Z).")


def queue_url(broker, name: str) -> str:
    return broker.url(name)


def created(broker, name: str, what: str) -> str:
    """The URL of the queue ``what`` should have created; the test fails with that sentence if it did not."""
    expect(broker.exists(name), f"{what} did not create a queue named {name!r} (the broker has "
                                f"{broker.queue_names() or 'no queue'}).")
    return queue_url(broker, name)


STATUS_LINES = 16  # where a status printed at the end is: the last lines printed
STATUS_NUMBERS = 24  # more numbers than this there is a list of guesses, not a status


def printed_numbers(text: str) -> list[int]:
    """The whole numbers (of at most 18 digits) in the last lines printed."""
    tail = [line for line in text.splitlines() if line.strip()][-STATUS_LINES:]
    return [int(n) for n in re.findall(r"(?<![\w.-])\d{1,18}(?![\w-]|\.\d)", "\n".join(tail))]


@pytest.mark.grade(points=3, concept="queue attributes", lesson=ATTRIBUTES_LESSON)
def test_create_queue_sets_attributes(producer, broker, sqs, data):
    name, visibility, retention = data.name("orders"), data.int(31, 900), data.int(600, 604800, (86400,))
    returned = producer.call("create_queue", sqs, name, visibility, retention)
    url = created(broker, name, f"create_queue(sqs, {name!r}, {visibility}, {retention})")
    attrs = broker.attributes(url)
    expect(attrs.get("VisibilityTimeout") == str(visibility) and attrs.get("MessageRetentionPeriod") == str(retention),
           f"create_queue(sqs, {name!r}, {visibility}, {retention}) made a queue with VisibilityTimeout="
           f"{attrs.get('VisibilityTimeout')} and MessageRetentionPeriod={attrs.get('MessageRetentionPeriod')}.")
    expect(returned == url, f"create_queue returned {returned!r}, not the queue's URL (the QueueUrl the broker gave).")
    other, visibility, retention = data.name("audit"), data.int(1, 29), data.int(60, 3599)
    producer.call("create_queue", sqs, other, visibility_timeout=visibility, retention_period=retention)
    attrs = broker.attributes(created(broker, other, "create_queue with keyword arguments"))
    expect(attrs.get("VisibilityTimeout") == str(visibility) and attrs.get("MessageRetentionPeriod") == str(retention),
           "create_queue ignored visibility_timeout/retention_period passed by keyword.")


@pytest.mark.grade(points=1, concept="queue attributes", lesson=ATTRIBUTES_LESSON)
def test_create_queue_defaults(producer, broker, sqs, data):
    name = data.name("plain")
    returned = producer.call("create_queue", sqs, name)
    url = created(broker, name, f"create_queue(sqs, {name!r})")
    attrs = broker.attributes(url)
    expect(attrs.get("VisibilityTimeout") == "30" and attrs.get("MessageRetentionPeriod") == "86400",
           f"Without arguments the queue should get the course's VisibilityTimeout 30 and "
           f"MessageRetentionPeriod 86400; it got {attrs.get('VisibilityTimeout')} and "
           f"{attrs.get('MessageRetentionPeriod')}.")
    expect(returned == url, f"create_queue returned {returned!r}, not the queue's URL.")


@pytest.mark.grade(points=2, concept="idempotent set-up",
                   lesson="Producers restart: creating a queue that already exists must just give its URL back.")
def test_create_queue_existing_same_attributes(producer, broker, sqs, data):
    name = data.name("tasks")
    first = producer.call("create_queue", sqs, name)
    url = created(broker, name, f"create_queue(sqs, {name!r})")
    second = producer.call("create_queue", sqs, name)
    expect(first == second == url,
           "Calling create_queue twice with the same name did not return the same queue URL both times.")
    expect(broker.queue_names() == [name], f"Expected one queue, found {broker.queue_names()}.")


@pytest.mark.grade(points=3, concept="idempotent set-up",
                   lesson="SQS refuses CreateQueue for an existing name with other attributes "
                          "(QueueNameExists / QueueAlreadyExists): catch it and look the queue up with GetQueueUrl.")
def test_create_queue_existing_other_attributes(producer, broker, sqs, data):
    name = data.name("tasks")
    existing = broker.create_queue(name, VisibilityTimeout=data.int(31, 900), MessageRetentionPeriod=data.int(60, 86399))
    try:
        returned = producer.call("create_queue", sqs, name)
    except StudentRaised as exc:
        expect(False, f"create_queue raised {exc.type_name} ({exc.message[:200]}) when {name!r} already existed with "
                      "other attributes.")
    expect(returned == existing, f"create_queue returned {returned!r} instead of the existing queue's URL.")


@pytest.mark.grade(points=3, concept="message format",
                   lesson="Every consumer decodes the same shape: exactly taskType, data and timestamp.")
def test_make_task_shape(producer, clock, data):
    now = dt.datetime(2024, data.int(1, 12), data.int(1, 28), data.int(0, 23), data.int(0, 59), data.int(0, 59),
                      tzinfo=UTC)
    task_type, task_data = data.rng.choice(COURSE_TASKS)[0], data.task_data()
    task = producer.call("make_task", task_type, task_data, now)
    expect(isinstance(task, dict), f"make_task returned a {type(task).__name__}, not a dict.")
    expect(set(task) == {"taskType", "data", "timestamp"},
           f"make_task's keys are {sorted(task)}; the message format has exactly taskType, data and timestamp.")
    expect(task["taskType"] == task_type and task["data"] == task_data,
           "make_task did not keep task_type as taskType and task_data as data unchanged.")
    check_timestamp(task["timestamp"], now, "make_task(..., now)", clock.now())


@pytest.mark.grade(points=3, concept="UTC timestamps", lesson=TIMESTAMP_LESSON)
def test_make_task_utc_z_timestamp(producer, clock):  # the box's local zone is not UTC
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
def test_make_task_default_now(producer, clock, data):
    clock.advance(data.int(3600, 30 * 86400))  # long after the import: the default is read at the call
    task = producer.call("make_task", "generate_report", data.task_data())
    expect(isinstance(task, dict), f"make_task returned a {type(task).__name__}, not a dict.")
    stamp = task.get("timestamp")
    got = utc_instant(stamp)
    expect(got is not None, f"Without `now`, the timestamp {stamp!r} is not ISO-8601 UTC ending in 'Z'.")
    assert got is not None
    expect(abs(got.timestamp() - clock.now()) < 2,
           f"Without `now`, make_task should stamp the current UTC time at the call; {stamp!r} is "
           f"{got.timestamp() - clock.now():+.0f} s off (local time instead of UTC? or a default computed once, "
           "when the module was imported?).")


@pytest.mark.grade(points=3, concept="producing messages",
                   lesson="The broker stores the body as text: send json.dumps(make_task(...)) and return its MessageId.")
def test_send_task_json_body(producer, broker, clock, sqs, data):
    url = broker.create_queue(data.name("tasks"))
    task_data = data.task_data()
    clock.advance(data.int(60, 86400))
    message_id = producer.call("send_task", sqs, url, "process_order", task_data)
    stored = broker.stored(url)
    expect(len(stored) == 1, f"After one send_task the queue holds {len(stored)} messages, not 1.")
    body = student_json(stored[0].body)
    expect(body is not NOT_JSON, f"The message body {stored[0].body[:80]!r} is not JSON.")
    expect(isinstance(body, dict) and body.get("taskType") == "process_order" and body.get("data") == task_data
           and set(body) == {"taskType", "data", "timestamp"},
           f"The message body {stored[0].body[:120]!r} is not make_task's JSON object.")
    stamp = utc_instant(body["timestamp"])
    expect(stamp is not None and abs(stamp.timestamp() - clock.now()) < 2,
           f"The message's timestamp {body['timestamp']!r} is not the current UTC time ending in 'Z'.")
    expect(message_id == stored[0].id, f"send_task returned {message_id!r}, not the message's MessageId.")


@pytest.mark.grade(points=2, concept="queue depth",
                   lesson="ApproximateNumberOfMessages counts available messages and "
                          "ApproximateNumberOfMessagesNotVisible those in flight; SQS returns them as strings, "
                          "so convert them with int().")
def test_queue_status_ints(producer, broker, sqs, data):
    url = broker.create_queue(data.name("depth"))
    waiting, taken = data.int(2, 9), data.int(1, 6)
    for i in range(waiting + taken):
        broker.send(url, json.dumps({"n": i, "data": data.task_data()}))
    broker.take(url, taken)
    status = producer.call("queue_status", sqs, url)
    expect(isinstance(status, dict) and set(status) == {"available", "in_flight"},
           f"queue_status returned {status!r}; expected a dict with exactly 'available' and 'in_flight'.")
    expect(all(type(v) is int for v in status.values()),
           f"queue_status returned {status!r}: the counts must be ints, not {type(status['available']).__name__}.")
    expect(status == {"available": waiting, "in_flight": taken},
           f"With {waiting} messages waiting and {taken} in flight, queue_status returned {status!r}.")


MAIN_LESSON = ("main() is the course's step 1: create task-queue (30 s visibility, 1 day retention), send its five "
               "sample tasks in order and print the queue's status; it makes its own client with boto3.client('sqs'), "
               "so AWS_ENDPOINT_URL and AWS_DEFAULT_REGION from the environment say which broker it talks to.")


def course_tasks_sent(broker, url: str) -> list[tuple[object, object]]:
    sent = []
    for message in broker.stored(url):
        body = student_json(message.body)
        sent.append((body.get("taskType"), body.get("data")) if isinstance(body, dict) else (None, None))
    return sent


@pytest.mark.grade(points=1, concept="the course's step 1", lesson=MAIN_LESSON)
def test_main_course_step1(producer, broker):
    run_main(producer, broker, "sqs_producer.py")
    url = created(broker, "task-queue", f"main() (in region {broker.region}, at AWS_ENDPOINT_URL)")
    attrs = broker.attributes(url)
    expect(attrs.get("VisibilityTimeout") == "30" and attrs.get("MessageRetentionPeriod") == "86400",
           "main() created task-queue without VisibilityTimeout 30 and MessageRetentionPeriod 86400.")
    sent = course_tasks_sent(broker, url)
    expect(sent == COURSE_TASKS, f"main() sent {len(sent)} tasks {[t for t, _ in sent]}; the course's step 1 "
                                 "sends its five sample tasks, in order, with their data.")


@pytest.mark.grade(points=1, concept="queue depth", lesson=MAIN_LESSON)
def test_main_prints_status_after_sending(producer, broker, data):
    url = broker.create_queue("task-queue", VisibilityTimeout=30, MessageRetentionPeriod=86400)
    waiting, taken = data.int(6, 14), data.int(2, 4)
    for i in range(waiting + taken):
        broker.send(url, json.dumps({"taskType": "resize_image", "data": data.task_data(),
                                     "timestamp": "2024-01-15T09:30:00Z"}))
    broker.take(url, taken, visibility=3600)
    run_main(producer, broker, "sqs_producer.py")
    added = len(broker.stored(url)) - waiting - taken
    served = [r.action for r in broker.requests if r.status == 200]
    sends = [i for i, a in enumerate(served) if a in ("SendMessage", "SendMessageBatch")]
    reads = [i for i, a in enumerate(served) if a == "GetQueueAttributes"]
    expect(added == len(COURSE_TASKS) and sends and reads and reads[-1] > sends[-1],
           f"main() must send the course's five tasks to task-queue and then read the queue's status from the "
           f"broker (GetQueueAttributes, as queue_status does); it added {added} message(s) and "
           f"{'read' if sends and reads and reads[-1] > sends[-1] else 'did not read'} the status after its last send.")
    available = waiting + len(COURSE_TASKS)
    numbers = printed_numbers(producer.output())
    expect(available in numbers and taken in numbers and len(set(numbers)) <= STATUS_NUMBERS,
           f"task-queue already held {waiting} waiting and {taken} in-flight messages; after main() sent its five "
           f"tasks it should print the status read then ({available} available, {taken} in flight), but its last "
           f"lines printed {len(set(numbers))} different numbers: {numbers[:12]}.")


@pytest.mark.grade(points=1, concept="the course's step 1", lesson=MAIN_LESSON)
def test_runs_main_as_a_script(producer, broker):
    run_main(producer, broker, "sqs_producer.py", "__main__")
    url = created(broker, "task-queue", "python sqs_producer.py")
    expect(course_tasks_sent(broker, url) == COURSE_TASKS,
           "python sqs_producer.py did not send the course's five tasks: run main() under "
           "`if __name__ == \"__main__\":`.")
