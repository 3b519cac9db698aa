"""A warm process that forks one sandbox per exercise of a submission.

Importing boto3 and botocore's SQS model costs a fresh interpreter about half a second; forking
from a process that already holds them costs a few milliseconds. The zygote imports nothing of
the grader's beyond the worker, so a worker's memory holds no hidden suite and no solution.

Protocol: the grader sends one SOCK_SEQPACKET datagram per box, a JSON object with file descriptors
attached: the box's end of its channel, the keeper's end of its lifeline, a memfd holding the
student's file, the write end of the box's output pipe and, for a full box, the grading process's
mount namespace (where its scratch tmpfs is mounted). Several grading processes may share one
zygote: datagrams never interleave. The zygote runs with the box's environment, never the grader's.
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
    "boto3 botocore botocore.exceptions botocore.awsrequest time_machine "
    "pika pika.adapters.blocking_connection pika.exceptions urllib.parse"
).split()


def warm_up(clients: list[tuple[str, str, str]] = ()) -> None:  # type: ignore[assignment]
    """Import what student code commonly uses, load the SQS client model once, and build and
    exercise the clients the run hands to student functions (``(region, key, endpoint)``), so
    that every box's copy finds them ready instead of paying ~50 ms for each."""
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
    for region, key, endpoint in clients:
        _exercise(worker.make_sqs_client(region, key, endpoint or None))


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


def child(request: dict, fds: list[int]) -> None:
    """In the forked child: become the box's keeper (see ``isolation``). Never returns."""
    from grader.sandbox import isolation, worker

    channel, lifeline = socket.socket(fileno=fds[0]), socket.socket(fileno=fds[1])
    mount_ns = fds[4] if len(fds) > 4 else None
    module_name = str(request.get("module_name", "submission"))
    now = request.get("now")
    import_student, fork_per_test, enter_test = worker.import_student, worker.fork_per_test, isolation.enter_test
    isolated = bool(request.get("isolate"))

    def serve(sock: socket.socket, module_path: str) -> None:
        module = import_student(sock, module_name, module_path, now)
        if module is not None:
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # test copies: reaped by the kernel
            fork_per_test(sock, module, module_path, lambda folder, fd: enter_test(folder, fd, isolated))

    isolation.keeper(request, channel, lifeline, fds[2], fds[3], mount_ns, serve)


def main(control_fd: int, clients: list[tuple[str, str, str]]) -> None:
    from grader.sandbox import isolation

    isolation.set_environment(isolation.box_environment())  # started with it; keep it that way
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the grader's to handle: it closes the lifelines
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL, "parent-death signal")  # dies with the grader
    control = socket.socket(fileno=control_fd)
    warm_up(clients)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # keepers are reaped by the kernel
    gc.collect()
    gc.freeze()
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, 65536, 8)
        except InterruptedError:
            continue
        if not data:
            return
        try:
            request = json.loads(data)
        except ValueError:
            request = None
        if not isinstance(request, dict) or len(fds) < 4:
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:
            control.close()
            child(request, fds)
        for fd in fds:
            os.close(fd)


if __name__ == "__main__":
    main(int(sys.argv[1]), [tuple(c) for c in json.loads(sys.argv[2])] if len(sys.argv) > 2 else [])
