"""moto's SQS, as the grader sees it: set-up, inspection, and the student's forwarded requests.

Verdicts about queues come from here (what is stored, what is in flight, what was deleted, which
requests were made with which parameters), never from what a student's function returns.

The student's boto3 client reaches exactly one thing: the SQS actions the exercises need
(``ACTIONS``), in the JSON protocol botocore speaks, on an SQS host, handed straight to moto's SQS
handler in the grader's account. Any other service, host, path, protocol or action (moto's admin
API included) is refused with an error the student's code sees; nothing is ever routed to the rest
of moto, so the grading process makes no connection on a submission's behalf. The request log is
written by that handler from what moto itself parsed and executed, not from a parse of ours.
"""
from __future__ import annotations

import contextlib
import re
import signal
import threading
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest
from botocore.compat import HTTPHeaders
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.request import normalize_request
from moto.sqs.responses import SQSResponse

from grader.harness.clock import VirtualClock

REGION = "us-east-1"
ACTIONS = frozenset({
    "CreateQueue", "GetQueueUrl", "GetQueueAttributes", "SetQueueAttributes", "ListQueues",
    "SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch",
    "ChangeMessageVisibility", "ChangeMessageVisibilityBatch", "PurgeQueue",
})
SQS_HOST = re.compile(r"^(sqs\.[a-z0-9-]+|[a-z0-9-]+\.queue)\.amazonaws\.com$")
QUEUE_PATH = re.compile(r"^/(\d{12}/[A-Za-z0-9_.-]{1,80}/?)?$")
JSON_PROTOCOL = "application/x-amz-json-1.0"
BODY_LIMIT = 512 * 1024
DISPATCH_SECONDS = 5.0  # of the grader's own time for one request: moto must never spin for a student


class Refused(Exception):
    """A request outside what the exercises may use: the student's error, said to their code."""


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt the grader's own work on one request after ``seconds`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(_signum: int, _frame: Any) -> None:
        raise Refused(f"the request kept the broker busy for more than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _GradedSQS(SQSResponse):
    """moto's SQS handler, pinned to the grader's account, telling the broker what it executed."""

    def __init__(self, broker: "Broker") -> None:
        super().__init__()
        self._broker = broker

    def get_current_account(self) -> str:
        return DEFAULT_ACCOUNT_ID

    def call_action(self) -> Any:
        action = self._get_action()
        if action not in ACTIONS:
            raise Refused(f"the action {str(action)[:60]!r} is not one the exercises use")
        status, headers, body = super().call_action()
        params = dict(getattr(self, "params", {}) or {})
        self._broker.requests.append(Request(action, params, int(status)))
        return status, headers, body


@dataclass(frozen=True)
class Request:
    """One SQS API call a student's code made: its action and parameters."""

    action: str
    params: dict[str, Any]
    status: int = 200


def start_mock() -> Any:
    """moto's patching, once per grading run: starting it costs ~10 ms, resetting SQS far less."""
    from grader.harness import moto_speed

    moto_speed.apply()
    mock = mock_aws()
    mock.start()
    return mock


class Broker:
    """A fresh, empty moto SQS for one test, on the test's virtual clock (moto must be started)."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.requests: list[Request] = []

    def __enter__(self) -> "Broker":
        from moto.sqs.models import sqs_backends

        sqs_backends[DEFAULT_ACCOUNT_ID].reset()
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    # the worker's host ---------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def sleep(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def aws(self, method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Answer a request the student's boto3 client would have sent over the network."""
        try:
            prepared = self._admit(method, url, headers, body)
            with _deadline(DISPATCH_SECONDS):
                status, response_headers, content = _GradedSQS(self)._dispatch(normalize_request(prepared))
        except Refused as exc:
            return _error(400, "AccessDenied", f"Refused by the grader: {exc}.")
        except Exception as exc:  # moto choked on what the student sent: a bad request, theirs
            return _error(400, "InvalidRequest", f"The broker could not handle this request ({type(exc).__name__}).")
        if isinstance(content, str):
            content = content.encode("utf-8")
        return int(status), {str(k): str(v) for k, v in dict(response_headers).items()}, content or b""

    @staticmethod
    def _admit(method: str, url: str, headers: dict[str, str], body: bytes) -> AWSPreparedRequest:
        """The request as moto will see it, if it is one the exercises may make."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not SQS_HOST.match(parts.hostname or "") \
                or parts.port not in (None, 443, 80) or parts.username or parts.password:
            raise Refused(f"only Amazon SQS is reachable, not {(parts.hostname or url)[:80]}")
        if parts.query or parts.fragment or not QUEUE_PATH.match(parts.path or "/"):
            raise Refused("that path is not an SQS endpoint")
        if method != "POST" or len(body) > BODY_LIMIT:
            raise Refused("SQS takes a POST of at most 512 KiB")
        lower = {k.lower(): v for k, v in headers.items()}
        target = lower.get("x-amz-target", "")
        if not lower.get("content-type", "").startswith(JSON_PROTOCOL) or not target.startswith("AmazonSQS."):
            raise Refused("only SQS's JSON protocol is served")
        if target.removeprefix("AmazonSQS.") not in ACTIONS:
            raise Refused(f"the action {target[:60]!r} is not one the exercises use")
        http_headers = HTTPHeaders()
        for key, value in headers.items():
            if key.lower() not in ("content-encoding", "transfer-encoding"):
                http_headers[key] = value
        return AWSPreparedRequest(method=method, url=f"{parts.scheme}://{parts.hostname}{parts.path or '/'}",
                                  headers=http_headers, body=body, stream_output=False)

    def mark(self, action: str) -> None:
        """Put a grader's event (e.g. "Handled") in the request log, to judge the order of calls."""
        self.requests.append(Request(action, {}))

    # set-up -----------------------------------------------------------------------------------------
    def create_queue(self, name: str, **attributes: int | str) -> str:
        """Create a queue straight in moto; its URL is the one a student's client is given."""
        self._backend().create_queue(name, **{k: str(v) for k, v in attributes.items()})
        return self.url(name)

    @staticmethod
    def url(name: str) -> str:
        return f"https://sqs.{REGION}.amazonaws.com/{DEFAULT_ACCOUNT_ID}/{name}"

    def send(self, url: str, body: str, delay: int = 0) -> str:
        """Put a message in the queue (straight into moto: set-up need not pay for HTTP)."""
        return self._backend().send_message(self._name(url), body, delay_seconds=delay).id

    def take(self, url: str, count: int, visibility: int = 60) -> int:
        """Receive as another consumer would, putting ``count`` messages in flight."""
        return len(self._backend().receive_message(self._name(url), count, 0, visibility))

    @staticmethod
    def _backend() -> Any:
        from moto.sqs.models import sqs_backends

        return sqs_backends[DEFAULT_ACCOUNT_ID][REGION]

    @staticmethod
    def _name(url: str) -> str:
        return url.rstrip("/").rsplit("/", 1)[-1]

    # inspection -------------------------------------------------------------------------------------
    def queue(self, url: str) -> Any:
        return self._backend().queues[self._name(url)]

    def queue_names(self) -> list[str]:
        return sorted(self._backend().queues)

    def attributes(self, url: str) -> dict[str, str]:
        """The queue's attributes as GetQueueAttributes would give them (strings)."""
        return {k: str(v) for k, v in self._backend().get_queue_attributes(self._name(url), ["All"]).items()}

    def stored(self, url: str) -> list[Any]:
        """Every message not yet deleted, visible or in flight (moto Message objects)."""
        return list(self.queue(url)._messages)

    def bodies(self, url: str) -> list[str]:
        return [m.body for m in self.stored(url)]

    def in_flight(self, url: str) -> int:
        return sum(1 for m in self.stored(url) if not m.visible)

    def find(self, url: str, body: str) -> Any | None:
        return next((m for m in self.stored(url) if m.body == body), None)

    def calls(self, action: str) -> list[dict[str, Any]]:
        """The parameters of each call of ``action`` the student's code made, in order."""
        return [r.params for r in self.requests if r.action == action]


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    import json

    body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": message}).encode()
    return status, {"Content-Type": JSON_PROTOCOL, "x-amzn-query-error": f"{code};Sender"}, body
