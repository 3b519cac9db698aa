"""moto's SQS as a local HTTP endpoint that separate processes share.

We bind the socket ourselves before handing it to werkzeug: werkzeug reports a port in use by
printing and calling ``sys.exit``, and we want one clear error line instead. The server runs in a
thread of the calling process, so stopping it (or the process ending) leaves nothing behind.
"""
from __future__ import annotations

import errno
import ipaddress
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, select_address_family

from grader.errors import UserError


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (so a broker there is unreachable from outside)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_for(host: str, port: int) -> str:
    """The endpoint URL clients use; a wildcard bind is reached through loopback."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _bind(host: str, port: int) -> socket.socket:
    if host.startswith("unix://"):
        raise UserError(f"cannot serve on {host!r}: give a host name or an IP address")
    family = select_address_family(host, port)  # werkzeug's choice, so it reads our socket right
    try:
        address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0][4]
    except socket.gaierror:
        raise UserError(f"cannot serve on {host!r}: no such host") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} on {host} is already in use (another `brokerlab serve`?); "
                            "choose another with --port, or --port 0 for any free one") from None
        if exc.errno == errno.EACCES:
            raise UserError(f"not allowed to use port {port} on {host}; choose a port above 1023") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UserError(f"cannot serve on {host}: not an address of this machine") from None
        raise UserError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    return sock


class _Server(ThreadedWSGIServer):
    verbose = False

    def log(self, type: str, message: str, *args: Any) -> None:
        if self.verbose:
            super().log(type, message, *args)
        elif type == "error":
            lines = [line for line in (message % args if args else message).splitlines() if line.strip()]
            print(f"broker: {lines[-1].strip() if lines else 'error'}", file=sys.stderr)


def _handler_class(verbose: bool) -> type:
    # Imported here: moto's server app is heavy, and only the parent that serves needs it.
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class Handler(MotoRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            if verbose:
                super().log_request(code, size)

        def log(self, type: str, message: str, *args: Any) -> None:
            if verbose or type == "error":
                super().log(type, message, *args)

    return Handler


class LocalBroker:
    """A moto SQS endpoint on ``host:port`` (port 0: any free port), served from a thread.

    Use as a context manager, or ``start()`` then ``stop()``. Queues live in this process's memory
    and are gone once it stops.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 4566, verbose: bool = False) -> None:
        self.host = host
        self.requested_port = port
        self.verbose = verbose
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the broker is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return url_for(self.host, self.port)

    def start(self, ready_timeout: float = 15.0) -> "LocalBroker":
        """Bind, serve from a daemon thread, and return once the endpoint answers HTTP."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        sock = _bind(self.host, self.requested_port)
        try:
            app = DomainDispatcherApplication(create_backend_app)
            server = _Server(self.host, self.requested_port, app,
                             handler=_handler_class(self.verbose), fd=sock.fileno())
        finally:
            sock.close()  # werkzeug serves from its own duplicate of the descriptor
        server.verbose = self.verbose
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"brokerlab-broker-{self.port}", daemon=True)
        self._thread.start()
        try:
            wait_until_answers(self.url, ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket; requests still running finish on their own."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        self._thread = None

    def __enter__(self) -> "LocalBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_no_proxy_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether an HTTP server answers at ``url`` (any status counts: it is up)."""
    try:
        with _no_proxy_opener.open(url + "/", timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def wait_until_answers(url: str, timeout: float) -> None:
    """Block until ``url`` answers, or raise UserError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not answers(url, timeout=1.0):
        if time.monotonic() > deadline:
            raise UserError(f"the broker at {url} did not answer within {timeout:.0f} s")
        time.sleep(0.05)
