"""Writes what the grader does not expect on every descriptor it holds: a frame claiming to be
huge, a frame of JSON nested too deep to parse, then garbage, and returns a value and raises an
exception each as large as it can make them."""
import os
import socket
import struct


def _frames():
    for fd in range(3, 64):
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if sock.type == socket.SOCK_STREAM:
                deep = b"[" * 200000 + b"]" * 200000
                sock.sendall(struct.pack(">I", len(deep)) + deep)
                sock.sendall(struct.pack(">I", 0xFFFFFFF0) + b"\0" * 1000)
        except OSError:
            pass
        finally:
            sock.detach()


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    _frames()
    return "x" * (64 << 20)


def make_task(task_type, task_data, now=None):
    raise ValueError("y" * (64 << 20))


def send_task(sqs, queue_url, task_type, task_data):
    print("z" * (64 << 20))
    return [[["deep"] * 1000] * 1000] * 10


def queue_status(sqs, queue_url):
    import traceback

    def recurse(n):
        return recurse(n + 1)
    recurse(0)


main = create_queue
