"""The broker's administration, through its management HTTP API (a call costs a millisecond or
two; ``rabbitmqctl`` costs a second): virtual hosts and users for tests, and the broker's own view
of queues, exchanges and bindings for verdicts.

Each test gets a ``Lease``: a virtual host of its own, bounded (queues, connections, messages per
queue), and a user with a random password whose permissions cover that virtual host and nothing
else. ``Leases`` prepares them ahead on a thread of its own and removes used ones behind, so a test
waits for neither.
"""
from __future__ import annotations

import base64
import http.client
import json
import queue
import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from grader.amqp.node import Endpoint

# per virtual host (so per test): what a submission may hold on the broker at once
LIMITS = {"max-queues": 24, "max-connections": 4}
QUEUE_BOUNDS = {"max-length": 5000, "max-length-bytes": 8 * 1024 * 1024}


class AdminError(Exception):
    """The management API refused or failed a request."""


class Admin:
    """One keep-alive HTTP connection to the management API (use one per thread)."""

    def __init__(self, endpoint: Endpoint, timeout: float = 15.0) -> None:
        parts = urlsplit(endpoint.management_url)
        self.endpoint = endpoint
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 15672
        self.timeout = timeout
        self.auth = "Basic " + base64.b64encode(f"{endpoint.user}:{endpoint.password}".encode()).decode()
        self._http: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 204)) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": self.auth, "Content-Type": "application/json"}
        for attempt in (1, 2):
            if self._http is None:
                self._http = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._http.request(method, path, body=data, headers=headers)
                response = self._http.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.status not in ok:
                raise AdminError(f"{method} {path}: {response.status} {payload[:200]!r}")
            return json.loads(payload) if payload else None
        return None

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    # virtual hosts and users --------------------------------------------------------------------------
    def create_vhost(self, vhost: str, user: str, password: str) -> None:
        v, u = quote(vhost, safe=""), quote(user, safe="")
        self.request("PUT", f"/api/vhosts/{v}", {})
        everything = {"configure": ".*", "write": ".*", "read": ".*"}
        self.request("PUT", f"/api/permissions/{v}/{quote(self.endpoint.user, safe='')}", everything)
        self.request("PUT", f"/api/users/{u}", {"password": password, "tags": ""})
        self.request("PUT", f"/api/permissions/{v}/{u}", everything)
        for name, value in LIMITS.items():
            self.request("PUT", f"/api/vhost-limits/{v}/{name}", {"value": value})
        self.request("PUT", f"/api/policies/{v}/brokerlab-bounds",
                     {"pattern": ".*", "apply-to": "queues", "priority": -100, "definition": QUEUE_BOUNDS})

    def delete_vhost(self, vhost: str, user: str) -> None:
        self.request("DELETE", f"/api/vhosts/{quote(vhost, safe='')}", ok=(200, 204, 404))
        self.request("DELETE", f"/api/users/{quote(user, safe='')}", ok=(200, 204, 404))

    def vhosts(self) -> list[str]:
        return [v["name"] for v in self.request("GET", "/api/vhosts?columns=name")]

    def users(self) -> list[str]:
        return [u["name"] for u in self.request("GET", "/api/users?columns=name")]

    def permissions(self, user: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/api/users/{quote(user, safe='')}/permissions")

    # the broker's view, for verdicts ---------------------------------------------------------------
    def queue(self, vhost: str, name: str) -> dict[str, Any] | None:
        """The queue's definition (durable, exclusive, auto_delete, arguments, type), or None."""
        try:
            return self.request("GET", f"/api/queues/{quote(vhost, safe='')}/{quote(name, safe='')}"
                                       "?columns=name,durable,exclusive,auto_delete,arguments,type")
        except AdminError as exc:
            if " 404 " in str(exc):
                return None
            raise

    def queues(self, vhost: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/api/queues/{quote(vhost, safe='')}"
                                   "?columns=name,durable,exclusive,auto_delete,arguments,type")

    def exchange(self, vhost: str, name: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", f"/api/exchanges/{quote(vhost, safe='')}/{quote(name, safe='')}")
        except AdminError as exc:
            if " 404 " in str(exc):
                return None
            raise

    def bindings(self, vhost: str) -> list[dict[str, Any]]:
        """Every binding in the virtual host, the default exchange's implicit ones left out."""
        return [b for b in self.request("GET", f"/api/bindings/{quote(vhost, safe='')}") if b.get("source")]

    def connections(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/connections?columns=name,vhost,user")


@dataclass(frozen=True)
class Lease:
    """A test's own virtual host and the only user that may use it."""

    vhost: str
    user: str
    password: str


class Leases:
    """Virtual hosts made ahead and removed behind, on a thread of its own."""

    def __init__(self, endpoint: Endpoint, ahead: int = 2) -> None:
        self.endpoint = endpoint
        self.ahead = ahead
        self._ready: queue.Queue[Lease | BaseException] = queue.Queue()
        self._work: queue.Queue[tuple[str, Lease] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="brokerlab-leases", daemon=True)
        self._prefix = f"bl-{secrets.token_hex(3)}"
        self._count = 0
        self._lock = threading.Lock()
        self._thread.start()
        for _ in range(ahead):
            self._order()

    def _order(self) -> None:
        with self._lock:
            self._count += 1
            n = self._count
        token = secrets.token_hex(4)
        lease = Lease(f"{self._prefix}-{n}-{token}", f"{self._prefix}-{n}-{token}", secrets.token_urlsafe(16))
        self._work.put(("create", lease))

    def take(self, timeout: float = 30.0) -> Lease:
        """A fresh virtual host and its user (another is ordered at once)."""
        self._order()
        got = self._ready.get(timeout=timeout)
        if isinstance(got, BaseException):
            raise AdminError(f"could not prepare a virtual host: {got}")
        return got

    def give_back(self, lease: Lease) -> None:
        """The test is over: its virtual host (queues, messages, exchanges) and its user go."""
        self._work.put(("delete", lease))

    def close(self) -> None:
        """Remove what was handed out and what was made ahead, then stop the thread."""
        self._work.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        admin = Admin(self.endpoint)
        try:
            while True:
                job = self._work.get()
                if job is None:
                    while not self._ready.empty():
                        left = self._ready.get_nowait()
                        if isinstance(left, Lease):
                            admin.delete_vhost(left.vhost, left.user)
                    return
                action, lease = job
                try:
                    if action == "create":
                        admin.create_vhost(lease.vhost, lease.user, lease.password)
                        self._ready.put(lease)
                    else:
                        admin.delete_vhost(lease.vhost, lease.user)
                except Exception as exc:  # reported to whoever takes the lease; a failed delete is left
                    if action == "create":
                        self._ready.put(exc)
        finally:
            admin.close()
