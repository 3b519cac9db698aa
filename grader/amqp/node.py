"""A RabbitMQ node of the project's own: the system's ``rabbitmq-server``, private and short-lived.

The node gets its own name (``brokerlab-<pid>@localhost``), random loopback ports for AMQP, the
management API, Erlang distribution and its own epmd, a random Erlang cookie in a private HOME,
and its data, logs, configuration and plugin list in a temporary folder. It is started by a
*keeper* process (``python -m grader.amqp.node KEEP``) that holds the read end of a pipe whose
write end only the grading process has: when that closes (the grader stopped, crashed or was
killed), the keeper kills the node's whole process group and removes the folder. Nothing waits on
a fixed sleep: readiness is an AMQP port that accepts and a management API that answers.

``BROKERLAB_AMQP_URL`` (an administrator's ``amqp://user:pass@host:port/``) uses an instructor's
broker instead; its management API is ``BROKERLAB_AMQP_MANAGEMENT_URL`` (default: the same host on
port 15672 with the same credentials).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from grader.errors import UserError
from grader.machine import cores

SERVER_CANDIDATES = ("/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/sbin/rabbitmq-server")
EPMD_CANDIDATES = ("/usr/bin/epmd", "/usr/lib/erlang/bin/epmd")
START_TIMEOUT = 90.0
INSTALL_HINT = ("RabbitMQ is not installed: on Debian or Ubuntu run `sudo apt-get install -y rabbitmq-server` "
                "(then `sudo service rabbitmq-server stop`: the project starts its own private node), or point "
                "BROKERLAB_AMQP_URL at a broker (amqp://admin:password@host:5672/, with its management plugin on)")
ADMIN_USER = "brokerlab-admin"


class BrokerUnavailable(UserError):
    """No RabbitMQ to grade against: not installed, or it would not start."""


@dataclass(frozen=True)
class Endpoint:
    """Where a broker listens and how its administrator logs in."""

    host: str
    amqp_port: int
    management_url: str
    user: str
    password: str

    def amqp_url(self, vhost: str, user: str | None = None, password: str | None = None) -> str:
        return (f"amqp://{quote(user or self.user, safe='')}:{quote(password or self.password, safe='')}"
                f"@{self.host}:{self.amqp_port}/{quote(vhost, safe='')}")


def find_server() -> str | None:
    found = next((p for p in SERVER_CANDIDATES if os.access(p, os.X_OK)), None)
    return found or shutil.which("rabbitmq-server")


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (held open together so that they differ)."""
    held = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
        return [s.getsockname()[1] for s in held]
    finally:
        for sock in held:
            sock.close()


def schedulers() -> int:
    """The node's Erlang schedulers: half the cores. The graders and the students' boxes use the
    rest; with one scheduler per core the node's schedulers contend with them and with each other
    for the same cores: on 2 cores the node took 0.63-0.84 CPU-s per submission of a class run
    with two schedulers, 0.49-0.54 with one (interleaved runs)."""
    return max(1, cores() // 2)


def _memory_folder() -> str | None:
    """/dev/shm where it is usable: a throw-away node's fsyncs (durable queues, persistent
    messages, their confirms) then cost nothing, and nothing of it outlives the machine."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def from_environment() -> Endpoint | None:
    """An instructor's broker named by BROKERLAB_AMQP_URL, if any."""
    url = os.environ.get("BROKERLAB_AMQP_URL")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme != "amqp" or not parts.hostname:
        raise UserError(f"BROKERLAB_AMQP_URL must be amqp://user:password@host:port/, not {url!r}")
    user, password = unquote(parts.username or "guest"), unquote(parts.password or "guest")
    management = os.environ.get("BROKERLAB_AMQP_MANAGEMENT_URL") or f"http://{parts.hostname}:15672"
    return Endpoint(parts.hostname, parts.port or 5672, management.rstrip("/"), user, password)


class Node:
    """The private node, started by ``start`` and gone after ``stop`` (or the grader's death)."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.keeper: subprocess.Popen | None = None
        self.endpoint: Endpoint | None = None
        self.started_in: float = 0.0
        self._begun = 0.0
        self._owner = os.getpid()

    def start(self, timeout: float = START_TIMEOUT) -> Endpoint:
        """Start the node and return once it serves AMQP and its management API."""
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> Endpoint:
        """Start the node without waiting for it (``wait_ready`` waits, from this process or a fork)."""
        server = find_server()
        if server is None:
            raise BrokerUnavailable(INSTALL_HINT)
        epmd = next((p for p in EPMD_CANDIDATES if os.access(p, os.X_OK)), None) or shutil.which("epmd")
        begun = time.monotonic()
        self.folder = Path(tempfile.mkdtemp(prefix="brokerlab-rabbitmq-", dir=_memory_folder()))
        amqp, management, dist, epmd_port = free_ports(4)
        password = secrets.token_urlsafe(18)
        name = f"brokerlab-{os.getpid()}-{secrets.token_hex(3)}@localhost"
        env = self._prepare(amqp, management, dist, epmd_port, password, name)
        plan = {"folder": str(self.folder), "env": env, "server": server, "epmd": epmd, "epmd_port": epmd_port}
        (self.folder / "plan.json").write_text(json.dumps(plan))  # not argv: any local user reads that
        self.keeper = subprocess.Popen([sys.executable, "-m", "grader.amqp.node", str(self.folder / "plan.json")],
                                       stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, 
                                       stderr=None if os.environ.get("BROKERLAB_DEBUG") else subprocess.DEVNULL,
                                       start_new_session=True, cwd="/")
        self.endpoint = Endpoint("127.0.0.1", amqp, f"http://127.0.0.1:{management}", ADMIN_USER, password)
        self._begun = begun
        return self.endpoint

    def wait_ready(self, timeout: float = START_TIMEOUT) -> Endpoint:
        assert self.endpoint is not None
        if self.started_in:
            return self.endpoint
        try:
            self._wait_ready(timeout)
        except BaseException as exc:
            log = self.log_tail()
            if self._owner == os.getpid():
                self.stop()
            why = "exited" if isinstance(exc, RuntimeError) else f"did not start within {timeout:g} s"
            raise BrokerUnavailable(f"RabbitMQ {why}{log}") from None
        self.started_in = time.monotonic() - self._begun
        return self.endpoint

    def _prepare(self, amqp: int, management: int, dist: int, epmd_port: int, password: str, name: str
                 ) -> dict[str, str]:
        assert self.folder is not None
        home = self.folder / "home"
        for sub in ("home", "mnesia", "log"):
            (self.folder / sub).mkdir()
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)
        (self.folder / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (self.folder / "rabbitmq.conf").write_text("\n".join([
            f"listeners.tcp.1 = 127.0.0.1:{amqp}",
            f"management.tcp.port = {management}",
            "management.tcp.ip = 127.0.0.1",
            f"default_user = {ADMIN_USER}",
            f"default_pass = {password}",
            "default_user_tags.administrator = true",
            "channel_max = 16",                  # a client may not open more channels than this
            "max_message_size = 1048576",
            "collect_statistics_interval = 1000",
            "log.console = false",
            "log.file.level = warning",
            "",
        ]))
        count = schedulers()
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
            "HOME": str(home),
            "RABBITMQ_NODENAME": name, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(amqp), "RABBITMQ_DIST_PORT": str(dist),
            "ERL_EPMD_PORT": str(epmd_port), "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.folder / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.folder / "rabbitmq-env.conf"),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.folder / "plugins-expand"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": f"-kernel inet_dist_use_interface {{127,0,0,1}} "
                                                  f"+S {count}:{count}",
        }
        (self.folder / "rabbitmq-env.conf").write_text("")
        return env

    def _wait_ready(self, timeout: float) -> None:
        import base64
        import http.client

        assert self.endpoint is not None and self.keeper is not None
        auth = base64.b64encode(f"{self.endpoint.user}:{self.endpoint.password}".encode()).decode()
        port = int(self.endpoint.management_url.rsplit(":", 1)[1])
        deadline = time.monotonic() + timeout
        while True:
            if not self._keeper_alive():
                raise RuntimeError("the node exited")
            if time.monotonic() > deadline:
                raise TimeoutError()
            try:
                with socket.create_connection(("127.0.0.1", self.endpoint.amqp_port), timeout=1):
                    pass
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                try:
                    conn.request("GET", "/api/overview", headers={"Authorization": f"Basic {auth}"})
                    if conn.getresponse().status == 200:
                        return
                finally:
                    conn.close()
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)  # polling, not a fixed wait: the loop ends as soon as both answer

    def _keeper_alive(self) -> bool:
        assert self.keeper is not None
        if self._owner == os.getpid():
            return self.keeper.poll() is None
        try:  # a forked grading child: the keeper is its parent's child, not its own
            os.kill(self.keeper.pid, 0)
        except OSError:
            return False
        return True

    def log_tail(self, lines: int = 6) -> str:
        if self.folder is None:
            return ""
        texts = []
        for path in sorted((self.folder / "log").glob("*.log")) + [self.folder / "keeper.log"]:
            try:
                texts += path.read_text(errors="replace").strip().splitlines()[-lines:]
            except OSError:
                continue
        return (":\n  " + "\n  ".join(t[:300] for t in texts[-lines:])) if texts else ""

    def stop(self) -> None:
        """Stop the node and remove its folder (returns once both are done); a no-op in a fork."""
        if self._owner != os.getpid():
            return
        if self.keeper is not None:
            try:
                assert self.keeper.stdin is not None
                self.keeper.stdin.close()
            except OSError:
                pass
            try:
                self.keeper.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.keeper.kill()
                self.keeper.wait()
            self.keeper = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> "Node":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the keeper ------------------------------------------------------------------------------------

def keep(plan: dict) -> None:
    """Start epmd and the node in one process group of their own; end both, and remove the node's
    folder, when stdin closes (the grader let go or died) or the node exits."""
    folder, env = Path(plan["folder"]), plan["env"]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)  # only stdin's end stops us: the cleanup below must run
    _become_subreaper()  # the node's orphans (beam, its helpers) come to us, to be reaped
    log = open(folder / "keeper.log", "ab", buffering=0)
    group: int | None = None
    children: list[subprocess.Popen] = []
    try:
        if plan.get("epmd"):
            epmd = subprocess.Popen([plan["epmd"], "-port", str(plan["epmd_port"]), "-address", "127.0.0.1"],
                                    env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    process_group=0, cwd=str(folder))
            children.append(epmd)
            group = epmd.pid
        server = subprocess.Popen([plan["server"]], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                  cwd=str(folder), process_group=group or 0)
        children.append(server)
        group = group or server.pid
        _wait_for_release(server)
    finally:
        if group is not None:
            try:
                os.killpg(group, signal.SIGKILL)
            except OSError:
                pass
        _kill_leftovers(folder)
        _reap(time.monotonic() + 10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def _become_subreaper() -> None:
    import ctypes

    pr_set_child_subreaper = 36
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1, 0, 0, 0)


def _reap(deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)


def _wait_for_release(server: subprocess.Popen) -> None:
    import select

    while True:
        ready = select.select([sys.stdin.fileno()], [], [], 0.5)[0]
        if ready and not os.read(sys.stdin.fileno(), 64):
            return
        while True:  # orphans of the node's helpers come to us: reap them as they end
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                break
            if pid == server.pid:  # the node itself exited
                return


def _kill_leftovers(folder: Path) -> None:
    """Any process still running with the node's folder on its command line or as its working
    directory (a helper that left the process group)."""
    marker = str(folder)
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if marker in cmdline or cwd.startswith(marker):
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass


if __name__ == "__main__":
    keep(json.loads(Path(sys.argv[1]).read_text()))
