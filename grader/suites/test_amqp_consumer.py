"""Exercise A2, amqp_consumer.py: validating tasks, and a consumer with manual acknowledgements,
prefetch, requeue-once-then-dead-letter and a clean stop. Judged from what crossed the student's
connection (every delivery, its redelivered flag, how and when it was settled, relative to the
handler's calls) and from the broker's queues afterwards."""
from __future__ import annotations

import json

import pytest

from grader.harness.amqp import unique_body
from grader.harness.plugin import expect
from grader.sandbox.client import AmqpChannel, StudentRaised

CHANNEL = AmqpChannel()
TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")
IDLE = 0.3
STORM = 4  # deliveries of one message after which the grader calls it a requeue storm and cuts the connection
ACK_LESSON = ("With manual acknowledgements (auto_ack=False) a delivery stays unacknowledged, held for you, until "
              "you basic_ack it after the handler has returned; auto-ack, or an ack before the handler, loses the "
              "message if the consumer dies while handling it.")
PREFETCH_LESSON = ("basic_qos(prefetch_count=n), set before consuming, caps the deliveries the broker sends you "
                   "unacknowledged; without it one consumer takes the whole queue and the others starve.")
REQUEUE_LESSON = ("A failed first delivery goes back to the queue with basic_nack/basic_reject(requeue=True), so it is "
                  "tried again (the broker marks it redelivered); acknowledging it would lose it.")
POISON_LESSON = ("A message that fails again on redelivery is a poison message: reject it with requeue=False so the "
                 "queue's dead-letter exchange takes it. Requeueing it every time is a requeue storm: it is retried "
                 "for ever and blocks the queue.")
STOP_LESSON = ("A consumer stops after max_messages, or after idle_timeout seconds without a delivery; before "
               "returning it cancels its consumer and requeues what it holds but did not handle, or those messages "
               "stay held (unacknowledged) and no other consumer gets them until the connection closes.")


class Handler:
    """A handler of the grader's: marks each call in the connection's log, fails as told."""

    def __init__(self, world, fail: dict[bytes, int] | None = None, errors: dict[bytes, type] | None = None):
        self.world = world
        self.fail = dict(fail or {})
        self.errors = errors or {}
        self.calls: list[tuple[bytes, int]] = []  # (body, the mark's index in the log)
        self.stormed = False

    def __call__(self, body: bytes) -> str:
        if not isinstance(body, (bytes, bytearray)):
            raise TypeError(f"handler(body) takes the delivery's body, bytes, not {type(body).__name__}")
        mark = self.world.mark("handler", body=body)
        self.calls.append((body, mark.index))
        if sum(1 for b, _ in self.calls if b == body) > STORM:
            self.stormed = True
            self.world.cut()
            raise RuntimeError("requeue storm")
        if self.fail.get(body, 0) > 0:
            self.fail[body] -= 1
            raise self.errors.get(body, RuntimeError)("simulated failure")
        return "done"

    def bodies(self) -> list[bytes]:
        return [b for b, _ in self.calls]

    def count(self, body: bytes) -> int:
        return sum(1 for b, _ in self.calls if b == body)


def fill(world, name: str, count: int, dlq: str | None = None) -> list[bytes]:
    world.declare_queue(name, dead_letter_queue=dlq)
    bodies = [unique_body(i, TASK_TYPES[i % 4]) for i in range(count)]
    for body in bodies:
        world.publish(name, body)
    return bodies


def consume(student, world, queue: str, handler, **kwargs):
    kwargs.setdefault("idle_timeout", IDLE)
    try:
        result = student.call("consume_messages", CHANNEL, queue, handler, **kwargs)
    except StudentRaised as exc:
        if getattr(handler, "stormed", False):
            expect(False, f"The same failing message was delivered more than {STORM} times: a requeue storm "
                          "(every failure requeued, even on a redelivery).")
        expect(False, f"consume_messages raised {exc.type_name}: {exc.message[:200]} — a handler's failure must be "
                      "settled and counted, and the consumer must carry on.")
    world.mark("returned")
    return result


def auto_ack_used(world) -> bool:
    return any(e["no_ack"] for e in world.log.client("basic.consume", "basic.get"))


def delivery_at(world, body: bytes, index: int):
    """The delivery of ``body`` the handler was called for (the last one before its call)."""
    matches = [d for d in world.log.deliveries(until=index) if d.body == body]
    return matches[-1] if matches else None


@pytest.mark.grade(points=2, concept="message validation",
                   lesson="process_task decodes the UTF-8 JSON body (bytes) and returns the task as a dict.")
def test_process_task_valid(amqp_consumer):
    before = amqp_consumer.host.now()
    for i, task_type in enumerate(TASK_TYPES * 5):
        body = unique_body(i, task_type)
        try:
            got = amqp_consumer.call("process_task", body)
        except StudentRaised as exc:
            expect(False, f"process_task raised {exc.type_name} for a valid task (call {i + 1} of 20): it must not "
                          "fail at random; the simulated failure belongs in main()'s handler.")
        expect(got == json.loads(body), f"process_task({body!r}) returned {got!r}, not the decoded task.")
    expect(amqp_consumer.host.now() - before < 1, "process_task slept: the simulated work belongs in main()'s handler.")


MALFORMED = [
    ("not JSON at all", b"this is not json"),
    ("bytes that are not UTF-8", b"\xff\xfe{\x00"),
    ("a JSON list", b"[1, 2, 3]"),
    ("an unknown taskType", b'{"taskType": "launch_rocket", "data": {}, "timestamp": "2024-01-15T09:30:00Z"}'),
    ("no taskType", b'{"data": {}, "timestamp": "2024-01-15T09:30:00Z"}'),
    ("data that is a list", b'{"taskType": "send_email", "data": [1], "timestamp": "2024-01-15T09:30:00Z"}'),
    ("a numeric timestamp", b'{"taskType": "send_email", "data": {}, "timestamp": 1705311000}'),
]


@pytest.mark.grade(points=3, concept="message validation",
                   lesson="A malformed body must raise ValueError (json.JSONDecodeError and UnicodeDecodeError are "
                          "ValueErrors; a KeyError or TypeError leaking out tells the caller nothing).")
def test_process_task_rejects_malformed(amqp_consumer):
    for what, body in MALFORMED:
        try:
            got = amqp_consumer.call("process_task", body)
        except StudentRaised as exc:
            expect(exc.is_a("ValueError"), f"For {what}, process_task raised {exc.type_name}, not ValueError.")
        else:
            expect(False, f"For {what}, process_task returned {got!r} instead of raising ValueError.")


@pytest.mark.grade(points=4, concept="manual acknowledgement", lesson=ACK_LESSON)
def test_consume_handles_and_acks(amqp_consumer, amqp):
    bodies = fill(amqp, "work", 5)
    handler = Handler(amqp)
    result = consume(amqp_consumer, amqp, "work", handler, max_messages=5)
    expect(sorted(handler.bodies()) == sorted(bodies),
           f"The handler was called {len(handler.calls)} times for 5 messages (each exactly once expected).")
    acked = [d for d in amqp.log.deliveries() if d.settlement in ("ack", "auto")]
    expect(len(acked) == 5, f"{len(acked)} of 5 handled deliveries were acknowledged.")
    amqp.cut()
    expect(amqp.ready("work") == 0, f"{amqp.ready('work')} handled messages came back to the queue: they were never "
                                    "acknowledged.")
    expect(result == {"processed": 5, "requeued": 0, "dead_lettered": 0},
           f"consume_messages returned {result!r}; expected {{'processed': 5, 'requeued': 0, 'dead_lettered': 0}}.")


@pytest.mark.grade(points=6, concept="auto-ack", lesson=ACK_LESSON)
def test_ack_only_after_handler_returns(amqp_consumer, amqp):
    fill(amqp, "acks", 4)
    handler = Handler(amqp)
    consume(amqp_consumer, amqp, "acks", handler, max_messages=4, prefetch=2)
    expect(handler.calls, "The handler was never called.")
    expect(not auto_ack_used(amqp),
           "The consumer used auto_ack=True: the broker forgets each message the moment it sends it, so a crash while "
           "handling loses it.")
    for body, index in handler.calls:
        delivery = delivery_at(amqp, body, index)
        expect(delivery is not None, "The handler was called with a body the broker never delivered.")
        expect(delivery.settled_by is None or delivery.settled_by.index > index,
               "A delivery was acknowledged before its handler was called: that is auto-ack by hand, and a crash "
               "while handling would lose the message.")
        final = next(d for d in amqp.log.deliveries() if d.event.index == delivery.event.index)
        expect(final.settlement == "ack", f"A delivery whose handler returned was settled by {final.settlement!r}, "
                                          "not acknowledged.")


@pytest.mark.grade(points=4, concept="prefetch", lesson=PREFETCH_LESSON)
def test_prefetch_set_and_respected(amqp_consumer, amqp):
    fill(amqp, "prefetch", 9)
    handler = Handler(amqp)
    consume(amqp_consumer, amqp, "prefetch", handler, max_messages=9, prefetch=3)
    qos = amqp.log.client("basic.qos")
    starts = amqp.log.client("basic.consume", "basic.get")
    expect(qos, "The consumer never called basic_qos: without a prefetch count the broker sends it the whole queue.")
    expect(starts and qos[0].index < starts[0].index, "basic_qos must be set before consuming starts.")
    expect(qos[-1]["prefetch_count"] == 3, f"basic_qos set prefetch_count={qos[-1]['prefetch_count']}, not the "
                                           "prefetch given (3).")
    most = amqp.log.most_unsettled()
    expect(most <= 3, f"The consumer held {most} deliveries unacknowledged at once with prefetch=3.")
    expect(len(handler.calls) == 9, f"The handler was called {len(handler.calls)} times for 9 messages.")


@pytest.mark.grade(points=4, concept="requeue", lesson=REQUEUE_LESSON)
def test_failure_requeued_once(amqp_consumer, amqp):
    bodies = fill(amqp, "retry", 3, dlq="retry.dlq")
    flaky = bodies[0]
    handler = Handler(amqp, fail={flaky: 1})
    result = consume(amqp_consumer, amqp, "retry", handler, max_messages=3)
    flaky_deliveries = [d for d in amqp.log.deliveries() if d.body == flaky]
    expect(flaky_deliveries, "The failing message was never delivered.")
    first = flaky_deliveries[0]
    expect(first.settlement == "requeue",
           f"The first delivery of the failing message was settled by {first.settlement!r}: a failure on a first "
           "delivery must be rejected with requeue=True.")
    expect(len(flaky_deliveries) >= 2 and flaky_deliveries[1].redelivered,
           "The failed message did not come back with the redelivered flag.")
    expect(handler.count(flaky) == 2 and flaky_deliveries[-1].settlement == "ack",
           "The redelivered message was not handled again and acknowledged.")
    amqp.cut()
    expect(amqp.ready("retry") == 0 and amqp.ready("retry.dlq") == 0,
           "After the retry succeeded, messages were left in the queue or its dead-letter queue.")
    expect(result == {"processed": 3, "requeued": 1, "dead_lettered": 0},
           f"consume_messages returned {result!r}; expected {{'processed': 3, 'requeued': 1, 'dead_lettered': 0}}.")


@pytest.mark.grade(points=6, concept="poison messages", lesson=POISON_LESSON)
def test_poison_message_dead_lettered(amqp_consumer, amqp):
    bodies = fill(amqp, "jobs", 4, dlq="jobs.dlq")
    poison = bodies[0]
    handler = Handler(amqp, fail={poison: 99})
    result = consume(amqp_consumer, amqp, "jobs", handler, max_messages=3)
    expect(not handler.stormed and handler.count(poison) <= 2,
           f"The poison message was handled {handler.count(poison)} times: after a failed redelivery it must be "
           "dead-lettered, not requeued again.")
    settlements = [d.settlement for d in amqp.log.deliveries() if d.body == poison]
    expect(settlements[:2] == ["requeue", "reject"],
           f"The poison message's deliveries were settled {settlements}: requeue on the first failure, reject "
           "without requeue on the redelivery.")
    amqp.cut()
    dead = amqp.messages("jobs.dlq")
    expect([m.body for m in dead] == [poison], f"The dead-letter queue holds {len(dead)} messages, not the poison one.")
    deaths = dead[0].headers.get("x-death") or [{}]
    expect(deaths[0].get("reason") == "rejected", "The poison message reached the dead-letter queue, but not by "
                                                  "being rejected.")
    expect(amqp.ready("jobs") == 0, "Messages were left in the queue.")
    expect(result == {"processed": 3, "requeued": 1, "dead_lettered": 1},
           f"consume_messages returned {result!r}; expected {{'processed': 3, 'requeued': 1, 'dead_lettered': 1}}.")


@pytest.mark.grade(points=3, concept="the redelivered flag",
                   lesson="The broker's redelivered flag says a delivery went back to the queue unhandled before (a "
                          "failure, a cancelled or crashed consumer): decide requeue or dead-letter from it, not from a "
                          "count of your own, which a new consumer process does not have.")
def test_redelivered_flag_decides(amqp_consumer, amqp):
    bodies = fill(amqp, "again", 3, dlq="again.dlq")
    amqp.requeue_once("again")  # as if a consumer had died holding them: all come back redelivered
    bad = bodies[1]
    handler = Handler(amqp, fail={bad: 99})
    result = consume(amqp_consumer, amqp, "again", handler, max_messages=2)
    first = next((d for d in amqp.log.deliveries() if d.body == bad), None)
    expect(first is not None and first.redelivered, "The failing message was never delivered.")
    expect(first.settlement == "reject",
           f"A delivery already marked redelivered failed and was settled by {first.settlement!r}: it must be "
           "rejected without requeue (dead-lettered).")
    amqp.cut()
    expect(amqp.bodies("again.dlq") == [bad], "The failed redelivery did not reach the dead-letter queue.")
    expect(result == {"processed": 2, "requeued": 0, "dead_lettered": 1}, f"consume_messages returned {result!r}.")


@pytest.mark.grade(points=2, concept="error handling in consumers",
                   lesson="Any exception from the handler (not only ValueError) must be caught and settled: one bad "
                          "message must not take the consumer down.")
def test_handler_error_never_escapes(amqp_consumer, amqp):
    bodies = fill(amqp, "errors", 3, dlq="errors.dlq")
    handler = Handler(amqp, fail={bodies[0]: 99, bodies[1]: 99}, errors={bodies[0]: KeyError, bodies[1]: TypeError})
    result = consume(amqp_consumer, amqp, "errors", handler, max_messages=1)
    expect(isinstance(result, dict) and result.get("processed") == 1 and result.get("dead_lettered") == 2,
           f"Two handlers raised (KeyError, TypeError) twice each; consume_messages returned {result!r}.")


@pytest.mark.grade(points=3, concept="ending a consumer", lesson=STOP_LESSON)
def test_stops_when_idle(amqp_consumer, amqp):
    amqp.declare_queue("quiet")
    started = amqp.now()  # real time, plus what the student's time.sleep added (virtual)
    result = consume(amqp_consumer, amqp, "quiet", Handler(amqp), idle_timeout=IDLE)
    took = amqp.now() - started
    expect(result == {"processed": 0, "requeued": 0, "dead_lettered": 0},
           f"consume_messages returned {result!r} for an empty queue.")
    expect(took >= IDLE * 0.8, f"On an empty queue the consumer returned after {took:.2f} s, before its idle_timeout "
                               f"({IDLE} s).")
    expect(amqp.counts("quiet")[1] == 0, "The consumer returned but is still attached to the queue (never cancelled).")


@pytest.mark.grade(points=4, concept="prefetch and cancel", lesson=STOP_LESSON)
def test_stops_at_max_and_returns_the_rest(amqp_consumer, amqp):
    fill(amqp, "many", 10)
    handler = Handler(amqp)
    result = consume(amqp_consumer, amqp, "many", handler, max_messages=3, prefetch=5)
    expect(len(handler.calls) == 3, f"With max_messages=3 the handler was called {len(handler.calls)} times.")
    held = amqp.log.unsettled()
    amqp.wait_for("many", 7, timeout=1.0)  # rejects the broker got after its cancel-ok are still being requeued
    ready, consumers = amqp.counts("many")
    expect(not held and ready == 7,
           f"After returning, the consumer still held {len(held) or 7 - ready} deliveries it never handled, "
           "unacknowledged: cancel the consumer and requeue them before returning.")
    expect(consumers == 0, "The consumer returned but is still attached to the queue (never cancelled).")
    expect(result == {"processed": 3, "requeued": 0, "dead_lettered": 0}, f"consume_messages returned {result!r}.")


@pytest.mark.grade(points=2, concept="ending a consumer",
                   lesson="idle_timeout counts the time without a delivery; the time your handler takes is work, not "
                          "idleness: measure the idle time from the end of the last handling (or let consume()'s "
                          "inactivity_timeout do it).")
def test_handler_time_is_not_idle_time(amqp_consumer, amqp):
    bodies = fill(amqp, "slow", 3)

    def slow(body: bytes) -> str:
        amqp.sleep(2.0)  # two seconds of (virtual) work each, far longer than the idle timeout
        return handler(body)

    handler = Handler(amqp)
    result = consume(amqp_consumer, amqp, "slow", slow, max_messages=3, idle_timeout=IDLE)
    expect(len(handler.calls) == 3 and sorted(handler.bodies()) == sorted(bodies),
           f"With three messages waiting and a handler that works 2 s on each, the consumer handled "
           f"{len(handler.calls)} before stopping: it counted the handler's time as idle time.")
    expect(result == {"processed": 3, "requeued": 0, "dead_lettered": 0}, f"consume_messages returned {result!r}.")


@pytest.mark.grade(points=2, concept="the course's step 2",
                   lesson="main() is the course's step 2 on RabbitMQ: consume up to 10 messages from task-queue with a "
                          "handler that simulates 2 s of work (time.sleep(2)) and fails 10% of the time.")
@pytest.mark.student_connects
def test_main_course_step2(amqp_consumer, amqp):
    fill(amqp, "task-queue", 12, dlq="task-queue.dlq")
    before = amqp.now()
    amqp_consumer.call("main")
    acked = [d for d in amqp.log.deliveries() if d.settlement == "ack"]
    expect(len(acked) >= 8, f"main() acknowledged {len(acked)} messages of task-queue (up to 10 expected).")
    expect(amqp.now() - before >= 2 * len(acked),
           f"main() handled {len(acked)} messages in {amqp.now() - before:.0f} s: its handler should simulate 2 s of "
           "work each.")
