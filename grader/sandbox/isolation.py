"""The box one exercise of one submission runs in, and the trusted processes that keep it.

The zygote forks a *keeper* per box. The keeper never runs student code: it builds the box, puts
its first process in the box's cgroups, reports its pid and uid to the grader, and then waits on
its lifeline (a socket whose other end only the grading process holds). When the grading process
closes the lifeline, or dies however it dies, the keeper kills the box's first process and waits
until the cgroups are empty. The box's first process (pid 1 of its PID namespace, the *init*) dies
with the keeper (a parent-death signal), and the kernel kills every process of a PID namespace
whose init is gone: nothing a submission starts outlives its grading.

What the box gets, as root (nsjail's and bubblewrap's way: a short explicit list, nothing else):

- namespaces: mount, network (no interface up; the box's own loopback only where the request asks
  for ``loopback``, for a broker connection the grader hands in), PID, IPC, UTS;
- a root of its own on a 16 MiB tmpfs: read-only binds of ``SYSTEM_PATHS`` and the Python
  installation (the grader's package and course material covered), four devices, ``/proc`` of its
  PID namespace, a 32 MiB ``/tmp``, the exercise's scratch tmpfs (read-write), and
  ``/submission/<module>.py`` (read-only, written by init from the source the grader sent);
- cgroups (memory, pids, cpu) for the box as a whole where the host has them; rlimits per process
  as a second line;
- the environment ``box_environment`` builds, and nothing of the grader's;
- a uid and gid of its own (``UID_BASE`` + the keeper's pid), no groups, no_new_privs;
- an empty session keyring of its own, and no key syscall (a seccomp filter answers ``add_key``,
  ``request_key`` and ``keyctl`` with EPERM): the grader's session keyring stays out of reach, and
  nothing is left in the per-uid keyrings the kernel keeps for the next box with that uid.

Every step's return value is checked; ``SandboxError`` names the step that failed, and nothing of
the student's runs after one. Without root (a student's own ``brokerlab check``) only the process
group, the keeper and the rlimits apply: the weak mode, which results say they were graded in.
"""
from __future__ import annotations

import ctypes
import errno as _errno
import os
import platform
import resource
import select
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 4, 38, 22
SECCOMP_MODE_FILTER = 2
# per machine: the audit arch of its native system calls, and (add_key, request_key, keyctl)
KEY_SYSCALLS = {"x86_64": (0xC000003E, (248, 249, 250)), "aarch64": (0xC00000B7, (217, 218, 219))}
KEYCTL_JOIN_SESSION_KEYRING = 1
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
NEW_ROOT = "/mnt" if os.path.isdir("/mnt") else "/tmp"
SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc")
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
SUBMISSION_DIR = "/submission"
BOX_HOME = "/tmp"
UID_BASE = 200000
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "brokerlab"
SOURCE_LIMIT = 4 * 1024 * 1024

_libc = ctypes.CDLL(None, use_errno=True)

DEFAULT_LIMITS = {
    "cpu_seconds": 20,             # per process (rlimit)
    "memory_bytes": 1024 * 1024 * 1024,  # per process address space (rlimit)
    "processes": 256,              # per uid (rlimit): the box's cgroup caps it lower
    "file_bytes": 16 * 1024 * 1024,
    "open_files": 64,
    "box_memory_bytes": 768 * 1024 * 1024,  # the whole box, tmpfs pages included (cgroup)
    "box_processes": 48,           # the whole box (cgroup)
    "box_cpus": 1,                 # at most one core for the whole box (cgroup)
}


class SandboxError(Exception):
    """A confinement step failed: no student code may run."""


def check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(errno)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                      ctypes.c_ulong(flags), data and data.encode()), f"mount {target}")


def unmount(target: str) -> None:
    check(_libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")


def unshare(flags: int, what: str) -> None:
    check(_libc.unshare(flags), what)


def setns(fd: int, flags: int, what: str) -> None:
    check(_libc.setns(fd, flags), what)


def prctl(option: int, value: int, what: str) -> None:
    check(_libc.prctl(option, value, 0, 0, 0), what)


def box_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """All a box's processes see of an environment: a fixed allowlist, never the grader's."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC", "HOME": BOX_HOME,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
    }
    for key, value in (extra or {}).items():
        if key in ("TZ", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
            env[key] = value
    return env


def set_environment(env: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)


# -- the root ------------------------------------------------------------------------------------

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
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644))
    mount(path, target, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | (0 if path.startswith("/dev/") else MS_NODEV)
    mount(None, target, None, flags | (0 if writable else MS_RDONLY))


def python_paths() -> list[str]:
    """The interpreter's own folders: the stdlib and the site-packages student code may import."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    return sorted(p for p in paths if not any(p.startswith(s + "/") for s in SYSTEM_PATHS))


def grader_source() -> list[str]:
    """The grader package and its course material (solutions among them): covered in the box
    where they sit inside a bound folder (a plain install puts both in the virtualenv)."""
    import grader
    from grader.paths import INSTALLED_DATA

    return [os.path.realpath(p) for p in (*grader.__path__, INSTALLED_DATA)]


def build_root(scratch: str | None, module_name: str, source: bytes) -> str:
    """Build the box's root and chroot into it; return the student's file's path inside it."""
    root = NEW_ROOT
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755")
    for path in (*SYSTEM_PATHS, *python_paths()):
        _bind(root, path)
    for path in grader_source():
        if os.path.isdir(root + path):
            mount("tmpfs", root + path, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=0555")
    for device in DEVICES:
        _bind(root, device, writable=True)
    os.makedirs(root + "/tmp", exist_ok=True)
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=32m,mode=1777")
    if scratch:
        _bind(root, scratch, writable=True)  # after /tmp: the scratch space may live under it
    os.makedirs(root + "/proc", exist_ok=True)
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(root + SUBMISSION_DIR, mode=0o755)
    module_path = f"{SUBMISSION_DIR}/{module_name}.py"
    fd = os.open(root + module_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
    try:
        os.write(fd, source)
    finally:
        os.close(fd)
    os.chroot(root)
    os.chdir("/")
    return module_path


def loopback_up() -> None:
    """Bring up the box's own ``lo`` (its network namespace's: the host's stays out of reach)."""
    import fcntl
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH14s", b"lo", flags | iff_up, b""))


# -- cgroups -------------------------------------------------------------------------------------

def cgroup_controllers() -> list[str]:
    """The cgroup v1 controllers this host lets root limit a box with."""
    return [c for c in ("memory", "pids", "cpu") if (CGROUP_ROOT / c / "cgroup.procs").exists()]


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def make_cgroups(name: str, limits: dict[str, int]) -> list[Path]:
    """One cgroup per controller for the box, limits set; SandboxError if one cannot be set."""
    made: list[Path] = []
    try:
        for controller in cgroup_controllers():
            folder = CGROUP_ROOT / controller / CGROUP_PARENT / name
            folder.mkdir(parents=True, exist_ok=True)
            made.append(folder)
            if controller == "memory":
                _write(folder / "memory.limit_in_bytes", str(limits["box_memory_bytes"]))
                if (folder / "memory.memsw.limit_in_bytes").exists():
                    _write(folder / "memory.memsw.limit_in_bytes", str(limits["box_memory_bytes"]))
            elif controller == "pids":
                _write(folder / "pids.max", str(limits["box_processes"]))
            elif controller == "cpu":
                _write(folder / "cpu.cfs_period_us", "100000")
                _write(folder / "cpu.cfs_quota_us", str(100000 * limits["box_cpus"]))
    except OSError as exc:
        remove_cgroups(made)
        raise SandboxError(f"cgroup {name}: {exc.strerror or exc}") from None
    return made


def join_cgroups(cgroups: list[Path], pid: int) -> None:
    for folder in cgroups:
        try:
            _write(folder / "cgroup.procs", str(pid))
        except OSError as exc:
            raise SandboxError(f"joining {folder}: {exc.strerror or exc}") from None


def remove_cgroups(cgroups: list[Path], wait: float = 3.0) -> None:
    """Remove the box's cgroups once the last of its processes is gone (never raises)."""
    deadline = time.monotonic() + wait
    for folder in cgroups:
        while True:
            try:
                folder.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.002)


def remove_stale_cgroups() -> None:
    """Empty box cgroups of keepers that were killed (a killed zygote's): rmdir only removes
    empty ones, so a live box is never touched."""
    for controller in cgroup_controllers():
        parent = CGROUP_ROOT / controller / CGROUP_PARENT
        try:
            entries = list(parent.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir() and entry.name.startswith("box-"):
                pid = entry.name.removeprefix("box-").split("-")[0]
                if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                    try:
                        entry.rmdir()
                    except OSError:
                        pass


# -- limits, privileges ----------------------------------------------------------------------------

def set_limits(limits: dict[str, int]) -> None:
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


def drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid) or os.getgroups():
        raise SandboxError("dropping privileges did not take")
    prctl(PR_SET_NO_NEW_PRIVS, 1, "no_new_privs")


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def leave_keyrings() -> None:
    """Join a new, empty session keyring, then refuse every key system call (and every system
    call of a foreign ABI, by which they could be reached under another number) with EPERM.
    After no_new_privs, so the filter needs no privilege; every process of the box inherits it."""
    arch = KEY_SYSCALLS.get(platform.machine())
    if arch is None:
        raise SandboxError(f"keyrings: no system call filter for {platform.machine()}")
    audit_arch, (add_key, request_key, keyctl) = arch
    if _libc.syscall(keyctl, KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
        raise SandboxError(f"a session keyring of its own: {os.strerror(ctypes.get_errno())}")
    ld_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    refuse, allow = 0x00050000 | _errno.EPERM, 0x7FFF0000
    program = [(ld_abs, 0, 0, 4), (jeq, 0, 6, audit_arch),      # the ABI: a foreign one is refused
               (ld_abs, 0, 0, 0), (jge, 4, 0, 0x40000000),      # the call; x32's are refused
               (jeq, 3, 0, add_key), (jeq, 2, 0, request_key), (jeq, 1, 0, keyctl),
               (ret, 0, 0, allow), (ret, 0, 0, refuse)]
    filters = (_SockFilter * len(program))(*[_SockFilter(*op) for op in program])
    fprog = _SockFprog(len(program), filters)
    check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "the key system call filter")


def close_fds_except(keep: set[int]) -> None:
    low = 3
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def redirect_output(fd: int) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(null)
    if fd > 2:
        os.close(fd)


# -- the keeper and the box's init ---------------------------------------------------------------

def keeper(request: dict[str, Any], channel: socket.socket, lifeline: socket.socket, source_fd: int,
           output_fd: int, mount_ns: int | None, serve: Callable[[socket.socket, str], None]) -> None:
    """In the process the zygote forked for one box. Never returns.

    ``serve(channel, module_path)`` is what the box's first child runs (the import and the
    tests); init itself only reaps, so nothing the student's import replaces runs as init.
    """
    from grader.sandbox import protocol

    isolate = bool(request.get("isolate"))
    limits = {**DEFAULT_LIMITS, **request.get("limits", {})}
    uid = UID_BASE + os.getpid()
    cgroups: list[Path] = []
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "parent-death signal")  # dies with the zygote
        source = _read_source(source_fd)
        if isolate:
            if mount_ns is not None:
                setns(mount_ns, CLONE_NEWNS, "joining the grader's mount namespace")
            unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS, "unshare")
            if request.get("cgroups", True):
                cgroups = make_cgroups(f"box-{os.getpid()}", limits)
        if mount_ns is not None:
            os.close(mount_ns)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            lifeline.close()
            _init(request, channel, source, output_fd, go_r, uid if isolate else None, limits, serve)
        os.close(go_r)
        join_cgroups(cgroups, pid)
        protocol.send(channel, {"op": "pid", "pid": pid, "uid": uid if isolate else None,
                                "isolated": isolate, "cgroups": [c.parent.parent.name for c in cgroups]}, timeout=5)
        os.write(go_w, b"1")
    except BaseException as exc:  # no box: say which step failed, and stop
        try:
            protocol.send(channel, {"op": "sandbox-error", "message": f"{exc}"}, timeout=5)
        except Exception:
            pass
        remove_cgroups(cgroups, wait=0.5)
        os._exit(1)
    channel.close()
    os.close(output_fd)
    _watch(lifeline, pid, cgroups, isolate)  # go_w stays open: init sees EOF on go_r if we die


def read_at_most(fd: int, limit: int) -> bytes | None:
    """All of ``fd`` from where it stands, or None if it holds more than ``limit`` bytes."""
    chunks, size = [], 0
    while size <= limit:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    return None


def _read_source(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    source = read_at_most(fd, SOURCE_LIMIT)
    os.close(fd)
    if source is None:
        raise SandboxError("the student's file is over the size limit")
    return source


def _watch(lifeline: socket.socket, pid: int, cgroups: list[Path], isolate: bool) -> None:
    """Wait for the grader to let go (or die), then end the box and everything in it, whatever
    interrupts the wait (a Ctrl-C reaches the whole process group)."""
    try:
        while True:
            try:
                if not lifeline.recv(64):
                    break
            except InterruptedError:
                continue
    except BaseException:
        pass
    finally:
        for kill in ((os.kill,) if isolate else (os.killpg, os.kill)):
            try:
                kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        remove_cgroups(cgroups)
        os._exit(0)


def _init(request: dict[str, Any], channel: socket.socket, source: bytes, output_fd: int, go_r: int,
          uid: int | None, limits: dict[str, int], serve: Callable[[socket.socket, str], None]) -> None:
    """The box's first process: confine, start the student's side, reap until it ends."""
    code = 1
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "parent-death signal")  # dies with its keeper
        if os.read(go_r, 1) != b"1":  # the keeper is gone, or could not put us in our cgroups
            os._exit(1)
        set_environment(box_environment(request.get("env")))
        if uid is not None:
            if request.get("loopback"):
                loopback_up()
            module_path = build_root(request.get("scratch"), request["module_name"], source)
        else:
            module_path = _weak_module_path(request, source)
            os.setsid()
        os.chdir(request.get("scratch") if uid is None and request.get("scratch") else BOX_HOME if uid else "/")
        redirect_output(output_fd)
        close_fds_except({0, 1, 2, channel.fileno(), go_r})
        if uid is not None or os.geteuid() != 0:
            set_limits(limits)
        if uid is not None:
            drop_privileges(uid)
            leave_keyrings()
            prctl(PR_SET_DUMPABLE, 0, "not dumpable")  # the box's processes cannot ptrace init
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "parent-death signal")  # a change of uid cleared it
        if select.select([go_r], [], [], 0)[0]:  # the keeper died before we re-armed it
            os._exit(1)
        os.close(go_r)
    except BaseException as exc:
        try:
            from grader.sandbox import protocol

            protocol.send(channel, {"op": "sandbox-error", "message": f"{exc}"}, timeout=5)
        finally:
            os._exit(1)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the file limit fails, it does not kill
    child = os.fork()
    if child == 0:
        code = 0
        try:
            if uid is not None:
                prctl(PR_SET_DUMPABLE, 1, "dumpable")
            serve(channel, module_path)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    channel.close()
    while True:  # reap orphans (we are their init) until the student's side is done
        try:
            pid, _status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == child:
            break
    os._exit(0)


def _weak_module_path(request: dict[str, Any], source: bytes) -> str:
    """Without root there is no box root: the file goes in the (private) scratch folder."""
    folder = request["scratch"]
    path = os.path.join(folder, f"{request['module_name']}.py")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, source)
    finally:
        os.close(fd)
    return path


def enter_test(folder: str, output_fd: int, isolated: bool) -> None:
    """In a test's fresh copy: its folder, its output pipe, and (in a box, where the PID
    namespace ends everything anyway) a process group of its own to kill it by."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if isolated:
        os.setsid()
    os.chdir(folder)
    redirect_output(output_fd)
