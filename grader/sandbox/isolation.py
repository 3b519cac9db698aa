"""Confining a worker before it imports student code.

``confine`` runs in the freshly forked worker. As root it puts the worker in a sandbox (see
SECURITY.md); as any other user it can only limit resources and start a process group, and
says so once.
"""
from __future__ import annotations

import ctypes
import os
import resource
import socket
from typing import Any

from grader.sandbox import protocol

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)

DEFAULT_LIMITS = {
    "cpu_seconds": 20,
    "memory_bytes": 1536 * 1024 * 1024,
    "processes": 64,
    "file_bytes": 16 * 1024 * 1024,
    "open_files": 64,
}


def prepare_zygote() -> None:
    """Orphaned grandchildren come back to the zygote, so none is left unreaped."""
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    _libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # the grader died: so does the zygote


def _set_limits(limits: dict[str, int]) -> None:
    def cap(kind: int, value: int) -> None:
        soft, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))

    cap(resource.RLIMIT_CPU, limits["cpu_seconds"])
    cap(resource.RLIMIT_AS, limits["memory_bytes"])
    cap(resource.RLIMIT_FSIZE, limits["file_bytes"])
    cap(resource.RLIMIT_NOFILE, limits["open_files"])
    cap(resource.RLIMIT_CORE, 0)
    if os.getuid() != 0:
        cap(resource.RLIMIT_NPROC, limits["processes"] + _process_count())


def _process_count() -> int:
    try:
        return sum(1 for d in os.listdir("/proc") if d.isdigit())
    except OSError:
        return 0


def _redirect_output(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)


def confine(request: dict[str, Any], sock: socket.socket) -> None:
    """Limit the worker and tell the grader which pid to kill when the test is over."""
    import signal

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.setsid()
    _redirect_output(request["output_path"])
    os.chdir(request["scratch"])
    _set_limits({**DEFAULT_LIMITS, **request.get("limits", {})})
    protocol.send(sock, {"op": "pid", "pid": os.getpid(), "isolated": False})


def sandbox_settings() -> dict[str, Any]:
    """What the grader asks of every worker on this machine."""
    return {}
