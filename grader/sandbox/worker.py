"""The untrusted side: import one student file and answer the grader's calls.

Runs in a child of the zygote, after ``isolation`` has confined it. Everything the student's code
is handed comes from ``decode``: JSON values as they are, and stand-ins for the grader's objects
(an SQS client whose HTTP requests travel to the grader's broker, proxies for the gateway, the
mailer and handlers, a fresh sqlite connection, a pika channel on the one broker connection the
grader relays for the test). Time is virtual: ``time.sleep`` asks the grader to move its clock,
and every reply carries the grader's "now" (for a broker test the clock also ticks between
replies, as the broker's timeouts are real).
"""
from __future__ import annotations

import base64
import datetime as _dt
import importlib.util
import math
import os
import random
import runpy
import socket
import sqlite3
import sys
import time
import traceback
from typing import Any, Callable

from grader.sandbox import protocol

_channel: socket.socket | None = None
_traveller: Any = None
MAX_DEPTH = 24


class GatewayError(Exception):
    """The payment gateway failed."""


class GatewayTimeout(GatewayError, TimeoutError):
    """The gateway's reply was lost: the charge may have gone through."""


class MailServerDown(ConnectionError):
    """The mail server refused the message: nothing was sent."""


_KNOWN_ERRORS: dict[str, type[BaseException]] = {
    cls.__name__: cls for cls in (GatewayError, GatewayTimeout, MailServerDown,
                                  ValueError, RuntimeError, KeyError, TypeError, TimeoutError,
                                  ConnectionError, Exception)
}


def _error_class(name: str) -> type[BaseException]:
    if name not in _KNOWN_ERRORS:
        _KNOWN_ERRORS[name] = type(name, (Exception,), {})
    return _KNOWN_ERRORS[name]


# -- the clock -------------------------------------------------------------------------------

def _set_now(now: float | None, tick: bool | None = None) -> None:
    global _traveller
    if now is None:
        return
    if _traveller is None:
        import time_machine

        _traveller = time_machine.travel(now, tick=bool(tick)).start()
    else:
        _traveller.move_to(now, tick=tick)


def virtual_sleep(seconds: float) -> None:
    """``time.sleep`` for student code: costs no wall time, moves the grader's clock."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        raise TypeError(f"'{type(seconds).__name__}' object cannot be interpreted as an integer")
    if math.isnan(seconds) or seconds < 0:
        raise ValueError("sleep length must be non-negative")
    if _channel is None:  # not serving (warm-up in the zygote)
        return
    request({"op": "sleep", "seconds": float(seconds)})


# -- talking to the grader ---------------------------------------------------------------------

def _ask(message: dict[str, Any]) -> dict[str, Any]:
    """Send a request and wait for the grader's reply, which also carries the grader's "now"."""
    assert _channel is not None
    protocol.send(_channel, message)
    reply = protocol.recv(_channel)
    _set_now(reply.get("now"))
    return reply


def request(message: dict[str, Any]) -> Any:
    """Ask the grader for something; raise what the grader says to raise."""
    reply = _ask(message)
    if "error" in reply:
        err = reply["error"]
        raise _error_class(str(err.get("type", "Exception")))(str(err.get("message", "")))
    return decode(reply.get("value"))


class _RawBody:
    """What botocore reads a response body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any):
        if self._data:
            yield self._data
            self._data = b""

    def read(self, *_: Any) -> bytes:
        data, self._data = self._data, b""
        return data


def forward_aws_request(request: Any, **_: Any) -> Any:
    """botocore ``before-send`` hook: the request goes to the grader's broker, not the network."""
    from botocore.awsrequest import AWSResponse

    if _channel is None:  # warming up in the zygote: an empty answer, never the network
        return AWSResponse(request.url, 200, {"x-amzn-RequestId": "warm-up"}, _RawBody(b"{}"))

    body = request.body
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {k: (v.decode("latin-1") if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()}
    reply = _ask({"op": "aws", "method": request.method, "url": request.url, "headers": headers,
                  "body": base64.b64encode(body or b"").decode("ascii")})["value"]
    return AWSResponse(request.url, int(reply["status"]), reply["headers"],
                       _RawBody(base64.b64decode(reply["body"])))


def install_aws_forwarding() -> None:
    """Every botocore client made in this process (the student's own in ``main`` too) forwards,
    and signs without computing the signature (see ``_sign_without_hmac``)."""
    import botocore.auth
    import botocore.handlers

    botocore.handlers.BUILTIN_HANDLERS.append(("before-send", forward_aws_request))
    botocore.auth.SigV4Auth.add_auth = _sign_without_hmac
    _share_alias_names()


def _share_alias_names() -> None:
    """Every client's event aliaser shares one cache of aliased event names. botocore keeps one
    per client, so each client a student's ``main()`` makes worked out the same ~30 names again
    (a fifth of making a client and sending its first two requests); the name depends only on
    the event and botocore's fixed alias table, so one cache gives the same names."""
    import botocore.hooks

    shared: dict[str, str] = {}
    default = botocore.hooks.EventAliaser.__init__

    def __init__(self: Any, event_emitter: Any, event_aliases: Any = None) -> None:
        default(self, event_emitter, event_aliases)
        if event_aliases is None:
            self._alias_name_cache = shared

    botocore.hooks.EventAliaser.__init__ = __init__


def _sign_without_hmac(self: Any, request: Any) -> None:
    """SigV4's Authorization header, with its credential scope (the access key and region the
    broker reads) but a blank signature: nobody verifies it, and the canonical request and four
    HMACs were a fifth of a request's cost in the box."""
    from botocore.auth import SIGV4_TIMESTAMP
    from botocore.exceptions import NoCredentialsError

    if self.credentials is None:
        raise NoCredentialsError()
    request.context["timestamp"] = _dt.datetime.now(_dt.timezone.utc).strftime(SIGV4_TIMESTAMP)
    self._modify_request_before_signing(request)
    request.headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.scope(request)}, "
                                        f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}")


_clients: dict[tuple[str, str], Any] = {}


def make_sqs_client(region: str, key: str = "", endpoint: str | None = None) -> Any:
    """The client handed to student functions; made once per process, as making one costs ~50 ms
    (the zygote makes the run's own, so boxes find it ready). With a ``key`` it signs with that
    access key, which tells the broker it is the one handed over; its endpoint is the box's
    ``AWS_ENDPOINT_URL`` unless one is given."""
    if (region, key) not in _clients:
        import boto3

        credentials = {"aws_access_key_id": key, "aws_secret_access_key": "brokerlab"} if key else {}
        where = {"endpoint_url": endpoint} if endpoint else {}
        _clients[(region, key)] = boto3.client("sqs", region_name=region, **credentials, **where)
    return _clients[(region, key)]


# -- the broker connection of a test ---------------------------------------------------------

_amqp: dict[str, Any] = {}


def amqp_listen(sock: socket.socket, message: dict[str, Any]) -> None:
    """Listen where the test's broker is reached from the box, and hand the listening socket to
    the grader, which accepts the one connection and relays it to the broker."""
    import signal
    from urllib.parse import quote

    # as in any Python program: a write to a connection the grader cut raises, it does not kill
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    amqp_drop()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", int(message.get("port") or 0)))
        listener.listen(4)
        port = listener.getsockname()[1]
        url = (f"amqp://{quote(str(message['user']), safe='')}:{quote(str(message['password']), safe='')}"
               f"@127.0.0.1:{port}/{quote(str(message['vhost']), safe='')}")
        os.environ["AMQP_URL"] = _amqp["url"] = url
        socket.send_fds(sock, [b"L"], [listener.fileno()])
    finally:
        listener.close()
    if message.get("connect"):
        try:
            amqp_channel()
        except Exception:  # said again, to the student's function, when it is handed the channel
            _amqp.pop("channel", None)


def amqp_channel() -> Any:
    """The test's channel in publisher-confirm mode, on its one connection (made on first use)."""
    if "channel" not in _amqp:
        import pika

        if "url" not in _amqp:
            raise ConnectionError("this test has no broker connection")
        connection = pika.BlockingConnection(pika.URLParameters(_amqp["url"]))
        channel = connection.channel()
        channel.confirm_delivery()
        _amqp.update(connection=connection, channel=channel)
    return _amqp["channel"]


def amqp_drop() -> None:
    """Forget the last test's connection (the grader has cut its relay already)."""
    connection = _amqp.pop("connection", None)
    _amqp.clear()
    os.environ.pop("AMQP_URL", None)
    if connection is not None:
        try:
            connection.close()
        except Exception:
            pass


# -- values ----------------------------------------------------------------------------------

class _Proxy:
    """A grader object seen from the sandbox: its allowed methods call back to the grader."""

    def __init__(self, ref: int, methods: list[str], name: str) -> None:
        self._ref, self._methods, self._name = ref, methods, name

    def __getattr__(self, attr: str) -> Callable[..., Any]:
        if attr.startswith("_") or attr not in self._methods:
            raise AttributeError(f"'{self._name}' object has no attribute '{attr}'")
        return lambda *args, **kwargs: _callback(self._ref, attr, args, kwargs)

    def __repr__(self) -> str:
        return f"<{self._name}>"


def _callback(ref: int, method: str | None, args: tuple, kwargs: dict) -> Any:
    return request({"op": "callback", "ref": ref, "method": method,
                    "args": encode(list(args)), "kwargs": encode(kwargs)})


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            (key, inner), = value.items()
            if key == "$sqs":
                return make_sqs_client(inner["region"], str(inner.get("key") or ""))
            if key == "$sqlite":
                return sqlite3.connect(inner)
            if key == "$callable":
                ref = int(inner["ref"])
                fn = lambda *args, **kwargs: _callback(ref, None, args, kwargs)  # noqa: E731
                fn.__name__ = fn.__qualname__ = str(inner.get("name", "handler"))
                return fn
            if key == "$object":
                return _Proxy(int(inner["ref"]), list(inner["methods"]), str(inner["name"]))
            if key == "$datetime":
                return _dt.datetime.fromisoformat(inner)
            if key == "$amqp_channel":
                return amqp_channel()
            if key == "$bytes":
                return base64.b64decode(inner)
        return {k: decode(v) for k, v in value.items()}
    return value


def encode(value: Any, depth: int = 0) -> Any:
    """A student's value as JSON; anything JSON cannot hold becomes its type and repr."""
    if depth > MAX_DEPTH:
        return {"$repr": "...", "$type": type(value).__name__}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$repr": repr(value), "$type": "float"}
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: encode(v, depth + 1) for k, v in value.items()}
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not break the channel
        text = "<unrepresentable>"
    return {"$repr": text[:500], "$type": type(value).__name__}


def _class_name(cls: type) -> str:
    """A built-in exception by its bare name, any other with its module: a class the student
    named ValueError is ``sqs_consumer.ValueError``, not a ValueError."""
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _describe_exception(exc: BaseException, student_file: str) -> dict[str, Any]:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    lines = ["Traceback (most recent call last):\n"] + traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable>"
    if isinstance(exc, SyntaxError):
        message = f"line {exc.lineno}: {exc.msg}"
    text = "".join(lines).replace(os.path.dirname(student_file) + os.sep, "")  # same text every run
    return {"types": [_class_name(c) for c in type(exc).__mro__], "message": message[:2000],
            "traceback": text[-20000:]}


# -- the loop --------------------------------------------------------------------------------

def import_student(sock: socket.socket, module_name: str, module_path: str, now: float | None) -> Any:
    """Import the student's module (its import-time requests are answered over ``sock``) and say
    how it went; None if it failed."""
    global _channel
    _channel = sock
    time.sleep = virtual_sleep
    time.tzset()  # the box's TZ, not the zygote's
    _set_now(now)
    try:
        spec = importlib.util.spec_from_file_location(module_name, module_path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt at import too
        protocol.send(sock, {"op": "hello", "error": _describe_exception(exc, module_path)})
        return None
    _flush()
    protocol.send(sock, {"op": "hello"})
    return module


def fork_per_test(control: socket.socket, module: Any, module_path: str,
                  on_fork: Callable[[str, int], None]) -> None:
    """Serve the grader's requests for fresh copies of this process, one per test.

    Each copy starts from the state right after the import, as a new process would, without
    paying for the box and the import again. A request carries the copy's channel and the write
    end of its output pipe; ``on_fork(folder, output_fd)`` prepares the copy before it serves calls.
    """
    while True:
        message = protocol.recv(control)
        if message["op"] == "fork":
            _msg, fds, _flags, _addr = socket.recv_fds(control, 1, 2)
            if len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                continue
            pid = os.fork()
            if pid == 0:
                control.close()
                channel = socket.socket(fileno=fds[0])
                code = 0
                try:
                    on_fork(str(message["scratch"]), fds[1])
                    protocol.send(channel, {"op": "pid", "pid": os.getpid()})
                    serve_calls(channel, module, module_path)
                except BaseException:
                    code = 1
                finally:
                    _flush()
                    os._exit(code)
            for fd in fds:
                os.close(fd)
        elif message["op"] == "kill":
            _kill(int(message["pid"]))
        else:
            return


def _kill(pid: int) -> None:
    import signal

    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _flush() -> None:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _run_as_script(module_path: str) -> None:
    runpy.run_path(module_path, run_name="__main__")


def serve_calls(sock: socket.socket, module: Any, module_path: str) -> None:
    """Answer calls until told to stop; between tests, move to the next test's folder (what it
    prints goes on to the same pipe, which the grader reads test by test)."""
    global _channel
    _channel = sock
    while True:
        message = protocol.recv(sock)
        if message["op"] == "enter":
            _flush()
            amqp_drop()
            os.chdir(message["scratch"])
            continue
        if message["op"] == "amqp":
            amqp_listen(sock, message)
            continue
        if message["op"] != "call":
            return
        _set_now(message.get("now"), bool(message.get("tick")))
        random.seed(message.get("seed", 0))
        function = getattr(module, message["function"], None)
        if message["function"] == "__main__":  # `python <file>.py`: the file run as a script
            function = lambda: _run_as_script(module_path)  # noqa: E731
        if not callable(function):
            protocol.send(sock, {"op": "missing", "function": message["function"]})
            continue
        try:
            result = function(*decode(message.get("args", [])), **decode(message.get("kwargs", {})))
        except BaseException as exc:
            reply = {"op": "raise", **_describe_exception(exc, module_path)}
        else:
            reply = {"op": "return", "value": encode(result)}
        _flush()
        protocol.send(sock, reply)
