"""The ``serve`` verb: a local SQS-compatible broker that the students' terminals share.

The course's steps 3 to 5 run a producer and several consumers as separate processes against one
broker. ``brokerlab serve`` is that broker in one command; the lines it prints point an unchanged
``boto3.client("sqs")`` (so the students' ``main()``) at it.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from grader.errors import UserError
from grader.lab import client_env
from grader.lab.server import LocalBroker, is_loopback

HELP = "run a local SQS-compatible broker"

_PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=None,
                        help="port to listen on (default 4566; 0 picks a free one; RabbitMQ always picks one)")
    parser.add_argument("--broker", choices=("sqs", "rabbitmq"), default="sqs",
                        help="sqs (default: an SQS-compatible broker) or rabbitmq (a private RabbitMQ node, "
                             "for the AMQP track; needs rabbitmq-server installed)")
    parser.add_argument("--verbose", action="store_true", help="log every request the broker answers")


def environment_lines(endpoint_url: str, windows: bool = os.name == "nt") -> list[str]:
    """The lines a student pastes into a terminal so that ``boto3.client("sqs")`` uses this broker."""
    env = client_env(endpoint_url)
    lines = []
    if os.environ.get("AWS_ENDPOINT_URL_SQS"):  # it would win over AWS_ENDPOINT_URL
        lines.append("Remove-Item Env:AWS_ENDPOINT_URL_SQS" if windows else "unset AWS_ENDPOINT_URL_SQS")
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        env["NO_PROXY"] = "127.0.0.1,localhost"
    for name, value in env.items():
        lines.append(f'$env:{name} = "{value}"' if windows else f"export {name}={value}")
    return lines


def run(args: argparse.Namespace) -> int:
    if args.broker == "rabbitmq":
        return serve_rabbitmq()
    args.port = 4566 if args.port is None else args.port
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, not {args.port}")
    broker = LocalBroker(args.host, args.port, verbose=args.verbose).start()
    previous = _stop_on_sigterm()
    try:
        _announce(broker, args.host)
        stopped = threading.Event()
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print("\nbroker stopped; its queues are gone", flush=True)
    return 0


def serve_rabbitmq() -> int:
    """A private RabbitMQ node until Ctrl-C: loopback only, its own credentials, gone when stopped."""
    from grader.amqp.node import Node

    node = Node()
    print("Broker Lab: starting a private RabbitMQ node...", flush=True)
    endpoint = node.start()
    previous = _stop_on_sigterm()
    try:
        url = endpoint.amqp_url("/")
        print(f"Broker Lab: RabbitMQ is listening on 127.0.0.1:{endpoint.amqp_port} (started in "
              f"{node.started_in:.1f} s); its management UI is {endpoint.management_url} "
              f"(user {endpoint.user}, password {endpoint.password})")
        print("Paste this line into each terminal that runs a producer or a consumer:\n")
        print(f"  export AMQP_URL='{url}'")
        print(f"\nThen `python amqp_producer.py` and `python amqp_consumer.py` use this broker, and "
              f"`BROKERLAB_AMQP_URL='{url}' BROKERLAB_AMQP_MANAGEMENT_URL={endpoint.management_url} "
              "brokerlab lab --broker rabbitmq` runs the hands-on on it.")
        print("Its queues and messages live in a temporary folder until it stops. Ctrl-C stops it.", flush=True)
        stopped = threading.Event()
        while not stopped.wait(0.5):
            if node.keeper is None or node.keeper.poll() is not None:
                raise UserError("the RabbitMQ node stopped on its own")
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print("\nRabbitMQ stopped; its queues are gone", flush=True)
    return 0


def _announce(broker: LocalBroker, host: str) -> None:
    print(f"Broker Lab: a local SQS broker (moto) is listening on {broker.url}")
    if not is_loopback(host):
        print(f"warning: {host} is reachable from other machines, and this broker has no "
              "authentication", file=sys.stderr)
    print("Paste these lines into each terminal that runs a producer or a consumer:\n")
    for line in environment_lines(broker.url):
        print(f"  {line}")
    print(f"\nThen `python sqs_producer.py` and `python sqs_consumer.py` use this broker, and "
          f"`brokerlab lab --endpoint {broker.url}` runs the whole hands-on on it.")
    print("Queues live in memory until the broker stops. "
          f"Requests are {'logged' if broker.verbose else 'not logged (--verbose to see them)'}. "
          "Ctrl-C stops it.", flush=True)


def _stop_on_sigterm() -> Any:
    """``kill`` should stop the broker as cleanly as Ctrl-C does."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        return None
