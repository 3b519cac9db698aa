"""The one broker connection a test's student code gets, relayed by the grader, and its log.

The box has no route to the broker: the worker listens on the box's own loopback and hands the
listening socket over; the relay accepts exactly one connection on it, opens the TCP connection
to the node itself, and copies bytes both ways. Every byte is parsed on the way (``frames``), so
``Log`` holds what the broker received and what it sent, method by method, in order, with the
grader's own marks (a handler called, a call returned) in between. ``sync`` reads everything the
student's side has sent so far before a mark is made: whether a delivery was still unacknowledged
while its handler ran is read from the log, not guessed.

The relay also enforces what a test may do: the virtual host named in ``connection.open`` must be
the test's own, the stream must be well-formed AMQP, and bytes and frames are bounded; otherwise
the connection is cut (and the log says why).
"""
from __future__ import annotations

import errno
import os
import select
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

from grader.amqp.frames import Frame, FrameError, FrameReader

_CLOSE = struct.pack(">HHHBHH", 10, 50, 200, 0, 0, 0)
CONNECTION_CLOSE = struct.pack(">BHI", 1, 0, len(_CLOSE)) + _CLOSE + b"\xce"
CLIENT_BYTES_LIMIT = 32 * 1024 * 1024
PENDING_LIMIT = 16 * 1024 * 1024
EVENT_LIMIT = 50_000
CHANNEL_CLOSED = ("channel.close", "channel.close-ok")
RECOVER = ("basic.recover", "basic.recover-async")  # with requeue: every unacknowledged delivery goes back
# declarations and bindings one test's connection may ask for (an honest test needs a few dozen):
# past this the broker would hold more than the grader can clear behind the test at once
DECLARE_LIMIT = 200
DECLARES = frozenset({"exchange.declare", "queue.declare", "queue.bind", "exchange.bind", "queue.unbind",
                      "exchange.unbind"})
ACCEPT_TIMEOUT = 30.0
# what a student's queue may be declared with: a classic queue and its dead-letter route, the
# exercises' own. A queue that expires or drops messages by itself while dead-lettering them (a
# TTL, a length limit, an overflow mode) lets one message be copied without end from queue to
# queue, on the broker, outside every box's limits; so would a message's own expiration, once.
QUEUE_ARGUMENTS = frozenset({"x-dead-letter-exchange", "x-dead-letter-routing-key", "x-queue-type"})


@dataclass
class Event:
    """One method as it crossed the relay (``source`` "client" or "broker"), or a grader's mark."""

    index: int
    source: str
    name: str
    channel: int = 0
    args: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] | None = None
    body: bytes | None = None

    def __getitem__(self, key: str) -> Any:
        return self.args[key]


@dataclass
class Delivery:
    """A message the broker handed the client (by ``basic.deliver`` or ``basic.get-ok``)."""

    event: Event
    channel: int
    tag: int
    redelivered: bool
    body: bytes
    properties: dict[str, Any]
    settled_by: Event | None = None

    @property
    def settlement(self) -> str | None:
        """"ack", "requeue" (a nack, a reject or a recover that requeues), "reject" (no requeue),
        "auto" (no-ack consumer), "closed" (its channel closed first: the broker requeued it), or None."""
        if self.settled_by is None:
            return None
        if self.settled_by.name == "basic.ack":
            return "ack"
        if self.settled_by.name == "auto-ack":
            return "auto"
        if self.settled_by.name in CHANNEL_CLOSED:
            return "closed"
        return "requeue" if self.settled_by.args.get("requeue", True) else "reject"


class Log:
    """What crossed one test's broker connection, in order (thread-safe appends)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lock = threading.RLock()
        self.cut: str | None = None
        self.sync_hook: Any = None

    def add(self, source: str, name: str, channel: int = 0, args: dict[str, Any] | None = None,
            properties: dict[str, Any] | None = None, body: bytes | None = None) -> Event:
        with self.lock:
            event = Event(len(self.events), source, name, channel, args or {}, properties, body)
            self.events.append(event)
            return event

    def mark(self, name: str, **args: Any) -> Event:
        """A grader's event, after everything the student's side sent so far."""
        with self.lock:
            if self.sync_hook is not None:
                self.sync_hook()
            return self.add("grader", name, 0, args)

    def client(self, *names: str) -> list[Event]:
        """The methods the student's side sent, of the given names (all if none)."""
        with self.lock:
            return [e for e in self.events if e.source == "client" and (not names or e.name in names)]

    def broker(self, *names: str) -> list[Event]:
        with self.lock:
            return [e for e in self.events if e.source == "broker" and (not names or e.name in names)]

    # deliveries and their acknowledgements ------------------------------------------------------------
    def deliveries(self, until: int | None = None) -> list[Delivery]:
        """Every delivery up to event ``until`` (all if None), each with what settled it by then."""
        with self.lock:
            events = self.events if until is None else self.events[:until + 1]
            return _deliveries(events)

    def unsettled(self, until: int | None = None) -> list[Delivery]:
        return [d for d in self.deliveries(until) if d.settled_by is None]

    def most_unsettled(self) -> int:
        """The most deliveries held unacknowledged at once on one channel."""
        with self.lock:
            events = list(self.events)
        held: dict[int, set[int]] = {}
        worst = 0
        no_ack: set[tuple[int, str]] = set()
        for event in events:
            if event.source == "client" and event.name == "basic.consume" and event.args.get("no_ack"):
                no_ack.add((event.channel, event.args.get("consumer_tag", "")))
            delivered = _delivery_of(event)
            if delivered is not None and not _auto(event, no_ack):
                held.setdefault(event.channel, set()).add(delivered)
                worst = max(worst, len(held[event.channel]))
            for tag in _settled_tags(event, held.get(event.channel, set())):
                held[event.channel].discard(tag)
            if _hands_back(event):
                held.pop(event.channel, None)
        return worst


def _delivery_of(event: Event) -> int | None:
    if event.source == "broker" and event.name in ("basic.deliver", "basic.get-ok"):
        return int(event.args.get("delivery_tag", 0))
    return None


def _auto(event: Event, no_ack: set[tuple[int, str]]) -> bool:
    if event.name == "basic.deliver":
        return (event.channel, event.args.get("consumer_tag", "")) in no_ack
    return bool(event.args.get("_no_ack"))


def _hands_back(event: Event) -> bool:
    """Whether the broker takes back every delivery the event's channel holds unacknowledged: the
    channel closed, or the client recovered with requeue (redeliveries then come with new tags)."""
    if event.source == "client" and event.name in RECOVER:
        return bool(event.args.get("requeue", True))
    return event.source in ("client", "broker") and event.name in CHANNEL_CLOSED


def _settled_tags(event: Event, held: Iterable[int]) -> list[int]:
    if event.source != "client" or event.name not in ("basic.ack", "basic.nack", "basic.reject"):
        return []
    tag = int(event.args.get("delivery_tag", 0))
    multiple = bool(event.args.get("multiple")) and event.name != "basic.reject"
    if multiple:
        return [t for t in held if tag == 0 or t <= tag]
    return [tag]


def _deliveries(events: list[Event]) -> list[Delivery]:
    result: list[Delivery] = []
    open_by_channel: dict[int, dict[int, Delivery]] = {}
    no_ack: set[tuple[int, str]] = set()
    for event in events:
        if event.source == "client" and event.name == "basic.consume" and event.args.get("no_ack"):
            no_ack.add((event.channel, event.args.get("consumer_tag", "")))
        tag = _delivery_of(event)
        if tag is not None:
            delivery = Delivery(event, event.channel, tag, bool(event.args.get("redelivered")), event.body or b"",
                                event.properties or {})
            result.append(delivery)
            if _auto(event, no_ack):
                delivery.settled_by = Event(event.index, "client", "auto-ack", event.channel)
            else:
                open_by_channel.setdefault(event.channel, {})[tag] = delivery
            continue
        if _hands_back(event):
            for delivery in open_by_channel.pop(event.channel, {}).values():  # a reopened channel's tags start again
                delivery.settled_by = event
            continue
        held = open_by_channel.get(event.channel, {})
        for settled in _settled_tags(event, list(held)):
            delivery = held.pop(settled, None)
            if delivery is not None:
                delivery.settled_by = event
    return result


def refusal(frame: Frame) -> str | None:
    """Why the broker must not get this frame of the student's, if it must not."""
    if frame.name == "queue.declare":
        arguments = frame.args.get("arguments") or {}
        for key in arguments:
            if key not in QUEUE_ARGUMENTS:
                return f"the queue argument {str(key)[:60]!r} is not one the exercises use"
        if arguments.get("x-queue-type", "classic") != "classic":
            return "the exercises' queues are classic queues"
    if frame.name == "basic.publish" and (frame.properties or {}).get("expiration") is not None:
        return "a message's own expiration is not something the exercises use"
    return None


class Relay:
    """Accept one connection on ``listener`` and relay it to the broker at ``address``."""

    def __init__(self, listener: socket.socket, address: tuple[str, int], vhost: str, log: Log) -> None:
        self.listener, self.address, self.vhost, self.log = listener, address, vhost, log
        self.box: socket.socket | None = None
        self.node: socket.socket | None = None
        self._to_node = bytearray()
        self._to_box = bytearray()
        self._readers = {"client": FrameReader(client_side=True), "broker": FrameReader(client_side=False)}
        self._client_bytes = 0
        self._declares = 0
        self._gets: dict[int, deque[bool]] = {}  # per channel, the no_ack of each basic.get not answered yet
        self._wake_r, self._wake_w = os.pipe()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="brokerlab-relay", daemon=True)
        self.log.sync_hook = self.sync

    def start(self) -> "Relay":
        self._thread.start()
        return self

    def close(self) -> None:
        """End the connection, and return once the broker has let go of it: it then has requeued
        whatever the student's side held unacknowledged, and its consumers are gone. Idempotent: its
        descriptors are closed once, never a number another object reuses since."""
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        self._thread.join(timeout=5)
        with self.log.lock:
            self.log.sync_hook = None
            self._close_with_broker()
            for sock in (self.listener, self.box, self.node):
                if sock is not None:
                    try:
                        sock.close()
                    except OSError:
                        pass
            self.listener = self.box = self.node = None
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1

    def _close_with_broker(self, timeout: float = 3.0) -> None:
        """Close the connection as a client would (``connection.close``) and wait for the broker's
        ``close-ok``, which it sends once every channel is closed and its deliveries requeued.
        Where that cannot be said cleanly (no connection yet, half a frame sent), the TCP
        connection is dropped and the broker's cleanup waited for as long as it takes to notice."""
        node, reader = self.node, self._readers["client"]
        if node is None:
            return
        clean = not reader.buffer and not reader.pending and not reader.expect_header
        opened = bool(self.log.broker("connection.open-ok"))
        closing = bool(self.log.client("connection.close"))
        if not clean or not opened or closing:
            return
        frames = FrameReader(client_side=False)
        frames.expect_header = False
        frames.buffer = bytearray(self._readers["broker"].buffer)
        try:
            node.setblocking(True)
            node.settimeout(timeout)
            node.sendall(self._to_node + CONNECTION_CLOSE)
            self._to_node.clear()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                data = node.recv(1 << 16)
                if not data:
                    return
                if any(f.name in ("connection.close-ok", "connection.close") for f in frames.feed(data)):
                    return
        except (OSError, FrameError):
            return

    # the thread ----------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            if not self._accept():
                return
            while not self._closed.is_set():
                with self.log.lock:
                    box, node = self.box, self.node
                    if box is None or node is None:
                        return
                    want_write = ([box] if self._to_box else []) + ([node] if self._to_node else [])
                readable, writable, _ = select.select([box, node, self._wake_r], want_write, [], 1.0)
                if self._wake_r in readable:
                    return
                with self.log.lock:
                    if self.box is None:
                        return
                    if node in readable:
                        self._pump(node, "broker")
                    if box in readable and self.box is not None:
                        self._pump(box, "client")
                    if writable and self.box is not None:
                        self._flush()
        except Exception as exc:  # never raise in a thread: the test sees the cut in the log
            self._cut(f"relay error: {type(exc).__name__}")

    def _accept(self) -> bool:
        deadline = time.monotonic() + ACCEPT_TIMEOUT
        while not self._closed.is_set():
            readable = select.select([self.listener, self._wake_r], [], [], max(0.0, deadline - time.monotonic()))[0]
            if self._wake_r in readable or not readable:
                return False
            try:
                box, _addr = self.listener.accept()
            except BlockingIOError:
                continue
            except OSError:
                return False
            node = socket.create_connection(self.address, timeout=5)
            node.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for sock in (box, node):
                sock.setblocking(False)
            with self.log.lock:
                self.box, self.node = box, node
                self.listener.close()  # one connection per test: a second connect is refused
                self.listener = None
            self.log.add("grader", "connected")
            return True
        return False

    def sync(self) -> None:
        """Read and forward everything the student's side has sent so far (from the grader's thread)."""
        with self.log.lock:
            if self.box is not None:
                self._pump(self.box, "client")
            if self.box is not None:
                self._flush()

    def _pump(self, sock: socket.socket, source: str) -> None:
        for _ in range(64):
            try:
                data = sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._cut(f"the {'student' if source == 'client' else 'broker'} side closed the connection",
                          quiet=True)
                return
            if source == "client":
                self._client_bytes += len(data)
                if self._client_bytes > CLIENT_BYTES_LIMIT:
                    self._cut("the student's side sent more than the test allows")
                    return
            try:
                frames = self._readers[source].feed(data)
            except FrameError as exc:
                self._cut(f"not AMQP 0-9-1 from the {source}: {exc}")
                return
            for frame in frames:
                if not self._admit(source, frame):
                    return
            (self._to_node if source == "client" else self._to_box).extend(data)
            if len(self._to_box) > PENDING_LIMIT or len(self._to_node) > PENDING_LIMIT:
                self._cut("the other side stopped reading")
                return
            self._flush()
            if len(self.log.events) > EVENT_LIMIT:
                self._cut("too many frames for one test")
                return

    def _admit(self, source: str, frame: Frame) -> bool:
        args = dict(frame.args)
        if source == "client" and frame.name == "connection.open" and args.get("virtual_host") != self.vhost:
            self.log.add(source, frame.name, frame.channel, args)
            self._cut(f"the connection asked for virtual host {str(args.get('virtual_host'))[:60]!r}, "
                      "not the test's own")
            return False
        refused = refusal(frame) if source == "client" else None
        if refused:
            self.log.add(source, frame.name, frame.channel, args)
            self._cut(refused)
            return False
        if source == "client" and frame.name in DECLARES:
            self._declares += 1
            if self._declares > DECLARE_LIMIT:
                self.log.add(source, frame.name, frame.channel, args)
                self._cut(f"more than {DECLARE_LIMIT} declarations and bindings in one test")
                return False
        if source == "client" and frame.name == "basic.get":
            self._gets.setdefault(frame.channel, deque()).append(bool(args.get("no_ack")))
        if source == "broker" and frame.name in ("basic.get-ok", "basic.get-empty"):
            asked = self._gets.get(frame.channel)  # the broker answers a channel's gets in the order sent
            no_ack = asked.popleft() if asked else False
            if frame.name == "basic.get-ok":
                args["_no_ack"] = no_ack
        if source == "broker" and frame.name in CHANNEL_CLOSED:
            self._gets.pop(frame.channel, None)  # the broker answers nothing more on that channel
        self.log.add(source, frame.name, frame.channel, args, frame.properties, frame.body)
        return True

    def _flush(self) -> None:
        for sock, pending in ((self.node, self._to_node), (self.box, self._to_box)):
            while pending and sock is not None:
                try:
                    sent = sock.send(pending)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    if exc.errno in (errno.EPIPE, errno.ECONNRESET):
                        self._cut("a side closed the connection", quiet=True)
                        return
                    raise
                del pending[:sent]

    def _cut(self, why: str, quiet: bool = False) -> None:
        with self.log.lock:
            if self.log.cut is None:
                self.log.cut = why
                self.log.add("grader", "cut", 0, {"why": why, "quiet": quiet})
            for sock in (self.box, self.node):
                if sock is not None:
                    try:
                        sock.close()
                    except OSError:
                        pass
            self.box = self.node = None
