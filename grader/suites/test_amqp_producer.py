"""Exercise A1, amqp_producer.py: durable queues with a dead-letter queue, persistent publishing
with confirms and mandatory routing, queue depth. Judged on a real RabbitMQ: the broker's own
definitions, the messages as a consumer gets them, and what crossed the student's connection."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from grader.harness.plugin import expect
from grader.harness.verdict import utc_instant
from grader.sandbox.client import AmqpChannel, StudentRaised

CHANNEL = AmqpChannel()
UTC = dt.timezone.utc
COURSE_TASKS = [
    ("resize_image", {"image": "photo1.jpg", "size": "800x600"}),
    ("send_email", {"to": "user@example.com", "subject": "Welcome!"}),
    ("process_order", {"order_id": "ORD-12345", "amount": 99.99}),
    ("resize_image", {"image": "photo2.jpg", "size": "1920x1080"}),
    ("generate_report", {"report_type": "monthly", "month": "2024-01"}),
]
DURABLE_LESSON = ("A durable queue's definition survives a broker restart (queue_declare(..., durable=True)); "
                  "exclusive or auto-delete queues vanish with their connection or last consumer.")
DLX_LESSON = ("A dead-letter exchange is where the broker sends a message rejected without requeue: declare the "
              "queue with arguments {'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': <dlq>} "
              "(the default exchange routes by queue name), and declare the dead-letter queue itself.")
PERSISTENCE_LESSON = ("Durability is the queue's, persistence the message's: only delivery_mode=2 writes a message "
                      "to disk, so that it survives a restart of the broker with its durable queue.")
CONFIRM_LESSON = ("With publisher confirms the broker acknowledges each publish once it has taken the message; "
                  "publish on the channel you were given (it is in confirm mode), not on one of your own.")
MANDATORY_LESSON = ("mandatory=True makes the broker return a message that no queue takes; on a confirming channel "
                    "pika raises UnroutableError. Without it the message vanishes silently.")


def declared(world, name: str) -> dict:
    queue = world.queue(name)
    expect(queue is not None, f"No queue named {name!r} exists on the broker after the call.")
    return queue


def publishes(world) -> list:
    return world.log.client("basic.publish")


@pytest.mark.grade(points=3, concept="durable queues", lesson=DURABLE_LESSON)
def test_declare_queue_durable(amqp_producer, amqp):
    amqp_producer.call("declare_queue", CHANNEL, "orders")
    queue = declared(amqp, "orders")
    expect(queue.get("durable") is True, "The queue 'orders' is not durable: it would be gone after a broker restart.")
    expect(not queue.get("exclusive") and not queue.get("auto_delete"),
           "The queue 'orders' is exclusive or auto-delete: it disappears with its connection or consumer.")
    expect(queue.get("type", "classic") == "classic", f"The queue is a {queue.get('type')} queue, not a classic one.")
    expect(not any(k.startswith("x-dead-letter") for k in queue.get("arguments", {})),
           "Without a dead_letter_queue the queue must have no dead-letter arguments.")


@pytest.mark.grade(points=4, concept="dead-letter exchanges", lesson=DLX_LESSON)
def test_declare_queue_with_dead_letter(amqp_producer, amqp):
    amqp_producer.call("declare_queue", CHANNEL, "work", "work.dlq")
    queue, dlq = declared(amqp, "work"), declared(amqp, "work.dlq")
    expect(queue.get("durable") and dlq.get("durable"), "The queue and its dead-letter queue must both be durable.")
    arguments = queue.get("arguments", {})
    expect(arguments.get("x-dead-letter-exchange") == "" and arguments.get("x-dead-letter-routing-key") == "work.dlq",
           f"The queue's arguments are {arguments}: they should dead-letter through the default exchange ('') with "
           "the routing key 'work.dlq'.")
    amqp.publish("work", b'{"poison": true}')
    method, _properties, _body = amqp.channel.basic_get("work", auto_ack=False)
    amqp.channel.basic_reject(method.delivery_tag, requeue=False)
    amqp.wait_for("work.dlq", 1)
    landed = amqp.bodies("work.dlq")
    expect(landed == [b'{"poison": true}'], "A message rejected without requeue did not land in 'work.dlq'.")


@pytest.mark.grade(points=2, concept="idempotent declarations",
                   lesson="Producers restart: declaring a queue again with the same arguments must succeed and leave "
                          "the queue (and the messages in it) as it was; never delete or purge to redeclare.")
def test_declare_queue_again_changes_nothing(amqp_producer, amqp):
    amqp_producer.call("declare_queue", CHANNEL, "task-queue", "task-queue.dlq")
    amqp.publish("task-queue", b'{"kept": 1}')
    try:
        amqp_producer.call("declare_queue", CHANNEL, "task-queue", "task-queue.dlq")
        amqp_producer.call("declare_queue", CHANNEL, "plain")
        amqp_producer.call("declare_queue", CHANNEL, "plain")
    except StudentRaised as exc:
        expect(False, f"Declaring the same queue a second time raised {exc.type_name}: {exc.message[:160]}")
    expect(amqp.bodies("task-queue") == [b'{"kept": 1}'],
           "Declaring 'task-queue' again lost the message that was waiting in it.")


@pytest.mark.grade(points=2, concept="message format",
                   lesson="Every consumer decodes the same shape: taskType, data and a UTC timestamp ending in 'Z' "
                          "(an aware `now` converted to UTC, a naive one taken as UTC).")
def test_make_task(amqp_producer):
    cases = [("send_email", {"to": "a@example.com"}, dt.datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC),
              dt.datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC)),
             ("resize_image", {"image": "photo1.jpg", "size": "800x600"},
              dt.datetime(2024, 7, 1, 1, 15, tzinfo=dt.timezone(dt.timedelta(hours=2))),
              dt.datetime(2024, 6, 30, 23, 15, tzinfo=UTC)),
             ("generate_report", {}, dt.datetime(2023, 12, 31, 23, 59, 59),
              dt.datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC))]
    for task_type, task_data, now, instant in cases:
        task = amqp_producer.call("make_task", task_type, task_data, now)
        expect(isinstance(task, dict) and set(task) == {"taskType", "data", "timestamp"},
               f"make_task returned {task!r}; the message format has exactly taskType, data and timestamp.")
        expect(task["taskType"] == task_type and task["data"] == task_data,
               f"make_task({task_type!r}, {task_data!r}, now) returned {task!r}: taskType and data are the "
               "arguments, as given.")
        stamp = utc_instant(task["timestamp"])
        expect(stamp is not None, f"The timestamp {task['timestamp']!r} is not a real ISO-8601 UTC time ending "
                                  "in 'Z'.")
        expect(0 <= (instant - stamp).total_seconds() < 1,
               f"For now={now.isoformat()} the timestamp is {task['timestamp']!r}, not that instant in UTC.")
    task = amqp_producer.call("make_task", "send_email", {})
    stamp = utc_instant(task.get("timestamp")) if isinstance(task, dict) else None
    current = amqp_producer.host.now()
    expect(stamp is not None and abs(stamp.timestamp() - current) < 2,
           f"Without `now`, make_task returned {task!r}: its timestamp should be the current UTC time ending in 'Z'.")


@pytest.mark.grade(points=4, concept="persistent messages", lesson=PERSISTENCE_LESSON)
def test_send_task_persistent_json(amqp_producer, amqp):
    amqp.declare_queue("jobs")
    data = {"order_id": "ORD-12345", "amount": 99.99}
    first = amqp_producer.call("send_task", CHANNEL, "jobs", "process_order", data)
    second = amqp_producer.call("send_task", CHANNEL, "jobs", "send_email", {"to": "b@example.com"})
    amqp.arrived("jobs", 2)
    messages = amqp.messages("jobs")
    expect(len(messages) == 2, f"After two send_task calls 'jobs' holds {len(messages)} messages, not 2.")
    body = messages[0].json
    expect(isinstance(body, dict) and body.get("taskType") == "process_order" and body.get("data") == data
           and isinstance(body.get("timestamp"), str) and set(body) == {"taskType", "data", "timestamp"},
           f"The message body {messages[0].text[:120]!r} is not make_task's JSON object.")
    properties = messages[0].properties
    expect(properties.get("delivery_mode") == 2,
           f"The message was published with delivery_mode={properties.get('delivery_mode')}, not 2 (persistent): "
           "a restart of the broker would lose it even in a durable queue.")
    expect(properties.get("content_type") == "application/json",
           f"The message's content_type is {properties.get('content_type')!r}, not 'application/json'.")
    ids = [m.properties.get("message_id") for m in messages]
    expect(ids == [first, second] and isinstance(first, str) and first != second,
           f"send_task returned {first!r} and {second!r}; the messages carry message_id {ids}: each message needs a "
           "new unique message_id, and send_task returns it.")
    sent = publishes(amqp)
    expect(all(p["exchange"] == "" and p["routing_key"] == "jobs" for p in sent),
           "send_task must publish to the default exchange ('') with the queue's name as routing key.")


@pytest.mark.grade(points=2, concept="publisher confirms", lesson=CONFIRM_LESSON)
def test_send_task_is_confirmed(amqp_producer, amqp):
    amqp.declare_queue("confirmed")
    amqp_producer.call("send_task", CHANNEL, "confirmed", "resize_image", {"image": "a.jpg"})
    done = amqp.mark("returned")
    confirming = {e.channel for e in amqp.log.client("confirm.select")}
    sent = [p for p in publishes(amqp) if p.index < done.index]
    expect(sent, "send_task published nothing.")
    expect(all(p.channel in confirming for p in sent),
           "send_task published on a channel without publisher confirms: the broker never said it took the message.")
    acked = [e for e in amqp.log.broker("basic.ack") if e.channel in confirming and e.index < done.index]
    expect(acked, "send_task returned before the broker confirmed the message.")


@pytest.mark.grade(points=4, concept="mandatory publishing", lesson=MANDATORY_LESSON)
def test_send_task_to_missing_queue_raises(amqp_producer, amqp):
    try:
        amqp_producer.call("send_task", CHANNEL, "no-such-queue", "send_email", {"to": "c@example.com"})
    except StudentRaised as exc:
        expect(exc.is_a("pika.exceptions.UnroutableError"),
               f"send_task raised {exc.type_name} for a queue that does not exist, not pika's UnroutableError.")
    else:
        sent = publishes(amqp)
        mandatory = bool(sent) and all(p["mandatory"] for p in sent)
        expect(False, "send_task to a queue that does not exist returned normally: the task vanished silently. "
                      + ("" if mandatory else "It was published without mandatory=True."))
    expect(amqp.log.broker("basic.return"), "The broker returned nothing: the message was not published as mandatory.")
    expect(not amqp.queue_exists("no-such-queue"),
           "send_task created the missing queue: a producer must not hide a missing queue by declaring it.")


@pytest.mark.grade(points=2, concept="queue depth",
                   lesson="A passive queue_declare reports the ready messages and the consumers of an existing queue "
                          "(message_count, consumer_count) without creating or changing anything.")
def test_queue_status(amqp_producer, amqp):
    amqp.declare_queue("depth")
    for i in range(3):
        amqp.publish("depth", json.dumps({"n": i}))
    amqp.hold("depth", 1)  # a consumer of the grader's, holding one message unacknowledged
    status = amqp_producer.call("queue_status", CHANNEL, "depth")
    expect(isinstance(status, dict) and set(status) == {"ready", "consumers"},
           f"queue_status returned {status!r}; expected a dict with exactly 'ready' and 'consumers'.")
    expect(all(type(v) is int for v in status.values()), f"queue_status returned {status!r}: the counts must be ints.")
    expect(status == {"ready": 2, "consumers": 1},
           f"With 2 messages ready (1 more delivered, unacknowledged) and one consumer, queue_status returned "
           f"{status!r}.")


@pytest.mark.grade(points=1, concept="queue depth",
                   lesson="queue_status must only look: a passive declare of a missing queue fails instead of "
                          "creating it.")
def test_queue_status_creates_nothing(amqp_producer, amqp):
    try:
        amqp_producer.call("queue_status", CHANNEL, "ghost")
    except StudentRaised:
        pass
    expect(not amqp.queue_exists("ghost"), "queue_status created the queue it was asked about.")
    declares = [e for e in amqp.log.client("queue.declare") if e["queue"] == "ghost"]
    expect(declares and all(e["passive"] for e in declares), "queue_status did not use a passive declare.")


@pytest.mark.grade(points=1, concept="the course's step 1",
                   lesson="main() is the course's step 1 on RabbitMQ: declare task-queue with the dead-letter queue "
                          "task-queue.dlq and send the five sample tasks, in order.")
@pytest.mark.student_connects
def test_main_course_step1(amqp_producer, amqp):
    amqp_producer.call("main")
    queue = declared(amqp, "task-queue")
    expect(queue.get("arguments", {}).get("x-dead-letter-routing-key") == "task-queue.dlq"
           and amqp.queue_exists("task-queue.dlq"),
           "main() did not declare task-queue with the dead-letter queue task-queue.dlq.")
    amqp.arrived("task-queue", len(COURSE_TASKS))
    sent = [m.field("taskType") for m in amqp.messages("task-queue")]
    expect(sent == [t for t, _ in COURSE_TASKS],
           f"main() sent {sent}; the course's step 1 sends its five sample tasks in order.")
