"""Plants links and FIFOs everywhere root might open, write or chown on the student's behalf:
its working folders, /tmp, and under the names of files a grader might create (captured output,
the re-staged module, the payment database). Each points at the test's canary and secret."""
import os

CANARY, SECRET = "__CANARY__", "__SECRET__"
NAMES = [".output", ".import-output", "sqs_producer.py", "shop.sqlite3", "shop.sqlite3-journal",
         "output.txt", "stdout", "stderr", "results.json"]


def plant(folder):
    for i, name in enumerate(NAMES):
        path = os.path.join(folder, name)
        try:
            if os.path.lexists(path):
                os.unlink(path)
            if i % 3 == 2:
                os.mkfifo(path)
            else:
                os.symlink(CANARY if i % 3 == 0 else SECRET, path)
        except OSError:
            pass
    for parent in ("..", "../.."):
        try:
            os.symlink(CANARY, os.path.join(folder, parent, "planted"))
        except OSError:
            pass


plant(os.getcwd())
plant("/tmp")


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    plant(os.getcwd())
    raise RuntimeError("planted in " + os.getcwd())


make_task = send_task = queue_status = main = create_queue
