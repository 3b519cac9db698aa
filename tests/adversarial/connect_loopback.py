"""Connects to a listener on the host's loopback (the test puts its port in __PORT__)."""
import socket

reached = []
for host in ("127.0.0.1", "localhost", "::1"):
    try:
        with socket.create_connection((host, __PORT__), timeout=2) as conn:
            conn.sendall(b"escaped")
            reached.append(host)
    except OSError as exc:
        reached.append(f"{host}: {exc}")


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    raise NotImplementedError(str(reached))


make_task = send_task = queue_status = main = create_queue
