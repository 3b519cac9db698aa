"""The broker of a grading run: one per process tree, started once, shared by forks.

``launch()`` starts the private node in the background (or takes the instructor's broker from
``BROKERLAB_AMQP_URL``) and returns at once; ``endpoint()`` waits until it serves. A class run
launches it in the parent before forking, so every child grades on the same node; a single
``brokerlab grade`` launches it only when a submission holds an AMQP file. The process that
launched the node stops it at exit (and its keeper stops it if that process is killed).
"""
from __future__ import annotations

import atexit
import os
import secrets
import threading

from grader.amqp.admin import Admin, Lease, Leases
from grader.amqp.node import BrokerUnavailable, Endpoint, Node, find_server, from_environment

_lock = threading.Lock()
_node: Node | None = None
_external: Endpoint | None = None
_failure: str | None = None
_leases: dict[int, Leases] = {}
_admins: dict[int, Admin] = {}
_stock: list[Lease] = []  # clean leases handed down by a class run's parent: this process takes them first
_passed: list[Lease] | None = None  # in a class run's child: the clean leases it passes back at its end
_tag: str | None = None  # in a class run's child: what names its virtual hosts (a pid can come back)
RUN_TAG = secrets.token_hex(3)  # the same in every fork of the run: names who made a virtual host
RUN_PREFIX = f"bl-{RUN_TAG}-"  # every virtual host (and user) of the run's processes


def lease_prefix(owner: int | str) -> str:
    """What the names of the virtual hosts (and users) a process of the run makes start with: its
    tag from the class run's parent (``hand_down``), else its pid."""
    return f"{RUN_PREFIX}{owner}-"


def available() -> bool:
    """Whether AMQP grading can run here at all (a broker given, or rabbitmq-server installed)."""
    return bool(os.environ.get("BROKERLAB_AMQP_URL")) or find_server() is not None


def launch() -> None:
    """Start the run's broker if it is not started yet; never waits for it, never raises."""
    global _node, _external, _failure
    with _lock:
        if _node is not None or _external is not None or _failure is not None:
            return
        try:
            _external = from_environment()
            if _external is None:
                node = Node()
                node.launch()
                _node = node
                atexit.register(stop)
        except Exception as exc:  # said to every AMQP test, once the test asks for the broker
            _failure = str(exc)


def endpoint(timeout: float = 90.0) -> Endpoint:
    """The run's broker, ready (started here if nobody launched it); BrokerUnavailable if none."""
    launch()
    if _failure is not None:
        raise BrokerUnavailable(_failure)
    if _external is not None:
        return _external
    assert _node is not None
    return _node.wait_ready(timeout)


def started_in() -> float:
    return _node.started_in if _node is not None else 0.0


def lease() -> Lease:
    """A fresh virtual host and user for one test, from this process's own preparer."""
    ready = endpoint()
    pid = os.getpid()
    with _lock:
        if pid not in _leases:
            _leases.clear()  # a fork's copy of its parent's preparer has no thread: never use it
            _leases[pid] = Leases(ready, prefix=lease_prefix(_tag or pid), stock=_stock)
            _stock.clear()
        leases = _leases[pid]
    return leases.take()


def admin() -> Admin:
    """This process's connection to the management API, for the tests' verdicts (main thread):
    one for every test instead of a new one each."""
    pid = os.getpid()
    if _admins.get(pid) is None:
        _admins.clear()  # a fork's copy of its parent's connection shares its socket: never use it
        _admins[pid] = Admin(endpoint())
    return _admins[pid]


def hand_down(leases: list[Lease], tag: str | None = None) -> None:
    """Before a fork: the clean virtual hosts (and their users) the child takes before making any,
    and the tag that names those it makes (``forget(tag)`` finds them); after it, nothing."""
    global _tag
    _stock[:] = leases
    _tag = tag


def handed() -> int:
    """How many clean leases to hand a child: as many as its preparer holds (ready and lent)."""
    return Leases.AHEAD + 1


def pass_on() -> None:
    """In a class run's child: at the end of its grading its clean leases are kept (``passed``)
    for the parent to hand to the next child, instead of being deleted and made again."""
    global _passed
    _passed = []


def passed() -> list[Lease]:
    return list(_passed or [])


def give_back(lease: Lease) -> None:
    leases = _leases.get(os.getpid())
    if leases is not None:
        leases.give_back(lease)


def release_leases() -> None:
    """Remove this process's prepared and used virtual hosts (a grading run's end); in a class
    run's child (``pass_on``), keep the clean ones instead, handed down ones it never took
    included, for the parent to hand to the next child."""
    unused, leases = list(_stock), _leases.pop(os.getpid(), None)
    _stock.clear()
    if _passed is None:
        discard(unused)
        if leases is not None:
            leases.close()
    else:
        _passed.extend(unused + (leases.close(keep=True) if leases is not None else []))


def discard(leases: list[Lease]) -> None:
    """Delete these virtual hosts and users (a class run's stock at its end, or what a stopped
    child was handed). Never raises: the run goes on."""
    if not leases or (_node is None and _external is None):
        return
    try:
        admin = Admin(endpoint(timeout=5.0))
        try:
            for lease in leases:
                admin.delete_vhost(lease.vhost, lease.user)
        finally:
            admin.close()
    except Exception:  # noqa: BLE001 - the broker going away takes them with it
        pass


def forget(owner: int | str, keep: frozenset[str] | set[str] = frozenset()) -> None:
    """Delete what the run's process ``owner`` (its tag or pid) made and left on the broker, but
    ``keep``: its virtual hosts and users (it was killed, so its preparer never cleared them, or
    it could not clear them in time). Never raises: the run goes on."""
    if _node is None and _external is None:
        return
    try:
        admin = Admin(endpoint(timeout=5.0))
        try:
            prefix = lease_prefix(owner)
            for name in {*admin.vhosts(), *admin.users()}:  # a lease's user is named as its virtual host
                if name.startswith(prefix) and name not in keep:
                    admin.delete_vhost(name, name)
        finally:
            admin.close()
    except Exception:  # noqa: BLE001 - the broker going away takes them with it
        pass


def stop() -> None:
    """Stop the broker this process launched (nothing in a fork, nothing for an external one)."""
    global _node, _failure
    release_leases()
    with _lock:
        node, _node = _node, None
        _failure = None
    if node is not None:
        node.stop()
