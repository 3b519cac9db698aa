"""Exercise 2, sqs_consumer.py: validating tasks, and a consumer with manual acknowledgements."""
from __future__ import annotations

import json

import pytest

from grader.harness.broker import run_main
from grader.harness.plugin import expect
from grader.sandbox.client import StudentRaised

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")
ACK_LESSON = ("With manual acknowledgements a message is deleted only after the handler has returned; "
              "deleting it earlier is auto-ack, and a crash while handling would lose it.")
FAILURE_LESSON = ("A message whose handler raised must stay undeleted: after the visibility timeout the "
                  "broker delivers it again (at-least-once delivery).")
STOP_LESSON = ("A consumer must end when the queue stays empty: stop after max_empty_polls receives in a row "
               "returned nothing (the course's loop `continue`s for ever).")


def task(n: int, task_type: str = "resize_image", data=None) -> str:
    """A valid task body; ``data`` (the test's seeded values) makes its contents unguessable."""
    content = {"n": n, **(data.task_data() if data is not None else {})}
    return json.dumps({"taskType": task_type, "data": content, "timestamp": "2024-01-15T09:30:00Z"})


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
        if not isinstance(body, str):
            raise TypeError(f"handler(body) takes the message's body, a str, not {type(body).__name__}")
        self.seen.append(body)
        message = self.broker.find(self.url, body)
        self.stored_when_handled.append(message is not None)
        self.receive_counts.append(message.approximate_receive_count if message is not None else 0)
        if self.fail.get(body, 0) > 0:
            self.fail[body] -= 1
            raise self.errors.get(body, RuntimeError)(f"simulated failure handling {body[:40]}")
        self.broker.mark("Handled")
        return "done"


def consume(consumer, sqs, url: str, *handler, **kwargs):
    try:
        return consumer.call("consume_messages", sqs, url, *handler, **kwargs)
    except StudentRaised as exc:
        expect(False, f"consume_messages raised {exc.type_name}: {exc.message[:200]} — a handler's failure "
                      "must be counted, and the consumer must carry on.")


def fill(broker, data, name: str, count: int) -> tuple[str, list[str]]:
    url = broker.create_queue(data.name(name))
    bodies = [task(i, TASK_TYPES[i % 4], data) for i in range(count)]
    for body in bodies:
        broker.send(url, body)
    return url, bodies


@pytest.mark.grade(points=2, concept="message validation",
                   lesson="process_task decodes the JSON body and returns the task as a dict.")
def test_process_task_valid(consumer, data):
    bodies = [task(i, task_type, data) for i, task_type in enumerate(TASK_TYPES)]
    bodies.append(json.dumps({"taskType": data.rng.choice(TASK_TYPES), "data": {}, "timestamp": "2024-01-15T09:30:00Z"}))
    for body in bodies:
        try:
            got = consumer.call("process_task", body)
        except StudentRaised as exc:
            expect(False, f"process_task({body[:160]!r}) raised {exc.type_name}: any object is valid data, the "
                          "empty object {} included.")
        expect(got == json.loads(body), f"process_task({body[:160]!r}) returned {got!r}, not the decoded task.")


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


@pytest.mark.grade(points=3, concept="message validation",
                   lesson="A consumer must reject a malformed message with ValueError (json.JSONDecodeError is one); "
                          "a KeyError or TypeError leaking out tells the caller nothing about the message.")
def test_process_task_rejects_malformed(consumer, data):
    try:
        consumer.call("process_task", task(0, TASK_TYPES[0], data))
    except StudentRaised as exc:
        expect(False, f"process_task raised {exc.type_name} for a valid task too: rejecting everything is not "
                      "validating (a valid task must come back decoded).")
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
def test_process_task_no_side_work(consumer, clock, data):
    before = clock.now()
    for i in range(30):
        try:
            consumer.call("process_task", task(i, TASK_TYPES[i % 4], data))
        except StudentRaised as exc:
            expect(False, f"process_task raised {exc.type_name} for a valid task (call {i + 1} of 30): it must "
                          "not fail at random.")
    expect(clock.now() == before, f"process_task slept for {clock.now() - before:g} s over 30 calls.")


@pytest.mark.grade(points=3, concept="manual acknowledgement", lesson=ACK_LESSON)
def test_consume_processes_and_deletes(consumer, broker, sqs, data):
    url, bodies = fill(broker, data, "work", 5)
    handler = Recorder(broker, url)
    result = consume(consumer, sqs, url, handler, max_messages=5)
    expect(sorted(handler.seen) == sorted(bodies),
           f"The handler was called {len(handler.seen)} times for 5 messages (each exactly once expected).")
    left = broker.stored(url)
    expect(not left, f"{len(left)} of 5 handled messages are still in the queue: a message that was handled must "
                     "be deleted (acknowledged), or it will be delivered again.")
    expect(result == {"processed": 5, "failed": 0}, f"consume_messages returned {result!r}; expected "
                                                    "{'processed': 5, 'failed': 0}.")


@pytest.mark.grade(points=4, concept="manual acknowledgement", lesson=ACK_LESSON)
def test_ack_after_handler_returns(consumer, broker, sqs, data):
    url, bodies = fill(broker, data, "acks", 4)
    handler = Recorder(broker, url)
    consume(consumer, sqs, url, handler, max_messages=4)
    expect(handler.seen, "The handler was never called.")
    expect(all(handler.stored_when_handled),
           "The message was deleted before your handler finished: that is auto-ack, and a crash would lose it.")
    expect(not broker.stored(url), "Messages were handled but not deleted afterwards.")


@pytest.mark.grade(points=3, concept="at-least-once delivery", lesson=FAILURE_LESSON)
def test_failed_message_not_deleted(consumer, broker, sqs, data):
    url, bodies = fill(broker, data, "failing", 3)
    bad = bodies[1]
    handler = Recorder(broker, url, fail={bad: 99})
    result = consume(consumer, sqs, url, handler, max_messages=2, wait_time_seconds=1, visibility_timeout=30,
                     max_empty_polls=2)
    expect(bad in handler.seen, "The handler never saw the failing message.")
    expect(broker.find(url, bad) is not None,
           "The message whose handler raised was deleted anyway (in a `finally`, or before handling?): it is lost "
           "instead of being redelivered.")
    left = broker.bodies(url)
    expect(left == [bad], f"After handling, the queue should hold only the failed message; it holds {len(left)}.")
    expect(result == {"processed": 2, "failed": 1},
           f"consume_messages returned {result!r}; 2 handled and deleted, 1 failed delivery expected.")


@pytest.mark.grade(points=3, concept="visibility timeout", lesson=FAILURE_LESSON)
def test_failed_message_redelivered(consumer, broker, sqs, data):
    url, bodies = fill(broker, data, "retry", 3)
    flaky = bodies[1]
    handler = Recorder(broker, url, fail={flaky: 1})
    result = consume(consumer, sqs, url, handler, max_messages=3, wait_time_seconds=1, visibility_timeout=2,
                     max_empty_polls=5)
    deliveries = [count for body, count in zip(handler.seen, handler.receive_counts) if body == flaky]
    expect(len(deliveries) >= 2,
           f"The message that failed once was handled {len(deliveries)} time(s): after its visibility timeout "
           "it should come back and be handled again.")
    expect(deliveries[1] == 2, f"The second delivery had ApproximateReceiveCount {deliveries[1]}, not 2.")
    expect(not broker.stored(url), "The redelivered message was not deleted after it succeeded.")
    expect(result == {"processed": 3, "failed": 1}, f"consume_messages returned {result!r}; expected "
                                                    "{'processed': 3, 'failed': 1}.")


@pytest.mark.grade(points=2, concept="error handling in consumers",
                   lesson="Any exception from the handler (not only ValueError) must be caught, counted and the "
                          "loop continued: one bad message must not take the consumer down.")
def test_handler_error_never_escapes(consumer, broker, sqs, data):
    url = broker.create_queue(data.name("errors"))
    first, second = task(1, data=data), task(2, "send_email", data)
    broker.send(url, first)
    broker.send(url, second)
    handler = Recorder(broker, url, fail={first: 99, second: 99}, errors={first: KeyError, second: RuntimeError})
    result = consume(consumer, sqs, url, handler, max_messages=2, wait_time_seconds=1, max_empty_polls=1)
    expect(handler.seen, "consume_messages never handed a message to the handler: it must receive the queue's "
                         "messages and call handler(body) for each.")
    expect(isinstance(result, dict) and result.get("processed") == 0 and isinstance(result.get("failed"), int)
           and result["failed"] >= 2,
           f"Both handlers raised (KeyError, then RuntimeError); consume_messages returned {result!r}: "
           "each failed delivery must be counted in 'failed'.")
    expect(len(broker.stored(url)) == 2, "A message whose handler raised was deleted.")


@pytest.mark.grade(points=2, concept="long polling",
                   lesson="Long polling (WaitTimeSeconds) lets the broker hold the request until a message arrives "
                          "instead of answering empty at once; the VisibilityTimeout you pass hides each received "
                          "message while you work on it. Pass both on every receive.")
def test_long_polling_and_visibility(consumer, broker, sqs, data):
    url, bodies = fill(broker, data, "polling", 3)
    consume(consumer, sqs, url, Recorder(broker, url), max_messages=3, wait_time_seconds=7, visibility_timeout=45)
    receives = broker.calls("ReceiveMessage")
    expect(receives, "consume_messages never called receive_message.")
    for params in receives:
        expect(params.get("WaitTimeSeconds") == 7,
               f"A receive asked for WaitTimeSeconds={params.get('WaitTimeSeconds')}, not the wait_time_seconds "
               "given (7): that is short polling.")
        expect(params.get("VisibilityTimeout") == 45,
               f"A receive asked for VisibilityTimeout={params.get('VisibilityTimeout')}, not the "
               "visibility_timeout given (45).")


@pytest.mark.grade(points=2, concept="prefetch and visibility",
                   lesson="Every message you receive becomes invisible to other consumers: ask for at most "
                          "min(10, what you still need), or the extra ones sit in flight, unprocessed, until their "
                          "visibility timeout runs out.")
def test_never_asks_more_than_needed(consumer, broker, sqs, data):
    for name, total, wanted in (("few", 10, 3), ("many", 25, 12)):
        url, _ = fill(broker, data, name, total)
        handler = Recorder(broker, url)
        start = len(broker.requests)
        result = consume(consumer, sqs, url, handler, max_messages=wanted)
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


@pytest.mark.grade(points=3, concept="ending a consumer", lesson=STOP_LESSON)
def test_stops_after_empty_polls(consumer, broker, sqs, data):
    url = broker.create_queue(data.name("quiet"))
    result = consume(consumer, sqs, url, Recorder(broker, url), max_empty_polls=3)
    receives = len(broker.calls("ReceiveMessage"))
    expect(receives == 3, f"On an empty queue with max_empty_polls=3 the consumer made {receives} receives, not 3.")
    expect(result == {"processed": 0, "failed": 0}, f"consume_messages returned {result!r} for an empty queue.")
    late = broker.create_queue(data.name("late"))
    broker.send(late, task(7, data=data), delay=7)
    start = len(broker.requests)
    result = consume(consumer, sqs, late, Recorder(broker, late), max_empty_polls=2, wait_time_seconds=5)
    receives = sum(1 for r in broker.requests[start:] if r.action == "ReceiveMessage")
    expect(result == {"processed": 1, "failed": 0}, f"A message arriving after one empty poll was not processed "
                                                    f"(consume_messages returned {result!r}).")
    expect(receives == 4, f"Empty, message, empty, empty: with max_empty_polls=2 the consumer should stop after the "
                          f"4th receive (2 empty in a row), it made {receives}. The count restarts after a receive "
                          "that returned messages.")


@pytest.mark.grade(points=2, concept="at-least-once delivery", lesson=FAILURE_LESSON)
def test_failed_counts_each_delivery(consumer, broker, sqs, data):
    url, bodies = fill(broker, data, "twice", 2)
    flaky = bodies[0]
    handler = Recorder(broker, url, fail={flaky: 2})
    result = consume(consumer, sqs, url, handler, max_messages=2, wait_time_seconds=1, visibility_timeout=2,
                     max_empty_polls=5)
    deliveries = handler.seen.count(flaky)
    expect(deliveries == 3, f"The message that failed twice was handled {deliveries} time(s), not 3 (two failures, "
                            "then a redelivery that succeeds).")
    expect(result == {"processed": 2, "failed": 2},
           f"One message's handler raised twice; consume_messages returned {result!r}: 'failed' counts deliveries "
           "whose handler raised, so it is 2 (and 'processed' 2).")


@pytest.mark.grade(points=2, concept="at-least-once delivery", lesson=FAILURE_LESSON)
def test_failing_message_is_never_dropped(consumer, broker, sqs, data):
    url, bodies = fill(broker, data, "stubborn", 2)
    stubborn = bodies[1]
    failures = data.int(4, 6)
    handler = Recorder(broker, url, fail={stubborn: failures})
    result = consume(consumer, sqs, url, handler, max_messages=2, wait_time_seconds=1, visibility_timeout=1,
                     max_empty_polls=5)
    deliveries = handler.seen.count(stubborn)
    expect(deliveries == failures + 1,
           f"A message whose handler raised {failures} times was handled {deliveries} time(s): it must stay in the "
           "queue however often it fails, and be handled again each time the broker redelivers it.")
    expect(not broker.stored(url) and result == {"processed": 2, "failed": failures},
           f"consume_messages returned {result!r} with {len(broker.stored(url))} message(s) left; expected "
           f"{{'processed': 2, 'failed': {failures}}} and an empty queue.")


@pytest.mark.grade(points=2, concept="the consumer's defaults",
                   lesson="The contract's defaults are max_messages=10, wait_time_seconds=5, visibility_timeout=30 "
                          "and max_empty_polls=3, and handler=process_task: callers rely on them.")
def test_consume_with_the_contracts_defaults(consumer, broker, sqs, data):
    url, bodies = fill(broker, data, "defaults", data.int(12, 16))
    result = consume(consumer, sqs, url, Recorder(broker, url))
    expect(result == {"processed": 10, "failed": 0},
           f"With {len(bodies)} messages waiting and the default max_messages (10), consume_messages returned "
           f"{result!r}.")
    for params in broker.calls("ReceiveMessage"):
        expect(params.get("WaitTimeSeconds") == 5 and params.get("VisibilityTimeout") == 30,
               f"By default a receive should wait 5 s and hide messages for 30 s; one asked for WaitTimeSeconds="
               f"{params.get('WaitTimeSeconds')} and VisibilityTimeout={params.get('VisibilityTimeout')}.")
    quiet = broker.create_queue(data.name("silent"))
    start = len(broker.requests)
    result = consume(consumer, sqs, quiet, Recorder(broker, quiet))
    receives = sum(1 for r in broker.requests[start:] if r.action == "ReceiveMessage")
    expect(receives == 3, f"On an empty queue with the default max_empty_polls (3) the consumer made {receives} "
                          "receives.")
    mixed = broker.create_queue(data.name("mixed"))
    good, bad = task(1, "send_email", data), json.dumps({"taskType": "launch_rocket", "data": {}, "timestamp": "x"})
    broker.send(mixed, good)
    broker.send(mixed, bad)
    result = consume(consumer, sqs, mixed, max_messages=2, wait_time_seconds=1, max_empty_polls=1)
    expect(result == {"processed": 1, "failed": 1} and broker.bodies(mixed) == [bad],
           f"Without a handler, consume_messages should use process_task: one valid task processed and deleted, "
           f"one invalid one failed and left in the queue; it returned {result!r}.")


@pytest.mark.grade(points=2, concept="batch acknowledgement",
                   lesson="DeleteMessageBatch can succeed for some entries and fail for others: a message whose "
                          "entry is in 'Failed' was not deleted (not acknowledged), so it is not processed yet and "
                          "the broker will deliver it again.")
def test_batch_delete_failures_are_not_acknowledged(consumer, broker, sqs, data):
    url, bodies = fill(broker, data, "batch", 4)
    unlucky = bodies[data.int(0, 3)]
    broker.fail_batch_deletes([unlucky], times=1)
    handler = Recorder(broker, url)
    result = consume(consumer, sqs, url, handler, max_messages=4, wait_time_seconds=1, visibility_timeout=2,
                     max_empty_polls=5)
    left = broker.stored(url)
    if broker.calls("DeleteMessageBatch") and broker.planned_batch_failures.get(unlucky) == 0:
        expect(not left and handler.seen.count(unlucky) == 2,
               f"The broker reported one entry of a DeleteMessageBatch as failed; that message was handled "
               f"{handler.seen.count(unlucky)} time(s) and {len(left)} message(s) are left: it was counted as "
               "acknowledged, so it was never handled and deleted again.")
    expect(result == {"processed": 4, "failed": 0} and not left,
           f"consume_messages returned {result!r} with {len(left)} message(s) left in the queue.")


MAIN_LESSON = ("main() is the course's step 2: consume up to 10 messages from task-queue with a handler that "
               "simulates 2 s of work (time.sleep(2)) and fails 10% of the time; it makes its own client with "
               "boto3.client('sqs'), so AWS_ENDPOINT_URL and AWS_DEFAULT_REGION say which broker it talks to.")


MAIN_RUNS = 10  # 10% failures: none in 100 deliveries has a chance below 3e-5
MIN_MAIN_RUNS = 2  # a second run catches a main() that only works once (module-level state)


@pytest.mark.grade(points=2, concept="the course's step 2", lesson=MAIN_LESSON)
def test_main_course_step2(consumer, broker, data):
    """A sequential test: main() runs until a failed delivery has shown (at least twice, at most
    MAIN_RUNS times). An honest 10% handler usually shows one within two runs, and one that seems
    never to fail still gets all ten runs' chances before it loses the points."""
    url = broker.create_queue("task-queue")
    total = data.int(22, 30)
    for i in range(total):
        broker.send(url, task(i, TASK_TYPES[i % 4], data))
    deleted = delivered = runs = 0
    while runs < MAIN_RUNS and (runs < MIN_MAIN_RUNS or delivered == deleted):
        before, delivered_before = len(broker.stored(url)), broker.delivered()
        run_main(consumer, broker, "sqs_consumer.py")
        now_deleted = before - len(broker.stored(url))
        expect(now_deleted == 10, f"With {before} tasks in task-queue (in region {broker.region}), main() deleted "
                                  f"{now_deleted}: it should consume exactly 10.")
        deleted += now_deleted
        delivered += broker.delivered() - delivered_before
        for i in range(10):
            broker.send(url, task(total + 10 * runs + i, TASK_TYPES[i % 4], data))
        runs += 1
    expect(2 * deleted <= broker.slept <= 2 * delivered + 2 * runs,
           f"Over {runs} runs main() handled {delivered} deliveries ({deleted} acknowledged) and slept "
           f"{broker.slept:g} s of (virtual) time: its handler should simulate 2 s of work for each message "
           "(time.sleep(2)).")
    failures = delivered - deleted
    expect(0 < failures <= delivered // 2,
           f"Over {runs} runs of main(), {failures} of {delivered} deliveries failed: its handler should fail "
           "10% of the time (e.g. random.random() < 0.1), so that the redelivery of failed messages shows.")


@pytest.mark.grade(points=1, concept="the course's step 2", lesson=MAIN_LESSON)
def test_runs_main_as_a_script(consumer, broker, data):
    url = broker.create_queue("task-queue")
    for i in range(3):
        broker.send(url, task(i, TASK_TYPES[i], data))
    run_main(consumer, broker, "sqs_consumer.py", "__main__")
    expect(len(broker.stored(url)) < 3, "python sqs_consumer.py consumed nothing from task-queue: run main() under "
                                        "`if __name__ == \"__main__\":`.")
