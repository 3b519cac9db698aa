"""AMQP 0-9-1 frames, read as the broker reads them: enough of the wire format to log what a
client asked for and what it was sent (methods, content headers, bodies), in order.

The relay parses every byte it forwards with ``FrameReader``; a stream that is not well-formed
AMQP (a frame over the size limit, a bad frame end, an unknown frame type) raises ``FrameError``
and the relay cuts the connection: what the log says is then exactly what the broker received.
Only the methods the exercises use have their arguments decoded; any other is logged by name.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT = 1, 2, 3, 8
FRAME_END = 0xCE
MAX_FRAME = 1 << 20
BODY_KEPT = 64 * 1024  # what the log keeps of one message body

# (class id, method id) -> name, and the layout of the arguments we decode:
# s shortstr, S longstr, o octet, h short, l long, q longlong, t table, b bit (consecutive bits
# share an octet, least significant first).
METHODS: dict[tuple[int, int], tuple[str, str, tuple[str, ...]]] = {
    (10, 10): ("connection.start", "", ()),
    (10, 11): ("connection.start-ok", "", ()),
    (10, 30): ("connection.tune", "hlh", ("channel_max", "frame_max", "heartbeat")),
    (10, 31): ("connection.tune-ok", "hlh", ("channel_max", "frame_max", "heartbeat")),
    (10, 40): ("connection.open", "ss", ("virtual_host", "reserved")),
    (10, 41): ("connection.open-ok", "", ()),
    (10, 50): ("connection.close", "hshh", ("reply_code", "reply_text", "class_id", "method_id")),
    (10, 51): ("connection.close-ok", "", ()),
    (10, 60): ("connection.blocked", "s", ("reason",)),
    (10, 61): ("connection.unblocked", "", ()),
    (20, 10): ("channel.open", "", ()),
    (20, 11): ("channel.open-ok", "", ()),
    (20, 20): ("channel.flow", "b", ("active",)),
    (20, 21): ("channel.flow-ok", "b", ("active",)),
    (20, 40): ("channel.close", "hshh", ("reply_code", "reply_text", "class_id", "method_id")),
    (20, 41): ("channel.close-ok", "", ()),
    (40, 10): ("exchange.declare", "hssbbbbbt",
               ("reserved", "exchange", "type", "passive", "durable", "auto_delete", "internal", "no_wait",
                "arguments")),
    (40, 11): ("exchange.declare-ok", "", ()),
    (40, 20): ("exchange.delete", "hsbb", ("reserved", "exchange", "if_unused", "no_wait")),
    (40, 21): ("exchange.delete-ok", "", ()),
    (40, 30): ("exchange.bind", "hsssbt", ("reserved", "destination", "source", "routing_key", "no_wait",
                                         "arguments")),
    (40, 31): ("exchange.bind-ok", "", ()),
    (40, 40): ("exchange.unbind", "hsssbt", ("reserved", "destination", "source", "routing_key", "no_wait",
                                           "arguments")),
    (40, 51): ("exchange.unbind-ok", "", ()),
    (50, 10): ("queue.declare", "hsbbbbbt",
               ("reserved", "queue", "passive", "durable", "exclusive", "auto_delete", "no_wait", "arguments")),
    (50, 11): ("queue.declare-ok", "sll", ("queue", "message_count", "consumer_count")),
    (50, 20): ("queue.bind", "hsssbt", ("reserved", "queue", "exchange", "routing_key", "no_wait", "arguments")),
    (50, 21): ("queue.bind-ok", "", ()),
    (50, 30): ("queue.purge", "hsb", ("reserved", "queue", "no_wait")),
    (50, 31): ("queue.purge-ok", "l", ("message_count",)),
    (50, 40): ("queue.delete", "hsbbb", ("reserved", "queue", "if_unused", "if_empty", "no_wait")),
    (50, 41): ("queue.delete-ok", "l", ("message_count",)),
    (50, 50): ("queue.unbind", "hssst", ("reserved", "queue", "exchange", "routing_key", "arguments")),
    (50, 51): ("queue.unbind-ok", "", ()),
    (60, 10): ("basic.qos", "lhb", ("prefetch_size", "prefetch_count", "global")),
    (60, 11): ("basic.qos-ok", "", ()),
    (60, 20): ("basic.consume", "hssbbbbt",
               ("reserved", "queue", "consumer_tag", "no_local", "no_ack", "exclusive", "no_wait", "arguments")),
    (60, 21): ("basic.consume-ok", "s", ("consumer_tag",)),
    (60, 30): ("basic.cancel", "sb", ("consumer_tag", "no_wait")),
    (60, 31): ("basic.cancel-ok", "s", ("consumer_tag",)),
    (60, 40): ("basic.publish", "hssbb", ("reserved", "exchange", "routing_key", "mandatory", "immediate")),
    (60, 50): ("basic.return", "hsss", ("reply_code", "reply_text", "exchange", "routing_key")),
    (60, 60): ("basic.deliver", "sqbss", ("consumer_tag", "delivery_tag", "redelivered", "exchange", "routing_key")),
    (60, 70): ("basic.get", "hsb", ("reserved", "queue", "no_ack")),
    (60, 71): ("basic.get-ok", "qbssl", ("delivery_tag", "redelivered", "exchange", "routing_key", "message_count")),
    (60, 72): ("basic.get-empty", "s", ("reserved",)),
    (60, 80): ("basic.ack", "qb", ("delivery_tag", "multiple")),
    (60, 90): ("basic.reject", "qb", ("delivery_tag", "requeue")),
    (60, 100): ("basic.recover-async", "b", ("requeue",)),
    (60, 110): ("basic.recover", "b", ("requeue",)),
    (60, 111): ("basic.recover-ok", "", ()),
    (60, 120): ("basic.nack", "qbb", ("delivery_tag", "multiple", "requeue")),
    (85, 10): ("confirm.select", "b", ("no_wait",)),
    (85, 11): ("confirm.select-ok", "", ()),
    (90, 10): ("tx.select", "", ()),
    (90, 11): ("tx.select-ok", "", ()),
    (90, 20): ("tx.commit", "", ()),
    (90, 21): ("tx.commit-ok", "", ()),
    (90, 30): ("tx.rollback", "", ()),
    (90, 31): ("tx.rollback-ok", "", ()),
}
CONTENT_METHODS = {"basic.publish", "basic.return", "basic.deliver", "basic.get-ok"}

# basic's content properties, in flag order (bit 15 first)
PROPERTIES = (("content_type", "s"), ("content_encoding", "s"), ("headers", "t"), ("delivery_mode", "o"),
              ("priority", "o"), ("correlation_id", "s"), ("reply_to", "s"), ("expiration", "s"),
              ("message_id", "s"), ("timestamp", "q"), ("type", "s"), ("user_id", "s"), ("app_id", "s"),
              ("cluster_id", "s"))


class FrameError(Exception):
    """The byte stream is not well-formed AMQP 0-9-1."""


@dataclass
class Frame:
    """One method (with its content, once complete), or a heartbeat."""

    channel: int
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] | None = None
    body: bytes | None = None
    body_size: int = 0


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise FrameError("a field runs past the end of its frame")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))[0]

    def shortstr(self) -> str:
        return self.take(self.unpack(">B")).decode("utf-8", "replace")

    def longstr(self) -> bytes:
        return self.take(self.unpack(">I"))

    def table(self, depth: int = 0) -> dict[str, Any]:
        end_cursor = _Cursor(self.longstr())
        result: dict[str, Any] = {}
        while end_cursor.pos < len(end_cursor.data):
            key = end_cursor.shortstr()
            if key in result:  # the broker may read the first, we the last: neither is trusted
                raise FrameError(f"a field table names {key[:40]!r} twice")
            result[key] = end_cursor.value(depth + 1)
        return result

    def value(self, depth: int) -> Any:
        if depth > 16:
            raise FrameError("a field table nested too deeply")
        kind = self.take(1)
        simple = {b"b": ">b", b"B": ">B", b"s": ">h", b"u": ">H", b"I": ">i", b"i": ">I", b"l": ">q",
                  b"L": ">Q", b"f": ">f", b"d": ">d", b"T": ">Q"}
        if kind == b"t":
            return bool(self.unpack(">B"))
        if kind in simple:
            return self.unpack(simple[kind])
        if kind == b"D":
            scale = self.unpack(">B")
            return self.unpack(">i") / (10 ** scale)
        if kind == b"S":
            raw = self.longstr()
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return raw
        if kind == b"x":
            return self.longstr()
        if kind == b"A":
            inner = _Cursor(self.longstr())
            items = []
            while inner.pos < len(inner.data):
                items.append(inner.value(depth + 1))
            return items
        if kind == b"F":
            return self.table(depth)
        if kind == b"V":
            return None
        raise FrameError(f"unknown field type {kind!r}")


def decode_method(payload: bytes) -> tuple[str, dict[str, Any]]:
    cursor = _Cursor(payload)
    class_id, method_id = cursor.unpack(">H"), cursor.unpack(">H")
    known = METHODS.get((class_id, method_id))
    if known is None:
        return f"method {class_id}.{method_id}", {}
    name, layout, names = known
    args: dict[str, Any] = {}
    bits, bit_index = 0, 8
    for kind, key in zip(layout, names):
        if kind == "b":
            if bit_index == 8:
                bits, bit_index = cursor.unpack(">B"), 0
            args[key] = bool(bits & (1 << bit_index))
            bit_index += 1
            continue
        bit_index = 8
        if kind == "s":
            args[key] = cursor.shortstr()
        elif kind == "S":
            args[key] = cursor.longstr()
        elif kind == "o":
            args[key] = cursor.unpack(">B")
        elif kind == "h":
            args[key] = cursor.unpack(">H")
        elif kind == "l":
            args[key] = cursor.unpack(">I")
        elif kind == "q":
            args[key] = cursor.unpack(">Q")
        elif kind == "t":
            args[key] = cursor.table()
    args.pop("reserved", None)
    return name, args


def decode_header(payload: bytes) -> tuple[int, dict[str, Any]]:
    cursor = _Cursor(payload)
    cursor.unpack(">H")  # class
    cursor.unpack(">H")  # weight
    size = cursor.unpack(">Q")
    flags: list[int] = []
    while True:
        word = cursor.unpack(">H")
        flags.append(word)
        if not word & 1 or len(flags) > 4:
            break
    properties: dict[str, Any] = {}
    for index, (key, kind) in enumerate(PROPERTIES):
        if not flags[0] & (1 << (15 - index)):
            continue
        if kind == "s":
            properties[key] = cursor.shortstr()
        elif kind == "o":
            properties[key] = cursor.unpack(">B")
        elif kind == "q":
            properties[key] = cursor.unpack(">Q")
        else:
            properties[key] = cursor.table()
    return size, properties


class FrameReader:
    """Incremental parser of one direction of a connection; ``feed`` returns the complete frames."""

    def __init__(self, client_side: bool) -> None:
        self.buffer = bytearray()
        self.expect_header = client_side
        self.pending: dict[int, Frame] = {}  # channel -> a content method waiting for its header/body
        self.body_left: dict[int, int] = {}

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames: list[Frame] = []
        if self.expect_header:
            if len(self.buffer) < len(PROTOCOL_HEADER):
                return frames
            if bytes(self.buffer[:len(PROTOCOL_HEADER)]) != PROTOCOL_HEADER:
                raise FrameError("the connection did not start with the AMQP 0-9-1 protocol header")
            del self.buffer[:len(PROTOCOL_HEADER)]
            self.expect_header = False
        while len(self.buffer) >= 7:
            kind, channel, size = struct.unpack(">BHI", self.buffer[:7])
            if size > MAX_FRAME:
                raise FrameError(f"a frame of {size} bytes is over the limit")
            if len(self.buffer) < size + 8:
                break
            payload = bytes(self.buffer[7:7 + size])
            if self.buffer[7 + size] != FRAME_END:
                raise FrameError("a frame does not end with the frame-end octet")
            del self.buffer[:size + 8]
            frame = self._frame(kind, channel, payload)
            if frame is not None:
                frames.append(frame)
        return frames

    def _frame(self, kind: int, channel: int, payload: bytes) -> Frame | None:
        if kind == FRAME_HEARTBEAT:
            return None
        if kind == FRAME_METHOD:
            name, args = decode_method(payload)
            frame = Frame(channel, name, args)
            if name in CONTENT_METHODS:
                self.pending[channel] = frame
                return None
            return frame
        pending = self.pending.get(channel)
        if pending is None:
            raise FrameError("a content frame without its method")
        if kind == FRAME_HEADER:
            pending.body_size, pending.properties = decode_header(payload)
            pending.body = b""
            self.body_left[channel] = pending.body_size
        elif kind == FRAME_BODY:
            if pending.properties is None:
                raise FrameError("a body frame before its content header")
            room = BODY_KEPT - len(pending.body or b"")
            pending.body = (pending.body or b"") + payload[:max(room, 0)]
            self.body_left[channel] = self.body_left.get(channel, 0) - len(payload)
        else:
            raise FrameError(f"unknown frame type {kind}")
        if self.body_left.get(channel, 1) <= 0:
            del self.pending[channel]
            self.body_left.pop(channel, None)
            return pending
        return None
