"""Framed JSON messages over a stream socket: a 4-byte big-endian length, then UTF-8 JSON.

JSON, never pickle: nothing a worker sends can run code in the grader.
"""
from __future__ import annotations

import json
import select
import socket
import struct
import time
from typing import Any

MAX_MESSAGE = 8 * 1024 * 1024
_HEADER = struct.Struct(">I")


class ChannelClosed(Exception):
    """The other side is gone (exited, crashed or was killed)."""


class ChannelTimeout(Exception):
    """Nothing arrived within the time allowed."""


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed message."""


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8")
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(data)} bytes is over the {MAX_MESSAGE}-byte limit")
    try:
        sock.sendall(_HEADER.pack(len(data)) + data)
    except (BrokenPipeError, ConnectionResetError) as exc:
        raise ChannelClosed(str(exc)) from exc


def _read_exactly(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                raise ChannelTimeout()
        try:
            chunk = sock.recv(min(n, 1 << 20))
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
    try:
        message = json.loads(_read_exactly(sock, length, deadline))
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ProtocolError("a message must be an object with an 'op'")
    return message
