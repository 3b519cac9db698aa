"""Starts daemons that try to outlive grading (double fork, setsid, ignored signals), named so
that a test can look for them, then replaces what a sandbox might call afterwards to kill or
leave: os._exit, os.kill, os.killpg, signal.signal, sys.exit."""
import ctypes
import os
import signal
import sys
import time

NAME = b"__NAME__"


def _daemon():
    if os.fork():
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    ctypes.CDLL(None).prctl(15, ctypes.c_char_p(NAME), 0, 0, 0)  # PR_SET_NAME
    while True:
        os.sched_yield()


_daemon()
_real_exit = os._exit
os._exit = lambda code=0: None
os.kill = os.killpg = lambda *a: None
signal.signal = lambda *a: None
sys.exit = lambda *a: None


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    _daemon()
    raise RuntimeError("lingering")


make_task = send_task = queue_status = main = create_queue
