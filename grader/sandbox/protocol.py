"""Framed JSON messages over a stream socket: a 4-byte big-endian length, then UTF-8 JSON.

JSON, never pickle: nothing a worker sends can run code in the grader. Both directions are
bounded by the reader and the writer's clock: a frame over ``MAX_MESSAGE``, one that is not a JSON
object with an ``op``, or nested more than ``MAX_DEPTH`` deep is a ``ProtocolError``; a send that cannot finish
within its timeout (the other side stopped reading) is a ``ChannelTimeout``.
"""
from __future__ import annotations

import json
import re
import select
import socket
import struct
import time
from typing import Any

MAX_MESSAGE = 8 * 1024 * 1024
MAX_DEPTH = 64  # a worker nests a value at most 24 deep (worker.MAX_DEPTH); the grader walks what it reads
SEND_TIMEOUT = 10.0
_HEADER = struct.Struct(">I")
_SURROGATE = re.compile("[\ud800-\udfff]")  # after json.loads, only unpaired ones are left


class ChannelClosed(Exception):
    """The other side is gone (exited, crashed or was killed)."""


class ChannelTimeout(Exception):
    """Nothing arrived within the time allowed."""


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed message."""


def send(sock: socket.socket, message: dict[str, Any], timeout: float | None = SEND_TIMEOUT) -> None:
    """Send one message; ``timeout`` is wall seconds for the whole frame (None: for ever)."""
    data = json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8")
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(data)} bytes is over the {MAX_MESSAGE}-byte limit")
    frame = memoryview(_HEADER.pack(len(data)) + data)
    deadline = None if timeout is None else time.monotonic() + timeout
    while frame:
        try:  # the buffer has room nearly always: wait only when it is full
            sent = sock.send(frame, socket.MSG_DONTWAIT if deadline is not None else 0)
        except (BlockingIOError, InterruptedError):
            if not _ready(sock, deadline, writing=True):
                raise ChannelTimeout("the other side stopped reading") from None
            continue
        except OSError as exc:
            raise ChannelClosed(str(exc)) from exc
        frame = frame[sent:]


def _ready(sock: socket.socket, deadline: float | None, writing: bool) -> bool:
    """Wait until ``sock`` can be written (or read) again; False once ``deadline`` has passed."""
    left = None if deadline is None else deadline - time.monotonic()
    if left is not None and left <= 0:
        return False
    watched = [sock]
    readable, writable, _ = select.select([] if writing else watched, watched if writing else [], [], left)
    return bool(writable if writing else readable)


def _read_exactly(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    while n:
        try:  # what the other side sent is usually there already: wait only when it is not
            chunk = sock.recv(min(n, 1 << 20), socket.MSG_DONTWAIT if deadline is not None else 0)
        except (BlockingIOError, InterruptedError):
            if not _ready(sock, deadline, writing=False):
                raise ChannelTimeout() from None
            continue
        except (ConnectionResetError, OSError) as exc:
            raise ChannelClosed(str(exc)) from exc
        if not chunk:
            raise ChannelClosed("end of stream")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket, timeout: float | None = None) -> dict[str, Any]:
    """One message; ``timeout`` is wall seconds for the whole message (None waits for ever)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    (length,) = _HEADER.unpack(_read_exactly(sock, _HEADER.size, deadline))
    if length > MAX_MESSAGE:
        raise ProtocolError(f"message of {length} bytes is over the {MAX_MESSAGE}-byte limit")
    raw = _read_exactly(sock, length, deadline)
    try:
        message = json.loads(raw)
        if b"\\ud" in raw or b"\\uD" in raw:  # an escaped surrogate: none may stay unpaired
            message = _without_lone_surrogates(message)
    except RecursionError:
        raise ProtocolError("nested too deeply") from None
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ProtocolError("a message must be an object with an 'op'")
    if _deeper_than(message, MAX_DEPTH):
        raise ProtocolError(f"nested more than {MAX_DEPTH} levels deep")
    return message


def _without_lone_surrogates(message: Any) -> Any:
    """The message with each unpaired UTF-16 surrogate (JSON may escape one; no text can hold it,
    so printing or writing the result would fail) replaced by U+FFFD."""
    return json.loads(_SURROGATE.sub("\ufffd", json.dumps(message, ensure_ascii=False)))


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects nest more than ``limit`` deep (without recursing: whatever
    reads the message later may recurse, and must never hit Python's recursion limit)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False
