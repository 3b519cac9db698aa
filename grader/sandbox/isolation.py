"""Confining the process that imports a student's file, before it does.

``confine`` runs in the process the zygote forks for one exercise of one submission (the
"sandbox"); that process imports the student's file and then forks a fresh copy of itself for
every test (``enter_test`` prepares a copy). As root (a grading machine, CI, Gradescope) it builds
the sandbox, one step each, in this order:

1. new mount, network, PID, IPC and UTS namespaces: no network at all (not even the host's
   loopback), and every process the student starts lives in a PID namespace whose first process
   is the worker, so killing the worker kills them all, even those that called setsid or forked twice;
2. a new root on a tmpfs holding read-only binds of the system and the Python installation, the
   test's scratch folder (read-write), a small /tmp and /proc: the grader's source, the hidden
   suites, the solutions, other submissions and the gradebook are not in it;
3. resource limits (CPU, memory, processes, file size, open files);
4. an unprivileged uid and gid of its own, no supplementary groups, and no way back
   (PR_SET_NO_NEW_PRIVS).

As any other user (a student's own ``brokerlab check``) only the process group, the output
capture and the limits apply; ``sandbox_settings`` says which mode the grader runs in.
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import socket
import sys
from typing import Any

from grader.sandbox import protocol

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
NEW_ROOT = "/mnt" if os.path.isdir("/mnt") else "/tmp"
SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc")
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
UID_BASE, UID_SPAN = 200000, 100000

_libc = ctypes.CDLL(None, use_errno=True)

DEFAULT_LIMITS = {
    "cpu_seconds": 20,
    "memory_bytes": 2048 * 1024 * 1024,
    "processes": 32,
    "file_bytes": 16 * 1024 * 1024,
    "open_files": 64,
}


class SandboxError(Exception):
    """A confinement step failed: the worker must not run student code."""


def sandbox_settings() -> dict[str, Any]:
    """What the grader asks of every worker here: full isolation when it can have it."""
    if os.environ.get("BROKERLAB_SANDBOX", "").lower() in ("0", "off", "no"):
        return {"isolate": False}
    return {"isolate": os.geteuid() == 0 and sys.platform == "linux"}


def prepare_zygote() -> None:
    """Orphaned grandchildren come back to the zygote (which ignores SIGCHLD, so the kernel reaps
    them), and the zygote dies with the grader."""
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                       ctypes.c_ulong(flags), data and data.encode()), f"mount {target}")


def _bind(root: str, path: str, writable: bool = False) -> None:
    """Make ``path`` appear at the same place under ``root``, read-only unless ``writable``."""
    if not os.path.lexists(path):
        return
    target = root + path
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(os.readlink(path), target)
        return
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount(path, target, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | (0 if path.startswith("/dev/") else MS_NODEV)
    _mount(None, target, None, flags | (0 if writable else MS_RDONLY))


def _python_paths() -> list[str]:
    """The interpreter's own folders: the stdlib and the site-packages student code may import."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    return sorted(p for p in paths if not any(p.startswith(s + "/") for s in SYSTEM_PATHS))


def _grader_source() -> list[str]:
    """Where the grader package and its course material (solutions among them) live, to be
    hidden if they sit inside a bound folder (a plain install puts both in the virtualenv)."""
    import grader
    from grader.paths import INSTALLED_DATA

    return [os.path.realpath(p) for p in (*grader.__path__, INSTALLED_DATA)]


def _build_root(scratch: str) -> None:
    root = NEW_ROOT
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755")
    hidden = _grader_source()
    for path in (*SYSTEM_PATHS, *_python_paths()):
        _bind(root, path)
    for path in hidden:
        if os.path.isdir(root + path):
            _mount("tmpfs", root + path, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=0555")
    for device in DEVICES:
        _bind(root, device, writable=True)
    os.makedirs(root + "/tmp", exist_ok=True)
    _mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=32m,mode=1777")
    _bind(root, scratch, writable=True)  # after /tmp: the scratch folder usually lives under it
    os.makedirs(root + "/proc", exist_ok=True)
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chroot(root)


def _set_limits(limits: dict[str, int]) -> None:
    def cap(kind: int, value: int) -> None:
        _soft, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))

    cap(resource.RLIMIT_CPU, limits["cpu_seconds"])
    cap(resource.RLIMIT_AS, limits["memory_bytes"])
    cap(resource.RLIMIT_FSIZE, limits["file_bytes"])
    cap(resource.RLIMIT_NOFILE, limits["open_files"])
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_NPROC, limits["processes"])


def _redirect_output(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)


def _close_other_fds(keep: int) -> None:
    os.closerange(3, keep)
    os.closerange(keep + 1, 1024)


def _chown_tree(folder: str, uid: int) -> None:
    os.chown(folder, uid, uid)
    for base, dirs, files in os.walk(folder):
        for name in dirs + files:
            os.lchown(os.path.join(base, name), uid, uid)


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def confine(request: dict[str, Any], sock: socket.socket) -> None:
    """Confine this process, then tell the grader its pid (to kill at the end) and its uid (to
    hand it the files of each test)."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the file limit fails, it does not kill
    limits = {**DEFAULT_LIMITS, **request.get("limits", {})}
    scratch = request["scratch"]
    _close_other_fds(sock.fileno())
    if not request.get("isolate"):
        os.setsid()
        _redirect_output(request["output_path"])
        os.chdir(scratch)
        limits["processes"] += _process_count()
        if os.geteuid() != 0:
            _set_limits(limits)
        protocol.send(sock, {"op": "pid", "pid": os.getpid(), "uid": None, "isolated": False})
        return
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid:  # the go-between: report the sandbox's host pid and uid, let it start, and leave
        protocol.send(sock, {"op": "pid", "pid": pid, "uid": UID_BASE + pid % UID_SPAN, "isolated": True})
        os.write(ready_w, b"1")
        os._exit(0)
    os.close(ready_w)
    os.read(ready_r, 1)
    os.close(ready_r)
    uid = UID_BASE + pid_of_self() % UID_SPAN
    _chown_tree(scratch, uid)
    _build_root(scratch)
    os.chdir(scratch)
    _redirect_output(request["output_path"])
    _set_limits(limits)
    _drop_privileges(uid)


def enter_test(request: dict[str, Any], channel: socket.socket) -> None:
    """In a test's fresh copy: a process group of its own, its folder, its output file."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    os.chdir(request["scratch"])
    _redirect_output(request["output_path"])
    protocol.send(channel, {"op": "pid", "pid": os.getpid()})


def pid_of_self() -> int:
    """This process's pid as the host sees it (inside a new PID namespace getpid() says 1)."""
    try:
        with open("/proc/self/stat") as fh:  # the host's /proc: ours is mounted later
            return int(fh.read().split()[0])
    except (OSError, ValueError):
        return os.getpid()


def _process_count() -> int:
    try:
        return sum(1 for d in os.listdir("/proc") if d.isdigit())
    except OSError:
        return 0
