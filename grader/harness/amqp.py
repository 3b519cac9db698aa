"""RabbitMQ, as the grader sees it in one test: set-up, the student's relayed connection, verdicts.

A test's ``AmqpWorld`` owns a virtual host of its own (and the only user allowed in it), the one
connection the student's code gets (relayed, and logged method by method), and the grader's own
connection to the same virtual host for set-up and inspection. Verdicts come from here: the log
of what the broker received and sent, the broker's definitions of queues, exchanges and bindings
(management API), and the messages as they sit in the queues (read by the grader's connection);
never from what the student's function returns alone.

Time: the broker's timeouts are real, so the clock ticks (from the course's date); a student's
``time.sleep`` still costs no wall time, it moves the clock on.
"""
from __future__ import annotations

import functools
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from grader.amqp import service
from grader.amqp.admin import Admin, Lease
from grader.amqp.node import Endpoint
from grader.amqp.relay import Delivery, Event, Log, Relay
from grader.harness.clock import START
from grader.harness.verdict import NOT_JSON, PreconditionBroken, student_json

F = TypeVar("F", bound=Callable[..., Any])


def _on_what_the_student_made(doing: str) -> Callable[[F], F]:
    """For the grader's operations on a queue or exchange the student's code names, made or could
    have deleted, and on the messages it published: what the broker or the grader's client makes
    of them fails the test with their own words, never as a grader error. The broker closing the
    grader's channel (no such queue or exchange, or one declared with other properties), refusing
    its message (a queue that rejects publishes), or the grader's connection breaking on what it
    read (a header no client can decode) while the broker still takes a new connection; a broker
    that takes none is the grader's error. The next operation opens a new channel."""
    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(self: "AmqpWorld", name: str, *args: Any, **kwargs: Any) -> Any:
            import pika.exceptions

            what = f"When the grader {doing} {str(name)[:80]!r}"
            try:
                return method(self, name, *args, **kwargs)
            except pika.exceptions.ChannelClosedByBroker as exc:
                self._channel = None
                raise PreconditionBroken(
                    f"{what}, the broker refused: {exc.reply_code} {str(exc.reply_text)[:200]}. The queue or "
                    "exchange the test needs was never declared, was deleted by your code, or was declared with "
                    "other properties.") from None
            except pika.exceptions.NackError:
                raise PreconditionBroken(f"{what}, the broker refused the grader's message: the queue your code "
                                         "declared rejects what is published to it (look at its arguments).") from None
            except pika.exceptions.AMQPConnectionError as exc:
                self._channel = self._connection = self.lease.connection = None
                try:
                    self.channel  # noqa: B018 - the broker still serves: what broke was what was read
                except Exception:  # noqa: BLE001 - the broker itself is gone
                    raise exc from None
                raise PreconditionBroken(f"{what}, the grader's connection broke on what it read ({str(exc)[:200]}): "
                                         "a message your code published holds something an AMQP client cannot "
                                         "decode.") from None
        return wrapper  # type: ignore[return-value]
    return decorate


@dataclass
class Message:
    """A message as a queue holds it, read by the grader (and put back)."""

    body: bytes
    properties: dict[str, Any]
    redelivered: bool
    headers: dict[str, Any]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def json(self) -> Any:
        value = student_json(self.body)
        return None if value is NOT_JSON else value

    def field(self, key: str) -> Any:
        """``key`` of the JSON object the body holds; None when it holds none (whatever else it holds)."""
        value = self.json
        return value.get(key) if isinstance(value, dict) else None


class Offline:
    """The host of a test that needs no broker (pure functions): a ticking clock, nothing else."""

    ticking = True

    def __init__(self) -> None:
        self._t0, self._slept = time.monotonic(), 0.0

    def now(self) -> float:
        return START.timestamp() + (time.monotonic() - self._t0) + self._slept

    def sleep(self, seconds: float) -> None:
        self._slept += seconds

    def aws(self, method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        return _no_aws()


def _no_aws() -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"__type": "AccessDenied", "message": "This exercise uses RabbitMQ: no AWS service "
                                                           "is reachable."}).encode()
    return 400, {"Content-Type": "application/x-amz-json-1.0"}, body


class AmqpWorld:
    """One test's broker: its virtual host, the student's connection and the grader's."""

    ticking = True  # read by the sandbox client: the worker's clock ticks during calls

    def __init__(self) -> None:
        self.endpoint: Endpoint = service.endpoint()
        self.lease: Lease = service.lease()
        self.log = Log()
        self.relay: Relay | None = None
        self._slept = 0.0
        self._t0 = time.monotonic()
        self._connection: Any = None
        self._channel: Any = None
        self._opened: list[Any] = []

    # the worker's host --------------------------------------------------------------------------------
    def now(self) -> float:
        return START.timestamp() + (time.monotonic() - self._t0) + self._slept

    def sleep(self, seconds: float) -> None:
        self._slept += seconds

    def aws(self, method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        return _no_aws()

    # the student's connection -------------------------------------------------------------------------
    def attach(self, student: Any, connect: bool = True) -> None:
        """Give the student's process its one connection (the relay accepts it when it connects);
        with ``connect`` the worker opens it at once (for the channel it hands the student's
        functions), while the grader sets the test up."""
        if self.relay is not None:
            self.relay.close()
        listener = student.broker_listener(self.lease.user, self.lease.password, self.lease.vhost, connect)
        self.log = Log()
        self.relay = Relay(listener, (self.endpoint.host, self.endpoint.amqp_port), self.lease.vhost, self.log).start()

    def mark(self, name: str, **args: Any) -> Event:
        return self.log.mark(name, **args)

    def cut_reason(self) -> str | None:
        """Why the relay cut the student's connection, when a limit did (not when a side closed it)."""
        cut = next((e for e in self.log.events if e.source == "grader" and e.name == "cut"), None)
        return None if cut is None or cut["quiet"] else str(cut["why"])

    def cut(self) -> None:
        """Close the student's connection now; returns once the broker has requeued what it held
        unacknowledged."""
        if self.relay is not None:
            self.relay.close()
            self.relay = None

    def wait_for(self, name: str, count: int, timeout: float = 2.0) -> int:
        """The queue's ready count once it reaches ``count`` (or the timeout): for what the broker
        does on its own after a request returns, such as dead-lettering a rejected message."""
        deadline = time.monotonic() + timeout
        while True:
            ready = self.ready(name)
            if ready >= count or time.monotonic() > deadline:
                return ready
            time.sleep(0.002)

    def arrived(self, name: str, count: int) -> None:
        """Before reading what the student's publishes put in ``name``: once its side has sent at
        least ``count`` publishes, wait (as ``wait_for``) for that many messages there. A publisher
        without confirms hears nothing back, so its last messages may still be on their way when
        its call returns; on a loaded machine they were, and the same submission lost a test once
        in a while. Code that sent fewer is read at once."""
        if len(self.log.client("basic.publish")) >= count:
            self.wait_for(name, count)

    # the grader's connection ------------------------------------------------------------------------
    @property
    def admin(self) -> Admin:
        return service.admin()

    @property
    def channel(self) -> Any:
        """The grader's own channel on the test's virtual host (confirm mode)."""
        if self._channel is None or not self._channel.is_open:
            import pika

            if self._connection is None and self.lease.connection is not None:
                self._connection = self.lease.connection  # opened ahead, with the virtual host
            if self._connection is None or not self._connection.is_open:
                url = self.endpoint.amqp_url(self.lease.vhost)
                self._connection = self.lease.connection = pika.BlockingConnection(pika.URLParameters(url))
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
            self._opened.append(self._channel)
        return self._channel

    @_on_what_the_student_made("declared")
    def declare_queue(self, name: str, dead_letter_queue: str | None = None, durable: bool = True) -> None:
        arguments = None
        if dead_letter_queue:
            self.channel.queue_declare(dead_letter_queue, durable=durable)
            arguments = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead_letter_queue}
        self.channel.queue_declare(name, durable=durable, arguments=arguments)

    @_on_what_the_student_made("published with the routing key")
    def publish(self, routing_key: str, body: bytes | str, exchange: str = "", **properties: Any) -> None:
        import pika

        data = body.encode() if isinstance(body, str) else body
        props = pika.BasicProperties(**({"delivery_mode": 2, "content_type": "application/json"} | properties))
        self.channel.basic_publish(exchange, routing_key, data, props)

    @_on_what_the_student_made("consumed from")
    def hold(self, name: str, count: int) -> Any:
        """Another consumer (the grader's) that takes ``count`` deliveries and never acks them;
        returns its channel (closing it requeues them, with the redelivered flag)."""
        channel = self.channel.connection.channel()
        self._opened.append(channel)
        channel.basic_qos(prefetch_count=count)
        got: list[Any] = []
        channel.basic_consume(name, lambda ch, method, props, body: got.append(method), auto_ack=False)
        deadline = time.monotonic() + 5
        while len(got) < count and time.monotonic() < deadline:
            channel.connection.process_data_events(time_limit=0.01)
        return channel

    @_on_what_the_student_made("read")
    def requeue_once(self, name: str) -> None:
        """Take every ready message and give it back: each is then marked redelivered, as after a
        consumer that died holding it."""
        channel = self.channel
        last = None
        while True:
            method, _properties, _body = channel.basic_get(name, auto_ack=False)
            if method is None:
                break
            last = method.delivery_tag
        if last is not None:
            channel.basic_nack(last, multiple=True, requeue=True)

    def queue_exists(self, name: str) -> bool:
        return self.admin.queue(self.lease.vhost, name) is not None

    def queue(self, name: str) -> dict[str, Any] | None:
        """The broker's definition of the queue: durable, exclusive, auto_delete, arguments, type."""
        return self.admin.queue(self.lease.vhost, name)

    def exchange(self, name: str) -> dict[str, Any] | None:
        return self.admin.exchange(self.lease.vhost, name)

    def bindings(self) -> list[tuple[str, str, str]]:
        """(exchange, queue, binding key) of every binding to a queue."""
        return sorted((b["source"], b["destination"], b["routing_key"]) for b in self.admin.bindings(self.lease.vhost)
                      if b.get("destination_type") == "queue")

    @_on_what_the_student_made("looked up")
    def counts(self, name: str) -> tuple[int, int]:
        """(ready messages, consumers) from a passive declare."""
        result = self.channel.queue_declare(name, passive=True).method
        return result.message_count, result.consumer_count

    def ready(self, name: str) -> int:
        return self.counts(name)[0]

    @_on_what_the_student_made("read")
    def messages(self, name: str, keep: bool = True) -> list[Message]:
        """Every ready message of the queue, in order, as a consumer would get it; put back
        afterwards (in the same order) unless ``keep`` is false."""
        channel = self.channel
        got: list[Message] = []
        last = None
        for _ in range(10000):
            method, properties, body = channel.basic_get(name, auto_ack=False)
            if method is None:
                break
            last = method.delivery_tag
            got.append(Message(body, _properties(properties), method.redelivered, dict(properties.headers or {})))
        if last is not None:
            if keep:
                channel.basic_nack(last, multiple=True, requeue=True)
            else:
                channel.basic_ack(last, multiple=True)
        return got

    def bodies(self, name: str) -> list[bytes]:
        return [m.body for m in self.messages(name)]

    def close(self) -> None:
        if self.relay is not None:
            self.relay.close()
            self.relay = None
        for channel in self._opened:
            try:
                if channel.is_open:
                    channel.close()
            except Exception:  # the connection broke: the lease's preparer makes a new one
                pass
        self._connection = self._channel = None
        service.give_back(self.lease)

    def __enter__(self) -> "AmqpWorld":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _properties(properties: Any) -> dict[str, Any]:
    names = ("content_type", "delivery_mode", "message_id", "headers", "correlation_id", "expiration", "type")
    return {n: getattr(properties, n) for n in names if getattr(properties, n, None) is not None}


def unique_body(n: int, task_type: str = "resize_image") -> bytes:
    """A valid task, different from every other one (so that a delivery is found by its body)."""
    return json.dumps({"taskType": task_type, "data": {"n": n, "id": uuid.uuid4().hex[:8]},
                       "timestamp": "2024-01-15T09:30:00Z"}).encode()


__all__ = ["AmqpWorld", "Delivery", "Event", "Message", "unique_body"]
