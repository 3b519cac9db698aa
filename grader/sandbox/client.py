"""The trusted side of the channel: start a student's module in a worker and call into it.

``StudentProcess.call`` sends one call and then serves the worker's requests (AWS requests for
the grader's broker, virtual sleeps, calls back into the grader's objects) until the student's
function returns or raises, or until a limit runs out. Limits are counted in virtual seconds and
in requests, so they hit the same submission the same way every run; a wall-clock limit catches
code that spins without asking for anything.

Everything that comes back is bounded here, on the grader's side, as it is read: frames by
``protocol``, printed output by ``Tap`` (a pipe, never a file), exception texts and types by
``_raised``. A frame that is not what the protocol allows is the student's crash: the box is
killed and the test fails, never a grader error.
"""
from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
import os
import select
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from grader.sandbox import isolation, protocol
from grader.sandbox.scratch import ScratchSpace

OUTPUT_LIMIT = 64 * 1024
DRAIN_PER_READ = 4 * 1024 * 1024
MESSAGE_LIMIT, TRACEBACK_LIMIT, TYPES_LIMIT = 2000, 20000, 40
START_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0


# -- what goes wrong, as the hidden suites see it ------------------------------------------------

class NotGradable(Exception):
    """The exercise cannot be graded at all (file missing, empty, not UTF-8, fails at import)."""


class StudentFailure(Exception):
    """The student's code did not return normally from a call."""

    function: str = ""


class StudentRaised(StudentFailure):
    """The student's function raised; ``types`` is the exception's class and its bases, by name."""

    def __init__(self, types: list[str], message: str, traceback: str) -> None:
        self.types, self.message, self.traceback = types, message, traceback
        super().__init__(f"{types[0] if types else 'Exception'}: {message}")

    def is_a(self, name: str) -> bool:
        return name in self.types

    @property
    def type_name(self) -> str:
        return self.types[0] if self.types else "Exception"


class StudentCrashed(StudentFailure):
    """The worker died (it exited, was killed, or a simulated crash was injected)."""


class StudentTimeout(StudentFailure):
    """The call ran past a limit (virtual time, requests, or wall time)."""


class MissingFunction(StudentFailure):
    """The module has no such function."""


class SandboxFailure(Exception):
    """The sandbox could not be set up: a fault of the grading machine, never of the student."""


class SimulatedCrash(Exception):
    """Raised by a grader object inside a callback: the worker is killed at that very point."""


# -- what the student's code is handed -----------------------------------------------------------

@dataclass(frozen=True)
class SqsClient:
    """Stands for a boto3 SQS client; the worker builds a real one that forwards to the broker,
    signing with ``key`` (the broker serves no other client outside main())."""

    region: str = "us-east-1"
    key: str = ""


@dataclass(frozen=True)
class AmqpChannel:
    """Stands for the test's pika channel (in confirm mode), which the worker opens on the one
    broker connection the grader relays for the test (``StudentProcess.broker_listener``)."""


@dataclass(frozen=True)
class Database:
    """Stands for a new ``sqlite3.Connection`` to this file, opened inside the worker."""

    path: str


@dataclass(frozen=True)
class Opaque:
    """A value the student returned that JSON cannot hold: only its type and repr came back."""

    type: str
    repr: str


class Host(Protocol):
    """What the worker's requests are answered from: the broker and the virtual clock."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def aws(self, method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]: ...


@dataclass
class Limits:
    """How long one call may run: virtual seconds and requests (the same every run, on any
    machine), the real seconds the worker may go without asking for anything (code that spins),
    and, as a last line for code that trickles requests, the real seconds spent in the worker in
    all. Code that keeps asking meets the virtual or request limit first, however loaded the
    machine: a busy machine makes each request slower, never a verdict different."""

    # Honest calls of the hidden suites need at most 37 requests and 67 virtual seconds (main()
    # of the course's step 2, over the corpus's 31 correct SQS submissions and the solutions); a
    # loop that never stops meets these at four times that, at a cost the class can bear (its
    # requests are most of a looping consumer's grading time).
    virtual_seconds: float = 300.0
    requests: int = 150
    wall_seconds: float = 4.0
    import_wall_seconds: float = 4.0
    total_wall_seconds: float = 60.0


# -- the zygote ------------------------------------------------------------------------------------

class Zygote:
    """Owns the warm process that forks boxes. One per grading process tree."""

    def __init__(self, clients: list[tuple[SqsClient, str]] | None = None) -> None:
        """``clients``: those the run will hand to student functions, with the endpoint the
        boxes will see, built once in the zygote."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        debug = os.environ.get("BROKERLAB_DEBUG")
        warm = json.dumps([[c.region, c.key, endpoint] for c, endpoint in clients or []])
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", "grader.sandbox.zygote", str(theirs.fileno()), warm],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, cwd="/", env=isolation.box_environment(),
            stdout=None if debug else subprocess.DEVNULL, stderr=None if debug else subprocess.DEVNULL,
        )
        theirs.close()
        self.control = ours

    def fork(self, request: dict[str, Any], fds: list[int]) -> None:
        socket.send_fds(self.control, [json.dumps(request).encode()], fds)

    def close(self) -> None:
        self.control.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Tap:
    """The read end of a pipe the student's code prints into: drained as it fills, so printing
    never blocks the student, and kept up to ``limit`` bytes (the rest is counted, not kept)."""

    def __init__(self, fd: int, limit: int = OUTPUT_LIMIT) -> None:
        os.set_blocking(fd, False)
        self.fd, self.limit = fd, limit
        self.data = bytearray()
        self.dropped = 0

    def drain(self) -> None:
        taken = 0
        while self.fd >= 0 and taken < DRAIN_PER_READ:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                return
            taken += len(chunk)
            room = self.limit - len(self.data)
            self.data += chunk[:max(room, 0)]
            self.dropped += max(len(chunk) - max(room, 0), 0)

    def take(self) -> str:
        """What was printed since the last take, as text, cut to the limit."""
        self.drain()
        text = self.data.decode("utf-8", "replace")
        if self.dropped:
            text += f"\n[... {self.dropped} more bytes of output cut ...]"
        self.data, self.dropped = bytearray(), 0
        return text

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# -- talking to a worker ---------------------------------------------------------------------------

class Conversation:
    """Serve a worker's requests until it says one of the awaited things, or a limit runs out.

    ``on_kill`` ends the copy when the student's code crashed on its own or a simulated crash
    hit it; ``on_abort`` ends the whole box when the code spun, stopped reading, or sent what
    the protocol does not allow."""

    def __init__(self, sock: socket.socket, host: Host, limits: Limits, on_kill: Callable[[], None],
                 on_abort: Callable[[], None] | None = None, tap: Tap | None = None) -> None:
        self.sock, self.host, self.limits, self.on_kill, self.tap = sock, host, limits, on_kill, tap
        self.on_abort = on_abort or on_kill
        self.refs: dict[int, Any] = {}

    def _wait_readable(self, left: float) -> bool:
        deadline = time.monotonic() + left
        while True:
            watched = [self.sock] + ([self.tap.fd] if self.tap is not None and self.tap.fd >= 0 else [])
            ready = select.select(watched, [], [], max(0.0, deadline - time.monotonic()))[0]
            if self.sock in ready:
                return True
            if ready:
                self.tap.drain()  # type: ignore[union-attr]
                continue
            return False

    def until(self, awaited: set[str], wall_limit: float, started: float | None = None) -> dict[str, Any]:
        """``wall_limit``: real seconds the worker may go without a message; the worker's real
        time in all is capped by ``Limits.total_wall_seconds``."""
        waited = 0.0
        count = 0
        started = self.host.now() if started is None else started
        while True:
            t0 = time.monotonic()
            gap = max(0.01, min(wall_limit, self.limits.total_wall_seconds - waited))
            try:
                if not self._wait_readable(gap):
                    raise protocol.ChannelTimeout()
                message = protocol.recv(self.sock, timeout=max(0.5, gap))
            except protocol.ChannelTimeout:
                self.on_abort()
                if gap < wall_limit:
                    raise StudentTimeout(f"it ran for more than {self.limits.total_wall_seconds:g} s of real "
                                         "time in all without returning") from None
                raise StudentTimeout(f"it ran for more than {gap:g} s of real time "
                                     "without asking for anything or returning") from None
            except protocol.ChannelClosed as exc:
                self.on_kill()
                raise StudentCrashed(f"the process ended without replying ({exc})") from None
            except protocol.ProtocolError as exc:
                self.on_abort()
                raise StudentCrashed(f"the process sent something the grader does not accept ({exc})") from None
            waited += time.monotonic() - t0
            op = message["op"]
            if op in awaited:
                if self.tap is not None:
                    self.tap.drain()
                return message
            if op == "sandbox-error":
                self.on_abort()
                raise StudentCrashed("the process claimed a sandbox error after it had started")
            count += 1
            if count > self.limits.requests:
                self.on_abort()
                raise StudentTimeout(f"it made more than {self.limits.requests} requests in one call")
            try:
                reply = self._answer(message)
            except (KeyError, TypeError, ValueError, AttributeError, binascii.Error, RecursionError):
                self.on_abort()
                raise StudentCrashed(f"the process sent a malformed {str(op)[:40]!r} request") from None
            elapsed = self.host.now() - started
            if elapsed > self.limits.virtual_seconds:
                self.on_abort()
                raise StudentTimeout(f"it was still running after {elapsed:.0f} s of (virtual) time")
            reply["now"] = self.host.now()
            try:
                protocol.send(self.sock, reply)
            except protocol.ChannelTimeout:
                self.on_abort()
                raise StudentTimeout("it stopped reading the grader's replies") from None
            except protocol.ChannelClosed as exc:
                self.on_kill()
                raise StudentCrashed(f"the process ended without replying ({exc})") from None

    def _answer(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message["op"]
        if op == "aws":
            headers = message.get("headers") or {}
            if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
                raise TypeError("headers")
            status, headers, body = self.host.aws(_text(message["method"]), _text(message["url"]),
                                                  dict(headers), base64.b64decode(_text(message.get("body") or "")))
            return {"op": "reply", "value": {"status": status, "headers": headers,
                                             "body": base64.b64encode(body).decode("ascii")}}
        if op == "sleep":
            seconds = message["seconds"]
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds < 1e9:
                raise ValueError("seconds")
            self.host.sleep(float(seconds))
            return {"op": "reply", "value": None}
        if op == "callback":
            ref, method = message["ref"], message.get("method")
            args, kwargs = message.get("args") or [], message.get("kwargs") or {}
            if not isinstance(ref, int) or not isinstance(args, list) or not isinstance(kwargs, dict):
                raise TypeError("callback")
            target = self.refs.get(ref)
            if target is None or (method is not None and method not in _allowed_methods(target)):
                return {"op": "reply", "error": {"type": "AttributeError", "message": f"no method {str(method)[:80]}"}}
            fn = target if method is None else getattr(target, method)
            try:
                value = fn(*_decode(args), **_decode(kwargs))
            except SimulatedCrash as exc:
                self.on_kill()
                raise StudentCrashed(f"simulated crash: {exc}") from None
            except Exception as exc:
                return {"op": "reply", "error": {"type": type(exc).__name__, "message": str(exc)[:MESSAGE_LIMIT]}}
            return {"op": "reply", "value": self.encode(value)}
        raise ValueError("an unknown request")

    def encode(self, value: Any) -> Any:
        if isinstance(value, SqsClient):
            return {"$sqs": {"region": value.region, "key": value.key}}
        if isinstance(value, Database):
            return {"$sqlite": value.path}
        if isinstance(value, AmqpChannel):
            return {"$amqp_channel": {}}
        if isinstance(value, bytes):
            return {"$bytes": base64.b64encode(value).decode("ascii")}
        if isinstance(value, _dt.datetime):
            return {"$datetime": value.isoformat()}
        if isinstance(value, (list, tuple)):
            return [self.encode(v) for v in value]
        if isinstance(value, dict):
            return {k: self.encode(v) for k, v in value.items()}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        ref = len(self.refs) + 1
        self.refs[ref] = value
        methods = _allowed_methods(value)
        if methods:
            return {"$object": {"ref": ref, "methods": sorted(methods), "name": type(value).__name__}}
        if callable(value):
            return {"$callable": {"ref": ref, "name": getattr(value, "__name__", "handler")}}
        raise TypeError(f"cannot hand a {type(value).__name__} to student code")


# -- one exercise of one submission ----------------------------------------------------------------

@dataclass
class Sandbox:
    """A box that imported one student file once, and forks a fresh copy of it per test.

    Started on first use (inside the first test that needs it, whose broker answers any requests
    made at import time); an import that fails is NotGradable, said once for the whole exercise.
    ``close`` (or the death of the grading process) ends the box through its keeper, and returns
    once everything in it is gone.
    """

    zygote: Zygote
    module_name: str
    source: bytes
    space: ScratchSpace
    exercise: str
    limits: Limits = field(default_factory=Limits)
    settings: dict[str, Any] = field(default_factory=dict)
    sock: socket.socket | None = None
    lifeline: socket.socket | None = None
    pid: int | None = None
    uid: int | None = None
    tap: Tap | None = None
    import_output: str = ""

    @property
    def file_name(self) -> str:
        return f"{self.module_name}.py"

    def start(self, host: Host) -> None:
        folder = self.space.exercise(self.exercise)
        channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        lifeline, keeper_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        source = os.memfd_create(self.module_name, os.MFD_CLOEXEC)
        os.write(source, self.source)
        fds = [theirs.fileno(), keeper_end.fileno(), source, out_w]
        if self.settings.get("isolate") and self.space.mount_ns is not None:
            fds.append(self.space.mount_ns)
        try:
            self.zygote.fork({"module_name": self.module_name, "now": host.now(), "scratch": str(folder),
                              **self.settings}, fds)
        finally:
            theirs.close()
            keeper_end.close()
            os.close(source)
            os.close(out_w)
        self.sock, self.lifeline, self.tap = channel, lifeline, Tap(out_r)
        try:
            first = protocol.recv(self.sock, timeout=START_TIMEOUT)
        except (protocol.ChannelClosed, protocol.ChannelTimeout, protocol.ProtocolError) as exc:
            self.close()
            raise SandboxFailure(f"the sandbox did not start ({type(exc).__name__})") from exc
        if first.get("op") != "pid" or not isinstance(first.get("pid"), int):
            self.close()
            raise SandboxFailure(str(first.get("message") or "the sandbox did not start"))
        self.pid, self.uid = first["pid"], first.get("uid")
        tap = self.tap
        talk = Conversation(self.sock, host, self.limits, self.close, tap=tap)
        try:
            hello = talk.until({"hello"}, self.limits.import_wall_seconds)
        except StudentTimeout as exc:
            self.import_output = tap.take()
            raise NotGradable(f"importing {self.file_name} did not finish: {exc}") from exc
        except StudentCrashed as exc:
            self.import_output = tap.take()
            raise NotGradable(f"{self.file_name} exited while being imported{_last_line(self.import_output)}") from exc
        self.import_output = tap.take()
        if "error" in hello:
            self.close()
            raise NotGradable(f"{self.file_name} {_import_failure(hello['error'])}")

    def hand_over(self, folder: Path) -> None:
        """Give a test folder the grader made (and what is in it) to the box's user."""
        self.space.hand_over(folder, self.uid)

    def spawn(self, scratch: Path) -> tuple[socket.socket, Tap]:
        """A fresh copy of the imported module for one test, working in ``scratch``."""
        if self.sock is None:
            raise SandboxFailure("the sandbox is gone")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        try:
            protocol.send(self.sock, {"op": "fork", "scratch": str(scratch)})
            socket.send_fds(self.sock, [b"\0"], [theirs.fileno(), out_w])
        except (OSError, protocol.ChannelClosed, protocol.ChannelTimeout) as exc:
            ours.close()
            os.close(out_r)
            raise SandboxFailure(f"the sandbox stopped answering ({exc})") from None
        finally:
            theirs.close()
            os.close(out_w)
        return ours, Tap(out_r)

    def kill_copy(self, pid: int) -> None:
        if self.sock is not None:
            try:
                protocol.send(self.sock, {"op": "kill", "pid": pid}, timeout=1)
            except (OSError, protocol.ChannelClosed, protocol.ChannelTimeout):
                pass

    def close(self) -> None:
        """End the box: tell its keeper, and wait until the keeper says everything in it is gone."""
        if self.lifeline is not None:
            try:
                self.lifeline.shutdown(socket.SHUT_WR)
                deadline = time.monotonic() + CLOSE_TIMEOUT
                while select.select([self.lifeline], [], [], max(0.0, deadline - time.monotonic()))[0]:
                    if not self.lifeline.recv(64):
                        break
            except OSError:
                pass
            self.lifeline.close()
            self.lifeline = None
        self.pid = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.tap is not None:
            self.tap.close()
            self.tap = None


def _last_line(output: str) -> str:
    tail = output.strip().splitlines()[-1:]
    return f" (last output: {tail[0][:200]})" if tail else ""


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not text")
    return value


def _capped(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else ""
    return text if len(text) <= limit else text[:limit] + " [...]"


def _import_failure(err: Any) -> str:
    err = err if isinstance(err, dict) else {}
    types = _types(err.get("types"))
    if "SystemExit" in types:
        return "called exit() while being imported"
    if "SyntaxError" in types:
        return f"has a syntax error, {_capped(err.get('message'), 300)}"
    return f"raised {types[0]}: {_capped(err.get('message'), 300)} while being imported"


def _types(value: Any) -> list[str]:
    names = [v[:100] for v in value[:TYPES_LIMIT] if isinstance(v, str)] if isinstance(value, list) else []
    return names or ["Exception"]


def _raised(reply: dict[str, Any]) -> "StudentRaised":
    return StudentRaised(_types(reply.get("types")), _capped(reply.get("message"), MESSAGE_LIMIT),
                         _capped(reply.get("traceback"), TRACEBACK_LIMIT))


# -- one test's copy -------------------------------------------------------------------------------

@dataclass
class StudentProcess:
    """The student's module in a process of its own, called by the hidden suites: a copy of the
    box's process made right after the import, serving one test after another until a crash or
    a timeout ends it (the next test then gets a fresh copy; after a timeout, a fresh box)."""

    sandbox: Sandbox
    scratch: Path
    host: Host
    limits: Limits = field(default_factory=Limits)
    sock: socket.socket | None = None
    pid: int | None = None
    calls: int = 0
    tap: Tap | None = None
    _talk: Conversation | None = None

    @property
    def file_name(self) -> str:
        return self.sandbox.file_name

    def start(self) -> None:
        """A fresh copy (NotGradable if the student's file cannot be imported at all)."""
        if self.sandbox.sock is None:
            self.sandbox.start(self.host)
            self.sandbox.hand_over(self.scratch)
        try:
            self.sock, self.tap = self.sandbox.spawn(self.scratch)
        except SandboxFailure:  # the student's code may have broken its own box: a new one
            self.sandbox.close()
            self.sandbox.start(self.host)
            self.sandbox.hand_over(self.scratch)
            self.sock, self.tap = self.sandbox.spawn(self.scratch)
        self._talk = Conversation(self.sock, self.host, self.limits, self.kill, self.abort, self.tap)
        try:
            first = protocol.recv(self.sock, timeout=START_TIMEOUT)
        except (protocol.ChannelClosed, protocol.ChannelTimeout, protocol.ProtocolError):
            self.abort()
            raise StudentCrashed("the test's process did not start") from None
        if first.get("op") != "pid" or not isinstance(first.get("pid"), int):
            self.abort()
            raise StudentCrashed("the test's process did not start")
        self.pid = first["pid"]

    def restart(self) -> None:
        """As after a crash: a new process, with no memory of before."""
        self.kill()
        self.start()

    def enter(self, scratch: Path, host: Host) -> None:
        """Serve the next test: its folder, its broker and clock; what it prints starts afresh."""
        self.scratch, self.host = scratch, host
        if self._talk is not None:
            self._talk.host = host
        if self.tap is not None:
            self.tap.take()
        if self.sock is not None:
            try:
                protocol.send(self.sock, {"op": "enter", "scratch": str(scratch)})
            except (protocol.ChannelClosed, protocol.ChannelTimeout):
                self.abort()

    @property
    def alive(self) -> bool:
        return self.sock is not None

    def kill(self) -> None:
        """End this copy (its box lives on for the next test). What it printed is what reached
        its pipe before now: the copy may still flush its buffers between the socket closing and
        the kill landing, and whether that gets in depends on the machine's load."""
        if self.tap is not None:
            self.tap.drain()
            self.tap.close()
        if self.pid is not None:
            self.sandbox.kill_copy(self.pid)
            self.pid = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def abort(self) -> None:
        """End the whole box: the next test starts a new one."""
        self.kill()
        self.sandbox.close()

    def output(self) -> str:
        """What the student's code printed in this test, cut to a readable size."""
        return self.tap.take() if self.tap is not None else ""

    def broker_listener(self, user: str, password: str, vhost: str, connect: bool = False) -> socket.socket:
        """Have the worker listen, inside the box, where the student's code reaches the broker
        (127.0.0.1:5672 of the box's own loopback; any free port without a box) with these
        credentials in ``AMQP_URL``, and take the listening socket back: the grader accepts the one
        connection on it and relays it. With ``connect`` the worker then opens that connection (the
        channel it hands the student's functions) before it reads the next call. Whatever comes
        back that is not a TCP listener is the student's crash."""
        if self.sock is None:
            self.start()
        assert self.sock is not None
        port = 5672 if self.sandbox.settings.get("isolate") else 0
        try:
            protocol.send(self.sock, {"op": "amqp", "user": user, "password": password, "vhost": vhost,
                                      "port": port, "connect": connect})
            if not select.select([self.sock], [], [], START_TIMEOUT)[0]:
                raise protocol.ChannelTimeout()
            data, fds, _flags, _addr = socket.recv_fds(self.sock, 1, 1)
        except (OSError, protocol.ChannelClosed, protocol.ChannelTimeout) as exc:
            self.abort()
            raise StudentCrashed(f"the test's process did not open its broker connection ({exc})") from None
        listener = None
        try:
            if data == b"L" and len(fds) == 1:
                listener = socket.socket(fileno=fds.pop())
                if listener.family != socket.AF_INET or listener.type != socket.SOCK_STREAM \
                        or not listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                    listener.close()
                    listener = None
        except OSError:
            listener = None
        for fd in fds:
            os.close(fd)
        if listener is None:
            self.abort()
            raise StudentCrashed("the test's process sent something else than its broker listener")
        return listener

    def call(self, function: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``function(*args, **kwargs)`` in the worker and return its (decoded) result."""
        if self.sock is None:
            self.start()
        assert self.sock is not None and self._talk is not None
        self._talk.refs.clear()
        started = self.host.now()
        self.calls += 1  # the seed of `random` in the worker: varies per call, the same every run
        try:
            protocol.send(self.sock, {"op": "call", "function": function, "args": self._talk.encode(list(args)),
                                      "kwargs": self._talk.encode(kwargs), "now": started, "seed": self.calls,
                                      "tick": bool(getattr(self.host, "ticking", False))})
        except (protocol.ChannelClosed, protocol.ChannelTimeout) as exc:
            self.abort()
            failure: StudentFailure = StudentCrashed(f"the process stopped answering ({exc})")
            failure.function = function
            raise failure from None
        try:
            reply = self._talk.until({"return", "raise", "missing"}, self.limits.wall_seconds, started)
        except StudentFailure as exc:
            exc.function = function
            raise
        if reply["op"] == "missing":
            failure = MissingFunction(f"{self.file_name} has no function {function}()")
        elif reply["op"] == "raise":
            failure = _raised(reply)
        else:
            return _decode(reply.get("value"))
        failure.function = function
        raise failure


def _allowed_methods(obj: Any) -> frozenset[str]:
    """A grader object exposes only the methods it lists in ``sandbox_methods``."""
    return frozenset(getattr(obj, "sandbox_methods", ()))


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"$repr", "$type"}:
            return Opaque(str(value["$type"]), str(value["$repr"]))
        if set(value) == {"$bytes"}:
            try:
                return base64.b64decode(_text(value["$bytes"]), validate=True)
            except (TypeError, ValueError):  # binascii.Error is a ValueError, as is non-ASCII text
                return Opaque("bytes", "<malformed>")
        return {k: _decode(v) for k, v in value.items()}
    return value
