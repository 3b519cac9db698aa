"""Writes outside its folder: the grader's files, the home folder, a shared /tmp file."""
import os

targets = ["/tmp/brokerlab-pwned", "/root/brokerlab-pwned", "/work/main/grader/suites/pwned.py",
           "__ROOT__/grader/suites/pwned.py", "__ROOT__/pwned.txt", "../pwned.txt", "../../pwned.txt"]
written = []
for target in targets:
    try:
        with open(target, "w") as fh:
            fh.write("pwned")
        written.append(os.path.abspath(target))
    except OSError:
        pass


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    raise NotImplementedError(str(written))


make_task = send_task = queue_status = main = create_queue
