"""Exercise 2, sqs_consumer.py: validating tasks, and a consumer with manual acknowledgements."""
from __future__ import annotations

import json

import pytest

from grader.harness.plugin import expect
from grader.sandbox.client import SqsClient, StudentRaised

SQS = SqsClient()
TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")
ACK_LESSON = ("With manual acknowledgements a message is deleted only after the handler has returned; "
              "deleting it earlier is auto-ack, and a crash while handling would lose it.")
FAILURE_LESSON = ("A message whose handler raised must stay undeleted: after the visibility timeout the "
                  "broker delivers it again (at-least-once delivery).")
STOP_LESSON = ("A consumer must end when the queue stays empty: stop after max_empty_polls receives in a row "
               "returned nothing (the course's loop `continue`s for ever).")


def task(n: int, task_type: str = "resize_image") -> str:
    return json.dumps({"taskType": task_type, "data": {"n": n}, "timestamp": "2024-01-15T09:30:00Z"})


class Recorder:
    """A handler that records what it saw, and raises for the bodies it is told to."""

    def __init__(self, broker, url: str, fail: dict[str, int] | None = None,
                 errors: dict[str, type[Exception]] | None = None):
        self.broker, self.url = broker, url
        self.fail = dict(fail or {})  # body -> how many more times to raise
        self.errors = errors or {}
        self.seen: list[str] = []
        self.stored_when_handled: list[bool] = []
        self.receive_counts: list[int] = []

    def __call__(self, body: str) -> str:
        self.seen.append(body)
        message = self.broker.find(self.url, body)
        self.stored_when_handled.append(message is not None)
        self.receive_counts.append(message.approximate_receive_count if message is not None else 0)
        if self.fail.get(body, 0) > 0:
            self.fail[body] -= 1
            raise self.errors.get(body, RuntimeError)(f"simulated failure handling {body[:40]}")
        self.broker.mark("Handled")
        return "done"


def consume(consumer, url: str, handler, **kwargs):
    try:
        return consumer.call("consume_messages", SQS, url, handler, **kwargs)
    except StudentRaised as exc:
        expect(False, f"consume_messages raised {exc.type_name}: {exc.message[:200]} — a handler's failure "
                      "must be counted, and the consumer must carry on.")


def fill(broker, name: str, count: int) -> tuple[str, list[str]]:
    url = broker.create_queue(name)
    bodies = [task(i, TASK_TYPES[i % 4]) for i in range(count)]
    for body in bodies:
        broker.send(url, body)
    return url, bodies


@pytest.mark.grade(points=2, concept="message validation",
                   lesson="process_task decodes the JSON body and returns the task as a dict.")
def test_process_task_valid(consumer):
    for i, task_type in enumerate(TASK_TYPES):
        body = task(i, task_type)
        got = consumer.call("process_task", body)
        expect(got == json.loads(body), f"process_task({body!r}) returned {got!r}, not the decoded task.")


MALFORMED = [
    ("not JSON at all", "this is not json"),
    ("a JSON list", "[1, 2, 3]"),
    ("a JSON string", '"resize_image"'),
    ("an unknown taskType", json.dumps({"taskType": "launch_rocket", "data": {}, "timestamp": "2024-01-15T09:30:00Z"})),
    ("no taskType", json.dumps({"data": {}, "timestamp": "2024-01-15T09:30:00Z"})),
    ("data that is a list", json.dumps({"taskType": "send_email", "data": [1], "timestamp": "2024-01-15T09:30:00Z"})),
    ("no data", json.dumps({"taskType": "send_email", "timestamp": "2024-01-15T09:30:00Z"})),
    ("a numeric timestamp", json.dumps({"taskType": "send_email", "data": {}, "timestamp": 1705311000})),
    ("no timestamp", json.dumps({"taskType": "send_email", "data": {}})),
]


@pytest.mark.grade(points=4, concept="message validation",
                   lesson="A consumer must reject a malformed message with ValueError (json.JSONDecodeError is one); "
                          "a KeyError or TypeError leaking out tells the caller nothing about the message.")
def test_process_task_rejects_malformed(consumer):
    for what, body in MALFORMED:
        try:
            got = consumer.call("process_task", body)
        except StudentRaised as exc:
            expect(exc.is_a("ValueError"), f"For a body with {what}, process_task raised {exc.type_name}, not ValueError.")
        else:
            expect(False, f"For a body with {what}, process_task returned {got!r} instead of raising ValueError.")


@pytest.mark.grade(points=2, concept="separating work from decoding",
                   lesson="The course's process_task sleeps and fails at random to simulate work; in the exercise "
                          "that belongs to main()'s handler: process_task only decodes and validates.")
def test_process_task_no_side_work(consumer, clock):
    before = clock.now()
    for i in range(30):
        try:
            consumer.call("process_task", task(i, TASK_TYPES[i % 4]))
        except StudentRaised as exc:
            expect(False, f"process_task raised {exc.type_name} for a valid task (call {i + 1} of 30): it must "
                          "not fail at random.")
    expect(clock.now() == before, f"process_task slept for {clock.now() - before:g} s over 30 calls.")


@pytest.mark.grade(points=4, concept="manual acknowledgement", lesson=ACK_LESSON)
def test_consume_processes_and_deletes(consumer, broker):
    url, bodies = fill(broker, "work", 5)
    handler = Recorder(broker, url)
    result = consume(consumer, url, handler, max_messages=5)
    expect(sorted(handler.seen) == sorted(bodies),
           f"The handler was called {len(handler.seen)} times for 5 messages (each exactly once expected).")
    left = broker.stored(url)
    expect(not left, f"{len(left)} of 5 handled messages are still in the queue: a message that was handled must "
                     "be deleted (acknowledged), or it will be delivered again.")
    expect(result == {"processed": 5, "failed": 0}, f"consume_messages returned {result!r}; expected "
                                                    "{'processed': 5, 'failed': 0}.")


@pytest.mark.grade(points=5, concept="manual acknowledgement", lesson=ACK_LESSON)
def test_ack_after_handler_returns(consumer, broker):
    url, bodies = fill(broker, "acks", 4)
    handler = Recorder(broker, url)
    consume(consumer, url, handler, max_messages=4)
    expect(handler.seen, "The handler was never called.")
    expect(all(handler.stored_when_handled),
           "The message was deleted before your handler finished: that is auto-ack, and a crash would lose it.")
    expect(not broker.stored(url), "Messages were handled but not deleted afterwards.")


@pytest.mark.grade(points=4, concept="at-least-once delivery", lesson=FAILURE_LESSON)
def test_failed_message_not_deleted(consumer, broker):
    url, bodies = fill(broker, "failing", 3)
    bad = bodies[1]
    handler = Recorder(broker, url, fail={bad: 99})
    result = consume(consumer, url, handler, max_messages=2, wait_time_seconds=1, visibility_timeout=30,
                     max_empty_polls=2)
    expect(bad in handler.seen, "The handler never saw the failing message.")
    expect(broker.find(url, bad) is not None,
           "The message whose handler raised was deleted anyway (in a `finally`, or before handling?): it is lost "
           "instead of being redelivered.")
    left = broker.bodies(url)
    expect(left == [bad], f"After handling, the queue should hold only the failed message; it holds {len(left)}.")
    expect(result == {"processed": 2, "failed": 1},
           f"consume_messages returned {result!r}; 2 handled and deleted, 1 failed delivery expected.")


@pytest.mark.grade(points=4, concept="visibility timeout", lesson=FAILURE_LESSON)
def test_failed_message_redelivered(consumer, broker):
    url, bodies = fill(broker, "retry", 3)
    flaky = bodies[1]
    handler = Recorder(broker, url, fail={flaky: 1})
    result = consume(consumer, url, handler, max_messages=3, wait_time_seconds=1, visibility_timeout=2,
                     max_empty_polls=5)
    deliveries = [count for body, count in zip(handler.seen, handler.receive_counts) if body == flaky]
    expect(len(deliveries) >= 2,
           f"The message that failed once was handled {len(deliveries)} time(s): after its visibility timeout "
           "it should come back and be handled again.")
    expect(deliveries[1] == 2, f"The second delivery had ApproximateReceiveCount {deliveries[1]}, not 2.")
    expect(not broker.stored(url), "The redelivered message was not deleted after it succeeded.")
    expect(result == {"processed": 3, "failed": 1}, f"consume_messages returned {result!r}; expected "
                                                    "{'processed': 3, 'failed': 1}.")


@pytest.mark.grade(points=3, concept="error handling in consumers",
                   lesson="Any exception from the handler (not only ValueError) must be caught, counted and the "
                          "loop continued: one bad message must not take the consumer down.")
def test_handler_error_never_escapes(consumer, broker):
    url = broker.create_queue("errors")
    first, second = task(1), task(2, "send_email")
    broker.send(url, first)
    broker.send(url, second)
    handler = Recorder(broker, url, fail={first: 99, second: 99}, errors={first: KeyError, second: RuntimeError})
    result = consume(consumer, url, handler, max_messages=2, wait_time_seconds=1, max_empty_polls=1)
    expect(isinstance(result, dict) and result.get("processed") == 0 and result.get("failed", 0) >= 2,
           f"Both handlers raised (KeyError, then RuntimeError); consume_messages returned {result!r}: "
           "each failed delivery must be counted in 'failed'.")
    expect(len(broker.stored(url)) == 2, "A message whose handler raised was deleted.")


@pytest.mark.grade(points=3, concept="long polling",
                   lesson="Long polling (WaitTimeSeconds) lets the broker hold the request until a message arrives "
                          "instead of answering empty at once; the VisibilityTimeout you pass hides each received "
                          "message while you work on it. Pass both on every receive.")
def test_long_polling_and_visibility(consumer, broker):
    url, bodies = fill(broker, "polling", 3)
    consume(consumer, url, Recorder(broker, url), max_messages=3, wait_time_seconds=7, visibility_timeout=45)
    receives = broker.calls("ReceiveMessage")
    expect(receives, "consume_messages never called receive_message.")
    for params in receives:
        expect(params.get("WaitTimeSeconds") == 7,
               f"A receive asked for WaitTimeSeconds={params.get('WaitTimeSeconds')}, not the wait_time_seconds "
               "given (7): that is short polling.")
        expect(params.get("VisibilityTimeout") == 45,
               f"A receive asked for VisibilityTimeout={params.get('VisibilityTimeout')}, not the "
               "visibility_timeout given (45).")


@pytest.mark.grade(points=3, concept="prefetch and visibility",
                   lesson="Every message you receive becomes invisible to other consumers: ask for at most "
                          "min(10, what you still need), or the extra ones sit in flight, unprocessed, until their "
                          "visibility timeout runs out.")
def test_never_asks_more_than_needed(consumer, broker):
    for name, total, wanted in (("few", 10, 3), ("many", 25, 12)):
        url, _ = fill(broker, name, total)
        handler = Recorder(broker, url)
        start = len(broker.requests)
        result = consume(consumer, url, handler, max_messages=wanted)
        done = 0
        for request in broker.requests[start:]:
            if request.action == "Handled":
                done += 1
            elif request.action == "ReceiveMessage":
                asked = request.params.get("MaxNumberOfMessages", 1)
                expect(1 <= asked <= 10, f"A receive asked for MaxNumberOfMessages={asked}; SQS allows 1 to 10.")
                expect(asked <= wanted - done,
                       f"With max_messages={wanted} and {done} already processed, a receive asked for {asked} "
                       "messages: more than still needed.")
        expect(broker.in_flight(url) == 0 and len(broker.stored(url)) == total - wanted,
               f"With max_messages={wanted} of {total}, {broker.in_flight(url)} messages were left in flight and "
               f"{len(broker.stored(url))} in the queue ({total - wanted} untouched expected).")
        expect(result == {"processed": wanted, "failed": 0}, f"consume_messages returned {result!r}.")


@pytest.mark.grade(points=4, concept="ending a consumer", lesson=STOP_LESSON)
def test_stops_after_empty_polls(consumer, broker):
    url = broker.create_queue("quiet")
    result = consume(consumer, url, Recorder(broker, url), max_empty_polls=3)
    receives = len(broker.calls("ReceiveMessage"))
    expect(receives == 3, f"On an empty queue with max_empty_polls=3 the consumer made {receives} receives, not 3.")
    expect(result == {"processed": 0, "failed": 0}, f"consume_messages returned {result!r} for an empty queue.")
    late = broker.create_queue("late")
    broker.send(late, task(7), delay=7)
    start = len(broker.requests)
    result = consume(consumer, late, Recorder(broker, late), max_empty_polls=2, wait_time_seconds=5)
    receives = sum(1 for r in broker.requests[start:] if r.action == "ReceiveMessage")
    expect(result == {"processed": 1, "failed": 0}, f"A message arriving after one empty poll was not processed "
                                                    f"(consume_messages returned {result!r}).")
    expect(receives == 4, f"Empty, message, empty, empty: with max_empty_polls=2 the consumer should stop after the "
                          f"4th receive (2 empty in a row), it made {receives}. The count restarts after a receive "
                          "that returned messages.")


@pytest.mark.grade(points=2, concept="the course's step 2",
                   lesson="main() is the course's step 2: consume up to 10 messages from task-queue with a handler "
                          "that simulates 2 s of work and fails 10% of the time — and it must end on an empty queue.")
def test_main_course_step2(consumer, broker, clock):
    url = broker.create_queue("task-queue")
    for i in range(4):
        broker.send(url, task(i, TASK_TYPES[i]))
    start = clock.now()
    consumer.call("main")
    deleted = 4 - len(broker.stored(url))
    expect(deleted >= 1, "main() deleted no message from task-queue.")
    expect(clock.now() - start >= 2 * deleted,
           f"main() handled {deleted} messages in {clock.now() - start:.0f} s: its handler should simulate 2 s of "
           "work each (time.sleep(2)).")
