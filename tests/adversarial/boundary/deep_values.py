# Attack, appended to the reference producer: a message body of 100,000 nested brackets (valid
# JSON that Python's parser cannot read without hitting its recursion limit), and a raw reply on
# the worker's channel nested 900 levels deep, where the grader's decoding recursed.
import os
import struct
import sys


def send_task(sqs, queue_url, task_type, task_data):
    return sqs.send_message(QueueUrl=queue_url, MessageBody="[" * 100_000 + "]" * 100_000)["MessageId"]


def queue_status(sqs, queue_url):
    channel = sys.modules["grader.sandbox.worker"]._channel
    data = ('{"op": "return", "value": ' + "[" * 900 + "]" * 900 + "}").encode()
    channel.sendall(struct.pack(">I", len(data)) + data)
    os._exit(0)
