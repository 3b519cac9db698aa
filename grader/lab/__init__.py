"""The hands-on lab on a real, shared broker: ``brokerlab serve`` and ``brokerlab lab``.

The course's steps 3 to 5 need a broker that separate processes share (a producer in one terminal,
consumers in others, a consumer that dies before its ack), which an in-process mock cannot be.
Here moto runs as a local SQS-compatible HTTP endpoint, and every process reaches it the way the
students' ``main()`` does: ``boto3.client("sqs")`` with ``AWS_ENDPOINT_URL`` from the environment.

One module, one job: ``server`` (the endpoint), ``serve`` (its verb), ``worker`` (what a producer or
consumer process runs), ``tally`` (what the events add up to), ``session`` (the processes of one
run), ``view`` (live table or plain lines), ``command`` (the ``lab`` verb).
"""
from __future__ import annotations

import os

REGION = "us-east-1"
DUMMY_KEY = "testing"

# Every queue the lab creates starts with this, so ``--cleanup`` deletes the lab's queues only.
QUEUE_PREFIX = "brokerlab-lab-"
# The course's own queue (steps 1 and 2): its cleanup step deletes it.
COURSE_QUEUE = "task-queue"

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def client_env(endpoint_url: str) -> dict[str, str]:
    """The variables that point an unchanged ``boto3.client("sqs")`` at ``endpoint_url``.

    The credentials are dummies: moto accepts any, and real keys must never reach a local broker.
    """
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": DUMMY_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
        "AWS_DEFAULT_REGION": REGION,
    }


# Variables that would send an SQS client elsewhere than AWS_ENDPOINT_URL, or sign with real keys.
_OVERRIDING = ("AWS_ENDPOINT_URL_SQS", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_SESSION_TOKEN",
               "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def point_environment_at(endpoint_url: str, environ: "os._Environ[str] | dict[str, str]" = os.environ) -> None:
    """Make ``environ`` send SQS clients to ``endpoint_url`` and nowhere else."""
    for name in _OVERRIDING:
        environ.pop(name, None)
    environ.update(client_env(endpoint_url))
    bypass_proxy_for_loopback(environ)


def bypass_proxy_for_loopback(environ: "os._Environ[str] | dict[str, str]" = os.environ) -> None:
    """Add loopback to NO_PROXY: a proxy from the environment would carry local requests away."""
    for name in ("NO_PROXY", "no_proxy"):
        present = [h for h in environ.get(name, "").split(",") if h.strip()]
        environ[name] = ",".join(present + [h for h in LOOPBACK_NAMES if h not in present])
