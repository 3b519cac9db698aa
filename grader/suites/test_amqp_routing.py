"""Exercise A3, amqp_routing.py: a topic exchange routing each task to the queue of its type, and
a copy of every task to ``audit``. Judged from the broker's exchanges, queues and bindings, from
where published messages end up, and from what the student's connection published."""
from __future__ import annotations

import datetime as dt

import pytest

from grader.harness.plugin import expect
from grader.harness.verdict import utc_instant
from grader.sandbox.client import AmqpChannel, StudentRaised

CHANNEL = AmqpChannel()
TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")
ROUTES = {"images": ["task.resize_image"], "emails": ["task.send_email"], "orders": ["task.process_order"],
          "reports": ["task.generate_report"], "audit": ["task.#"]}
QUEUE_OF = {"resize_image": "images", "send_email": "emails", "process_order": "orders",
            "generate_report": "reports"}
EXCHANGE_LESSON = ("Producers publish to an exchange, never to a queue: a topic exchange routes by the routing key, "
                   "word by word. Declare it durable (exchange_type='topic', durable=True) so that it outlives a "
                   "broker restart with its durable queues.")
BINDING_LESSON = ("A binding is what links a queue to an exchange: each queue gets exactly its binding keys. In a "
                  "topic pattern '*' matches exactly one word and '#' zero or more: audit's 'task.#' receives a copy "
                  "of every task (fan-out), each type queue only its own (routing).")
ROUTE_LESSON = ("route_task publishes to the exchange with routing key 'task.<type>', persistent (delivery_mode=2), "
                "content_type 'application/json', a unique message_id and mandatory=True, so an unroutable task is "
                "returned instead of dropped.")


def route(student, task_type: str, data: dict, **kwargs):
    return student.call("route_task", CHANNEL, task_type, data, **kwargs)


@pytest.mark.grade(points=4, concept="exchanges", lesson=EXCHANGE_LESSON)
def test_declare_routing_topic_exchange(amqp_routing, amqp):
    amqp_routing.call("declare_routing", CHANNEL)
    exchange = amqp.exchange("tasks")
    expect(exchange is not None, "declare_routing did not declare an exchange named 'tasks'.")
    expect(exchange.get("type") == "topic", f"The exchange 'tasks' is a {exchange.get('type')} exchange, not a topic "
                                            "exchange.")
    expect(exchange.get("durable") is True and not exchange.get("auto_delete") and not exchange.get("internal"),
           "The exchange 'tasks' must be durable, and neither auto-delete nor internal.")
    amqp_routing.call("declare_routing", CHANNEL, exchange="jobs")
    other = amqp.exchange("jobs")
    expect(other is not None and other.get("type") == "topic", "declare_routing ignored its exchange argument.")


@pytest.mark.grade(points=3, concept="durable queues",
                   lesson="Each route's queue is a durable classic queue named after its key in ROUTES, neither "
                          "exclusive nor auto-delete.")
def test_declare_routing_queues(amqp_routing, amqp):
    amqp_routing.call("declare_routing", CHANNEL)
    for name in ROUTES:
        queue = amqp.queue(name)
        expect(queue is not None, f"declare_routing did not declare the queue {name!r}.")
        expect(queue.get("durable") is True and not queue.get("exclusive") and not queue.get("auto_delete"),
               f"The queue {name!r} is not a durable, shared queue.")


@pytest.mark.grade(points=5, concept="topic bindings", lesson=BINDING_LESSON)
def test_bindings_exactly_the_routes(amqp_routing, amqp):
    amqp_routing.call("declare_routing", CHANNEL)
    got = {(q, k) for e, q, k in amqp.bindings() if e == "tasks"}
    wanted = {(q, k) for q, keys in ROUTES.items() for k in keys}
    missing, extra = sorted(wanted - got), sorted(got - wanted)
    expect(not missing and not extra,
           f"The bindings to 'tasks' differ from ROUTES: missing {missing}, unexpected {extra}.")


@pytest.mark.grade(points=6, concept="routing keys", lesson=ROUTE_LESSON)
def test_each_task_reaches_its_queue_and_audit(amqp_routing, amqp):
    amqp_routing.call("declare_routing", CHANNEL)
    ids = {}
    for task_type in TASK_TYPES:
        ids[task_type] = route(amqp_routing, task_type, {"type": task_type})
    amqp.arrived("audit", len(TASK_TYPES))  # all four copies in audit: every publish has been routed
    for task_type, queue in QUEUE_OF.items():
        got = [m.field("taskType") for m in amqp.messages(queue)]
        expect(got == [task_type], f"The queue {queue!r} got {got} after one task of each type: it should get only "
                                   f"the {task_type} task.")
    audit = amqp.messages("audit")
    expect(sorted((repr(m.field("taskType")) for m in audit)) == sorted(map(repr, TASK_TYPES)),
           f"audit got {len(audit)} messages after four tasks: it should get a copy of each one.")
    expect({m.properties.get("message_id") for m in audit} == set(ids.values()) and len(set(ids.values())) == 4,
           "route_task must return each message's own, unique message_id.")


@pytest.mark.grade(points=2, concept="topic patterns", lesson=BINDING_LESSON)
def test_audit_pattern_matches_longer_keys(amqp_routing, amqp):
    amqp_routing.call("declare_routing", CHANNEL)
    amqp.publish("task.resize_image.thumbnail", b'{"n": 1}', exchange="tasks")
    amqp.publish("task", b'{"n": 2}', exchange="tasks")
    expect(amqp.bodies("audit") == [b'{"n": 1}', b'{"n": 2}'],
           "audit did not get the messages routed 'task.resize_image.thumbnail' and 'task': its binding key must be "
           "'task.#' ('#' is zero or more words, '*' exactly one).")
    expect(amqp.ready("images") == 0, "images got a message routed 'task.resize_image.thumbnail': its binding key must "
                                      "be exactly 'task.resize_image'.")


@pytest.mark.grade(points=4, concept="persistent messages", lesson=ROUTE_LESSON)
def test_route_task_publishes_persistent_mandatory(amqp_routing, amqp):
    amqp_routing.call("declare_routing", CHANNEL)
    message_id = route(amqp_routing, "send_email", {"to": "a@example.com"})
    published = amqp.log.client("basic.publish")
    expect(len(published) == 1, f"route_task made {len(published)} publishes for one task.")
    sent = published[0]
    expect(sent["exchange"] == "tasks" and sent["routing_key"] == "task.send_email",
           f"route_task published to exchange {sent['exchange']!r} with routing key {sent['routing_key']!r}, not to "
           "'tasks' with 'task.send_email'.")
    expect(sent["mandatory"], "route_task published without mandatory=True: an unroutable task would vanish silently.")
    amqp.arrived("emails", 1)
    message = amqp.messages("emails")[0]
    expect(message.properties.get("delivery_mode") == 2 and message.properties.get("content_type") == "application/json",
           f"The task was published with properties {message.properties}: delivery_mode=2 (persistent) and "
           "content_type 'application/json' expected.")
    task = message.json
    expect(isinstance(task, dict) and task.get("taskType") == "send_email" and task.get("data") == {"to": "a@example.com"}
           and isinstance(task.get("timestamp"), str), f"The message body {message.text[:120]!r} is not make_task's JSON.")
    expect(message.properties.get("message_id") == message_id, "route_task did not return the message's message_id.")


@pytest.mark.grade(points=3, concept="validating before publishing",
                   lesson="An unknown task type must raise ValueError before anything is published: through 'task.#' "
                          "it would still reach audit and look like a real task there.")
def test_route_task_rejects_unknown_type(amqp_routing, amqp):
    amqp_routing.call("declare_routing", CHANNEL)
    try:
        route(amqp_routing, "launch_rocket", {})
    except StudentRaised as exc:
        expect(exc.is_a("ValueError"), f"route_task raised {exc.type_name} for an unknown task type, not ValueError.")
    else:
        expect(False, "route_task accepted the unknown task type 'launch_rocket'.")
    expect(not amqp.log.client("basic.publish"), "route_task published the unknown task before refusing it.")
    expect(amqp.ready("audit") == 0, "The unknown task reached audit.")


@pytest.mark.grade(points=2, concept="idempotent declarations",
                   lesson="Declaring an exchange, a queue or a binding again with the same arguments changes nothing: "
                          "set-up code can run at every start, and the messages waiting stay.")
def test_declare_routing_again_changes_nothing(amqp_routing, amqp):
    amqp_routing.call("declare_routing", CHANNEL)
    amqp.publish("task.process_order", b'{"kept": 1}', exchange="tasks")
    try:
        amqp_routing.call("declare_routing", CHANNEL)
    except StudentRaised as exc:
        expect(False, f"Calling declare_routing a second time raised {exc.type_name}: {exc.message[:160]}")
    expect(amqp.bodies("orders") == [b'{"kept": 1}'] and amqp.bodies("audit") == [b'{"kept": 1}'],
           "Calling declare_routing again lost messages that were waiting in the queues.")
    got = [(q, k) for e, q, k in amqp.bindings() if e == "tasks"]
    expect(len(got) == len(set(got)) == 5, f"After two calls the exchange has bindings {got}.")


@pytest.mark.grade(points=1, concept="message format",
                   lesson="make_task is the same as the producer's: taskType, data and a UTC timestamp ending in 'Z'.")
def test_make_task(amqp_routing):
    plus_two = dt.timezone(dt.timedelta(hours=2))
    cases = [("send_email", {"to": "a@example.com"}, dt.datetime(2024, 7, 1, 1, 15, tzinfo=plus_two),
              "2024-06-30T23:15:00"),
             ("process_order", {"order_id": "ORD-12345", "amount": 99.99}, dt.datetime(2023, 12, 31, 23, 59, 59),
              "2023-12-31T23:59:59")]
    for task_type, task_data, now, instant in cases:
        task = amqp_routing.call("make_task", task_type, task_data, now)
        stamp = utc_instant(task.get("timestamp")) if isinstance(task, dict) else None
        expect(isinstance(task, dict) and set(task) == {"taskType", "data", "timestamp"}
               and task["taskType"] == task_type and task["data"] == task_data
               and stamp is not None and stamp.strftime("%Y-%m-%dT%H:%M:%S") == instant,
               f"make_task({task_type!r}, {task_data!r}, {now.isoformat()}) returned {task!r}, not "
               f"{{'taskType': {task_type!r}, 'data': {task_data!r}, 'timestamp': '{instant}Z'}}.")
