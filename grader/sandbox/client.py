"""The trusted side of the channel: start a student's module in a worker and call into it.

``StudentProcess.call`` sends one call and then serves the worker's requests (AWS requests for
the grader's broker, virtual sleeps, calls back into the grader's objects) until the student's
function returns or raises, or until a limit runs out. Limits are counted in virtual seconds and
in requests, so they hit the same submission the same way every run; a wall-clock limit catches
code that spins without asking for anything.
"""
from __future__ import annotations

import base64
import datetime as _dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from grader.sandbox import protocol

OUTPUT_LIMIT = 64 * 1024


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
    """Stands for a boto3 SQS client; the worker builds a real one that forwards to the broker."""

    region: str = "us-east-1"


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
    """How long one call may run: virtual seconds and requests (the same every run), and the real
    seconds spent inside the worker (for code that spins without asking for anything)."""

    virtual_seconds: float = 900.0
    requests: int = 3000
    wall_seconds: float = 4.0
    import_wall_seconds: float = 4.0


# -- the zygote ------------------------------------------------------------------------------------

class Zygote:
    """Owns the warm process that forks workers. One per grading process tree."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        debug = os.environ.get("BROKERLAB_DEBUG")
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", "grader.sandbox.zygote", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
            stdout=None if debug else subprocess.DEVNULL, stderr=None if debug else subprocess.DEVNULL,
        )
        theirs.close()
        self.control = ours

    def fork(self, request: dict[str, Any]) -> socket.socket:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        socket.send_fds(self.control, [json.dumps(request).encode()], [theirs.fileno()])
        theirs.close()
        return ours

    def close(self) -> None:
        self.control.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- talking to a worker ---------------------------------------------------------------------------

class Conversation:
    """Serve a worker's requests until it says one of the awaited things, or a limit runs out."""

    def __init__(self, sock: socket.socket, host: Host, limits: Limits, on_kill: Callable[[], None]) -> None:
        self.sock, self.host, self.limits, self.on_kill = sock, host, limits, on_kill
        self.refs: dict[int, Any] = {}

    def until(self, awaited: set[str], wall_limit: float, started: float | None = None) -> dict[str, Any]:
        waited = 0.0
        count = 0
        started = self.host.now() if started is None else started
        while True:
            t0 = time.monotonic()
            try:
                message = protocol.recv(self.sock, timeout=max(0.01, wall_limit - waited))
            except protocol.ChannelTimeout:
                self.on_kill()
                raise StudentTimeout(f"it ran for more than {wall_limit:g} s of real time "
                                     "without returning") from None
            except (protocol.ChannelClosed, protocol.ProtocolError) as exc:
                self.on_kill()
                raise StudentCrashed(f"the process ended without replying ({exc})") from None
            waited += time.monotonic() - t0
            op = message["op"]
            if op in awaited:
                return message
            if op == "sandbox-error":
                self.on_kill()
                raise SandboxFailure(str(message.get("message")))
            count += 1
            if count > self.limits.requests:
                self.on_kill()
                raise StudentTimeout(f"it made more than {self.limits.requests} requests in one call")
            reply = self._answer(message)
            elapsed = self.host.now() - started
            if elapsed > self.limits.virtual_seconds:
                self.on_kill()
                raise StudentTimeout(f"it was still running after {elapsed:.0f} s of (virtual) time")
            reply["now"] = self.host.now()
            protocol.send(self.sock, reply)

    def _answer(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message["op"]
        if op == "aws":
            status, headers, body = self.host.aws(message["method"], message["url"],
                                                  dict(message.get("headers") or {}),
                                                  base64.b64decode(message.get("body") or ""))
            return {"op": "reply", "value": {"status": status, "headers": headers,
                                             "body": base64.b64encode(body).decode("ascii")}}
        if op == "sleep":
            self.host.sleep(float(message["seconds"]))
            return {"op": "reply", "value": None}
        if op == "callback":
            target = self.refs.get(int(message["ref"]))
            method = message.get("method")
            if target is None or (method is not None and method not in _allowed_methods(target)):
                return {"op": "reply", "error": {"type": "AttributeError", "message": f"no method {method}"}}
            fn = target if method is None else getattr(target, method)
            try:
                value = fn(*_decode(message.get("args") or []), **_decode(message.get("kwargs") or {}))
            except SimulatedCrash as exc:
                self.on_kill()
                raise StudentCrashed(f"simulated crash: {exc}") from None
            except Exception as exc:
                return {"op": "reply", "error": {"type": type(exc).__name__, "message": str(exc)}}
            return {"op": "reply", "value": self.encode(value)}
        self.on_kill()
        raise StudentCrashed(f"the worker sent an unknown request {op!r}")

    def encode(self, value: Any) -> Any:
        if isinstance(value, SqsClient):
            return {"$sqs": {"region": value.region}}
        if isinstance(value, Database):
            return {"$sqlite": value.path}
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
    """A confined process that imported one student file once, and forks a fresh copy per test.

    Started on first use (inside the first test that needs it, whose broker answers any requests
    made at import time); an import that fails is NotGradable, said once for the whole exercise.
    """

    zygote: Zygote
    module_name: str
    source: Path
    folder: Path
    limits: Limits = field(default_factory=Limits)
    settings: dict[str, Any] = field(default_factory=dict)
    sock: socket.socket | None = None
    pid: int | None = None
    uid: int | None = None

    @property
    def module_path(self) -> Path:
        return self.folder / f"{self.module_name}.py"

    @property
    def output_path(self) -> Path:
        return self.folder / ".import-output"

    def start(self, host: Host) -> None:
        self.module_path.write_bytes(self.source.read_bytes())
        self.sock = self.zygote.fork({
            "module_name": self.module_name, "module_path": str(self.module_path), "now": host.now(),
            "scratch": str(self.folder), "output_path": str(self.output_path), **self.settings,
        })
        try:
            first = protocol.recv(self.sock, timeout=10)
        except (protocol.ChannelClosed, protocol.ChannelTimeout, protocol.ProtocolError) as exc:
            self.close()
            raise SandboxFailure(f"the sandbox did not start ({type(exc).__name__})") from exc
        if first.get("op") == "sandbox-error":
            self.close()
            raise SandboxFailure(str(first.get("message")))
        self.pid, self.uid = int(first["pid"]), first.get("uid")
        talk = Conversation(self.sock, host, self.limits, self.close)
        try:
            hello = talk.until({"hello"}, self.limits.import_wall_seconds)
        except StudentTimeout as exc:
            raise NotGradable(f"importing {self.source.name} did not finish: {exc}") from exc
        except StudentCrashed as exc:
            raise NotGradable(f"{self.source.name} exited while being imported{_last_line(self.output_path)}") from exc
        if "error" in hello:
            self.close()
            raise NotGradable(f"{self.source.name} {_import_failure(hello['error'])}")

    def hand_over(self, folder: Path) -> None:
        """Give a folder the grader made (and what is in it) to the sandbox's user."""
        if self.uid is not None:
            for path in (folder, *folder.rglob("*")):
                os.lchown(path, self.uid, self.uid)

    def spawn(self, scratch: Path) -> socket.socket:
        """A fresh copy of the imported module for one test, working in ``scratch``."""
        if self.sock is None:
            raise SandboxFailure("the sandbox is gone")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            protocol.send(self.sock, {"op": "fork", "scratch": str(scratch), "module_path": str(self.module_path),
                                      "output_path": str(scratch / ".output")})
            socket.send_fds(self.sock, [b"\0"], [theirs.fileno()])
        except (OSError, protocol.ChannelClosed) as exc:
            ours.close()
            raise SandboxFailure(f"the sandbox stopped answering ({exc})") from None
        finally:
            theirs.close()
        return ours

    def kill_copy(self, pid: int) -> None:
        if self.sock is not None:
            try:
                protocol.send(self.sock, {"op": "kill", "pid": pid})
            except (OSError, protocol.ChannelClosed):
                pass

    def close(self) -> None:
        """Kill the sandbox and wait (briefly) until it is gone: as the first process of its PID
        namespace, it is gone only once every process the student's code started is."""
        if self.pid is not None:
            for kill in (os.killpg, os.kill):
                try:
                    kill(self.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            _wait_gone(self.pid)
            self.pid = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _wait_gone(pid: int, limit: float = 2.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        time.sleep(0.001)


def _import_failure(err: dict[str, Any]) -> str:
    types = err.get("types") or ["Exception"]
    if "SystemExit" in types:
        return "called exit() while being imported"
    if "SyntaxError" in types:
        return f"has a syntax error, {err.get('message', '')}"
    return f"raised {types[0]}: {str(err.get('message', ''))[:300]} while being imported"


def _last_line(path: Path) -> str:
    tail = _read_capped(path).strip().splitlines()[-1:]
    return f" (last output: {tail[0][:200]})" if tail else ""


def _read_capped(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(OUTPUT_LIMIT + 1)
    except OSError:
        return ""
    text = data[:OUTPUT_LIMIT].decode("utf-8", "replace")
    return text + ("\n[... output cut ...]" if len(data) > OUTPUT_LIMIT else "")


# -- one test's copy -------------------------------------------------------------------------------

@dataclass
class StudentProcess:
    """The student's module in a process of its own, called by the hidden suites: a copy of the
    sandbox made right after the import, serving one test after another until a crash or a
    timeout ends it (the next test then gets a fresh copy)."""

    sandbox: Sandbox
    scratch: Path
    host: Host
    limits: Limits = field(default_factory=Limits)
    sock: socket.socket | None = None
    pid: int | None = None
    calls: int = 0
    _talk: Conversation | None = None

    @property
    def source(self) -> Path:
        return self.sandbox.source

    def start(self) -> None:
        """A fresh copy (NotGradable if the student's file cannot be imported at all)."""
        if self.sandbox.sock is None:
            self.sandbox.start(self.host)
        try:
            self.sock = self.sandbox.spawn(self.scratch)
        except SandboxFailure:  # the student's code may have killed its own sandbox: start it again
            self.sandbox.close()
            self.sandbox.start(self.host)
            self.sock = self.sandbox.spawn(self.scratch)
        self._talk = Conversation(self.sock, self.host, self.limits, self.kill)
        try:
            first = protocol.recv(self.sock, timeout=10)
        except (protocol.ChannelClosed, protocol.ChannelTimeout, protocol.ProtocolError) as exc:
            self.kill()
            raise SandboxFailure(f"a test's process did not start ({type(exc).__name__})") from exc
        self.pid = int(first["pid"])

    def restart(self) -> None:
        """As after a crash: a new process, with no memory of before."""
        self.kill()
        self.start()

    def enter(self, scratch: Path, host: Host) -> None:
        """Serve the next test: its folder, its output file, its broker and clock."""
        self.scratch, self.host = scratch, host
        if self._talk is not None:
            self._talk.host = host
        if self.sock is not None:
            try:
                protocol.send(self.sock, {"op": "enter", "scratch": str(scratch),
                                          "output_path": str(scratch / ".output")})
            except protocol.ChannelClosed:
                self.kill()

    @property
    def alive(self) -> bool:
        return self.sock is not None

    def kill(self) -> None:
        if self.pid is not None:
            self.sandbox.kill_copy(self.pid)
            self.pid = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def output(self) -> str:
        """What the student's code printed in this test, cut to a readable size."""
        return _read_capped(self.scratch / ".output")

    def call(self, function: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``function(*args, **kwargs)`` in the worker and return its (decoded) result."""
        if self.sock is None:
            self.start()
        assert self.sock is not None and self._talk is not None
        self._talk.refs.clear()
        started = self.host.now()
        self.calls += 1  # the seed of `random` in the worker: varies per call, the same every run
        protocol.send(self.sock, {"op": "call", "function": function, "args": self._talk.encode(list(args)),
                                  "kwargs": self._talk.encode(kwargs), "now": started, "seed": self.calls})
        try:
            reply = self._talk.until({"return", "raise", "missing"}, self.limits.wall_seconds, started)
        except StudentFailure as exc:
            exc.function = function
            raise
        if reply["op"] == "missing":
            failure: StudentFailure = MissingFunction(f"{self.source.name} has no function {function}()")
        elif reply["op"] == "raise":
            failure = StudentRaised(list(reply.get("types") or []), str(reply.get("message", "")),
                                    str(reply.get("traceback", "")))
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
        return {k: _decode(v) for k, v in value.items()}
    return value
