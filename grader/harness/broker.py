"""moto's SQS, as the grader sees it: set-up, inspection, and the student's forwarded requests.

Verdicts about queues come from here (what is stored, what is in flight, what was deleted, which
requests were made with which parameters), never from what a student's function returns.

The student's boto3 client reaches exactly one thing: the SQS actions the exercises need
(``ACTIONS``), in the JSON protocol botocore speaks, on the run's endpoint (``AWS_ENDPOINT_URL`` of
the box), signed for the run's region, handed straight to moto's SQS handler in the run's account
(all three drawn from the course seed, see ``seeded``). Only the client the grader handed to the
student's function is served, except in ``main()``, which makes its own. Any other service, host, path, protocol or action (moto's admin
API included) is refused with an error the student's code sees; nothing is ever routed to the rest
of moto, so the grading process makes no connection on a submission's behalf. The request log is
written by that handler from what moto itself parsed and executed, not from a parse of ours.
"""
from __future__ import annotations

import contextlib
import json
import re
import signal
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import ServiceException
from moto.sqs.responses import SQSResponse

from grader.harness import moto_speed
from grader.harness.clock import VirtualClock
from grader.harness.seeded import Course
from grader.harness.verdict import PreconditionBroken, expect
from grader.sandbox.client import StudentRaised

REGION = "us-east-1"
ACTIONS = frozenset({
    "CreateQueue", "GetQueueUrl", "GetQueueAttributes", "SetQueueAttributes", "ListQueues",
    "SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch",
    "ChangeMessageVisibility", "ChangeMessageVisibilityBatch", "PurgeQueue",
})
SQS_HOST = re.compile(r"^(sqs\.[a-z0-9-]+|[a-z0-9-]+\.queue)\.amazonaws\.com$")
QUEUE_PATH = re.compile(r"^/([0-9]{12}/[A-Za-z0-9_.-]{1,80}/?)?$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,100}$")  # what botocore sends: no "_", nothing outside ASCII
DROPPED_HEADERS = ("content-encoding", "transfer-encoding")  # the body arrives whole and as sent
JSON_PROTOCOL = "application/x-amz-json-1.0"
# what CreateQueue and SetQueueAttributes may set (SQS's own list): moto sets any name it is given
# straight on its queue object, where the grader's own reads then break
QUEUE_ATTRIBUTES = frozenset({
    "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "Policy", "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled", "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit",
})
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
        return self._broker.account

    def _get_action(self) -> str:
        """The action X-Amz-Target names, as SQS's JSON protocol has it: moto looks for an
        ``Action=`` in the body first, and a message's text may hold one."""
        return str(self.headers.get("X-Amz-Target", "")).removeprefix("AmazonSQS.")

    def call_action(self) -> Any:
        action = self._get_action()
        if action not in ACTIONS:
            raise Refused(f"the action {str(action)[:60]!r} is not one the exercises use")
        self._broker.check_caller(self.get_access_key(), self.region, self._get_param("QueueUrl"))
        if action in ("CreateQueue", "SetQueueAttributes"):
            _check_attributes(self._get_param("Attributes") or {}, action)
        status, headers, body = super().call_action()
        params = dict(getattr(self, "params", {}) or {})
        returned = 0
        if action == "ReceiveMessage" and int(status) == 200:
            try:
                returned = len(json.loads(body or "{}").get("Messages", []))
            except (ValueError, AttributeError):
                returned = 0
        self._broker.requests.append(Request(action, params, int(status), returned))
        return status, headers, body

    def delete_message_batch(self) -> Any:
        """moto's DeleteMessageBatch, except that the entries a test planned to fail are reported
        in ``Failed`` and their messages stay, as SQS does when an entry fails."""
        from moto.core.responses import ActionResult

        entries = self._get_param("Entries", [])
        if not entries or not self._broker.planned_batch_failures:
            return super().delete_message_batch()
        queue_name = self._get_queue_name()
        failing = [e for e in entries if self._broker.fails_now(queue_name, e.get("ReceiptHandle"))]
        kept = [e for e in entries if e not in failing]
        success, failed = self.sqs_backend.delete_message_batch(queue_name, kept) if kept else ([], [])
        failed = list(failed) + [{"Id": e.get("Id"), "SenderFault": False, "Code": "InternalError",
                                  "Message": "We encountered an internal error. Please try again."} for e in failing]
        return ActionResult({"Successful": [{"Id": i} for i in success], "Failed": failed})


def _check_attributes(attributes: object, action: str) -> None:
    """Only SQS's queue attributes, as strings; a queue's type is chosen when it is created."""
    if not isinstance(attributes, dict):
        raise Refused("Attributes must map attribute names to strings")
    for name, value in attributes.items():
        if name not in QUEUE_ATTRIBUTES or (name == "FifoQueue" and action == "SetQueueAttributes"):
            raise Refused(f"{str(name)[:60]!r} is not an attribute {action} can set")
        if not isinstance(value, str):
            raise Refused(f"the attribute {name} must be a string")


@contextlib.contextmanager
def _grader_call(doing: str) -> Iterator[None]:
    """The grader's own set-up or look at a queue the student's code configured: moto refusing it
    (a message longer than the queue's MaximumMessageSize, a queue made FIFO) fails the test
    with moto's words, never as a grader error."""
    try:
        yield
    except ServiceException as exc:
        raise PreconditionBroken(f"The broker refused the grader's own {doing} on the queue your code "
                                 f"configured: {str(exc)[:300]}") from None


@dataclass(frozen=True)
class Request:
    """One SQS API call a student's code made: its action and parameters."""

    action: str
    params: dict[str, Any]
    status: int = 200
    returned: int = 0  # for ReceiveMessage: how many messages the broker delivered


_kept_mock: Any = None


def start_mock() -> Any:
    """moto's patching, once per grading run: starting it costs ~40 ms, resetting SQS far less.
    None when ``keep_mock`` has it running for the whole process already (nothing to stop)."""
    if _kept_mock is not None:
        return None
    moto_speed.apply()
    mock = mock_aws()
    mock.start()
    return mock


def keep_mock(keep: bool = True) -> None:
    """Start moto's patching for the life of this process and of every child it forks (the class
    run's parent: each child would otherwise pay the start again), or stop it (``keep=False``)."""
    global _kept_mock
    if keep and _kept_mock is None:
        _kept_mock = start_mock()
    elif not keep and _kept_mock is not None:
        mock, _kept_mock = _kept_mock, None
        mock.stop()


class Broker:
    """A fresh, empty moto SQS for one test, on the test's virtual clock (moto must be started).

    Without a ``course`` it is moto's default account and region on AWS's own host (the bulk
    engine's warm-up); the hidden suites always give one."""

    def __init__(self, clock: VirtualClock, course: Course | None = None, label: str = "") -> None:
        self.clock = clock
        self.course = course
        self.account = course.account if course else DEFAULT_ACCOUNT_ID
        self.region = course.region if course else REGION
        self.endpoint = course.endpoint if course else f"https://sqs.{REGION}.amazonaws.com"
        self.label = label
        self.requests: list[Request] = []
        self.refusals: list[str] = []
        self.own_clients = False  # main() makes its own client; the other functions use the one given
        self.slept = 0.0
        self.planned_batch_failures: dict[str, int] = {}  # message body -> DeleteMessageBatch entries to fail

    def __enter__(self) -> "Broker":
        from moto.moto_api._internal import mock_random
        from moto.sqs.models import sqs_backends

        sqs_backends[self.account].reset()
        mock_random.seed(f"{self.course.seed if self.course else 0}/{self.label}")  # message ids, receipts
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    # the worker's host ---------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def sleep(self, seconds: float) -> None:
        self.slept += max(seconds, 0.0)
        self.clock.advance(seconds)

    def aws(self, method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Answer a request the student's boto3 client would have sent over the network."""
        try:
            prepared = self._admit(method, url, headers, body)
            with _deadline(DISPATCH_SECONDS):
                status, response_headers, content = _GradedSQS(self)._dispatch(prepared)
        except Refused as exc:
            self.refusals.append(str(exc))
            return _error(400, "AccessDenied", f"Refused by the grader: {exc}.")
        except Exception as exc:  # moto choked on what the student sent: a bad request, theirs
            return _error(400, "InvalidRequest", f"The broker could not handle this request ({type(exc).__name__}).")
        if isinstance(content, str):
            content = content.encode("utf-8")
        return int(status), {str(k): str(v) for k, v in dict(response_headers).items()}, content or b""

    def _admit(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Any:
        """The request as moto will see it, if it is one the exercises may make."""
        parts = urlsplit(url)
        if self.course is not None:
            served = urlsplit(self.endpoint)
            if (parts.scheme, parts.hostname, parts.port) != (served.scheme, served.hostname, served.port) \
                    or "@" in parts.netloc:
                raise Refused(f"only the SQS broker at AWS_ENDPOINT_URL ({self.endpoint}) is reachable, "
                              f"not {(parts.hostname or url)[:80]}")
        elif parts.scheme not in ("http", "https") or not SQS_HOST.match(parts.hostname or "") \
                or parts.port not in (None, 443, 80) or "@" in parts.netloc:
            raise Refused(f"only Amazon SQS is reachable, not {(parts.hostname or url)[:80]}")
        if parts.query or parts.fragment or not QUEUE_PATH.match(parts.path or "/"):
            raise Refused("that path is not an SQS endpoint")
        if method != "POST" or len(body) > BODY_LIMIT:
            raise Refused("SQS takes a POST of at most 512 KiB")
        lower: dict[str, str] = {}
        for key, value in headers.items():  # moto reads a header by its name in any case, and the first of two
            if not HEADER_NAME.match(key):
                raise Refused(f"{key[:60]!r} is not a header name botocore sends")
            if key.lower() in lower:
                raise Refused(f"the header {key[:60]!r} is sent twice")
            lower[key.lower()] = value
        target = lower.get("x-amz-target", "")
        if not lower.get("content-type", "").startswith(JSON_PROTOCOL) or not target.startswith("AmazonSQS."):
            raise Refused("only SQS's JSON protocol is served")
        if target.removeprefix("AmazonSQS.") not in ACTIONS:
            raise Refused(f"the action {target[:60]!r} is not one the exercises use")
        kept = [(key, value) for key, value in headers.items() if key.lower() not in DROPPED_HEADERS]
        return moto_speed.request(method, f"{parts.scheme}://{parts.netloc}{parts.path or '/'}", kept, body)

    def check_caller(self, access_key: str, region: str, queue_url: object) -> None:
        """Refuse a request from a client the student's code made itself (outside main()), one
        signed for another region, or one naming a queue of another account."""
        if self.course is None:
            return
        if access_key != self.course.key and not self.own_clients:
            raise Refused("this request came from an SQS client your code made itself (at import, or in the "
                          "function); the exercise's functions must use the `sqs` client they are given")
        if region != self.region:
            raise Refused(f"this broker serves the region in AWS_DEFAULT_REGION ({self.region}); the request "
                          f"was signed for {region[:40]}")
        if isinstance(queue_url, str) and queue_url.startswith(("http://", "https://")):
            path = urlsplit(queue_url).path.strip("/").split("/")
            if len(path) != 2 or path[0] != self.account:
                raise Refused(f"the queue URL {queue_url[:120]!r} is not one this broker gave out: use the URL "
                              "that create_queue or get_queue_url returned")

    def mark(self, action: str) -> None:
        """Put a grader's event (e.g. "Handled") in the request log, to judge the order of calls."""
        self.requests.append(Request(action, {}))

    def fail_batch_deletes(self, bodies: Iterable[str], times: int = 1) -> None:
        """Have DeleteMessageBatch report the entries of these messages as failed, ``times`` each."""
        for body in bodies:
            self.planned_batch_failures[body] = times

    def fails_now(self, queue_name: str, receipt: object) -> bool:
        queue = self._backend().queues.get(queue_name)
        if queue is None or not isinstance(receipt, str):
            return False
        message = next((m for m in queue._messages if m.had_receipt_handle(receipt)), None)
        if message is None or self.planned_batch_failures.get(message.body, 0) <= 0:
            return False
        self.planned_batch_failures[message.body] -= 1
        return True

    # set-up -----------------------------------------------------------------------------------------
    def create_queue(self, name: str, **attributes: int | str) -> str:
        """Create a queue straight in moto; its URL is the one a student's client is given."""
        with _grader_call("CreateQueue"):
            self._backend().create_queue(name, **{k: str(v) for k, v in attributes.items()})
        return self.url(name)

    def url(self, name: str) -> str:
        return f"{self.endpoint}/{self.account}/{name}"

    def send(self, url: str, body: str, delay: int = 0) -> str:
        """Put a message in the queue (straight into moto: set-up need not pay for HTTP)."""
        with _grader_call("SendMessage"):
            return self._backend().send_message(self._name(url), body, delay_seconds=delay).id

    def take(self, url: str, count: int, visibility: int = 60) -> int:
        """Receive as another consumer would, putting ``count`` messages in flight."""
        with _grader_call("ReceiveMessage"):
            return len(self._backend().receive_message(self._name(url), count, 0, visibility))

    def _backend(self) -> Any:
        from moto.sqs.models import sqs_backends

        return sqs_backends[self.account][self.region]

    @staticmethod
    def _name(url: str) -> str:
        return url.rstrip("/").rsplit("/", 1)[-1]

    # inspection -------------------------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        return name in self._backend().queues

    def queue(self, url: str) -> Any:
        """The queue at ``url``; a test whose queue the student's code never created fails with that."""
        queue = self._backend().queues.get(self._name(url))
        if queue is None:
            raise PreconditionBroken(f"The broker has no queue named {self._name(url)!r}: it was never created "
                                     "(or not in this account and region), so there is nothing to check.")
        return queue

    def queue_names(self) -> list[str]:
        return sorted(self._backend().queues)

    def attributes(self, url: str) -> dict[str, str]:
        """The queue's attributes as GetQueueAttributes would give them (strings)."""
        self.queue(url)
        with _grader_call("GetQueueAttributes"):
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

    def delivered(self) -> int:
        """How many messages the student's receives were given, redeliveries included."""
        return sum(r.returned for r in self.requests if r.action == "ReceiveMessage")


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    import json

    body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": message}).encode()
    return status, {"Content-Type": JSON_PROTOCOL, "x-amzn-query-error": f"{code};Sender"}, body


def run_main(student: Any, broker: Broker, script: str, how: str = "main") -> None:
    """Run the student's ``main()`` (or, with ``how="__main__"``, the file as ``python <script>``),
    which makes its own client: the broker serves it for this call, and a crash becomes feedback
    that names what the broker refused, if anything."""
    broker.own_clients = True
    try:
        student.call(how)
    except StudentRaised as exc:
        refused = next((f" The broker refused: {r}." for r in broker.refusals[:1] if r not in exc.message), "")
        expect(False, f"{'main()' if how == 'main' else f'python {script}'} raised {exc.type_name}: "
                      f"{exc.message[:300]}{refused}")
