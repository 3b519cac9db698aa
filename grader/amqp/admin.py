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
from typing import Any, Iterable
from urllib.parse import quote, urlsplit

from grader.amqp.node import Endpoint

# per virtual host (so per test): what a submission may hold on the broker at once
LIMITS = {"max-queues": 24, "max-connections": 3}
# a full queue refuses new messages: dropping its oldest would dead-letter them (see relay.QUEUE_ARGUMENTS)
QUEUE_BOUNDS = {"max-length": 5000, "max-length-bytes": 8 * 1024 * 1024, "overflow": "reject-publish"}
EMPTY_AT_MOST = 60  # queues and exchanges emptied one by one; past this a used virtual host is replaced


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
        self.request("PUT", f"/api/vhosts/{v}", {})  # its creator (the administrator) may use it
        everything = {"configure": ".*", "write": ".*", "read": ".*"}
        self.request("PUT", f"/api/users/{u}", {"password": password, "tags": ""})
        self.request("PUT", f"/api/permissions/{v}/{u}", everything)
        for name, value in LIMITS.items():
            self.request("PUT", f"/api/vhost-limits/{v}/{name}", {"value": value})
        self.request("PUT", f"/api/policies/{v}/brokerlab-bounds",
                     {"pattern": ".*", "apply-to": "queues", "priority": -100, "definition": QUEUE_BOUNDS})

    def delete_vhost(self, vhost: str, user: str) -> None:
        self.request("DELETE", f"/api/vhosts/{quote(vhost, safe='')}", ok=(200, 204, 404))
        self.request("DELETE", f"/api/users/{quote(user, safe='')}", ok=(200, 204, 404))

    def empty_vhost(self, vhost: str, most: int = EMPTY_AT_MOST) -> None:
        """Delete every queue and exchange of the virtual host (the built-in ones kept) and every
        binding left between built-in exchanges; AdminError if something is left, or if emptying
        would take more than ``most`` deletions or name an object the API cannot address (``.``
        and ``..`` are path segments to HTTP): deleting the virtual host is then quicker and sure."""
        v = quote(vhost, safe="")
        queues = [q["name"] for q in self.request("GET", f"/api/queues/{v}?columns=name")]
        exchanges = [e["name"] for e in self.request("GET", f"/api/exchanges/{v}?columns=name")
                     if e["name"] and not e["name"].startswith("amq.")]
        if len(queues) + len(exchanges) > most:
            raise AdminError(f"virtual host {vhost} holds {len(queues) + len(exchanges)} queues and exchanges")
        if any(name in (".", "..") for name in queues + exchanges):
            raise AdminError(f"virtual host {vhost} holds a queue or exchange named '.' or '..'")
        deleted = 0
        for name in queues:
            self.request("DELETE", f"/api/queues/{v}/{quote(name, safe='')}", ok=(200, 204, 404))
            deleted += 1
        for name in exchanges:
            self.request("DELETE", f"/api/exchanges/{v}/{quote(name, safe='')}", ok=(200, 204, 404))
            deleted += 1
        bindings = self.bindings(vhost)
        if len(bindings) > most:
            raise AdminError(f"virtual host {vhost} holds {len(bindings)} bindings between built-in exchanges")
        for binding in bindings:
            deleted += 1
            kind = "e" if binding.get("destination_type") == "exchange" else "q"
            self.request("DELETE", f"/api/bindings/{v}/e/{quote(binding['source'], safe='')}/{kind}/"
                                   f"{quote(binding['destination'], safe='')}/"
                                   f"{quote(binding['properties_key'], safe='')}", ok=(200, 204, 404))
        if deleted and (self.request("GET", f"/api/queues/{v}?columns=name") or self.bindings(vhost)
                        or any(e["name"] and not e["name"].startswith("amq.")
                               for e in self.request("GET", f"/api/exchanges/{v}?columns=name"))):
            raise AdminError(f"virtual host {vhost} could not be emptied")

    def new_password(self, user: str, password: str) -> None:
        """The user's old password stops working (its permissions, on its one virtual host, stay)."""
        self.request("PUT", f"/api/users/{quote(user, safe='')}", {"password": password, "tags": ""})

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


@dataclass
class Lease:
    """A test's own virtual host and the only user that may use it (and, made ahead with it, the
    grader's own connection to it, as the administrator)."""

    vhost: str
    user: str
    password: str
    connection: Any = None


class Leases:
    """Virtual hosts prepared ahead and recycled behind, on a thread of its own.

    Making a virtual host costs the broker ~35 ms of CPU (its message stores start), emptying one
    a few: a used one is emptied (every queue, exchange and binding in it deleted, which the
    listing after the test finds however they were made) and its user gets a new random password;
    so nothing of a test, and no credential it saw, reaches the next. A virtual host that cannot be
    emptied (or holds too much to empty quickly) is deleted and a new one made: what a test left
    never reaches the next test as an error. A class run's child ends with ``close(keep=True)``:
    its clean virtual hosts go to the next child (``stock``) instead of being deleted and made again.
    """

    AHEAD = 2

    def __init__(self, endpoint: Endpoint, ahead: int = AHEAD, prefix: str | None = None,
                 stock: Iterable[Lease] = ()) -> None:
        """``stock``: leases another process handed over (``close(keep=True)`` kept them), taken
        before any new one is made; each is emptied and given a new password first, as after a test."""
        self.endpoint = endpoint
        self.ahead = ahead
        self._ready: queue.Queue[Lease | BaseException] = queue.Queue()
        self._work: queue.Queue[tuple[str, Lease] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="brokerlab-leases", daemon=True)
        self._prefix = (prefix or f"bl-{secrets.token_hex(3)}-").rstrip("-")
        self._count = 0
        self._coming = 0  # leases being made or recycled, or ready
        self._lent: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._keep = False
        self._kept: list[Lease] = []
        self._thread.start()
        stock = list(stock)
        for lease in stock:
            self._order("recycle", Lease(lease.vhost, lease.user, lease.password))
        for _ in range(ahead - len(stock)):
            self._order("create", self._new())

    def _new(self, vhost: str | None = None) -> Lease:
        with self._lock:
            self._count += 1
            n = self._count
        name = f"{self._prefix}-{n}-{secrets.token_hex(4)}"
        return Lease(vhost or name, name, secrets.token_urlsafe(16))

    def _order(self, action: str, lease: Lease) -> None:
        if action in ("create", "recycle"):
            with self._lock:
                self._coming += 1
        self._work.put((action, lease))

    def take(self, timeout: float = 30.0) -> Lease:
        """A clean virtual host, its new user, and the grader's connection to it."""
        with self._lock:
            short = self._coming <= self.ahead
        if short:
            self._order("create", self._new())
        got = self._ready.get(timeout=timeout)
        with self._lock:
            self._coming -= 1
        if isinstance(got, BaseException):
            raise AdminError(f"could not prepare a virtual host: {got}")
        self._lent[got.vhost] = got
        return got

    def give_back(self, lease: Lease) -> None:
        """The test is over (its student connection closed): empty the virtual host for another."""
        self._lent.pop(lease.vhost, None)
        with self._lock:
            full = self._coming > self.ahead
        self._order("delete" if full else "recycle", lease)

    def close(self, keep: bool = False) -> list[Lease]:
        """Stop the thread. Every virtual host and user made or adopted here is deleted; with
        ``keep``, the clean ones (emptied, new passwords, no connection) are returned instead,
        for the next process of the run to adopt."""
        for lease in list(self._lent.values()):
            self._work.put(("delete", lease))
        self._lent.clear()
        self._keep = keep
        self._work.put(None)
        self._thread.join(timeout=30)
        kept, self._kept = self._kept, []
        return [] if self._thread.is_alive() else kept  # still at work: none is surely clean

    def _run(self) -> None:
        admin = Admin(self.endpoint)
        try:
            while True:
                job = self._work.get()
                if job is None:
                    while not self._ready.empty():
                        left = self._ready.get_nowait()
                        if isinstance(left, Lease) and self._keep:
                            _disconnect(left)
                            self._kept.append(left)
                        elif isinstance(left, Lease):
                            self._delete(admin, left)
                    return
                action, lease = job
                if action == "delete":
                    self._delete(admin, lease)
                    continue
                if action == "recycle":
                    try:
                        lease = self._recycle(admin, lease)
                    except Exception:  # whatever the test left: a new virtual host instead
                        self._delete(admin, lease)
                        lease = self._new()
                        action = "create"
                try:
                    if action == "create":
                        admin.create_vhost(lease.vhost, lease.user, lease.password)
                    if lease.connection is None:
                        lease.connection = _connect(self.endpoint, lease.vhost)
                    self._ready.put(lease)
                except Exception as exc:  # the broker itself failed: reported to whoever takes the lease
                    self._delete(admin, lease)
                    self._ready.put(exc)
        finally:
            admin.close()

    def _recycle(self, admin: Admin, lease: Lease) -> Lease:
        connection = lease.connection
        admin.empty_vhost(lease.vhost)
        fresh = Lease(lease.vhost, lease.user, secrets.token_urlsafe(16))
        admin.new_password(fresh.user, fresh.password)
        if connection is not None and connection.is_open and not _channels(connection):
            fresh.connection = connection  # the grader's own, with no channel left open by the test
        else:
            _disconnect(lease)
        return fresh

    @staticmethod
    def _delete(admin: Admin, lease: Lease) -> None:
        _disconnect(lease)
        try:
            admin.delete_vhost(lease.vhost, lease.user)
        except Exception:  # the broker is going away with the run
            pass


def _connect(endpoint: Endpoint, vhost: str) -> Any:
    import pika

    parameters = pika.URLParameters(endpoint.amqp_url(vhost))
    parameters.heartbeat = 0  # held idle between tests: no heartbeat to miss
    return pika.BlockingConnection(parameters)


def _channels(connection: Any) -> list[Any]:
    """The channels still open on a pika connection."""
    impl = getattr(connection, "_impl", None)
    return [c for c in getattr(impl, "_channels", {}).values() if getattr(c, "is_open", False)]


def _disconnect(lease: Lease) -> None:
    connection, lease.connection = lease.connection, None
    if connection is not None:
        try:
            connection.close()
        except Exception:  # already closed by the broker or by a test: the vhost goes anyway
            pass
