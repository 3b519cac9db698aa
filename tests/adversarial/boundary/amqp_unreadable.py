# Attack, appended to the reference producer: queues filled to the test's bound, so that they reject
# every further publish (the grader's own set-up messages are nacked), and messages whose header is
# a timestamp past any date (written raw: the grader's client cannot decode it when it reads the
# queue), hoping for grader errors.
import struct as _struct

import pika.data as _data

_encode_value = _data.encode_value


class _Raw(bytes):
    pass


def _encode_raw(pieces, value):
    if isinstance(value, _Raw):
        pieces.append(bytes(value))
        return len(value)
    return _encode_value(pieces, value)


_data.encode_value = _encode_raw


def declare_queue(channel, queue_name, dead_letter_queue=None):
    arguments = {}
    if dead_letter_queue:
        channel.queue_declare(queue=dead_letter_queue, durable=True)
        arguments.update({"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead_letter_queue})
    declared = channel.queue_declare(queue=queue_name, durable=True, arguments=arguments)
    if declared.method.message_count == 0:
        for _ in range(8):  # the test's policy keeps 8 MiB a queue: a full queue refuses what comes next
            channel.basic_publish(exchange="", routing_key=queue_name, body=b"x" * (1 << 20))


def send_task(channel, queue_name, task_type, task_data):
    message_id = str(uuid.uuid4())  # noqa: F821 - the reference's imports
    channel.basic_publish(
        exchange="", routing_key=queue_name, body=json.dumps(make_task(task_type, task_data)),  # noqa: F821
        properties=pika.BasicProperties(delivery_mode=2, content_type="application/json", message_id=message_id,  # noqa: F821
                                        headers={"x-stamp": _Raw(b"T" + _struct.pack(">Q", 2**63 + 5))}),
        mandatory=True)
    return message_id
