"""An amqp_producer.py that tries every way off its one broker connection: a second connection,
another virtual host, the broker's real port (the test tells it), the host's other services, a
flood of queues and messages, a queue stashed for a later test. It prints what it learned and
never does the exercise."""
import os
import socket
from urllib.parse import urlsplit

import pika

NODE_PORT = int("__PORT__")
STASH = "mallory-stash"


def report(label, fn):
    try:
        print(f"{label}: answered {str(fn())[:160]}")
    except Exception as exc:
        print(f"{label}: refused {type(exc).__name__}: {str(exc)[:160]}")


def declare_queue(channel, queue_name, dead_letter_queue=None):
    url = os.environ.get("AMQP_URL", "")
    report("second-connection", lambda: pika.BlockingConnection(pika.URLParameters(url)).is_open)
    report("node-port", lambda: socket.create_connection(("127.0.0.1", NODE_PORT), timeout=0.5))
    report("management", lambda: socket.create_connection(("127.0.0.1", 15672), timeout=0.5))
    report("epmd", lambda: socket.create_connection(("127.0.0.1", 4369), timeout=0.5))
    made = 0
    try:
        for i in range(40):
            channel.queue_declare(f"flood-{i}")
            made += 1
    except Exception as exc:
        print(f"queue-flood: stopped after {made} queues: {type(exc).__name__}: {str(exc)[:160]}")
    else:
        print(f"queue-flood: made all {made} queues")
    raise RuntimeError("mallory")


def send_task(channel, queue_name, task_type, task_data):
    channel.queue_declare(STASH)
    channel.basic_publish("", STASH, b"left for a later test")
    raise RuntimeError("stashed")


def queue_status(channel, queue_name):
    try:
        found = channel.queue_declare(STASH, passive=True).method.message_count
        print(f"stash: found with {found} messages")
    except Exception as exc:
        print(f"stash: refused {type(exc).__name__}")
    raise RuntimeError("mallory")


def main():
    url = urlsplit(os.environ.get("AMQP_URL", ""))
    other = url._replace(path="/%2F").geturl()
    report("other-vhost", lambda: pika.BlockingConnection(pika.URLParameters(other)).is_open)
    report("after-cut", lambda: pika.BlockingConnection(pika.URLParameters(url.geturl())).is_open)
    raise RuntimeError("mallory")
