"""A consumer that never stops polling, so the grader ends it at its request limit; when its
channel to the grader closes under it, it prints "last words" and flushes them, racing the
kill. What the grader shows of its output must not depend on who wins."""
import sys


def consume_messages(sqs, queue_url, handler, max_messages=10, max_empty_polls=3, wait_time_seconds=20):
    print("polling", flush=True)
    while True:
        try:
            sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=wait_time_seconds)
        except BaseException:
            for _ in range(3):
                sys.stdout.write("last words\n")
                sys.stdout.flush()
