"""A warm process that forks one sandbox per exercise of a submission.

Importing boto3 and botocore's SQS model costs a fresh interpreter about half a second; forking
from a process that already holds them costs a few milliseconds. The zygote imports nothing of
the grader's beyond the worker, so a worker's memory holds no hidden suite and no solution.

Protocol: the grader sends one SOCK_SEQPACKET datagram per worker, a JSON object with one file
descriptor attached (the worker's end of its channel). Several grading processes may share one
zygote: datagrams never interleave.
"""
from __future__ import annotations

import gc
import json
import os
import signal
import socket
import sys

PRELOAD = (
    "abc argparse base64 collections collections.abc concurrent.futures contextlib copy csv "
    "dataclasses datetime decimal enum fractions functools hashlib heapq hmac itertools json "
    "logging math operator os pathlib pprint queue random re sqlite3 statistics string struct "
    "sys textwrap threading time traceback types typing uuid warnings zoneinfo "
    "boto3 botocore botocore.exceptions botocore.awsrequest time_machine"
).split()


def warm_up() -> None:
    """Import what student code commonly uses and load the SQS client model once."""
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    from grader.sandbox import worker

    worker.install_aws_forwarding()
    client = worker.make_sqs_client("us-east-1")
    import boto3

    boto3.client("sqs")  # the default session, as a student's main() makes it
    _exercise(client)


def _exercise(client: object) -> None:
    """Send each SQS call the exercises use once (answered empty, never by the network), so the
    lazy parts of botocore are built here and shared by every fork instead of rebuilt in each."""
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/warm-up"
    calls = [
        ("create_queue", {"QueueName": "warm-up", "Attributes": {"VisibilityTimeout": "30"}}),
        ("get_queue_url", {"QueueName": "warm-up"}),
        ("get_queue_attributes", {"QueueUrl": url, "AttributeNames": ["All"]}),
        ("send_message", {"QueueUrl": url, "MessageBody": "{}"}),
        ("receive_message", {"QueueUrl": url, "MaxNumberOfMessages": 1, "WaitTimeSeconds": 0,
                             "VisibilityTimeout": 30}),
        ("delete_message", {"QueueUrl": url, "ReceiptHandle": "r"}),
        ("delete_message_batch", {"QueueUrl": url, "Entries": [{"Id": "a", "ReceiptHandle": "r"}]}),
        ("change_message_visibility", {"QueueUrl": url, "ReceiptHandle": "r", "VisibilityTimeout": 0}),
        ("list_queues", {}),
    ]
    for name, params in calls:
        try:
            getattr(client, name)(**params)
        except Exception:
            pass


def child(request: dict, channel_fd: int) -> None:
    """In the forked child: confine, import the student's file, then fork one copy per test.
    Never returns."""
    from grader.sandbox import isolation, protocol, worker

    sock = socket.socket(fileno=channel_fd)
    try:
        isolation.confine(request, sock)
    except BaseException as exc:  # never run student code unconfined: say why, and stop
        try:
            protocol.send(sock, {"op": "sandbox-error", "message": f"{type(exc).__name__}: {exc}"})
        finally:
            os._exit(1)
    code = 0
    try:
        module = worker.import_student(sock, request["module_name"], request["module_path"], request.get("now"))
        if module is not None:
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # test copies and orphans: reaped by the kernel
            worker.fork_per_test(sock, module, isolation.enter_test)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def main(control_fd: int) -> None:
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE", "AWS_REGION"):
        os.environ.pop(var, None)
    from grader.sandbox import isolation

    isolation.prepare_zygote()
    control = socket.socket(fileno=control_fd)
    warm_up()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped by the kernel
    gc.collect()
    gc.freeze()
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, 65536, 1)
        except InterruptedError:
            continue
        if not data:
            return
        if not fds:
            continue
        request = json.loads(data)
        pid = os.fork()
        if pid == 0:
            control.close()
            child(request, fds[0])
        os.close(fds[0])


if __name__ == "__main__":
    main(int(sys.argv[1]))
