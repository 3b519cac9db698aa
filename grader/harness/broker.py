"""moto's SQS, as the grader sees it: set-up, inspection, and the student's forwarded requests.

Verdicts about queues come from here (what is stored, what is in flight, what was deleted, which
requests were made with which parameters), never from what a student's function returns.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSPreparedRequest
from botocore.compat import HTTPHeaders
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.models import botocore_stubber

from grader.harness.clock import VirtualClock

REGION = "us-east-1"


@dataclass(frozen=True)
class Request:
    """One SQS API call a student's code made: its action and parameters."""

    action: str
    params: dict[str, Any]


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
        target = headers.get("X-Amz-Target") or headers.get("x-amz-target") or ""
        action = target.rsplit(".", 1)[-1]
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        self.requests.append(Request(action, params if isinstance(params, dict) else {}))
        http_headers = HTTPHeaders()
        for key, value in headers.items():
            http_headers[key] = value
        prepared = AWSPreparedRequest(method=method, url=url, headers=http_headers, body=body,
                                      stream_output=False)
        response = botocore_stubber("before-send", prepared)
        if response is None:
            return 400, {}, b'{"__type":"UnknownOperation","message":"not an SQS request"}'
        return int(response.status_code), dict(response.headers), response.content or b""

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
